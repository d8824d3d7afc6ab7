import FabSSH
import FabTestSupport
import Foundation
import Synchronization
import Testing

/// Real keys from ssh-keygen in a private directory.
private struct KeyFixture {
    let directory: String
    let keyA: HostKey       // ed25519
    let keyB: HostKey       // ed25519, a different key
    let keyC: HostKey       // ecdsa-sha2-nistp256
    let publicLines: [String: String]   // name -> "type base64 comment"

    init() throws {
        directory = try TemporaryDirectory.make(prefix: "fab-knownhosts").path
        var lines: [String: String] = [:]
        for (name, type) in [("a", "ed25519"), ("b", "ed25519"), ("c", "ecdsa")] {
            let path = "\(directory)/\(name)"
            try TestShell.run("ssh-keygen", ["-q", "-t", type, "-N", "", "-C", "key-\(name)", "-f", path]).checked()
            lines[name] = try String(contentsOfFile: path + ".pub", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        }
        publicLines = lines
        keyA = try HostKey(openSSHPublicKey: lines["a"] ?? "")
        keyB = try HostKey(openSSHPublicKey: lines["b"] ?? "")
        keyC = try HostKey(openSSHPublicKey: lines["c"] ?? "")
    }

    /// "type base64" for a key, as in a known_hosts line.
    func keyText(_ key: HostKey) -> String { "\(key.type.rawValue) \(key.base64)" }

    func remove() { try? FileManager.default.removeItem(atPath: directory) }
}

/// Lines `ssh-keygen -F NAME -f FILE` reports as matching, or [] when it finds none.
private func sshKeygenFind(_ name: String, in file: String) throws -> [Int] {
    let result = try TestShell.run("ssh-keygen", ["-F", name, "-f", file])
    guard result.status == 0 else { return [] }
    // "# Host NAME found: line N"
    return result.stdout.split(separator: "\n").compactMap { line in
        guard line.hasPrefix("# Host "), let range = line.range(of: "found: line ") else { return nil }
        return Int(line[range.upperBound...].prefix(while: \.isNumber))
    }
}

/// The verdict without its location, to compare a plain file with its hashed copy (whose lines move).
private func kind(_ verdict: KnownHostsVerdict) -> String {
    switch verdict {
    case .match: return "match"
    case .mismatch(_, let expected): return "mismatch(\(expected.rawValue))"
    case .revoked: return "revoked"
    case .notFound: return "notFound"
    }
}

/// A lookup in the reference file and the verdict expected, with the line it must name (0 for none).
struct LookupCase: Sendable, CustomTestStringConvertible {
    var host: String
    var port: Int
    var key: String      // "a", "b" or "c"
    var verdict: String  // as kind(_:)
    var line: Int
    var testDescription: String { "\(host):\(port) key \(key) -> \(verdict)" }
}

@Suite("known_hosts")
struct KnownHostsTests {
    /// The reference file: bad lines first, so later valid lines must still be found.
    fileprivate static func referenceFile(_ keys: KeyFixture) -> String {
        [
            "# comment",                                                          // 1
            "this line is not a known_hosts entry",                               // 2
            "@cert-authority *.example.com \(keys.keyText(keys.keyC))",           // 3
            "badkey.example.com ssh-ed25519 !!!notbase64!!!",                     // 4
            "",                                                                   // 5
            "plain.example.com,10.0.0.5 \(keys.keyText(keys.keyA)) comment",     // 6
            "[ported.example.com]:2222 \(keys.keyText(keys.keyA))",               // 7
            "changed.example.com \(keys.keyText(keys.keyB))",                     // 8
            "othertype.example.com \(keys.keyText(keys.keyC))",                   // 9
            "*.wild.example.com,!secret.wild.example.com \(keys.keyText(keys.keyA))", // 10
            "@revoked revoked.example.com \(keys.keyText(keys.keyA))",            // 11
            "revoked.example.com \(keys.keyText(keys.keyA))",                     // 12
            "@bogus marker.example.com \(keys.keyText(keys.keyA))",               // 13
            "typemismatch.example.com ssh-rsa \(keys.keyA.base64)",               // 14
            "\tindented.example.com \(keys.keyText(keys.keyA))",                  // 15
            "multi.example.com \(keys.keyText(keys.keyC))",                       // 16
            "multi.example.com \(keys.keyText(keys.keyB))",                       // 17
        ].joined(separator: "\n") + "\n"
    }

