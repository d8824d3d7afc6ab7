import FabCore
import FabSSH
import FabTestSupport
import Foundation
import Testing

/// sudo with a password asked once, sent on stdin and never shown.
@Suite("sudo", .serialized)
struct SudoTests {
    @Test("sudo with a password: asked once, sent on stdin, never in the command line or output")
    func password() async throws {
        let password = "pw with 'quotes' $(x)"
        let user = try TestUser.named("fabsudo", password: password)
        try "fabsudo ALL=(ALL) ALL\n".write(toFile: "/etc/sudoers.d/fabsudo", atomically: true, encoding: .utf8)
        chmod("/etc/sudoers.d/fabsudo", 0o440)
        defer { try? FileManager.default.removeItem(atPath: "/etc/sudoers.d/fabsudo") }
        let server = try SSHServer(user: user)
        let output = CapturedOutput()
        let asked = Counter()
        let runtime = makeRuntime(["db1": server], output: output) { request in
            guard case .sudoPassword = request else { return nil }
            asked.increment()
            return Secret(password)
        }
        let fab = Fab(host: "db1", runtime: runtime)
        let root = try await fab.sudo("id -un")
        #expect(root.output == "root")
        #expect(try await fab.sudo("id -un", user: "nobody").output == "nobody")
        try await fab.put("/etc/hostname", "/root/hostname-copy", mode: 0o600, owner: "root:root")
        #expect(try await fab.sudo("stat -c '%U %a' /root/hostname-copy").output == "root 600")
        #expect(asked.value == 1)
        #expect(!root.executed.contains(password))
        #expect(!output.value.contains(password))

        let wrong = Fab(host: "db1", runtime: makeRuntime(["db1": server], output: output) { _ in Secret("wrong") })
        let error = await #expect(throws: FabError.self) { try await wrong.sudo("true") }
        #expect(error?.code == .sudoPassword)
    }
}

final class Counter: @unchecked Sendable {
    // Incremented from the session queue; read after the calls.
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
