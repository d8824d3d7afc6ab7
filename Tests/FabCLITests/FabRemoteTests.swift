import FabTestSupport
import Foundation
import Testing

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
    }
}
