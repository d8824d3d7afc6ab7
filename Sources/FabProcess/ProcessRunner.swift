import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Runs a program to completion with a deadline, feeding its standard input and reading its
/// standard output and standard error at once (one thread, `poll`), so no amount of output or
/// input can deadlock it; what it wrote is kept up to a limit and can be watched as it arrives.
///
/// A non-zero exit is data (``Output/termination``); not starting, or running past the deadline, is
/// a ``ProcessError``. The run ends when the program exits: what it wrote until then is read, and
/// a background process it left holding the pipes does not keep the caller waiting.
public enum ProcessRunner {
    /// One of the child's output streams.
    public enum Stream: Sendable, Equatable {
        /// File descriptor 1.
        case standardOutput
        /// File descriptor 2.
        case standardError
    }

    /// What to do with the child's standard error.
    public enum ErrorHandling: Sendable, Equatable {
        /// Keep it apart in ``Output/standardError``.
        case capture
        /// Send it into standard output (`2>&1`), so the two interleave as written.
        case mergeIntoOutput
        /// Send it to this process's standard error.
        case inherit
        /// Drop it.
        case discard
    }

    /// Called with each piece of output as it is read, on the thread that runs the child.
    public typealias OutputHandler = @Sendable (Stream, ArraySlice<UInt8>) -> Void

    /// What a finished program did.
    public struct Output: Sendable {
        /// How it ended.
        public var termination: Termination
        /// The last `captureLimit` bytes of its standard output.
        public var standardOutput: [UInt8]
        /// The last `captureLimit` bytes of its standard error (empty unless captured).
        public var standardError: [UInt8]
        /// Whether earlier output was dropped to respect the capture limit.
        public var truncated: Bool
        /// Whether it was stopped because the task running it was cancelled.
        public var cancelled: Bool

        /// Standard output decoded as UTF-8.
        public var stdout: String { String(decoding: standardOutput, as: UTF8.self) }
        /// Standard error decoded as UTF-8.
        public var stderr: String { String(decoding: standardError, as: UTF8.self) }
    }

    /// Runs a program and waits for it, blocking the calling thread.
    ///
    /// - Parameters:
    ///   - executable, arguments, environment, directory: as ``ChildProcess/spawn(executable:arguments:environment:directory:standardInput:standardOutput:standardError:)``.
    ///   - input: bytes for its standard input, which is closed after them; nil: `/dev/null`.
    ///   - standardError: where its standard error goes.
    ///   - captureLimit: how many bytes of each stream to keep (the last ones).
    ///   - deadline: how long it may run; past it, it and its process group are stopped.
    ///   - onOutput: called with each piece of output as it arrives.
    /// - Throws: ``ProcessError``: `.notFound`, `.launchFailed`, `.systemCall` when it cannot start,
    ///   `.timedOut` (with the last lines it wrote) when it ran past `deadline`.
    public static func run(executable: String, arguments: [String] = [], environment: Environment = .inherit,
                           directory: String? = nil, input: [UInt8]? = nil, standardError: ErrorHandling = .capture,
                           captureLimit: Int = 8 << 20, deadline: Deadline,
                           onOutput: OutputHandler? = nil) throws -> Output {
        let start = ContinuousClock.now
        let child = try spawn(executable, arguments, environment, directory, input, standardError)
        return try pump(child, input: input ?? [], captureLimit: captureLimit, deadline: deadline, start: start,
                        cancelled: nil, onOutput: onOutput)
    }

