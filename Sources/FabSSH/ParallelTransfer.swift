import CLibSSH2
import Foundation

/// How many connections carry one file.
///
/// libssh2 1.10 decrypts and encrypts on the thread that drives the session, 16 bytes per
/// OpenSSL call, so one session tops out at about one core's worth of crypto (about 250 MB/s on
/// loopback here), where OpenSSH's scp splits the work between its scp and ssh processes. A large
/// file therefore goes over several sessions to the same host at once, each carrying one byte
/// range, as `lftp pget` and rclone's multi-thread streams do. The extra sessions log in with the
/// answers the first one was given, so they never prompt.
///
/// Uploads choose ``automatic(size:)`` by default: on 2 cores, two streams took a 256 MiB put from
/// about 265 to 305-320 MB/s. Downloads take one stream unless asked: on 2 cores the second
/// stream's decryption competes with sshd's encryption for the same cores, and two streams were
/// about 10 % slower than one (`fab-bench ssh` measures both).
public struct TransferStreams: Sendable, Equatable {
    /// The number of sessions (1 means the session alone).
    public var count: Int

    /// Exactly `count` streams (at least 1) for every file, whatever its size.
    public static func fixed(_ count: Int) -> TransferStreams { TransferStreams(count: max(1, count)) }

    /// One stream below ``automaticThreshold`` bytes; above it, one per core, at most 4.
    public static func automatic(size: Int64) -> TransferStreams {
        size < automaticThreshold ? TransferStreams(count: 1)
            : TransferStreams(count: min(4, max(1, ProcessInfo.processInfo.activeProcessorCount)))
    }

    /// Files smaller than this (64 MiB) go over one stream: extra logins would cost more than they save.
    public static let automaticThreshold: Int64 = 64 << 20

    /// Splits `size` bytes into at most `count` contiguous ranges of nearly equal length, each a
    /// whole number of 1 MiB blocks but the last; an empty file is one empty range.
    public func ranges(size: Int64) -> [Range<Int64>] {
        let block: Int64 = 1 << 20
        let blocks = (size + block - 1) / block
        let parts = Int64(max(1, min(count, Int(max(1, blocks)))))
        var ranges: [Range<Int64>] = []
        var start: Int64 = 0
        for index in 0..<parts {
            let end = index == parts - 1 ? size : min(size, start + (blocks / parts + (index < blocks % parts ? 1 : 0)) * block)
            ranges.append(start..<end)
            start = end
        }
        return ranges
    }
}

extension SSHSession {
    /// Opens up to `count` more sessions to this target; fewer (or none) when some cannot log in
    /// without asking, so a transfer falls back to fewer streams instead of failing.
    func siblings(_ count: Int) async -> [SSHSession] {
        guard count > 0 else { return [] }
        return await withTaskGroup(of: SSHSession?.self) { group in
            for _ in 0..<count { group.addTask { try? await self.sibling() } }
            var opened: [SSHSession] = []
            for await session in group { if let session { opened.append(session) } }
            return opened
        }
    }

