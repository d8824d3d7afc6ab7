import FabCore
import Foundation
import Testing
@testable import FabCLI

/// The command line Fabric users expect (issue 9, item 7): help that starts with usage, --shortlist, -x,
/// --set, per-invocation hosts with Fabric 1's precedence, and -A/ForwardAgent refused with the reason.
@Suite("fab's Fabric-style command-line flags")
struct CommandLineFlagsTests {
    @Test("--help opens with the one-line abstract and USAGE, without the guide's prose, and lists the new options")
    func helpStartsWithUsage() throws {
        let fab = try FabProcess(fixture: "flags")
        defer { fab.remove() }
        for flag in ["--help", "-h"] {
            let output = try fab.run([flag])
            #expect(output.status == 0, "\(output.stderr)")
            let lines = output.stdout.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
            let usage = try #require(lines.firstIndex { $0.hasPrefix("USAGE:") }, "\(output.stdout)")
            #expect(usage <= 2, "\(usage) lines before USAGE:\n\(output.stdout)")
            #expect(lines.prefix(usage).filter { !$0.isEmpty }.count <= 1)
            #expect(!output.stdout.contains("A task is a top-level function"), "the guide's prose is still in --help")
            for option in ["--shortlist", "-x, --exclude-hosts", "--set", "-A, --forward-agent", "hosts=<h1>;<h2>"] {
                #expect(output.stdout.contains(option), "--help does not mention \(option)")
            }
        }
    }

    @Test("--shortlist prints the task names only, one per line")
    func shortlist() throws {
        let fab = try FabProcess(fixture: "flags")
        defer { fab.remove() }
        let output = try fab.run(["--shortlist"])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(output.stdout.hasSuffix("\n"))
        #expect(output.stdout.split(separator: "\n").map(String.init).sorted() == ["anywhere", "pinned", "show"], "\(output.stdout)")
        #expect(fab.logLines.isEmpty)
    }

    @Test("-x removes hosts from every task's final host list, whichever source gave it")
    func excludeHosts() throws {
        let fab = try FabProcess(fixture: "flags")
        defer { fab.remove() }
        let output = try fab.run(["-H", "a,b,c", "-R", "web", "-x", "b,web1", "--exclude-hosts", "db1", "anywhere", "pinned",
                                  "anywhere:hosts=b;d"])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(fab.logLines == ["anywhere a", "anywhere c", "anywhere web2", "pinned own1", "anywhere d"])

        let none = try fab.run(["-x", "own1,db1", "pinned", "anywhere:hosts=z"])
        #expect(none.status == 0, "\(none.stderr)")
        #expect(none.stdout.contains("Skipping task 'pinned': -x excludes every one of its hosts."), "\(none.stdout)")
        #expect(fab.logLines.suffix(1) == ["anywhere z"], "a task whose hosts are all excluded must not run hostless")

        let malformed = try fab.run(["-x", "a,,b", "anywhere"])
        #expect(malformed.status == 64)
        #expect(malformed.stderr.contains("-x"), "\(malformed.stderr)")
    }

    @Test("host lists follow Fabric 1: task:hosts=/roles= > the task's - Hosts:/- Roles: > -H/-R, merged within a source")
    func precedence() throws {
        let fab = try FabProcess(fixture: "flags")
        defer { fab.remove() }
        let output = try fab.run(["-H", "h1", "-R", "db", "anywhere", "pinned", "pinned:hosts=i1;i2,roles=web", "anywhere:role=web",
                                  "anywhere:host=i3"])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(fab.logLines == [
            "anywhere h1", "anywhere db1",                      // -H and -R, merged
            "pinned own1", "pinned db1",                         // its own hosts and roles win over -H/-R
            "pinned i1", "pinned i2", "pinned web1", "pinned web2",  // per-invocation wins over everything
            "anywhere web1", "anywhere web2",
            "anywhere i3",
        ])
        #expect(output.stderr.contains("task 'pinned' runs on its own hosts and roles"), "no note that -H did not apply:\n\(output.stderr)")

        let withoutCommandLine = try fab.run(["anywhere", "pinned"])
        #expect(withoutCommandLine.status == 0, "\(withoutCommandLine.stderr)")
        #expect(fab.logLines.suffix(3) == ["anywhere -", "pinned own1", "pinned db1"])
        #expect(!withoutCommandLine.stderr.contains("runs on its own hosts"))
    }

