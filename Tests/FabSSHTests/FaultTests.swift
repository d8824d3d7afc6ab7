import FabSSH
import FabTestSupport
import Foundation
import Synchronization
import Testing

/// An ssh_config that reaches `server` as `alias`, with extra lines in its block.
private func resolverFor(_ server: SSHServer, alias: String, extra: [String]) throws -> TargetResolver {
    let text = server.sshConfigBlock(alias: alias) + extra.map { "    \($0)\n" }.joined()
    let path = server.directory.path + "/ssh_config_\(alias)"
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    return TargetResolver(config: try SSHConfig.load(path: path, homeDirectory: server.directory.path),
                          localUser: "tester", homeDirectory: server.directory.path)
}

/// Opens a TCP connection to `server` that never speaks SSH (an unauthenticated startup for sshd).
private func silentConnection(to server: SSHServer) throws -> Int32 {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(server.port).bigEndian)
    inet_pton(AF_INET, server.address, &address.sin_addr)
    let rc = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    try #require(fd >= 0 && rc == 0)
    return fd
}

/// Faults a real sshd can show: a failed SFTP request, a server that stops answering, a throttled listener.
@Suite("Faults: deadlines, keepalive, MaxStartups", .serialized)
struct FaultTests {
    @Test("after a put to a 40,000-byte path fails, the next transfers on the same session complete")
    func sftpFailureThenTransfer() async throws {
        let server = try SSHServer()
        let local = try TemporaryDirectory.make(prefix: "fab-fault")
        defer { try? FileManager.default.removeItem(at: local) }
        let file = local.path + "/small.txt"
        try "hello\n".write(toFile: file, atomically: true, encoding: .utf8)
        let session = try await SSHSession.connect(to: server.target())
        let longPath = "/tmp/" + String(repeating: "d", count: 40_000)
        let started = Date()
        let error = await #expect(throws: SSHError.self) { try await session.put(file, to: longPath) }
        #expect(error?.code == .sftp)
        #expect(error?.message.contains("PATH_MAX") == true, "\(String(describing: error))")
        #expect((error?.description.utf8.count ?? 0) < 1000, "the error must not print the whole path")
        let remote = "/tmp/fab-fault-\(UUID().uuidString.prefix(8)).txt"
        try await session.put(file, to: remote)
        #expect(try await session.stat(remote)?.size == 6)
        try await session.get(remote, to: local.path + "/back.txt")
        #expect(try String(contentsOfFile: local.path + "/back.txt", encoding: .utf8) == "hello\n")
        #expect(Date().timeIntervalSince(started) < 10)
        _ = try await session.execute("rm -f \(remote)")
    }

    @Test("keepalive is on by default (15 s, 3 misses), and ssh_config and --keepalive override it")
    func keepaliveDefaults() throws {
        #expect(SSHTarget.defaultServerAliveInterval == 15)
        #expect(SSHTarget.defaultServerAliveCountMax == 3)
        let plain = SSHTarget(alias: "h", user: "u")
        #expect(plain.serverAliveInterval == 15 && plain.serverAliveCountMax == 3)
        let resolver = TargetResolver(config: try SSHConfig.parse("Host tuned\n  ServerAliveInterval 4\n  ServerAliveCountMax 7\nHost off\n  ServerAliveInterval 0\n",
                                                                  path: "cfg", homeDirectory: "/home/t"),
                                      localUser: "t", homeDirectory: "/home/t")
        let defaulted = try resolver.resolve("other")
        #expect(defaulted.serverAliveInterval == 15 && defaulted.serverAliveCountMax == 3)
        let tuned = try resolver.resolve("tuned")
        #expect(tuned.serverAliveInterval == 4 && tuned.serverAliveCountMax == 7)
        #expect(try resolver.resolve("off").serverAliveInterval == 0)
        let flagged = try resolver.resolve("tuned", overrides: .init(serverAliveInterval: 9, serverAliveCountMax: 2))
        #expect(flagged.serverAliveInterval == 9 && flagged.serverAliveCountMax == 2)
        #expect(throws: SSHError.self) { try resolver.resolve("tuned", overrides: .init(serverAliveInterval: -1)) }
    }

