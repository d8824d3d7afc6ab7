import FabCore
import FabProcess
import FabSSH
import FabTestSupport
import Foundation
import Testing

/// cd's `~` and options, secret environment values kept off command lines, and the temporaries
/// uploads leave (and sweep), against a real sshd on this machine.
@Suite("Scopes, secrets and litter", .serialized)
final class ScopeAndLitterTests {
    let server: SSHServer
    let user: TestUser
    let output = CapturedOutput()
    let fab: Fab
    let base: String

    init() async throws {
        user = try TestUser.named("fabcorpus")
        try CorpusSudo.acquire()
        server = try SSHServer(user: user)
        fab = Fab(host: "h", runtime: makeRuntime(["h": server], output: output))
        base = "/tmp/fab-litter-\(UUID().uuidString.prefix(8))"
        try await fab.run("mkdir -m 777 \(fab.quote(base))")
    }

    deinit {
        try? FileManager.default.removeItem(atPath: base)
        CorpusSudo.release()
    }

    @Test("cd expands a leading ~ and ~user as the shell would, and takes -P and - as directory names")
    func tilde() async throws {
        let home = user.home
        try await fab.run("mkdir -p 'sub dir' ./-P ./- && mkdir -p \(fab.quote(base + "/-x"))")
        #expect(try await fab.cd("~") { try await fab.run("pwd") }.output == home)
        #expect(try await fab.cd("~/sub dir") { try await fab.run("pwd") }.output == home + "/sub dir")
        #expect(try await fab.cd("~") { try await fab.cd("sub dir") { try await fab.run("pwd") } }.output == home + "/sub dir")
        #expect(try await fab.cd("~fabcorpus/sub dir") { try await fab.run("pwd") }.output == home + "/sub dir")
        #expect(try await fab.cd("-P") { try await fab.run("pwd") }.output == home + "/-P")
        #expect(try await fab.cd("-") { try await fab.run("pwd") }.output == home + "/-")
        #expect(try await fab.cd(base) { try await fab.cd("-x") { try await fab.run("pwd") } }.output == base + "/-x")
        #expect(try await fab.cd("~root") { try await fab.sudo("pwd") }.output == "/root")
        #expect(try await fab.cd("~") { try await fab.sudo("pwd") }.output == "/root")
        await #expect(throws: CommandFailure.self) { try await fab.cd("~nosuchuser-x") { try await fab.run("true") } }
    }

