/// Watches a remote command's output for a pattern and acts when it appears: answers a prompt
/// (sending a password only when it is asked for), or marks where the command proper starts.
///
/// Patterns are matched on the raw byte stream of stdout and stderr, before lines are split and
/// output captured, across read boundaries (a prompt split over two reads still matches). With
/// `scrub`, the pattern, an echo of the answer and the line ending after it are removed from
/// what is shown and captured. Used by ``ExecOptions/responders``.
public struct Responder: Sendable {
    /// What to do when the pattern appears.
    public enum Action: Sendable {
        /// Write the answer and a newline to the command's standard input. The closure is called
        /// when the pattern appears (on the session's queue, so it may block to ask the user); an
        /// error it throws stops the command and is rethrown by ``SSHSession/execute(_:options:onLine:)``.
        case answer(@Sendable () throws -> Secret)
        /// The command proper has started: ``ExecOptions/stdin`` (held back until now, end of input
        /// included) is sent, and every responder stops watching, so later output passes untouched
        /// and cannot trigger an answer.
        case start
    }

    /// The exact bytes to watch for.
    public var pattern: [UInt8]
    public var action: Action
    /// The stream to watch; nil: where prompts arrive, stderr without a PTY and stdout with one
    /// (a terminal merges the two). Order is only known within one stream, so a prompt and the
    /// start marker that ends it should be watched on the same one.
    public var stream: StandardStream?
    /// Remove the pattern (and, after it, the answer's echo and one line ending) from the output.
    public var scrub: Bool
    /// How many times an answer is given. One more appearance of the pattern means the answer was
    /// refused (a wrong password is asked for again): the command is stopped and
    /// ``SSHError/Code/promptRepeated`` thrown, rather than answering in a loop.
    public var limit: Int

    /// A responder; see the static factories for the usual ones.
    public init(pattern: [UInt8], action: Action, stream: StandardStream? = nil, scrub: Bool = true, limit: Int = 1) {
        self.pattern = pattern
        self.action = action
        self.stream = stream
        self.scrub = scrub
        self.limit = max(1, limit)
    }

    /// Answers `prompt` with `secret` (at most `limit` times).
    public static func answer(_ prompt: String, with secret: Secret, scrub: Bool = true, limit: Int = 1) -> Responder {
        Responder(pattern: Array(prompt.utf8), action: .answer { secret }, scrub: scrub, limit: limit)
    }

    /// Answers `prompt` with what `provider` returns when the prompt appears (at most `limit` times).
    public static func answer(_ prompt: String, scrub: Bool = true, limit: Int = 1,
                              provider: @escaping @Sendable () throws -> Secret) -> Responder {
        Responder(pattern: Array(prompt.utf8), action: .answer(provider), scrub: scrub, limit: limit)
    }

    /// Marks the start of the command proper when `marker` appears (see ``Action/start``).
    public static func start(marker: String, scrub: Bool = true) -> Responder {
        Responder(pattern: Array(marker.utf8), action: .start, scrub: scrub)
    }
}

/// Scans one output stream for responders' patterns, across read boundaries, and scrubs them.
///
/// Holds back at most the longest pattern (or expected echo) in bytes: the tail of a read that
/// could be the start of a pattern waits for the next read before it is passed on.
struct ResponderScanner {
    private let patterns: [[UInt8]]
    /// The patterns after which watching ends (``Responder/Action/start``).
    private let finishing: Set<Int>
    private var held: [UInt8] = []
    /// Candidates for bytes to drop at the current position (after a scrubbed match).
    private var dropping: [[UInt8]] = []
    /// Set once a ``Responder/Action/start`` responder matched: everything passes from then on.
    private(set) var finished = false

    /// Patterns must not be prefixes or infixes of one another (each is matched on its own); an
    /// empty pattern (a responder watching the other stream) never matches.
    init(patterns: [[UInt8]], finishing: Set<Int>) {
        self.patterns = patterns
        self.finishing = finishing
        finished = patterns.allSatisfy(\.isEmpty)
    }

    /// Passes `chunk` through, calling `onMatch` for every pattern found; `onMatch` returns the
    /// bytes to drop when they follow the match (empty to drop nothing, nil when the pattern is
    /// not scrubbed) and may throw to stop. Returns the bytes to show and capture.
    mutating func feed(_ chunk: ArraySlice<UInt8>, onMatch: (Int) throws -> [[UInt8]]?) rethrows -> [UInt8] {
        if finished && held.isEmpty && dropping.isEmpty { return Array(chunk) }
        var data = held
        data.append(contentsOf: chunk)
        held.removeAll()
        var output: [UInt8] = []
        var index = 0
        while index < data.count {
            if !dropping.isEmpty {
                let rest = data[index...]
                if let candidate = dropping.first(where: { rest.starts(with: $0) }) {
                    index += candidate.count
                    dropping.removeAll()
                    continue
                }
                if dropping.contains(where: { $0.count > rest.count && $0.starts(with: rest) }) {
                    held = Array(rest)
                    return output
                }
                dropping.removeAll()
            }
            if finished {
                output.append(contentsOf: data[index...])
                return output
            }
            // The earliest full match, or the earliest position whose rest could begin one.
            var position = index
            var found: Int?
            var partial = false
            search: while position < data.count {
                let rest = data[position...]
                for (number, pattern) in patterns.enumerated() where !pattern.isEmpty && pattern[0] == rest.first {
                    if rest.starts(with: pattern) {
                        found = number
                        break search
                    }
                    if pattern.count > rest.count && pattern.starts(with: rest) {
                        partial = true
                        break search
                    }
                }
                position += 1
            }
            output.append(contentsOf: data[index..<position])
            if partial {
                held = Array(data[position...])
                return output
            }
            guard let found else { return output }
            let pattern = patterns[found]
            if let drop = try onMatch(found) {
                dropping = drop.filter { !$0.isEmpty }.sorted { $0.count > $1.count }
            } else {
                output.append(contentsOf: pattern)
            }
            if finishing.contains(found) { finished = true }
            index = position + pattern.count
        }
        return output
    }

    /// Marks that the command proper started (seen on another stream): later bytes pass untouched.
    mutating func finish() { finished = true }

    /// The bytes still held back at the end of the stream: a partial pattern is real output,
    /// a partial echo of an answer is not.
    mutating func flush() -> [UInt8] {
        defer { held.removeAll(); dropping.removeAll() }
        return dropping.isEmpty ? held : []
    }
}
