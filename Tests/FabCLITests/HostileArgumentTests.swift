import FabTestSupport
import Foundation
import Testing

/// The hostile-string corpus as task arguments of the `fab` binary, in both syntaxes.
@Suite("Hostile task arguments", .serialized)
struct HostileArgumentTests {
    /// A value for the `task:a,b` syntax: `\`, `,`, `=` and `:` escaped with a backslash.
    static func escaped(_ value: String) -> String {
        var out = ""
        for character in value {
            if "\\,=:".contains(character) { out.append("\\") }
            out.append(character)
        }
        return out
    }

    static func hex(_ text: String) -> String { text.utf8.map { String(format: "%02x", $0) }.joined() }

    @Test("every corpus string reaches a task byte-exact as task:VALUE, as --value VALUE and after an empty positional value")
    func arguments() throws {
        let fab = try FabProcess(fixture: "corpus")
        defer { fab.remove() }
        let marker = HostileStrings.marker(in: fab.directory.path)
        let corpus = HostileStrings.corpus(marker: marker)
        let runs: [[String]] = [
            corpus.map { "record:" + Self.escaped($0) },
            corpus.flatMap { ["record", "--value", $0] },
            corpus.map { "record:," + Self.escaped($0) },
        ]
        var expected: [String] = []
        for (index, words) in runs.enumerated() {
            let output = try fab.run(words)
            #expect(output.status == 0, "run \(index): \(output.stderr.prefix(2000))")
            expected += corpus.map { value in
                index == 2 ? "  \(Self.hex(value))" : "\(Self.hex(value)) \(Self.hex(value)) "
            }
        }
        let lines = fab.logLines
        #expect(lines.count == expected.count)
        for (index, (line, wanted)) in zip(lines, expected).enumerated() where line != wanted {
            let value = corpus[index % corpus.count]
            Issue.record("\(HostileStrings.label(index % corpus.count, value)) arrived as \(line.prefix(200)) in run \(index / corpus.count)")
        }
        #expect(!FileManager.default.fileExists(atPath: marker))
    }
}
