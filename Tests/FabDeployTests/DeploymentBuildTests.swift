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
/// project has no requirements from an index, pip installs and is not upgraded (InstallerTests.swift
/// builds with uv, from PyPI).
@Suite("Deployment builds on a real build host", .serialized,
       .enabled(if: haveTool("/usr/sbin/sshd") && haveTool(debianPython) && haveTool("/usr/bin/dpkg-deb") && getuid() == 0))
struct DeploymentBuildTests {
    /// A project in a fresh git repository, committed on `main`.
    func makeProject(_ tmp: TemporaryDirectory, files: [String: String]) throws -> String {
        let project = tmp.path + "/project"
        for (path, text) in files { try tmp.write("project/" + path, text) }
        try mustRun(["/bin/sh", "-c", "cd \"$1\" && git init -q -b main . && git add -A && git -c user.name=t -c user.email=t@t commit -q -m one", "sh", project])
        return project
    }

    /// A deployment whose build host is `server`, with the apt step already done for its user.
    func makeDeployment(_ server: SSHServer, output: CapturedOutput, app: String, project: String, artifacts: String,
                                debug: Bool = false,
                                configure: @escaping (inout Deployment.Settings) -> Void) async throws -> Deployment {
        let user = try TestUser.standard()
        try mustRun(["/bin/sh", "-c", "mkdir -p \"$1/.cache\" && touch \"$1/.cache/fab-apt-updated\" && chown -R \"$2\" \"$1/.cache\"", "sh", user.home, user.name])
        let target = server.target(alias: "buildvm")
        let pool = ConnectionPool(resolver: { host in
            guard host == "buildvm" else { throw FabError(.noHost, "no host \(host) in these tests") }
            return target
        }, secrets: { _ in nil })
        let runtime = FabRuntime(pool: pool, output: output.sink, debug: debug)
        return try await Deployment(Fab(host: nil, runtime: runtime), app: app, projectDirectory: project) { settings in
            settings.python = debianPython
            settings.upgradePip = false
            settings.installer = .pip
            settings.lint.enabled = false
            settings.artifactDirectory = artifacts
            configure(&settings)
        }
    }

    /// The build directories left on the build host for `app`.
    func leftovers(app: String) throws -> [String] {
        let home = try TestUser.standard().home
        return (try? FileManager.default.contentsOfDirectory(atPath: "\(home)/fab-builds/\(app)")) ?? []
    }

