#if os(Linux)
import FabArchive
import FabCore
import FabTestSupport
import Foundation
import Glibc
import Testing
@testable import FabDeploy

/// Rolling a family back across its split, against a real reprepro repository on a loopback sshd:
/// the older app comes back with the virtualenv version it pins (which the repository no longer
/// served) and the role package that pins it, found by their `Depends` in the rollback archive.
@Suite("A family's rollback across the split", .serialized)
struct FamilyRollbackTests {
    init() throws {
        try #require(getuid() == 0, "the tests create a test user and run reprepro as it; run them as root.")
    }

    /// A small arch-all .deb of `package` at `version` depending on `depends`, with a passed manifest,
    /// in the bench's artifact directory.
    func makeDeb(_ bench: PublishBench, _ package: String, _ version: String, depends: [String] = []) throws -> String {
        let tmp = try TemporaryDirectory("pkg")
        defer { tmp.remove() }
        try tmp.write("pkg/usr/share/doc/\(package)/version", "\(version)\n")
        var control = ControlFileBuilder(package: package, version: version, architecture: "all",
                                         maintainer: "Fab Tests <fab-tests@example.com>", synopsis: "family member built by fab tests")
        control.runDepends = depends
        control.installedSize = 4
        try tmp.write("pkg/DEBIAN/control", try control.build())
        try mustRun(["/bin/sh", "-c", DeploymentCommands.normalizeModes(stagingDirectory: tmp.path + "/pkg")])
        let deb = bench.artifacts + "/" + DeploymentCommands.debFileName(package: package, version: version, architecture: "all")
        try mustRun(["/bin/sh", "-c", DeploymentCommands.buildDeb(stagingDirectory: tmp.path + "/pkg", output: deb, level: 1)])
        try ArtifactManifest(package: package, version: version, architecture: "all", fileName: (deb as NSString).lastPathComponent,
                             sha256: try FileDigest.sha256(path: deb), size: 1, verdict: .passed,
                             gates: [.init(name: "lintian", passed: true, tool: "lintian 2.116.3", detail: "0 errors, 0 warnings")],
                             branch: "main", commit: "1a2b3c4", buildHost: "buildvm", recordedAt: ArtifactManifest.now(), lintian: nil)
            .write(besides: deb)
        return deb
    }

    @Test("rolling back to app 1 serves again the venv it pins and the role that pins it; a missing pin changes nothing")
    func rollbackAcrossTheSplit() async throws {
        let bench = try PublishBench()
        defer { bench.stop() }
        let deploy = try await bench.deployment()
        #expect(deploy.venvPackageName == "vrmd-demo-venv")
        // Build 1 pins venv 1; build 2 pins venv 2 (its requirements changed); the role has numbers of its own.
        // The production config changed between the builds too (4, then 5), and the role pins it.
        for (app, venv, role, config) in [("1", "1", "7", "4"), ("2", "2", "8", "5")] {
            try await deploy.publish(deb: try makeDeb(bench, "vrmd-demo-venv", venv), package: "vrmd-demo-venv")
            try await deploy.publish(deb: try makeDeb(bench, "vrmd-demo", app, depends: ["vrmd-demo-venv (= \(venv))", "python3"]),
                                     package: "vrmd-demo")
            try await deploy.publish(deb: try makeDeb(bench, "vrmd-demo-config-prod", config), package: "vrmd-demo-config-prod")
            try await deploy.publish(deb: try makeDeb(bench, "vrmd-demo-server-prod", role,
                                                      depends: ["vrmd-demo (= \(app))", "vrmd-demo-config-prod (= \(config))", "adduser | passwd"]),
                                     package: "vrmd-demo-server-prod")
        }
        #expect(try bench.published("vrmd-demo-venv").contains("vrmd-demo-venv 2"))

        // Nothing changes when the roles are wrong, before anything is republished.
        await #expect(throws: FabError.self) { try await deploy.rollbackFamilyRepository(to: "1", roles: ["Not_A_Package"]) }
        do {
            try await deploy.rollbackFamilyRepository(to: "1", roles: ["vrmd-demo-server-staging"])
            Issue.record("a role with no archived package pinning app 1 was accepted")
        } catch {
            #expect("\(error)".contains("no archived vrmd-demo-server-staging"), "\(error)")
        }
        #expect(try bench.published("vrmd-demo").contains("vrmd-demo 2"))
        #expect(try bench.published("vrmd-demo-venv").contains("vrmd-demo-venv 2"))

        let rollback = try await deploy.rollbackFamilyRepository(to: "1", roles: ["vrmd-demo-server-prod"])
        #expect(rollback.packages.map { "\($0.name)=\($0.version)" }
                == ["vrmd-demo-venv=1", "vrmd-demo=1", "vrmd-demo-config-prod=4", "vrmd-demo-server-prod=7"])
        #expect(try bench.published("vrmd-demo-config-prod").contains("vrmd-demo-config-prod 4"))
        #expect(try bench.published("vrmd-demo-venv").contains("vrmd-demo-venv 1"))
        #expect(try bench.published("vrmd-demo").contains("vrmd-demo 1"))
        #expect(try bench.published("vrmd-demo-server-prod").contains("vrmd-demo-server-prod 7"))

        // An app build whose pinned venv is not archived is refused, and nothing moves.
        try await deploy.publish(deb: try makeDeb(bench, "vrmd-demo", "3", depends: ["vrmd-demo-venv (= 9)"]), package: "vrmd-demo")
        do {
            try await deploy.rollbackFamilyRepository(to: "3")
            Issue.record("an app whose venv is not archived was rolled back to")
        } catch {
            #expect("\(error)".contains("needs vrmd-demo-venv 9, which the rollback archive"), "\(error)")
        }
        #expect(try bench.published("vrmd-demo-venv").contains("vrmd-demo-venv 1"))
    }

    @Test("exact pins are read from Depends, whatever else the field holds")
    func pins() {
        let package = ArchivedPackage(fileName: "x.deb", version: "2", depends: "python3 (>= 3.11), vrmd-demo-venv (= 1:4.2-1), vrmd-demo-venv-extra (= 9), libpq5")
        #expect(package.pinnedVersion(of: "vrmd-demo-venv") == "1:4.2-1")
        #expect(package.pinnedVersion(of: "python3") == nil)
        #expect(package.pinnedVersion(of: "vrmd-demo") == nil)
        #expect(package.exactPins().map { "\($0.package)=\($0.version)" } == ["vrmd-demo-venv=1:4.2-1", "vrmd-demo-venv-extra=9"])
        #expect(ArchivedPackage(fileName: "", version: "1", depends: "a (= 1) | b (= 2), c").exactPins().isEmpty)
        #expect(ArchivedPackage.parse("a_1_all.deb\t1\tx (= 1) \nbad line\nb_2_all.deb\t\t\n")
                == [ArchivedPackage(fileName: "a_1_all.deb", version: "1", depends: "x (= 1) ")])
    }
}
#endif
