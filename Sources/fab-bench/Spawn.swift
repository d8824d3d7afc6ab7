import FabProcess
import FabTestSupport
import Foundation

/// Starts OpenSSH client processes the way a shell would (posix_spawn, no shell in between),
/// so their timings include exactly what a user pays: exec, dynamic linking, config, crypto.
///
/// stdin and stdout are /dev/null; stderr is appended to a log file, whose tail is shown when a
/// process fails.
struct ClientProcess {
    let child: ChildProcess

    /// How long one client may take; a hung one is stopped and fails the benchmark.
    static let deadline = Deadline.seconds(300)

    /// Starts `executable` with `arguments`, stderr appended to `log`, in this process's environment or
    /// exactly `environment`.
    /// - Throws: ``BenchFailure`` when it cannot be started.
    static func start(_ executable: String, _ arguments: [String], log: String,
                      environment: [String: String]? = nil) throws -> ClientProcess {
        do {
            return ClientProcess(child: try ChildProcess.spawn(executable: executable, arguments: arguments,
                                                               environment: environment.map { .exactly($0) } ?? .inherit,
                                                               standardError: .file(log, append: true)))
        } catch {
            throw BenchFailure("\(error)")
        }
    }

    /// Waits for the process and throws when it did not exit with status 0 within ``deadline``.
    func wait(log: String) throws {
        let termination: Termination
        do {
            termination = try child.wait(deadline: Self.deadline)
        } catch {
            throw BenchFailure("\(error)")
        }
        guard termination.succeeded else {
            let tail = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")
                .split(separator: "\n").suffix(5).joined(separator: "\n")
            throw BenchFailure("\(child.command) failed (\(termination)); its stderr ends:\n\(tail)")
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
