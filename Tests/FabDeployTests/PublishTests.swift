#if os(Linux)
import FabArchive
import FabCore
import FabSSH
import FabTestSupport
import Foundation
import Glibc
import Testing
@testable import FabDeploy

/// A loopback sshd that plays the repository host (`repo`) and the build host (`buildvm`) as the
/// test user, a reprepro base owned by that user, and a local artifact directory.
struct PublishBench {
    let server: SSHServer
    let output = CapturedOutput()
    let runtime: FabRuntime
    /// A private directory owned by the test user: `apt` (the served base) and `apt-archive` live here.
    let work: String
    var base: String { work + "/apt" }
    var artifacts: String { work + "/debs" }

    /// - Parameter user: the account both hosts log in as (the standard test user by default).
    init(user: TestUser? = nil) throws {
        server = try SSHServer(user: user)
        work = "/tmp/fabdeploy-publish-" + UUID().uuidString.prefix(8).lowercased()
        try FileManager.default.createDirectory(atPath: work + "/apt/conf", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: work + "/debs", withIntermediateDirectories: true)
        try AptRepository.distributionsConfiguration(codename: "fab").write(toFile: work + "/apt/conf/distributions", atomically: true, encoding: .utf8)
        try mustRun(["/bin/chown", "-R", server.user, work])
        let target = server.target()
        let pool = ConnectionPool(resolver: { host in
            guard ["repo", "buildvm"].contains(host) else { throw FabError(.noHost, "unknown test host \(host)") }
            var resolved = target
            resolved.alias = host
            return resolved
        }, secrets: { _ in nil })
        runtime = FabRuntime(pool: pool, output: output.sink, dryRun: false, answers: [:], roledefs: [:])
    }

    func stop() {
        server.stop()
        try? FileManager.default.removeItem(atPath: work)
    }

    func deployment(project: String? = nil, configure: (inout Deployment.Settings) -> Void = { _ in }) async throws -> Deployment {
        let base = self.base, artifacts = self.artifacts
        return try await Deployment(Fab(host: nil, runtime: runtime), app: "demo", projectDirectory: project ?? work) {
            $0.repository = .reprepro(base: base, codename: "fab")
            $0.artifactDirectory = artifacts
            configure(&$0)
        }
    }

    /// A small arch-all `vrmd-demo` .deb of `version` in the artifact directory (no manifest).
    func makeDeb(version: String, text: String = "hello") throws -> String {
        let tmp = try TemporaryDirectory("pkg")
        defer { tmp.remove() }
        try tmp.write("pkg/srv/demo/app/main.py", "print('\(text)')\n")
        var control = ControlFileBuilder(package: "vrmd-demo", version: version, architecture: "all",
                                         maintainer: "Fab Tests <fab-tests@example.com>", synopsis: "Python app demo built by fab")
        control.installedSize = 4
        try tmp.write("pkg/DEBIAN/control", try control.build())
        try mustRun(["/bin/sh", "-c", DeploymentCommands.normalizeModes(stagingDirectory: tmp.path + "/pkg")])
        let deb = artifacts + "/" + DeploymentCommands.debFileName(package: "vrmd-demo", version: version, architecture: "all")
        try mustRun(["/bin/sh", "-c", DeploymentCommands.buildDeb(stagingDirectory: tmp.path + "/pkg", output: deb, level: 1)])
        return deb
    }

    /// The manifest a build that passed every gate writes, for the .deb at `deb`.
    func passedManifest(_ deb: String, version: String) throws -> ArtifactManifest {
        ArtifactManifest(package: "vrmd-demo", version: version, architecture: "all", fileName: (deb as NSString).lastPathComponent,
                         sha256: try FileDigest.sha256(path: deb), size: 1, verdict: .passed,
                         gates: [.init(name: "lintian", passed: true, tool: "lintian 2.116.3", detail: "0 errors, 0 warnings")],
                         branch: "main", commit: "1a2b3c4", buildHost: "buildvm", recordedAt: ArtifactManifest.now(), lintian: nil)
    }

    /// `reprepro list` of the base, as the test user sees it.
    func published(_ package: String = "vrmd-demo") throws -> String {
        try mustRun(["/usr/sbin/runuser", "-u", server.user, "--", "reprepro", "-b", base, "list", "fab", package]).stdout
    }

    /// Every path under `directory` (relative), sorted.
    func files(under directory: String) -> [String] {
        ((FileManager.default.enumerator(atPath: directory)?.allObjects as? [String]) ?? []).sorted()
    }
}

@Suite("Publishing: gates, versions, the rollback archive", .serialized)
struct PublishTests {
    init() throws {
        try #require(getuid() == 0, "the tests create a test user and run reprepro as it; run them as root.")
        try #require(haveTool("/usr/bin/reprepro") && haveTool("/usr/bin/dpkg-deb"), "needs reprepro and dpkg-deb")
    }

    @Test("A build without a passing manifest is never pushed and the repository is untouched; a passed one is, with its archive outside the served base")
    func pushRequiresAPassingManifest() async throws {
        let bench = try PublishBench()
        defer { bench.stop() }
        let deploy = try await bench.deployment()
        let deb = try bench.makeDeb(version: "1")
        func refused(_ expected: String, sourceLocation: SourceLocation = #_sourceLocation) async {
            do {
                try await deploy.pushToRepo()
                Issue.record("pushed although: \(expected)", sourceLocation: sourceLocation)
            } catch {
                #expect("\(error)".contains(expected), "\(error)", sourceLocation: sourceLocation)
            }
            #expect(bench.files(under: bench.base).allSatisfy { $0 == "conf" || $0.hasPrefix("conf/") }, "the repository changed: \(bench.files(under: bench.base))",
                    sourceLocation: sourceLocation)
            #expect(!FileManager.default.fileExists(atPath: bench.base + "-archive"), sourceLocation: sourceLocation)
        }

