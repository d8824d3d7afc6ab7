import CLibSSH2
import Foundation

/// How far a transfer has got.
public struct TransferProgress: Sendable, Equatable {
    /// The file being transferred (the remote path for puts, the local path for gets).
    public var path: String
    public var bytesDone: Int64
    public var totalBytes: Int64
}

/// Receives progress reports during a transfer (on the session's queue).
public typealias TransferProgressHandler = @Sendable (TransferProgress) -> Void

/// A remote file's type, size and mode, from SFTP `stat`.
public struct RemoteFileInfo: Sendable, Equatable {
    public enum Kind: Sendable { case file, directory, symlink, other }
    public var kind: Kind
    public var size: Int64
    /// Permission bits (for example 0o644).
    public var mode: Int32
    public var uid: Int
    public var gid: Int
}

/// Adds up the bytes of one or more streams and reports the sum, one report at a time.
/// `@unchecked Sendable`: `done` is only touched under `lock`, which also serialises the reports.
final class ProgressTally: @unchecked Sendable {
    private let lock = NSLock()
    private var done: Int64 = 0
    private let path: String
    private let total: Int64
    private let handler: TransferProgressHandler?

    init(path: String, total: Int64, handler: TransferProgressHandler?) {
        self.path = path
        self.total = total
        self.handler = handler
        handler?(TransferProgress(path: path, bytesDone: 0, totalBytes: total))
    }

    func add(_ bytes: Int) {
        lock.withLock {
            done += Int64(bytes)
            handler?(TransferProgress(path: path, bytesDone: done, totalBytes: total))
        }
    }
}

/// `stat(2)` of a local path (following links), or nil with `errno` set.
func localStat(_ path: String) -> stat? {
    var info = stat()
    return stat(path, &info) == 0 ? info : nil
}

/// `close(2)`, for scopes where a method named `close` hides it.
func closeLocal(_ fd: Int32) { close(fd) }

/// The SFTP channel of a session, opened on first use. Lives on the session's queue.
final class SFTPChannel {
    let handle: OpaquePointer
    /// Set when a request was given up half-way (cancelled, timed out, failed in libssh2): the server may be
    /// reading the next request as the rest of that one, so the channel is replaced before the next request.
    var broken = false
    init(handle: OpaquePointer) { self.handle = handle }
}

extension SessionCore {
    static let chunkSize = 2 << 20

    /// The session's SFTP channel, opened on first use, and opened anew when the last one was left broken.
    func sftp() throws -> OpaquePointer {
        if let channel = sftpChannel {
            if !channel.broken { return channel.handle }
            retireSFTPChannel(channel)
        }
        guard let session else {
            throw SSHError(.connectionLost, host: label, operation: "open SFTP", message: "the session is closed; reconnect.")
        }
        do {
            let handle = try callPointer("open SFTP", deadline: fab_monotonic_seconds() + 30, code: .sftp) {
                libssh2_sftp_init(session)
            }
            sftpChannel = SFTPChannel(handle: handle)
            return handle
        } catch var error as SSHError {
            error.message = "the server refused the SFTP subsystem; check that sshd_config has a Subsystem sftp line."
            throw error
        }
    }

    /// An ``SSHError`` for an SFTP failure, with the server's SFTP status.
    func sftpFailure(_ rc: Int32, operation: String, path: String) -> SSHError {
        guard rc == LIBSSH2_ERROR_SFTP_PROTOCOL, let sftp = sftpChannel?.handle else {
            // Not a status from the server: libssh2 itself gave up, possibly half-way through a request.
            sftpChannel?.broken = true
            return failure(rc, operation: operation, code: .sftp, path: path)
        }
        let status = libssh2_sftp_last_error(sftp)
        let reason: String
        switch status {
        case LIBSSH2_FX_NO_SUCH_FILE, LIBSSH2_FX_NO_SUCH_PATH: reason = "\(path) does not exist on the host"
        case LIBSSH2_FX_PERMISSION_DENIED: reason = "permission denied for \(path); write somewhere the login user may, or use a sudo transfer"
        case LIBSSH2_FX_NO_SPACE_ON_FILESYSTEM, LIBSSH2_FX_QUOTA_EXCEEDED: reason = "the host's disk is full (or quota exceeded) writing \(path)"
        case LIBSSH2_FX_FILE_ALREADY_EXISTS: reason = "\(path) already exists"
        default: reason = "the server answered SFTP status \(status) for \(path)"
        }
        return SSHError(.sftp, host: label, operation: operation, path: path, underlying: "SFTP status \(status)", message: reason + ".")
    }

