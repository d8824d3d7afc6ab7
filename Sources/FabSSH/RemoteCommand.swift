import CLibSSH2
import Foundation

/// Which output stream a line came from.
public enum StandardStream: String, Sendable {
    case stdout, stderr
}

/// Receives each complete line of a command's output as it arrives (without its line ending).
public typealias OutputLineHandler = @Sendable (StandardStream, String) -> Void

/// How to run one remote command.
public struct ExecOptions: Sendable {
    /// Allocate a pseudo-terminal (stderr is then merged into stdout by the terminal).
    public var pty: Bool
    /// Environment variables sent with SSH's `env` request (sshd accepts only names in its AcceptEnv).
    public var environment: [String: String]
    /// Bytes written to the command's standard input, which is then closed. Never logged.
    /// With a ``Responder/Action/start`` responder, held back (end of input too) until its marker appears.
    public var stdin: [UInt8]?
    /// Seconds after which the command is abandoned (its channel closed) and ``SSHError/Code/timeout`` thrown.
    public var timeout: Double?
    /// Bytes of each stream kept in the result; beyond it the earliest output is dropped and the tail kept.
    public var captureLimit: Int
    /// When the command is interrupted (task cancelled) or times out, kill its remote process group,
    /// not only close the channel (which a quiet command would outlive). The login shell reports
    /// its pid on a marker line of stderr that never reaches the output; it must be a POSIX-style
    /// shell (sh, bash, dash, zsh, ksh). With a PTY the terminal's hangup does this instead.
    public var stopOnInterrupt: Bool
    /// Called with the incomplete last line of a stream (text with no newline yet, such as a
    /// progress bar drawn with carriage returns) each time more of it arrives; nil to wait for
    /// whole lines only. Runs on the session's queue, like the line handler.
    public var onPartialLine: OutputLineHandler?
    /// Watchers on the output that answer prompts or mark where the command proper starts
    /// (``Responder``); their patterns must not contain one another.
    public var responders: [Responder]

    /// - Parameters: see the properties of the same names.
    public init(pty: Bool = false, environment: [String: String] = [:], stdin: [UInt8]? = nil,
                timeout: Double? = nil, captureLimit: Int = 8 << 20, stopOnInterrupt: Bool = true,
                responders: [Responder] = []) {
        self.pty = pty
        self.environment = environment
        self.stdin = stdin
        self.timeout = timeout
        self.captureLimit = captureLimit
        self.stopOnInterrupt = stopOnInterrupt
        self.responders = responders
    }
}

/// What a remote command did. A non-zero exit is data here, not an error.
public struct ExecResult: Sendable {
    public var command: String
    /// The exit status; meaningless when ``exitSignal`` is set.
    public var exitStatus: Int32
    /// The signal that killed the command (`TERM`, `KILL`...), if one did.
    public var exitSignal: String?
    /// Captured standard output (its tail, when longer than the capture limit).
    public var stdout: String
    public var stderr: String
    /// Total bytes the command wrote to each stream, captured or not.
    public var stdoutByteCount: Int
    public var stderrByteCount: Int
    /// How many times each of ``ExecOptions/responders``' patterns appeared, in the same order.
    public var responderMatches: [Int] = []

    /// Whether the command exited with status 0.
    public var succeeded: Bool { exitSignal == nil && exitStatus == 0 }
    /// Whether earlier output was dropped to respect the capture limit.
    public var isTruncated: Bool { stdoutByteCount > stdout.utf8.count || stderrByteCount > stderr.utf8.count }
}

/// Keeps the last `limit` bytes written to it: bounded capture of a command's output.
public struct TailBuffer: Sendable {
    public let limit: Int
    private var bytes: [UInt8] = []
    /// Every byte appended, kept or not.
    public private(set) var total = 0

    public init(limit: Int) { self.limit = max(0, limit) }

    /// Appends a chunk, dropping the oldest bytes beyond the limit.
    public mutating func append(_ chunk: ArraySlice<UInt8>) {
        total += chunk.count
        bytes.append(contentsOf: chunk)
        if bytes.count > limit * 2 || (bytes.count > limit && limit < 64 * 1024) {
            bytes.removeFirst(bytes.count - limit)
        }
    }

    /// The kept bytes as UTF-8 text.
    public var text: String {
        String(decoding: bytes.count > limit ? bytes.suffix(limit) : bytes[...], as: UTF8.self)
    }
}

