import FabSSH
import FabTestSupport
import Foundation
import Testing

/// Command lines longer than one SSH exec request carries are refused with what to do instead.
@Suite("Command length")
struct CommandLengthTests {
    /// The longest line libssh2 1.10 sends in one exec request (measured: one byte more fails with -34).
    static let limit = 34_725

    @Test("a command line at the limit runs; one byte more is refused with its size, the limit and what to do")
    func limit() async throws {
        let server = try SSHServer()
        let session = try await SSHSession.connect(to: server.target())
        let options = ExecOptions(stopOnInterrupt: false) // no pid prefix: the line is exactly the command
        let fits = "echo ok #" + String(repeating: "x", count: Self.limit - 9)
        #expect(fits.utf8.count == Self.limit)
        let result = try await session.execute(fits, options: options)
        #expect(result.succeeded)
        #expect(result.stdout == "ok\n")

        let error = await #expect(throws: SSHError.self) {
            try await session.execute(fits + "x", options: options)
        }
        #expect(error?.code == .commandTooLong)
        #expect(error?.description.contains("\(Self.limit + 1) bytes") == true)
        #expect(error?.description.contains("at most \(Self.limit)") == true)
        #expect(error?.description.contains("fab.put") == true)
        // The session is still usable after the refusal.
        #expect(try await session.execute("echo again").stdout == "again\n")
        await session.close()
        server.stop()
    }
}
