import FabTestSupport
import Foundation

/// Starts OpenSSH client processes the way a shell would (posix_spawn, no shell in between),
/// so their timings include exactly what a user pays: exec, dynamic linking, config, crypto.
///
/// stdin and stdout are /dev/null; stderr is appended to a log file, whose tail is shown when a
/// process fails. Foundation's `Process` is not used: it stalls while a child that daemonises
/// (the ControlPersist master) keeps descriptors open.
struct ClientProcess {
    let pid: pid_t
    let display: String

    /// Starts `executable` with `arguments`, stderr appended to `log`, in this process's environment
    /// or `environment`.
    /// - Throws: ``BenchFailure`` when posix_spawn fails.
    static func start(_ executable: String, _ arguments: [String], log: String,
                      environment: [String: String]? = nil) throws -> ClientProcess {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, log, O_WRONLY | O_APPEND | O_CREAT, 0o600)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let envp: [UnsafeMutablePointer<CChar>?]? = environment.map { $0.map { strdup("\($0.key)=\($0.value)") } + [nil] }
        defer { envp?.forEach { free($0) } }
        let rc = envp.map { posix_spawn(&pid, executable, &actions, nil, argv, $0) } ?? posix_spawn(&pid, executable, &actions, nil, argv, environ)
        let display = ([executable] + arguments).joined(separator: " ")
        guard rc == 0 else { throw BenchFailure("could not start \(display): \(String(cString: strerror(rc))).") }
        return ClientProcess(pid: pid, display: display)
    }

    /// Waits for the process and throws when it did not exit with status 0.
    func wait(log: String) throws {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw BenchFailure("waiting for \(display) failed: \(String(cString: strerror(errno))).") }
        }
        // WIFEXITED / WEXITSTATUS are macros Swift cannot import.
        let exited = status & 0x7f == 0
        let code = (status >> 8) & 0xff
        guard exited && code == 0 else {
            let tail = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
                .split(separator: "\n").suffix(5).joined(separator: "\n")
            throw BenchFailure("\(display) failed (\(exited ? "exit status \(code)" : "signal \(status & 0x7f)")); its stderr ends:\n\(tail)")
        }
    }

    /// Runs a command to completion and returns how long it took, in seconds.
    @discardableResult
    static func timed(_ executable: String, _ arguments: [String], log: String,
                      environment: [String: String]? = nil) throws -> Double {
        let start = Clock.now()
        try ClientProcess.start(executable, arguments, log: log, environment: environment).wait(log: log)
        return Clock.now() - start
    }
}

/// A monotonic clock in seconds.
enum Clock {
    static func now() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// A benchmark that could not run, with what went wrong.
struct BenchFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Runs a local shell command and returns its stdout (for checksums and set-up, never timed).
@discardableResult
func shell(_ command: String) throws -> String {
    try TestShell.shell(command).checked().stdout
}
