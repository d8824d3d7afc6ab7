import FabSSH
import FabTestSupport
import Foundation
import Synchronization
import Testing

/// Warnings a session reports, collected from its queue.
final class WarningLog: Sendable {
    private let lines = Mutex<[String]>([])
    var handler: SSHWarningHandler { { host, text in self.lines.withLock { $0.append("[\(host)] \(text)") } } }
    var all: [String] { lines.withLock { $0 } }
}

/// A fresh key pair's public half as `type base64`, made with ssh-keygen in `directory`.
private func freshPublicKey(type: String, in directory: String) throws -> String {
    let path = "\(directory)/extra-\(type)-\(UUID().uuidString.prefix(6))"
    try sh("ssh-keygen -q -t \(type) -N '' -f \(path)")
    return try String(contentsOfFile: path + ".pub", encoding: .utf8).split(separator: " ").prefix(2).joined(separator: " ")
}

/// The server's own host key as `type base64`.
private func hostPublicKey(_ server: SSHServer, path: String? = nil) throws -> String {
    try String(contentsOfFile: (path ?? server.hostKeyPath) + ".pub", encoding: .utf8).split(separator: " ").prefix(2).joined(separator: " ")
}

/// Writes a known_hosts file of `lines` in the server's directory and returns its path.
private func knownHosts(_ server: SSHServer, _ name: String, _ lines: [String]) throws -> String {
    let path = "\(server.directory.path)/\(name)"
    try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    return path
}

/// Host keys against real sshds: a known host whose key is not the one presented has a CHANGED key under every
/// policy but insecure, whatever the key types; `@revoked` keys refuse under every policy; both hops of a
/// ProxyJump are checked; known key types are negotiated first.
@Suite("Host-key trust", .serialized)
struct HostKeyTrustTests {
    /// Expects the connection to be refused as changed, naming the file and line, the offered fingerprint and
    /// `ssh-keygen -R`, without suggesting accept-new; and the file untouched.
    private func expectChanged(_ target: SSHTarget, file: String, line: Int, offered: String, name: String,
                               hop: String? = nil) async throws {
        let before = try String(contentsOfFile: file, encoding: .utf8)
        let error = await #expect(throws: SSHError.self) { _ = try await SSHSession.connect(to: target) }
        #expect(error?.code == .hostKeyChanged, "\(target.hostKeyPolicy): \(String(describing: error))")
        #expect(error?.host == hop ?? target.alias)
        let message = error?.message ?? ""
        #expect(message.contains("\(file) line \(line)"), "\(message)")
        #expect(message.contains(offered), "\(message)")
        #expect(message.contains("ssh-keygen -R \(ShellQuoting.quote(name)) -f \(file)"), "\(message)")
        #expect(!message.contains("accept-new"), "\(message)")
        #expect(try String(contentsOfFile: file, encoding: .utf8) == before, "known_hosts must not change")
    }

    private func fingerprint(_ publicKey: String) throws -> String {
        try HostKey(openSSHPublicKey: publicKey).fingerprintSHA256
    }

    @Test("same-type swap: another ed25519 key on file is a changed key under strict and accept-new; insecure warns",
          arguments: [HostKeyPolicy.strict, .acceptNew, .insecure])
    func sameTypeSwap(_ policy: HostKeyPolicy) async throws {
        let server = try SSHServer()
        let name = "[\(server.address)]:\(server.port)"
        let file = try knownHosts(server, "swap", ["# first", "\(name) \(try freshPublicKey(type: "ed25519", in: server.directory.path))"])
        let offered = try fingerprint(try hostPublicKey(server))
        let target = server.target(policy: policy, knownHosts: file)
        if policy == .insecure {
            let warnings = WarningLog()
            let session = try await SSHSession.connect(to: target, warnings: warnings.handler)
            #expect(try await session.execute("echo in").stdout == "in\n")
            #expect(warnings.all.count == 1)
            #expect(warnings.all.first?.contains("CHANGED") == true && warnings.all.first?.contains(offered) == true, "\(warnings.all)")
        } else {
            try await expectChanged(target, file: file, line: 2, offered: offered, name: name)
        }
    }

