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
        #expect(start.hasPrefix(#"cd '/home/d/.cache/a b'\''; rm -rf /' && rm -f apt.out apt.pid apt.status apt.status.tmp && { setsid sh -c "#))
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