/// Splits a byte stream into lines, holding back an incomplete last line (up to a bound).
public struct OutputLineSplitter: Sendable {
    private var pending: [UInt8] = []

    public init() {}

    /// Appends bytes and returns the lines they complete (without line endings).
    public mutating func feed(_ chunk: ArraySlice<UInt8>) -> [String] {
        pending.append(contentsOf: chunk)
        var lines: [String] = []
        var start = 0
        for index in pending.indices where pending[index] == UInt8(ascii: "\n") {
            lines.append(Self.decode(pending[start..<index]))
            start = index + 1
        }
        pending.removeFirst(start)
        if pending.count > 64 * 1024 { // a very long line without newline: emit it in pieces
            lines.append(Self.decode(pending[...]))
            pending.removeAll()
        }
        return lines
    }

    /// The incomplete last line held back so far, as it is (a trailing `\r` says a progress
    /// display is redrawing it), or nil when there is none.
    public var pendingText: String? { pending.isEmpty ? nil : String(decoding: pending, as: UTF8.self) }

    /// The incomplete last line, if any.
    public mutating func finish() -> String? {
        defer { pending.removeAll() }
        return pending.isEmpty ? nil : Self.decode(pending[...])
    }

    private static func decode(_ bytes: ArraySlice<UInt8>) -> String {
        var slice = bytes
        if slice.last == UInt8(ascii: "\r") { slice = slice.dropLast() }
        return String(decoding: slice, as: UTF8.self)
    }
}

extension SessionCore {
    /// The longest command line one exec request carries: libssh2 1.10 refuses to send a packet
    /// of 35,000 - 256 bytes or more, and the request adds 18 bytes to the command.
    static let maxCommandBytes = 35_000 - 0x100 - 18 - 1

    /// Runs `command` on a new channel and waits for it to finish. Runs on the session queue.
    func execute(_ command: String, options: ExecOptions, onLine: OutputLineHandler?,
                 cancel: CancellationFlag) throws -> ExecResult {
        guard let session else {
            throw SSHError(.connectionLost, host: label, operation: "run", message: "the session is closed; reconnect.")
        }
        let operation = "run '\(command.count > 60 ? String(command.prefix(57)) + "..." : command)'"
        var pidMarker = PIDMarker(expected: options.stopOnInterrupt && !options.pty)
        let line = pidMarker.expected ? PIDMarker.prefix + command : command
        if line.utf8.count > Self.maxCommandBytes {
            throw SSHError(.commandTooLong, host: label, operation: operation,
                           message: "the command line is \(line.utf8.count) bytes (fab's own prefix included) and one SSH exec request carries at most \(Self.maxCommandBytes); put the script on the host (fab.put) and run it, or pass the data on standard input (stdin:).")
        }
        let deadline = options.timeout.map { fab_monotonic_seconds() + $0 }
        let channel = try callPointer(operation, deadline: Self.requestDeadline(within: deadline), cancel: cancel) {
            fab_libssh2_channel_open_session(session)
        }
        var channelOpen = true
        defer {
            if channelOpen {
                _ = libssh2_channel_close(channel)
            }
            _ = libssh2_channel_free(channel)
        }
        if options.pty {
            try call(operation, deadline: Self.requestDeadline(within: deadline), cancel: cancel) {
                fab_libssh2_channel_request_pty(channel, "xterm", 5, 200, 50)
            }
        }
        for (name, value) in options.environment.sorted(by: { $0.key < $1.key }) {
            do {
                try call(operation, deadline: Self.requestDeadline(within: deadline), cancel: cancel) {
                    fab_libssh2_channel_setenv(channel, name, UInt32(name.utf8.count), value, UInt32(value.utf8.count))
                }
            } catch var error as SSHError {
                error.message = "the server refused environment variable \(name); sshd accepts only names listed in its AcceptEnv setting."
                throw error
            }
        }
        try call(operation, deadline: Self.requestDeadline(within: deadline), cancel: cancel) {
            fab_libssh2_channel_exec(channel, line, UInt32(line.utf8.count))
        }
        do {
            return try collect(channel, command: command, options: options, deadline: deadline, onLine: onLine,
                               cancel: cancel, pidMarker: &pidMarker, operation: operation, channelOpen: &channelOpen)
        } catch let error as SSHError where error.code == .connectionLost {
            throw error
        } catch {
            // Interrupted, timed out, a refused or unanswerable prompt: the command must not
            // outlive the channel (with a PTY the terminal's hangup stops it).
            if let pid = pidMarker.pid { killRemoteGroup(pid) }
            throw error
        }
    }

