import FabSSH
import Foundation

extension Fab {
    /// Uploads a local file or directory tree to the host.
    ///
    /// Files land atomically: written under a temporary name beside the target
    /// (`.NAME.fab-MACHINE-PID-RANDOM`), then renamed over it; a failed or interrupted upload removes
    /// its temporary, and the next upload into the directory removes those a killed fab left (see
    /// `TemporaryNames`). With `useSudo`, the upload goes to a private (0700) staging directory
    /// in `/tmp` first and is copied into place with sudo, owned by `owner`; the staging directory
    /// is removed whatever happens.
    /// - Parameters:
    ///   - mode: permission bits for the file (0...0o7777); nil keeps the local mode.
    ///   - owner: `user` or `user:group` to own the result (implies `useSudo`).
    /// - Throws: ``FabError`` for a missing local file, a path with a NUL byte or a bad mode,
    ///   ``SSHError`` for transfer failures, ``CommandFailure`` when the sudo move fails.
    public func put(_ localPath: String, _ remotePath: String, mode: Int32? = nil, useSudo: Bool = false,
                    owner: String? = nil) async throws {
        let source = Self.join(Settings.current.localDirectory, localPath)
        try await upload(source, shown: source, to: remotePath, mode: mode, useSudo: useSudo, owner: owner)
    }

    /// ``put(_:_:mode:useSudo:owner:)`` of `source`, named `shown` in output and errors.
    func upload(_ source: String, shown: String, to remotePath: String, mode: Int32?, useSudo: Bool,
                owner: String?) async throws {
        let destination = Self.join(Settings.current.remoteDirectory, remotePath)
        for (value, what) in [(shown, "local path"), (destination, "remote path"), (owner ?? "", "owner")] where value.contains("\0") {
            throw FabError(.invalidArgument, "put: the \(what) contains a NUL byte, which no file name can hold; remove it.")
        }
        let octal = try mode.map(Self.octalMode)
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory)
        // Under --dry-run the file may be one that an earlier, only printed, step would make.
        guard exists || runtime.dryRun else {
            throw FabError(.localFile, "put: the local file \(shown) does not exist; check the path (relative paths start at the lcd directory, or the current one).")
        }
        guard let host else { throw FabError(.noHost, "'put' needs a host, and this task runs on none: give -H host or -R role.") }
        runtime.output.line(host, .status, "put: \(shown) -> \(destination)\(exists ? "" : " (not there yet: made by a step above)")")
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
        // A private directory only the login user can enter; abandoned ones are swept on the way.
        let made = try await session.execute("mktemp -d \(quote("/tmp/" + TemporaryNames.stagingPrefix + "XXXXXXXXXX"))",
                                             options: ExecOptions(timeout: 60))
        let directory = made.stdout.trimmingCharacters(in: .newlines)
        guard made.succeeded, directory.hasPrefix("/tmp/" + TemporaryNames.stagingPrefix) else {
            // mktemp's own message says why (for example a full or read-only /tmp).
            throw CommandFailure(result: CommandResult(host: host, command: made.command, executed: made.command, stdout: made.stdout,
                                                       stderr: made.stderr, exitStatus: made.exitStatus, exitSignal: made.exitSignal),
                                 operation: "put (making a private staging directory on the host)")
        }
        await session.sweepAbandonedStaging(own: (directory as NSString).lastPathComponent)
        let staging = directory + "/" + (isDirectory.boolValue ? "tree" : "file")
        let new = quote(destination + ".fab-new")
        var steps = ["rm -rf -- \(new)", "cp -a -- \(quote(staging)) \(new)"]
        if let owner { steps.append("chown -R -- \(quote(owner)) \(new)") }
        if let octal { steps.append("chmod \(octal) -- \(new)") }
        steps.append(isDirectory.boolValue
            ? "rm -rf -- \(quote(destination)) && mv -- \(new) \(quote(destination))"
            : "mv -f -- \(new) \(quote(destination))")
        // The staging copy is removed whatever happens, also when sudo is interrupted; the command's own status is kept.
        let script = "trap 'rm -rf -- \(quote(directory).replacingOccurrences(of: "'", with: "'\\''"))' EXIT; trap 'exit 129' HUP INT TERM; { \(steps.joined(separator: " && ")); }"
        do {
            if isDirectory.boolValue {
                try await session.putDirectory(source, to: staging)
            } else {
                try await session.put(source, to: staging, mode: 0o600)
            }
            try await hide(.running) { _ = try await sudo(script) }
        } catch {
            // In a task of its own: when this one was cancelled (Ctrl-C), its own calls would stop at once.
            let removal = "rm -rf -- \(quote(directory))"
            await Task { _ = try? await session.execute(removal, options: ExecOptions(timeout: 60)) }.value
            throw error
        }
    }

    /// Downloads a remote file or directory tree. The local path may contain `%(host)s`,
    /// `%(basename)s`, `%(dirname)s` and `%(path)s`, so a multi-host get keeps one copy per host.
    /// - Returns: the local path written.
    /// - Throws: ``SSHError`` when the remote path is missing or unreadable, ``FabError`` for a path with a NUL byte.
    @discardableResult
    public func get(_ remotePath: String, _ localPath: String) async throws -> String {
        guard let host else { throw FabError(.noHost, "'get' needs a host, and this task runs on none: give -H host or -R role.") }
        let source = Self.join(Settings.current.remoteDirectory, remotePath)
        if source.contains("\0") || localPath.contains("\0") {
            throw FabError(.invalidArgument, "get: the \(source.contains("\0") ? "remote" : "local") path contains a NUL byte, which no file name can hold; remove it.")
        }
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
