import Foundation

/// The one place remote and local output reaches the user: each line prefixed with `[host]`,
/// written whole (lines from hosts running in parallel never interleave mid-line), coloured
/// only on a terminal, and filtered by the scope's hidden/shown groups.
public final class OutputSink: Sendable {
    /// What kind of line this is.
    public enum Kind: Sendable {
        case running, stdout, stderr, status, warning
        /// A message the task prints on purpose (``Fab/say(_:)``).
        case user

        var group: OutputGroups {
            switch self {
            case .running: .running
            case .stdout: .stdout
            case .stderr: .stderr
            case .status: .status
            case .warning: .warnings
            case .user: .user
            }
        }
    }

    private let write: @Sendable (String) -> Void
    private let writeError: @Sendable (String) -> Void
    private let colour: Bool
    private let lock = NSLock()
    /// Groups hidden for the whole run (`--hide`), on top of scope settings.
    public let hidden: OutputGroups

    /// - Parameters:
    ///   - hidden: groups never printed in this run.
    ///   - colour: colour host prefixes (pass `isatty(1) != 0` for a terminal).
    ///   - write: receives whole lines, newline included; standard output by default.
    ///   - writeError: receives error lines; standard error by default, or `write` when only that is given.
    public init(hidden: OutputGroups = [], colour: Bool = false,
                write: (@Sendable (String) -> Void)? = nil, writeError: (@Sendable (String) -> Void)? = nil) {
        self.hidden = hidden
        self.colour = colour
        self.write = write ?? OutputSink.writer(fd: 1)
        self.writeError = writeError ?? write ?? OutputSink.writer(fd: 2)
    }

    /// A writer to a file descriptor, one call per line. C's `stdout` (where a task's `print`
    /// goes, fully buffered in a pipe) is flushed first, so the order on screen or in a log is the
    /// order of events.
    static func writer(fd: Int32) -> @Sendable (String) -> Void {
        { text in
            fflush(nil)
            let bytes = Array(text.utf8)
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
                if written <= 0 { if errno == EINTR { continue } else { return } }
                offset += written
            }
        }
    }

    /// Prints an error line (`Error: ...`) on standard error, unless `aborts` is hidden for the run.
    public func error(_ text: String) {
        guard !hidden.contains(.aborts) else { return }
        lock.withLock { writeError("Error: \(text)\n") }
    }

    /// Prints one line for `host` unless its group is hidden for the run or in `visible`.
    /// - Parameter visible: the groups shown in the caller's scope; callers on other threads (a
    ///   session's queue) pass the value they captured, since task-local scopes do not reach there.
    public func line(_ host: String, _ kind: Kind, _ text: String, visible: OutputGroups = Settings.current.visible) {
        guard !hidden.contains(kind.group), visible.contains(kind.group) else { return }
        let label: String
        switch kind {
        case .running: label = ""
        case .stdout: label = "out: "
        case .stderr: label = "err: "
        case .status: label = ""
        case .warning: label = "warning: "
        case .user: label = ""
        }
        let prefix = colour ? "\u{1B}[\(Self.colourCode(for: host))m[\(host)]\u{1B}[0m" : "[\(host)]"
        let body = colour && kind == .stderr ? "\u{1B}[31m\(label)\(text)\u{1B}[0m" : label + text
        let whole = "\(prefix) \(body)\n"
        lock.withLock { write(whole) }
    }

    /// Prints a line that belongs to no host (summaries, task headers).
    public func plain(_ text: String) {
        lock.withLock { write(text + "\n") }
    }

    /// A stable colour per host name, so parallel output can be told apart.
    private static func colourCode(for host: String) -> Int {
        let palette = [32, 33, 34, 35, 36, 92, 93, 94, 95, 96]
        let hash = host.utf8.reduce(5381) { ($0 &* 33) &+ Int($1) }
        return palette[abs(hash) % palette.count]
    }
}
