import FabSSH

/// What a `run`, `sudo` or `local` command did: Fabric's result, with Swift types.
public struct CommandResult: Sendable, CustomStringConvertible {
    /// The host it ran on (`localhost` for `local`).
    public var host: String
    /// The command as the task wrote it (before cd/prefix/sudo wrapping).
    public var command: String
    /// The command line actually sent to the shell.
    public var executed: String
    public var stdout: String
    public var stderr: String
    public var exitStatus: Int32
    /// The signal that killed the command, if any.
    public var exitSignal: String?

    /// Whether the command exited with status 0.
    public var succeeded: Bool { exitSignal == nil && exitStatus == 0 }
    /// Whether the command failed (the opposite of ``succeeded``), for warn-only code.
    public var failed: Bool { !succeeded }
    /// Standard output without the trailing newline, the way shell `$(...)` reads it.
    public var output: String {
        var text = stdout
        while text.hasSuffix("\n") || text.hasSuffix("\r") { text.removeLast() }
        return text
    }
    public var description: String { output }

    public init(host: String, command: String, executed: String, stdout: String, stderr: String,
                exitStatus: Int32, exitSignal: String? = nil) {
        self.host = host
        self.command = command
        self.executed = executed
        self.stdout = stdout
        self.stderr = stderr
        self.exitStatus = exitStatus
        self.exitSignal = exitSignal
    }
}

/// A command that exited non-zero where the task did not ask for warn-only semantics.
///
/// Its description names the host, the command, the exit status and the last lines of output,
/// like Fabric's "Fatal error: run() received nonzero return code".
public struct CommandFailure: Error, CustomStringConvertible, Sendable {
    public var result: CommandResult
    /// What ran it: `run`, `sudo` or `local`.
    public var operation: String

    public var description: String {
        let status = result.exitSignal.map { "was killed by signal \($0)" } ?? "exited with status \(result.exitStatus)"
        var text = "[\(result.host)] \(operation) '\(result.command)' \(status)."
        let tail = Self.tail(result.stderr, lines: 10) + Self.tail(result.stdout, lines: 10)
        if !tail.isEmpty {
            text += " Last output:\n" + tail.map { "    \($0)" }.joined(separator: "\n")
        }
        return text
    }

    static func tail(_ text: String, lines: Int) -> [String] {
        text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            .filter { !$0.isEmpty }.suffix(lines)
    }
}

/// A fabfile operation that cannot proceed: bad input, a missing host, an unreadable template.
/// Raised before anything is changed on a server.
public struct FabError: Error, CustomStringConvertible, Sendable {
    public struct Code: Hashable, Sendable {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public static let noHost = Code("no-host")
        public static let unknownRole = Code("unknown-role")
        public static let template = Code("template")
        public static let localFile = Code("local-file")
        public static let prompt = Code("prompt")
        public static let sudoPassword = Code("sudo-password")
        public static let invalidArgument = Code("invalid-argument")
        public static let aborted = Code("aborted")
    }
    public var code: Code
    /// One sentence: what is wrong and what to do.
    public var message: String
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
    public var description: String { message }

    /// Stops a task with a message, like Fabric's `abort()`.
    public static func abort(_ message: String) -> FabError { FabError(.aborted, message) }
}
