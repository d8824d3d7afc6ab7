import CLibSSH2
import Foundation

extension SSHSession {
    /// Uploads a local file atomically: written under a temporary name beside `remotePath`, then
    /// renamed over it, so readers never see half a file and an interrupted upload leaves nothing
    /// under the final name.
    /// - Parameters:
    ///   - mode: the permission bits to set; nil keeps the local file's.
    ///   - streams: how many connections carry the file (see ``TransferStreams``); nil chooses by size.
    ///   - progress: called with bytes done and total as the upload goes, one call at a time.
    /// - Throws: ``SSHError`` (`.localFile`, `.sftp`, `.cancelled`, `.connectionLost`).
    public func put(_ localPath: String, to remotePath: String, mode: Int32? = nil, streams: TransferStreams? = nil,
                    progress: TransferProgressHandler? = nil) async throws {
        if let info = localStat(localPath), info.st_mode & S_IFMT == S_IFREG {
            let size = Int64(info.st_size)
            let chosen = streams ?? .automatic(size: size)
            if chosen.ranges(size: size).count > 1 {
                try await putParallel(localPath, size: size, to: remotePath, mode: mode ?? Int32(info.st_mode & 0o7777),
                                      streams: chosen, progress: progress)
                return
            }
        }
        try await performCancellable { core, cancel in try core.putFile(local: localPath, remote: remotePath, mode: mode, cancel: cancel, progress: progress) }
    }

    /// Downloads a remote file to `localPath` through a temporary local name, keeping its mode.
    /// - Parameters:
    ///   - streams: how many connections carry the file (see ``TransferStreams``); nil means one.
    ///   - progress: called with bytes done and total as the download goes, one call at a time.
    /// - Throws: ``SSHError`` when the file is missing or unreadable, or the local side cannot be written.
    public func get(_ remotePath: String, to localPath: String, streams: TransferStreams? = nil,
                    progress: TransferProgressHandler? = nil) async throws {
        if let streams, streams.count > 1, let info = try await stat(remotePath), info.kind == .file,
           streams.ranges(size: info.size).count > 1 {
            try await getParallel(remotePath, info: info, to: localPath, streams: streams, progress: progress)
            return
        }
        try await performCancellable { core, cancel in try core.getFile(remote: remotePath, local: localPath, cancel: cancel, progress: progress) }
    }

    /// Uploads a local directory tree (files, subdirectories, modes; symlinks as links) under `remotePath`.
    /// - Throws: ``SSHError`` on the first file that fails; files already uploaded stay.
    public func putDirectory(_ localPath: String, to remotePath: String, progress: TransferProgressHandler? = nil) async throws {
        try await performCancellable { core, cancel in try core.putTree(local: localPath, remote: remotePath, cancel: cancel, progress: progress) }
    }

    /// Downloads a remote directory tree under `localPath`, keeping modes.
    public func getDirectory(_ remotePath: String, to localPath: String, progress: TransferProgressHandler? = nil) async throws {
        try await performCancellable { core, cancel in try core.getTree(remote: remotePath, local: localPath, cancel: cancel, progress: progress) }
    }

    /// The type, size and mode of a remote path, or nil when it does not exist.
    public func stat(_ remotePath: String, followLinks: Bool = true) async throws -> RemoteFileInfo? {
        try await core.perform { core in try core.remoteStat(remotePath, followLinks: followLinks) }
    }

    /// Creates a remote directory and its missing parents.
    public func makeDirectories(_ remotePath: String, mode: Int32 = 0o755) async throws {
        try await core.perform { core in try core.remoteMakeDirectories(remotePath, mode: mode) }
    }

    /// The entries of a remote directory, sorted by name.
    public func list(_ remotePath: String) async throws -> [(name: String, info: RemoteFileInfo)] {
        try await core.perform { core in try core.remoteList(remotePath) }
    }
}

extension SessionCore {
    func putTree(local: String, remote: String, cancel: CancellationFlag, progress: TransferProgressHandler?) throws {
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: local, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw SSHError(.localFile, host: label, operation: "put \(local)", path: local, message: "\(local) is not a directory.")
        }
        let mode = ((try? manager.attributesOfItem(atPath: local)[.posixPermissions]) as? Int).map(Int32.init) ?? 0o755
        try remoteMakeDirectories(remote, mode: mode)
        var swept = false
        for name in try manager.contentsOfDirectory(atPath: local).sorted() {
            let source = local + "/" + name, destination = remote + "/" + name
            let attributes = try manager.attributesOfItem(atPath: source)
            switch attributes[.type] as? FileAttributeType {
            case .typeDirectory?:
                try putTree(local: source, remote: destination, cancel: cancel, progress: progress)
            case .typeSymbolicLink?:
                let target = try manager.destinationOfSymbolicLink(atPath: source)
                // libssh2 1.10's SFTP symlink request is read with swapped arguments by OpenSSH's
                // sftp-server (a long-standing protocol quirk), so links are made with ln(1).
                let result = try execute("ln -sfn -- \(ShellQuoting.quote(target)) \(ShellQuoting.quote(destination))",
                                         options: ExecOptions(timeout: 60), onLine: nil, cancel: cancel)
                guard result.succeeded else {
                    throw SSHError(.sftp, host: label, operation: "put \(source)", path: destination, underlying: result.stderr,
                                   message: "could not create the symlink \(destination): \(result.stderr.trimmingCharacters(in: .whitespacesAndNewlines)).")
                }
            default:
                try putFile(local: source, remote: destination, mode: nil, sweep: !swept, cancel: cancel, progress: progress)
                swept = true
            }
        }
    }

    func getTree(remote: String, local: String, cancel: CancellationFlag, progress: TransferProgressHandler?) throws {
        guard let info = try remoteStat(remote), info.kind == .directory else {
            throw SSHError(.sftp, host: label, operation: "get \(remote)", path: remote, message: "\(remote) is not a directory on the host.")
        }
        try FileManager.default.createDirectory(atPath: local, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: Int(info.mode)])
        var swept = false
        for (name, entry) in try remoteList(remote) {
            let source = remote + "/" + name, destination = local + "/" + name
            switch entry.kind {
            case .directory: try getTree(remote: source, local: destination, cancel: cancel, progress: progress)
            case .file:
                try getFile(remote: source, local: destination, sweep: !swept, cancel: cancel, progress: progress)
                swept = true
            case .symlink:
                let sftp = try sftp()
                var target = [CChar](repeating: 0, count: 4096)
                let count = try sftpCall("readlink", path: source) {
                    fab_libssh2_sftp_readlink(sftp, source, UInt32(source.utf8.count), &target, UInt32(target.count))
                }
                let text = String(decoding: target[0..<Int(count)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                try? FileManager.default.removeItem(atPath: destination)
                try FileManager.default.createSymbolicLink(atPath: destination, withDestinationPath: text)
            case .other: continue
            }
        }
    }
}
