import FabSSH
import FabTestSupport
import Foundation
import Testing

/// Connecting, authenticating and verifying host keys against a real sshd.
@Suite("SSH sessions against a real sshd", .serialized)
struct SessionTests {
    @Test("an ed25519 key logs in and a command runs")
    func keyLogin() async throws {
        let server = try SSHServer()
        let session = try await SSHSession.connect(to: server.target())
        let result = try await session.execute("id -un")
        #expect(result.succeeded)
        #expect(result.stdout == "\(server.user)\n")
        await session.close()
    }

    @Test("a passphrase-protected ECDSA key logs in with the passphrase, and names the key when it is wrong")
    func passphraseKey() async throws {
        let server = try SSHServer()
        let key = server.directory.path + "/id_ecdsa_pw"
        try sh("ssh-keygen -q -t ecdsa -N 'correct horse' -f \(key) && cat \(key).pub >> \(server.directory.path)/authorized_keys")
        var target = server.target()
        target.identityFiles = [key]
        let session = try await SSHSession.connect(to: target) { request in
            request == .keyPassphrase(path: key) ? Secret("correct horse") : nil
        }
        #expect(try await session.execute("true").succeeded)
        let error = await #expect(throws: SSHError.self) {
            _ = try await SSHSession.connect(to: target) { _ in Secret("wrong") }
        }
        #expect(error?.code == .authentication)
        #expect(error?.message.contains("wrong passphrase") == true, "\(String(describing: error))")
    }

    @Test("ssh-agent keys log in")
    func agentLogin() async throws {
        let server = try SSHServer()
        let socket = server.directory.path + "/agent.sock"
        let agent = try background("/usr/bin/ssh-agent", ["-D", "-a", socket])
        defer { agent.terminate() }
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: socket) { usleep(10_000) }
        try sh("SSH_AUTH_SOCK=\(socket) ssh-add -q \(server.privateKeyPath)")
        setenv("SSH_AUTH_SOCK", socket, 1)
        defer { unsetenv("SSH_AUTH_SOCK") }
        var target = server.target()
        target.identityFiles = []
        target.identitiesOnly = false
        target.useAgent = true
        let session = try await SSHSession.connect(to: target)
        #expect(try await session.execute("echo agent").stdout == "agent\n")
    }

    @Test("password and keyboard-interactive log in; a wrong password lists the methods tried")
    func passwordLogin() async throws {
        let (server, target) = try passwordServer()
        defer { withExtendedLifetime(server) {} }
        let session = try await SSHSession.connect(to: target, secrets: answerPassword)
        #expect(try await session.execute("id -un").stdout == "fabpass\n")
        let error = await #expect(throws: SSHError.self) {
            _ = try await SSHSession.connect(to: target) { _ in Secret("nope") }
        }
        #expect(error?.code == .authentication)
        #expect(error?.message.contains("password") == true)
        #expect(error?.message.contains("keyboard-interactive") == true)
    }

    @Test("an RSA-only user is told that libssh2 1.10 cannot sign with rsa-sha2, not just 'authentication failed'")
    func rsaKeyExplained() async throws {
        let server = try SSHServer()
        let key = server.directory.path + "/id_rsa"
        try sh("ssh-keygen -q -t rsa -b 2048 -N '' -f \(key) && cat \(key).pub > \(server.directory.path)/authorized_keys")
        var target = server.target()
        target.identityFiles = [key]
        let error = await #expect(throws: SSHError.self) { _ = try await SSHSession.connect(to: target) }
        #expect(error?.code == .rsaKeyRefused)
        #expect(error?.message.contains("ed25519") == true)
        #expect(error?.message.contains("SHA-1") == true)
    }

    @Test("strict policy refuses an unknown host key and says how to add it")
    func strictUnknown() async throws {
        let server = try SSHServer()
        let empty = server.directory.path + "/empty_known_hosts"
        _ = FileManager.default.createFile(atPath: empty, contents: nil)
        let error = await #expect(throws: SSHError.self) {
            _ = try await SSHSession.connect(to: server.target(knownHosts: empty))
        }
        #expect(error?.code == .hostKeyUnknown)
        #expect(error?.message.contains("ssh-keyscan") == true)
    }

    @Test("accept-new records an unknown key in OpenSSH's format, then verifies it strictly")
    func acceptNew() async throws {
        let server = try SSHServer()
        let file = server.directory.path + "/new_known_hosts"
        _ = try await SSHSession.connect(to: server.target(policy: .acceptNew, knownHosts: file))
        let found = try sh("ssh-keygen -F '[\(server.address)]:\(server.port)' -f \(file)")
        #expect(found.contains("ssh-ed25519"))
        _ = try await SSHSession.connect(to: server.target(policy: .strict, knownHosts: file))
    }

    @Test("a changed host key refuses under every policy but insecure, naming host, file, line and ssh-keygen -R")
    func changedKey() async throws {
        let server = try SSHServer()
        let other = server.directory.path + "/other_key"
        try sh("ssh-keygen -q -t ed25519 -N '' -f \(other)")
        let otherPublic = try String(contentsOfFile: other + ".pub", encoding: .utf8).split(separator: " ").prefix(2).joined(separator: " ")
        let file = server.directory.path + "/changed_known_hosts"
        try "# comment\nunrelated.example ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n[\(server.address)]:\(server.port) \(otherPublic)\n"
            .write(toFile: file, atomically: true, encoding: .utf8)
        for policy in [HostKeyPolicy.strict, .acceptNew] {
            let error = await #expect(throws: SSHError.self) {
                _ = try await SSHSession.connect(to: server.target(policy: policy, knownHosts: file))
            }
            #expect(error?.code == .hostKeyChanged)
            #expect(error?.message.contains("\(file) line 3") == true)
            #expect(error?.message.contains("ssh-keygen -R '[\(server.address)]:\(server.port)'") == true)
        }
        let session = try await SSHSession.connect(to: server.target(policy: .insecure, knownHosts: file))
        #expect(try await session.execute("true").succeeded)
    }

    @Test("connecting to a closed port fails fast with the reason; a silent host times out")
    func connectFailures() async throws {
        let port = try FreePort.find()
        var target = SSHTarget(alias: "closed", hostName: "127.0.0.1", port: port, user: "nobody", connectTimeout: 2)
        let refused = await #expect(throws: SSHError.self) { _ = try await SSHSession.connect(to: target) }
        #expect(refused?.code == .connect)
        // A listener that never speaks SSH: the handshake must time out, not hang.
        let listener = try background("/usr/bin/python3", ["-c", "import socket,time;s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1);s.bind(('127.0.0.1',\(port)));s.listen();c=s.accept();time.sleep(30)"])
        defer { listener.terminate() }
        usleep(300_000)
        target.connectTimeout = 1
        let started = Date()
        let silent = await #expect(throws: SSHError.self) { _ = try await SSHSession.connect(to: target) }
        #expect(silent?.code == .connectTimeout)
        #expect(Date().timeIntervalSince(started) < 5)
    }
}
