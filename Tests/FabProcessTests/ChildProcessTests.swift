import FabProcess
import Foundation
import Testing

@Suite("ChildProcess and ProcessRunner")
struct ChildProcessTests {
    @Test("exit statuses and signals are reported as data")
    func statusAndSignal() throws {
        let exited = try ProcessRunner.run(executable: "/bin/sh", arguments: ["-c", "exit 3"], deadline: .seconds(10))
        #expect(exited.termination == .exited(3))
        #expect(exited.termination.status == 3)
        #expect(!exited.termination.succeeded)
        let killed = try ProcessRunner.run(executable: "/bin/sh", arguments: ["-c", "kill -TERM $$"], deadline: .seconds(10))
        #expect(killed.termination == .signalled(SIGTERM))
        #expect(killed.termination.status == 128 + SIGTERM)
        #expect(killed.termination.signalName == "TERM")
        let fine = try ProcessRunner.run(executable: "true", deadline: .seconds(10))
        #expect(fine.termination.succeeded)
    }

    @Test("10 MB on standard output and standard error at once, read without deadlock")
    func largeOutputOnBothStreams() throws {
        let size = 10 << 20
        let started = ContinuousClock.now
        let output = try ProcessRunner.run(
            executable: "/bin/sh",
            arguments: ["-c", "head -c \(size) /dev/zero | tr '\\0' o & head -c \(size) /dev/zero | tr '\\0' e >&2; wait"],
            captureLimit: 16 << 20, deadline: .seconds(60))
        #expect(output.termination.succeeded)
        #expect(output.standardOutput.count == size)
        #expect(output.standardError.count == size)
        #expect(output.standardOutput.allSatisfy { $0 == UInt8(ascii: "o") })
        #expect(output.standardError.allSatisfy { $0 == UInt8(ascii: "e") })
        #expect(!output.truncated)
        #expect(ContinuousClock.now - started < .seconds(30))
    }

    @Test("the capture keeps the last bytes up to its limit and says it dropped some")
    func boundedCapture() throws {
        let output = try ProcessRunner.run(executable: "/bin/sh", arguments: ["-c", "seq 1 200000"],
                                           captureLimit: 1000, deadline: .seconds(30))
        #expect(output.truncated)
        #expect(output.standardOutput.count == 1000)
        #expect(output.stdout.hasSuffix("199999\n200000\n"))
    }

    @Test("1 MB on standard input, echoed back while it is written")
    func largeInput() throws {
        let input = (0..<(1 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 9) }
        let output = try ProcessRunner.run(executable: "cat", input: input, captureLimit: 2 << 20, deadline: .seconds(30))
        #expect(output.termination.succeeded)
        #expect(output.standardOutput == input)
    }

    @Test("a program that stops reading its input early gets EPIPE, and this process survives")
    func inputNotRead() throws {
        let input = [UInt8](repeating: 120, count: 4 << 20)
        let output = try ProcessRunner.run(executable: "/bin/sh", arguments: ["-c", "head -c 10 >/dev/null; echo done"],
                                           input: input, deadline: .seconds(30))
        #expect(output.termination.succeeded)
        #expect(output.stdout == "done\n")
    }

