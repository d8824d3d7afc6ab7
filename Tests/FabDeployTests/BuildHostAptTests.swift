import FabCore
import FabSSH
import FabTestSupport
import Foundation
import Testing
@testable import FabDeploy

/// The build host's apt-get: dpkg without fsync there and only there, lintian installed in the
/// background. BuildHostAptEndToEndTests (EndToEndTests) runs it on a clean machine.
@Suite("The build host's apt-get")
struct BuildHostAptTests {
    @Test("Only the build host's install may skip dpkg's fsync; its update skips translations")
    func unsafeIOIsOptIn() {
        let server = DeploymentCommands.aptInstall(["vrmd-whois=2"], allowDowngrades: true)
        #expect(!server.contains("unsafe-io"))
        #expect(server == "DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -o APT::Update::Error-Mode=any -q -y --no-install-recommends --allow-downgrades -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install vrmd-whois=2")
        #expect(DeploymentCommands.aptInstall(["gcc", "libpq-dev"], unsafeIO: true)
            .hasSuffix("-o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-unsafe-io install gcc libpq-dev"))
        #expect(!DeploymentCommands.aptUpdate().contains("Languages"))
        #expect(DeploymentCommands.aptUpdate(translations: false).contains(" -o Acquire::Languages=none -q update"))
        #expect(Deployment.Settings().buildHostUnsafeIO)
    }

    @Test("The background install is detached, bounded, quoted, and stopped by its own process")
    func backgroundCommands() {
        let hostile = "/home/d/.cache/a b'; rm -rf /"
        let start = DeploymentCommands.startBackgroundAptInstall(["lintian"], directory: hostile, unsafeIO: true, deadlineSeconds: 1200)
        #expect(start.hasPrefix(#"cd '/home/d/.cache/a b'\''; rm -rf /' && rm -f apt.out apt.pid apt.status apt.status.tmp && { trap '' HUP; setsid sh -c "#))
        #expect(start.contains("timeout -k 30 1200 apt-get ") && start.contains("--force-unsafe-io install lintian > apt.out 2>&1 &"))
        #expect(start.hasSuffix(" < /dev/null > /dev/null 2>&1 & }"))
        #expect(DeploymentCommands.waitForBackgroundApt(directory: hostile)
            == #"cd '/home/d/.cache/a b'\''; rm -rf /' && while [ ! -f apt.status ]; do sleep 0.2; done; tail -n 40 apt.out; exit "$(cat apt.status)""#)
        #expect(DeploymentCommands.stopBackgroundApt(directory: "/d").contains("[ ! -f apt.status ] && pid=$(cat apt.pid 2>/dev/null) && kill -TERM \"$pid\""))
    }

    @Test("lintian is installed later, unless lint is off or the project lists it; the rest first, each once")
    func phases() async throws {
        let deploy = try await Self.deployment(server: nil, output: CapturedOutput()) { _ in }
        let packages = deploy.buildHostPackages
        #expect(packages.now == ["python3.11", "python3.11-venv", "python3.11-dev", "gcc", "libc6-dev", "binutils", "patchelf", "dpkg-dev", "libpq-dev"])
        #expect(packages.later == ["lintian"])
        let unlinted = try await Self.deployment(server: nil, output: CapturedOutput()) { $0.lint.enabled = false }
        #expect(unlinted.buildHostPackages.later.isEmpty && !unlinted.buildHostPackages.now.contains("lintian"))
        let listed = try await Self.deployment(server: nil, output: CapturedOutput(), buildDeps: ["gcc", "lintian"]) { _ in }
        #expect(listed.buildHostPackages.later.isEmpty && listed.buildHostPackages.now.filter { $0 == "gcc" }.count == 1)
        #expect(Deployment.stepsBeforeBackgroundApt.isSubset(of: Set(BuildPipeline.defaultNames + ["project"])))
        #expect(!Deployment.stepsBeforeBackgroundApt.contains("gates") && !Deployment.stepsBeforeBackgroundApt.contains("cleanup"))
    }

    @Test("A dry run prints the build host's install with unsafe I/O and lintian's in the background, and a server's install without",
          .enabled(if: haveTool("/usr/sbin/sshd") && getuid() == 0))
    func dryRunShowsBothPhases() async throws {
        let server = try SSHServer()
        defer { server.stop() }
        let tmp = try TemporaryDirectory("apt-dry")
        defer { tmp.remove() }
        try tmp.write("project/app.py", "print('hi')\n")
        try mustRun(["/bin/sh", "-c", "cd \"$1\" && git init -q -b main . && git add -A && git -c user.name=t -c user.email=t@t commit -q -m one", "sh", tmp.path + "/project"])
        for unsafe in [true, false] {
            let output = CapturedOutput()
            let deploy = try await Self.deployment(server: server, output: output, project: tmp.path + "/project") {
                $0.aptUpdateMaxAgeMinutes = 0
                $0.buildHostUnsafeIO = unsafe
                $0.artifactDirectory = tmp.path + "/debs"
                $0.repository = .incoming(directory: tmp.path + "/incoming")
            }
            try await deploy.prepareApp(version: "1")
            let lines = output.value.split(separator: "\n").map(String.init)
            let install = try #require(lines.first { $0.contains("[buildvm]") && $0.contains("apt-get") && $0.contains(" install python3.11 ") }, "\(output.value)")
            #expect(install.contains("--force-unsafe-io") == unsafe, "\(install)")
            #expect(install.contains("dpkg --configure -a") && !install.contains("lintian"), "\(install)")
            let background = try #require(lines.first { $0.contains("[buildvm]") && $0.contains("setsid") }, "\(output.value)")
            #expect(background.contains("install lintian") && background.contains("--force-unsafe-io") == unsafe, "\(background)")
            #expect(lines.contains { $0.contains("apt-get") && $0.contains("-o Acquire::Languages=none -q update") })
            #expect(output.value.contains("dry run: the build dependencies above would be installed, and lintian in the background while the virtualenv builds"))
        }

        let output = CapturedOutput()
        let web = try await Self.deployment(server: server, output: output, host: "web1") { $0.buildHostUnsafeIO = true }
        try await web.install(version: "1")
        let install = try #require(output.value.split(separator: "\n").first { $0.contains("[web1]") && $0.contains("apt-get") && $0.contains(" install vrmd-demo=1") },
                                   "\(output.value)")
        #expect(!install.contains("unsafe-io"), "a server's install must keep dpkg's safe writes: \(install)")
    }

    /// A dry-run deployment of the app `demo` whose hosts (buildvm, repo, web1) are all `server`.
    static func deployment(server: SSHServer?, output: CapturedOutput, host: String? = nil, project: String = "/nonexistent",
                           buildDeps: [String] = ["libpq-dev"],
                           configure: @escaping (inout Deployment.Settings) -> Void) async throws -> Deployment {
        let target = server?.target()
        let pool = ConnectionPool(resolver: { name in
            guard var resolved = target else { throw FabError(.noHost, "no host \(name) in these tests") }
            resolved.alias = name
            return resolved
        }, secrets: { _ in nil })
        let runtime = FabRuntime(pool: pool, output: output.sink, dryRun: true, answers: [:], roledefs: [:])
        return try await Deployment(Fab(host: host, runtime: runtime), app: "demo", buildDeps: buildDeps, projectDirectory: project, configure: configure)
    }
}