    @Test("malformed per-invocation hosts and roles stop the run before any task runs")
    func malformedInvocationHosts() throws {
        let fab = try FabProcess(fixture: "flags")
        defer { fab.remove() }
        for (word, message) in [("anywhere:hosts=a;;b", "a host name is empty"), ("anywhere:hosts=@a", "the user name before @ is empty"),
                                ("anywhere:roles=web;", "without empty names")] {
            let output = try fab.run(["anywhere", word])
            #expect(output.status == 64, "\(word)")
            #expect(output.stderr.contains(message), "\(word): \(output.stderr)")
        }
        let unknownRole = try fab.run(["anywhere", "anywhere:roles=cache"])
        #expect(unknownRole.status == 64)
        #expect(unknownRole.stderr.contains("role 'cache' is not defined"), "\(unknownRole.stderr)")
        #expect(fab.logLines.isEmpty)
    }

    @Test("the colon syntax reads hosts=, host=, roles=, role= as the invocation's host list, not as parameters")
    func parsesInvocationHostLists() throws {
        let task = TaskDefinition(name: "deploy", summary: "", help: "",
                                  parameters: [TaskParameter(name: "branch", typeName: "String", defaultValue: "\"main\"")],
                                  body: { _, _ in })
        let parsed = try TaskCommandLine.parse(["deploy:main,hosts=a;user@b:2222,role=web,roles=db;web", "deploy:host=c"], tasks: [task])
        #expect(parsed.invocations == [
            TaskInvocation(taskName: "deploy", values: ["branch": "main"], hosts: ["a", "user@b:2222"], roles: ["web", "db"]),
            TaskInvocation(taskName: "deploy", hosts: ["c"]),
        ])
    }

    @Test("--set gives tasks typed values; keys are checked, values are data")
    func setValues() throws {
        let fab = try FabProcess(fixture: "flags")
        defer { fab.remove() }
        let output = try fab.run(["--set", #"release=2.1\,rc,workers=4"#, "--set", "fast", "show"])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(fab.logLines == ["show release=2.1,rc workers=4 fast=true keys=fast release workers"])

        let hostile = #"$(touch /tmp/fab-set-probe); 'x' "y" `z`=1"#
        try? FileManager.default.removeItem(atPath: "/tmp/fab-set-probe")
        let data = try fab.run(["--set", "release=" + hostile, "show"])
        #expect(data.status == 0, "\(data.stderr)")
        #expect(fab.logLines.last == "show release=\(hostile) workers=1 fast=nil keys=release")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/fab-set-probe"))

        let notInt = try fab.run(["--set", "workers=many", "show"])
        #expect(notInt.status == 1)
        #expect(notInt.stderr.contains("--set workers=many: 'many' is not a valid Int"), "\(notInt.stderr)")

        for (value, message) in [("1x=3", "the key '1x' is not a name"), ("=3", "an empty key is not a name"),
                                 ("a b=1", "the key 'a b' is not a name"), ("a=1,a=2", "gives 'a' twice")] {
            let bad = try fab.run(["--set", value, "show"])
            #expect(bad.status == 64, "--set \(value)")
            #expect(bad.stderr.contains(message), "--set \(value): \(bad.stderr)")
        }
        #expect(fab.logLines.count == 2, "a task ran despite a bad --set")
    }

    @Test("-A is refused with the reason before anything runs")
    func forwardAgentFlag() throws {
        let fab = try FabProcess(fixture: "flags")
        defer { fab.remove() }
        for flag in ["-A", "--forward-agent"] {
            let output = try fab.run([flag, "-H", "h1", "anywhere"])
            #expect(output.status == 64)
            #expect(output.stderr.contains("libssh2 1.10"), "\(output.stderr)")
            #expect(output.stderr.contains("cannot serve"), "\(output.stderr)")
        }
        #expect(fab.logLines.isEmpty)
    }

    @Test("ssh_config's ForwardAgent yes for any host of the run is refused, naming the line, before any task runs")
    func forwardAgentConfig() throws {
        let fab = try FabProcess(fixture: "flags")
        defer { fab.remove() }
        let config = fab.directory.appendingPathComponent("ssh_config").path
        try """
            Host quiet
              ForwardAgent no
            Host own1
              ForwardAgent yes
            Host *
              ForwardAgent $SSH_AUTH_SOCK

            """.write(toFile: config, atomically: true, encoding: .utf8)
        let pinned = try fab.run(["-F", config, "anywhere:hosts=quiet", "pinned"])
        #expect(pinned.status == 64)
        #expect(pinned.stderr.contains("ForwardAgent at \(config):4"), "\(pinned.stderr)")
        #expect(pinned.stderr.contains("libssh2 1.10 cannot serve forwarded agent channels"))
        #expect(fab.logLines.isEmpty, "a task ran before the refusal")

        let wildcard = try fab.run(["-F", config, "-H", "other", "anywhere"])
        #expect(wildcard.status == 64)
        #expect(wildcard.stderr.contains("ForwardAgent at \(config):6"), "\(wildcard.stderr)")

        let off = try fab.run(["-F", config, "-H", "quiet", "anywhere"])
        #expect(off.status == 0, "\(off.stderr)")
        #expect(fab.logLines == ["anywhere quiet"])
    }
}
