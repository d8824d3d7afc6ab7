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
}

/// A minimal terminal: what stays on screen after carriage returns, erase-to-end-of-line and
/// newlines (colours ignored).
struct TerminalScreen {
    var lines: [String] = []

    init(_ text: String) {
        var current: [Character] = []
        var column = 0
        for character in Self.stripColour(text).replacingOccurrences(of: "\u{1B}[K", with: "\u{0}").unicodeScalars {
            switch character {
            case "\r": column = 0
            case "\n":
                lines.append(String(current))
                current = []
                column = 0
            case "\u{0}": current.removeSubrange(min(column, current.count)...)
            default:
                if column < current.count { current[column] = Character(character) } else { current.append(Character(character)) }
                column += 1
            }
        }
        if !current.isEmpty { lines.append(String(current)) }
    }

    /// The text without SGR (colour) sequences.
    static func stripColour(_ text: String) -> String {
        text.replacingOccurrences(of: "\u{1B}\\[[0-9;]*m", with: "", options: .regularExpression)
    }
}
