import FabTestSupport
import Foundation
import Testing

/// What fab draws on a terminal (run under `script`, which gives it a pseudo-terminal) and what it
/// writes to a pipe, for remote output drawn with carriage returns.
@Suite("fab output on a terminal and in a pipe", .serialized)
struct TerminalOutputTests {
    /// Runs fab under a pseudo-terminal and returns everything it drew.
    static func runOnTerminal(_ fab: FabProcess, _ arguments: [String]) throws -> FabProcess.Output {
        let binary = try #require(FabProcess.binary)
        let command = ([binary] + arguments).map(TestShell.quote).joined(separator: " ")
        return try fab.run(["-qfec", command, "/dev/null"], executable: "/usr/bin/script")
    }

    @Test("on a terminal a \\r-drawn remote progress is drawn live, in place, keeping its [host] label")
    func carriageReturnOnTerminal() throws {
        let fab = try FabProcess(fixture: "output")
        defer { fab.remove() }
        let (server, config) = try OutputOrderTests.host(in: fab)
        let output = try Self.runOnTerminal(fab, ["-F", config, "-H", "h1", "progress"])
        #expect(output.status == 0, "\(output.stdout)")
        let screen = TerminalScreen(output.stdout)
        let drawn = screen.lines.filter { $0.contains("out:") }
        #expect(drawn == ["[h1] out: progress 100%", "[h1] out: after"], "\(screen.lines)")
        // The earlier frames were on screen while the command ran, labelled, before the line ended.
        let plain = TerminalScreen.stripColour(output.stdout)
        #expect(plain.contains("[h1] out: progress 10%\r\u{1B}[K[h1] out: progress 55%\r\u{1B}[K[h1] out: progress 100%"), "\(plain.debugDescription)")
        _ = server
    }

    @Test("in a pipe only the last frame of a \\r-drawn line is written, once, labelled")
    func carriageReturnInPipe() throws {
        let fab = try FabProcess(fixture: "output")
        defer { fab.remove() }
        let (server, config) = try OutputOrderTests.host(in: fab)
        let output = try fab.run(["-F", config, "-H", "h1", "progress"])
        #expect(output.status == 0, "\(output.stderr)")
        #expect(!output.stdout.contains("\r"), "\(output.stdout.debugDescription)")
        #expect(!output.stdout.contains("out: progress 10%"))
        #expect(!output.stdout.contains("out: progress 55%"))
        #expect(output.stdout.contains("[h1] out: progress 100%\n[h1] out: after\n"), "\(output.stdout)")
        _ = server
    }

