#if os(Linux)
import FabProcess
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
/// Commands go through FabProcess's ``ProcessRunner``: their own process group, no inherited
/// descriptors, both streams read at once (a large output cannot deadlock), and a deadline that
/// stops the whole group. The run ends when the command exits, so one that leaves a daemon behind
/// holding its stdout does not hang the caller. Calls block the calling thread until the command
/// exits: from async code, prefer calling them off the cooperative pool for long commands.
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
    ///   - timeout: how long to wait before killing it and its process group (SIGTERM, then SIGKILL after 2 s).
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
        let output: ProcessRunner.Output
        do {
            output = try ProcessRunner.run(executable: path, arguments: arguments,
                                           environment: environment.map(Environment.exactly) ?? .inherit,
                                           input: input.map { Array($0.utf8) }, captureLimit: outputLimit,
                                           deadline: .after(timeout))
        } catch let error as ProcessError where error.code == .timedOut {
            throw TestEnvironmentError(.timedOut, "The command ran longer than \(timeout) and was killed with its process group; look at its output below for where it hung.",
                                       command: display, outputTail: error.outputTail)
        } catch {
            throw TestEnvironmentError(.launchFailed, "Could not start \(path): \(error).", command: display)
        }
        return Result(command: display, status: output.termination.status, stdout: output.stdout, stderr: output.stderr)
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
        ChildProcess.locate(name, searchPath: ChildProcess.searchPath + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
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
#endif
