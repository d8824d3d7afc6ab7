import Foundation

/// A background program started with posix_spawn, stopped with a signal and reaped by its owner.
///
/// Foundation's `Process` must not start daemons such as sshd: they close the descriptor
/// Foundation watches, Foundation then blocks waiting for them, and every other `Process`
/// in the test run stops being reaped.
public final class SpawnedProcess: @unchecked Sendable {
    // `exited` is only touched by stop/isRunning, which the owning test calls serially.
    public let pid: pid_t
    private var exited = false

    /// Starts `executable` with `arguments`, stdin/stdout/stderr on /dev/null.
    /// - Throws: ``TestSupportError`` when posix_spawn fails.
    public init(_ executable: String, _ arguments: [String]) throws {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd in 0...2 {
            posix_spawn_file_actions_addopen(&actions, Int32(fd), "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0)
        }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, nil, argv, environ)
        guard rc == 0 else { throw TestSupportError("could not start \(executable): \(String(cString: strerror(rc)))") }
        self.pid = pid
    }

    deinit { stop() }

    /// Whether the program is still running.
    public var isRunning: Bool {
        if exited { return false }
        var status: Int32 = 0
        let rc = waitpid(pid, &status, WNOHANG)
        if rc == pid || (rc < 0 && errno == ECHILD) { exited = true }
        return !exited
    }

    /// Sends `signal` (SIGKILL by default) and waits for the program to exit.
    public func stop(signal: Int32 = SIGKILL) {
        guard !exited else { return }
        kill(pid, signal)
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        exited = true
    }
}
