import FabSSH
import FabTestSupport
import Foundation
import Testing
@testable import FabCLI

/// Giving fab the sudo password without a terminal and without argv.
@Suite("fab sudo password options", .serialized)
struct SudoPasswordFileTests {
    @Test("--sudo-password-file: refused when others can read it or someone else owns it; a 0600 file (or FAB_SUDO_PASSWORD_FILE) answers sudo")
    func passwordFile() throws {
        let name = "fabsudocli"
        let password = "cli '\(UUID().uuidString.prefix(8))' $(x)"
        let user = try TestUser.named(name, password: password)
        let uid = try #require(getpwnam(name)).pointee.pw_uid
        let sudoers = "/etc/sudoers.d/\(name)"
        try "\(name) ALL=(ALL) ALL\nDefaults:\(name) timestamp_timeout=0\n".write(toFile: sudoers, atomically: true, encoding: .utf8)
        chmod(sudoers, 0o440)
        defer { try? FileManager.default.removeItem(atPath: sudoers) }
        let server = try SSHServer(user: user)
        let fab = try FabProcess(fixture: "remote")
        defer { fab.remove() }
        let config = fab.directory.appendingPathComponent("ssh_config").path
        try server.sshConfigBlock(alias: "s1").write(toFile: config, atomically: true, encoding: .utf8)
        let file = fab.directory.appendingPathComponent("sudo-password").path
        try (password + "\n").write(toFile: file, atomically: true, encoding: .utf8)

        chmod(file, 0o644)
        let readable = try fab.run(["-F", config, "-H", "s1", "--sudo-password-file", file, "sudoWhoami"])
        #expect(readable.status == 64, "\(readable.stderr)")
        #expect(readable.stderr.contains("--sudo-password-file \(file) has mode 644"))
        #expect(readable.stderr.contains("chmod 600"))
        #expect(!readable.stdout.contains("sudo: id -un"))

        chmod(file, 0o600)
        chown(file, uid, 0)
        let foreign = try fab.run(["-F", config, "-H", "s1", "--sudo-password-file", file, "sudoWhoami"])
        #expect(foreign.status == 64, "\(foreign.stderr)")
        #expect(foreign.stderr.contains("is owned by uid \(uid)"))
        chown(file, 0, 0)

        let given = try fab.run(["-F", config, "-H", "s1", "--sudo-password-file", file, "sudoWhoami"])
        #expect(given.status == 0, "\(given.stderr)")
        #expect(given.stdout.contains("[s1] out: root"))
        let fromEnvironment = try fab.run(["-F", config, "-H", "s1", "sudoWhoami"],
                                          environment: ["FAB_SUDO_PASSWORD_FILE": file])
        #expect(fromEnvironment.status == 0, "\(fromEnvironment.stderr)")
        #expect(fromEnvironment.stdout.contains("[s1] out: root"))
        for output in [readable, foreign, given, fromEnvironment] {
            #expect(!output.stdout.contains(password) && !output.stderr.contains(password))
        }
    }

    @Test("--sudo-password-fd reads one line from the descriptor and closes it")
    func descriptor() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        _ = "from fd\n".withCString { write(fds[1], $0, strlen($0)) }
        close(fds[1])
        let secret = try #require(try SudoPasswordSource.load(file: nil, descriptor: fds[0], environment: [:]))
        #expect(secret.withRevealed { $0 } == "from fd")
        #expect(fcntl(fds[0], F_GETFD) == -1) // closed
        #expect(try SudoPasswordSource.load(file: nil, descriptor: nil, environment: [:]) == nil)
    }
}
