import FabCore
import FabSSH
import FabTestSupport
import Foundation
import Testing
@testable import FabDeploy

/// Collects everything an OutputSink prints.
final class CapturedOutput: @unchecked Sendable {
    // Appended from session queues, read after operations finish.
    private let lock = NSLock()
    private var text = ""
    var sink: OutputSink { OutputSink(write: { line in self.lock.withLock { self.text += line } }) }
    var value: String { lock.withLock { text } }
}

/// Builds on a real build host: this machine's test user over a test sshd (no sudo: the apt step is
/// skipped because every kit package is installed here and the apt stamp is fresh). No network: the
/// project has no requirements from an index and pip is not upgraded.
@Suite("Deployment builds on a real build host", .serialized,
       .enabled(if: haveTool("/usr/sbin/sshd") && haveTool(debianPython) && haveTool("/usr/bin/dpkg-deb") && getuid() == 0))
struct DeploymentBuildTests {
    /// A project in a fresh git repository, committed on `main`.
    private func makeProject(_ tmp: TemporaryDirectory, files: [String: String]) throws -> String {
        let project = tmp.path + "/project"
        for (path, text) in files { try tmp.write("project/" + path, text) }
        try mustRun(["/bin/sh", "-c", "cd \"$1\" && git init -q -b main . && git add -A && git -c user.name=t -c user.email=t@t commit -q -m one", "sh", project])
        return project
    }

    /// A deployment whose build host is `server`, with the apt step already done for its user.
    private func makeDeployment(_ server: SSHServer, output: CapturedOutput, app: String, project: String, artifacts: String,
                                configure: @escaping (inout Deployment.Settings) -> Void) async throws -> Deployment {
        let user = try TestUser.standard()
        try mustRun(["/bin/sh", "-c", "mkdir -p \"$1/.cache\" && touch \"$1/.cache/fab-apt-updated\" && chown -R \"$2\" \"$1/.cache\"", "sh", user.home, user.name])
        let target = server.target(alias: "buildvm")
        let pool = ConnectionPool(resolver: { host in
            guard host == "buildvm" else { throw FabError(.noHost, "no host \(host) in these tests") }
            return target
        }, secrets: { _ in nil })
        let runtime = FabRuntime(pool: pool, output: output.sink)
        return try await Deployment(Fab(host: nil, runtime: runtime), app: app, projectDirectory: project) { settings in
            settings.python = debianPython
            settings.upgradePip = false
            settings.lint.enabled = false
            settings.artifactDirectory = artifacts
            configure(&settings)
        }
    }

    /// The build directories left on the build host for `app`.
    private func leftovers(app: String) throws -> [String] {
        let home = try TestUser.standard().home
        return (try? FileManager.default.contentsOfDirectory(atPath: "\(home)/fab-builds/\(app)")) ?? []
    }

    /// A layout of its own: code in /srv/fabkit/fabkit, a directory in /etc, links in /usr/bin and inside
    /// the root; Depends names the packages the virtualenv's python links (python3 and python3.X).
    @Test func buildsALayoutOfItsOwnWithTheInterpretersPackages() async throws {
        let tmp = try TemporaryDirectory("build-layout")
        defer { tmp.remove() }
        let project = try makeProject(tmp, files: ["fabkit/__init__.py": "VERSION = 1\n", "serve.py": "import fabkit\n",
                                                   "conf/fabkit.ini": "[fabkit]\n", "debian/postinst": "#!/bin/sh\nexit 0\n"])
        let server = try SSHServer()
        defer { server.stop() }
        let output = CapturedOutput()
        let deploy = try await makeDeployment(server, output: output, app: "fabkit", project: project, artifacts: tmp.path + "/out") {
            $0.installRoot = "/srv/fabkit"
            $0.layout = .init(codeDirectory: "fabkit", virtualenvDirectory: "venv", directories: ["conf": "/etc/fabkit"],
                              links: ["/usr/bin/fabkit-python": "/srv/fabkit/venv/bin/python3", "/srv/fabkit/current": "fabkit"])
        }
        try await deploy.prepareApp(version: "1")
        let deb = try await deploy.buildDeb()
        let contents = try mustRun(["/usr/bin/dpkg-deb", "-c", deb]).stdout
        for path in ["./srv/fabkit/fabkit/serve.py", "./srv/fabkit/fabkit/fabkit/__init__.py", "./etc/fabkit/fabkit.ini",
                     "./srv/fabkit/venv/bin/python3", "./usr/bin/fabkit-python -> /srv/fabkit/venv/bin/python3",
                     "./srv/fabkit/current -> fabkit"] {
            #expect(contents.contains(path), "\(path) missing from\n\(contents)")
        }
        #expect(!contents.contains("./srv/fabkit/fabkit/conf") && !contents.contains("./srv/fabkit/app"))
        let version = try mustRun([debianPython, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let depends = try mustRun(["/usr/bin/dpkg-deb", "-f", deb, "Depends"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(depends.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } == ["python3", "python\(version)"], "\(depends)")
        #expect(try mustRun(["/usr/bin/dpkg-deb", "-I", deb, "conffiles"]).stdout == "/etc/fabkit/fabkit.ini\n")
        #expect(try leftovers(app: "fabkit").isEmpty)
    }

    /// A build step that fails (a requirement that does not exist) removes the build directory and
    /// prints the step timings; with keepBuildDirectory the directory stays.
    @Test func aFailedBuildLeavesNoBuildDirectoryAndPrintsTimings() async throws {
        let tmp = try TemporaryDirectory("build-fail")
        defer { tmp.remove() }
        let project = try makeProject(tmp, files: ["requirements.txt": "./no-such-requirement-dir\n", "app.py": "print(1)\n"])
        let server = try SSHServer()
        defer { server.stop() }
        for keep in [false, true] {
            let output = CapturedOutput()
            let deploy = try await makeDeployment(server, output: output, app: "fabfail", project: project, artifacts: tmp.path + "/out") {
                $0.keepBuildDirectory = keep
            }
            try await deploy.prepareApp(version: "1")
            #expect(try leftovers(app: "fabfail").count == 1)
            await #expect(throws: CommandFailure.self) { try await deploy.buildDeb() }
            let text = output.value
            #expect(text.contains("[buildvm] build failed; step timings: source "), "\(text)")
            #expect(text.contains(", venv ") && text.contains(", failed step "), "\(text)")
            let left = try leftovers(app: "fabfail")
            if keep {
                #expect(left.count == 1 && text.contains("kept the failed build's directory"))
                try FileManager.default.removeItem(atPath: "\(try TestUser.standard().home)/fab-builds/fabfail")
            } else {
                #expect(left.isEmpty, "\(left)")
                #expect(text.contains("removed the failed build's directory"))
            }
        }
        #expect(!FileManager.default.fileExists(atPath: tmp.path + "/out"))
    }
}
