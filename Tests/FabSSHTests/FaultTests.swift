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

extension FaultTests {
    @Test("a remote path longer than PATH_MAX is refused before anything is sent, for single and parallel puts", arguments: [1, 2])
    func longPathRefusedFirst(streams: Int) async throws {
        let server = try SSHServer()
        let local = try TemporaryDirectory.make(prefix: "fab-fault")
        defer { try? FileManager.default.removeItem(at: local) }
        try sh("head -c 1000000 /dev/zero > \(local.path)/file.bin")
        let session = try await SSHSession.connect(to: server.target())
        let directory = "/tmp/fab-long-\(UUID().uuidString.prefix(8))"
        #expect(try await session.execute("mkdir \(directory)").succeeded)
        let error = await #expect(throws: SSHError.self) {
            try await session.put(local.path + "/file.bin", to: directory + "/" + String(repeating: "x", count: 4_100),
                                  streams: .fixed(streams))
        }
        #expect(error?.message.contains("PATH_MAX") == true, "\(String(describing: error))")
        #expect(try await session.execute("ls -A \(directory)").stdout == "", "nothing may be left in the directory")
        _ = try await session.execute("rm -rf \(directory)")
    }
}

/// Descendants of `pid` whose command name is `name`, from /proc.
private func descendants(of pid: Int32, named name: String) -> [Int32] {
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
    var parents: [Int32: Int32] = [:], names: [Int32: String] = [:]
    for entry in entries {
        guard let candidate = Int32(entry), let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
              let open = stat.firstIndex(of: "("), let close = stat.lastIndex(of: ")") else { continue }
        names[candidate] = String(stat[stat.index(after: open)..<close])
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        if fields.count > 1, let parent = Int32(fields[1]) { parents[candidate] = parent }
    }
    return names.filter { $0.value == name }.keys.filter { process in
        var current = process
        while let parent = parents[current], parent > 1 {
            if parent == pid { return true }
            current = parent
        }
        return false
    }
}

extension FaultTests {
    @Test("an upload abandoned half-way through an SFTP packet leaves the session's SFTP usable: the next requests answer at once")
    func abandonedMidPacket() async throws {
        let server = try SSHServer()
        // An external sftp-server, so it can be stopped while sshd keeps answering keepalives; sshd re-reads its config on SIGHUP.
        let config = server.directory.path + "/sshd_config"
        try String(contentsOfFile: config, encoding: .utf8)
            .replacingOccurrences(of: "Subsystem sftp internal-sftp", with: "Subsystem sftp /usr/lib/openssh/sftp-server")
            .write(toFile: config, atomically: true, encoding: .utf8)
        kill(server.pid, SIGHUP)
        try await Task.sleep(for: .milliseconds(500))
        let local = try TemporaryDirectory.make(prefix: "fab-fault")
        defer { try? FileManager.default.removeItem(at: local) }
        try sh("head -c 134217728 /dev/zero > \(local.path)/big.bin && echo small > \(local.path)/small.txt")
        let session = try await SSHSession.connect(to: server.target())
        let directory = "/tmp/fab-abandon-\(UUID().uuidString.prefix(8))"
        #expect(try await session.execute("mkdir \(directory)").succeeded)

        // Stop the sftp-server mid-upload: the channel window fills and libssh2 waits with a packet half sent.
        let stopped = Mutex<[Int32]>([])
        let task = Task {
            try await session.put(local.path + "/big.bin", to: directory + "/big.bin", streams: .fixed(1), progress: { progress in
                guard progress.bytesDone > 8 << 20, stopped.withLock({ $0.isEmpty }) else { return }
                let pids = descendants(of: server.pid, named: "sftp-server")
                for pid in pids { kill(pid, SIGSTOP) }
                stopped.withLock { $0 = pids }
            })
        }
        try await Task.sleep(for: .seconds(2))
        #expect(stopped.withLock { $0.count } == 1, "the sftp-server was found and stopped")
        task.cancel()
        DispatchQueue.global().asyncAfter(deadline: .now() + 1) { for pid in stopped.withLock({ $0 }) { kill(pid, SIGCONT) } }
        let error = await #expect(throws: SSHError.self) { try await task.value }
        #expect(error?.code == .cancelled, "\(String(describing: error))")

        let started = Date()
        try await session.put(local.path + "/small.txt", to: directory + "/small.txt")
        #expect(try await session.stat(directory + "/small.txt")?.size == 6)
        #expect(try await session.list(directory).map(\.name) == ["small.txt"], "the abandoned upload's temporary was removed")
        #expect(Date().timeIntervalSince(started) < 8, "the next requests took \(Date().timeIntervalSince(started)) s")
        _ = try await session.execute("rm -rf \(directory)")
    }
}
