#if os(Linux)
import FabArchive
import FabCore
import FabSSH
import FabTestSupport
import Foundation
import Glibc
import Testing
@testable import FabDeploy

/// Config and manifest packages built for real: this machine is the build host through a loopback
/// sshd (dpkg-deb and lintian there), and the packages are installed with dpkg into a clean
/// debootstrap chroot, which runs no systemd.
@Suite("Config and manifest packages through the gates", .serialized, .timeLimit(.minutes(10)))
struct ConfigPackageBuildTests {
    init() throws {
        try #require(getuid() == 0, "the tests create a test user, hand it files and chroot; run them as root.")
        let tools = ["/usr/bin/lintian", "/usr/bin/dpkg-deb", "/usr/bin/git", "/usr/sbin/chroot"]
        try #require(tools.allSatisfy(haveTool), "needs \(tools.joined(separator: ", "))")
    }

    /// A committed project with two templates that share the port.
    private func makeProject(_ tmp: TemporaryDirectory) throws -> String {
        let project = tmp.path + "/demo"
        try tmp.write("demo/demo.py", "print('demo')\n")
        try tmp.write("demo/deploy/site.stencil", "server {\n    listen {{ bind }};\n    # {{ motto }}\n}\n")
        try tmp.write("demo/deploy/program.stencil", "[program:demo]\ncommand=/srv/demo/bin/demo --port {{ port }}\n")
        try mustRun(["/bin/sh", "-c", "git init -q -b main . && git add -A && git -c user.name=t -c user.email=t@t commit -q -m one"], directory: project)
        return project
    }

    private func config(_ environment: String, port: Int, motto: String, token: String) -> ConfigPackage {
        var variables = TemplateVariables()
        variables.value("port", port)
        variables.derived("bind", "127.0.0.1:{{ port }}")
        variables.value("motto", motto)
        variables.secret("token", Secret(token))
        return ConfigPackage(environment: environment, variables: variables, files: [
            .template("deploy/site.stencil", to: "/etc/nginx/sites-enabled/demo.conf"),
            .template("deploy/program.stencil", to: "/etc/supervisor/conf.d/demo.conf"),
            .text("TOKEN={{ token }}\n", to: "/etc/demo/token", mode: 0o600),
        ], reloads: [.systemd("nginx.service"), .supervisor, .nginx])
    }