    @Test("contains on a host without perl is an error, never a silent 'not found' that would make append duplicate lines")
    func containsWithoutPerl() async throws {
        let file = base + "/lines"
        try "x\n".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try await fab.contains(file, "x", exact: true))
        let error = await #expect(throws: FabError.self) {
            try await self.fab.withEnv(["PATH": "/nonexistent"]) { try await self.fab.append(file, ["x"]) }
        }
        #expect(error?.message.contains("perl") == true)
        #expect(FileManager.default.contents(atPath: file) == Data("x\n".utf8))
    }

    @Test("sed keeps the file's mode and owner, also run with sudo as root, and keeps the backup")
    func sedKeepsModeAndOwner() async throws {
        let file = base + "/app.conf"
        try "listen 80\n".write(toFile: file, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o640, .ownerAccountName: user.name], ofItemAtPath: file)
        try await fab.sed(file, "80", "8080", useSudo: true)
        let attributes = try FileManager.default.attributesOfItem(atPath: file)
        #expect(attributes[.ownerAccountName] as? String == user.name)
        #expect(attributes[.posixPermissions] as? Int == 0o640)
        #expect(FileManager.default.contents(atPath: file) == Data("listen 8080\n".utf8))
        #expect(FileManager.default.contents(atPath: file + ".bak") == Data("listen 80\n".utf8))
    }

    /// Every process's command line on this machine (the host is this machine).
    static func commandLines() -> [Data] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.filter { Int($0) != nil }.compactMap { FileManager.default.contents(atPath: "/proc/\($0)/cmdline") }
    }

    /// Runs `body` while polling the process list; returns whether `needle` was in any command
    /// line, and whether the `sleep 1.5` the command runs was seen (so the polling overlapped it).
    func poll(for needle: String, while body: @escaping @Sendable () async throws -> CommandResult) async throws
        -> (seen: Bool, overlapped: Bool, result: CommandResult) {
        let task = Task { try await body() }
        var seen = false, overlapped = false
        let needleBytes = Data(needle.utf8), sleepBytes = Data("sleep\u{0}1.5".utf8)
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            for line in Self.commandLines() {
                if line.range(of: needleBytes) != nil { seen = true }
                if line.range(of: sleepBytes) != nil { overlapped = true }
            }
            if overlapped && seen { break }
            try await Task.sleep(nanoseconds: 20_000_000)
            if overlapped, !Self.commandLines().contains(where: { $0.range(of: sleepBytes) != nil }) { break }
        }
        return (seen, overlapped, try await task.value)
    }

    @Test("withEnv(secrets:) values never appear in the process list, the result or the output; plain withEnv values do")
    func secrets() async throws {
        let secret = "tok-\(UUID().uuidString)-'\"$x\\n"
        let out = base + "/secret"
        let fab = self.fab
        let command = "sleep 1.5; printf %s \"$TOKEN\" > \(fab.quote(out)); cat"
        for useSudo in [false, true] {
            let probe = try await poll(for: secret) {
                try await fab.withEnv(secrets: ["TOKEN": Secret(secret)]) {
                    useSudo ? try await fab.sudo(command) : try await fab.run(command, stdin: "own input\n")
                }
            }
            #expect(probe.overlapped, "the polling never saw the command run")
            #expect(!probe.seen, "the secret was in a command line (sudo: \(useSudo))")
            #expect(FileManager.default.contents(atPath: out) == Data(secret.utf8))
            #expect(probe.result.stdout == (useSudo ? "" : "own input\n"))
            for field in [probe.result.command, probe.result.executed, probe.result.stdout, probe.result.stderr] {
                #expect(!field.contains(secret))
            }
        }
        // (The command prints the value itself: its output is hidden, as a fabfile would.)
        let local = try await fab.withEnv(secrets: ["TOKEN": Secret(secret)]) {
            try await fab.hide(.stdout) { try await fab.local("printf %s \"$TOKEN\"") }
        }
        #expect(local.stdout == secret && !local.executed.contains(secret))
        #expect(!output.value.contains(secret))
        #expect(!server.log.contains(secret))
        // The control: the same value through plain withEnv is on the command line, and the polling sees it.
        let plain = "plain-\(UUID().uuidString)"
        let control = try await poll(for: plain) {
            try await fab.withEnv(["TOKEN": plain]) { try await fab.run(command) }
        }
        #expect(control.seen && control.overlapped)
        let pty = await #expect(throws: FabError.self) {
            try await fab.withEnv(secrets: ["TOKEN": Secret(secret)]) { try await fab.run("true", pty: true) }
        }
        #expect(pty?.message.contains("pty") == true)
        #expect(pty.map { !"\($0)".contains(secret) } == true)
    }

    @Test("secret values reach a command run by a sudo that asks for its password, ahead of the command's own input, with and without cached credentials")
    func secretsWithSudoPassword() async throws {
        let password = "pw-\(UUID().uuidString.prefix(8))"
        let user = try TestUser.named("fabcorpuspw", password: password)
        let sudoers = "/etc/sudoers.d/fabcorpuspw"
        try "fabcorpuspw ALL=(ALL) ALL\n".write(toFile: sudoers, atomically: true, encoding: .utf8)
        chmod(sudoers, 0o440)
        defer { try? FileManager.default.removeItem(atPath: sudoers) }
        let server = try SSHServer(user: user)
        let output = CapturedOutput()
        let fab = Fab(host: "p", runtime: makeRuntime(["p": server], output: output) { request in
            guard case .sudoPassword = request else { return nil }
            return Secret(password)
        })
        let secret = "tok-\(UUID().uuidString)\nline 2"
        let out = base + "/sudo-secret"
        for _ in 0..<2 {  // the second time sudo may have the credentials cached
            try? FileManager.default.removeItem(atPath: out)
            let result = try await fab.withEnv(secrets: ["TOKEN": Secret(secret)]) {
                try await fab.sudo("printf %s \"$TOKEN\" > \(fab.quote(out)); id -un; cat", stdin: "own input\n")
            }
            #expect(result.output == "root\nown input")
            #expect(FileManager.default.contents(atPath: out) == Data(secret.utf8))
            for field in [result.executed, result.stdout, result.stderr] {
                #expect(!field.contains(secret) && !field.contains(password))
            }
        }
        #expect(!output.value.contains(secret) && !output.value.contains(password))
    }

    /// A pid that is certainly not running: a child that has exited and been reaped.
    static func deadPid() throws -> Int32 {
        let child = try ChildProcess.spawn(executable: "/bin/true")
        try child.wait(deadline: .seconds(10))
        return child.pid
    }

    @Test("the next put into a directory removes the temporaries a killed fab left there, and nothing else")
    func sweep() async throws {
        let directory = base + "/sweep"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o777])
        let machine = TemporaryNames.machine, dead = try Self.deadPid()
        let other = machine == "0000abcd" ? "0000abce" : "0000abcd"
        let stale = [".app.conf.fab-\(machine)-\(dead)-0badc0de", ".old.fab-\(other)-77-0badc0de"]
        let kept = [".app.conf.fab-\(machine)-1-0badc0de", ".new.fab-\(other)-77-0badc0de", ".app.conf.fab-notours",
                    "app.fab-\(machine)-\(dead)-0badc0de", ".app.conf.fab-\(machine)-\(dead)-0badc0dex"]
        // Abandoned by its name, but another account's (root's): not the login user's to remove.
        let othersFile = ".app.conf.fab-\(machine)-\(dead)-feedf00d"
        for name in stale + kept + [othersFile] {
            #expect(FileManager.default.createFile(atPath: directory + "/" + name, contents: Data("x".utf8)))
            if name != othersFile {
                try FileManager.default.setAttributes([.ownerAccountName: user.name], ofItemAtPath: directory + "/" + name)
            }
        }
        let twoHoursAgo = Date().addingTimeInterval(-7200)
        for name in [stale[1], kept[2], kept[3], kept[4]] {
            try FileManager.default.setAttributes([.modificationDate: twoHoursAgo], ofItemAtPath: directory + "/" + name)
        }
        try await fab.put("/etc/hostname", directory + "/app.conf")
        let left = Set(try FileManager.default.contentsOfDirectory(atPath: directory))
        #expect(left == Set(kept + [othersFile, "app.conf"]))
    }

    @Test("the next get into a local directory removes the download temporaries a killed fab left there")
    func localSweep() async throws {
        let local = try TemporaryDirectory.make(prefix: "fab-litter-get")
        defer { try? FileManager.default.removeItem(at: local) }
        let dead = try Self.deadPid()
        let stale = ".got.fab-\(TemporaryNames.machine)-\(dead)-0badc0de"
        let kept = [".got.fab-\(TemporaryNames.machine)-1-0badc0de", ".got.fab-\(TemporaryNames.machine)-\(getpid())-0badc0de", "got.fab-x"]
        for name in [stale] + kept { #expect(FileManager.default.createFile(atPath: local.path + "/" + name, contents: nil)) }
        try await fab.get("/etc/hostname", local.path + "/got")
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: local.path)) == Set(kept + ["got"]))
    }

    @Test("a sudo put stages in a private directory that is removed, and sweeps the staging a killed fab left")
    func sudoStaging() async throws {
        let dead = try Self.deadPid()
        let abandoned = "/tmp/fab-put-\(TemporaryNames.machine)-\(dead)-AbCdEf1234"
        let live = "/tmp/fab-put-\(TemporaryNames.machine)-1-AbCdEf1234"
        // Made on another machine: removed after a day without a change, kept before.
        let other = TemporaryNames.machine == "0000abcd" ? "0000abce" : "0000abcd"
        let oldForeign = "/tmp/fab-put-\(other)-77-OldOldOld1", recentForeign = "/tmp/fab-put-\(other)-77-NewNewNew1"
        defer { for path in [live, recentForeign, oldForeign] { try? FileManager.default.removeItem(atPath: path) } }
        for path in [abandoned, live, oldForeign, recentForeign] {
            try FileManager.default.createDirectory(atPath: path + "/tree", withIntermediateDirectories: true)
            try FileManager.default.setAttributes([.ownerAccountName: user.name], ofItemAtPath: path)
            try FileManager.default.setAttributes([.ownerAccountName: user.name], ofItemAtPath: path + "/tree")
        }
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-2 * 86_400)], ofItemAtPath: oldForeign)
        try FileManager.default.setAttributes([.modificationDate: Date().addingTimeInterval(-7200)], ofItemAtPath: recentForeign)
        try await fab.put("/etc/hostname", base + "/by-root", useSudo: true)
        #expect(!FileManager.default.fileExists(atPath: abandoned))
        #expect(FileManager.default.fileExists(atPath: live))
        #expect(!FileManager.default.fileExists(atPath: oldForeign))
        #expect(FileManager.default.fileExists(atPath: recentForeign))
        #expect(try HostileStringTests.stagingDirectories().isEmpty)
        // A failing sudo move removes the staging too.
        await #expect(throws: CommandFailure.self) { try await self.fab.put("/etc/hostname", "/nonexistent/dir/x", useSudo: true) }
        #expect(try HostileStringTests.stagingDirectories().isEmpty)
    }

    @Test("an interrupted put (task cancelled, as Ctrl-C does) leaves no temporary beside the target nor in /tmp")
    func interrupted() async throws {
        let local = try TemporaryDirectory.make(prefix: "fab-litter-local")
        defer { try? FileManager.default.removeItem(at: local) }
        let big = local.path + "/big"
        #expect(FileManager.default.createFile(atPath: big, contents: nil))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: big))
        try handle.truncate(atOffset: 400 << 20)
        try handle.close()
        let fab = self.fab, base = self.base
        for useSudo in [false, true] {
            let target = base + "/big-\(useSudo)"
            let upload = Task { try await fab.put(big, target, useSudo: useSudo) }
            // Wait until the upload is under way (its temporary or staging directory exists), then interrupt it.
            let deadline = Date().addingTimeInterval(20)
            while Date() < deadline {
                let beside = try FileManager.default.contentsOfDirectory(atPath: base).contains { $0.hasPrefix(".big-\(useSudo).fab-") }
                let staged = try HostileStringTests.stagingDirectories().contains {
                    !((try? FileManager.default.contentsOfDirectory(atPath: "/tmp/\($0)")) ?? []).isEmpty
                }
                if beside || staged { break }
                try await Task.sleep(nanoseconds: 5_000_000)
            }
            let t0 = Date()
            upload.cancel()
            await #expect(throws: (any Error).self) { try await upload.value }
            // Promptly: an interrupted upload must not leave the session waiting for replies.
            #expect(Date().timeIntervalSince(t0) < 10)
            let left = try FileManager.default.contentsOfDirectory(atPath: base).filter { $0.contains(".fab-") }
            #expect(left.isEmpty, "left beside the target: \(left)")
            #expect(!FileManager.default.fileExists(atPath: target))
            #expect(try HostileStringTests.stagingDirectories().isEmpty)
        }
    }

    @Test("uploadTemplate leaves nothing in the local temporary directory, whether the upload works or fails")
    func templateStaging() async throws {
        let local = try TemporaryDirectory.make(prefix: "fab-litter-template")
        defer { try? FileManager.default.removeItem(at: local) }
        try "v={{ v }}\n".write(toFile: local.path + "/t", atomically: true, encoding: .utf8)
        func staged() throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: FileManager.default.temporaryDirectory.path).filter { $0.hasPrefix("fab-template-") }
        }
        let before = try staged()
        try await fab.uploadTemplate(local.path + "/t", to: base + "/t", context: ["v": "1"])
        #expect(FileManager.default.contents(atPath: base + "/t") == Data("v=1\n".utf8))
        await #expect(throws: (any Error).self) {
            try await self.fab.uploadTemplate(local.path + "/t", to: "/nonexistent/dir/t", context: ["v": "1"])
        }
        #expect(try staged() == before)
        #expect(output.value.contains("put: \(local.path)/t -> \(base)/t"))
    }
}