    static let lookups: [LookupCase] = [
        LookupCase(host: "plain.example.com", port: 22, key: "a", verdict: "match", line: 6),
        LookupCase(host: "PLAIN.Example.com", port: 22, key: "a", verdict: "match", line: 6),
        LookupCase(host: "10.0.0.5", port: 22, key: "a", verdict: "match", line: 6),
        LookupCase(host: "plain.example.com", port: 2222, key: "a", verdict: "notFound", line: 0),
        LookupCase(host: "ported.example.com", port: 2222, key: "a", verdict: "match", line: 7),
        LookupCase(host: "ported.example.com", port: 22, key: "a", verdict: "notFound", line: 0),
        LookupCase(host: "changed.example.com", port: 22, key: "a", verdict: "mismatch(ssh-ed25519)", line: 8),
        // Known only with another type: the key changed too (OpenSSH would call the host new).
        LookupCase(host: "othertype.example.com", port: 22, key: "a", verdict: "mismatch(ecdsa-sha2-nistp256)", line: 9),
        LookupCase(host: "othertype.example.com", port: 22, key: "c", verdict: "match", line: 9),
        LookupCase(host: "web.wild.example.com", port: 22, key: "a", verdict: "match", line: 10),
        LookupCase(host: "web.wild.example.com", port: 22, key: "b", verdict: "mismatch(ssh-ed25519)", line: 10),
        LookupCase(host: "secret.wild.example.com", port: 22, key: "a", verdict: "notFound", line: 0),
        LookupCase(host: "wild.example.com", port: 22, key: "a", verdict: "notFound", line: 0),
        LookupCase(host: "revoked.example.com", port: 22, key: "a", verdict: "revoked", line: 11),
        LookupCase(host: "revoked.example.com", port: 22, key: "b", verdict: "mismatch(ssh-ed25519)", line: 12),
        LookupCase(host: "ca.example.com", port: 22, key: "c", verdict: "notFound", line: 0),
        LookupCase(host: "marker.example.com", port: 22, key: "a", verdict: "notFound", line: 0),
        LookupCase(host: "typemismatch.example.com", port: 22, key: "a", verdict: "notFound", line: 0),
        LookupCase(host: "indented.example.com", port: 22, key: "a", verdict: "match", line: 15),
        LookupCase(host: "multi.example.com", port: 22, key: "b", verdict: "match", line: 17),
        LookupCase(host: "multi.example.com", port: 22, key: "a", verdict: "mismatch(ssh-ed25519)", line: 17),
        LookupCase(host: "unknown.example.org", port: 22, key: "a", verdict: "notFound", line: 0),
    ]

    private func key(_ name: String, _ keys: KeyFixture) -> HostKey {
        switch name {
        case "a": return keys.keyA
        case "b": return keys.keyB
        default: return keys.keyC
        }
    }

    @Test("verify: plain, [host]:port, changed, other type, wildcards, negation, @revoked, bad lines", arguments: lookups)
    func verifyPlain(_ lookup: LookupCase) throws {
        let keys = try KeyFixture()
        defer { keys.remove() }
        let file = keys.directory + "/known_hosts"
        try Self.referenceFile(keys).write(toFile: file, atomically: true, encoding: .utf8)
        let knownHosts = KnownHosts.load(paths: [keys.directory + "/missing", file])
        let verdict = knownHosts.verify(host: lookup.host, port: lookup.port, key: key(lookup.key, keys))
        #expect(kind(verdict) == lookup.verdict)
        let location = KnownHostsEntryLocation(file: file, line: lookup.line)
        switch verdict {
        case .match(let found), .revoked(let found), .mismatch(let found, _): #expect(found == location)
        case .notFound: #expect(lookup.line == 0)
        }
        // Where our verdict names a line, ssh-keygen -F must find that line for the same name.
        if lookup.line != 0 {
            let name = lookup.port == 22 ? lookup.host.lowercased() : "[\(lookup.host.lowercased())]:\(lookup.port)"
            #expect(try sshKeygenFind(name, in: file).contains(lookup.line), "ssh-keygen -F \(name)")
        }
    }

    @Test("malformed lines are listed and skipped; CA lines and comments are not listed")
    func skippedLines() throws {
        let keys = try KeyFixture()
        defer { keys.remove() }
        let knownHosts = KnownHosts(contents: Self.referenceFile(keys), file: "kh")
        #expect(knownHosts.skippedLines.map(\.line) == [2, 4, 13, 14])
    }

    @Test("hashed files written by ssh-keygen -H give the same verdicts", arguments: lookups)
    func verifyHashed(_ lookup: LookupCase) throws {
        let keys = try KeyFixture()
        defer { keys.remove() }
        let file = keys.directory + "/known_hosts"
        // ssh-keygen -H refuses files with lines it cannot parse: comment those out first.
        let lines = Self.referenceFile(keys).split(separator: "\n", omittingEmptySubsequences: false).enumerated().map { index, line in
            [2, 13].contains(index + 1) ? "# removed" : String(line)
        }
        try lines.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        try TestShell.run("ssh-keygen", ["-H", "-f", file]).checked()
        let hashed = try String(contentsOfFile: file, encoding: .utf8)
        #expect(hashed.contains("|1|"), "ssh-keygen -H hashed nothing")
        #expect(!hashed.contains("plain.example.com"))
        let verdict = KnownHosts.load(paths: [file]).verify(host: lookup.host, port: lookup.port, key: key(lookup.key, keys))
        #expect(kind(verdict) == lookup.verdict)
    }

