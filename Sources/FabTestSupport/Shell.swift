#if os(Linux)
import Foundation
import Glibc
import Synchronization

/// The error thrown by the clean-machine, apt-repository and local-command helpers of `FabTestSupport`.
///
/// Its ``description`` is one sentence saying what failed and what to do, followed by the command,
/// its exit status and the last lines of its output when there was a command.
public struct TestEnvironmentError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is; extensible, compare with the static members.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's stable name, such as `commandFailed`.
        public let rawValue: String
        /// Creates a code from its name.
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// A local command could not be started.
        public static let launchFailed = Code("launchFailed")
        /// A local command exited with a non-zero status where success was required.
        public static let commandFailed = Code("commandFailed")
        /// A local command ran longer than its time limit and was killed.
        public static let timedOut = Code("timedOut")
        /// A system call (mount, flock, socket, ...) failed; ``TestEnvironmentError/errno`` holds the reason.
        public static let systemCallFailed = Code("systemCallFailed")
        /// The cached Debian base tree could not be built or is unusable.
        public static let baseImageFailed = Code("baseImageFailed")
        /// A clean machine could not be set up.
        public static let machineStartFailed = Code("machineStartFailed")
        /// A clean machine's sshd did not start accepting SSH connections in time.
        public static let sshdNotReady = Code("sshdNotReady")
        /// The test apt repository or its HTTP server failed.
        public static let repositoryFailed = Code("repositoryFailed")
        /// Tearing down a machine or repository left something behind.
        public static let cleanupFailed = Code("cleanupFailed")
        /// The caller passed a value the helper refuses (a user name, a package name, ...).
        public static let invalidArgument = Code("invalidArgument")
    }

    /// What kind of failure this is.
    public var code: Code
    /// One sentence: what failed and what to do about it.
    public var message: String
    /// The command that failed, shell-quoted, if a command failed.
    public var command: String?
    /// The command's exit status, if it ran to completion.
    public var exitStatus: Int32?
    /// The last lines of the command's output (stderr, then stdout), if any.
    public var outputTail: String?
    /// The `errno` of the failed system call, if a system call failed.
    public var errno: Int32?

    /// Creates an error; prefer the helpers' own throwing functions.
    public init(_ code: Code, _ message: String, command: String? = nil, exitStatus: Int32? = nil,
                outputTail: String? = nil, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.command = command
        self.exitStatus = exitStatus
        self.outputTail = outputTail
        self.errno = errno
    }

    public var description: String {
        var text = message
        if let errno { text += " (\(String(cString: strerror(errno))), errno \(errno))" }
        if let command { text += "\n  command: \(command)" }
        if let exitStatus { text += "\n  exit status: \(exitStatus)" }
        if let outputTail, !outputTail.isEmpty {
            text += "\n  last output:\n" + outputTail.split(separator: "\n", omittingEmptySubsequences: false)
                .map { "    " + $0 }.joined(separator: "\n")
        }
        return text
    }

    /// An error for a failed system call, with the current `errno`.
    static func systemCall(_ what: String) -> TestEnvironmentError {
        TestEnvironmentError(.systemCallFailed, "\(what) failed.", errno: currentErrno())
    }
}

/// Runs local commands for tests, capturing their output: a non-zero exit is data, not an error.
///
/// Output goes to unlinked temporary files rather than pipes, so a command that leaves a daemon
/// behind holding its stdout does not hang the caller, and a large output cannot deadlock.
/// Commands are started with `posix_spawn`, in their own process group, not with Foundation's
/// `Process`, whose Linux implementation stalls every later `Process` while a child that closes its
/// inherited descriptors (sshd, the OpenSSH client) runs. Calls block the calling thread until the command exits: from async
/// code, prefer calling them off the cooperative pool for long commands.
public enum TestShell {
    /// What a finished command did.
    public struct Result: Sendable, CustomStringConvertible {
        /// The command as run, shell-quoted (for messages).
        public var command: String
        /// The exit status; for a command killed by a signal, 128 plus the signal number.
        public var status: Int32
        /// Standard output (at most the last `outputLimit` bytes, decoded as UTF-8).
        public var stdout: String
        /// Standard error (at most the last `outputLimit` bytes, decoded as UTF-8).
        public var stderr: String
        /// Whether the status is 0.
        public var succeeded: Bool { status == 0 }