    /// Runs an SFTP call that returns a status, retrying on EAGAIN.
    @discardableResult
    func sftpCall(_ operation: String, path: String, cancel: CancellationFlag? = nil, _ body: () -> Int32) throws -> Int32 {
        try checkRemotePath(path, operation: operation)
        let started = fab_monotonic_seconds()
        while true {
            let rc = body()
            if rc == LIBSSH2_ERROR_EAGAIN {
                try sftpWait(since: started, cancel: cancel, operation: operation) { Int(body()) }
                continue
            }
            if rc < 0 { throw sftpFailure(rc, operation: operation, path: path) }
            return rc
        }
    }

    /// Opens a remote file or directory handle, retrying on EAGAIN.
    func sftpOpen(_ path: String, flags: Int32, mode: Int32, directory: Bool, operation: String) throws -> OpaquePointer {
        try checkRemotePath(path, operation: operation)
        let sftp = try sftp()
        let started = fab_monotonic_seconds()
        while true {
            let handle = directory
                ? fab_libssh2_sftp_opendir(sftp, path, UInt32(path.utf8.count))
                : fab_libssh2_sftp_open(sftp, path, UInt32(path.utf8.count), UInt(flags), Int(mode), LIBSSH2_SFTP_OPENFILE)
            if let handle { return handle }
            let rc = libssh2_session_last_errno(session)
            if rc == LIBSSH2_ERROR_EAGAIN {
                try sftpWait(since: started, cancel: nil, operation: operation) {
                    let handle = directory
                        ? fab_libssh2_sftp_opendir(sftp, path, UInt32(path.utf8.count))
                        : fab_libssh2_sftp_open(sftp, path, UInt32(path.utf8.count), UInt(flags), Int(mode), LIBSSH2_SFTP_OPENFILE)
                    return handle == nil ? Int(libssh2_session_last_errno(self.session)) : 0
                }
                continue
            }
            throw sftpFailure(rc, operation: operation, path: path)
        }
    }

    /// Closes a remote handle, waiting at most ``SessionCore/requestTimeout`` for the server's answer.
    /// On a broken channel nothing is sent: the server drops the handle with the channel, and libssh2 frees it
    /// with the session.
    func sftpClose(_ handle: OpaquePointer) {
        guard let channel = sftpChannel, !channel.broken else { return }
        let started = fab_monotonic_seconds()
        while fab_libssh2_sftp_close(handle) == LIBSSH2_ERROR_EAGAIN {
            do {
                try sftpWait(since: started, cancel: nil, operation: "close") { Int(fab_libssh2_sftp_close(handle)) }
            } catch {
                return
            }
        }
    }

    /// `stat` (following symlinks) or `lstat`; nil when the path does not exist.
    func remoteStat(_ path: String, followLinks: Bool = true) throws -> RemoteFileInfo? {
        let sftp = try sftp()
        var attributes = LIBSSH2_SFTP_ATTRIBUTES()
        do {
            try sftpCall("stat", path: path) {
                fab_libssh2_sftp_stat(sftp, path, UInt32(path.utf8.count),
                                      followLinks ? LIBSSH2_SFTP_STAT : LIBSSH2_SFTP_LSTAT, &attributes)
            }
        } catch let error as SSHError where error.underlying?.hasPrefix("SFTP status 2") == true || error.underlying?.hasPrefix("SFTP status 10") == true {
            return nil
        }
        let type = Int32(attributes.permissions) & LIBSSH2_SFTP_S_IFMT
        let kind: RemoteFileInfo.Kind = type == LIBSSH2_SFTP_S_IFREG ? .file
            : type == LIBSSH2_SFTP_S_IFDIR ? .directory : type == LIBSSH2_SFTP_S_IFLNK ? .symlink : .other
        return RemoteFileInfo(kind: kind, size: Int64(attributes.filesize), mode: Int32(attributes.permissions) & 0o7777,
                              uid: Int(attributes.uid), gid: Int(attributes.gid))
    }

