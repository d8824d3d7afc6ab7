import FabSSH
import Foundation

extension Fab {
    /// Uploads a local file or directory tree to the host.
    ///
    /// Files land atomically (temporary name, then rename). With `useSudo`, the upload goes to a
    /// private temporary file first and is moved into place with sudo, owned by `owner`.
    /// - Parameters:
    ///   - mode: permission bits for the file; nil keeps the local mode.
    ///   - owner: `user` or `user:group` to own the result (implies `useSudo`).
    /// - Throws: ``FabError`` for a missing local file, ``SSHError`` for transfer failures, ``CommandFailure`` when the sudo move fails.
    public func put(_ localPath: String, _ remotePath: String, mode: Int32? = nil, useSudo: Bool = false,
                    owner: String? = nil) async throws {
        let source = Self.join(Settings.current.localDirectory, localPath)
        let destination = Self.join(Settings.current.remoteDirectory, remotePath)
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory)
        // Under --dry-run the file may be one that an earlier, only printed, step would make.
        guard exists || runtime.dryRun else {
            throw FabError(.localFile, "put: the local file \(source) does not exist; check the path (relative paths start at the lcd directory, or the current one).")
        }
        guard let host else { throw FabError(.noHost, "'put' needs a host, and this task runs on none: give -H host or -R role.") }
        runtime.output.line(host, .status, "put: \(source) -> \(destination)\(exists ? "" : " (not there yet: made by a step above)")")
        if runtime.dryRun { return }
        let session = try await runtime.pool.session(for: host)
        guard useSudo || owner != nil else {
            if isDirectory.boolValue {
                try await session.putDirectory(source, to: destination)
            } else {
                try await session.put(source, to: destination, mode: mode)
            }
            return
        }
        let staging = "/tmp/.fab-put-\(UUID().uuidString.prefix(12))"
        if isDirectory.boolValue {
            try await session.putDirectory(source, to: staging)
        } else {
            try await session.put(source, to: staging, mode: 0o600)
        }
        var steps = ["rm -rf -- \(quote(destination)).fab-new", "cp -a -- \(quote(staging)) \(quote(destination)).fab-new"]
        if let owner { steps.append("chown -R -- \(quote(owner)) \(quote(destination)).fab-new") }
        if let mode { steps.append("chmod \(String(mode, radix: 8)) -- \(quote(destination)).fab-new") }
        steps.append(isDirectory.boolValue
            ? "rm -rf -- \(quote(destination)) && mv -- \(quote(destination)).fab-new \(quote(destination))"
            : "mv -f -- \(quote(destination)).fab-new \(quote(destination))")
        // The staging copy is removed whatever happens; the command's own status is kept.
        let script = "{ \(steps.joined(separator: " && ")); }; status=$?; rm -rf -- \(quote(staging)); exit $status"
        try await hide(.running) { _ = try await sudo(script) }
    }

    /// Downloads a remote file or directory tree. The local path may contain `%(host)s`,
    /// `%(basename)s`, `%(dirname)s` and `%(path)s`, so a multi-host get keeps one copy per host.
    /// - Returns: the local path written.
    /// - Throws: ``SSHError`` when the remote path is missing or unreadable.
    @discardableResult
    public func get(_ remotePath: String, _ localPath: String) async throws -> String {
        guard let host else { throw FabError(.noHost, "'get' needs a host, and this task runs on none: give -H host or -R role.") }
        let source = Self.join(Settings.current.remoteDirectory, remotePath)
        let expanded = localPath
            .replacingOccurrences(of: "%(host)s", with: host)
            .replacingOccurrences(of: "%(basename)s", with: (source as NSString).lastPathComponent)
            .replacingOccurrences(of: "%(dirname)s", with: ((source as NSString).deletingLastPathComponent as NSString).lastPathComponent)
            .replacingOccurrences(of: "%(path)s", with: source.hasPrefix("/") ? String(source.dropFirst()) : source)
        var destination = Self.join(Settings.current.localDirectory, expanded)
        runtime.output.line(host, .status, "get: \(source) -> \(destination)")
        if runtime.dryRun { return destination }
        let session = try await runtime.pool.session(for: host)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: destination, isDirectory: &isDirectory), isDirectory.boolValue {
            destination += "/" + (source as NSString).lastPathComponent
        }
        try FileManager.default.createDirectory(atPath: (destination as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        if try await session.stat(source)?.kind == .directory {
            try await session.getDirectory(source, to: destination)
        } else {
            try await session.get(source, to: destination)
        }
        return destination
    }
}
