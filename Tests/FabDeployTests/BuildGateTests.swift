#if os(Linux)
import FabArchive
import FabCore
import FabTestSupport
import Foundation
import Glibc
import Testing
@testable import FabDeploy

/// Real builds of a tiny app, with this machine as the build host through a loopback sshd (the test
/// user builds; apt-get is skipped because every kit package, lintian included, is installed here and
/// the apt stamp is fresh). About 20 s a build, most of it lintian on pip's files.
@Suite("Builds through the gates", .serialized, .timeLimit(.minutes(10)))
struct BuildGateTests {
    init() throws {
        try #require(getuid() == 0, "the tests create a test user and hand it files; run them as root.")
        let tools = ["/usr/bin/reprepro", "/usr/bin/lintian", "/usr/bin/dpkg-deb", "/usr/bin/python3.11", "/usr/bin/git", "/usr/bin/patchelf"]
        try #require(tools.allSatisfy(haveTool), "needs \(tools.joined(separator: ", "))")
    }

    /// A committed project: one module and the project's own lintian overrides.
    private func makeProject(_ tmp: TemporaryDirectory) throws -> String {
        let project = tmp.path + "/demo"
        try tmp.write("demo/demo.py", "print('hello from demo')\n")
        try tmp.write("demo/debian/demo.lintian-overrides", "# The project's own file, appended after fab's: the app sources this script.\ndemo: script-not-executable [srv/demo/app/env.sh]\n")
        try tmp.write("demo/env.sh", "#!/bin/sh\nDEMO_MODE=production\n", mode: 0o644)
        try mustRun(["/bin/sh", "-c", "git init -q -b main . && git add -A && git -c user.name=t -c user.email=t@t commit -q -m one"], directory: project)
        return project
    }

    @Test("Two builds before a push give two versions and keep both files; a build lintian rejects goes to rejected/, counts as a version and cannot be pushed")
    func buildsGetDistinctVersionsAndRejectedOnesStayOut() async throws {
        let bench = try PublishBench()
        defer { bench.stop() }
        let tmp = try TemporaryDirectory("build")
        defer { tmp.remove() }
        let project = try makeProject(tmp)
        // The build host built recently: skip apt-get (every package it would install is installed here).
        let user = try TestUser.standard()
        try mustRun(["/usr/sbin/runuser", "-u", user.name, "--", "/bin/sh", "-c", DeploymentCommands.touchAptStamp(user.home + "/" + DeploymentCommands.aptStampFile)])

        func build(_ configure: @escaping (inout Deployment.Settings) -> Void = { _ in }) async throws -> String {
            let deploy = try await bench.deployment(project: project) {
                $0.packagePrefix = ""
                $0.installRoot = "/srv/demo"
                $0.upgradePip = false
                $0.buildDirectory = "fab-builds-test"
                $0.lint.timeoutSeconds = 240
                configure(&$0)
            }
            // A stalled step fails the test with the command it waited for, well within the time limit.
            return try await deploy.fab.settings({ $0.commandTimeout = 240 }) {
                try await deploy.prepareApp()
                return try await deploy.buildDeb()
            }
        }

        let first = try await build()
        #expect(first == bench.artifacts + "/demo_1_all.deb")
        let manifest1 = try #require(try ArtifactManifest.read(besides: first))
        let hash1 = try FileDigest.sha256(path: first)
        #expect(manifest1.verdict == .passed && manifest1.version == "1" && manifest1.sha256 == hash1)
        #expect(manifest1.gates.map(\.name) == ["relocation audit", "transfer sha256", "package readback", "lintian"])
        #expect(manifest1.gates.last?.tool?.hasPrefix("lintian 2.") == true)
        #expect(manifest1.lintian?.errors == [])
        #expect((manifest1.lintian?.overridden["dir-or-file-in-srv"] ?? 0) > 10, "\(String(describing: manifest1.lintian?.overridden))")
        #expect(manifest1.lintian?.overridden["script-not-executable"] == 1, "the project's override file was not honoured")
        #expect(bench.output.value.contains(": 0 errors, "), "no lintian counts in:\n\(bench.output.value.suffix(3000))")
        #expect(bench.output.value.contains("Description: Python app demo built by fab"))

        // A build lintian rejects (an accepted tag lintian does not know is an error): it never
        // lands where push looks, keeps its version, and says why.
        do {
            _ = try await build { $0.lint.accept["fab-test-no-such-tag"] = "to make lintian reject this build" }
            Issue.record("a build with a lintian error was accepted")
        } catch {
            #expect("\(error)".contains("the lintian gate rejected demo_2_all.deb (1 error: alien-tag)"), "\(error)")
        }
        let rejected = bench.artifacts + "/rejected/demo_2_all.deb"
        #expect(FileManager.default.fileExists(atPath: rejected))
        #expect(!FileManager.default.fileExists(atPath: bench.artifacts + "/demo_2_all.deb"))
        #expect(try ArtifactManifest.read(besides: rejected)?.verdict == .rejected)

        let second = try await build()
        #expect(second == bench.artifacts + "/demo_3_all.deb")
        #expect(FileManager.default.fileExists(atPath: first), "the first build was not kept")
        let (after1, hash3) = (try FileDigest.sha256(path: first), try FileDigest.sha256(path: second))
        #expect(after1 == manifest1.sha256, "the first build changed")
        #expect(after1 != hash3)
        #expect(bench.output.value.contains("): 1, 2; next build number 3"), "\(bench.output.value)")
        for line in bench.output.value.split(separator: "\n") where line.contains("step timings:") || line.contains("] lintian 2.") { print(line) }

        // Push: the rejected build is refused by name; the newest passed one is published.
        let deploy = try await bench.deployment(project: project) { $0.packagePrefix = "" }
        do {
            try await deploy.pushToRepo(deb: rejected)
            Issue.record("a rejected build was pushed")
        } catch {
            #expect("\(error)".contains("was rejected by the lintian gate"), "\(error)")
        }
        #expect(try bench.published("demo").isEmpty)
        try await deploy.pushToRepo()
        #expect(try bench.published("demo").contains("demo 3"))
        try? FileManager.default.removeItem(atPath: user.home + "/fab-builds-test")
    }
}
#endif