    @Test("append writes lines ssh-keygen -F finds, plain and hashed, port 22 and others",
          arguments: [(false, 22), (false, 2222), (true, 22), (true, 2222)])
    func appendIsReadableByOpenSSH(hashed: Bool, port: Int) throws {
        let keys = try KeyFixture()
        defer { keys.remove() }
        let file = keys.directory + "/new/dir/known_hosts"
        try KnownHosts.append(host: "Target.Example.com", port: port, key: keys.keyA, to: file, hashed: hashed)
        try KnownHosts.append(host: "other.example.com", port: port, key: keys.keyB, to: file, hashed: hashed)

        let name = port == 22 ? "target.example.com" : "[target.example.com]:\(port)"
        #expect(try sshKeygenFind(name, in: file) == [1])
        #expect(try sshKeygenFind(port == 22 ? "other.example.com" : "[other.example.com]:\(port)", in: file) == [2])
        let text = try String(contentsOfFile: file, encoding: .utf8)
        #expect(text.hasPrefix("|1|") == hashed)
        #expect(text.contains("target.example.com") == !hashed)

        let knownHosts = KnownHosts.load(paths: [file])
        #expect(knownHosts.verify(host: "target.example.com", port: port, key: keys.keyA) == .match(.init(file: file, line: 1)))
        #expect(knownHosts.verify(host: "target.example.com", port: port, key: keys.keyB) == .mismatch(.init(file: file, line: 1), expected: .ed25519))
        #expect(knownHosts.verify(host: "target.example.com", port: port == 22 ? 2222 : 22, key: keys.keyA) == .notFound)

        var info = stat()
        #expect(stat(file, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        #expect(stat(keys.directory + "/new/dir", &info) == 0)
        #expect(info.st_mode & 0o777 == 0o700)
    }

    @Test("append adds a missing final newline, and concurrent appends do not interleave")
    func appendConcurrently() throws {
        let keys = try KeyFixture()
        defer { keys.remove() }
        let file = keys.directory + "/known_hosts"
        try "first.example.com \(keys.keyText(keys.keyA))".write(toFile: file, atomically: true, encoding: .utf8)
        let count = 64
        let failures = Mutex(0)
        DispatchQueue.concurrentPerform(iterations: count) { index in
            do {
                try KnownHosts.append(host: "host\(index).example.com", port: 22, key: index.isMultiple(of: 2) ? keys.keyA : keys.keyC,
                                      to: file, hashed: index.isMultiple(of: 3))
            } catch {
                failures.withLock { $0 += 1 }
            }
        }
        #expect(failures.withLock { $0 } == 0)
        let knownHosts = KnownHosts.load(paths: [file])
        #expect(knownHosts.skippedLines.isEmpty)
        #expect(knownHosts.verify(host: "first.example.com", port: 22, key: keys.keyA) == .match(.init(file: file, line: 1)))
        for index in 0..<count {
            let verdict = knownHosts.verify(host: "host\(index).example.com", port: 22, key: index.isMultiple(of: 2) ? keys.keyA : keys.keyC)
            #expect(kind(verdict) == "match", "host\(index)")
        }
    }

    @Test("append refuses names that are not host names", arguments: ["", "two words", "a,b", "*.example.com", "[x]", "host\n", "#comment"])
    func appendRejects(_ host: String) throws {
        let keys = try KeyFixture()
        defer { keys.remove() }
        #expect { try KnownHosts.append(host: host, port: 22, key: keys.keyA, to: keys.directory + "/kh", hashed: false) } throws: {
            ($0 as? SSHError)?.code == .invalidHost
        }
        #expect(!FileManager.default.fileExists(atPath: keys.directory + "/kh"))
    }

    @Test("keys: type from the blob, base64 round trip, fingerprint as ssh-keygen -lf")
    func keys() throws {
        let keys = try KeyFixture()
        defer { keys.remove() }
        for (name, key) in [("a", keys.keyA), ("c", keys.keyC)] {
            let fields = (keys.publicLines[name] ?? "").split(separator: " ")
            #expect(key.base64 == String(fields[1]))
            #expect(try HostKey(blob: key.blob) == key)
            let listing = try TestShell.run("ssh-keygen", ["-l", "-E", "sha256", "-f", "\(keys.directory)/\(name).pub"]).checked().stdout
            #expect(listing.split(separator: " ")[1] == Substring(key.fingerprintSHA256))
        }
        #expect(keys.keyA.type == .ed25519)
        #expect(keys.keyC.type == .ecdsa256)
        #expect(throws: SSHError.self) { try HostKey(blob: [0, 0, 0, 9, 0x73]) }
        #expect(throws: SSHError.self) { try HostKey(blob: Array(keys.keyA.blob.prefix(3))) }
        #expect(throws: SSHError.self) { try HostKey(openSSHPublicKey: "ssh-rsa \(keys.keyA.base64)") }
        #expect(throws: SSHError.self) { try HostKey(openSSHPublicKey: "ssh-ed25519 not*base64") }
    }
}