    /// Creates `path` and its missing parents (like `mkdir -p`).
    func remoteMakeDirectories(_ path: String, mode: Int32 = 0o755) throws {
        if let info = try remoteStat(path) {
            guard info.kind == .directory else {
                throw SSHError(.sftp, host: label, operation: "mkdir", path: path,
                               message: "\(path) exists on the host and is not a directory.")
            }
            return
        }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty && parent != path && parent != "/" { try remoteMakeDirectories(parent, mode: mode) }
        let sftp = try sftp()
        try sftpCall("mkdir", path: path) { fab_libssh2_sftp_mkdir(sftp, path, UInt32(path.utf8.count), Int(mode)) }
    }

    /// Uploads one local file atomically: to a temporary name beside the target, then renamed over it.
    /// With `sweep`, abandoned fab temporaries in the target's directory are removed on the way
    /// (see ``TemporaryNames``); a tree upload sweeps once per directory.
    func putFile(local: String, remote: String, mode: Int32?, sweep: Bool = true, cancel: CancellationFlag,
                 progress: TransferProgressHandler?) throws {
        let operation = "put \(remote)"
        try checkRemotePath(remote, operation: operation)
        guard let info = localStat(local) else {
            throw SSHError(.localFile, host: label, operation: operation, path: local, underlying: String(cString: strerror(errno)),
                           message: "cannot read local file \(local): \(String(cString: strerror(errno))).")
        }
        // The temporary's name is shortened to fit; the final one must fit as it is.
        try checkRemotePath(remote, operation: operation)
        let temporary = TemporaryNames.beside(remote)
        do {
            let tally = ProgressTally(path: remote, total: Int64(info.st_size), handler: progress)
            try putRange(local: local, remote: temporary, range: 0..<Int64(info.st_size), create: true, operation: operation,
                         cancel: cancel, tally: tally)
            if sweep { sweepAbandonedTemporaries(in: (remote as NSString).deletingLastPathComponent, own: (temporary as NSString).lastPathComponent, staging: false) }
            try setRemoteMode(temporary, mode: mode ?? Int32(info.st_mode & 0o7777), operation: operation)
            try renameReplacing(temporary, remote, operation: operation)
        } catch {
            // The name is random and created exclusively: whatever is there is this upload's partial file.
            try? removeRemote(temporary)
            throw error
        }
    }

    /// Renames `from` to `to`, replacing `to` atomically (SFTP v3 rename refuses an existing target,
    /// so that case falls back to `mv -f` on the host, which is rename(2)).
    func renameReplacing(_ from: String, _ to: String, operation: String) throws {
        let sftp = try sftp()
        let flags = Int(LIBSSH2_SFTP_RENAME_OVERWRITE | LIBSSH2_SFTP_RENAME_ATOMIC | LIBSSH2_SFTP_RENAME_NATIVE)
        do {
            try sftpCall(operation, path: to) {
                fab_libssh2_sftp_rename(sftp, from, UInt32(from.utf8.count), to, UInt32(to.utf8.count), flags)
            }
        } catch {
            let result = try execute("mv -f -- \(ShellQuoting.quote(from)) \(ShellQuoting.quote(to))",
                                     options: ExecOptions(timeout: 60), onLine: nil, cancel: CancellationFlag())
            guard result.succeeded else {
                throw SSHError(.sftp, host: label, operation: operation, path: to, underlying: result.stderr,
                               message: "could not move the upload into place at \(to): \(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines)).")
            }
        }
    }