    @Test("a deadline stops the whole process group and names what timed out")
    func deadlineKillsGroup() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let pids = directory + "/pids"
        let started = ContinuousClock.now
        let error = try #require(throws: ProcessError.self) {
            try ProcessRunner.run(executable: "/bin/sh",
                                  arguments: ["-c", "sleep 100 & echo $! >\(pids); sleep 100 & echo $! >>\(pids); echo started; wait"],
                                  deadline: .seconds(1))
        }
        #expect(error.code == .timedOut)
        #expect(error.description.contains("sleep 100"), "\(error)")
        #expect(error.description.contains("1 s"), "\(error)")
        #expect(error.outputTail == "started")
        #expect(ContinuousClock.now - started < .seconds(8))
        let sleepers = try String(contentsOfFile: pids, encoding: .utf8).split(separator: "\n").compactMap { pid_t($0) }
        #expect(sleepers.count == 2)
        for pid in sleepers { #expect(!isAlive(pid), "sleep \(pid) outlived the deadline") }
    }

    @Test("wait(deadline:) on a spawned child stops its group too")
    func waitDeadline() throws {
        let child = try ChildProcess.spawn(executable: "/bin/sh", arguments: ["-c", "sleep 100 & sleep 100"])
        #expect(child.isRunning)
        #expect(throws: ProcessError.self) { try child.wait(deadline: .seconds(0.3)) }
        #expect(!child.isRunning)
    }

    @Test("cancelling the task stops the program and its group")
    func cancellation() async throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let pids = directory + "/pids"
        let task = Task {
            try await ProcessRunner.run(executable: "/bin/sh", arguments: ["-c", "sleep 100 & echo $! >\(pids); wait"],
                                        deadline: .seconds(60))
        }
        for _ in 0..<200 where ((try? String(contentsOfFile: pids, encoding: .utf8)) ?? "").isEmpty {
            try await Task.sleep(for: .milliseconds(10))
        }
        let started = ContinuousClock.now
        task.cancel()
        let output = try await task.value
        #expect(output.cancelled)
        #expect(output.termination == .signalled(SIGTERM))
        #expect(ContinuousClock.now - started < .seconds(5))
        let sleeper = try #require(pid_t(try String(contentsOfFile: pids, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(!isAlive(sleeper))
    }

    @Test("the child inherits no descriptor of this process but 0, 1 and 2")
    func noInheritedDescriptors() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // Opened without O_CLOEXEC, so only the spawn's own closing keeps it from the child.
        let fd = open(directory + "/held", O_RDWR | O_CREAT, 0o600)
        try #require(fd > 2)
        defer { close(fd) }
        let child = try ChildProcess.spawn(executable: "sleep", arguments: ["30"], standardOutput: .pipe)
        defer { child.terminate() }
        // sleep briefly holds descriptors of its own while it starts (the locale archive): look until
        // only 0, 1 and 2 remain, for up to 5 s. An inherited descriptor never goes away.
        var descriptors: [Int] = []
        for _ in 0..<250 {
            descriptors = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(child.pid)/fd").compactMap { Int($0) }.sorted()
            if descriptors == [0, 1, 2] { break }
            usleep(20_000)
        }
        #expect(descriptors == [0, 1, 2])
        let held = descriptors.compactMap { try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(child.pid)/fd/\($0)") }
        #expect(!held.contains(directory + "/held"), "the child holds the parent's file: \(held)")
        #expect(getpgid(child.pid) == child.pid, "the child leads its own process group")
        #expect(getsid(child.pid) == child.pid, "the child leads its own session, without a controlling terminal")
        #expect(getsid(child.pid) != getsid(0))
    }

    @Test("the environment is exactly the one given")
    func exactEnvironment() throws {
        let output = try ProcessRunner.run(executable: "env", environment: .exactly(["A": "1", "B": "two words", "C": ""]),
                                           deadline: .seconds(10))
        #expect(output.stdout.split(separator: "\n").sorted() == ["A=1", "B=two words", "C="])
        let updated = try ProcessRunner.run(executable: "/bin/sh", arguments: ["-c", "echo \"$FAB_X:$HOME\""],
                                            environment: .inherit.updating(["FAB_X": "y"]), deadline: .seconds(10))
        #expect(updated.stdout == "y:\(ProcessInfo.processInfo.environment["HOME"] ?? "")\n")
    }

    @Test("the working directory is the one given; a missing one is named")
    func workingDirectory() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let output = try ProcessRunner.run(executable: "pwd", directory: directory, deadline: .seconds(10))
        #expect(output.stdout == directory + "\n")
        let error = try #require(throws: ProcessError.self) {
            try ProcessRunner.run(executable: "pwd", directory: directory + "/missing", deadline: .seconds(10))
        }
        #expect(error.code == .launchFailed)
        #expect(error.description.contains(directory + "/missing"))
    }

    @Test("a missing executable gives an error naming it")
    func missingExecutable() throws {
        let byName = try #require(throws: ProcessError.self) {
            try ProcessRunner.run(executable: "fab-no-such-program", deadline: .seconds(10))
        }
        #expect(byName.code == .notFound)
        #expect(byName.description.contains("fab-no-such-program"))
        #expect(byName.description.contains("PATH"))
        let byPath = try #require(throws: ProcessError.self) {
            try ChildProcess.spawn(executable: "/nonexistent/fab-tool")
        }
        #expect(byPath.code == .notFound)
        #expect(byPath.description.contains("/nonexistent/fab-tool"))
    }

    @Test("names are looked up on PATH like execvp: directories and non-executables are skipped")
    func lookup() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory + "/a/tool", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory + "/b", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: directory + "/c", withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: directory + "/b/tool", contents: Data("#!/bin/sh\n".utf8), attributes: [.posixPermissions: 0o644]))
        #expect(FileManager.default.createFile(atPath: directory + "/c/tool", contents: Data("#!/bin/sh\n".utf8), attributes: [.posixPermissions: 0o755]))
        let path = ["a", "b", "c"].map { directory + "/" + $0 }.joined(separator: ":")
        #expect(ChildProcess.locate("tool", searchPath: path) == directory + "/c/tool")
        #expect(ChildProcess.locate("tool", searchPath: directory + "/a") == nil)
        #expect(ChildProcess.locate("/bin/sh", searchPath: "") == "/bin/sh")
    }

    @Test("the run ends when the program exits, though a background child still holds its output")
    func backgroundHolder() throws {
        let started = ContinuousClock.now
        let output = try ProcessRunner.run(executable: "/bin/sh", arguments: ["-c", "echo before; (sleep 5; echo late) & echo after"],
                                           deadline: .seconds(30))
        #expect(output.termination.succeeded)
        #expect(output.stdout == "before\nafter\n")
        #expect(ContinuousClock.now - started < .seconds(3))
    }

    @Test("output arrives in pieces as it is written, on both streams")
    func streaming() throws {
        let seen = Seen()
        let output = try ProcessRunner.run(executable: "/bin/sh", arguments: ["-c", "echo one; echo two >&2; echo three"],
                                           deadline: .seconds(10)) { stream, chunk in
            seen.add(stream, chunk)
        }
        #expect(seen.text(.standardOutput) == "one\nthree\n")
        #expect(seen.text(.standardError) == "two\n")
        #expect(output.stdout == "one\nthree\n")
        let merged = try ProcessRunner.run(executable: "/bin/sh", arguments: ["-c", "echo one; echo two >&2; echo three"],
                                           standardError: .mergeIntoOutput, deadline: .seconds(10))
        #expect(merged.stdout == "one\ntwo\nthree\n")
        #expect(merged.standardError.isEmpty)
    }

    // MARK: Helpers

    private func temporaryDirectory() throws -> String {
        let path = "/tmp/fabprocess-\(UUID().uuidString.prefix(8).lowercased())"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Whether `pid` is a live process: `kill -0` succeeds and it is not a zombie waiting for init to reap it.
    private func isAlive(_ pid: pid_t) -> Bool {
        for _ in 0..<50 {
            guard kill(pid, 0) == 0 else { return false }
            let stat = (try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8)) ?? ""
            if let close = stat.lastIndex(of: ")"), stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z") {
                return false
            }
            usleep(20_000)
        }
        return true
    }
}

/// Output pieces collected from the pump thread; behind a lock.
private final class Seen: @unchecked Sendable {
    private let lock = NSLock()
    private var pieces: [(ProcessRunner.Stream, [UInt8])] = []
    func add(_ stream: ProcessRunner.Stream, _ chunk: ArraySlice<UInt8>) { lock.withLock { pieces.append((stream, Array(chunk))) } }
    func text(_ stream: ProcessRunner.Stream) -> String {
        lock.withLock { String(decoding: pieces.filter { $0.0 == stream }.flatMap(\.1), as: UTF8.self) }
    }
}