    /// Kills the process group of an interrupted command, over a channel of its own.
    private func killRemoteGroup(_ pid: Int) {
        _ = try? execute("kill -TERM -\(pid) 2>/dev/null || kill -TERM \(pid) 2>/dev/null",
                         options: ExecOptions(timeout: 5, stopOnInterrupt: false), onLine: nil, cancel: CancellationFlag())
    }

    /// Reads the command's output until it ends, feeding stdin and responders' answers, and
    /// returns its result.
    private func collect(_ channel: OpaquePointer, command: String, options: ExecOptions, deadline: Double?,
                         onLine: OutputLineHandler?, cancel: CancellationFlag, pidMarker: inout PIDMarker,
                         operation: String, channelOpen: inout Bool) throws -> ExecResult {
        var stdout = TailBuffer(limit: options.captureLimit), stderr = TailBuffer(limit: options.captureLimit)
        var stdoutLines = OutputLineSplitter(), stderrLines = OutputLineSplitter()
        var input = options.stdin ?? []
        var inputOffset = 0
        var inputClosed = false
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        let responders = options.responders
        let finishing = Set(responders.indices.filter { if case .start = responders[$0].action { true } else { false } })
        func patterns(on stream: StandardStream) -> [[UInt8]] {
            responders.map { ($0.stream ?? (options.pty ? .stdout : .stderr)) == stream ? $0.pattern : [] }
        }
        var stdoutScanner = ResponderScanner(patterns: patterns(on: .stdout), finishing: finishing)
        var stderrScanner = ResponderScanner(patterns: patterns(on: .stderr), finishing: finishing)
        var matches = [Int](repeating: 0, count: responders.count)
        var answers: [UInt8] = []
        var answersOffset = 0
        var released = finishing.isEmpty
        // Set when a start marker matched on either stream; ends watching on both. (A scanner
        // with nothing to watch is also `finished`, which must not end the other's watch.)
        var started = false
        defer { for index in answers.indices { answers[index] = 0 } }

        /// Acts on a responder's pattern; returns the bytes to drop after it (nil: keep the pattern).
        func react(_ number: Int) throws -> [[UInt8]]? {
            let responder = responders[number]
            matches[number] += 1
            switch responder.action {
            case .start:
                released = true
                started = true
                return responder.scrub ? [[13, 10], [10]] : nil
            case .answer(let provider):
                guard matches[number] <= responder.limit else {
                    throw SSHError(.promptRepeated, host: label, operation: operation,
                                   message: "the command asked again after \(responder.limit) answer\(responder.limit == 1 ? " was" : "s were") given, so the answer was refused; fab stopped the command instead of answering again.")
                }
                let answer = try provider().withRevealed { Array($0.utf8) }
                answers += answer + [10]
                return responder.scrub ? [answer + [13, 10], answer + [10], [13, 10], [10]] : nil
            }
        }
        func deliver(_ stream: StandardStream, _ bytes: [UInt8]) {
            guard !bytes.isEmpty else { return }
            if stream == .stdout {
                stdout.append(bytes[...])
                for line in stdoutLines.feed(bytes[...]) { onLine?(.stdout, line) }
                if let onPartial = options.onPartialLine, let partial = stdoutLines.pendingText { onPartial(.stdout, partial) }
            } else {
                stderr.append(bytes[...])
                for line in stderrLines.feed(bytes[...]) { onLine?(.stderr, line) }
                if let onPartial = options.onPartialLine, let partial = stderrLines.pendingText { onPartial(.stderr, partial) }
            }
        }

        while true {
            var progressed = false
            for stream in [StandardStream.stdout, .stderr] {
                while true {
                    let n = buffer.withUnsafeMutableBytes { raw in
                        fab_libssh2_channel_read(channel, stream == .stdout ? 0 : SSH_EXTENDED_DATA_STDERR,
                                                 raw.baseAddress!.assumingMemoryBound(to: CChar.self), raw.count)
                    }
                    if n > 0 {
                        let chunk = buffer[0..<n]
                        progressed = true
                        if stream == .stdout {
                            deliver(.stdout, try stdoutScanner.feed(chunk, onMatch: react))
                            if started { stderrScanner.finish() }
                        } else {
                            let rest = pidMarker.consume(chunk)
                            guard !rest.isEmpty else { continue }
                            deliver(.stderr, try stderrScanner.feed(rest, onMatch: react))
                            if started { stdoutScanner.finish() }
                        }
                    } else if n == 0 || Int32(n) == LIBSSH2_ERROR_EAGAIN {
                        break
                    } else {
                        throw failure(Int32(n), operation: operation, code: .channel)
                    }
                }
            }
            if answersOffset < answers.count {
                let n = answers[answersOffset...].withUnsafeBytes { raw in
                    fab_libssh2_channel_write(channel, raw.baseAddress!.assumingMemoryBound(to: CChar.self), raw.count)
                }
                if n > 0 {
                    answersOffset += n
                    progressed = true
                } else if Int32(n) != LIBSSH2_ERROR_EAGAIN {
                    // Input already closed, or the channel gone: the prompt would wait forever.
                    throw SSHError(.promptUnanswerable, host: label, operation: operation,
                                   message: "the command asked for an answer after its input was closed, so it cannot get one; give it no stdin of its own, or a Responder.start marker so input stays open until the prompts are answered.")
                }
                if answersOffset >= answers.count {
                    for index in answers.indices { answers[index] = 0 }
                    answers.removeAll()
                    answersOffset = 0
                }
            } else if released && !inputClosed {
                if inputOffset < input.count {
                    let n = input[inputOffset...].withUnsafeBytes { raw in
                        fab_libssh2_channel_write(channel, raw.baseAddress!.assumingMemoryBound(to: CChar.self), raw.count)
                    }
                    if n > 0 {
                        inputOffset += n
                        progressed = true
                    } else if Int32(n) != LIBSSH2_ERROR_EAGAIN {
                        inputOffset = input.count // the command stopped reading; its exit status tells the rest
                    }
                }
                if inputOffset >= input.count {
                    let rc = fab_libssh2_channel_send_eof(channel)
                    if rc != LIBSSH2_ERROR_EAGAIN {
                        inputClosed = true
                        // Overwrite the secret-bearing input as soon as it is sent.
                        for index in input.indices { input[index] = 0 }
                        input.removeAll()
                    }
                }
            }
            if libssh2_channel_eof(channel) != 0 && !progressed { break }
            if !progressed {
                try wait(deadline: deadline, cancel: cancel, operation: operation)
            }
        }
        deliver(.stdout, stdoutScanner.flush())
        deliver(.stderr, stderrScanner.flush())
        for line in [stdoutLines.finish()].compactMap({ $0 }) { onLine?(.stdout, line) }
        for line in [stderrLines.finish()].compactMap({ $0 }) { onLine?(.stderr, line) }

        try call(operation, deadline: Self.requestDeadline(within: deadline), cancel: cancel) { libssh2_channel_close(channel) }
        try call(operation, deadline: Self.requestDeadline(within: deadline), cancel: cancel) { libssh2_channel_wait_closed(channel) }
        channelOpen = false
        let status = libssh2_channel_get_exit_status(channel)
        var signalPointer: UnsafeMutablePointer<CChar>?
        var signalLength = 0
        _ = libssh2_channel_get_exit_signal(channel, &signalPointer, &signalLength, nil, nil, nil, nil)
        var signal: String?
        if let signalPointer, signalLength > 0 {
            signal = String(decoding: UnsafeRawBufferPointer(start: signalPointer, count: signalLength), as: UTF8.self)
            free(signalPointer)
        }
        return ExecResult(command: command, exitStatus: status, exitSignal: signal,
                          stdout: stdout.text, stderr: stderr.text,
                          stdoutByteCount: stdout.total, stderrByteCount: stderr.total, responderMatches: matches)
    }
}

/// The marker line through which the remote shell reports its pid at the start of stderr.
struct PIDMarker {
    /// Prepended to the command: prints RS (0x1E), the shell's pid and a newline on stderr.
    static let prefix = "printf '\\036%d\\n' \"$$\" >&2; "
    let expected: Bool
    private(set) var pid: Int?
    private var pending: [UInt8] = []
    private var done: Bool

    init(expected: Bool) {
        self.expected = expected
        done = !expected
    }

    /// Takes the marker off the front of the stderr stream; returns the bytes that are real output.
    mutating func consume(_ chunk: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        guard !done else { return chunk }
        pending += chunk
        guard pending.first == 0x1E else {
            done = true
            return pending[...]
        }
        guard let newline = pending.firstIndex(of: UInt8(ascii: "\n")) else { return [] }
        pid = Int(String(decoding: pending[1..<newline], as: UTF8.self))
        done = true
        return pending[(newline + 1)...]
    }
}