        await refused("has no fab manifest (vrmd-demo_1_all.deb.fab.json)")
        var manifest = try bench.passedManifest(deb, version: "1")
        manifest.sha256 = String(repeating: "0", count: 64)
        try manifest.write(besides: deb)
        await refused("the file changed after the build")
        manifest = try bench.passedManifest(deb, version: "1")
        manifest.verdict = .rejected
        manifest.gates = [.init(name: "lintian", passed: false, tool: "lintian 2.116.3", detail: "2 errors: dir-or-file-in-srv")]
        try manifest.write(besides: deb)
        await refused("rejected by the lintian gate (2 errors: dir-or-file-in-srv)")
        // Another package of the same name and version replaces the file after a passing verdict: refused too.
        try bench.passedManifest(deb, version: "1").write(besides: deb)
        let original = try Data(contentsOf: URL(fileURLWithPath: deb))
        _ = try bench.makeDeb(version: "1", text: "changed by hand")
        await refused("the file changed after the build")
        try original.write(to: URL(fileURLWithPath: deb))

        try await deploy.pushToRepo()
        #expect(try bench.published().contains("vrmd-demo 1"))
        #expect(FileManager.default.fileExists(atPath: bench.base + "-archive/vrmd-demo/vrmd-demo_1_all.deb"))
        // Nothing of the archive is inside the served tree.
        #expect(!bench.files(under: bench.base).contains { $0.contains("archive") }, "\(bench.files(under: bench.base))")
    }

    @Test("Known versions count the repository, its archive (old place included) and local builds, each once in Debian order; built versions are never reused")
    func versionsAreNeverReused() async throws {
        let bench = try PublishBench()
        defer { bench.stop() }
        let deploy = try await bench.deployment()
        for version in ["1", "2"] {
            let deb = try bench.makeDeb(version: version, text: version)
            try bench.passedManifest(deb, version: version).write(besides: deb)
            try await deploy.pushToRepo(deb: deb)
        }
        try await deploy.rollbackRepository(to: "1")
        #expect(try bench.published().contains("vrmd-demo 1"))
        // An older fab's archive inside the served base: counted and warned about, never moved.
        let legacy = bench.base + "/archive/vrmd-demo"
        try FileManager.default.createDirectory(atPath: legacy, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: bench.artifacts + "/vrmd-demo_1_all.deb", toPath: legacy + "/vrmd-demo_0.5_all.deb")
        try mustRun(["/bin/chown", "-R", bench.server.user, bench.base + "/archive"])
        // A rejected local build of 3.
        try FileManager.default.createDirectory(atPath: bench.artifacts + "/rejected", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: bench.artifacts + "/vrmd-demo_2_all.deb", toPath: bench.artifacts + "/rejected/vrmd-demo_3_all.deb")

        let next = try await deploy.nextVersion(build: deploy.fab.on("buildvm"))
        #expect(next == "4")
        #expect(bench.output.value.contains("): 0.5, 1, 2, 3; next build number 4"), "\(bench.output.value)")
        #expect(bench.output.value.contains("still holds vrmd-demo 0.5 inside the served repository"), "\(bench.output.value)")
        #expect(FileManager.default.fileExists(atPath: legacy + "/vrmd-demo_0.5_all.deb"))

        await #expect(throws: FabError.self) { try await deploy.refuseExisting(version: "2") }
        do {
            try await deploy.refuseExisting(version: "3")
            Issue.record("a version built here (and rejected) was accepted again")
        } catch {
            #expect("\(error)".contains("rejected/vrmd-demo_3_all.deb is already a build of vrmd-demo 3"), "\(error)")
        }
        try await deploy.refuseExisting(version: "4")

        // The version file bumps past local builds too.
        try "1\n".write(toFile: bench.work + "/VERSION", atomically: true, encoding: .utf8)
        #expect(try deploy.bumpVersionFile() == "4")
    }

    @Test("A rollback archive inside the served base is refused; the default lies beside it")
    func archivePlacement() async throws {
        let bench = try PublishBench()
        defer { bench.stop() }
        #expect(Deployment.Repository.reprepro(base: "/srv/apt/", codename: "fab").archiveDirectory == "/srv/apt-archive")
        #expect(Deployment.Repository.reprepro(base: "/srv/apt", codename: "fab", archive: "/var/lib/fab/archive").archiveDirectory == "/var/lib/fab/archive")
        do {
            _ = try await bench.deployment { $0.repository = .reprepro(base: "/srv/apt", codename: "fab", archive: "/srv/apt/private") }
            Issue.record("an archive inside the served base was accepted")
        } catch {
            #expect("\(error)".contains("is inside the repository base '/srv/apt', which the web server serves"), "\(error)")
        }
        // The old place stays possible when asked for by name.
        _ = try await bench.deployment { $0.repository = .reprepro(base: "/srv/apt", codename: "fab", archive: "/srv/apt/archive") }
        // An archive the repository host's user cannot create: refused before anything is published.
        let deploy = try await bench.deployment { $0.repository = .reprepro(base: bench.base, codename: "fab", archive: "/root/fab-archive-\(UUID().uuidString.prefix(6))") }
        let deb = try bench.makeDeb(version: "1")
        try bench.passedManifest(deb, version: "1").write(besides: deb)
        do {
            try await deploy.pushToRepo()
            Issue.record("pushed without an archive")
        } catch {
            #expect("\(error)".contains("cannot create the rollback archive"), "\(error)")
        }
        #expect(try bench.published().isEmpty)
    }
}
#endif
