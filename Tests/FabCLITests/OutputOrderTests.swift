import FabTestSupport
import Foundation
import Testing

/// What a person sees from a run whose output goes to a pipe: messages in the order of events,
/// warn-only warnings, and the `--hide` levels that govern them.
@Suite("fab output: order, warnings, hide levels", .serialized)
struct OutputOrderTests {
    /// One sshd host named h1 in an ssh_config file in the project folder.
    static func host(in fab: FabProcess) throws -> (SSHServer, String) {
        let server = try SSHServer()
        let config = fab.directory.appendingPathComponent("ssh_config").path
        try server.sshConfigBlock(alias: "h1").write(toFile: config, atomically: true, encoding: .utf8)
        return (server, config)
    }

    /// The lines of `text` that contain any of `markers`, in order.
    static func lines(_ text: String, containing markers: [String]) -> [String] {
        text.split(separator: "\n").map(String.init).filter { line in markers.contains { line.contains($0) } }
    }

    @Test("in a pipe, fab.say, print and remote lines come out in the order of events, all before Done.")
    func orderInPipe() throws {
        let fab = try FabProcess(fixture: "output")
        defer { fab.remove() }
        let (server, config) = try Self.host(in: fab)
        let output = try fab.run(["-F", config, "-H", "h1", "order"])
        #expect(output.status == 0, "\(output.stderr)")
        let seen = Self.lines(output.stdout, containing: ["say ", "print ", "remote three", "Done."])
        #expect(seen == ["[h1] say one", "print two", "[h1] run: echo remote three", "[h1] out: remote three", "[h1] say four", "[h1] say five",
                         "print six", "Done."], "\(output.stdout)")
        _ = server
    }

    @Test("--hide user hides fab.say but not print or remote output")
    func hideUser() throws {
        let fab = try FabProcess(fixture: "output")
        defer { fab.remove() }
        let (server, config) = try Self.host(in: fab)
        let output = try fab.run(["-F", config, "-H", "h1", "--hide", "user", "order"])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(!output.stdout.contains("say "), "\(output.stdout)")
        #expect(output.stdout.contains("print two"))
        #expect(output.stdout.contains("[h1] out: remote three"))
        _ = server
    }

    @Test("a command failing under warn-only prints Fabric's warning with host, command and exit status; --hide warnings and hide(.warnings) silence it")
    func warnOnlyWarnings() throws {
        let fab = try FabProcess(fixture: "output")
        defer { fab.remove() }
        let (server, config) = try Self.host(in: fab)
        let output = try fab.run(["-F", config, "-H", "h1", "tolerate"])
        #expect(output.status == 0, "\(output.stderr)")
        let warnings = Self.lines(output.stdout, containing: ["warning:"])
        #expect(warnings == [
            "[h1] warning: run() received nonzero return code 3 while executing 'exit 3'!",
            "[h1] warning: run() received nonzero return code 1 while executing 'false'!",
            "[h1] warning: run() was killed by signal TERM while executing 'kill -TERM $$'!",
        ], "\(output.stdout)")
        #expect(output.stdout.contains("[h1] still here"))

        let hidden = try fab.run(["-F", config, "-H", "h1", "--hide", "warnings", "tolerate"])
        #expect(hidden.status == 0, "\(hidden.stderr)")
        #expect(!hidden.stdout.contains("warning"), "\(hidden.stdout)")
        #expect(hidden.stdout.contains("[h1] still here"))
        _ = server
    }

    @Test("-w turns a failing command into a warning; without it the run aborts with an error that --hide aborts removes")
    func warnFlagAndAborts() throws {
        let fab = try FabProcess(fixture: "output")
        defer { fab.remove() }
        let (server, config) = try Self.host(in: fab)
        let warned = try fab.run(["-F", config, "-H", "h1", "-w", "fail"])
        #expect(warned.status == 0, "\(warned.stderr)")
        #expect(warned.stdout.contains("[h1] warning: run() received nonzero return code 1 while executing 'false'!"), "\(warned.stdout)")

        let aborted = try fab.run(["-F", config, "-H", "h1", "fail"])
        #expect(aborted.status == 1)
        #expect(aborted.stderr.contains("Error: task 'fail' failed on h1"), "\(aborted.stderr)")

        let quiet = try fab.run(["-F", config, "-H", "h1", "--hide", "aborts", "fail"])
        #expect(quiet.status == 1)
        #expect(!quiet.stderr.contains("Error:"), "\(quiet.stderr)")
        #expect(quiet.stdout.contains("Failed: 1 of 1"), "\(quiet.stdout)")
        _ = server
    }
}