    @Test("type switch: known with ed25519, the server offers only ECDSA: changed, never appended",
          arguments: [HostKeyPolicy.strict, .acceptNew, .insecure])
    func typeSwitch(_ policy: HostKeyPolicy) async throws {
        var options = SSHServer.Options()
        options.hostKeyType = "ecdsa"
        let server = try SSHServer(options: options)
        let name = "[\(server.address)]:\(server.port)"
        let file = try knownHosts(server, "switch", ["\(name) \(try freshPublicKey(type: "ed25519", in: server.directory.path))"])
        let offered = try fingerprint(try hostPublicKey(server))
        let target = server.target(policy: policy, knownHosts: file)
        if policy == .insecure {
            let warnings = WarningLog()
            _ = try await SSHSession.connect(to: target, warnings: warnings.handler)
            #expect(warnings.all.first?.contains("ssh-ed25519") == true && warnings.all.first?.contains("ecdsa-sha2-nistp256") == true,
                    "\(warnings.all)")
        } else {
            try await expectChanged(target, file: file, line: 1, offered: offered, name: name)
        }
    }

    @Test("a hashed name and a HostKeyAlias find the old key too", arguments: [HostKeyPolicy.strict, .acceptNew])
    func hashedAndAlias(_ policy: HostKeyPolicy) async throws {
        let server = try SSHServer()
        let offered = try fingerprint(try hostPublicKey(server))
        let old = try freshPublicKey(type: "ecdsa", in: server.directory.path)
        let name = "[\(server.address)]:\(server.port)"
        let hashed = try knownHosts(server, "hashed", ["\(name) \(old)"])
        try sh("ssh-keygen -q -H -f \(hashed) && rm -f \(hashed).old")
        #expect(try !String(contentsOfFile: hashed, encoding: .utf8).contains(server.address))
        try await expectChanged(server.target(policy: policy, knownHosts: hashed), file: hashed, line: 1, offered: offered, name: name)

        let aliased = try knownHosts(server, "aliased", ["build-box \(old)"])
        var target = server.target(policy: policy, knownHosts: aliased)
        target.hostKeyAlias = "build-box"
        try await expectChanged(target, file: aliased, line: 1, offered: offered, name: "build-box")
    }

    @Test("a @revoked key refuses under every policy, even when also listed as known",
          arguments: [HostKeyPolicy.strict, .acceptNew, .insecure])
    func revoked(_ policy: HostKeyPolicy) async throws {
        let server = try SSHServer()
        let key = try hostPublicKey(server)
        let file = try knownHosts(server, "revoked", ["[\(server.address)]:\(server.port) \(key)", "@revoked * \(key)"])
        let error = await #expect(throws: SSHError.self) {
            _ = try await SSHSession.connect(to: server.target(policy: policy, knownHosts: file))
        }
        #expect(error?.code == .hostKeyRevoked)
        #expect(error?.message.contains("\(file) line 2") == true, "\(String(describing: error))")
        #expect(error?.message.contains("accept-new") == false)
    }

    @Test("insecure warns about an unknown key on every connection, and records nothing")
    func insecureUnknownWarns() async throws {
        let server = try SSHServer()
        let file = try knownHosts(server, "empty", ["# nothing"])
        let warnings = WarningLog()
        for _ in 0..<2 {
            _ = try await SSHSession.connect(to: server.target(policy: .insecure, knownHosts: file), warnings: warnings.handler)
        }
        #expect(warnings.all.count == 2)
        #expect(warnings.all.allSatisfy { $0.contains("is not in \(file)") && $0.contains("insecure") }, "\(warnings.all)")
        #expect(try String(contentsOfFile: file, encoding: .utf8) == "# nothing\n")
    }

    @Test("the strict refusal of an unknown key names the known_hosts files in use, not ~/.ssh")
    func unknownNamesFiles() async throws {
        let server = try SSHServer()
        let file = try knownHosts(server, "custom_known_hosts", ["# nothing"])
        let error = await #expect(throws: SSHError.self) {
            _ = try await SSHSession.connect(to: server.target(knownHosts: file))
        }
        #expect(error?.code == .hostKeyUnknown)
        #expect(error?.message.contains(">> \(file)") == true, "\(String(describing: error))")
        #expect(error?.message.contains("~/.ssh") == false)
    }

    @Test("a jump host's changed key and the inner host's changed key both refuse, naming the hop",
          arguments: [HostKeyPolicy.strict, .acceptNew, .insecure])
    func jumpAndInner(_ policy: HostKeyPolicy) async throws {
        let inner = try SSHServer(address: "127.0.0.2")
        let jump = try SSHServer(address: "127.0.0.1", options: ProxyJumpTests.forwardingOnlyTo(inner))
        let innerName = "[\(inner.address)]:\(inner.port)", jumpName = "[\(jump.address)]:\(jump.port)"
        let innerGood = try knownHosts(inner, "good", ["\(innerName) \(try hostPublicKey(inner))"])
        let innerBad = try knownHosts(inner, "bad", ["\(innerName) \(try freshPublicKey(type: "ecdsa", in: inner.directory.path))"])
        let jumpGood = try knownHosts(jump, "good", ["\(jumpName) \(try hostPublicKey(jump))"])
        let jumpBad = try knownHosts(jump, "bad", ["\(jumpName) \(try freshPublicKey(type: "ed25519", in: jump.directory.path))"])

        for (jumpFile, innerFile, failing) in [(jumpBad, innerGood, "jump"), (jumpGood, innerBad, "inner")] {
            var target = inner.target(alias: "inner", policy: policy, knownHosts: innerFile)
            target.jumpHosts = [jump.target(alias: "jump", policy: policy, knownHosts: jumpFile)]
            if policy == .insecure {
                let warnings = WarningLog()
                let session = try await SSHSession.connect(to: target, warnings: warnings.handler)
                #expect(try await session.execute("echo through").stdout == "through\n")
                #expect(warnings.all.count == 1 && warnings.all.first?.hasPrefix("[\(failing)]") == true, "\(warnings.all)")
                #expect(warnings.all.first?.contains("CHANGED") == true)
            } else if failing == "jump" {
                try await expectChanged(target, file: jumpFile, line: 1,
                                        offered: try fingerprint(try hostPublicKey(jump)), name: jumpName, hop: "jump")
            } else {
                try await expectChanged(target, file: innerFile, line: 1,
                                        offered: try fingerprint(try hostPublicKey(inner)), name: innerName)
            }
        }
    }

    @Test("the key types known_hosts holds are negotiated first: a server with ed25519 and ECDSA keys, known by ECDSA, connects")
    func knownTypePreferred() async throws {
        let directory = try TemporaryDirectory.make(prefix: "fab-hostkeys").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let ecdsa = "\(directory)/ecdsa_host_key"
        try sh("ssh-keygen -q -t ecdsa -N '' -f \(ecdsa)")
        var options = SSHServer.Options()
        options.extraConfig = ["HostKey \(ecdsa)"]
        let server = try SSHServer(options: options)
        let name = "[\(server.address)]:\(server.port)"
        let ecdsaOnly = try knownHosts(server, "ecdsa_only", ["\(name) \(try hostPublicKey(server, path: ecdsa))"])
        let session = try await SSHSession.connect(to: server.target(policy: .strict, knownHosts: ecdsaOnly))
        #expect(try await session.execute("echo ok").stdout == "ok\n")
        // And with only the ed25519 key known, ed25519 is chosen: the preference follows the file.
        let ed25519Only = try knownHosts(server, "ed25519_only", ["\(name) \(try hostPublicKey(server))"])
        _ = try await SSHSession.connect(to: server.target(policy: .strict, knownHosts: ed25519Only))
    }
}
