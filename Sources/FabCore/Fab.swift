import FabProcess
import FabSSH
import Foundation

/// The context a task runs with: bound to one host (or none), it offers Fabric's operations
/// (`run`, `sudo`, `local`, `put`, `get`), scopes (`cd`, `lcd`, `prefix`, `withEnv`, `settings`),
/// the file helpers, prompts and the run's shared state.
///
/// A connection to the host opens on first use. Every value the API interpolates into a shell
/// command is quoted with ``quote(_:)``; commands you write yourself are sent as written, so
/// quote what you interpolate: `try await fab.run("ls -l \(fab.quote(path))")`.
public final class Fab: Sendable {
    /// The host as named on the command line or in the fabfile; nil for a task that runs on no host.
    public let host: String?
    public let runtime: FabRuntime

    public init(host: String?, runtime: FabRuntime) {
        self.host = host
        self.runtime = runtime
    }

    /// A context for another host, sharing this run's connections, output and state
    /// (for example the repository host from a build task).
    public func on(_ host: String) -> Fab { Fab(host: host, runtime: runtime) }

    /// Per-run shared state, typed by ``StateKey``.
    public var state: SharedState { runtime.state }

    /// Quotes a value as one shell word; see ``ShellQuoting/quote(_:)``.
    public func quote(_ value: String) -> String { ShellQuoting.quote(value) }

    var label: String { host ?? "localhost" }

    /// Prints a message for the user, each line labelled `[host]` (`[localhost]` for a task on no
    /// host), in order with commands' output; `--hide user` turns it off.
    public func say(_ message: String) {
        for line in message.split(separator: "\n", omittingEmptySubsequences: false) {
            runtime.output.line(label, .user, String(line))
        }
    }

    // MARK: - Commands

    /// Runs a command on the host as the login user.
    /// - Parameters:
    ///   - warnOnly: return a failed result instead of throwing on a non-zero exit (default: the scope's setting).
    ///   - pty: allocate a terminal.
    ///   - timeout: seconds before the command is abandoned (default: the scope's setting).
    ///   - stdin: text sent to the command's standard input; never printed.
    /// - Throws: ``CommandFailure`` on a non-zero exit, ``SSHError`` when the host cannot be reached, ``FabError`` without a host.
    @discardableResult
    public func run(_ command: String, warnOnly: Bool? = nil, pty: Bool = false, timeout: Double? = nil,
                    stdin: String? = nil) async throws -> CommandResult {
        try await remote("run", command, sudoUser: nil, warnOnly: warnOnly, pty: pty, timeout: timeout,
                         stdin: stdin.map { Array($0.utf8) }, quiet: false)
    }

    /// Runs a command with sudo, as root or as `user`.
    ///
    /// sudo is run with a prompt unique to this run; the password is sent on standard input only
    /// when that prompt appears (asked for once per run, from the terminal or `fab`'s
    /// `--sudo-password-file`, and kept in memory only), never in the command line. The prompt and
    /// any echo are removed from the output and the result. `stdin` reaches the command after sudo
    /// is satisfied, never preceded by the password.
    /// - Throws: as ``run(_:warnOnly:pty:timeout:stdin:)``, and ``FabError`` `.sudoPassword` when sudo
    ///   refuses the password (it is not sent twice) or needs one and none can be had.
    @discardableResult
    public func sudo(_ command: String, user: String? = nil, warnOnly: Bool? = nil, pty: Bool = false,
                     timeout: Double? = nil, stdin: String? = nil) async throws -> CommandResult {
        try await remote("sudo", command, sudoUser: user ?? Settings.current.sudoUser ?? "root", warnOnly: warnOnly,
                         pty: pty, timeout: timeout, stdin: stdin.map { Array($0.utf8) }, quiet: false)
    }