    @Test("on a terminal two hosts' uploads each draw a labelled bar at the bottom, replaced by their result lines")
    func transferBarsOnTerminal() throws {
        let fab = try FabProcess(fixture: "output")
        defer { fab.remove() }
        let servers = try (1...2).map { _ in try SSHServer() }
        let config = fab.directory.appendingPathComponent("ssh_config").path
        try servers.enumerated().map { $0.element.sshConfigBlock(alias: "h\($0.offset + 1)") }.joined()
            .write(toFile: config, atomically: true, encoding: .utf8)
        let output = try Self.runOnTerminal(fab, ["-F", config, "-H", "h1,h2", "-P", "upload"])
        #expect(output.status == 0, "\(output.stdout)")
        let plain = TerminalScreen.stripColour(output.stdout)
        for host in ["h1", "h2"] {
            // While it ran: a bar with the host's label, percent, bytes, rate.
            #expect(plain.range(of: "\\[\(host)\\] put big-\(host).bin \\[#*-*\\] +[0-9]+%  [0-9.]+ MiB/96.0 MiB  [0-9.]+ MiB/s", options: .regularExpression) != nil,
                    "\(plain.debugDescription)")
        }
        let screen = TerminalScreen(output.stdout).lines
        #expect(!screen.contains { $0.contains("[#") || $0.contains("#-") }, "\(screen)")
        for host in ["h1", "h2"] {
            #expect(screen.contains { $0.range(of: "^\\[\(host)\\] put big-\(host).bin: 96.0 MiB in [0-9.]+ s \\([0-9.]+ MiB/s\\)$", options: .regularExpression) != nil },
                    "\(screen)")
        }
        _ = servers
    }

    @Test("on a terminal a step shows one live row with its elapsed time and last output line, replaced by its result")
    func stepOnTerminal() throws {
        let fab = try FabProcess(fixture: "output")
        defer { fab.remove() }
        let (server, config) = try OutputOrderTests.host(in: fab)
        let output = try Self.runOnTerminal(fab, ["-F", config, "-H", "h1", "steps"])
        #expect(output.status == 0, "\(output.stdout)")
        let plain = TerminalScreen.stripColour(output.stdout)
        // The hidden output still feeds the row.
        #expect(plain.range(of: "\\[h1\\] long step \\([0-9.]+ s\\): first line", options: .regularExpression) != nil, "\(plain.debugDescription)")
        #expect(plain.range(of: "\\[h1\\] long step \\([0-9.]+ s\\): second line", options: .regularExpression) != nil, "\(plain.debugDescription)")
        let screen = TerminalScreen(output.stdout).lines
        #expect(!screen.contains { $0.contains("long step (") }, "\(screen)")
        #expect(!screen.contains { $0.contains(": first line") || $0.contains(": second line") }, "\(screen)")
        #expect(screen.contains { $0.range(of: "^\\[h1\\] long step: done in [0-9.]+ s$", options: .regularExpression) != nil }, "\(screen)")
        _ = server
    }

    @Test("in a pipe a running step prints a heartbeat line every heartbeat period, then its result")
    func stepHeartbeatInPipe() throws {
        let fab = try FabProcess(fixture: "output")
        defer { fab.remove() }
        let (server, config) = try OutputOrderTests.host(in: fab)
        let output = try fab.run(["-F", config, "-H", "h1", "steps"])
        #expect(output.status == 0, "\(output.stderr)")
        let lines = output.stdout.split(separator: "\n").map(String.init).filter { $0.contains("long step") }
        // Two heartbeats in 2.6 s (a third when a busy machine stretches the step), then the result.
        #expect(lines.count >= 3, "\(output.stdout)")
        #expect(lines.first?.range(of: "^\\[h1\\] long step: still running after 1\\.[0-9] s \\(last: first line\\)$", options: .regularExpression) != nil, "\(lines)")
        #expect(lines.dropFirst().first?.range(of: "^\\[h1\\] long step: still running after 2\\.[0-9] s \\(last: second line\\)$", options: .regularExpression) != nil, "\(lines)")
        #expect(lines.last?.range(of: "^\\[h1\\] long step: done in [0-9.]+ s$", options: .regularExpression) != nil, "\(lines)")
        #expect(!output.stdout.contains("out: first line"))
        _ = server
    }

    @Test("a line that comes in pieces shows on a terminal once it has waited 200 ms, and whole in a pipe")
    func partialLine() throws {
        let fab = try FabProcess(fixture: "output")
        defer { fab.remove() }
        let (server, config) = try OutputOrderTests.host(in: fab)
        let terminal = try Self.runOnTerminal(fab, ["-F", config, "-H", "h1", "dots"])
        #expect(terminal.status == 0, "\(terminal.stdout)")
        let plain = TerminalScreen.stripColour(terminal.stdout)
        #expect(plain.contains("[h1] out: working.\r\u{1B}[K[h1] out: working..\r\u{1B}[K[h1] out: working.. done\r\n"), "\(plain.debugDescription)")
        #expect(TerminalScreen(terminal.stdout).lines.filter { $0.contains("out: working") } == ["[h1] out: working.. done"])

        let piped = try fab.run(["-F", config, "-H", "h1", "dots"])
        #expect(piped.stdout.contains("\n[h1] out: working.. done\n"), "\(piped.stdout)")
        #expect(!piped.stdout.contains("out: working.\n"))
        _ = server
    }
}
