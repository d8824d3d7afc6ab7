#if os(Linux)
import FabArchive
import FabCore
import FabTestSupport
import Foundation
import Glibc
import Testing
@testable import FabDeploy

/// The venv + app family on a real build host (this machine's test user over a loopback sshd, which
/// also plays the reprepro repository host), with real pip (six from PyPI, through the persistent
/// cache), dpkg-deb, lintian and reprepro.
@Suite("Package families: the venv package reused by its input key, the app pinned to it", .serialized, .timeLimit(.minutes(15)))
struct PackageFamilyTests {
    init() throws {
        try #require(getuid() == 0, "the tests create a test user and hand it files; run them as root.")
        let tools = ["/usr/bin/reprepro", "/usr/bin/lintian", "/usr/bin/dpkg-deb", "/usr/bin/python3.11", "/usr/bin/git", "/usr/bin/unshare"]
        try #require(tools.allSatisfy(haveTool), "needs \(tools.joined(separator: ", "))")
    }

    /// A committed project with a console script that imports its one requirement.
    private func makeProject(_ tmp: TemporaryDirectory) throws -> String {
        let project = tmp.path + "/demo"
        try tmp.write("demo/requirements.txt", "six==1.16.0\n")
        try tmp.write("demo/pyproject.toml", """
            [build-system]
            requires = ["setuptools>=61"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "famdemo"
            version = "1.0"
            dependencies = ["six"]

            [project.scripts]
            famdemo-hello = "famdemo.cli:main"

            [tool.setuptools]
            packages = ["famdemo"]

            """)
        try tmp.write("demo/famdemo/__init__.py", "")
        // Maintainer scripts, as a service's start and stop it (chrootless under `dpkg --root`, so
        // the marker goes under $DPKG_ROOT).
        try tmp.write("demo/debian/postinst", "#!/bin/sh\nset -e\necho \"$1\" > \"$DPKG_ROOT/srv/famdemo/postinst-ran\"\n", mode: 0o755)
        try tmp.write("demo/debian/prerm", "#!/bin/sh\nset -e\nrm -f \"$DPKG_ROOT/srv/famdemo/postinst-ran\"\n", mode: 0o755)
        try writeCode(tmp, greeting: "hello one")
        try mustRun(["/bin/sh", "-c", "git init -q -b main . && git add -A && git -c user.name=t -c user.email=t@t commit -q -m one"], directory: project)
        return project
    }

    private func writeCode(_ tmp: TemporaryDirectory, greeting: String) throws {
        try tmp.write("demo/famdemo/cli.py", """
            import sys
            import six

            def main():
                print("%s from %s with six %s" % (\(String(reflecting: greeting)), sys.prefix, six.__version__))

            """)
    }

    private func commit(_ project: String, _ message: String) throws {
        try mustRun(["/bin/sh", "-c", "git add -A && git -c user.name=t -c user.email=t@t commit -q -m \"$1\"", "sh", message], directory: project)
    }

