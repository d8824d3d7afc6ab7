#if canImport(Glibc)
import Glibc
#endif

/// How a child process ended: a non-zero exit or a signal is data here, not an error.
public enum Termination: Sendable, Equatable, CustomStringConvertible {
    /// It called `exit` with this status (0 to 255).
    case exited(Int32)
    /// A signal killed it (`SIGKILL` is 9, ...).
    case signalled(Int32)

    /// Decodes a `waitpid` status (`WIFEXITED`/`WEXITSTATUS`/`WTERMSIG`, macros Swift cannot import).
    init(waitStatus status: Int32) {
        let signal = status & 0x7f
        self = signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
    }

    /// The status a shell would report: the exit status, or 128 plus the signal number.
    public var status: Int32 {
        switch self {
        case .exited(let code): code
        case .signalled(let signal): 128 + signal
        }
    }

    /// Whether it exited with status 0.
    public var succeeded: Bool { self == .exited(0) }

    /// The signal's short name (`TERM`, `KILL`, ...) if a signal killed it, else nil.
    public var signalName: String? {
        guard case .signalled(let signal) = self else { return nil }
        return Self.name(ofSignal: signal)
    }

    /// `exit status 3` or `signal TERM`.
    public var description: String {
        switch self {
        case .exited(let code): "exit status \(code)"
        case .signalled: "signal \(signalName ?? "?")"
        }
    }

    /// The short name of a signal number, as `kill -l` prints it; the number itself for others.
    static func name(ofSignal signal: Int32) -> String {
        switch signal {
        case SIGHUP: "HUP"
        case SIGINT: "INT"
        case SIGQUIT: "QUIT"
        case SIGILL: "ILL"
        case SIGABRT: "ABRT"
        case SIGBUS: "BUS"
        case SIGFPE: "FPE"
        case SIGKILL: "KILL"
        case SIGUSR1: "USR1"
        case SIGSEGV: "SEGV"
        case SIGUSR2: "USR2"
        case SIGPIPE: "PIPE"
        case SIGALRM: "ALRM"
        case SIGTERM: "TERM"
        default: "\(signal)"
        }
    }
}