    /// Runs a program and waits for it on a thread of its own (never on the cooperative pool).
    ///
    /// Cancelling the calling task stops the program and its process group (SIGTERM, then SIGKILL
    /// after 2 s); the output then says ``Output/cancelled`` and how it ended.
    /// Parameters and errors are those of the synchronous ``run(executable:arguments:environment:directory:input:standardError:captureLimit:deadline:onOutput:)``;
    /// it also throws `CancellationError` when the task was cancelled before the program started.
    public static func run(executable: String, arguments: [String] = [], environment: Environment = .inherit,
                           directory: String? = nil, input: [UInt8]? = nil, standardError: ErrorHandling = .capture,
                           captureLimit: Int = 8 << 20, deadline: Deadline,
                           onOutput: OutputHandler? = nil) async throws -> Output {
        try Task.checkCancellation()
        let start = ContinuousClock.now
        let child = try spawn(executable, arguments, environment, directory, input, standardError)
        let cancelled = CancelFlag()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                Thread.detachNewThread {
                    continuation.resume(with: Result {
                        try pump(child, input: input ?? [], captureLimit: captureLimit, deadline: deadline, start: start,
                                 cancelled: cancelled, onOutput: onOutput)
                    })
                }
            }
        } onCancel: {
            // Only signal here (this may be a cooperative thread); the pump escalates to SIGKILL.
            cancelled.set()
            child.signalGroup(SIGTERM)
        }
    }

    private static func spawn(_ executable: String, _ arguments: [String], _ environment: Environment,
                              _ directory: String?, _ input: [UInt8]?, _ standardError: ErrorHandling) throws -> ChildProcess {
        let errorRedirect: ChildProcess.Redirect = switch standardError {
        case .capture: .pipe
        case .mergeIntoOutput: .standardOutput
        case .inherit: .inherit
        case .discard: .null
        }
        return try ChildProcess.spawn(executable: executable, arguments: arguments, environment: environment,
                                      directory: directory, standardInput: input == nil ? .null : .pipe,
                                      standardOutput: .pipe, standardError: errorRedirect)
    }

    /// Moves bytes between this process and the child until it exits, then reaps it.
    private static func pump(_ child: ChildProcess, input: [UInt8], captureLimit: Int, deadline: Deadline,
                             start: ContinuousClock.Instant, cancelled: CancelFlag?,
                             onOutput: OutputHandler?) throws -> Output {
        // A write to a pipe whose reader has gone raises SIGPIPE in the writing thread, which would
        // kill this process: block it here, take EPIPE instead, and discard the pending signal after.
        var pipeSignal = sigset_t()
        sigemptyset(&pipeSignal)
        sigaddset(&pipeSignal, SIGPIPE)
        var previousMask = sigset_t()
        pthread_sigmask(SIG_BLOCK, &pipeSignal, &previousMask)
        defer {
            var pending = sigset_t()
            sigpending(&pending)
            if sigismember(&pending, SIGPIPE) == 1 {
                var noWait = timespec()
                _ = sigtimedwait(&pipeSignal, nil, &noWait)
            }
            pthread_sigmask(SIG_SETMASK, &previousMask, nil)
        }

        let end = deadline.instant(from: start)
        var stdinFD = child.standardInput, stdoutFD = child.standardOutput, stderrFD = child.standardError
        for fd in [stdinFD, stdoutFD, stderrFD].compactMap({ $0 }) {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
        var written = 0
        if input.isEmpty, let fd = stdinFD {
            child.closePipe(fd)
            stdinFD = nil
        }
        var stdout = Capture(limit: captureLimit), stderr = Capture(limit: captureLimit)
        var buffer = [UInt8](repeating: 0, count: 1 << 16)

        /// Reads what `fd` has now; returns false at its end (or on an error), having closed it.
        func read(_ fd: Int32) -> Bool {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                let chunk = buffer[0..<count]
                let stream: Stream = fd == child.standardOutput ? .standardOutput : .standardError
                if stream == .standardOutput { stdout.append(chunk) } else { stderr.append(chunk) }
                onOutput?(stream, chunk)
                return true
            }
            if count < 0, errno == EAGAIN || errno == EINTR { return true }
            child.closePipe(fd)
            return false
        }
        func closeInput() {
            if let fd = stdinFD { child.closePipe(fd) }
            stdinFD = nil
        }
        func output(_ termination: Termination) -> Output {
            Output(termination: termination, standardOutput: stdout.bytes, standardError: stderr.bytes,
                   truncated: stdout.isTruncated || stderr.isTruncated, cancelled: cancelled?.isSet == true)
        }
        func tail() -> String {
            let lines = { (bytes: [UInt8]) in
                String(decoding: bytes.suffix(4096), as: UTF8.self).split(separator: "\n").suffix(10).joined(separator: "\n")
            }
            return [lines(stderr.bytes), lines(stdout.bytes)].filter { !$0.isEmpty }.joined(separator: "\n")
        }

        while stdinFD != nil || stdoutFD != nil || stderrFD != nil {
            if cancelled?.isSet == true {
                closeInput()
                return output(child.terminate() ?? .signalled(SIGKILL))
            }
            if let end, ContinuousClock.now >= end {
                child.terminate()
                throw child.timedOut(deadline, outputTail: tail())
            }
            if child.hasExited {
                // Everything it wrote is in the pipes now: drain them without waiting for an end a
                // background process it started may hold off.
                closeInput()
                for fd in [stdoutFD, stderrFD].compactMap({ $0 }) {
                    var reads = 0
                    while reads < 4096 {
                        let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
                        guard count > 0 else { break }
                        let chunk = buffer[0..<count]
                        if fd == child.standardOutput { stdout.append(chunk) } else { stderr.append(chunk) }
                        onOutput?(fd == child.standardOutput ? .standardOutput : .standardError, chunk)
                        reads += 1
                    }
                    child.closePipe(fd)
                }
                stdoutFD = nil
                stderrFD = nil
                break
            }
            var descriptors: [pollfd] = []
            if let fd = stdoutFD { descriptors.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
            if let fd = stderrFD { descriptors.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0)) }
            if let fd = stdinFD { descriptors.append(pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)) }
            if child.exitDescriptor >= 0 {
                descriptors.append(pollfd(fd: child.exitDescriptor, events: Int16(POLLIN), revents: 0))
            }
            // Wake at least every 50 ms to notice a cancellation, the deadline, or (without a
            // pidfd) an exit.
            let wait = end.map { ChildProcess.milliseconds(until: $0, from: .now, atMost: 50) } ?? 50
            if poll(&descriptors, nfds_t(descriptors.count), wait) < 0 {
                if errno == EINTR { continue }
                let code = errno
                child.terminate()
                throw ProcessError(.systemCall, command: child.command, message: "Cannot watch the pipes of \(child.command).", errno: code)
            }
            for descriptor in descriptors where descriptor.revents != 0 && descriptor.fd != child.exitDescriptor {
                if descriptor.fd == stdinFD {
                    let count = input.withUnsafeBytes { bytes in
                        write(descriptor.fd, bytes.baseAddress! + written, min(bytes.count - written, 1 << 16))
                    }
                    if count > 0 {
                        written += count
                        if written == input.count { closeInput() }
                    } else if count < 0, errno != EAGAIN, errno != EINTR {
                        // EPIPE: it stopped reading; the rest of the input is not wanted.
                        closeInput()
                    }
                } else if !read(descriptor.fd) {
                    if descriptor.fd == stdoutFD { stdoutFD = nil } else { stderrFD = nil }
                }
            }
        }
        closeInput()
        // Its pipes are closed; it may still be running (it closed them itself).
        while true {
            if let termination = child.wait(timeout: .milliseconds(50)) { return output(termination) }
            if cancelled?.isSet == true {
                return output(child.terminate() ?? .signalled(SIGKILL))
            }
            if let end, ContinuousClock.now >= end {
                child.terminate()
                throw child.timedOut(deadline, outputTail: tail())
            }
        }
    }
}

/// The last `limit` bytes of a stream: bounded capture.
struct Capture {
    let limit: Int
    private(set) var storage: [UInt8] = []
    private(set) var dropped = false

    init(limit: Int) { self.limit = max(0, limit) }

    mutating func append(_ chunk: ArraySlice<UInt8>) {
        storage.append(contentsOf: chunk)
        let excess = storage.count - limit
        // Trimmed in batches, so a long stream costs amortised O(1) per byte.
        if excess > 0, excess >= max(limit / 2, 1 << 16) {
            storage.removeFirst(excess)
            dropped = true
        }
    }

    var bytes: [UInt8] {
        guard storage.count > limit else { return storage }
        return Array(storage.suffix(limit))
    }

    var isTruncated: Bool { dropped || storage.count > limit }
}

/// Set once by a cancellation handler, read by the pump; behind a `Mutex`.
final class CancelFlag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}
