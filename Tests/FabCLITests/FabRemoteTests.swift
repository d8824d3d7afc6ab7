import FabProcess
import FabTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The `fab` binary driving real sshd hosts named through an ssh_config file.
@Suite("fab on real hosts", .serialized)
struct FabRemoteTests {
    /// Three sshd hosts and an ssh_config naming them h1, h2, h3.
    static func hosts(in fab: FabProcess) throws -> ([SSHServer], String) {
        let servers = try (1...3).map { _ in try SSHServer() }
        let config = fab.directory.appendingPathComponent("ssh_config").path
        let text = servers.enumerated().map { $0.element.sshConfigBlock(alias: "h\($0.offset + 1)") }.joined()
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        return (servers, config)
    }

    @Test("-P on three hosts with one failing: every host reports, the summary names the failure, exit status 1")
    func parallelWithFailingHost() throws {
        let fab = try FabProcess(fixture: "remote")
        defer { fab.remove() }
        let (servers, config) = try Self.hosts(in: fab)
        for host in ["h1", "h2", "h3"] { try? FileManager.default.removeItem(atPath: "/tmp/fab-remote-\(host)") }
        let output = try fab.run(["-F", config, "-H", "h1,h2,h3", "-P", "deploy:failOn=h2"])
        #expect(output.status == 1, "\(output.stderr)")
        for host in ["h1", "h2", "h3"] {
            #expect(output.stdout.contains("[\(host)] out: deploying on"), "\(output.stdout)")
        }
        #expect(output.stdout.contains("deploy on h2: FAILED"))
        #expect(output.stdout.contains("deploy on h1: ok"))
        #expect(output.stderr.contains("exited with status 9"))
        #expect(output.stderr.contains("giving up"))
        #expect(FileManager.default.fileExists(atPath: "/tmp/fab-remote-h1"))
        #expect(!FileManager.default.fileExists(atPath: "/tmp/fab-remote-h2"))
        _ = servers
    }

    @Test("--dry-run prints each host's commands and changes nothing")
    func dryRun() throws {
        let fab = try FabProcess(fixture: "remote")
        defer { fab.remove() }
        let (servers, config) = try Self.hosts(in: fab)
        try? FileManager.default.removeItem(atPath: "/tmp/fab-remote-h3")
        let output = try fab.run(["-F", config, "-H", "h3", "--dry-run", "deploy"])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.stdout.contains("[h3] run: touch /tmp/fab-remote-h3"))
        #expect(!FileManager.default.fileExists(atPath: "/tmp/fab-remote-h3"))
        _ = servers
    }

    @Test("--hide stdout keeps remote output off the screen but still shows what ran")
    func hideOutput() throws {
        let fab = try FabProcess(fixture: "remote")
        defer { fab.remove() }
        let (servers, config) = try Self.hosts(in: fab)
        let output = try fab.run(["-F", config, "-H", "h1", "--hide", "stdout", "deploy"])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.stdout.contains("[h1] run: echo deploying"))
        #expect(!output.stdout.contains("out: deploying"))
        _ = servers
    }

    @Test("Ctrl-C stops a running remote command, closes its channel and exits 130")
    func interrupt() throws {
        let fab = try FabProcess(fixture: "remote")
        defer { fab.remove() }
        let (servers, config) = try Self.hosts(in: fab)
        // Compile first, so the interrupt lands while the remote command runs.
        #expect(try fab.run(["-l"]).status == 0)
        let log = fab.directory.appendingPathComponent("interrupt.log").path
        let binary = try #require(FabProcess.binary)
        let process = try ChildProcess.spawn(executable: "/bin/sh", arguments: ["-c",
            "cd \(TestShell.quote(fab.directory.path)) && exec \(TestShell.quote(binary)) -F \(TestShell.quote(config)) -H h1 slow >\(TestShell.quote(log)) 2>&1"],
            environment: .inherit.updating(["XDG_CACHE_HOME": fab.cacheHome.path]))
        var started = false
        for _ in 0..<100 where !started {
            usleep(100_000)
            started = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("out: started")
        }
        #expect(started)
        let interruptedAt = Date()
        process.signal(SIGINT)
        let status = process.wait(timeout: .seconds(10))
        #expect(status?.status == 130)
        #expect(Date().timeIntervalSince(interruptedAt) < 3)
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        #expect(text.contains("interrupted"))
        #expect(!text.contains("out: finished"))
        // The remote command's process group was killed, not left to finish its sleep.
        usleep(300_000)
        #expect(try TestShell.run("/usr/bin/pgrep", ["-f", "sleep 3[0]; echo finished"]).status == 1)
        _ = servers
    }

    @Test("the example fabfile in Fabfiles/example compiles and lists its tasks")
    func exampleFabfile() throws {
        let fab = try FabProcess(fixture: "remote")
        defer { fab.remove() }
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../Fabfiles/example/fabfile.swift").standardized.path
        let output = try fab.run(["-f", example, "-l"])
        #expect(output.status == 0, "\(output.stderr)")
        for task in ["uptime", "deploy", "logs", "flushCaches"] { #expect(output.stdout.contains(task)) }
    }

    @Test("an unknown host key stops fab before any command, saying how to accept it")
    func strictHostKeys() throws {
        let fab = try FabProcess(fixture: "remote")
        defer { fab.remove() }
        let server = try SSHServer()
        let config = fab.directory.appendingPathComponent("ssh_config").path
        let empty = fab.directory.appendingPathComponent("known_hosts").path
        _ = FileManager.default.createFile(atPath: empty, contents: nil)
        try server.sshConfigBlock(alias: "h9").replacingOccurrences(of: server.knownHostsPath, with: empty)
            .write(toFile: config, atomically: true, encoding: .utf8)
        let refused = try fab.run(["-F", config, "-H", "h9", "deploy"])
        #expect(refused.status == 1)
        #expect(refused.stderr.contains("not in \(empty)"))
        #expect(!refused.stdout.contains("out: deploying"))
        let accepted = try fab.run(["-F", config, "-H", "h9", "--known-hosts-policy", "accept-new", "deploy"])
        #expect(accepted.status == 0, "\(accepted.stderr)")
        #expect(try String(contentsOfFile: empty, encoding: .utf8).contains("ssh-ed25519"))
        // insecure connects, but says on every run that it did not check the key.
        try FileManager.default.removeItem(atPath: empty)
        let insecure = try fab.run(["-F", config, "-H", "h9", "--known-hosts-policy", "insecure", "--keepalive", "5:2", "deploy"])
        #expect(insecure.status == 0, "\(insecure.stderr)")
        #expect(insecure.stdout.contains("[h9] warning: the host key of"), "\(insecure.stdout)")
        #expect(insecure.stdout.contains("host-key policy is insecure"))
        #expect(!FileManager.default.fileExists(atPath: empty))
    }
}
