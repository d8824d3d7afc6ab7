import FabCore
import FabSSH
import FabTestSupport
import Foundation
import Testing

/// sudo with a password on a real sshd whose sudoers requires one: the password is sent only
/// when fab's own prompt appears, and never shows up in output, results, argv or files.
@Suite("sudo", .serialized, .timeLimit(.minutes(1)))
struct SudoTests {
    /// A test account whose sudoers entry needs its password, with extra `Defaults` for it.
    struct SudoAccount {
        let user: TestUser
        let password: String
        let sudoers: String

        init(_ name: String, defaults: [String] = []) throws {
            // Quotes, `$()`, a space and a per-run part, so a leak can be searched for anywhere.
            password = "pw '\(UUID().uuidString.prefix(8))' $(touch /tmp/fab-sudo-pw-marker) \"q\""
            user = try TestUser.named(name, password: password)
            sudoers = "/etc/sudoers.d/\(name)"
            let rules = ["\(name) ALL=(ALL) ALL"] + defaults.map { "Defaults:\(name) \($0)" }
            try (rules.joined(separator: "\n") + "\n").write(toFile: sudoers, atomically: true, encoding: .utf8)
            chmod(sudoers, 0o440)
            // Start without cached credentials.
            try? FileManager.default.removeItem(atPath: "/run/sudo/ts/\(name)")
        }

        func remove() {
            try? FileManager.default.removeItem(atPath: sudoers)
            try? FileManager.default.removeItem(atPath: "/run/sudo/ts/\(user.name)")
        }
    }

    /// A runtime whose sudo password requests are counted and answered with `answer`.
    static func runtime(_ server: SSHServer, _ output: CapturedOutput, asked: Counter, answer: String?) -> FabRuntime {
        makeRuntime(["db1": server], output: output) { request in
            guard case .sudoPassword = request else { return nil }
            asked.increment()
            return answer.map { Secret($0) }
        }
    }

    /// Every text a result carries.
    static func fields(_ result: CommandResult) -> [String] {
        [result.command, result.executed, result.stdout, result.stderr, result.output, "\(result)"]
    }

    /// Files under the temporary folders and `home` changed since `stamp` that contain `text`.
    static func filesContaining(_ text: String, since stamp: String, home: String) throws -> [String] {
        let found = try TestShell.run("/usr/bin/find", ["/tmp", "/var/tmp", home, "-xdev", "-type", "f",
                                                        "-newer", stamp, "-size", "-20M"]).stdout
        let needle = Data(text.utf8)
        return found.split(separator: "\n").map(String.init).filter { path in
            guard let data = FileManager.default.contents(atPath: path) else { return false }
            return data.range(of: needle) != nil
        }
    }

