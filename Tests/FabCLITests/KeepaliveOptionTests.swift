import ArgumentParser
import FabSSH
import Testing
@testable import FabCLI

@Suite("--keepalive")
struct KeepaliveOptionTests {
    @Test("SECONDS and SECONDS:COUNT reach the resolver's overrides; 0 turns keepalives off", arguments: [
        ("20", 20, nil), ("5:2", 5, 2), ("0", 0, nil),
    ] as [(String, Int, Int?)])
    func parses(_ text: String, interval: Int, count: Int?) throws {
        let command = try #require(try FabCommand.parseAsRoot(["--keepalive", text, "task"]) as? FabCommand)
        #expect(command.runOptions.keepalive == KeepaliveSetting(interval: interval, count: count))
        let overrides = HostTaskExecutor.overrides(command.runOptions)
        #expect(overrides.serverAliveInterval == interval)
        #expect(overrides.serverAliveCountMax == count)
        let target = try TargetResolver(config: .empty, localUser: "u", homeDirectory: "/home/u").resolve("h", overrides: overrides)
        #expect(target.serverAliveInterval == interval)
        #expect(target.serverAliveCountMax == count ?? SSHTarget.defaultServerAliveCountMax)
    }

    @Test("without the flag, ssh_config or fab's default (15 s, 3) decides")
    func absent() throws {
        let command = try #require(try FabCommand.parseAsRoot(["task"]) as? FabCommand)
        #expect(command.runOptions.keepalive == nil)
        let target = try TargetResolver(config: .empty, localUser: "u", homeDirectory: "/home/u")
            .resolve("h", overrides: HostTaskExecutor.overrides(command.runOptions))
        #expect(target.serverAliveInterval == 15 && target.serverAliveCountMax == 3)
    }

    @Test("malformed values are usage errors", arguments: ["-1", "x", "5:", "5:0", ":3", "5:3:1", "1.5"])
    func rejects(_ text: String) {
        do {
            _ = try FabCommand.parseAsRoot(["--keepalive", text, "task"])
            Issue.record("--keepalive \(text) parsed")
        } catch {
            #expect(FabCommand.exitCode(for: error).rawValue == ExitStatus.usage)
            #expect(FabCommand.fullMessage(for: error).contains("keepalive"), "\(FabCommand.fullMessage(for: error))")
        }
    }
}
