import FabSSH
import FabTestSupport
import Foundation
import Testing

/// Reaching hosts through jump hosts (ProxyJump) over real sshds.
@Suite("ProxyJump", .serialized)
struct ProxyJumpTests {
    @Test("a host behind one jump host runs commands and transfers files")
    func oneHop() async throws {
        let inner = try SSHServer(address: "127.0.0.2")
        let jump = try SSHServer(address: "127.0.0.1", options: Self.forwardingOnlyTo(inner))
        var target = inner.target(alias: "inner")
        target.jumpHosts = [jump.target(alias: "jump")]
        let session = try await SSHSession.connect(to: target)
        #expect(jump.log.contains("Accepted publickey"))
        let result = try await session.execute("seq 1 100000 | sha256sum")
        #expect(result.stdout == (try sh("seq 1 100000 | sha256sum")))
        for index in 0..<10 { #expect(try await session.execute("echo \(index)").stdout == "\(index)\n") }
    }

    @Test("a chain of two jump hosts")
    func twoHops() async throws {
        let inner = try SSHServer(address: "127.0.0.5")
        let second = try SSHServer(address: "127.0.0.4", options: Self.forwardingOnlyTo(inner))
        let first = try SSHServer(address: "127.0.0.3", options: Self.forwardingOnlyTo(second))
        var target = inner.target(alias: "inner")
        target.jumpHosts = [first.target(alias: "first"), second.target(alias: "second")]
        let session = try await SSHSession.connect(to: target)
        #expect(try await session.execute("echo hello").stdout == "hello\n")
        // Each jump host may only forward to the next hop, so success proves the chain's order.
        #expect(first.log.contains("Accepted publickey"))
        #expect(second.log.contains("Accepted publickey"))
    }

    /// A jump host that may forward only to `next`.
    static func forwardingOnlyTo(_ next: SSHServer) -> SSHServer.Options {
        var options = SSHServer.Options()
        options.extraConfig = ["PermitOpen \(next.address):\(next.port)"]
        return options
    }

    @Test("an unreachable host behind the jump host is named in the error")
    func unreachableInner() async throws {
        let jump = try SSHServer()
        let port = try FreePort.find()
        var target = SSHTarget(alias: "ghost", hostName: "127.0.0.1", port: port, user: jump.user, connectTimeout: 3)
        target.jumpHosts = [jump.target(alias: "jump")]
        let error = await #expect(throws: SSHError.self) { _ = try await SSHSession.connect(to: target) }
        #expect(error?.host == "ghost")
        #expect(error?.message.contains("port \(port)") == true)
    }
}
