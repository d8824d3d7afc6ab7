import FabProcess
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

/// What a fab killed in the middle of an upload leaves, and what the next one cleans.
@Suite("A killed upload", .serialized)
struct KilledUploadTests {
    @Test("fab killed (SIGKILL) during a put leaves the old file intact, and the next put into that directory leaves no temporary behind")
    func killedPut() throws {
        let fab = try FabProcess(fixture: "corpus")
        defer { fab.remove() }
        let server = try SSHServer()
        let config = fab.directory.appendingPathComponent("ssh_config").path
        try server.sshConfigBlock(alias: "h1").write(toFile: config, atomically: true, encoding: .utf8)
        let remote = try TemporaryDirectory.make(prefix: "fab-killed-put")
        defer { try? FileManager.default.removeItem(at: remote) }
        chmod(remote.path, 0o777)
        let target = remote.path + "/app.bin"
        try "old\n".write(toFile: target, atomically: true, encoding: .utf8)
        let big = fab.directory.appendingPathComponent("big.bin").path
        #expect(FileManager.default.createFile(atPath: big, contents: nil))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: big))
        try handle.truncate(atOffset: 2 << 30)
        try handle.close()
        // Compile first, so the kill lands while the upload runs.
        #expect(try fab.run(["-l"]).status == 0)
        let binary = try #require(FabProcess.binary)
        let log = fab.directory.appendingPathComponent("killed.log").path
        let process = try ChildProcess.spawn(executable: "/bin/sh", arguments: ["-c",
            "cd \(TestShell.quote(fab.directory.path)) && exec \(TestShell.quote(binary)) -F \(TestShell.quote(config)) -H h1 upload:\(TestShell.quote(big + "," + target)) >\(TestShell.quote(log)) 2>&1"],
            environment: .inherit.updating(["XDG_CACHE_HOME": fab.cacheHome.path]))
        func temporaries() throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: remote.path).filter { $0.hasPrefix(".app.bin.fab-") }
        }
        var growing = false
        for _ in 0..<300 where !growing {
            usleep(50_000)
            growing = try temporaries().contains { name in
                ((try? FileManager.default.attributesOfItem(atPath: remote.path + "/" + name))?[.size] as? Int ?? 0) > 0
            }
        }
        #expect(growing, "the upload never started: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        process.signal(SIGKILL)
        _ = process.wait(timeout: .seconds(10))
        // Killed: no cleanup ran, so its temporary is still there; the old file is untouched.
        #expect(try temporaries().count == 1)
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "old\n")
        let small = fab.directory.appendingPathComponent("small.txt").path
        try "new\n".write(toFile: small, atomically: true, encoding: .utf8)
        let again = try fab.run(["-F", config, "-H", "h1", "upload:\(small),\(target)"])
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try String(contentsOfFile: target, encoding: .utf8) == "new\n")
        #expect(try temporaries().isEmpty)
        _ = server
    }
}
