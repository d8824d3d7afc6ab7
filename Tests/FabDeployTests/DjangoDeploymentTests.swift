import FabCore
import Foundation
import Testing
@testable import FabDeploy

/// A deployment for step registration only: nothing connects.
private func makeDeployment(configure: (inout Deployment.Settings) -> Void = { _ in }) async throws -> Deployment {
    let pool = ConnectionPool(resolver: { host in throw FabError(.noHost, "no host \(host) in these tests") }, secrets: { _ in nil })
    let runtime = FabRuntime(pool: pool, output: OutputSink(write: { _ in }), dryRun: true, answers: [:], roledefs: [:])
    let project = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fabfiles/django").path
    return try await Deployment(Fab(host: nil, runtime: runtime), app: "django", projectDirectory: project, configure: configure)
}

/// Makes a git repository with `app/hello.py` committed on `main`, and returns its commit.
private func makeRepository(_ directory: String) throws -> String {
    try mustRun(["/bin/sh", "-c", """
        set -e; cd "$1"; git init -q -b main .; mkdir -p app/sub; echo 'print(1)' > app/hello.py
        echo x > 'app/sub/it'"'"'s.txt'; echo top > top.txt
        git add -A; git -c user.name=t -c user.email=t@t commit -q -m one
        """, "sh", directory])
    return try mustRun(["/usr/bin/git", "-C", directory, "rev-parse", "HEAD"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
}

@Suite("Django deployment steps")
struct DjangoDeploymentTests {
    @Test func stepsAddTheirPackagesToTheBuildDependencies() async throws {
        var deploy = try await makeDeployment()
        #expect(deploy.stepPackages.isEmpty && !deploy.needsGit)
        deploy.compileLess("a.less", to: "a.css")
        deploy.compileLess("b.less", to: "b.css")
        try deploy.bustCaches(in: ["hello/templates"])
        deploy.compressCSS(in: ["hello/static"])
        deploy.compileMessages()
        try deploy.collectStatic(settingsModule: "vrmdsite.settings", rootVariable: "VRMD_DJANGO_STATIC_ROOT")
        #expect(deploy.stepPackages == ["node-less", "python3-rcssmin", "gettext"])
        #expect(deploy.buildSteps.map(\.phase) == [.source, .source, .source, .source, .virtualenv, .installed])
        let cloned = try await makeDeployment { $0.source = .clone(url: "https://git.example/vrmd.git") }
        #expect(cloned.needsGit && cloned.stepPackages == ["ca-certificates"])
    }

    @Test func badStepArgumentsFailBeforeAnythingRuns() async throws {
        var deploy = try await makeDeployment()
        #expect(throws: FabError.self) { try deploy.bustCaches(in: []) }
        #expect(throws: FabError.self) { try deploy.bustCaches(in: ["a"], token: "") }
        #expect(throws: FabError.self) { try deploy.collectStatic(settingsModule: "x;y", rootVariable: "R") }
        #expect(throws: FabError.self) { try deploy.collectStatic(settingsModule: "s", rootVariable: "R-1") }
        #expect(throws: FabError.self) { try deploy.collectStatic(settingsModule: "s", rootVariable: "R", directory: "../out") }
        #expect(throws: FabError.self) { try deploy.addSubApp(branch: "main", path: "/etc") }
        #expect(throws: FabError.self) { try deploy.addSubApp(branch: "no-such-branch-here", path: "hello") }
        #expect(deploy.buildSteps.isEmpty)
        try deploy.addSubApp(repo: "git@git.example:blog.git", branch: "stable", path: "src/blog")
        #expect(deploy.stepPackages == ["git", "ca-certificates"])
    }

    @Test func cloneCommandQuotesEveryValue() {
        let command = DeploymentSource.cloneCommand(url: "file:///srv/it's.git", branch: "feature/x", commit: "abc123",
                                                    prefix: "Fabfiles/django", checkout: "/b/checkout", destination: "/b/my src")
        #expect(command == "set -e; rm -rf -- /b/checkout; git clone -q --no-checkout --single-branch --branch feature/x -- 'file:///srv/it'\\''s.git' /b/checkout; "
            + "{ git -C /b/checkout cat-file -e 'abc123^{commit}' 2>/dev/null || { echo 'the git server has no commit abc123 on feature/x: push it first' >&2; exit 1; }; }; "
            + "mkdir -p '/b/my src'; git -C /b/checkout archive --format=tar abc123:Fabfiles/django | tar -x -f - -C '/b/my src'; "
            + "git -C /b/checkout rev-parse 'abc123^{commit}'; rm -rf -- /b/checkout")
    }

    /// The clone command, run here against a local "server": the commit's tree at the prefix lands in
    /// the destination and the commit is printed; a commit the server lacks fails with a sentence.
    @Test(.enabled(if: haveTool("/usr/bin/git")))
    func cloneCommandChecksOutTheCommitsTree() throws {
        let tmp = try TemporaryDirectory("clone")
        defer { tmp.remove() }
        let server = tmp.path + "/server"
        try FileManager.default.createDirectory(atPath: server, withIntermediateDirectories: true)
        let commit = try makeRepository(server)
        let command = DeploymentSource.cloneCommand(url: "file://" + server, branch: "main", commit: commit, prefix: "app",
                                                    checkout: tmp.path + "/checkout", destination: tmp.path + "/src")
        let output = try mustRun(["/bin/sh", "-c", command])
        #expect(output.stdout == commit + "\n")
        #expect(try String(contentsOfFile: tmp.path + "/src/hello.py", encoding: .utf8) == "print(1)\n")
        #expect(FileManager.default.fileExists(atPath: tmp.path + "/src/sub/it's.txt"))
        #expect(!FileManager.default.fileExists(atPath: tmp.path + "/src/top.txt"))
        #expect(!FileManager.default.fileExists(atPath: tmp.path + "/checkout"))

        let missing = String(repeating: "1", count: 40)
        let failed = try runProcess(["/bin/sh", "-c", DeploymentSource.cloneCommand(
            url: "file://" + server, branch: "main", commit: missing, prefix: "app", checkout: tmp.path + "/c2", destination: tmp.path + "/s2")])
        #expect(failed.status != 0)
        #expect(failed.stderr.contains("has no commit \(missing) on main: push it first"))
    }

    /// A sub-app's tree on another branch, which need not exist in the work tree.
    @Test(.enabled(if: haveTool("/usr/bin/git")))
    func resolvesATreeOnAnotherBranch() throws {
        let tmp = try TemporaryDirectory("subapp")
        defer { tmp.remove() }
        _ = try makeRepository(tmp.path)
        try mustRun(["/bin/sh", "-c", """
            set -e; cd "$1"; git checkout -q -b blog; mkdir -p apps/blog; echo b > apps/blog/models.py
            git add -A; git -c user.name=t -c user.email=t@t commit -q -m blog; git checkout -q main
            """, "sh", tmp.path])
        let source = try DeploymentSource.resolve(repository: tmp.path + "/app", prefix: "apps/blog/", branch: "blog")
        #expect(source.prefix == "apps/blog" && source.branch == "blog")
        #expect(try source.entries().map(\.path) == ["models.py"])
        #expect(throws: FabError.self) { try DeploymentSource.resolve(repository: tmp.path, prefix: "apps/blog", branch: "main") }
        #expect(throws: FabError.self) { try DeploymentSource.resolve(repository: tmp.path, prefix: "x", branch: "-rf") }
    }
}
