#if canImport(Glibc)
import Glibc
#endif

/// Why a child process could not be started or waited for.
///
/// Its ``description`` is one sentence naming the command, what went wrong and what to do, followed
/// by the system's own message when a system call failed. Callers add their context (which host
/// setting, which fabfile) by wrapping it in their module's error.
public struct ProcessError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is; extensible, compare with the static members.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's stable name, such as `timedOut`.
        public let rawValue: String
        /// Creates a code from its name.
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The executable does not exist, or no directory on `PATH` holds it.
        public static let notFound = Code("notFound")
        /// `posix_spawn` failed: not executable, the working directory is missing, out of processes...
        public static let launchFailed = Code("launchFailed")
        /// It ran past its deadline; its process group was stopped (SIGTERM, then SIGKILL).
        public static let timedOut = Code("timedOut")
        /// A pipe or another system resource could not be had.
        public static let systemCall = Code("systemCall")
    }

    /// What kind of failure this is.
    public var code: Code
    /// The command, each word shell-quoted (for messages only).
    public var command: String
    /// One sentence: what failed and what to do.
    public var message: String
    /// The `errno` of the failed system call, if one failed.
    public var errno: Int32?
    /// The last lines of what it wrote before it was stopped (standard error, then standard output), for timeouts.
    public var outputTail: String?

    /// Creates an error; the module's own functions throw these.
    public init(_ code: Code, command: String, message: String, errno: Int32? = nil, outputTail: String? = nil) {
        self.code = code
        self.command = command
        self.message = message
        self.errno = errno
        self.outputTail = outputTail
    }

    public var description: String {
        guard let errno else { return message }
        return message + " (" + String(cString: strerror(errno)) + ")"
    }
}
