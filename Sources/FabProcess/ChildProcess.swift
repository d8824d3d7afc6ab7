import Foundation
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn` and reaped with `waitpid`: fab's one way to start programs.
///
/// The child gets its own session and so its own process group (a deadline or a cancellation stops
/// whatever it started too), default signal dispositions, an empty signal mask, and no descriptor
/// of this process but 0, 1 and 2 as the redirections say. Having no controlling terminal, a
/// program that would prompt on the terminal (sudo, ssh asking for a passphrase) fails at once
/// with its own message; in a process group of its own but fab's session it would instead be
/// stopped by SIGTTIN or SIGTTOU and wait, unseen, for ever. Long-lived children (a test sshd, an HTTP server) are
/// held as a `ChildProcess` and stopped with ``terminate(grace:)``; commands that run to completion
/// go through ``ProcessRunner``, which also pumps their pipes.
///
/// Foundation's `Process` is not used: on Linux it learns that a child exited when a pipe the child
/// inherited closes, and then blocks its one monitoring thread in `wait4`; sshd and the OpenSSH
/// client close all inherited descriptors at startup, so one running sshd stalls every other
/// `Process` in the program.
///
/// `Sendable`: the pid and the pipe ends are immutable; the reaped status and the set of pipe ends
/// still open are behind a `Mutex`, which also orders group signals before the reap (a group is
/// only signalled while its leader is unreaped, so the pid cannot have been reused).
public final class ChildProcess: Sendable {
    /// Where one of the child's standard streams goes.
    public enum Redirect: Sendable, Equatable {
        /// `/dev/null`.
        case null
        /// This process's own descriptor (its terminal, its log).
        case inherit
        /// A new pipe; this process's end is ``ChildProcess/standardInput`` (write) or
        /// ``ChildProcess/standardOutput`` / ``ChildProcess/standardError`` (read).
        case pipe
        /// A descriptor of this process, duplicated into the child (the caller keeps and closes its own).
        case descriptor(Int32)
        /// A file, opened by the child: for reading (standard input), or for writing (created 0600,
        /// truncated unless `append`).
        case file(String, append: Bool)
        /// Standard error only: the same place as standard output (`2>&1`).
        case standardOutput
    }

    /// The child's process id (also its session and process group id).
    public let pid: pid_t
    /// The command as started, each word shell-quoted: for messages.
    public let command: String
    /// This process's end of the child's standard input when it is a ``Redirect/pipe``.
    public let standardInput: Int32?
    /// This process's end of the child's standard output when it is a ``Redirect/pipe``.
    public let standardOutput: Int32?
    /// This process's end of the child's standard error when it is a ``Redirect/pipe``.
    public let standardError: Int32?

    /// A descriptor that polls readable once the child has exited (`pidfd_open`), or -1 where the
    /// C library has none (waits then poll `waitpid` with a growing pause).
    let exitDescriptor: Int32

    private struct State {
        var termination: Termination?
        var openPipes: Set<Int32>
    }
    private let state: Mutex<State>

    private init(pid: pid_t, command: String, pipes: (Int32?, Int32?, Int32?)) {
        self.pid = pid
        self.command = command
        (standardInput, standardOutput, standardError) = pipes
        // Opened before anything can reap the child, so the pid is still this child's.
        exitDescriptor = SpawnExtensions.pidfdOpen.map { $0(pid, 0) } ?? -1
        state = Mutex(State(termination: nil, openPipes: Set([pipes.0, pipes.1, pipes.2].compactMap { $0 })))
    }

    /// Starts a program.
    ///
    /// - Parameters:
    ///   - executable: an absolute path; a relative path (with a slash) taken from the current
    ///     directory; or a name looked up on this process's `PATH` as `execvp` does.
    ///   - arguments: the arguments after the program name, passed as they are (no shell). Never put
    ///     a secret here: every user of the machine can read it in the process list; use standard input,
    ///     the environment or a 0600 file.
    ///   - environment: the child's whole environment.
    ///   - directory: its working directory (nil: this process's).
    ///   - standardInput: where it reads; ``Redirect/standardOutput`` is not allowed here.
    ///   - standardOutput, standardError: where it writes.
    /// - Returns: the running child; release it only after it was waited for (its deinit kills it).
    /// - Throws: ``ProcessError`` `.notFound` when the program does not exist, `.launchFailed` when it
    ///   cannot be started (not executable, `directory` missing), `.systemCall` when no pipe can be made.
    public static func spawn(executable: String, arguments: [String] = [], environment: Environment = .inherit,
                             directory: String? = nil, standardInput: Redirect = .null,
                             standardOutput: Redirect = .null, standardError: Redirect = .null) throws -> ChildProcess {
        let display = ([executable] + arguments).map(displayQuoted).joined(separator: " ")
        let path = try resolve(executable, command: display)
        if let directory {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw ProcessError(.launchFailed, command: display,
                                   message: "Cannot start \(display) in \(directory): that directory does not exist; create it or run the command elsewhere.")
            }
        }
        guard standardInput != .standardOutput, standardOutput != .standardOutput else {
            throw ProcessError(.launchFailed, command: display,
                               message: "Cannot start \(display): only standard error can go to standard output.")
        }

        // Both ends close-on-exec, so a child spawned at the same moment by another thread never
        // inherits them (it would hold a pipe open and its reader would never see the end).
        var parentEnds: [Int32?] = [nil, nil, nil]
        var childEnds: [Int32] = []
        func closeAll() {
            for fd in parentEnds.compactMap({ $0 }) + childEnds { close(fd) }
        }
        for (index, redirect) in [standardInput, standardOutput, standardError].enumerated() where redirect == .pipe {
            var ends: [Int32] = [-1, -1]
            guard SpawnExtensions.closeOnExecPipe(&ends) else {
                let code = errno
                closeAll()
                throw ProcessError(.systemCall, command: display, message: "Cannot make a pipe for \(display).", errno: code)
            }
            // Index 0 (standard input): the child reads ends[0]; otherwise the child writes ends[1].
            parentEnds[index] = index == 0 ? ends[1] : ends[0]
            childEnds.append(index == 0 ? ends[0] : ends[1])
        }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var childEndIterator = childEnds.makeIterator()
        for (target, redirect) in [(Int32(0), standardInput), (1, standardOutput), (2, standardError)] {
            let readOnly = target == 0
            switch redirect {
            case .null:
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", readOnly ? O_RDONLY : O_WRONLY, 0)
            case .inherit:
                break
            case .pipe:
                if let end = childEndIterator.next() { posix_spawn_file_actions_adddup2(&actions, end, target) }
            case .descriptor(let fd):
                posix_spawn_file_actions_adddup2(&actions, fd, target)
            case .file(let file, let append):
                let flags = readOnly ? O_RDONLY : O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC)
                posix_spawn_file_actions_addopen(&actions, target, file, flags, 0o600)
            case .standardOutput:
                posix_spawn_file_actions_adddup2(&actions, 1, 2)
            }
        }
        closeOtherDescriptors(&actions)
        if let directory {
            guard let addChdir = SpawnExtensions.addChdir else {
                closeAll()
                throw ProcessError(.launchFailed, command: display,
                                   message: "Cannot start \(display) in \(directory): this C library has no posix_spawn_file_actions_addchdir_np (glibc 2.29 or later is needed).")
            }
            _ = addChdir(&actions, directory)
        }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | SpawnExtensions.setSession))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let envp = environment.values.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { envp.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, &attributes, argv, envp)
        for fd in childEnds { close(fd) }
        childEnds = []
        guard result == 0 else {
            closeAll()
            let advice = result == EACCES ? "check that it is an executable file" : "check the program and the machine's process limits"
            throw ProcessError(.launchFailed, command: display, message: "Cannot start \(display); \(advice).", errno: result)
        }
        return ChildProcess(pid: pid, command: display, pipes: (parentEnds[0], parentEnds[1], parentEnds[2]))
    }

    deinit {
        let running = state.withLock { state -> Bool in
            for fd in state.openPipes { close(fd) }
            state.openPipes = []
            guard state.termination == nil else { return false }
            kill(-pid, SIGKILL)
            return true
        }
        if running { _ = wait(timeout: .seconds(10)) }
        if exitDescriptor >= 0 { close(exitDescriptor) }
    }

    // MARK: Waiting

    /// Whether the child is still running (it is not reaped by asking).
    public var isRunning: Bool { !hasExited }

    /// Waits for the child to exit, at most `timeout`, and reaps it.
    /// - Returns: how it ended, or nil if it is still running after `timeout` (it is left running).
    @discardableResult
    public func wait(timeout: Duration) -> Termination? {
        let deadline = ContinuousClock.now + timeout
        var pause: UInt32 = 200
        while true {
            if let termination = reap() { return termination }
            let now = ContinuousClock.now
            if now >= deadline { return nil }
            if exitDescriptor >= 0 {
                var descriptor = pollfd(fd: exitDescriptor, events: Int16(POLLIN), revents: 0)
                _ = poll(&descriptor, 1, Self.milliseconds(until: deadline, from: now, atMost: 1000))
            } else {
                usleep(pause)
                pause = min(pause * 2, 20_000)
            }
        }
    }

    /// Whole milliseconds from `now` to `deadline` (at least 1 while it is ahead), capped at `atMost`.
    static func milliseconds(until deadline: ContinuousClock.Instant, from now: ContinuousClock.Instant, atMost: Int) -> Int32 {
        let remaining = (deadline - now).components
        let milliseconds = Int(remaining.seconds) * 1000 + Int((remaining.attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
        return Int32(max(0, min(atMost, milliseconds)))
    }

    /// Waits for the child to exit within `deadline`; past it, stops it and its process group
    /// (``terminate(grace:)``) and throws.
    /// - Throws: ``ProcessError`` `.timedOut` naming the command and the deadline.
    @discardableResult
    public func wait(deadline: Deadline) throws -> Termination {
        guard let limit = deadline.limit else {
            while true {
                if let termination = wait(timeout: .seconds(3600)) { return termination }
            }
        }
        if let termination = wait(timeout: limit) { return termination }
        terminate()
        throw timedOut(deadline, outputTail: nil)
    }

    /// The error for a run past `deadline`.
    func timedOut(_ deadline: Deadline, outputTail: String?) -> ProcessError {
        ProcessError(.timedOut, command: command,
                     message: "\(command) was still running after \(deadline), its time limit, and was stopped with every process it started (SIGTERM, then SIGKILL).",
                     outputTail: outputTail)
    }

    /// How the child ended if it has exited, reaping it; nil while it runs.
    private func reap() -> Termination? {
        state.withLock { state in
            if let termination = state.termination { return termination }
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            if result == pid {
                state.termination = Termination(waitStatus: status)
            } else if result < 0, errno == ECHILD {
                // Someone else reaped it; its status is lost.
                state.termination = .exited(255)
            }
            return state.termination
        }
    }

    /// Whether the child has exited, without reaping it (so its pid, and its group id, stay reserved).
    var hasExited: Bool {
        state.withLock { state in
            if state.termination != nil { return true }
            var info = siginfo_t()
            let result = waitid(P_PID, id_t(pid), &info, WEXITED | WNOHANG | WNOWAIT)
            return result != 0 || info.si_signo == SIGCHLD
        }
    }

    // MARK: Signals

    /// Sends `signal` to the child only (not to what it started); nothing once it has been reaped.
    public func signal(_ signal: Int32) {
        state.withLock { state in
            if state.termination == nil { _ = kill(pid, signal) }
        }
    }

    /// Sends `signal` to the child's whole process group; nothing once the child has been reaped
    /// (its pid may then belong to another process).
    public func signalGroup(_ signal: Int32) {
        state.withLock { state in
            if state.termination == nil { _ = kill(-pid, signal) }
        }
    }

    /// Stops the child and its process group: SIGTERM, up to `grace` for the child to exit, then
    /// SIGKILL to whatever of the group is left, and reaps the child.
    /// - Returns: how the child ended (already ended: how it did), or nil if it was not gone 10 s after SIGKILL.
    @discardableResult
    public func terminate(grace: Duration = .seconds(2)) -> Termination? {
        if let termination = state.withLock({ $0.termination }) { return termination }
        signalGroup(SIGTERM)
        let deadline = ContinuousClock.now + grace
        while !hasExited, ContinuousClock.now < deadline { usleep(5_000) }
        // Also after the child went: a descendant that ignores SIGTERM must not outlive it.
        signalGroup(SIGKILL)
        return wait(timeout: .seconds(10))
    }

    // MARK: Pipes

    /// Closes this process's end of one of the child's pipes (idempotent; deinit closes the rest).
    public func closePipe(_ fd: Int32) {
        state.withLock { state in
            if state.openPipes.remove(fd) != nil { close(fd) }
        }
    }

    // MARK: Finding programs

    /// The executable `name` would run: a path with a slash as it is (made absolute), a bare name
    /// searched in the directories of `searchPath` (colon-separated, as `PATH`), skipping
    /// directories and files that are not executable, as `execvp` does.
    /// - Returns: an absolute path, or nil when there is no such executable file.
    public static func locate(_ name: String, searchPath: String) -> String? {
        if name.isEmpty { return nil }
        if name.contains("/") {
            let path = name.hasPrefix("/") ? name : FileManager.default.currentDirectoryPath + "/" + name
            return isExecutableFile(path) ? path : nil
        }
        for directory in searchPath.split(separator: ":", omittingEmptySubsequences: false) {
            // An empty entry means the current directory, as in execvp.
            let base = directory.isEmpty ? FileManager.default.currentDirectoryPath : String(directory)
            let candidate = base.hasSuffix("/") ? base + name : base + "/" + name
            if isExecutableFile(candidate) { return candidate.hasPrefix("/") ? candidate : FileManager.default.currentDirectoryPath + "/" + candidate }
        }
        return nil
    }

    /// This process's `PATH`, or execvp's default when it has none.
    public static var searchPath: String {
        ProcessInfo.processInfo.environment["PATH"] ?? "/bin:/usr/bin"
    }

    private static func isExecutableFile(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFREG && access(path, X_OK) == 0
    }

    private static func resolve(_ executable: String, command: String) throws -> String {
        if let path = locate(executable, searchPath: searchPath) { return path }
        if executable.contains("/") {
            throw ProcessError(.notFound, command: command,
                               message: "Cannot run \(executable): there is no executable file at that path; install the program or correct the path.")
        }
        throw ProcessError(.notFound, command: command,
                           message: "Cannot run \(executable): no directory on PATH (\(searchPath)) holds a program of that name; install it or give its full path.")
    }

    /// Adds "close every descriptor from 3 up" to `actions`: glibc's `addclosefrom_np` (2.34+), or
    /// one close per descriptor open now.
    private static func closeOtherDescriptors(_ actions: inout posix_spawn_file_actions_t) {
        if let addCloseFrom = SpawnExtensions.addCloseFrom {
            _ = addCloseFrom(&actions, 3)
            return
        }
        let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        for fd in open.compactMap({ Int32($0) }) where fd > 2 {
            posix_spawn_file_actions_addclose(&actions, fd)
        }
    }

    /// A word quoted for a POSIX shell when it needs it (for messages only; nothing runs through a shell here).
    static func displayQuoted(_ word: String) -> String {
        if !word.isEmpty, word.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "@%+=:,./_-".contains($0)) }) {
            return word
        }
        return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}

/// glibc's posix_spawn extensions that Swift's Glibc module hides, looked up at run time.
enum SpawnExtensions {
    /// `POSIX_SPAWN_SETSID` (glibc 2.26+): the child calls `setsid`, leading a new session and process group.
    static let setSession: Int32 = 0x80

    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32
    typealias AddChdir = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, UnsafePointer<CChar>?) -> Int32

    /// `posix_spawn_file_actions_addclosefrom_np` (glibc 2.34+).
    static let addCloseFrom: AddCloseFrom? = symbol("posix_spawn_file_actions_addclosefrom_np")
    typealias PidfdOpen = @convention(c) (pid_t, UInt32) -> Int32
    /// `pidfd_open` (glibc 2.36+, Linux 5.3+): a descriptor that polls readable when the process exits.
    static let pidfdOpen: PidfdOpen? = symbol("pidfd_open")

    typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>?, Int32) -> Int32
    /// `pipe2` (hidden too).
    static let pipe2: Pipe2? = symbol("pipe2")

    /// Makes a pipe whose ends are close-on-exec: atomically with `pipe2`, else with `fcntl` (then
    /// only every spawn's closing of other descriptors keeps a concurrent child from inheriting it).
    static func closeOnExecPipe(_ ends: inout [Int32]) -> Bool {
        if let pipe2 { return ends.withUnsafeMutableBufferPointer { pipe2($0.baseAddress, O_CLOEXEC) } == 0 }
        guard pipe(&ends) == 0 else { return false }
        for fd in ends { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        return true
    }

    /// `posix_spawn_file_actions_addchdir_np` (glibc 2.29+).
    static let addChdir: AddChdir? = symbol("posix_spawn_file_actions_addchdir_np")

    private static func symbol<T>(_ name: String) -> T? {
        guard let address = dlsym(UnsafeMutableRawPointer(bitPattern: 0), name) else { return nil }
        return unsafeBitCast(address, to: T.self)
    }
}

/// How long a wait may take, counted from when it starts; ``unlimited`` is an explicit choice.
public struct Deadline: Sendable, Equatable, CustomStringConvertible {
    /// The limit, or nil for none.
    public let limit: Duration?

    /// At most `duration`.
    public static func after(_ duration: Duration) -> Deadline { Deadline(limit: duration) }
    /// At most `seconds` seconds (a negative value counts as 0; more than 30 years, or not finite, as no limit).
    public static func seconds(_ seconds: Double) -> Deadline {
        guard seconds.isFinite, seconds < 1e9 else { return .unlimited }
        return Deadline(limit: .milliseconds(Int64((max(0, seconds) * 1000).rounded())))
    }
    /// No limit: only for a child something else stops (a user's Ctrl-C, a test's teardown). Say why at the call.
    public static let unlimited = Deadline(limit: nil)

    /// `30 s`, `0.5 s` or `no limit`.
    public var description: String {
        guard let limit else { return "no limit" }
        let parts = limit.components
        let seconds = Double(parts.seconds) + Double(parts.attoseconds) / 1e18
        return seconds == seconds.rounded() ? "\(Int(seconds)) s" : "\(seconds) s"
    }

    /// The instant this deadline falls on when counted from `start`, or nil for none.
    func instant(from start: ContinuousClock.Instant) -> ContinuousClock.Instant? {
        limit.map { start + $0 }
    }
}

/// A child's whole environment: ``inherit`` this process's, ``exactly(_:)`` the given one, or either
/// ``updating(_:)`` some variables.
public struct Environment: Sendable, Equatable {
    /// Every variable the child gets.
    public var values: [String: String]

    /// Exactly these variables and no others.
    public static func exactly(_ values: [String: String]) -> Environment { Environment(values: values) }
    /// This process's environment as it is now.
    public static var inherit: Environment { Environment(values: ProcessInfo.processInfo.environment) }

    /// These variables with `changes` set.
    public func updating(_ changes: [String: String]) -> Environment {
        var copy = self
        copy.values.merge(changes) { $1 }
        return copy
    }
}