    @Test("venv + app built and pushed, the app pinned to the venv; an app-only change reuses the venv from the repository or the local artifacts and uploads nothing for it; a requirements change rebuilds it; the console script runs from the installed paths")
    func familyBuildsReusesAndRuns() async throws {
        // The build and repository hosts' account has dash as its login shell (what `useradd` gives
        // on Debian), so every command of the family's build, lint jobs and push runs under dash.
        let user = try TestUser.named("fabtestdash", shell: "/bin/sh")
        let bench = try PublishBench(user: user)
        defer { bench.stop() }
        let tmp = try TemporaryDirectory("family")
        defer { tmp.remove() }
        let project = try makeProject(tmp)
        try mustRun(["/usr/sbin/runuser", "-u", user.name, "--", "/bin/sh", "-c", DeploymentCommands.touchAptStamp(user.home + "/" + DeploymentCommands.aptStampFile)])
        defer { try? FileManager.default.removeItem(atPath: user.home + "/fab-builds-family") }

        func family(lint: Bool = false, repository: Deployment.Repository? = nil, push: Bool = true,
                    parts: [any FamilyPart] = []) async throws -> (PackageFamily, Double) {
            let deploy = try await bench.deployment(project: project) {
                $0.packagePrefix = ""
                $0.installRoot = "/srv/famdemo"
                $0.upgradePip = false
                $0.buildDirectory = "fab-builds-family"
                $0.lint.enabled = lint
                $0.lint.timeoutSeconds = 240
                if let repository { $0.repository = repository }
            }
            let started = ContinuousClock.now
            let result = try await deploy.fab.settings({ $0.commandTimeout = 240 }) { try await deploy.buildFamily(parts: parts, push: push) }
            return (result, Deployment.seconds(from: started))
        }
        func field(_ deb: String?, _ name: String) throws -> String {
            try mustRun(["/usr/bin/dpkg-deb", "-f", try #require(deb), name]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        func lines(containing text: String) -> [Substring] { bench.output.value.split(separator: "\n").filter { $0.contains(text) } }

        // 1. Both built (through lintian), both pushed, the app pinned to exactly that venv.
        let (first, _) = try await family(lint: true)
        #expect(first.venv.origin == .built && first.venv.version == "1" && first.venv.pushed, "\(first.venv)")
        #expect(first.app.origin == .built && first.app.version == "1" && first.app.pushed, "\(first.app)")
        let appDepends = try field(first.app.artifact, "Depends")
        #expect(appDepends.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.contains("demo-venv (= 1)"), "\(appDepends)")
        #expect(!appDepends.contains("demo-config"), "no config parts, no config dependency: \(appDepends)")
        let key = try field(first.venv.artifact, Deployment.venvKeyField)
        #expect(key.count == 64 && key.allSatisfy(\.isHexDigit), "\(key)")
        #expect(try field(first.venv.artifact, "Depends").contains("python3.11"))
        for member in [first.venv, first.app] {
            let artifact = try #require(member.artifact)
            let manifest = try #require(try ArtifactManifest.read(besides: artifact))
            #expect(manifest.verdict == .passed && manifest.gates.last?.tool?.hasPrefix("lintian 2.") == true && manifest.lintian?.errors == [],
                    "\(member.package): \(manifest.gates)")
        }
        let venvFiles = try mustRun(["/usr/bin/dpkg-deb", "-c", try #require(first.venv.artifact)]).stdout
        let appFiles = try mustRun(["/usr/bin/dpkg-deb", "-c", try #require(first.app.artifact)]).stdout
        #expect(venvFiles.contains("./srv/famdemo/venv/lib/python3.11/site-packages/six.py") && !venvFiles.contains("famdemo/cli.py"), "\(venvFiles.prefix(3000))")
        for path in ["./srv/famdemo/project/lib/famdemo/cli.py", "./srv/famdemo/project/bin/famdemo-hello",
                     "./srv/famdemo/venv/bin/famdemo-hello -> ../../project/bin/famdemo-hello",
                     "./srv/famdemo/venv/lib/python3.11/site-packages/_fab_demo.pth", "./srv/famdemo/app/famdemo/cli.py"] {
            #expect(appFiles.contains(path), "\(path) missing from the app package:\n\(appFiles)")
        }
        #expect(!appFiles.contains("six.py") && !appFiles.contains("pyvenv.cfg"), "the app package holds virtualenv files:\n\(appFiles)")
        // The project's maintainer scripts go with the code (they start and stop its service), none with the venv.
        #expect(try DebPackage(path: try #require(first.app.artifact)).maintainerScripts == ["postinst", "prerm"])
        #expect(try DebPackage(path: try #require(first.venv.artifact)).maintainerScripts == [])
        #expect(try bench.published("demo").contains("demo 1") && bench.published("demo-venv").contains("demo-venv 1"))

        // 2. App code only: the venv is the one the repository serves; only the app is built and uploaded.
        try writeCode(tmp, greeting: "hello two")
        try commit(project, "two")
        let uploadsBefore = lines(containing: "published demo-venv ").count
        let (second, appOnlySeconds) = try await family()
        #expect(second.venv == FamilyMember(package: "demo-venv", version: "1", architecture: "all", artifact: first.venv.artifact, origin: .repository), "\(second.venv)")
        #expect(second.app.origin == .built && second.app.version == "2" && second.app.pushed)
        #expect(lines(containing: "published demo-venv ").count == uploadsBefore, "the venv was uploaded again")
        #expect(lines(containing: "reusing demo-venv 1 from the repository").count == 1, "\(bench.output.value.suffix(3000))")
        let timings = try #require(lines(containing: "] step timings: ").last)
        #expect(!timings.contains("venv/"), "venv steps ran: \(timings)")
        #expect(try field(second.app.artifact, "Depends").contains("demo-venv (= 1)"))
        #expect(bench.files(under: bench.base + "-archive/demo-venv").filter { $0.hasSuffix(".deb") } == ["demo-venv_1_all.deb"])
        print("app-only family build: \(String(format: "%.1f", appOnlySeconds)) s; \(timings)")

        // 3. Without a repository to ask, the local artifact is found by its key.
        let (third, _) = try await family(repository: .incoming(directory: tmp.path + "/incoming"), push: false)
        #expect(third.venv.origin == .localArtifact && third.venv.version == "1" && third.venv.artifact == first.venv.artifact, "\(third.venv)")
        #expect(third.app.version == "3" && !third.app.pushed)

        // 4. A requirements change rebuilds the venv; the app follows it.
        try tmp.write("demo/requirements.txt", "six==1.17.0\n")
        try commit(project, "four")
        let (fourth, _) = try await family()
        #expect(fourth.venv.origin == .built && fourth.venv.version == "2" && fourth.venv.pushed, "\(fourth.venv)")
        #expect(fourth.app.version == "4" && fourth.app.pushed)
        #expect(try field(fourth.app.artifact, "Depends").contains("demo-venv (= 2)"))
        #expect(try field(fourth.venv.artifact, Deployment.venvKeyField) != key)
        #expect(try bench.published("demo-venv").contains("demo-venv 2"))

        // 5. dpkg installs the pair (the app's pin checked against what is installed) and the console
        // script runs from the installed paths with the venv's interpreter and requirement.
        let root = tmp.path + "/root"
        try FileManager.default.createDirectory(atPath: root + "/var/lib/dpkg/info", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/var/lib/dpkg/updates", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/srv", withIntermediateDirectories: true)
        // The machine's own packages count as installed (python3.11, libc6), so dpkg checks every Depends.
        try FileManager.default.copyItem(atPath: "/var/lib/dpkg/status", toPath: root + "/var/lib/dpkg/status")
        // The root has no shell: the maintainer scripts run outside it, with DPKG_ROOT set.
        let dpkg = ["/usr/bin/dpkg", "--root=" + root, "--force-script-chrootless"]
        let mismatched = try runProcess(dpkg + ["-i", try #require(first.venv.artifact), try #require(fourth.app.artifact)])
        #expect(mismatched.status != 0 && mismatched.stderr.contains("demo-venv (= 2)"), "dpkg accepted the app on the wrong venv: \(mismatched.stderr)")
        try mustRun(dpkg + ["--purge", "demo-venv", "demo"])
        try mustRun(dpkg + ["-i", try #require(fourth.venv.artifact), try #require(fourth.app.artifact)])
        #expect((try? String(contentsOfFile: root + "/srv/famdemo/postinst-ran", encoding: .utf8)) == "configure\n", "the app's postinst did not run")
        let run = try mustRun(["/usr/bin/unshare", "-m", "/bin/sh", "-c", "mount --bind \"$1/srv\" /srv && /srv/famdemo/venv/bin/famdemo-hello && /srv/famdemo/venv/bin/python -c 'import importlib.metadata as m; print(m.version(\"famdemo\"))'", "sh", root])
        #expect(run.stdout == "hello two from /srv/famdemo/venv with six 1.17.0\n1.0\n", "\(run.stdout)\(run.stderr)")

        // 6. With a config package and a manifest in the same call: the app depends on the virtual
        // config package, the manifest pins the app and the config; the venv is reused; all pushed in order.
        let config = ConfigPackage(environment: "prod", files: [.text("greeting = two\n", to: "/etc/famdemo/famdemo.conf")])
        let (sixth, _) = try await family(parts: [config, FamilyManifest(role: "server", config: "prod")])
        #expect(sixth.venv.origin == .repository && sixth.venv.version == "2", "\(sixth.venv)")
        #expect(sixth.parts.map(\.package) == ["demo-config-prod", "server"] && sixth.members.allSatisfy { $0.pushed || $0.origin == .repository },
                "\(sixth.members)")
        #expect(try field(sixth.app.artifact, "Depends").contains("demo-config"))
        #expect(try field(sixth.parts.last?.artifact, "Depends") == "demo (= \(sixth.app.version)), demo-config-prod (= \(sixth.parts[0].version))")
        #expect(try bench.published("server").contains("server 1") && bench.published("demo-config-prod").contains("demo-config-prod 1"))

        // 7. One package of the family fails lintian: every package built in that call goes to
        // rejected/ (the others with a failed family gate), nothing is pushed, then or later.
        try writeCode(tmp, greeting: "hello seven")
        try commit(project, "seven")
        let staging = ConfigPackage(environment: "staging", files: [.text("greeting = seven\n", to: "/etc/famdemo/famdemo.conf")])
        let publishedBefore = try ["demo", "demo-venv", "demo-config-prod", "server"].map { try bench.published($0) }
        var refusal = ""
        do {
            _ = try await family(lint: true, parts: [config, staging, StrayPart()])
            Issue.record("a family with a package lintian rejects was built")
        } catch {
            refusal = "\(error)"
        }
        #expect(refusal.contains("the lintian gate rejected demo-stray_1_all.deb") && refusal.contains("dir-or-file-in-srv")
                && refusal.contains("the 2 other packages built with it"), "\(refusal)")
        #expect(try ["demo", "demo-venv", "demo-config-prod", "server"].map { try bench.published($0) } == publishedBefore)
        #expect(try bench.published("demo-config-staging").isEmpty && bench.published("demo-stray").isEmpty)
        let rejected = bench.artifacts + "/" + LocalArtifacts.rejectedFolder
        let app = "demo_\(try #require(Int(sixth.app.version)) + 1)_all.deb"
        for name in [app, "demo-config-staging_1_all.deb", "demo-stray_1_all.deb"] {
            #expect(!FileManager.default.fileExists(atPath: bench.artifacts + "/" + name), "\(name) was kept")
            let manifest = try #require(try ArtifactManifest.read(besides: rejected + "/" + name), "\(name) is not in rejected/")
            #expect(manifest.verdict == .rejected, "\(name): \(manifest.gates)")
            #expect(manifest.failedGate?.name == (name.hasPrefix("demo-stray") ? "lintian" : "family"), "\(name): \(manifest.gates)")
        }
        #expect(!bench.files(under: bench.artifacts).contains { $0.hasPrefix(".") }, "a fetched file was left behind")
        let later = try await bench.deployment(project: project) { $0.packagePrefix = ""; $0.installRoot = "/srv/famdemo" }
        await #expect(throws: FabError.self) { try await later.pushToRepo(deb: rejected + "/" + app) }
        #expect(try bench.published("demo") == publishedBefore[0])
    }

    @Test("buildAppPackage without prepareApp says so and runs nothing")
    func appPackageNeedsPreparedBuild() async throws {
        let bench = try PublishBench()
        defer { bench.stop() }
        let deploy = try await bench.deployment()
        let venv = FamilyMember(package: "vrmd-demo-venv", version: "1", architecture: "all", artifact: nil, origin: .repository)
        do {
            _ = try await deploy.buildAppPackage(venv: venv)
            Issue.record("buildAppPackage built without a prepared build")
        } catch {
            #expect("\(error)".contains("buildAppPackage(venv:) needs a build prepared by prepareApp(), in the same task or run."), "\(error)")
        }
        #expect(bench.output.value.isEmpty, "something ran: \(bench.output.value)")
    }
}

/// A part whose package lintian rejects (a file under /srv outside the app's install root, which
/// fab's overrides do not cover): `dir-or-file-in-srv` is an error.
private struct StrayPart: FamilyPart {
    func build(in family: FamilyContext) async throws -> FamilyMember {
        let spec = PackageSpec(name: "demo-stray", version: try await family.nextVersion(of: "demo-stray"),
                               maintainer: "fab tests <tests@fab.example>", synopsis: "A family part lintian rejects", stagingDirectory: "")
        return try await family.build(spec, stage: .init("stray file") { state in
            let directory = state.stagingDirectory + "/srv/elsewhere"
            try await state.build.run("mkdir -p \(state.build.quote(directory)) && echo stray > \(state.build.quote(directory + "/file"))")
        })
    }
}
#endif
