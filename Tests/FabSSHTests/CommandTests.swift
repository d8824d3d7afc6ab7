import FabSSH
import FabTestSupport
import Foundation
import Testing

/// Running commands over a real sshd: statuses, signals, streams, stdin, timeouts, many sessions.
@Suite("Remote commands", .serialized)
struct CommandTests {
    let server: SSHServer
    init() throws { server = try SSHServer() }

    @Test("exit statuses come back as data", arguments: [0, 1, 3, 42, 255])
    func exitStatus(status: Int32) async throws {
        let session = try await SSHSession.connect(to: server.target())
        let result = try await session.execute("exit \(status)")
        #expect(result.exitStatus == status)
        #expect(result.exitSignal == nil)
        #expect(result.succeeded == (status == 0))
    }

    @Test("a command killed by a signal reports the signal")
    func signal() async throws {
        let session = try await SSHSession.connect(to: server.target())
        let result = try await session.execute("kill -TERM $$")
        #expect(result.exitSignal == "TERM")
        #expect(!result.succeeded)
    }

    @Test("stdout and stderr stay apart, in captures and in streamed lines, over one session")
    func streams() async throws {
        let session = try await SSHSession.connect(to: server.target())
        let lines = LineCollector()
        let result = try await session.execute("echo out1; echo err1 >&2; printf 'out2'; echo err2 >&2",
                                               onLine: { stream, line in lines.add(stream, line) })
        #expect(result.stdout == "out1\nout2")
        #expect(result.stderr == "err1\nerr2\n")
        #expect(lines.lines(.stdout) == ["out1", "out2"])
        #expect(lines.lines(.stderr) == ["err1", "err2"])
        // Many commands on the same session, no reconnect.
        for index in 0..<20 {
            #expect(try await session.execute("echo \(index)").stdout == "\(index)\n")
        }
    }

    @Test("lines stream as they arrive, before the command ends")
    func streamingIsLive() async throws {
        let session = try await SSHSession.connect(to: server.target())
        let firstLineAt = TimeBox()
        let started = Date()
        _ = try await session.execute("echo first; sleep 1.5; echo second") { _, line in
            if line == "first" { firstLineAt.set(Date().timeIntervalSince(started)) }
        }
        let seen = try #require(firstLineAt.value)
        #expect(seen < 1.0)
    }

    @Test("large output is captured up to the limit, keeping the tail, and counted whole")
    func largeOutput() async throws {
        let session = try await SSHSession.connect(to: server.target())
        let result = try await session.execute("seq 1 2000000", options: ExecOptions(captureLimit: 1 << 20))
        #expect(result.stdoutByteCount == 14_888_896)
        #expect(result.isTruncated)
        #expect(result.stdout.hasSuffix("1999999\n2000000\n"))
        #expect(result.stdout.utf8.count <= 1 << 20)
    }

    @Test("stdin is delivered and closed; the secret never appears in the command line")
    func standardInput() async throws {
        let session = try await SSHSession.connect(to: server.target())
        let secret = "s3cr3t; $(rm -rf /) `x` 'q'"
        let result = try await session.execute("cat | sha256sum", options: ExecOptions(stdin: Array((secret + "\n").utf8)))
        let expected = try sh("printf '%s\\n' \(ShellQuoting.quote(secret)) | sha256sum")
        #expect(result.stdout == expected)
        let big = [UInt8](repeating: 65, count: 5 << 20)
        #expect(try await session.execute("wc -c", options: ExecOptions(stdin: big)).stdout == "5242880\n")
    }