/// The two phases on a fresh build VM (a clean debootstrap machine with passwordless sudo): what
/// fails in the background fails the build before anything is kept, an abandoned build stops the
/// background install, and a later build repairs an interrupted dpkg and keeps its package.
/// Slow (a fresh apt install of the kit's packages); take the CleanMachine lock.
@Suite("The build host's apt-get on a clean machine", .serialized, .timeLimit(.minutes(20)),
       .enabled(if: getuid() == 0 && haveTool("/usr/sbin/debootstrap")))
struct BuildHostAptCleanMachineTests {
    @Test("lintian that apt cannot install fails the build with apt's words and keeps nothing; a build that fails meanwhile stops the background apt-get; the next build repairs dpkg, waits for lintian and keeps the package")
    func backgroundPhase() async throws {
        let machine = try CleanMachine.start(.init(passwordlessSudo: true))
        defer { try? machine.shutdown() }
        let tmp = try TemporaryDirectory("apt-background")
        defer { tmp.remove() }
        let project = tmp.path + "/project"
        try tmp.write("project/app.py", "print('hi')\n")
        func commit(_ message: String) throws {
            try mustRun(["/bin/sh", "-c", "cd \"$1\" && git init -q -b main . && git add -A && git -c user.name=t -c user.email=t@t commit -q -m \"$2\"", "sh", project, message])
        }
        try commit("one")
        let output = CapturedOutput()
        let target = SSHTarget(alias: "buildvm", hostName: machine.host, port: machine.port, user: machine.user,
                               identityFiles: [machine.privateKeyPath], identitiesOnly: true, useAgent: false,
                               hostKeyPolicy: .strict, knownHostsFiles: [machine.knownHostsPath], connectTimeout: 5)
        let pool = ConnectionPool(resolver: { name in
            var resolved = target
            resolved.alias = name
            return resolved
        }, secrets: { _ in nil })
        let runtime = FabRuntime(pool: pool, output: output.sink, dryRun: false, answers: [:], roledefs: [:])
        let artifacts = tmp.path + "/debs"
        try FileManager.default.createDirectory(atPath: artifacts, withIntermediateDirectories: true)
        let deploy = try await Deployment(Fab(host: nil, runtime: runtime), app: "demo", projectDirectory: project) {
            $0.installer = .pip
            $0.upgradePip = false
            $0.artifactDirectory = artifacts
            $0.repository = .incoming(directory: "/home/\(machine.user)/incoming")
            $0.lint.timeoutSeconds = 300
        }
        let home = "/home/\(machine.user)"
        func build(_ version: String) async throws {
            try await deploy.fab.settings({ $0.commandTimeout = 900 }) {
                try await deploy.prepareApp(version: version)
                try await deploy.buildDeb()
            }
        }
        func leftovers() throws -> String {
            try machine.run("find \(home)/fab-builds/demo \(home)/\(DeploymentCommands.backgroundAptDirectory) \(home)/\(DeploymentCommands.aptStampFile) -mindepth 0 2>/dev/null | grep -v -x -e \(home)/fab-builds/demo -e \(home)/\(DeploymentCommands.backgroundAptDirectory); true").stdout
        }
        func lintianStatus() throws -> String {
            try machine.run("dpkg-query -W -f '${db:Status-Abbrev}' lintian 2>/dev/null; true").stdout.trimmingCharacters(in: .whitespaces)
        }

        // 1. apt cannot install lintian: the first phase installs, the background fails, and the
        // build stops at the gates with apt-get's own words, keeping nothing.
        try machine.run("printf 'Package: lintian\\nPin: release *\\nPin-Priority: -1\\n' > /etc/apt/preferences.d/no-lintian").checked()
        do {
            try await build("1")
            Issue.record("the build passed although apt could not install lintian")
        } catch {
            let text = "\(error)"
            #expect(text.contains("apt-get install of lintian in the background failed (exit status 100)"), "\(text)")
            #expect(text.contains("lintian") && text.contains("nothing was kept"), "\(text)")
        }
        #expect(try machine.run("dpkg-query -W -f '${db:Status-Abbrev}' python3.11-dev patchelf").stdout == "ii ii ", "the first phase did not install")
        #expect(try FileManager.default.contentsOfDirectory(atPath: artifacts).isEmpty)
        let left = try leftovers()
        #expect(left == "", "left on the build host: \(left)")
        #expect(!output.value.contains("apt (wait)"))

        // 2. A build that fails while lintian installs (dpkg held back 120 s by a hook) stops the
        // background apt-get at once: no apt process is left and lintian is not installed.
        try machine.run("rm /etc/apt/preferences.d/no-lintian && echo 'DPkg::Pre-Invoke { \"sleep 120\"; };' > /etc/apt/apt.conf.d/99fab-test-slow").checked()
        try tmp.write("project/requirements.txt", "./no-such-directory\n")
        try commit("two")
        let failed = ContinuousClock.now
        do {
            try await build("2")
            Issue.record("the build passed with a requirement that does not exist")
        } catch {
            #expect(ContinuousClock.now - failed < .seconds(100), "the build waited for the background apt-get before failing")
        }
        var running = Self.processes(under: machine.root)
        for _ in 0..<20 where !running.isEmpty {
            try await Task.sleep(for: .milliseconds(500))
            running = Self.processes(under: machine.root)
        }
        #expect(running.isEmpty, "still running on the build host: \(running)")
        #expect(try lintianStatus() != "ii", "lintian was installed: the background apt-get was not stopped")
        let leftAfterStop = try leftovers()
        #expect(leftAfterStop == "", "left on the build host: \(leftAfterStop)")

        // 3. An interrupted dpkg (what stopping it mid-install leaves) is repaired; the build waits for
        // lintian, which checks the package, and writes the apt stamp.
        try machine.run("rm /etc/apt/apt.conf.d/99fab-test-slow && touch /var/lib/dpkg/updates/0000").checked()
        try FileManager.default.removeItem(atPath: project + "/requirements.txt")
        try commit("three")
        try await build("3")
        let kept = try FileManager.default.contentsOfDirectory(atPath: artifacts)
        #expect(kept.contains { $0.hasPrefix("vrmd-demo_3_") && $0.hasSuffix(".deb") }, "\(kept)")
        #expect(try lintianStatus() == "ii")
        #expect(output.value.contains("apt (wait)"), "no wait for the background apt-get in the timings")
        #expect(output.value.contains(": 0 errors, "), "lintian's verdict missing")
        #expect(try leftovers().trimmingCharacters(in: .whitespacesAndNewlines) == "\(home)/\(DeploymentCommands.aptStampFile)")
    }

    /// The `comm` and pid of every process whose root directory is `root` (a clean machine's).
    static func processes(under root: String) -> [String] {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc"))?.filter { $0.allSatisfy(\.isNumber) } ?? []
        return pids.compactMap { pid in
            guard (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/root")) == root,
                  let name = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8) else { return nil }
            let command = name.trimmingCharacters(in: .whitespacesAndNewlines)
            return ["sshd"].contains(command) ? nil : "\(pid) \(command)"
        }
    }
}
