import FabCore
import FabSSH
import FabTestSupport
import Foundation
import Testing

/// The fabfile API against a real sshd: run, scopes, quoting, failures, local, transfers, helpers.
@Suite("Fab operations", .serialized)
struct OperationsTests {
    let server: SSHServer
    let output = CapturedOutput()
    let fab: Fab

    init() throws {
        server = try SSHServer()
        fab = Fab(host: "web1", runtime: makeRuntime(["web1": server], output: output))
    }

    func scratch() async throws -> String {
        let path = "/tmp/fab core \(UUID().uuidString.prefix(6))"
        try await fab.run("mkdir -p \(fab.quote(path))")
        return path
    }

    @Test("run returns stdout, stderr and status; output lines are prefixed with the host")
    func run() async throws {
        let result = try await fab.run("echo hello; echo oops >&2")
        #expect(result.output == "hello")
        #expect(result.stderr == "oops\n")
        #expect(result.succeeded)
        #expect(output.value.contains("[web1] run: echo hello; echo oops >&2\n"))
        #expect(output.value.contains("[web1] out: hello\n"))
        #expect(output.value.contains("[web1] err: oops\n"))
    }

    @Test("a failure names host, command, status and the last output; warn-only returns it instead")
    func failures() async throws {
        let error = await #expect(throws: CommandFailure.self) { try await fab.run("echo partial; echo broken >&2; exit 3") }
        let text = error.map { "\($0)" } ?? ""
        #expect(text.contains("[web1] run 'echo partial; echo broken >&2; exit 3' exited with status 3"))
        #expect(text.contains("broken"))
        let warned = try await fab.run("exit 4", warnOnly: true)
        #expect(warned.exitStatus == 4)
        let scoped = try await fab.warnOnly { try await fab.run("false") }
        #expect(scoped.failed)
    }