    /// A layout of its own: code in /srv/fabkit/fabkit, a directory in /etc, links in /usr/bin and inside
    /// the root; Depends names the packages the virtualenv's python links (python3 and python3.X).
    @Test func buildsALayoutOfItsOwnWithTheInterpretersPackages() async throws {
        let tmp = try TemporaryDirectory("build-layout")
        defer { tmp.remove() }
        // A native extension that links a library bundled beside it, as wheels repaired by auditwheel do
        // (`PKG.libs/`, found through $ORIGIN): dpkg-shlibdeps warns about both files.
        try tmp.write("b.c", "int fab_b(void) { return 1; }\n")
        try tmp.write("m.c", "#include <stdio.h>\nint fab_b(void);\nint fab_m(void) { return printf(\"%d\", fab_b()); }\n")
        let libs = tmp.path + "/project/fabkit/fabkit.libs", ext = tmp.path + "/project/fabkit/fabkit"
        try FileManager.default.createDirectory(atPath: libs, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: ext, withIntermediateDirectories: true)
        try mustRun(["/usr/bin/gcc", "-shared", "-fPIC", "-o", libs + "/libfabb-1a2b3c4d.so.1", "-Wl,-soname,libfabb-1a2b3c4d.so.1", tmp.path + "/b.c"])
        try mustRun(["/usr/bin/gcc", "-shared", "-fPIC", "-o", ext + "/_native.so", tmp.path + "/m.c", "-L" + libs, "-l:libfabb-1a2b3c4d.so.1",
                     "-Wl,-rpath,$ORIGIN/../fabkit.libs"])
        let project = try makeProject(tmp, files: ["fabkit/fabkit/__init__.py": "VERSION = 1\n", "serve.py": "import fabkit\n",
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
        for path in ["./srv/fabkit/fabkit/serve.py", "./srv/fabkit/fabkit/fabkit/fabkit/__init__.py", "./etc/fabkit/fabkit.ini",
                     "./srv/fabkit/fabkit/fabkit/fabkit/_native.so", "./srv/fabkit/fabkit/fabkit/fabkit.libs/libfabb-1a2b3c4d.so.1",
                     "./srv/fabkit/venv/bin/python3", "./usr/bin/fabkit-python -> /srv/fabkit/venv/bin/python3",
                     "./srv/fabkit/current -> fabkit"] {
            #expect(contents.contains(path), "\(path) missing from\n\(contents)")
        }
        #expect(!contents.contains("./srv/fabkit/fabkit/conf") && !contents.contains("./srv/fabkit/app"))
        let version = try mustRun([debianPython, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let depends = try mustRun(["/usr/bin/dpkg-deb", "-f", deb, "Depends"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let relations = depends.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(relations.count == 3 && relations.first?.hasPrefix("libc6 (>= ") == true, "\(depends)")
        #expect(relations.suffix(2) == ["python3", "python\(version)"], "\(depends)")
        // The warnings about the bundled library are one line, not one err: line each.
        let summary = output.value.split(separator: "\n").filter { $0.hasPrefix("[buildvm] dpkg-shlibdeps: ") && $0.contains(" warning(s) (") }
        #expect(summary.count == 1 && summary[0].contains(" × binaries to analyze should already be installed"), "\(output.value)")
        #expect(!output.value.contains("err: dpkg-shlibdeps: warning"))
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

    /// The warnings' summary line always; each warning only at the debug level; all of them in the log file.
    @Test func shlibdepsWarningsAreOneLineUnlessDebugging() async throws {
        let tmp = try TemporaryDirectory("warnings")
        defer { tmp.remove() }
        let server = try SSHServer()
        defer { server.stop() }
        let project = try makeProject(tmp, files: ["app.py": "print(1)\n"])
        let user = try TestUser.standard()
        let log = user.home + "/fab-warnings-\(UUID().uuidString.prefix(8)).log"
        defer { try? FileManager.default.removeItem(atPath: log) }
        let stderr = """
            dpkg-shlibdeps: warning: binaries to analyze should already be installed in their package's directory
            dpkg-shlibdeps: warning: $ORIGIN is used in RPATH of /b/pkg/x/_imaging.so and the corresponding directory could not be identified
            dpkg-shlibdeps: warning: binaries to analyze should already be installed in their package's directory

            """
        for debug in [false, true] {
            let output = CapturedOutput()
            let deploy = try await makeDeployment(server, output: output, app: "fabwarn", project: project, artifacts: tmp.path, debug: debug) { _ in }
            let build = deploy.fab.on("buildvm")
            try await deploy.reportShlibdepsWarnings(ShlibdepsWarnings(standardError: stderr), log: log, on: build)
            let lines = output.value.split(separator: "\n").filter { !$0.contains("run:") }
            let summary = "[buildvm] dpkg-shlibdeps: 3 warning(s) (2 × binaries to analyze should already be installed in their package's directory; 1 × $ORIGIN is used in RPATH of … and the corresponding directory could not be identified); `fab --show debug` prints them all"
            #expect(lines.first.map(String.init) == summary)
            #expect(lines.count == (debug ? 4 : 1), "\(lines)")
            if debug { #expect(lines.last == "[buildvm] dpkg-shlibdeps: warning: binaries to analyze should already be installed in their package's directory") }
            #expect(try String(contentsOfFile: log, encoding: .utf8) == stderr.replacingOccurrences(of: "\n\n", with: "\n"))
        }
    }

    /// A link over a file another package owns is refused on the build host before anything is made
    /// there, found under its other merged-/usr spelling too (dpkg records /bin/sh, not /usr/bin/sh),
    /// and the timings up to the failure are printed.
    @Test func aLinkOverAPackagesFileIsRefusedBeforeTheBuild() async throws {
        let tmp = try TemporaryDirectory("build-link")
        defer { tmp.remove() }
        let project = try makeProject(tmp, files: ["app.py": "print(1)\n"])
        let server = try SSHServer()
        defer { server.stop() }
        let owner = try mustRun(["/bin/sh", "-c", "dpkg-query -S /bin/sh | grep -v '^diversion' | cut -d: -f1"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let output = CapturedOutput()
        let deploy = try await makeDeployment(server, output: output, app: "fablink", project: project, artifacts: tmp.path + "/out") {
            $0.layout.links = ["/usr/bin/sh": "/vrmd/fablink/venv/bin/python3"]
        }
        let error = await #expect(throws: FabError.self) { try await deploy.prepareApp(version: "1") }
        #expect(error?.description == #"layout.links["/usr/bin/sh"]: /usr/bin/sh belongs to the package \#(owner) on buildvm, and dpkg does not let two packages ship one path; choose another link path."#)
        #expect(output.value.contains("[buildvm] build failed; step timings: source "), "\(output.value)")
        #expect(try leftovers(app: "fablink").isEmpty)
    }

    /// The named pipeline: a step inserted after `relocate` sees the relocated tree and adds a file and
    /// a control field to the package; one inserted before `code` runs first; a replaced step runs
    /// instead of the kit's; a removed one does not run; every step's time is reported under its
    /// name; unknown and duplicate names are refused before anything runs.
    @Test func aFabfileExtendsReplacesAndRemovesNamedSteps() async throws {
        let tmp = try TemporaryDirectory("build-pipeline")
        defer { tmp.remove() }
        let project = try makeProject(tmp, files: ["app.py": "print(1)\n"])
        let server = try SSHServer()
        defer { server.stop() }
        let output = CapturedOutput()
        var deploy = try await makeDeployment(server, output: output, app: "fabpipe", project: project, artifacts: tmp.path + "/out") { _ in }
        #expect(deploy.pipeline.names == BuildPipeline.defaultNames)
        try deploy.pipeline.insert(.init("stamp") { state in
            let q = state.build.quote
            // Relocation has run: the audit counted files, and the staged virtualenv is there.
            try await state.build.run("test -x \(q(state.virtualenv + "/bin/python3")) && printf '%s %s\\n' \(q(state.version)) \(state.auditedFiles) > \(q(state.stagedRoot + "/stamp.txt"))")
            state.package.extraFields["Fab-Stamp"] = "stamped"
        }, after: "relocate")
        try deploy.pipeline.insert(.init("first") { state in
            try await state.build.run("test ! -e \(state.build.quote(state.stagingDirectory))")
        }, before: "code")
        try deploy.pipeline.replace("strip", with: .init("no-strip") { state in state.elfFiles = [] })
        try deploy.pipeline.remove("debian-files")
        #expect(deploy.pipeline.names == ["first", "code", "venv", "pip", "no-strip", "relocate", "stamp", "shlibdeps", "control", "pack", "gates", "cleanup"])
        let missing = #expect(throws: FabError.self) { try deploy.pipeline.remove("nope") }
        #expect(missing?.description == "the build pipeline has no step 'nope' (its steps: first, code, venv, pip, no-strip, relocate, stamp, shlibdeps, control, pack, gates, cleanup); name one of those.")
        let taken = #expect(throws: FabError.self) { try deploy.pipeline.insert(.init("code") { _ in }, after: "pip") }
        #expect(taken?.description == "the build pipeline already has a step 'code'; give the new step another name, or replace that one.")

        try await deploy.prepareApp(version: "1")
        let deb = try await deploy.buildDeb()
        let contents = try mustRun(["/usr/bin/dpkg-deb", "-c", deb]).stdout
        #expect(contents.contains("./vrmd/fabpipe/stamp.txt") && contents.contains("./vrmd/fabpipe/app/app.py"), "\(contents)")
        #expect(!contents.contains("./usr/share/doc/"), "the removed debian-files step ran:\n\(contents)")
        let stamp = try mustRun(["/bin/sh", "-c", "dpkg-deb --fsys-tarfile \"$1\" | tar -xOf - ./vrmd/fabpipe/stamp.txt", "sh", deb]).stdout
        let fields = stamp.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        #expect(fields.count == 2 && fields[0] == "1" && (Int(fields[1]) ?? 0) > 10, "\(stamp)")
        #expect(try mustRun(["/usr/bin/dpkg-deb", "-f", deb, "Fab-Stamp"]).stdout == "stamped\n")
        let timings = try #require(output.value.split(separator: "\n").last { $0.contains("] step timings: ") })
        for name in ["first", "code", "venv", "pip", "no-strip", "relocate", "stamp", "shlibdeps", "control", "pack", "fetch+verify"] {
            #expect(timings.contains(" \(name) "), "\(name) is missing from \(timings)")
        }
        #expect(!timings.contains(" strip ") && !timings.contains("debian-files"), "\(timings)")
        #expect(try leftovers(app: "fabpipe").isEmpty)
    }
}
