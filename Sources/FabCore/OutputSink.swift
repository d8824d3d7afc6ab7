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
    /// Partial lines are drawn in place (a terminal); see ``partial(_:_:_:visible:)``.
    public let live: Bool
    private let columns: Int
    private let lock = NSLock()
    private let liveLine = LiveLine()
    /// Groups hidden for the whole run (`--hide`), on top of scope settings.
    public let hidden: OutputGroups

    /// - Parameters:
    ///   - hidden: groups never printed in this run.
    ///   - colour: colour host prefixes (pass `isatty(1) != 0` for a terminal).
    ///   - live: draw incomplete lines in place and redraw them (pass `isatty(1) != 0` for a terminal).
    ///   - columns: the terminal's width, to keep a live line on one row; by default asked of standard output.
    ///   - write: receives whole lines, newline included; standard output by default.
    ///   - writeError: receives error lines; standard error by default, or `write` when only that is given.
    public init(hidden: OutputGroups = [], colour: Bool = false, live: Bool = false, columns: Int? = nil,
                write: (@Sendable (String) -> Void)? = nil, writeError: (@Sendable (String) -> Void)? = nil) {
        self.hidden = hidden
        self.colour = colour
        self.live = live
        self.columns = columns ?? Self.terminalColumns()
        self.write = write ?? OutputSink.writer(fd: 1)
        self.writeError = writeError ?? write ?? OutputSink.writer(fd: 2)
    }

    /// The width of the terminal on standard output; 80 when it cannot be told.
    static func terminalColumns() -> Int {
        var size = winsize()
        guard ioctl(1, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return 80 }
        return Int(size.ws_col)
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
        lock.withLock { aroundLiveLine(key: nil) { writeError("Error: \(text)\n") } }
    }

    /// Prints one line for `host` unless its group is hidden for the run or in `visible`.
    ///
    /// A line drawn with carriage returns (`progress 10%\rprogress 100%`) is printed as its last
    /// frame, so the label stays and earlier frames never show through; on a terminal it replaces
    /// the host's live line (see ``partial(_:_:_:visible:)``).
    /// - Parameter visible: the groups shown in the caller's scope; callers on other threads (a
    ///   session's queue) pass the value they captured, since task-local scopes do not reach there.
    public func line(_ host: String, _ kind: Kind, _ text: String, visible: OutputGroups = Settings.current.visible) {
        guard !hidden.contains(kind.group), visible.contains(kind.group) else { return }
        let whole = render(host, kind, Self.lastFrame(text)) + "\n"
        let key = Self.liveKey(host, kind)
        lock.withLock {
            liveLine.pendingSince[key] = nil
            aroundLiveLine(key: key) { write(whole) }
        }
    }

    /// Shows the incomplete last line of a host's output stream as it is drawn, on a terminal only
    /// (from its first carriage return, or once more of it arrives 200 ms after it began):
    /// a labelled live line, rewritten in place with each new frame and replaced by the complete
    /// line when it comes; other output is printed above it. Not on a terminal this does nothing,
    /// and the line is printed when it is complete or when its command ends.
    public func partial(_ host: String, _ kind: Kind, _ text: String, visible: OutputGroups = Settings.current.visible) {
        guard live, !hidden.contains(kind.group), visible.contains(kind.group) else { return }
        let key = Self.liveKey(host, kind)
        // A line that arrived in pieces is usually complete a moment later: draw it only when more
        // of it comes 200 ms or longer after its first piece (there is no timer), or at once when it
        // redraws itself with carriage returns.
        let due = lock.withLock { () -> Bool in
            if liveLine.drawn[key] != nil || text.utf8.contains(UInt8(ascii: "\r")) { return true }
            let now = ProcessInfo.processInfo.systemUptime
            guard let since = liveLine.pendingSince[key] else {
                liveLine.pendingSince[key] = now
                return false
            }
            return now - since >= 0.2
        }
        guard due else { return }
        let frame = Self.lastFrame(text)
        var rendered = render(host, kind, frame)
        // Keep it on one row, so the region can be erased and drawn again.
        let room = columns - 1 - (host.count + 3 + Self.label(kind).count)
        if frame.count > room { rendered = render(host, kind, String(frame.prefix(max(0, room - 1))) + "…") }
        setLive(key, rendered)
    }

    /// Ends `host`'s live output lines, if any (its command ended without completing a line):
    /// what was drawn stays on screen as a line of its own.
    public func endPartial(_ host: String) {
        guard live else { return }
        for kind in [Kind.stdout, .stderr] {
            let key = Self.liveKey(host, kind)
            lock.withLock { liveLine.pendingSince[key] = nil }
            removeLive(key, keeping: true)
        }
    }

    /// Draws a status line for `host` that is replaced while it lasts (a transfer's progress bar), on
    /// a terminal only: each key has a row of its own at the bottom, below all other output.
    /// - Parameters:
    ///   - key: what the line is about (one per transfer); a new key adds a row.
    ///   - text: the line without its `[host]` label, no wider than the terminal.
    public func progress(_ host: String, key: String, _ text: String, visible: OutputGroups = Settings.current.visible) {
        guard live, !hidden.contains(.status), visible.contains(.status) else { return }
        setLive("\(host)\u{0}progress\u{0}\(key)", render(host, .status, text))
    }

    /// Removes the progress line `key` of `host` drawn by ``progress(_:key:_:visible:)``.
    public func endProgress(_ host: String, key: String) {
        guard live else { return }
        removeLive("\(host)\u{0}progress\u{0}\(key)", keeping: false)
    }

    /// The terminal's width in columns (80 when it cannot be told).
    public var width: Int { columns }

    /// Prints a block of lines that belongs to no host (a table assembled from every host's answers)
    /// in one write, unlabelled, unless `kind`'s group is hidden for the run or in `visible`: lines
    /// from hosts running in parallel never come between its lines. Carriage returns are dropped.
    public func block(_ text: String, _ kind: Kind, visible: OutputGroups = Settings.current.visible) {
        guard !hidden.contains(kind.group), visible.contains(kind.group) else { return }
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { Self.lastFrame(String($0)) }
        let whole = lines.joined(separator: "\n") + "\n"
        lock.withLock { aroundLiveLine(key: nil) { write(whole) } }
    }

    /// Prints a line that belongs to no host (summaries, task headers).
    public func plain(_ text: String) {
        lock.withLock { aroundLiveLine(key: nil) { write(text + "\n") } }
    }

    private func setLive(_ key: String, _ rendered: String) {
        lock.withLock {
            let erase = liveLine.erasure
            if liveLine.drawn[key] == nil { liveLine.keys.append(key) }
            liveLine.drawn[key] = rendered
            write(erase + liveLine.region)
        }
    }

    private func removeLive(_ key: String, keeping: Bool) {
        lock.withLock {
            guard let drawn = liveLine.drawn[key] else { return }
            let erase = liveLine.erasure
            liveLine.drawn[key] = nil
            liveLine.keys.removeAll { $0 == key }
            write(erase + (keeping ? drawn + "\n" : "") + liveLine.region)
        }
    }

    /// Runs `body` (which writes whole lines; the lock is held) with the live region erased first and
    /// drawn again below, without the line `key` when `body` writes that line's complete form.
    private func aroundLiveLine(key: String?, _ body: () -> Void) {
        guard live, !liveLine.keys.isEmpty else { return body() }
        write(liveLine.erasure)
        body()
        if let key, liveLine.drawn[key] != nil {
            liveLine.drawn[key] = nil
            liveLine.keys.removeAll { $0 == key }
        }
        write(liveLine.region)
    }

    private func render(_ host: String, _ kind: Kind, _ text: String) -> String {
        let label = Self.label(kind)
        let prefix = colour ? "\u{1B}[\(Self.colourCode(for: host))m[\(host)]\u{1B}[0m" : "[\(host)]"
        let body = colour && kind == .stderr ? "\u{1B}[31m\(label)\(text)\u{1B}[0m" : label + text
        return "\(prefix) \(body)"
    }

    private static func label(_ kind: Kind) -> String {
        switch kind {
        case .running, .status, .user: ""
        case .stdout: "out: "
        case .stderr: "err: "
        case .warning: "warning: "
        }
    }

    private static func liveKey(_ host: String, _ kind: Kind) -> String { "\(host)\u{0}\(kind)" }

    /// The last non-empty frame of text drawn with carriage returns (the text itself without one).
    static func lastFrame(_ text: String) -> String {
        let bytes = Array(text.utf8)
        guard bytes.contains(UInt8(ascii: "\r")) else { return text }
        let frames = bytes.split(separator: UInt8(ascii: "\r"), omittingEmptySubsequences: true)
        return frames.last.map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    /// A stable colour per host name, so parallel output can be told apart.
    private static func colourCode(for host: String) -> Int {
        let palette = [32, 33, 34, 35, 36, 92, 93, 94, 95, 96]
        let hash = host.utf8.reduce(5381) { ($0 &* 33) &+ Int($1) }
        return palette[abs(hash) % palette.count]
    }
}

/// The live region on a terminal: the rows drawn below all other output (a partial line per host
/// stream, a bar per transfer), in the order they appeared. Only touched with the sink's lock held,
/// which is why it may be unchecked Sendable.
private final class LiveLine: @unchecked Sendable {
    var keys: [String] = []
    var drawn: [String: String] = [:]
    /// When each host stream's incomplete line (not drawn yet) began to wait for its newline.
    var pendingSince: [String: Double] = [:]

    /// The rows as drawn: joined by newlines, the cursor left at the end of the last.
    var region: String { keys.compactMap { drawn[$0] }.joined(separator: "\n") }

    /// What erases the region as drawn: each row cleared, moving up, ending at the start of the first.
    var erasure: String {
        guard !keys.isEmpty else { return "" }
        return "\r\u{1B}[K" + String(repeating: "\u{1B}[1A\u{1B}[K", count: keys.count - 1)
    }
}