    @Test("a server whose sshd is stopped mid-command is reported within the keepalive window")
    func stoppedMidCommand() async throws {
        let server = try SSHServer()
        let target = try resolverFor(server, alias: "stopped", extra: ["ServerAliveInterval 1", "ServerAliveCountMax 2"]).resolve("stopped")
        #expect(target.serverAliveInterval == 1 && target.serverAliveCountMax == 2)
        let session = try await SSHSession.connect(to: target)
        let task = Task { try await session.execute("sleep 60") }
        try await Task.sleep(for: .milliseconds(500))
        server.signalSessions(SIGSTOP)
        defer { server.signalSessions(SIGCONT) }
        let started = Date()
        let error = await #expect(throws: SSHError.self) { _ = try await task.value }
        let elapsed = Date().timeIntervalSince(started)
        #expect(error?.code == .connectionLost)
        #expect(error?.message.contains("stopped answering") == true, "\(String(describing: error))")
        // Silence counts from the last bytes received (up to 0.5 s before the stop), so the report comes 1.5 to 2 s after it.
        #expect(elapsed > 1 && elapsed < 6, "reported after \(elapsed) s")
    }

    @Test("a server whose sshd is stopped mid-transfer is reported within the keepalive window")
    func stoppedMidTransfer() async throws {
        let server = try SSHServer()
        let target = try resolverFor(server, alias: "stopped", extra: ["ServerAliveInterval 1", "ServerAliveCountMax 2"]).resolve("stopped")
        let local = try TemporaryDirectory.make(prefix: "fab-fault")
        defer { try? FileManager.default.removeItem(at: local) }
        try sh("head -c 100000000 /dev/zero > \(local.path)/big.bin")
        let session = try await SSHSession.connect(to: target)
        let stopped = Mutex(false)
        let started = Mutex<Date?>(nil)
        let error = await #expect(throws: SSHError.self) {
            try await session.put(local.path + "/big.bin", to: "/tmp/fab-stopped-\(UUID().uuidString.prefix(8))",
                                  streams: .fixed(1), progress: { progress in
                guard progress.bytesDone > 8 << 20, !stopped.withLock({ $0 }) else { return }
                stopped.withLock { $0 = true }
                server.signalSessions(SIGSTOP)
                started.withLock { $0 = Date() }
            })
        }
        defer { server.signalSessions(SIGCONT) }
        let elapsed = try #require(started.withLock { $0 }).distance(to: Date())
        #expect(error?.code == .connectionLost)
        #expect(error?.message.contains("stopped answering") == true, "\(String(describing: error))")
        #expect(elapsed < 6, "reported after \(elapsed) s")
    }

    @Test("a server that drops new connections (MaxStartups) is retried, then named as refusing new connections")
    func maxStartups() async throws {
        let server = try SSHServer()
        // sshd takes the first value of a keyword: replace the helper's MaxStartups and have sshd re-read it.
        let config = server.directory.path + "/sshd_config"
        let text = try String(contentsOfFile: config, encoding: .utf8)
        try text.replacingOccurrences(of: "MaxStartups 200:30:400", with: "MaxStartups 1:100:1").write(toFile: config, atomically: true, encoding: .utf8)
        kill(server.pid, SIGHUP)
        try await Task.sleep(for: .milliseconds(500))
        let held = try silentConnection(to: server)
        try await Task.sleep(for: .milliseconds(200))
        let started = Date()
        let error = await #expect(throws: SSHError.self) { _ = try await SSHSession.connect(to: server.target()) }
        let elapsed = Date().timeIntervalSince(started)
        #expect(error?.code == .throttled, "\(String(describing: error))")
        #expect(error?.message.contains("MaxStartups") == true)
        #expect(error?.message.contains("check that sshd is running") == false)
        #expect(elapsed > 1.5 && elapsed < 5, "gave up after \(elapsed) s")
        #expect(server.log.components(separatedBy: "drop connection").count - 1 >= 3, "three attempts: \(server.log)")
        close(held)
        try await Task.sleep(for: .milliseconds(200))
        let session = try await SSHSession.connect(to: server.target())
        #expect(try await session.execute("echo back").stdout == "back\n")
    }
}

@Suite("Messages name the files in use")
struct FilesInUseTests {
    @Test("a name that does not resolve is sent to the ssh_config file actually read (-F), not ~/.ssh/config")
    func unresolvableNamesConfig() async throws {
        let directory = try TemporaryDirectory.make(prefix: "fab-files").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let file = directory + "/custom_config"
        try "Host app\n  HostName app.does-not-exist.invalid\n".write(toFile: file, atomically: true, encoding: .utf8)
        let target = try TargetResolver(config: try SSHConfig.load(path: file, homeDirectory: directory),
                                        localUser: "tester", homeDirectory: directory).resolve("app")
        #expect(target.configFiles == [file])
        let error = await #expect(throws: SSHError.self) { _ = try await SSHSession.connect(to: target) }
        #expect(error?.code == .resolve)
        #expect(error?.message.contains(file) == true, "\(String(describing: error))")
        #expect(error?.message.contains("~/.ssh") == false)
    }
}