    /// The field `name` of the .deb at `path`, as dpkg-deb reads it.
    private func field(_ path: String, _ name: String) throws -> String {
        try mustRun(["/usr/bin/dpkg-deb", "-f", path, name]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("Two environments pass lintian; unchanged is not rebuilt, rebuilt elsewhere is byte-identical; in a clean chroot the second replaces the first and the postinst reloads nothing without systemd; the manifest pins the app and config versions")
    func environmentsExcludeEachOtherAndManifestPins() async throws {
        let bench = try PublishBench()
        defer { bench.stop() }
        let tmp = try TemporaryDirectory("config")
        defer { tmp.remove() }
        let project = try makeProject(tmp)
        let deploy = try await bench.deployment(project: project) {
            $0.packagePrefix = ""
            $0.buildDirectory = "fab-builds-config-test"
            $0.lint.timeoutSeconds = 240
        }
        let hostile = "it's \"quoted\" $(touch /tmp/fab-config-pwned) `x` {{ port }} {% if %}\\n"
        let stagingSecret = "staging-token-7f3e9a"
        let productionSecret = "production-token-c41d2b"
        let (staging, production) = try await deploy.fab.settings({ $0.commandTimeout = 240 }) {
            (try await deploy.buildConfigPackage(config("staging", port: 8472, motto: hostile, token: stagingSecret)),
             try await deploy.buildConfigPackage(config("production", port: 8471, motto: "production", token: productionSecret)))
        }
        #expect(staging == bench.artifacts + "/demo-config-staging_1_all.deb")
        #expect(production == bench.artifacts + "/demo-config-production_1_all.deb")
        for deb in [staging, production] {
            let manifest = try #require(try ArtifactManifest.read(besides: deb))
            #expect(manifest.verdict == .passed, "\(manifest.gates)")
            #expect(manifest.gates.contains { $0.name == "lintian" && $0.passed && $0.tool?.hasPrefix("lintian 2.") == true })
            #expect(manifest.lintian?.errors == [])
            #expect(try field(deb, "Provides") == "demo-config")
            #expect(try field(deb, "Conflicts") == "demo-config")
            #expect(try field(deb, "Replaces") == "demo-config")
            #expect(try field(deb, "Architecture") == "all")
            let package = try DebPackage(path: deb)
            #expect(package.conffiles == ["/etc/nginx/sites-enabled/demo.conf", "/etc/supervisor/conf.d/demo.conf", "/etc/demo/token"])
            #expect(package.maintainerScripts == ["postinst"])
        }
        let output = bench.output.value
        #expect(!output.contains(stagingSecret) && !output.contains(productionSecret), "a secret was printed:\n\(output.suffix(2000))")
        #expect(output.contains("token = ***"), "\(output.suffix(2000))")
        #expect(output.contains("/etc/demo/token (mode 600) from the inline template for /etc/demo/token, using token"))

        // The role: the app and production's config at their exact versions.
        let app = try makeApp(in: tmp, version: "1")
        let role = try await deploy.fab.settings({ $0.commandTimeout = 240 }) {
            try await deploy.buildManifestPackage(ManifestPackage(role: "demo-server", pins: [try .init(deb: app), try .init(deb: production)]))
        }
        #expect(role == bench.artifacts + "/demo-server_1_all.deb")
        #expect(try field(role, "Depends") == "demo (= 1), demo-config-production (= 1)")
        #expect(try field(role, "Architecture") == "all")
        #expect(try ArtifactManifest.read(besides: role)?.verdict == .passed)
        #expect(try DebPackage(path: role).conffiles.isEmpty)

        // Unchanged: the newest build has the same content key, so nothing is built.
        let unchanged = try await deploy.buildConfigPackage(config("staging", port: 8472, motto: hostile, token: stagingSecret))
        #expect(unchanged == staging)
        #expect(bench.output.value.contains("demo-config-staging is unchanged since demo-config-staging_1_all.deb"))
        #expect(LocalArtifacts.versions(package: "demo-config-staging", in: bench.artifacts) == ["1"])

        // Rebuilt from the same commit at the same versions, in another build and artifact directory
        // (lintian off, it changes no byte): the same bytes.
        let elsewhere = try await bench.deployment(project: project) {
            $0.packagePrefix = ""
            $0.buildDirectory = "fab-builds-config-test-again"
            $0.artifactDirectory = tmp.path + "/again"
            $0.lint.enabled = false
        }
        let (stagingAgain, roleAgain) = try await elsewhere.fab.settings({ $0.commandTimeout = 240 }) {
            (try await elsewhere.buildConfigPackage(config("staging", port: 8472, motto: hostile, token: stagingSecret), version: "1"),
             try await elsewhere.buildManifestPackage(ManifestPackage(role: "demo-server", pins: [.init("demo", "1"), .init("demo-config-production", "1")]), version: "1"))
        }
        #expect(stagingAgain == tmp.path + "/again/demo-config-staging_1_all.deb")
        #expect(try FileDigest.sha256(path: stagingAgain) == FileDigest.sha256(path: staging))
        #expect(try FileDigest.sha256(path: roleAgain) == FileDigest.sha256(path: role))

        // Pushed like the app: their manifests say they passed the gates.
        try await deploy.pushToRepo(deb: production)
        try await deploy.pushToRepo(deb: role)
        let listed = try mustRun(["/usr/bin/reprepro", "-b", bench.base, "list", "fab"]).stdout
        #expect(listed.contains("demo-config-production 1") && listed.contains("demo-server 1"), "\(listed)")

        // A clean machine (no systemd running): dpkg in its chroot.
        let machine = try CleanMachine.start()
        defer { try? machine.shutdown() }
        let root = machine.root
        func copyIn(_ deb: String) throws -> String {
            let name = "/tmp/" + (deb as NSString).lastPathComponent
            try mustRun(["/bin/cp", deb, root + name])
            return name
        }
        func dpkg(_ arguments: [String]) throws -> ProcessOutput {
            try runProcess(["/usr/sbin/chroot", root, "/usr/bin/dpkg"] + arguments,
                           environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"])
        }
        func status(_ package: String) throws -> String {
            try runProcess(["/usr/sbin/chroot", root, "/usr/bin/dpkg-query", "-W", "-f", "${db:Status-Status} ${Version}", package]).stdout
        }
        let (stagingIn, productionIn, appIn, roleIn) = (try copyIn(staging), try copyIn(production), try copyIn(app), try copyIn(role))

        let first = try dpkg(["-i", stagingIn])
        #expect(first.status == 0, "\(first.stdout)\(first.stderr)")
        #expect(try String(contentsOfFile: root + "/etc/nginx/sites-enabled/demo.conf", encoding: .utf8)
            == "server {\n    listen 127.0.0.1:8472;\n    # \(hostile)\n}\n")
        #expect(try String(contentsOfFile: root + "/etc/supervisor/conf.d/demo.conf", encoding: .utf8)
            == "[program:demo]\ncommand=/srv/demo/bin/demo --port 8472\n")
        #expect(try String(contentsOfFile: root + "/etc/demo/token", encoding: .utf8) == "TOKEN=\(stagingSecret)\n")
        let attributes = try FileManager.default.attributesOfItem(atPath: root + "/etc/demo/token")
        #expect((attributes[.posixPermissions] as? Int) == 0o600 && (attributes[.ownerAccountID] as? Int) == 0)
        #expect(!FileManager.default.fileExists(atPath: "/tmp/fab-config-pwned"))

        // The manifest needs the app: dpkg refuses it alone, naming the pinned version.
        let alone = try dpkg(["-i", roleIn])
        #expect(alone.status != 0)
        #expect((alone.stdout + alone.stderr).contains("depends on demo (= 1)"), "\(alone.stdout)\(alone.stderr)")
        _ = try dpkg(["--purge", "demo-server"])

        // Production excludes staging (Provides, Conflicts and Replaces on the virtual package): dpkg
        // alone refuses it while staging is installed, apt removes staging for it.
        let refused = try dpkg(["-i", productionIn])
        #expect(refused.status != 0 && (refused.stdout + refused.stderr).contains("conflicting packages - not installing demo-config-production"),
                "\(refused.stdout)\(refused.stderr)")
        let replaced = try runProcess(["/usr/sbin/chroot", root, "/bin/sh", "-c", "cd /tmp && apt-get install -y -q ./" + (productionIn as NSString).lastPathComponent],
                                      environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C", "DEBIAN_FRONTEND": "noninteractive"])
        #expect(replaced.status == 0, "\(replaced.stdout)\(replaced.stderr)")
        #expect(replaced.stdout.contains("The following packages will be REMOVED:\n  demo-config-staging"), "\(replaced.stdout)")
        #expect(try status("demo-config-production") == "installed 1")
        #expect(try status("demo-config-staging") == "config-files 1")
        #expect(try String(contentsOfFile: root + "/etc/supervisor/conf.d/demo.conf", encoding: .utf8)
            == "[program:demo]\ncommand=/srv/demo/bin/demo --port 8471\n")
        #expect(try String(contentsOfFile: root + "/etc/demo/token", encoding: .utf8) == "TOKEN=\(productionSecret)\n")
        // Purging what is left of staging leaves production's files alone.
        let purged = try dpkg(["--purge", "demo-config-staging"])
        #expect(purged.status == 0, "\(purged.stdout)\(purged.stderr)")
        #expect(try String(contentsOfFile: root + "/etc/demo/token", encoding: .utf8) == "TOKEN=\(productionSecret)\n")

        // The app depends on the virtual package, the role on both at their versions.
        let together = try dpkg(["-i", appIn, roleIn])
        #expect(together.status == 0, "\(together.stdout)\(together.stderr)")
        #expect(try status("demo") == "installed 1")
        #expect(try status("demo-server") == "installed 1")
    }

