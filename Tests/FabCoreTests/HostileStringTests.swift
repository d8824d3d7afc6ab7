import FabCore
import FabSSH
import FabTestSupport
import Foundation
import Testing

/// The hostile-string corpus (FabTestSupport's `HostileStrings`) through every fabfile API that
/// interpolates a value, against a real sshd on this machine: each string must arrive byte-exact,
/// which the test reads back from the file system directly (the host is this machine), or be refused
/// with an error; the marker file every payload tries to create must never appear.
///
/// The strings are spread over four connections run at once (each command is a round trip that
/// mostly waits), which keeps the suite near 30 s.
@Suite("Hostile strings", .serialized)
final class HostileStringTests: @unchecked Sendable {
    // Sendable by hand: every stored property is immutable after init; CapturedOutput locks.
    let server: SSHServer
    let output = CapturedOutput()
    let fab: Fab
    /// Contexts on separate connections to the same host, one per concurrent worker.
    let fabs: [Fab]
    /// A scratch directory on the host (the same path locally), writable by the test user.
    let base: String
    let marker: String
    let corpus: [String]

    init() async throws {
        let user = try TestUser.named("fabcorpus")
        try CorpusSudo.acquire()
        server = try SSHServer(user: user)
        fab = Fab(host: "h", runtime: makeRuntime(["h": server], output: output))
        fabs = [fab] + (1..<4).map { [server, output] _ in Fab(host: "h", runtime: makeRuntime(["h": server], output: output)) }
        base = "/tmp/fab-corpus-\(UUID().uuidString.prefix(8))"
        try await fab.run("mkdir -m 777 \(fab.quote(base))")
        marker = HostileStrings.marker(in: base)
        corpus = HostileStrings.corpus(marker: marker)
    }

    deinit {
        try? FileManager.default.removeItem(atPath: base)
        CorpusSudo.release()
    }

    // MARK: - Helpers

    /// Runs `body` for every corpus string (its index, the string, and a scratch file of the
    /// worker's own), spread over ``fabs``, one worker per connection.
    func eachString(_ body: @escaping @Sendable (Fab, Int, String, String) async throws -> Void) async throws {
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (worker, fab) in fabs.enumerated() {
                group.addTask {
                    for index in stride(from: worker, to: self.corpus.count, by: self.fabs.count) {
                        try await body(fab, index, self.corpus[index], self.base + "/out-\(worker)")
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    /// The bytes of a file on the host (read locally: the host is this machine).
    func bytes(_ path: String) -> [UInt8]? {
        FileManager.default.contents(atPath: path).map { [UInt8]($0) }
    }

    /// Strings that fit in one SSH command line; the long one may be refused where a value travels in it.
    func fitsCommandLine(_ value: String) -> Bool { value.utf8.count < 30_000 }

    /// Strings usable as one file name: no `/`, not `.` or `..`, not empty, at most 255 bytes.
    func isFileName(_ value: String) -> Bool {
        !value.isEmpty && !value.contains("/") && value != "." && value != ".." && value.utf8.count <= 255
    }

    /// A fresh directory under the scratch directory, writable by everyone (for sudo and the user).
    func directory(_ name: String) throws -> String {
        let path = base + "/" + name
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o777])
        chmod(path, 0o777)
        return path
    }

    /// Checks that `body` wrote exactly `value` to `out`, or (only when `mayRefuse`) threw.
    func expectExact<T>(_ label: String, _ value: String, out: String, mayRefuse: Bool = false,
                        _ body: () async throws -> T) async {
        try? FileManager.default.removeItem(atPath: out)
        do {
            _ = try await body()
            #expect(bytes(out) == Array(value.utf8), "\(label): the value did not arrive byte-exact")
        } catch {
            #expect(mayRefuse, "\(label): refused with \(error)")
        }
        #expect(!FileManager.default.fileExists(atPath: marker), "\(label): the marker file was created")
    }

    /// `text` as a literal in a Perl regular expression (every ASCII non-word character escaped).
    func perlLiteral(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar.isASCII && !(CharacterSet.alphanumerics.contains(scalar) || scalar == "_") { out += "\\" }
            out.unicodeScalars.append(scalar)
        }
        return out
    }

    /// Writes a file anyone may change (the test user edits files the test made as root).
    func write(_ text: String, to path: String) throws {
        try text.write(toFile: path, atomically: false, encoding: .utf8)
        chmod(path, 0o666)
    }

    /// `text` with ASCII letters in upper case (what `caseSensitive: false` folds).
    func asciiUppercased(_ text: String) -> String {
        String(decoding: text.utf8.map { (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0) ? $0 - 32 : $0 }, as: UTF8.self)
    }

    /// `text` as a literal sed replacement.
    func replacementLiteral(_ text: String) -> String {
        text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "&", with: "\\&")
    }