    /// Runs a command on this machine with `/bin/bash -c`, in the `lcd` directory, with the scope's environment.
    ///
    /// The command runs in a session of its own, with `stdin` (or nothing) on its standard input and no
    /// terminal: a tool that would prompt there (sudo, ssh asking for a passphrase) fails at once with
    /// its own message, so give it its input another way (`stdin:`, `sudo -S`, an ssh agent). It may
    /// run for the scope's timeout (`settings(timeout:)`), else until it ends or the run is interrupted;
    /// either stops it and everything it started.
    /// - Parameter readOnly: the command changes nothing (`git rev-parse`, `date`), so it runs under
    ///   `--dry-run` too and later steps see its real output; other commands are only printed then.
    /// - Throws: ``CommandFailure`` on a non-zero exit unless warn-only; ``FabError`` `.localFile` when
    ///   bash or the `lcd` directory is missing; ``SSHError`` `.timeout` past the scope's timeout.
    @discardableResult
    public func local(_ command: String, warnOnly: Bool? = nil, stdin: String? = nil, readOnly: Bool = false) async throws -> CommandResult {
        let settings = Settings.current
        let environment = settings.environment.merging(settings.secretEnvironment.mapValues { $0.withRevealed { $0 } }) { $1 }
        for name in environment.keys { try Self.checkEnvironmentName(name) }
        let output = runtime.output
        output.line("localhost", .running, "local: \(command)")
        if runtime.dryRun && !readOnly {
            return CommandResult(host: "localhost", command: command, executed: command, stdout: "", stderr: "", exitStatus: 0)
        }
        // No scope timeout: the command runs until it ends or the run is cancelled (Ctrl-C), which stops it.
        let deadline = settings.commandTimeout.map(Deadline.seconds) ?? .unlimited
        let lines = LocalLines { stream, line in
            settings.steps.last?.saw(line)
            output.line("localhost", stream == .stdout ? .stdout : .stderr, line, visible: settings.visible)
        }
        let outcome: ProcessRunner.Output
        do {
            outcome = try await ProcessRunner.run(executable: "/bin/bash", arguments: ["-c", command],
                                                  environment: .inherit.updating(environment),
                                                  directory: settings.localDirectory, input: stdin.map { Array($0.utf8) },
                                                  deadline: deadline) { stream, chunk in lines.feed(stream, chunk) }
        } catch let error as ProcessError where error.code == .timedOut {
            lines.finish()
            throw SSHError(.timeout, host: "localhost", operation: "local '\(command.count > 60 ? String(command.prefix(57)) + "..." : command)'",
                           message: "the command was still running after \(deadline), the scope's timeout, and was stopped with everything it started; raise the timeout (settings(timeout:)) or make the command faster.")
        } catch let error as ProcessError {
            throw FabError(.localFile, error.description)
        }
        lines.finish()
        let result = CommandResult(host: "localhost", command: command, executed: command, stdout: outcome.stdout,
                                   stderr: outcome.stderr, exitStatus: outcome.termination.status,
                                   exitSignal: outcome.termination.signalName)
        if result.failed {
            guard warnOnly ?? settings.warnOnly else { throw CommandFailure(result: result, operation: "local") }
            output.line("localhost", .warning, Self.warnOnlyWarning(result, operation: "local"), visible: settings.visible)
        }
        return result
    }

    /// Builds the command line for the current scope: secret variables read from standard input,
    /// cd, exports, prefixes, then the command.
    /// - Throws: ``FabError`` `.invalidArgument` for an environment name that is not a shell
    ///   identifier or a NUL byte in the line, before anything runs.
    func composed(_ command: String, settings: Settings) throws -> String {
        var parts: [String] = []
        for name in settings.secretEnvironment.keys.sorted() {
            try Self.checkEnvironmentName(name)
            // One line per value (see `scopeInput`): read by the shell's own `read` and `printf`
            // builtins, so the value is never in any process's arguments.
            parts.append("IFS= read -r \(name) && \(name)=$(printf '%bx' \"$\(name)\") && \(name)=${\(name)%x} && export \(name)")
        }
        if let directory = settings.remoteDirectory { parts.append("cd -- \(Self.shellPath(directory))") }
        if !settings.environment.isEmpty {
            for name in settings.environment.keys { try Self.checkEnvironmentName(name) }
            parts.append("export " + settings.environment.sorted { $0.key < $1.key }
                .map { "\($0.key)=\(quote($0.value))" }.joined(separator: " "))
        }
        parts += settings.prefixes
        parts.append(command)
        let line = parts.joined(separator: " && ")
        if line.contains("\0") {
            throw FabError(.invalidArgument, "the command '\(command.replacingOccurrences(of: "\0", with: "\\0"))' (with its cd, prefix and environment) contains a NUL byte, which no command line can carry; remove it, or pass binary data in a file.")
        }
        return line
    }

