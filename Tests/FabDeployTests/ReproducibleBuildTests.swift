import FabCore
import FabSSH
import FabTestSupport
import Foundation
import Testing
@testable import FabDeploy

/// Two builds of one commit on the single test build host (this machine's test user over a test
/// sshd; no network: the one requirement is a local wheel) give the same bytes, and the pieces that
/// make them so are each checked in the package: file and archive times, the changelog's date,
/// checked-hash byte-code listed in RECORD, no direct_url.json naming the build host's files, no
/// build path anywhere.
@Suite("Reproducible builds on a real build host", .serialized,
       .enabled(if: haveTool("/usr/sbin/sshd") && haveTool(debianPython) && haveTool("/usr/bin/dpkg-deb") && getuid() == 0))
struct ReproducibleBuildTests {
    /// The commit's time: 2020-01-02 03:04:05 UTC.
    static let commitTime = 1_577_934_245

    /// A deployment of `app` whose build host is `server`, with the apt step already done for its user.
    private func makeDeployment(_ server: SSHServer, app: String, project: String, artifacts: String) async throws -> Deployment {
        let user = try TestUser.standard()
        try mustRun(["/bin/sh", "-c", "mkdir -p \"$1/.cache\" && touch \"$1/.cache/fab-apt-updated\" && chown -R \"$2\" \"$1/.cache\"", "sh", user.home, user.name])
        let target = server.target(alias: "buildvm")
        let pool = ConnectionPool(resolver: { host in
            guard host == "buildvm" else { throw FabError(.noHost, "no host \(host) in these tests") }
            return target
        }, secrets: { _ in nil })
        let output = CapturedOutput()
        let runtime = FabRuntime(pool: pool, output: output.sink)
        return try await Deployment(Fab(host: nil, runtime: runtime), app: app, projectDirectory: project) { settings in
            settings.python = debianPython
            settings.upgradePip = false
            settings.lint.enabled = false
            settings.artifactDirectory = artifacts
        }
    }

    /// Writes a pure-Python wheel `hello-1.0` into `directory` and returns its path.
    private func makeWheel(in directory: String) throws -> String {
        try makeHelloWheel(in: directory, files: [
            "hello/__init__.py": "NAMES = {'alpha', 'beta', 'gamma', 'delta', 'epsilon', 'zeta'}\ndef known(x):\n    return x in {'one', 'two', 'three', 'four', 'five'}\n",
        ])
    }

    /// diffoscope's report on two files (capped), or why there is none.
    static func diffoscope(_ first: String, _ second: String, limit: Int = 6000) -> String {
        guard let tool = which("diffoscope") else { return "(diffoscope is not installed: apt-get install diffoscope)" }
        guard let result = try? runProcess([tool, "--text", "-", "--no-progress", first, second]) else { return "(diffoscope did not run)" }
        let text = result.stdout + result.stderr
        return text.count > limit ? String(text.prefix(limit)) + "\n[... \(text.count - limit) more characters]" : text
    }

    /// The same C source compiled with debug information in two directories (as pip compiles an
    /// extension in a new random temporary directory each time) gives the same bytes once stripped:
    /// the debug information and the build ID computed over it are gone.
    @Test(.enabled(if: haveTool("/usr/bin/gcc") && haveTool("/usr/bin/strip")))
    func strippedExtensionsDoNotDependOnTheirBuildDirectory() throws {
        let tmp = try TemporaryDirectory("repro-strip")
        defer { tmp.remove() }
        var built: [Data] = []
        for directory in ["pip-install-1a2b3c/ext_9z", "pip-install-7q8r/ext_44"] {
            try tmp.write(directory + "/src/m.c", "int fab_m(int x) { return x * 3; }\n")
            try mustRun(["/usr/bin/gcc", "-g", "-O2", "-fPIC", "-shared", "-o", "m.so", "src/m.c"], directory: tmp.path + "/" + directory)
            try mustRun(["/bin/sh", "-c", DeploymentCommands.strip(files: [tmp.path + "/" + directory + "/m.so"])])
            built.append(try Data(contentsOf: URL(fileURLWithPath: tmp.path + "/" + directory + "/m.so")))
        }
        let identical = built[0] == built[1]
        #expect(identical, "stripped extensions built in two directories differ:\n\(Self.diffoscope(tmp.path + "/pip-install-1a2b3c/ext_9z/m.so", tmp.path + "/pip-install-7q8r/ext_44/m.so"))")
    }