    @Test("without a pty: the password is sent only at fab's prompt, asked once, and never in output, results, argv or files")
    func withoutPTY() async throws {
        let account = try SudoAccount("fabsudo", defaults: ["timestamp_timeout=0"])
        defer { account.remove() }
        let stampDirectory = try TemporaryDirectory.make(prefix: "fab-sudo-stamp")
        defer { try? FileManager.default.removeItem(at: stampDirectory) }
        let stamp = stampDirectory.appendingPathComponent("stamp").path
        _ = FileManager.default.createFile(atPath: stamp, contents: nil)
        usleep(20_000) // files written from now on are newer than the stamp
        let server = try SSHServer(user: account.user)
        let output = CapturedOutput()
        let asked = Counter()
        let fab = Fab(host: "db1", runtime: Self.runtime(server, output, asked: asked, answer: account.password))

        // timestamp_timeout=0: sudo prompts every time, and fab answers every time from memory.
        let root = try await fab.sudo("id -un")
        #expect(root.stdout == "root\n")
        #expect(root.stderr == "")
        let nobody = try await fab.sudo("id -un", user: "nobody")
        #expect(nobody.stdout == "nobody\n")
        #expect(asked.value == 1)
        // The password went to sudo, and the command's stdin is exactly what was given.
        let input = "line one\nline 'two' $(x)\n"
        let cat = try await fab.sudo("cat", stdin: input)
        #expect(cat.stdout == input)
        try await fab.put("/etc/hostname", "/root/hostname-copy", mode: 0o600, owner: "root:root")
        #expect(try await fab.sudo("stat -c '%U %a' /root/hostname-copy; rm /root/hostname-copy").output == "root 600")

        // The remote process list, polled while a command runs under sudo.
        let running = Task { try await fab.sudo("sleep 1.5; echo slept") }
        var sawCommand = false
        var leaked = false
        let pollUntil = Date().addingTimeInterval(10)
        while Date() < pollUntil {
            let list = try TestShell.run("/bin/ps", ["-eo", "args"]).stdout
            sawCommand = sawCommand || list.contains("sleep 1.5; echo slept")
            leaked = leaked || list.contains(account.password)
            if sawCommand && (try? TestShell.run("/usr/bin/pgrep", ["-f", "sleep 1[.]5; echo slept"]).status) == 1 { break }
            usleep(20_000)
        }
        let slept = try await running.value
        #expect(slept.stdout == "slept\n")
        #expect(sawCommand)
        #expect(!leaked)

        for result in [root, nobody, cat, slept] {
            for text in Self.fields(result) { #expect(!text.contains(account.password)) }
            #expect(!result.stdout.contains("fab-sudo") && !result.stderr.contains("fab-sudo"))
            #expect(!result.stderr.contains("\u{1E}"))
        }
        #expect(!output.value.contains(account.password))
        #expect(!output.value.contains("] password: "))
        #expect(try Self.filesContaining(account.password, since: stamp, home: account.user.home).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: "/tmp/fab-sudo-pw-marker"))
    }

    @Test("with a pty: no echo, prompt or extra newline in output or results, twice in one run")
    func withPTY() async throws {
        let account = try SudoAccount("fabsudo", defaults: ["timestamp_timeout=0"])
        defer { account.remove() }
        let server = try SSHServer(user: account.user)
        let output = CapturedOutput()
        let asked = Counter()
        let fab = Fab(host: "db1", runtime: Self.runtime(server, output, asked: asked, answer: account.password))
        let first = try await fab.sudo("id -un", pty: true)
        let second = try await fab.sudo("id -un; tty >/dev/null && echo on-a-tty", user: "nobody", pty: true)
        #expect(first.stdout == "root\r\n")
        #expect(second.stdout == "nobody\r\non-a-tty\r\n")
        #expect(asked.value == 1)
        for result in [first, second] {
            for text in Self.fields(result) { #expect(!text.contains(account.password)) }
            #expect(!result.stdout.contains("fab-sudo"))
        }
        #expect(!output.value.contains(account.password))
        #expect(!output.value.contains("] password: "))
    }

    @Test("cached credentials: sudo does not prompt, and the command's stdin is exactly the user's")
    func cachedCredentials() async throws {
        let account = try SudoAccount("fabsudocache", defaults: ["timestamp_type=global", "timestamp_timeout=5"])
        defer { account.remove() }
        let server = try SSHServer(user: account.user)
        let output = CapturedOutput()
        let asked = Counter()
        let fab = Fab(host: "db1", runtime: Self.runtime(server, output, asked: asked, answer: account.password))
        try await fab.sudo("true")
        #expect(asked.value == 1)
        // Same run, credentials now cached: the password must not precede the command's input.
        #expect(try await fab.sudo("cat", stdin: "data\n").stdout == "data\n")
        // Secret environment values travel on stdin too: they reach the command under sudo intact.
        let token = try await fab.withEnv(secrets: ["TOKEN": Secret("tok 'en'")]) {
            try await fab.sudo("printf '%s|' \"$TOKEN\"; cat", stdin: "rest")
        }
        #expect(token.stdout == "tok 'en'|rest")

        // A second run with no password to give: it succeeds only if sudo really did not prompt.
        let unasked = Counter()
        let cached = Fab(host: "db1", runtime: Self.runtime(server, output, asked: unasked, answer: nil))
        #expect(try await cached.sudo("cat", stdin: "only this").stdout == "only this")
        #expect(try await cached.sudo("id -un", pty: true).stdout == "root\r\n")
        #expect(unasked.value == 0)
        #expect(!output.value.contains(account.password))
    }

    @Test("a wrong password fails with .sudoPassword promptly, is sent once, forgotten, and leaves no sudo behind",
          arguments: [(3, false), (3, true), (1, false)])
    func wrongPassword(tries: Int, pty: Bool) async throws {
        let account = try SudoAccount("fabsudowrong", defaults: ["timestamp_timeout=0", "passwd_tries=\(tries)"])
        defer { account.remove() }
        let server = try SSHServer(user: account.user)
        let output = CapturedOutput()
        let asked = Counter()
        let fab = Fab(host: "db1", runtime: Self.runtime(server, output, asked: asked, answer: "not the password"))
        let started = Date()
        let error = await #expect(throws: FabError.self) {
            try await fab.sudo("cat", pty: pty, timeout: 30, stdin: "user data\n")
        }
        #expect(error?.code == .sudoPassword)
        #expect(error?.description.contains("refused the password") == true)
        #expect(Date().timeIntervalSince(started) < 10)
        // Forgotten: the next sudo asks again, and fails the same way.
        await #expect(throws: FabError.self) { try await fab.sudo("true", pty: pty, timeout: 30) }
        #expect(asked.value == 2)
        usleep(500_000)
        #expect(try TestShell.run("/usr/bin/pgrep", ["-U", account.user.name, "-f", "fab-sudo"]).status == 1)
        #expect(!output.value.contains("not the password"))
    }

    @Test("a good password for a command sudoers does not allow is a command failure with sudo's words, not a refused password")
    func commandNotAllowed() async throws {
        let account = try SudoAccount("fabsudo", defaults: ["timestamp_timeout=0"])
        defer { account.remove() }
        try "fabsudo ALL=(root) /usr/bin/id\nDefaults:fabsudo timestamp_timeout=0\n".write(toFile: account.sudoers, atomically: true, encoding: .utf8)
        let server = try SSHServer(user: account.user)
        let asked = Counter()
        let fab = Fab(host: "db1", runtime: Self.runtime(server, CapturedOutput(), asked: asked, answer: account.password))
        let failure = await #expect(throws: CommandFailure.self) { try await fab.sudo("true", timeout: 30) }
        #expect(failure?.result.stderr.contains("not allowed") == true)
        #expect(asked.value == 1)
    }

    @Test("no password to give: the error says how to give one without a terminal")
    func noPassword() async throws {
        let account = try SudoAccount("fabsudo", defaults: ["timestamp_timeout=0"])
        defer { account.remove() }
        let server = try SSHServer(user: account.user)
        let fab = Fab(host: "db1", runtime: Self.runtime(server, CapturedOutput(), asked: Counter(), answer: nil))
        let error = await #expect(throws: FabError.self) { try await fab.sudo("true", timeout: 30) }
        #expect(error?.code == .sudoPassword)
        #expect(error?.description.contains("--sudo-password-file") == true)
        #expect(error?.description.contains("FAB_SUDO_PASSWORD_FILE") == true)
    }

    @Test("after sudo is satisfied, a command printing fab's prompt gets no password", arguments: [false, true])
    func promptAfterStartIsNotAnswered(pty: Bool) async throws {
        let account = try SudoAccount("fabsudo", defaults: ["timestamp_timeout=0"])
        defer { account.remove() }
        let server = try SSHServer(user: account.user)
        let output = CapturedOutput()
        let fab = Fab(host: "db1", runtime: Self.runtime(server, output, asked: Counter(), answer: account.password))
        let first = try await fab.sudo("true")
        let range = try #require(first.executed.firstRange(of: #/\[fab-sudo:[0-9a-f]+\] password: /#))
        let prompt = String(first.executed[range])
        // On stderr, the stream sudo's own prompt comes on (with a pty everything is one stream);
        // a second prompt is answered only if watching did not stop at the start marker.
        let phishing = try await fab.sudo("printf '%s' \(fab.quote(prompt)) >&2; x=$(timeout 2 head -n 1); echo \"got:$x\"",
                                          user: "nobody", pty: pty, timeout: 30)
        #expect(phishing.stdout.replacingOccurrences(of: "\r", with: "").hasSuffix("got:\n"))
        #expect((phishing.stdout + phishing.stderr).contains(prompt))
        for text in Self.fields(phishing) { #expect(!text.contains(account.password)) }
        #expect(!output.value.contains(account.password))
    }
}

final class Counter: @unchecked Sendable {
    // Incremented from the session queue; read after the calls.
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}