    /// The standard input of a remote command in this scope: the secret variables' values, one
    /// line each in `printf %b` form (backslash and newline escaped), then the command's own input.
    /// - Throws: ``FabError`` `.invalidArgument` when secrets would meet a terminal (`pty`), whose
    ///   echo would show them, or a value holds a NUL byte.
    func scopeInput(_ stdin: [UInt8]?, pty: Bool, settings: Settings) throws -> [UInt8]? {
        guard !settings.secretEnvironment.isEmpty else { return stdin }
        if pty {
            throw FabError(.invalidArgument, "secret environment values (\(settings.secretEnvironment.keys.sorted().joined(separator: ", "))) travel on standard input, which a terminal would echo; run the command without pty: true.")
        }
        var input: [UInt8] = []
        for name in settings.secretEnvironment.keys.sorted() {
            let line = try settings.secretEnvironment[name]?.withRevealed { value -> String in
                if value.contains("\0") {
                    throw FabError(.invalidArgument, "the secret environment value of \(name) contains a NUL byte, which no environment variable can hold; remove it.")
                }
                return value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\n", with: "\\n")
            }
            input += Array((line ?? "").utf8) + [UInt8(ascii: "\n")]
        }
        return input + (stdin ?? [])
    }

    /// Refuses an environment variable name that is not a shell identifier (`[A-Za-z_][A-Za-z0-9_]*`).
    static func checkEnvironmentName(_ name: String) throws {
        let bytes = Array(name.utf8)
        func isLetter(_ byte: UInt8) -> Bool {
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) || byte == UInt8(ascii: "_")
        }
        guard let first = bytes.first, isLetter(first),
              bytes.allSatisfy({ isLetter($0) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else {
            let shown = name.unicodeScalars.map { $0.isASCII && $0.value >= 0x20 && $0.value < 0x7f ? String($0) : "\\u{\(String($0.value, radix: 16))}" }.joined()
            throw FabError(.invalidArgument, "the environment variable name '\(shown)' is not a shell identifier; use letters, digits and _ only, not starting with a digit.")
        }
    }

    /// A directory as a shell word for `cd --`: quoted, except that a leading `~` or `~user` stays
    /// bare so the shell expands it (a user name that is not a plain login name is quoted, as is a
    /// relative path, which gets `./` so it is never read as an option nor looked up in CDPATH).
    static func shellPath(_ directory: String) -> String {
        if directory.hasPrefix("~") {
            let slash = directory.firstIndex(of: "/") ?? directory.endIndex
            let user = directory[directory.index(after: directory.startIndex)..<slash]
            let rest = directory[slash...]
            let plainUser = user.utf8.allSatisfy { byte in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
            } && !user.hasPrefix("-")
            if plainUser {
                // The slash stays bare too: a quoted one would stop the expansion.
                let after = rest.dropFirst()
                return "~\(user)" + (rest.isEmpty ? "" : "/") + (after.isEmpty ? "" : ShellQuoting.quote(String(after)))
            }
        }
        if directory.hasPrefix("/") || directory.hasPrefix("~") { return ShellQuoting.quote(directory) }
        return ShellQuoting.quote("./" + directory)
    }

    /// Runs a command remotely; `quiet` probes run even in dry-run mode and print nothing.
    func remote(_ operation: String, _ command: String, sudoUser: String?, warnOnly: Bool?, pty: Bool,
                timeout: Double?, stdin: [UInt8]?, quiet: Bool) async throws -> CommandResult {
        guard let host else {
            throw FabError(.noHost, "'\(operation)' needs a host, and this task runs on none: give -H host or -R role, add '- Hosts: name' to the task's doc comment, or use fab.on(\"host\").")
        }
        let settings = Settings.current
        let body = try composed(command, settings: settings)
        let stdin = try scopeInput(stdin, pty: pty, settings: settings)
        var line = settings.shell.map { "\($0) \(quote(body))" } ?? body
        let exchange = sudoUser.map {
            SudoExchange(body: body, user: $0, shell: settings.shell, host: host, passwords: runtime.pool.sudoPasswords)
        }
        if let exchange { line = exchange.line }
        let output = runtime.output
        if !quiet { output.line(host, .running, "\(operation): \(command)") }
        if runtime.dryRun && !quiet {
            return CommandResult(host: host, command: command, executed: line, stdout: "", stderr: "", exitStatus: 0)
        }
        let session = try await runtime.pool.session(for: host)
        var options = ExecOptions(pty: pty, stdin: stdin, timeout: timeout ?? settings.commandTimeout,
                                  responders: exchange?.responders ?? [])
        let visible = settings.visible
        let step = settings.steps.last
        let printer: OutputLineHandler = { stream, text in
            step?.saw(text)
            output.line(host, stream == .stdout ? .stdout : .stderr, text, visible: visible)
        }
        if output.live && !quiet {
            options.onPartialLine = { stream, text in
                output.partial(host, stream == .stdout ? .stdout : .stderr, text, visible: visible)
            }
        }
        defer { if !quiet { output.endPartial(host) } }
        let executed: ExecResult
        do {
            executed = try await session.execute(line, options: options, onLine: quiet ? nil : printer)
        } catch let error as SSHError where error.code == .promptRepeated && exchange != nil {
            throw refusedSudoPassword(command, on: host)
        }
        if exchange != nil && SudoExchange.refused(executed) { throw refusedSudoPassword(command, on: host) }
        let result = CommandResult(host: host, command: command, executed: line, stdout: executed.stdout,
                                   stderr: executed.stderr, exitStatus: executed.exitStatus, exitSignal: executed.exitSignal)
        if result.failed {
            guard warnOnly ?? settings.warnOnly else { throw CommandFailure(result: result, operation: operation) }
            if !quiet { output.line(host, .warning, Self.warnOnlyWarning(result, operation: operation), visible: visible) }
        }
        return result
    }

    /// Fabric's warning for a command that failed under warn-only:
    /// `run() received nonzero return code 1 while executing 'false'!`.
    static func warnOnlyWarning(_ result: CommandResult, operation: String) -> String {
        let what = result.exitSignal.map { "was killed by signal \($0)" } ?? "received nonzero return code \(result.exitStatus)"
        return "\(operation)() \(what) while executing '\(result.command)'!"
    }

    /// Forgets the password sudo refused and says so.
    private func refusedSudoPassword(_ command: String, on host: String) -> FabError {
        runtime.pool.sudoPasswords.forget()
        return FabError(.sudoPassword, "[\(host)] sudo refused the password for '\(command)' and fab did not send it again; check the password (or the file given with --sudo-password-file), or allow the command in sudoers with NOPASSWD.")
    }

    /// Runs a read-only command on the host (a fact, such as `test -e`, `dpkg-query -W` or
    /// `printf %s "$HOME"`): it prints nothing, runs under `--dry-run` too because it must change
    /// nothing, and returns a failed result instead of throwing on a non-zero exit.
    /// - Parameter useSudo: run it with sudo as root.
    /// - Throws: ``SSHError`` when the host cannot be reached, ``FabError`` without a host.
    public func probe(_ command: String, useSudo: Bool = false) async throws -> CommandResult {
        try await remote("probe", command, sudoUser: useSudo ? "root" : nil, warnOnly: true, pty: false,
                         timeout: nil, stdin: nil, quiet: true)
    }

    // MARK: - Scopes

    /// Runs `body` with remote commands run in `path` (relative paths nest on the enclosing `cd`).
    ///
    /// The directory is passed to `cd --` quoted, so spaces, quotes and a leading `-` are taken as
    /// they are; a leading `~` or `~user` is expanded by the host's shell, as it would be typed
    /// (with sudo, `~` is the home of the user sudo runs as).
    @discardableResult
    public func cd<T>(_ path: String, _ body: () async throws -> T) async rethrows -> T {
        var settings = Settings.current
        settings.remoteDirectory = Self.join(settings.remoteDirectory, path)
        return try await Settings.$current.withValue(settings) { try await body() }
    }

    /// Runs `body` with local commands run in `path`.
    @discardableResult
    public func lcd<T>(_ path: String, _ body: () async throws -> T) async rethrows -> T {
        var settings = Settings.current
        settings.localDirectory = Self.join(settings.localDirectory ?? FileManager.default.currentDirectoryPath, path)
        return try await Settings.$current.withValue(settings) { try await body() }
    }

    /// Runs `body` with `command` run before every remote command (`source venv/bin/activate`),
    /// joined with `&&`. The command is sent as written, like `run`'s: quote what you interpolate
    /// (`fab.prefix("export BRANCH=\(fab.quote(branch))")`).
    @discardableResult
    public func prefix<T>(_ command: String, _ body: () async throws -> T) async rethrows -> T {
        var settings = Settings.current
        settings.prefixes.append(command)
        return try await Settings.$current.withValue(settings) { try await body() }
    }

    /// Runs `body` with environment variables exported before every command (and set for `local`).
    ///
    /// Names must be shell identifiers (`[A-Za-z_][A-Za-z0-9_]*`): any other name makes each
    /// command in the scope throw ``FabError`` `.invalidArgument` naming it, before anything runs.
    /// Values are quoted, so any text arrives as it is (except a NUL byte, which is refused), but
    /// they are part of the command line: anyone on the host can read them in the process list,
    /// and sshd logs them at its debug levels. Pass passwords and tokens with
    /// ``withEnv(secrets:_:)`` instead.
    @discardableResult
    public func withEnv<T>(_ environment: [String: String], _ body: () async throws -> T) async rethrows -> T {
        var settings = Settings.current
        settings.environment.merge(environment) { $1 }
        return try await Settings.$current.withValue(settings) { try await body() }
    }

    /// Runs `body` with environment variables whose values never appear in a command line: each
    /// remote command in the scope receives them on its standard input (ahead of its own `stdin:`
    /// text, and after sudo's password when sudo asks for one), where a fixed prologue of shell
    /// builtins reads them into the exported variables. They are not in the process list, sshd's
    /// log, ``CommandResult`` or fab's output.
    ///
    /// The values are still in the environment of the commands (readable by the same user and
    /// root through `/proc/PID/environ`). A command with `pty: true` cannot take them (the terminal
    /// would echo them): it throws ``FabError`` `.invalidArgument`, as does a name that is not a
    /// shell identifier or a value with a NUL byte. `local` commands get them in their environment.
    @discardableResult
    public func withEnv<T>(secrets: [String: Secret], _ body: () async throws -> T) async rethrows -> T {
        var settings = Settings.current
        settings.secretEnvironment.merge(secrets) { $1 }
        return try await Settings.$current.withValue(settings) { try await body() }
    }

    /// Runs `body` with changed settings (warn-only, hidden output, shell, sudo user, timeout).
    @discardableResult
    public func settings<T>(_ change: (inout Settings) -> Void, _ body: () async throws -> T) async rethrows -> T {
        var settings = Settings.current
        change(&settings)
        return try await Settings.$current.withValue(settings) { try await body() }
    }

    /// Runs `body` with the given output groups hidden (Fabric's `hide('stdout')`).
    @discardableResult
    public func hide<T>(_ groups: OutputGroups, _ body: () async throws -> T) async rethrows -> T {
        try await settings({ $0.visible.subtract(groups) }, body)
    }

    /// Runs `body` with non-zero exits returned as failed results instead of thrown.
    @discardableResult
    public func warnOnly<T>(_ body: () async throws -> T) async rethrows -> T {
        try await settings({ $0.warnOnly = true }, body)
    }

    static func join(_ base: String?, _ path: String) -> String {
        guard let base, !path.hasPrefix("/"), !path.hasPrefix("~") else { return path }
        return base.hasSuffix("/") ? base + path : base + "/" + path
    }
}

/// Splits a local command's output into lines for the output sink, as it arrives on the runner's
/// thread; `@unchecked Sendable`: the splitters are used from that one thread, then by `finish`
/// after the run returned, and the lock makes that hand-over safe.
final class LocalLines: @unchecked Sendable {
    private let lock = NSLock()
    private var stdout = OutputLineSplitter(), stderr = OutputLineSplitter()
    private let emit: @Sendable (StandardStream, String) -> Void

    init(_ emit: @escaping @Sendable (StandardStream, String) -> Void) { self.emit = emit }

    func feed(_ stream: ProcessRunner.Stream, _ chunk: ArraySlice<UInt8>) {
        let lines = lock.withLock {
            stream == .standardOutput ? stdout.feed(chunk) : stderr.feed(chunk)
        }
        for line in lines { emit(stream == .standardOutput ? .stdout : .stderr, line) }
    }

    /// Emits the incomplete last lines.
    func finish() {
        let (out, err) = lock.withLock { (stdout.finish(), stderr.finish()) }
        if let out { emit(.stdout, out) }
        if let err { emit(.stderr, err) }
    }
}