    @Test("A dry run renders and checks everything, prints the plan with secrets as ***, and leaves no package and no build directory")
    func dryRunPrintsThePlanOnly() async throws {
        let server = try SSHServer()
        defer { server.stop() }
        let tmp = try TemporaryDirectory("config-dry")
        defer { tmp.remove() }
        let project = try makeProject(tmp)
        let output = CapturedOutput()
        let target = server.target()
        let pool = ConnectionPool(resolver: { host in
            var resolved = target
            resolved.alias = host
            return resolved
        }, secrets: { _ in nil })
        let runtime = FabRuntime(pool: pool, output: output.sink, dryRun: true, answers: [:], roledefs: [:])
        let artifacts = tmp.path + "/debs"
        let deploy = try await Deployment(Fab(host: nil, runtime: runtime), app: "demo", projectDirectory: project) {
            $0.packagePrefix = ""
            $0.artifactDirectory = artifacts
            $0.repository = .incoming(directory: tmp.path + "/incoming")
            $0.buildDirectory = "fab-builds-config-dry"
        }
        let secret = "dry-run-token-58b1e0"
        let planned = try await deploy.buildConfigPackage(config("staging", port: 8472, motto: "m", token: secret))
        #expect(planned == artifacts + "/demo-config-staging_1_all.deb")
        #expect(!FileManager.default.fileExists(atPath: planned))
        let text = output.value
        #expect(text.contains("dry run: dpkg-deb would make demo-config-staging_1_all.deb"), "\(text.suffix(3000))")
        #expect(text.contains("token = ***") && text.contains("bind = 127.0.0.1:{{ port }} -> 127.0.0.1:8472"), "\(text.suffix(3000))")
        #expect(!text.contains(secret), "the secret was printed:\n\(text)")
        let home = try TestUser.standard().home
        #expect(!FileManager.default.fileExists(atPath: home + "/fab-builds-config-dry"))

        // Bad input fails before anything runs, dry run or not.
        var broken = config("staging", port: 8472, motto: "m", token: secret)
        broken.files.append(.text("{{ prot }}", to: "/etc/demo/extra"))
        do {
            _ = try await deploy.buildConfigPackage(broken)
            Issue.record("a template with an undefined variable was accepted")
        } catch {
            #expect("\(error)".contains("the inline template for /etc/demo/extra of demo-config-staging line 1 uses the variable 'prot', which is not defined"), "\(error)")
        }
    }

    /// A tiny app package `demo` at `version` that depends on the virtual `demo-config`.
    private func makeApp(in tmp: TemporaryDirectory, version: String) throws -> String {
        try tmp.write("app/srv/demo/demo.py", "print('demo')\n")
        var control = ControlFileBuilder(package: "demo", version: version, architecture: "all",
                                         maintainer: "Fab Tests <fab-tests@example.com>", synopsis: "Python app demo built by fab")
        control.runDepends = ["demo-config"]
        control.installedSize = 4
        try tmp.write("app/DEBIAN/control", try control.build())
        try mustRun(["/bin/sh", "-c", DeploymentCommands.normalizeModes(stagingDirectory: tmp.path + "/app")])
        let deb = tmp.path + "/demo_\(version)_all.deb"
        try mustRun(["/bin/sh", "-c", DeploymentCommands.buildDeb(stagingDirectory: tmp.path + "/app", output: deb, level: 1)])
        return deb
    }
}
#endif
