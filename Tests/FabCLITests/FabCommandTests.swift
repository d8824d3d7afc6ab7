import ArgumentParser
import Testing
@testable import FabCLI

@Suite("Global options")
struct FabCommandTests {
    func parse(_ arguments: [String]) throws -> FabCommand {
        let command = try FabCommand.parseAsRoot(arguments)
        return try #require(command as? FabCommand)
    }

    @Test("every option lands in RunOptions")
    func allOptions() throws {
        let command = try parse([
            "-H", "web1,deploy@web2:2222", "-H", "[::1]:22,web1", "-R", "web,db", "-u", "deploy",
            "-i", "~/.ssh/a", "--identity", "b", "--no-use-agent", "--known-hosts-policy", "accept-new",
            "-g", "jump@bastion:2200", "-F", "ssh_config", "-P", "-z", "5", "--dry-run", "-w",
            "--answer", "sudo password=s3cret", "--answer", "Continue?=yes",
            "--hide", "running,stdout", "--show", "debug",
            "deploy:main", "--fast", "push",
        ])
        let options = command.runOptions
        var expected = RunOptions()
        expected.hosts = ["web1", "deploy@web2:2222", "[::1]:22"]
        expected.roles = ["web", "db"]
        expected.user = "deploy"
        expected.identityFiles = ["~/.ssh/a", "b"]
        expected.useAgent = false
        expected.knownHostsPolicy = .acceptNew
        expected.gateway = "jump@bastion:2200"
        expected.sshConfigFile = "ssh_config"
        expected.parallel = true
        expected.poolSize = 5
        expected.dryRun = true
        expected.warnOnly = true
        expected.answers = ["sudo password": "s3cret", "Continue?": "yes"]
        expected.shownOutput = OutputLevel.shownByDefault.subtracting([.running, .stdout]).union([.debug])
        #expect(options == expected)
        #expect(command.tasks == ["deploy:main", "--fast", "push"])
    }

    @Test("defaults")
    func defaults() throws {
        let command = try parse(["deploy"])
        #expect(command.runOptions == RunOptions())
        #expect(command.runOptions.useAgent == nil)
        #expect(command.runOptions.knownHostsPolicy == nil)
        #expect(!command.runOptions.shownOutput.contains(.debug))
        #expect(try parse(["--use-agent"]).runOptions.useAgent == true)
    }

    @Test("fabfile options")
    func fabfileOptions() throws {
        let command = try parse(["-f", "deploy/fabfile.swift", "-d", "deploy", "--rebuild"])
        #expect(command.fabfileOptions.fabfile == "deploy/fabfile.swift")
        #expect(command.fabfileOptions.display == "deploy")
        #expect(command.fabfileOptions.rebuild)
        #expect(try parse(["-l"]).fabfileOptions.list)
    }

    @Test("--hide then --show, with groups")
    func outputGroups() throws {
        let shown = try parse(["--hide", "everything", "--show", "stderr"]).runOptions.shownOutput
        #expect(shown == [.stderr])
        let commands = try parse(["--hide", "commands"]).runOptions.shownOutput
        #expect(!commands.contains(.running) && !commands.contains(.stdout) && commands.contains(.stderr))
    }

    @Test("invalid option values are errors that say what is wrong", arguments: [
        (["-z", "0"], "--pool-size must be at least 1"),
        (["-H", "web1,,web2"], "a host name is empty"),
        (["-H", "@web1"], "the user name before @ is empty"),
        (["-H", "web1:http"], "the port 'http' is not a number"),
        (["-H", "[::1"], "is not closed"),
        (["-g", "bastion:0"], "--gateway bastion:0: the port '0'"),
        (["--answer", "novalue"], "--answer takes KEY=VALUE"),
        (["--answer", "a=1", "--answer", "a=2"], "gives 'a' twice"),
        (["--hide", "stdout,bogus"], "--hide does not know 'bogus'"),
        (["--known-hosts-policy", "yolo"], "yolo"),
    ])
    func invalid(_ testCase: ([String], String)) {
        do {
            _ = try FabCommand.parseAsRoot(testCase.0)
            Issue.record("\(testCase.0) parsed")
        } catch {
            let message = FabCommand.fullMessage(for: error)
            #expect(message.contains(testCase.1), "\(message)")
            #expect(FabCommand.exitCode(for: error).rawValue == ExitStatus.usage)
        }
    }

    @Test("every misplaced-option spelling is an option fab knows")
    func spellingsAreReal() throws {
        for spelling in FabCommand.globalOptionSpellings {
            if spelling == "-A" || spelling == "--forward-agent" {
                #expect(throws: (any Error).self, "\(spelling) is refused") { try parse([spelling, "task"]) }
                continue
            }
            let needsValue = !["-l", "--list", "--shortlist", "--rebuild", "--use-agent", "--no-use-agent", "-P", "--parallel",
                               "--dry-run", "-w", "--warn-only", "--version"].contains(spelling)
            if spelling == "--version" { continue }
            let value = spelling == "--known-hosts-policy" ? "strict" : spelling == "--keepalive" ? "15:3"
                : spelling.contains("answer") ? "a=b" : spelling.contains("pool") || spelling == "-z" || spelling.hasSuffix("-fd") ? "2"
                : spelling.contains("hide") || spelling.contains("show") ? "stdout" : "x"
            let command = try parse(needsValue ? [spelling, value, "task"] : [spelling, "task"])
            #expect(command.tasks == ["task"], "\(spelling)")
        }
    }
}