    @Test func twoBuildsOfOneCommitGiveTheSameBytes() async throws {
        let tmp = try TemporaryDirectory("repro")
        defer { tmp.remove() }
        try FileManager.default.createDirectory(atPath: tmp.path + "/wheels", withIntermediateDirectories: true)
        let wheel = try makeWheel(in: tmp.path + "/wheels")
        let project = tmp.path + "/project"
        try tmp.write("project/requirements.txt", wheel + "\n")
        try tmp.write("project/serve.py", "SETTINGS = {'port', 'host', 'workers', 'timeout', 'backlog'}\n")
        try tmp.write("project/etc/fabrepro/fabrepro.conf", "port = 1\n")
        try mustRun(["/bin/sh", "-c", "cd \"$1\" && git init -q -b main . && git add -A && git -c user.name=t -c user.email=t@t commit -q -m one", "sh", project],
                    environment: ProcessInfo.processInfo.environment.merging(
                        ["GIT_AUTHOR_DATE": "2019-06-01T00:00:00Z", "GIT_COMMITTER_DATE": "2020-01-02T03:04:05Z"]) { $1 })
        let server = try SSHServer()
        defer { server.stop() }

        var debs: [String] = []
        for run in 1...2 {
            let deploy = try await makeDeployment(server, app: "fabrepro", project: project, artifacts: tmp.path + "/out\(run)")
            try await deploy.prepareApp(version: "1")
            debs.append(try await deploy.buildDeb())
            // The second build's directory has another time stamp in its name.
            if run == 1 { try await Task.sleep(for: .milliseconds(1100)) }
        }
        let first = try Data(contentsOf: URL(fileURLWithPath: debs[0])), second = try Data(contentsOf: URL(fileURLWithPath: debs[1]))
        let identical = first == second  // a Bool: #expect would diff the two Data byte by byte
        #expect(identical, "two builds of one commit differ:\n\(Self.diffoscope(debs[0], debs[1]))")

        // The pieces, in the first package.
        let unpacked = tmp.path + "/unpacked"
        try mustRun(["/usr/bin/dpkg-deb", "-R", debs[0], unpacked])
        let inspect = #"""
            import gzip, os, subprocess, sys, tarfile, io
            deb, root, epoch = sys.argv[1], sys.argv[2], int(sys.argv[3])
            # ar member times (the 12 bytes after the 16-byte name of each 60-byte header).
            data = open(deb, "rb").read()
            offset, times = 8, set()
            while offset < len(data):
                header = data[offset:offset + 60]
                times.add(int(header[16:28]))
                size = int(header[48:58])
                offset += 60 + size + (size & 1)
            print("ar", sorted(times))
            # tar entry times, data and control.
            for flag in ("--fsys-tarfile", "--ctrl-tarfile"):
                tar = subprocess.run(["dpkg-deb", flag, deb], stdout=subprocess.PIPE, check=True).stdout
                with tarfile.open(fileobj=io.BytesIO(tar)) as t:
                    print(flag, sorted(set(m.mtime for m in t.getmembers())), sorted(set((m.uid, m.gid) for m in t.getmembers())))
            # the changelog's gzip header: no time, no name.
            raw = open(os.path.join(root, "usr/share/doc/vrmd-fabrepro/changelog.gz"), "rb").read()
            print("gzip mtime", int.from_bytes(raw[4:8], "little"), "flags", raw[3])
            print(gzip.decompress(raw).decode().splitlines()[-1])
            """#
        let report = try mustRun([debianPython, "-c", inspect, debs[0], unpacked, String(Self.commitTime)]).stdout
        let epoch = String(Self.commitTime)
        #expect(report.contains("ar [\(epoch)]\n"), "\(report)")
        #expect(report.contains("--fsys-tarfile [\(epoch)] [(0, 0)]\n"), "\(report)")
        #expect(report.contains("--ctrl-tarfile [\(epoch)] [(0, 0)]\n"), "\(report)")
        #expect(report.contains("gzip mtime 0 flags 0\n"), "\(report)")
        #expect(report.contains(" -- vrmd operations <ops@vrmd.example>  Thu, 02 Jan 2020 03:04:05 +0000"), "\(report)")

        // Byte-code: checked-hash .pyc (flags 3, PEP 552), listed in RECORD with its hash; pip's record of
        // the wheel it installed from this machine's /tmp is gone with its RECORD row.
        let site = try #require(try FileManager.default.contentsOfDirectory(atPath: unpacked + "/vrmd/fabrepro/venv/lib").first)
        let packages = unpacked + "/vrmd/fabrepro/venv/lib/" + site + "/site-packages"
        let tag = "cpython-" + site.dropFirst("python".count).replacingOccurrences(of: ".", with: "")
        for pyc in [packages + "/hello/__pycache__/__init__.\(tag).pyc", unpacked + "/vrmd/fabrepro/app/__pycache__/serve.\(tag).pyc"] {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: pyc))
            #expect(bytes.count > 16 && bytes[4] == 3 && bytes[5] == 0, "\(pyc) is not a checked-hash .pyc")
        }
        // pip writes RECORD with csv's \r\n line ends (one Character in Swift): compare lines.
        let record = try String(contentsOfFile: packages + "/hello-1.0.dist-info/RECORD", encoding: .utf8)
            .replacingOccurrences(of: "\r\n", with: "\n")
        let pycData = try Data(contentsOf: URL(fileURLWithPath: packages + "/hello/__pycache__/__init__.\(tag).pyc"))
        let digest = try mustRun([debianPython, "-c", "import base64,hashlib,sys; print(base64.urlsafe_b64encode(hashlib.sha256(open(sys.argv[1],'rb').read()).digest()).rstrip(b'=').decode())",
                                  packages + "/hello/__pycache__/__init__.\(tag).pyc"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(record.contains("hello/__pycache__/__init__.\(tag).pyc,sha256=\(digest),\(pycData.count)\n"), "\(record)")
        #expect(!FileManager.default.fileExists(atPath: packages + "/hello-1.0.dist-info/direct_url.json"))
        #expect(!record.contains("direct_url.json"), "\(record)")
        let rows = record.split(separator: "\n").map(String.init)
        #expect(rows == rows.sorted(), "RECORD's rows are not sorted:\n\(record)")

        // Nothing names the build host's directories or the build's time (requirements.txt names the wheel, as committed).
        let leaks = try runProcess(["/bin/grep", "-rlE", "--exclude=requirements.txt", "fab-builds|" + tmp.path + "|20[0-9]{6}-[0-9]{6}", unpacked])
        #expect(leaks.status == 1, "files name the build directory, the test's directory or a build time stamp:\n\(leaks.stdout)")
    }
}