    // MARK: - Tests

    @Test("the corpus has at least 40 distinct strings, one of them tens of KB, none with NUL")
    func corpusShape() {
        #expect(Set(corpus).count == corpus.count)
        #expect(corpus.count >= 40)
        #expect(corpus.contains { $0.utf8.count > 30_000 })
        #expect(!corpus.contains { $0.contains("\0") })
    }

    @Test("run, sudo and local with quote(): every string arrives byte-exact")
    func commands() async throws {
        try await eachString { [self] fab, index, value, out in
            let label = HostileStrings.label(index, value)
            let line = "printf %s \(fab.quote(value)) > \(fab.quote(out))"
            await self.expectExact("run \(label)", value, out: out, mayRefuse: !self.fitsCommandLine(value)) { try await fab.run(line) }
            await self.expectExact("sudo \(label)", value, out: out, mayRefuse: !self.fitsCommandLine(value)) { try await fab.sudo(line) }
            await self.expectExact("local \(label)", value, out: out) { try await fab.local(line) }
        }
    }

    @Test("cd, prefix, withEnv values and secret values: every string arrives byte-exact")
    func scopes() async throws {
        let dirs = try directory("dirs")
        try await eachString { [self] fab, index, value, out in
            let label = HostileStrings.label(index, value)
            let long = !fitsCommandLine(value)
            if isFileName(value) && !value.hasPrefix("~") {
                try FileManager.default.createDirectory(atPath: dirs + "/" + value, withIntermediateDirectories: true)
                await expectExact("cd \(label)", dirs + "/" + value + "\n", out: out) {
                    try await fab.cd(dirs) { try await fab.cd(value) { try await fab.run("pwd > \(fab.quote(out))") } }
                }
                await expectExact("cd+sudo \(label)", dirs + "/" + value + "\n", out: out) {
                    try await fab.cd(dirs + "/" + value) { try await fab.sudo("pwd > \(fab.quote(out))") }
                }
            } else if !value.hasPrefix("~"), !FileManager.default.fileExists(atPath: dirs + "/" + value) {
                // Not a directory that exists: cd must fail, never run the command elsewhere.
                await #expect(throws: (any Error).self, "cd \(label)") {
                    try await fab.cd(dirs + "/" + value) { try await fab.run("touch \(fab.quote(self.marker))") }
                }
            }
            await expectExact("prefix \(label)", value, out: out, mayRefuse: long) {
                try await fab.prefix("V=\(fab.quote(value))") { try await fab.run("printf %s \"$V\" > \(fab.quote(out))") }
            }
            await expectExact("withEnv value \(label)", value, out: out, mayRefuse: long) {
                try await fab.withEnv(["V": value]) { try await fab.run("printf %s \"$V\" > \(fab.quote(out))") }
            }
            await expectExact("withEnv value + sudo \(label)", value, out: out, mayRefuse: long) {
                try await fab.withEnv(["V": value]) { try await fab.sudo("printf %s \"$V\" > \(fab.quote(out))") }
            }
            await expectExact("secret \(label)", value, out: out) {
                try await fab.withEnv(secrets: ["S": Secret(value)]) { try await fab.run("printf %s \"$S\" > \(fab.quote(out))") }
            }
            await expectExact("secret + sudo \(label)", value, out: out) {
                try await fab.withEnv(secrets: ["S": Secret(value)]) { try await fab.sudo("printf %s \"$S\" > \(fab.quote(out))") }
            }
        }
    }

    @Test("withEnv keys: shell identifiers are exported, every other name is refused by name before anything runs")
    func environmentNames() async throws {
        let ran = base + "/ran"
        for (index, value) in Array(corpus.enumerated()).map({ ($0.offset, $0.element) }) + [(-1, "ok_NAME_9")] {
            let label = HostileStrings.label(index, value)
            let identifier = value.range(of: "^[A-Za-z_][A-Za-z0-9_]*$", options: .regularExpression) != nil
            try? FileManager.default.removeItem(atPath: ran)
            for secret in [false, true] {
                do {
                    let command = "/usr/bin/touch \(fab.quote(ran))"
                    if secret {
                        try await fab.withEnv(secrets: [value: Secret("v")]) { try await fab.run(command) }
                    } else {
                        try await fab.withEnv([value: "v"]) { try await fab.run(command) }
                    }
                    #expect(identifier, "\(label) was accepted as a variable name")
                    #expect(FileManager.default.fileExists(atPath: ran))
                } catch let error as FabError {
                    #expect(!identifier, "\(label) was refused: \(error)")
                    #expect(error.code == .invalidArgument)
                    #expect(error.message.contains("is not a shell identifier"))
                    #expect(!FileManager.default.fileExists(atPath: ran), "\(label): the command ran although the name was refused")
                }
            }
            #expect(!FileManager.default.fileExists(atPath: marker), "\(label): the marker file was created")
        }
        let refused = await #expect(throws: FabError.self) {
            try await fab.withEnv(["A;touch x": "1"]) { try await fab.local("true") }
        }
        #expect(refused?.message.contains("'A;touch x'") == true)
    }

    @Test("exists, isLink and mkdirs (with and without sudo) on corpus paths")
    func pathProbes() async throws {
        let files = try directory("files"), links = try directory("links")
        let made = try directory("made"), madeBySudo = try directory("made-sudo")
        try await eachString { [self] fab, index, value, _ in
            let label = HostileStrings.label(index, value)
            guard fitsCommandLine(value) else {
                await #expect(throws: (any Error).self, "mkdirs \(label)") { try await fab.mkdirs(made + "/" + value) }
                return
            }
            let file = files + "/" + value
            if isFileName(value) {
                #expect(try await !fab.exists(file), "exists \(label) before")
                #expect(FileManager.default.createFile(atPath: file, contents: Data()))
                #expect(try await fab.exists(file), "exists \(label)")
                #expect(try await fab.exists(file, useSudo: true), "exists+sudo \(label)")
                #expect(try await !fab.isLink(file), "isLink \(label) of a file")
                try FileManager.default.createSymbolicLink(atPath: links + "/" + value, withDestinationPath: file)
                #expect(try await fab.isLink(links + "/" + value), "isLink \(label)")
            }
            if !isFileName(value) {
                try await fab.mkdirs(made + "/" + value)
            } else {
                try await fab.mkdirs(made + "/" + value)
                try await fab.mkdirs(madeBySudo + "/" + value, mode: 0o750, useSudo: true)
                var isDirectory: ObjCBool = false
                #expect(FileManager.default.fileExists(atPath: made + "/" + value, isDirectory: &isDirectory) && isDirectory.boolValue,
                        "mkdirs \(label)")
                let attributes = try FileManager.default.attributesOfItem(atPath: madeBySudo + "/" + value)
                #expect(attributes[.ownerAccountName] as? String == "root", "mkdirs+sudo \(label)")
                #expect((attributes[.posixPermissions] as? Int) == 0o750, "mkdirs+sudo mode \(label)")
            }
            #expect(!FileManager.default.fileExists(atPath: marker), "\(label): the marker file was created")
        }
        await #expect(throws: FabError.self) { try await fab.mkdirs(made + "/x", mode: -0o755) }
    }

    @Test("append and contains (with and without sudo): lines arrive byte-exact and append stays idempotent")
    func appendAndContains() async throws {
        let lines = try directory("lines")
        try await eachString { [self] fab, index, value, _ in
            let label = HostileStrings.label(index, value)
            let file = lines + "/\(index)", sudoFile = lines + "/\(index)-sudo"
            guard fitsCommandLine(value) else {
                await #expect(throws: (any Error).self, "append \(label)") { try await fab.append(file, [value]) }
                return
            }
            try write("first\n", to: file)
            try await fab.append(file, [value])
            try await fab.append(file, [value, "first"])
            #expect(bytes(file) == Array("first\n\(value)\n".utf8), "append \(label)")
            #expect(try await fab.contains(file, value, exact: true), "contains exact \(label)")
            #expect(try await fab.contains(file, value), "contains \(label)")
            #expect(try await !fab.contains(file, value + "\u{1}zz"), "contains \(label) + more")
            #expect(try await fab.contains(file, asciiUppercased(value), caseSensitive: false), "contains, any case, \(label)")
            try await fab.append(sudoFile, [value], useSudo: true)
            #expect(bytes(sudoFile) == Array("\(value)\n".utf8), "append+sudo \(label)")
            #expect(try await fab.contains(sudoFile, value, exact: true, useSudo: true), "contains+sudo \(label)")
            #expect(!FileManager.default.fileExists(atPath: marker), "\(label): the marker file was created")
        }
    }

    @Test("sed, comment and uncomment: patterns, replacements, comment marks and backup suffixes stay data")
    func sedFamily() async throws {
        let files = try directory("sed")
        try await eachString { [self] fab, index, value, _ in
            guard self.fitsCommandLine(value) else { return }
            let label = HostileStrings.label(index, value)
            let file = files + "/\(index)"
            // The value as a replacement.
            try write("A-KEY-B\n", to: file)
            try await fab.sed(file, "KEY", replacementLiteral(value), flags: "", backup: "")
            #expect(bytes(file) == Array("A-\(value)-B\n".utf8), "sed replacement \(label)")
            try write("A-KEY-B\n", to: file)
            try await fab.sed(file, "KEY", replacementLiteral(value), backup: "", useSudo: true)
            #expect(bytes(file) == Array("A-\(value)-B\n".utf8), "sed+sudo replacement \(label)")
            // The value, quoted for the regex language, as a pattern: lines are matched one at a time.
            try write("A\(value)B\n", to: file)
            try await fab.sed(file, "A" + perlLiteral(value) + "B", "ok", backup: ".orig")
            #expect(bytes(file) == Array((value.contains("\n") ? "A\(value)B\n" : "ok\n").utf8), "sed quoted pattern \(label)")
            #expect(bytes(file + ".orig") == Array("A\(value)B\n".utf8), "sed backup \(label)")
            // The value as a raw pattern: any regex meaning, or an error, but never a command.
            do { try await fab.sed(file, value, "X") } catch is CommandFailure {}
            // The value as a backup suffix and as flags.
            if value.contains("/") || value.contains("*") {
                await #expect(throws: FabError.self, "backup \(label)") { try await fab.sed(file, "x", "y", backup: value) }
            } else if !value.isEmpty {
                try write("x\n", to: file)
                try await fab.sed(file, "x", "y", backup: value)
                #expect(bytes(file + value) == Array("x\n".utf8), "backup suffix \(label)")
                #expect(bytes(file) == Array("y\n".utf8), "sed with backup suffix \(label)")
            }
            await #expect(throws: FabError.self, "flags \(label)") { try await fab.sed(file, "x", "y", flags: value) }
            // comment / uncomment: the value as the line's pattern, and as the comment mark.
            if !value.contains("\n") {
                try write("\(value)\n", to: file)
                try await fab.comment(file, perlLiteral(value), backup: "")
                #expect(bytes(file) == Array("#\(value)\n".utf8), "comment \(label)")
                try await fab.uncomment(file, perlLiteral(value), backup: "")
                #expect(bytes(file) == Array("\(value)\n".utf8), "uncomment \(label)")
            }
            try write("target\n", to: file)
            try await fab.comment(file, "target", char: value, backup: "", useSudo: true)
            #expect(bytes(file) == Array("\(value)target\n".utf8), "comment with mark \(label)")
            try await fab.uncomment(file, "target", char: value, backup: "")
            #expect(bytes(file) == Array((value.contains("\n") || value.isEmpty ? "\(value)target\n" : "target\n").utf8),
                    "uncomment with mark \(label)")
            #expect(!FileManager.default.fileExists(atPath: marker), "\(label): the marker file was created")
        }
        // GNU sed's e command and s///e flag were reachable through the old hand-escaped program.
        let file = files + "/e"
        try write("x\n", to: file)
        for pattern in ["x/;e touch \(marker);s/x", "x/touch \(marker)/e;s/x"] {
            do { try await fab.sed(file, pattern, "y") } catch is CommandFailure {}
        }
        try await fab.sed(file, "x", "touch \(marker)/e")
        #expect(bytes(file) == Array("touch \(marker)/e\n".utf8))
        #expect(!FileManager.default.fileExists(atPath: marker))
        let missing = await #expect(throws: CommandFailure.self) { try await fab.sed(files + "/missing", "x", "y") }
        #expect(missing?.result.stderr.contains("is not a file") == true)
    }

    @Test("put, get and uploadTemplate (with and without sudo) with corpus file names and contents")
    func transfers() async throws {
        let local = try TemporaryDirectory.make(prefix: "fab-corpus-local").path
        defer { try? FileManager.default.removeItem(atPath: local) }
        let put = try directory("put"), sudoPut = try directory("sudo-put"), templates = try directory("templates")
        let template = local + "/value.template"
        try "[{{ value }}]".write(toFile: template, atomically: true, encoding: .utf8)
        let stagingBefore = try Self.stagingDirectories()
        try await eachString { [self] fab, index, value, _ in
            let label = HostileStrings.label(index, value)
            guard isFileName(value) else {
                if value.utf8.count > 255 {
                    // Too long for a file name: refused, and nothing left behind.
                    // (300 bytes: a 40 KB SFTP path is FabSSH's fault test, not this one's.)
                    let name = String(value.replacingOccurrences(of: "/", with: "").prefix(300))
                    try Data(value.utf8).write(to: URL(fileURLWithPath: local + "/long"))
                    await #expect(throws: (any Error).self, "put \(label)") { try await fab.put(local + "/long", put + "/" + name) }
                    await #expect(throws: (any Error).self, "put+sudo \(label)") {
                        try await fab.put(local + "/long", sudoPut + "/" + name, useSudo: true)
                    }
                }
                return
            }
            let source = local + "/" + value
            #expect(FileManager.default.createFile(atPath: source, contents: Data(value.utf8)), "local file \(label)")
            try await fab.put(source, put + "/" + value, mode: 0o640)
            #expect(bytes(put + "/" + value) == Array(value.utf8), "put \(label)")
            try await fab.put(source, sudoPut + "/" + value, mode: 0o600, useSudo: true, owner: "root:root")
            #expect(bytes(sudoPut + "/" + value) == Array(value.utf8), "put+sudo \(label)")
            let attributes = try FileManager.default.attributesOfItem(atPath: sudoPut + "/" + value)
            #expect(attributes[.ownerAccountName] as? String == "root" && (attributes[.posixPermissions] as? Int) == 0o600,
                    "put+sudo owner and mode \(label)")
            try FileManager.default.removeItem(atPath: source)
            let fetched = try await fab.get(put + "/" + value, local + "/" + value)
            #expect(fetched == source)
            #expect(bytes(source) == Array(value.utf8), "get \(label)")
            try await fab.uploadTemplate(template, to: templates + "/" + value, context: ["value": value])
            #expect(bytes(templates + "/" + value) == Array("[\(value)]".utf8), "uploadTemplate \(label)")
            try await fab.uploadTemplate(template, to: templates + "/sudo-" + value, context: ["value": value], useSudo: true)
            #expect(bytes(templates + "/sudo-" + value) == Array("[\(value)]".utf8), "uploadTemplate+sudo \(label)")
            #expect(!FileManager.default.fileExists(atPath: marker), "\(label): the marker file was created")
        }
        // No temporaries left beside the targets, in the host's /tmp, or in the local temporary directory.
        for directory in [put, sudoPut, templates] {
            let left = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.contains(".fab-") }
            #expect(left.isEmpty, "temporaries left in \(directory): \(left)")
        }
        #expect(try Self.stagingDirectories() == stagingBefore)
        let nul = HostileStrings.withNUL.replacingOccurrences(of: HostileStrings.placeholder, with: marker)
        let refused = await #expect(throws: FabError.self) { try await fab.put(template, put + "/" + nul) }
        #expect(refused?.code == .invalidArgument)
    }

    /// The sudo staging directories this process has in /tmp.
    static func stagingDirectories() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: "/tmp").filter { $0.hasPrefix(TemporaryNames.stagingPrefix) }.sorted()
    }

    @Test("a NUL byte is refused with an error wherever a value would be cut short at it")
    func nul() async throws {
        let value = HostileStrings.withNUL.replacingOccurrences(of: HostileStrings.placeholder, with: marker)
        let file = base + "/nul"
        try write("x\n", to: file)
        let attempts: [(String, () async throws -> Void)] = [
            ("run", { _ = try await self.fab.run("printf %s \(self.fab.quote(value))") }),
            ("sudo", { _ = try await self.fab.sudo("printf %s \(self.fab.quote(value))") }),
            ("cd", { _ = try await self.fab.cd(value) { try await self.fab.run("true") } }),
            ("withEnv", { _ = try await self.fab.withEnv(["V": value]) { try await self.fab.run("true") } }),
            ("secret", { _ = try await self.fab.withEnv(secrets: ["V": Secret(value)]) { try await self.fab.run("true") } }),
            ("exists", { _ = try await self.fab.exists(value) }),
            ("contains", { _ = try await self.fab.contains(file, value) }),
            ("append", { try await self.fab.append(file, [value]) }),
            ("sed", { try await self.fab.sed(file, "x", value) }),
            ("mkdirs", { try await self.fab.mkdirs(value) }),
            ("get", { try await self.fab.get(value, self.base + "/got") }),
        ]
        for (name, attempt) in attempts {
            let error = await #expect(throws: FabError.self, "\(name) with a NUL byte") { try await attempt() }
            #expect(error?.code == .invalidArgument, "\(name)")
            #expect(error?.message.contains("NUL") == true, "\(name)")
        }
        #expect(bytes(file) == Array("x\n".utf8))
        #expect(!FileManager.default.fileExists(atPath: marker))
    }
}