    @Test("cd, prefix and withEnv nest, quote their values and restore on every exit path")
    func scopes() async throws {
        let base = try await scratch()
        try await fab.run("mkdir -p \(fab.quote(base + "/sub dir"))")
        let inner = try await fab.cd(base) {
            try await fab.cd("sub dir") {
                try await fab.withEnv(["GREETING": "it's \"quoted\" $HOME"]) {
                    try await fab.prefix("export SUFFIX=ok") {
                        try await fab.run("pwd; printf '%s\\n' \"$GREETING\" \"$SUFFIX\"")
                    }
                }
            }
        }
        #expect(inner.stdout == "\(base)/sub dir\nit's \"quoted\" $HOME\nok\n")
        await #expect(throws: CommandFailure.self) {
            try await fab.cd(base) { try await fab.run("false") }
        }
        #expect(try await fab.run("pwd").output == "/home/\(server.user)")
    }

    @Test("hostile names survive quoting: spaces, quotes, ;, $(), backticks, newlines", arguments: [
        "with space", "single'quote", "double\"quote", "semi;colon", "$(touch PWNED)", "`touch PWNED`",
        "new\nline", "-dash", "glob*?[x]", "back\\slash", "&& touch PWNED", "'; touch PWNED; '",
    ])
    func quoting(name: String) async throws {
        let base = try await scratch()
        try await fab.cd(base) {
            try await fab.run("touch -- \(fab.quote(name))")
            #expect(try await fab.exists("\(base)/\(name)"))
            let echoed = try await fab.withEnv(["NAME": name]) { try await fab.run("printf '%s' \"$NAME\"") }
            #expect(echoed.stdout == name)
            try await fab.mkdirs("\(base)/dir \(name)")
            try await fab.append("\(base)/list", [name])
            #expect(try await fab.contains("\(base)/list", name, exact: !name.contains("\n")))
        }
        // Had any value escaped its quotes, `touch PWNED` would have run in one of these directories.
        #expect(try await !fab.exists(base + "/PWNED"))
        #expect(try await !fab.exists("PWNED"))
    }

    @Test("hide(.stdout) keeps a scope's command output off the screen, for remote and local commands")
    func hiding() async throws {
        let result = try await fab.hide(.stdout) {
            try await fab.run("echo secret-remote-line")
        }
        _ = try await fab.hide([.stdout, .running]) { try await fab.local("echo secret-local-line") }
        #expect(result.stdout == "secret-remote-line\n")
        #expect(!output.value.contains("out: secret-remote-line"))
        #expect(!output.value.contains("secret-local-line"))
        #expect(output.value.contains("[web1] run: echo secret-remote-line"))
    }

    @Test("local runs in lcd with the scope's environment, captured and streamed")
    func local() async throws {
        let directory = try TemporaryDirectory.make(prefix: "fab-lcd")
        let result = try await fab.lcd(directory.path) {
            try await fab.withEnv(["X": "y z"]) { try await fab.local("pwd; echo \"$X\"; echo e >&2") }
        }
        #expect(result.stdout == "\(directory.path)\ny z\n")
        #expect(result.stderr == "e\n")
        #expect(output.value.contains("[localhost] out: y z\n"))
        await #expect(throws: CommandFailure.self) { try await fab.local("exit 2") }
    }

    @Test("local stops at the scope's timeout with everything it started; a missing lcd is named")
    func localTimeout() async throws {
        let directory = try TemporaryDirectory.make(prefix: "fab-lcd")
        let pidFile = directory.path + "/pid"
        let started = ContinuousClock.now
        await #expect {
            try await fab.settings({ $0.commandTimeout = 1 }) {
                try await fab.local("sleep 60 & echo $! >\(fab.quote(pidFile)); wait")
            }
        } throws: { error in
            (error as? SSHError)?.code == .timeout && "\(error)".contains("local 'sleep 60")
        }
        #expect(ContinuousClock.now - started < .seconds(10))
        let pid = try #require(pid_t(try String(contentsOfFile: pidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)))
        // Gone, or a zombie waiting for init: not running either way.
        var state = "gone"
        if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") {
            state = stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces)
        }
        #expect(state == "gone" || state.hasPrefix("Z"), "the background sleep \(pid) outlived the timeout: \(state)")
        await #expect {
            try await fab.lcd(directory.path + "/missing") { try await fab.local("true") }
        } throws: { error in
            (error as? FabError)?.code == .localFile && "\(error)".contains(directory.path + "/missing")
        }
    }

    @Test("put and get: modes, directories, templates, %(host)s local paths")
    func transfers() async throws {
        let base = try await scratch()
        let local = try TemporaryDirectory.make(prefix: "fab-put")
        try "#!/bin/sh\necho hi\n".write(toFile: local.path + "/run.sh", atomically: true, encoding: .utf8)
        try await fab.put(local.path + "/run.sh", base + "/run.sh", mode: 0o755)
        #expect(try await fab.run(fab.quote(base + "/run.sh")).output == "hi")
        try "Hello {{ name }}, {% for p in ports %}{{ p }} {% endfor %}\n".write(toFile: local.path + "/t.conf", atomically: true, encoding: .utf8)
        try await fab.uploadTemplate(local.path + "/t.conf", to: base + "/t.conf", context: ["name": "web1", "ports": [80, 443]])
        #expect(try await fab.run("cat \(fab.quote(base + "/t.conf"))").stdout == "Hello web1, 80 443 \n")
        let fetched = try await fab.get(base + "/t.conf", local.path + "/%(host)s/%(basename)s")
        #expect(fetched == local.path + "/web1/t.conf")
        #expect(try String(contentsOfFile: fetched, encoding: .utf8) == "Hello web1, 80 443 \n")
        try sh("mkdir -p \(local.path)/tree/a && echo x > \(local.path)/tree/a/x")
        try await fab.put(local.path + "/tree", base + "/tree")
        #expect(try await fab.run("cat \(fab.quote(base + "/tree/a/x"))").output == "x")
        let missing = await #expect(throws: FabError.self) { try await fab.put(local.path + "/nope", base + "/nope") }
        #expect(missing?.message.contains("does not exist") == true)
        let badTemplate = local.path + "/bad.conf"
        try "{% for x in %}".write(toFile: badTemplate, atomically: true, encoding: .utf8)
        await #expect(throws: FabError.self) { try await fab.uploadTemplate(badTemplate, to: base + "/bad", context: [:]) }
        #expect(try await !fab.exists(base + "/bad"))
    }

    @Test("file helpers: exists, isLink, contains, idempotent append, sed with backup, comment and uncomment")
    func fileHelpers() async throws {
        let base = try await scratch()
        let file = base + "/app.conf"
        try await fab.append(file, ["listen 80", "user www/data"])
        try await fab.append(file, ["listen 80", "debug on"])
        #expect(try await fab.run("cat \(fab.quote(file))").stdout == "listen 80\nuser www/data\ndebug on\n")
        #expect(try await fab.contains(file, "www/data"))
        #expect(try await !fab.contains(file, "listen 8", exact: true))
        try await fab.sed(file, "www/data", "app/user")
        #expect(try await fab.contains(file, "user app/user"))
        #expect(try await fab.contains(file + ".bak", "user www/data"))
        try await fab.comment(file, "debug")
        #expect(try await fab.contains(file, "#debug on", exact: true))
        try await fab.uncomment(file, "debug")
        #expect(try await fab.contains(file, "debug on", exact: true))
        try await fab.run("ln -s app.conf \(fab.quote(base + "/link"))")
        #expect(try await fab.isLink(base + "/link"))
        #expect(try await !fab.isLink(file))
    }

    @Test("prompt takes --answer values, then defaults; without either it says how to answer")
    func prompts() async throws {
        let answered = Fab(host: nil, runtime: makeRuntime([:], output: output, answers: ["branch": "release", "Deploy?": "no"]))
        #expect(try answered.prompt("Which branch?", key: "branch") == "release")
        #expect(try answered.confirm("Deploy?") == false)
        #expect(try answered.prompt("Port?", default: "8080", validate: "[0-9]+") == "8080")
        let error = #expect(throws: FabError.self) { try answered.prompt("Name?") }
        #expect(error?.message.contains("--answer") == true)
    }

    @Test("a task with no host gets a clear error from run")
    func noHost() async throws {
        let hostless = Fab(host: nil, runtime: makeRuntime([:], output: output))
        let error = await #expect(throws: FabError.self) { try await hostless.run("true") }
        #expect(error?.message.contains("-H") == true)
    }

    @Test("dry-run prints commands and transfers without running them; probes still read state")
    func dryRun() async throws {
        let base = try await scratch()
        let dry = Fab(host: "web1", runtime: makeRuntime(["web1": server], output: output, dryRun: true))
        try await dry.run("touch \(dry.quote(base + "/made"))")
        try await dry.put("/etc/hostname", base + "/hostname")
        #expect(try await !dry.exists(base + "/made"))
        #expect(try await dry.exists(base))
        #expect(output.value.contains("[web1] run: touch '\(base)/made'"))
        #expect(output.value.contains("[web1] put: /etc/hostname -> \(base)/hostname"))
        #expect(try await !fab.exists(base + "/hostname"))
    }
}