    /// Runs `body` once per range, the first on this session and the others on `helpers`, in
    /// parallel; the first failure cancels the others and is thrown.
    func eachRange(_ ranges: [Range<Int64>], helpers: [SSHSession],
                   _ body: @escaping @Sendable (SessionCore, Range<Int64>, CancellationFlag) throws -> Void) async throws {
        let sessions = [self] + helpers
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, range) in ranges.enumerated() {
                let session = sessions[index]
                group.addTask { try await session.performCancellable { core, cancel in try body(core, range, cancel) } }
            }
            try await group.waitForAll()
        }
    }

    /// `put` over several sessions: each writes its range of a temporary file beside `remotePath`,
    /// which is then given its mode and renamed over `remotePath`.
    func putParallel(_ localPath: String, size: Int64, to remotePath: String, mode: Int32, streams: TransferStreams,
                     progress: TransferProgressHandler?) async throws {
        let operation = "put \(remotePath)"
        try core.checkRemotePath(remotePath, operation: operation)
        let helpers = await siblings(streams.ranges(size: size).count - 1)
        defer { for helper in helpers { Task { await helper.close() } } }
        let ranges = TransferStreams.fixed(helpers.count + 1).ranges(size: size)
        let temporary = TemporaryNames.beside(remotePath)
        try await core.perform { core in
            try core.checkRemotePath(remotePath, operation: operation)
            try core.createEmptyRemote(temporary, operation: operation)
        }
        do {
            let tally = ProgressTally(path: remotePath, total: size, handler: progress)
            try await eachRange(ranges, helpers: helpers) { core, range, cancel in
                try core.putRange(local: localPath, remote: temporary, range: range, operation: operation, cancel: cancel, tally: tally)
            }
            try await core.perform { core in
                core.sweepAbandonedTemporaries(in: (remotePath as NSString).deletingLastPathComponent, own: (temporary as NSString).lastPathComponent, staging: false)
                try core.setRemoteMode(temporary, mode: mode, operation: operation)
                try core.renameReplacing(temporary, remotePath, operation: operation)
            }
        } catch {
            _ = try? await core.perform { core in try core.removeRemote(temporary) }
            throw error
        }
    }

    /// `get` over several sessions: each reads its range into a temporary local file, which is
    /// then given the remote file's mode and renamed to `localPath`.
    func getParallel(_ remotePath: String, info: RemoteFileInfo, to localPath: String, streams: TransferStreams,
                     progress: TransferProgressHandler?) async throws {
        let operation = "get \(remotePath)"
        let helpers = await siblings(streams.ranges(size: info.size).count - 1)
        defer { for helper in helpers { Task { await helper.close() } } }
        let ranges = TransferStreams.fixed(helpers.count + 1).ranges(size: info.size)
        let localDirectory = (localPath as NSString).deletingLastPathComponent
        let temporary = TemporaryNames.beside(localPath)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw SSHError(.localFile, host: target.alias, operation: operation, path: localPath, underlying: String(cString: strerror(errno)),
                           message: "cannot write into \(localDirectory.isEmpty ? "." : localDirectory): \(String(cString: strerror(errno))).")
        }
        var complete = false
        defer {
            closeLocal(fd)
            if !complete { unlink(temporary) }
        }
        TemporaryNames.sweepLocal(in: localDirectory, own: (temporary as NSString).lastPathComponent)
        let tally = ProgressTally(path: localPath, total: info.size, handler: progress)
        try await eachRange(ranges, helpers: helpers) { core, range, cancel in
            try core.getRange(remote: remotePath, local: localPath, fd: fd, range: range, operation: operation, cancel: cancel, tally: tally)
        }
        fchmod(fd, mode_t(info.mode))
        guard rename(temporary, localPath) == 0 else {
            throw SSHError(.localFile, host: target.alias, operation: operation, path: localPath, underlying: String(cString: strerror(errno)),
                           message: "could not move the download into place at \(localPath): \(String(cString: strerror(errno))).")
        }
        complete = true
    }
}

extension SessionCore {
    /// Creates an empty file only the login user can read (fails if it exists).
    func createEmptyRemote(_ path: String, operation: String) throws {
        let handle = try sftpOpen(path, flags: LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT | LIBSSH2_FXF_EXCL,
                                  mode: 0o600, directory: false, operation: operation)
        sftpClose(handle)
    }

    /// Sets the permission bits of a remote path.
    func setRemoteMode(_ path: String, mode: Int32, operation: String) throws {
        let sftp = try sftp()
        var attributes = LIBSSH2_SFTP_ATTRIBUTES()
        attributes.flags = UInt(LIBSSH2_SFTP_ATTR_PERMISSIONS)
        attributes.permissions = UInt(mode)
        try sftpCall(operation, path: path) {
            fab_libssh2_sftp_stat(sftp, path, UInt32(path.utf8.count), LIBSSH2_SFTP_SETSTAT, &attributes)
        }
    }

    /// Removes a remote file.
    func removeRemote(_ path: String) throws {
        let sftp = try sftp()
        try sftpCall("remove \(path)", path: path) { fab_libssh2_sftp_unlink(sftp, path, UInt32(path.utf8.count)) }
    }