        /// The last `lines` lines of stderr followed by the last `lines` lines of stdout.
        public func outputTail(lines: Int = 25) -> String {
            func tail(_ text: String) -> String {
                text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
                    .trimmingCharacters(in: .whitespacesAndNewlines)
            }
            return [tail(stderr), tail(stdout)].filter { !$0.isEmpty }.joined(separator: "\n")
        }

        /// Returns `self` if the command succeeded, else throws ``TestEnvironmentError/Code/commandFailed``.
        ///
        /// - Parameter what: what the command was for, as a phrase ("install hello"), used in the message.
        @discardableResult
        public func checked(_ what: String? = nil) throws -> Result {
            guard succeeded else {
                let doing = what.map { "Could not \($0)" } ?? "A command failed"
                throw TestEnvironmentError(.commandFailed, "\(doing): the command exited with status \(status); its output is below.",
                                           command: command, exitStatus: status, outputTail: outputTail())
            }
            return self
        }

        public var description: String { "\(command) -> \(status)" }
    }

    /// Quotes a string for a POSIX shell, so it stays one word whatever it contains.
    public static func quote(_ word: String) -> String {
        if !word.isEmpty, word.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "@%+=:,./_-".contains($0)) }) {
            return word
        }
        return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// Runs `executable` with `arguments` and waits for it.
    ///
    /// - Parameters:
    ///   - executable: an absolute path, or a name looked up in `PATH` and the sbin directories.
    ///   - arguments: the arguments, passed as they are (no shell).
    ///   - environment: the environment; `nil` inherits this process's.
    ///   - input: bytes to feed on standard input; `nil` gives `/dev/null`.
    ///   - timeout: how long to wait before killing it and its process group (SIGTERM, then SIGKILL after 5 s).
    ///   - outputLimit: how many bytes of each stream to keep (the last ones).
    /// - Returns: the status and output, whatever the status.
    /// - Throws: ``TestEnvironmentError`` with `launchFailed` if it cannot be started,
    ///   `timedOut` if it ran past `timeout`.
    public static func run(_ executable: String, _ arguments: [String] = [], environment: [String: String]? = nil,
                           input: String? = nil, timeout: Duration = .seconds(900),
                           outputLimit: Int = 1 << 20) throws -> Result {
        let display = ([executable] + arguments).map(quote).joined(separator: " ")
        guard let path = resolveExecutable(executable) else {
            throw TestEnvironmentError(.launchFailed, "Could not find the program \(executable) in PATH or the sbin directories; install it (apt-get install ...).",
                                       command: display)
        }
        let stdoutFile = try AnonymousFile()
        let stderrFile = try AnonymousFile()
        var inputFile: AnonymousFile?
        if let input {
            let file = try AnonymousFile()
            try file.write(Array(input.utf8))
            inputFile = file
        }
        let child: ChildProcess
        do {
            child = try ChildProcess(executable: path, arguments: arguments, environment: environment,
                                     standardInput: inputFile?.descriptor, standardOutput: stdoutFile.descriptor,
                                     standardError: stderrFile.descriptor)
        } catch {
            throw TestEnvironmentError(.launchFailed, "Could not start \(path): \(error).", command: display)
        }
        var timedOut = false
        var status = child.wait(timeout: timeout)
        if status == nil {
            timedOut = true
            child.signalGroup(SIGTERM)
            status = child.wait(timeout: .seconds(5))
            if status == nil {
                child.signalGroup(SIGKILL)
                status = child.wait(timeout: nil)
            }
        }
        withExtendedLifetime(inputFile) {}
        let result = Result(command: display, status: status ?? 137,
                            stdout: stdoutFile.readTail(limit: outputLimit),
                            stderr: stderrFile.readTail(limit: outputLimit))
        if timedOut {
            throw TestEnvironmentError(.timedOut, "The command ran longer than \(timeout) and was killed; look at its output below for where it hung.",
                                       command: display, outputTail: result.outputTail())
        }
        return result
    }

    /// Runs `command` with `/bin/sh -c` and waits for it; see ``run(_:_:environment:input:timeout:outputLimit:)``.
    public static func shell(_ command: String, environment: [String: String]? = nil, input: String? = nil,
                             timeout: Duration = .seconds(900)) throws -> Result {
        var result = try run("/bin/sh", ["-c", command], environment: environment, input: input, timeout: timeout)
        result.command = command
        return result
    }

    /// Finds a program by name the way a root shell would, including the sbin directories.
    static func resolveExecutable(_ name: String) -> String? {
        if name.contains("/") { return FileManager.default.isExecutableFile(atPath: name) ? name : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let directories = path.split(separator: ":").map(String.init)
            + ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
        for directory in directories where !directory.isEmpty {
            let candidate = directory + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// The minimal environment of a fresh root login, for commands run inside a chroot.
    static let cleanRootEnvironment: [String: String] = [
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/root",
        "USER": "root",
        "LOGNAME": "root",
        "LANG": "C.UTF-8",
        "DEBIAN_FRONTEND": "noninteractive",
    ]
}

/// The calling thread's `errno` (a function, because `errno` is also a property name above).
func currentErrno() -> Int32 { errno }

extension Duration {
    /// This duration in seconds, for Dispatch and Foundation APIs.
    var timeInterval: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}

/// A temporary file with no name: created with `mkstemp`, unlinked at once, close-on-exec, closed on deinit.
final class AnonymousFile {
    let descriptor: Int32

    init() throws {
        var template = Array((NSTemporaryDirectory() + "/fab-test-output-XXXXXX").utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw TestEnvironmentError.systemCall("Creating a temporary file in \(NSTemporaryDirectory())") }
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        descriptor = fd
    }

    deinit { close(descriptor) }

    func write(_ bytes: [UInt8]) throws {
        let written = bytes.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        guard written == bytes.count else { throw TestEnvironmentError.systemCall("Writing a temporary file") }
    }

    /// The last `limit` bytes written to the file, decoded as UTF-8.
    func readTail(limit: Int) -> String {
        var info = stat()
        guard fstat(descriptor, &info) == 0 else { return "" }
        let size = Int(info.st_size)
        let start = max(0, size - limit)
        var bytes = [UInt8](repeating: 0, count: size - start)
        var offset = 0
        while offset < bytes.count {
            let count = bytes.withUnsafeMutableBytes {
                pread(descriptor, $0.baseAddress! + offset, $0.count - offset, off_t(start + offset))
            }
            if count <= 0 { break }
            offset += count
        }
        return String(decoding: bytes[..<offset], as: UTF8.self)
    }
}

/// Small Linux system helpers shared by ``CleanMachine`` and ``AptRepository``: ports, mounts,
/// processes and file locks.
enum LocalSystem {
    /// Whether a TCP listener could bind `address:port` right now.
    static func canBind(address: String, port: Int) -> Bool {
        (try? boundPort(address: address, port: port)) != nil
    }

    /// A TCP port on `address` that nothing listens on now (the kernel's choice).
    static func freePort(on address: String) throws -> Int {
        try boundPort(address: address, port: 0)
    }

    /// Binds a socket to `address:port`, closes it and returns the port it got.
    private static func boundPort(address: String, port: Int) throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestEnvironmentError.systemCall("socket()") }
        defer { close(fd) }
        var reuse: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, socklen_t(MemoryLayout<Int32>.size))
        var socketAddress = try inetAddress(address, port: port)
        let bound = withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw TestEnvironmentError.systemCall("bind(\(address):\(port))") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let named = withUnsafeMutablePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard named == 0 else { throw TestEnvironmentError.systemCall("getsockname()") }
        return Int(UInt16(bigEndian: socketAddress.sin_port))
    }

    private static func inetAddress(_ address: String, port: Int) throws -> sockaddr_in {
        var result = sockaddr_in()
        result.sin_family = sa_family_t(AF_INET)
        result.sin_port = in_port_t(UInt16(port).bigEndian)
        guard inet_pton(AF_INET, address, &result.sin_addr) == 1 else {
            throw TestEnvironmentError(.invalidArgument, "\(address) is not an IPv4 address; give a loopback address such as 127.0.0.2.")
        }
        return result
    }

    /// Connects to `address:port` and returns the first line the server sends, or `nil` if the
    /// connection is refused or nothing arrives within `readTimeout`.
    static func firstLine(address: String, port: Int, readTimeout: Double = 2) -> String? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var timeout = timeval(tv_sec: Int(readTimeout), tv_usec: Int((readTimeout - Double(Int(readTimeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        guard var socketAddress = try? inetAddress(address, port: port) else { return nil }
        let connected = withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return nil }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 256)
        while bytes.count < 1024, !bytes.contains(UInt8(ascii: "\n")) {
            let count = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if count <= 0 { break }
            bytes += buffer[..<count]
        }
        guard let newline = bytes.firstIndex(of: UInt8(ascii: "\n")) else { return nil }
        return String(decoding: bytes[..<newline], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Whether something accepts TCP connections on `address:port`.
    static func accepts(address: String, port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        guard var socketAddress = try? inetAddress(address, port: port) else { return false }
        return withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }

    /// The canonical absolute path of `path` (symbolic links resolved), or `path` if it does not exist.
    static func realPath(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// Mount points at or below `directory`, in the order they were mounted (from /proc/self/mountinfo).
    static func mountPoints(under directory: String) -> [String] {
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return [] }
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        return text.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ")
            guard fields.count > 4 else { return nil }
            let mountPoint = unescapeMountInfo(String(fields[4]))
            return mountPoint == directory || mountPoint.hasPrefix(prefix) ? mountPoint : nil
        }
    }

    /// Decodes mountinfo's octal escapes (`\040` for a space, ...).
    private static func unescapeMountInfo(_ field: String) -> String {
        guard field.contains("\\") else { return field }
        var bytes: [UInt8] = []
        let utf8 = Array(field.utf8)
        var index = 0
        while index < utf8.count {
            if utf8[index] == UInt8(ascii: "\\"), index + 3 < utf8.count,
               let value = UInt8(String(decoding: utf8[(index + 1)...(index + 3)], as: UTF8.self), radix: 8) {
                bytes.append(value)
                index += 4
            } else {
                bytes.append(utf8[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Unmounts everything at or below `directory`, most recent first, detaching lazily whatever is busy.
    /// - Returns: the mount points still present afterwards (empty on success).
    @discardableResult
    static func unmountAll(under directory: String) -> [String] {
        for _ in 0..<3 {
            let mounts = mountPoints(under: directory)
            if mounts.isEmpty { return [] }
            for mountPoint in mounts.reversed() where umount2(mountPoint, 0) != 0 {
                let code = currentErrno()
                if code == EBUSY { _ = umount2(mountPoint, Int32(MNT_DETACH)) }
            }
        }
        return mountPoints(under: directory)
    }

    /// Processes whose root directory (`/proc/PID/root`) is `root` or below it; with
    /// `orMentionedInCommandLine`, also those whose command line contains `root`.
    static func processes(rootedAt root: String, orMentionedInCommandLine: Bool = false) -> [pid_t] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        let prefix = root.hasSuffix("/") ? root : root + "/"
        return entries.compactMap { entry -> pid_t? in
            guard let pid = pid_t(entry), pid != getpid() else { return nil }
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(entry)/root"),
               target == root || target.hasPrefix(prefix) {
                return pid
            }
            if orMentionedInCommandLine, let commandLine = commandLine(of: pid), commandLine.contains(root) {
                return pid
            }
            return nil
        }
    }

    /// Stops every process rooted at or below `root` (and, with `orMentionedInCommandLine`, every
    /// process naming it): SIGTERM, up to `grace` seconds, then SIGKILL.
    /// - Returns: the processes still there afterwards (empty on success; zombies count as gone).
    @discardableResult
    static func killProcesses(rootedAt root: String, orMentionedInCommandLine: Bool = false, grace: Double = 3) -> [pid_t] {
        func find() -> [pid_t] { processes(rootedAt: root, orMentionedInCommandLine: orMentionedInCommandLine) }
        var pids = find()
        if pids.isEmpty { return [] }
        let deadline = Date().addingTimeInterval(grace)
        // Repeated, because a dying parent (debootstrap's shell script) may have started another child.
        while !pids.isEmpty, Date() < deadline {
            for pid in pids { kill(pid, SIGTERM) }
            usleep(20_000)
            pids = find()
        }
        let killDeadline = Date().addingTimeInterval(5)
        while !pids.isEmpty, Date() < killDeadline {
            for pid in pids { kill(pid, SIGKILL) }
            usleep(20_000)
            pids = find()
        }
        return pids
    }

    /// The command line of process `pid`, arguments joined by spaces, or `nil` if it is gone.
    static func commandLine(of pid: pid_t) -> String? {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"), !data.isEmpty else { return nil }
        return String(decoding: data.map { $0 == 0 ? UInt8(ascii: " ") : $0 }, as: UTF8.self)
    }

    /// Waits until `pid` has exited (or is a zombie), at most `timeout` seconds.
    static func waitForExit(_ pid: pid_t, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        repeat {
            guard let status = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8) else { return true }
            // The state is the field after the parenthesised command name.
            if let close = status.lastIndex(of: ")"),
               status[status.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z") { return true }
            usleep(20_000)
        } while Date() < deadline
        return false
    }
}

/// An advisory `flock` on a file, held until ``unlock()`` or deinit; the descriptor is close-on-exec,
/// so child processes (sshd, an HTTP server) never inherit the lock and it dies with this process.
/// `Sendable` because its one piece of state, the descriptor, is behind a `Mutex`.
final class FileLock: Sendable {
    private let descriptor: Mutex<Int32>

    /// Opens (creating) `path` and locks it exclusively.
    /// - Parameter wait: whether to block until the lock is free; if `false`, throws when it is held.
    init(path: String, wait: Bool) throws {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw TestEnvironmentError.systemCall("Opening the lock file \(path)") }
        var result: Int32
        repeat {
            result = flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB))
        } while result != 0 && currentErrno() == EINTR
        guard result == 0 else {
            let error = TestEnvironmentError.systemCall("Locking \(path)")
            close(fd)
            throw error
        }
        descriptor = Mutex(fd)
    }

    /// Locks `path` if nobody holds it; `nil` if someone does.
    static func tryLock(path: String) -> FileLock? { try? FileLock(path: path, wait: false) }

    /// Releases the lock (idempotent).
    func unlock() {
        descriptor.withLock { fd in
            if fd >= 0 { close(fd) }
            fd = -1
        }
    }

    deinit { unlock() }
}

/// A child process started with `posix_spawn` and reaped with `waitpid`.
///
/// Foundation's `Process` is not used: on Linux it learns that a child exited when a socket the child
/// inherited closes, and then blocks its one monitoring thread in `wait4` for that child. sshd and
/// the OpenSSH client close all inherited descriptors at startup, so with `Process` one running
/// sshd or ssh stalls the termination of every other `Process` in the test binary.
///
/// The child gets its own process group (so a timeout can stop its descendants too), default signal
/// dispositions, an empty signal mask, and no descriptors but 0, 1 and 2.
/// `Sendable`: the pid is immutable and the reaped status is behind a `Mutex`.
public final class ChildProcess: Sendable {
    /// The child's process id (also its process group id).
    public let pid: pid_t
    private let reapedStatus = Mutex<Int32?>(nil)

    /// Starts `executable` (an absolute path).
    /// - Parameters:
    ///   - environment: the environment; `nil` inherits this process's.
    ///   - standardInput: a descriptor to read from, or `nil` for /dev/null.
    ///   - standardOutput, standardError: descriptors to write to, or `nil` for /dev/null.
    public init(executable: String, arguments: [String], environment: [String: String]?,
         standardInput: Int32?, standardOutput: Int32?, standardError: Int32?) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for (source, target, flags) in [(standardInput, Int32(0), O_RDONLY), (standardOutput, 1, O_WRONLY), (standardError, 2, O_WRONLY)] {
            if let source {
                posix_spawn_file_actions_adddup2(&actions, source, target)
            } else {
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", flags, 0)
            }
        }
        if let addCloseFrom = Self.addCloseFrom { _ = addCloseFrom(&actions, 3) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let environmentList = environment.map { $0.map { "\($0.key)=\($0.value)" } }
            ?? ProcessInfo.processInfo.environment.map { "\($0.key)=\($0.value)" }
        let envp = environmentList.map { strdup($0) } + [nil]
        defer { envp.forEach { free($0) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard result == 0 else {
            throw TestEnvironmentError(.launchFailed, "posix_spawn of \(executable) failed.", errno: result)
        }
        self.pid = pid
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34+), which Swift's Glibc module hides.
    private typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>?, Int32) -> Int32
    private static let addCloseFrom: AddCloseFrom? = {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: AddCloseFrom.self)
    }()

    /// The exit status if the child has exited (128 + signal if killed), reaping it; `nil` while it runs.
    func poll() -> Int32? {
        reapedStatus.withLock { reaped in
            if let reaped { return reaped }
            var status: Int32 = 0
            let result = waitpid(pid, &status, WNOHANG)
            guard result == pid else {
                if result < 0, currentErrno() == ECHILD { reaped = 255 }
                return reaped
            }
            let signal = status & 0x7f
            reaped = signal == 0 ? (status >> 8) & 0xff : 128 + signal
            return reaped
        }
    }

    /// Starts a background program with stdin, stdout and stderr on /dev/null.
    /// - Throws: ``TestEnvironmentError`` when it cannot be started.
    public convenience init(_ executable: String, _ arguments: [String]) throws {
        try self.init(executable: executable, arguments: arguments, environment: nil,
                      standardInput: nil, standardOutput: nil, standardError: nil)
    }

    deinit { stop() }

    /// Whether the child is still running.
    public var isRunning: Bool { poll() == nil }

    /// Kills the child (SIGKILL) and reaps it; harmless when it has already exited.
    public func stop() {
        signal(SIGKILL)
        _ = wait(timeout: .seconds(10))
    }

    /// Waits for the child to exit, at most `timeout` (`nil`: forever); returns its status or `nil` on timeout.
    public func wait(timeout: Duration?) -> Int32? {
        let deadline = timeout.map { ContinuousClock.now + $0 }
        var pause: UInt32 = 500
        while true {
            if let status = poll() { return status }
            if let deadline, ContinuousClock.now >= deadline { return nil }
            usleep(pause)
            pause = min(pause * 2, 20_000)
        }
    }

    /// Sends `signal` to the child only.
    public func signal(_ signal: Int32) {
        if poll() == nil { kill(pid, signal) }
    }

    /// Sends `signal` to the child's whole process group.
    public func signalGroup(_ signal: Int32) {
        kill(-pid, signal)
    }
}
#endif