    /// Downloads one remote file to a temporary local name, then renames it into place. With
    /// `sweep`, abandoned fab temporaries in the local directory are removed on the way.
    func getFile(remote: String, local: String, sweep: Bool = true, cancel: CancellationFlag,
                 progress: TransferProgressHandler?) throws {
        let operation = "get \(remote)"
        guard let info = try remoteStat(remote) else {
            throw SSHError(.sftp, host: label, operation: operation, path: remote, message: "\(remote) does not exist on the host.")
        }
        let handle = try sftpOpen(remote, flags: LIBSSH2_FXF_READ, mode: 0, directory: false, operation: operation)
        defer { sftpClose(handle) }
        let localDirectory = (local as NSString).deletingLastPathComponent
        let temporary = TemporaryNames.beside(local)
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw SSHError(.localFile, host: label, operation: operation, path: local, underlying: String(cString: strerror(errno)),
                           message: "cannot write into \(localDirectory.isEmpty ? "." : localDirectory): \(String(cString: strerror(errno))).")
        }
        var complete = false
        defer {
            close(fd)
            if !complete { unlink(temporary) }
        }
        if sweep { TemporaryNames.sweepLocal(in: localDirectory, own: (temporary as NSString).lastPathComponent) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: Self.chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        var done: Int64 = 0
        progress?(TransferProgress(path: local, bytesDone: 0, totalBytes: info.size))
        var lastProgress = fab_monotonic_seconds()
        while true {
            let count = libssh2_sftp_read(handle, buffer.baseAddress!.assumingMemoryBound(to: CChar.self), Self.chunkSize)
            if count == Int(LIBSSH2_ERROR_EAGAIN) {
                try sftpWait(since: lastProgress, cancel: cancel, operation: operation) {
                    libssh2_sftp_read(handle, buffer.baseAddress!.assumingMemoryBound(to: CChar.self), Self.chunkSize)
                }
                continue
            }
            lastProgress = fab_monotonic_seconds()
            if count < 0 { throw sftpFailure(Int32(count), operation: operation, path: remote) }
            if count == 0 { break }
            var offset = 0
            while offset < count {
                let written = write(fd, buffer.baseAddress!.advanced(by: offset), count - offset)
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else {
                    throw SSHError(.localFile, host: label, operation: operation, path: local, underlying: String(cString: strerror(errno)),
                                   message: "writing \(local) failed: \(String(cString: strerror(errno))).")
                }
                offset += written
            }
            done += Int64(count)
            progress?(TransferProgress(path: local, bytesDone: done, totalBytes: info.size))
            if cancel.isCancelled {
                throw SSHError(.cancelled, host: label, operation: operation, message: "interrupted; nothing was written under \(local).")
            }
        }
        fchmod(fd, mode_t(info.mode))
        guard rename(temporary, local) == 0 else {
            throw SSHError(.localFile, host: label, operation: operation, path: local, underlying: String(cString: strerror(errno)),
                           message: "could not move the download into place at \(local): \(String(cString: strerror(errno))).")
        }
        complete = true
    }

    /// Lists a remote directory (names without `.` and `..`).
    func remoteList(_ path: String) throws -> [(name: String, info: RemoteFileInfo)] {
        let handle = try sftpOpen(path, flags: 0, mode: 0, directory: true, operation: "list \(path)")
        defer { sftpClose(handle) }
        var entries: [(String, RemoteFileInfo)] = []
        var name = [CChar](repeating: 0, count: 4096)
        var lastProgress = fab_monotonic_seconds()
        while true {
            var attributes = LIBSSH2_SFTP_ATTRIBUTES()
            let count = fab_libssh2_sftp_readdir(handle, &name, name.count, &attributes)
            if count == LIBSSH2_ERROR_EAGAIN {
                try sftpWait(since: lastProgress, cancel: nil, operation: "list \(path)") {
                    Int(fab_libssh2_sftp_readdir(handle, &name, name.count, &attributes))
                }
                continue
            }
            lastProgress = fab_monotonic_seconds()
            if count < 0 { throw sftpFailure(count, operation: "list \(path)", path: path) }
            if count == 0 { break }
            let entry = String(decoding: name[0..<Int(count)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if entry == "." || entry == ".." { continue }
            let type = Int32(attributes.permissions) & LIBSSH2_SFTP_S_IFMT
            let kind: RemoteFileInfo.Kind = type == LIBSSH2_SFTP_S_IFREG ? .file
                : type == LIBSSH2_SFTP_S_IFDIR ? .directory : type == LIBSSH2_SFTP_S_IFLNK ? .symlink : .other
            entries.append((entry, RemoteFileInfo(kind: kind, size: Int64(attributes.filesize),
                                                  mode: Int32(attributes.permissions) & 0o7777,
                                                  uid: Int(attributes.uid), gid: Int(attributes.gid))))
        }
        return entries.sorted { $0.0 < $1.0 }
    }
}