    @Test("environment variables accepted by the server arrive; refused ones are an error naming AcceptEnv")
    func environment() async throws {
        let session = try await SSHSession.connect(to: server.target())
        let result = try await session.execute("echo \"$FAB_GREETING\"", options: ExecOptions(environment: ["FAB_GREETING": "hello world"]))
        #expect(result.stdout == "hello world\n")
        let error = await #expect(throws: SSHError.self) {
            _ = try await session.execute("true", options: ExecOptions(environment: ["NOT_ACCEPTED": "x"]))
        }
        #expect(error?.message.contains("AcceptEnv") == true)
        #expect(try await session.execute("echo still usable").succeeded)
    }

    @Test("a PTY merges output and reports a terminal")
    func pty() async throws {
        let session = try await SSHSession.connect(to: server.target())
        let result = try await session.execute("test -t 0 && echo tty; echo err >&2", options: ExecOptions(pty: true))
        #expect(result.stdout.contains("tty"))
        #expect(result.stdout.contains("err"))
    }

    @Test("a per-command timeout stops waiting and the session stays usable")
    func timeout() async throws {
        let session = try await SSHSession.connect(to: server.target())
        let started = Date()
        let error = await #expect(throws: SSHError.self) {
            _ = try await session.execute("sleep 30.25; echo late", options: ExecOptions(timeout: 1))
        }
        #expect(error?.code == .timeout)
        #expect(Date().timeIntervalSince(started) < 5)
        #expect(try await session.execute("echo ok").stdout == "ok\n")
        // The remote command was killed, not just abandoned.
        #expect(try await session.execute("pgrep -f 'sleep 30[.]25'").exitStatus == 1)
    }

    @Test("a timed-out command's whole process group is stopped, whether the login shell is bash or dash",
          arguments: ["/bin/bash", "/bin/sh"])
    func timeoutStopsTheGroup(shell: String) async throws {
        // dash refuses `kill -TERM -- -PGID`: with it as the login shell only the group's leader
        // was stopped, and a child it started outlived the timeout.
        let user = try TestUser.named(shell == "/bin/bash" ? "fabtest" : "fabtestdash", shell: shell)
        let server = try SSHServer(user: user)
        let session = try await SSHSession.connect(to: server.target())
        #expect(try await session.execute("readlink -f /proc/$$/exe; :").stdout.hasPrefix(shell == "/bin/bash" ? "/usr/bin/bash" : "/usr/bin/dash"))
        await #expect(throws: SSHError.self) {
            _ = try await session.execute("sleep 30.75 & sleep 30.5; echo late", options: ExecOptions(timeout: 1))
        }
        var left: Int32 = 0
        for _ in 0..<20 {
            left = try await session.execute("pgrep -u \(user.name) -f 'sleep 30[.][57]5'").exitStatus
            if left == 1 { break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(left == 1, "a process of the timed-out command is still running")
    }

    @Test("cancelling the task interrupts the command")
    func cancellation() async throws {
        let session = try await SSHSession.connect(to: server.target())
        let task = Task { try await session.execute("sleep 30.5; echo late") }
        try await Task.sleep(for: .milliseconds(300))
        task.cancel()
        let started = Date()
        let error = await #expect(throws: SSHError.self) { _ = try await task.value }
        #expect(error?.code == .cancelled)
        #expect(Date().timeIntervalSince(started) < 3)
        #expect(try await session.execute("pgrep -f 'sleep 30[.]5'").exitStatus == 1)
        // Output that starts like the pid marker is still delivered whole.
        #expect(try await session.execute("printf 'x\\n' >&2").stderr == "x\n")
    }

    @Test("50 sessions at once, and one slow host does not hold up the others")
    func manySessions() async throws {
        let started = Date()
        let outputs = try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<50 {
                group.addTask {
                    let session = try await SSHSession.connect(to: server.target())
                    let result = try await session.execute(index == 0 ? "sleep 3; echo slow" : "echo \(index)")
                    await session.close()
                    return result.stdout
                }
            }
            var outputs: [String] = []
            for try await output in group { outputs.append(output) }
            return outputs
        }
        #expect(outputs.count == 50)
        #expect(outputs.last == "slow\n")
        #expect(Date().timeIntervalSince(started) < 20)
    }
}

/// Keepalives and dead peers.
@Suite("Keepalive and dead peers", .serialized)
struct KeepaliveTests {
    @Test("an idle session survives a server that drops silent clients")
    func idleSurvives() async throws {
        var options = SSHServer.Options()
        options.extraConfig = ["ClientAliveInterval 1", "ClientAliveCountMax 1"]
        let server = try SSHServer(options: options)
        var target = server.target()
        target.serverAliveInterval = 1
        let session = try await SSHSession.connect(to: target)
        try await Task.sleep(for: .seconds(4))
        #expect(try await session.execute("echo alive").stdout == "alive\n")
    }

    @Test("a server killed mid-command is reported at once, not a hang")
    func killedServer() async throws {
        let server = try SSHServer()
        let session = try await SSHSession.connect(to: server.target())
        let task = Task { try await session.execute("sleep 60") }
        try await Task.sleep(for: .milliseconds(500))
        server.stop()
        let started = Date()
        let error = await #expect(throws: SSHError.self) { _ = try await task.value }
        #expect(error?.code == .connectionLost)
        #expect(Date().timeIntervalSince(started) < 5)
    }
}

/// Collects streamed lines from the session queue.
final class LineCollector: @unchecked Sendable {
    // Written from the session's queue, read by the test after the command finished.
    private let lock = NSLock()
    private var collected: [(StandardStream, String)] = []
    func add(_ stream: StandardStream, _ line: String) { lock.withLock { collected.append((stream, line)) } }
    func lines(_ stream: StandardStream) -> [String] { lock.withLock { collected.filter { $0.0 == stream }.map(\.1) } }
}

/// A value set once from another thread.
final class TimeBox: @unchecked Sendable {
    // Set from the session's queue, read after the command finished.
    private let lock = NSLock()
    private var stored: Double?
    func set(_ value: Double) { lock.withLock { if stored == nil { stored = value } } }
    var value: Double? { lock.withLock { stored } }
}