    /// Writes bytes `range` of the local file into the same range of the remote file, which must
    /// exist unless `create` (then it must not: it is created readable by the login user only).
    func putRange(local: String, remote: String, range: Range<Int64>, create: Bool = false, operation: String,
                  cancel: CancellationFlag, tally: ProgressTally) throws {
        let fd = open(local, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw SSHError(.localFile, host: label, operation: operation, path: local, underlying: String(cString: strerror(errno)),
                           message: "cannot read local file \(local): \(String(cString: strerror(errno))).")
        }
        defer { close(fd) }
        let flags = LIBSSH2_FXF_WRITE | (create ? LIBSSH2_FXF_CREAT | LIBSSH2_FXF_EXCL : 0)
        let handle = try sftpOpen(remote, flags: flags, mode: 0o600, directory: false, operation: operation)
        defer { sftpClose(handle) }
        libssh2_sftp_seek64(handle, UInt64(range.lowerBound))
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        var position = range.lowerBound
        var lastProgress = fab_monotonic_seconds()
        while position < range.upperBound {
            let count = pread(fd, buffer.baseAddress, Int(min(Int64(Self.chunkSize), range.upperBound - position)), off_t(position))
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else {
                throw SSHError(.localFile, host: label, operation: operation, path: local,
                               message: "reading \(local) failed or it shrank during the upload.")
            }
            var offset = 0
            while offset < count {
                let written = libssh2_sftp_write(handle, buffer.baseAddress!.advanced(by: offset).assumingMemoryBound(to: CChar.self),
                                                 count - offset)
                if written == Int(LIBSSH2_ERROR_EAGAIN) {
                    try sftpWait(since: lastProgress, cancel: cancel, operation: operation) {
                        libssh2_sftp_write(handle, buffer.baseAddress!.advanced(by: offset).assumingMemoryBound(to: CChar.self),
                                           count - offset)
                    }
                    continue
                }
                if written < 0 { throw sftpFailure(Int32(written), operation: operation, path: remote) }
                lastProgress = fab_monotonic_seconds()
                offset += written
                tally.add(written)
                if cancel.isCancelled {
                    throw SSHError(.cancelled, host: label, operation: operation, message: "interrupted; nothing was written under the final name.")
                }
            }
            position += Int64(count)
            if cancel.isCancelled {
                throw SSHError(.cancelled, host: label, operation: operation, message: "interrupted; nothing was written under the final name.")
            }
        }
    }

    /// Reads bytes `range` of the remote file into the same range of the local file `fd` (`local`, named in errors).
    func getRange(remote: String, local: String, fd: Int32, range: Range<Int64>, operation: String,
                  cancel: CancellationFlag, tally: ProgressTally) throws {
        let handle = try sftpOpen(remote, flags: LIBSSH2_FXF_READ, mode: 0, directory: false, operation: operation)
        defer { sftpClose(handle) }
        libssh2_sftp_seek64(handle, UInt64(range.lowerBound))
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        var position = range.lowerBound
        var lastProgress = fab_monotonic_seconds()
        while position < range.upperBound {
            // libssh2 keeps up to four times the asked size in flight: asking for at most a quarter
            // of what is left keeps its read-ahead inside this range.
            let left = range.upperBound - position
            let ask = Int(min(Int64(Self.chunkSize), max(left / 4, min(left, 32 << 10))))
            let count = libssh2_sftp_read(handle, buffer.baseAddress!.assumingMemoryBound(to: CChar.self), ask)
            if count == Int(LIBSSH2_ERROR_EAGAIN) {
                try sftpWait(since: lastProgress, cancel: cancel, operation: operation) {
                    libssh2_sftp_read(handle, buffer.baseAddress!.assumingMemoryBound(to: CChar.self), ask)
                }
                continue
            }
            lastProgress = fab_monotonic_seconds()
            if count < 0 { throw sftpFailure(Int32(count), operation: operation, path: remote) }
            guard count > 0 else {
                throw SSHError(.sftp, host: label, operation: operation, path: remote,
                               message: "\(remote) shrank during the download; fetch it again once it stops changing.")
            }
            var offset = 0
            while offset < count {
                let written = pwrite(fd, buffer.baseAddress!.advanced(by: offset), count - offset, off_t(position) + off_t(offset))
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else {
                    throw SSHError(.localFile, host: label, operation: operation, path: local, underlying: String(cString: strerror(errno)),
                                   message: "writing \(local) failed: \(String(cString: strerror(errno))).")
                }
                offset += written
            }
            position += Int64(count)
            tally.add(count)
            if cancel.isCancelled {
                throw SSHError(.cancelled, host: label, operation: operation, message: "interrupted; nothing was written under the final name.")
            }
        }
    }
}
