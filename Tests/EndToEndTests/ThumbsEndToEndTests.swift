#if os(Linux)
import Foundation
import Glibc
import Testing
@_spi(Testing) import FabTestSupport

/// END-TO-END, SLOW (about 5 to 8 minutes; pip compiles uWSGI and psycopg2 on the first build): the
/// thumbs example (`Fabfiles/thumbs`: uWSGI built by pip, Pillow's bundled libraries, psycopg2 against
/// Debian's libpq, installed under /srv/thumbs with its code in /srv/thumbs/thumbs) deployed by running
/// the `fab` binary against three clean Debian machines on loopback: `buildvm`, `repo` (reprepro at
/// /srv/apt, served over HTTP from this host) and `web1`.
///
/// Version 1 passes lintian (errors fail the build); a strict build (warnings fail it too) is rejected,
/// kept apart and refused by push; the next build is version 3, and both passing files stay. Version 1
/// is pushed and installed on a clean server, where uWSGI answers over HTTP (Pillow makes and scales
/// PNGs, psycopg2 reports its libpq) and the venv's own python runs; version 3 is pushed and upgraded
/// to; then rolled back to 1.
///
/// Needs root, overlayfs, debootstrap, reprepro, git, lintian, Debian's archive and PyPI.
@Suite("Thumbs deployed end to end with fab", .timeLimit(.minutes(30)))
struct ThumbsEndToEndTests {
    init() throws {
        try #require(getuid() == 0, "Clean machines need root (chroot, mounts); run the tests as root.")
    }

    /// Where uWSGI listens (config/uwsgi.ini: 0.0.0.0, which a chroot shares with this host).
    static let port = 8471

    @Test("deb, a rejected deb push refuses, deb again (two versions kept); push 1, install, it answers and the venv's python runs; push 3, upgrade; rollback to 1")
    func deployThumbs() throws {
        let fab = try #require(WhoisEndToEndTests.fabBinary, "the fab executable was not built next to the tests; set FAB_BINARY")
        let work = NSTemporaryDirectory() + "/fab-thumbs-e2e-" + UUID().uuidString.prefix(8)
        let debs = work + "/debs"
        try FileManager.default.createDirectory(atPath: debs, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let clock = ContinuousClock()
        let started = clock.now

        let build = try CleanMachine.start(.init(passwordlessSudo: true))
        defer { try? build.shutdown() }
        let repoHost = try CleanMachine.start(.init(passwordlessSudo: false, extraPackages: ["reprepro"]))
        defer { try? repoHost.shutdown() }
        let web = try CleanMachine.start(.init(passwordlessSudo: true))
        defer { try? web.shutdown() }
        try repoHost.run("mkdir -p /srv/apt/conf").checked()
        try AptRepository.distributionsConfiguration(codename: "fab")
            .write(toFile: repoHost.root + "/srv/apt/conf/distributions", atomically: true, encoding: .utf8)
        try repoHost.run("install -d -o \(repoHost.user) /srv/apt-archive && chown -R \(repoHost.user): /srv/apt && su -s /bin/sh \(repoHost.user) -c 'reprepro -b /srv/apt export fab'").checked()
        let served = try AptRepository.start(codename: "fab", directory: repoHost.root + "/srv/apt")
        defer { try? served.stop() }
        print("thumbs e2e: machines ready in \(clock.now - started)")

        let config = work + "/ssh_config"
        try (build.sshConfigSnippet(alias: "buildvm") + repoHost.sshConfigSnippet(alias: "repo") + web.sshConfigSnippet(alias: "web1"))
            .write(toFile: config, atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment
        environment["FAB_ARTIFACT_DIR"] = debs
        let fabfile = WhoisEndToEndTests.repositoryRoot + "/Fabfiles/thumbs/fabfile.swift"
        func runFab(_ arguments: String...) throws -> TestShell.Result {
            try WhoisEndToEndTests.runFab(fab, config: config, fabfile: fabfile, environment: environment, label: "thumbs e2e: ", arguments)
        }

        // Version 1, lintian on (errors fail the build; /srv and the project's overrides cover the rest).
        let first = try runFab("deb")
        try #require(first.status == 0, "fab deb (1) failed:\n\(first.outputTail(lines: 80))")
        #expect(first.stdout.contains("Version: 1\n"))
        #expect(first.stdout.contains("audit passed"), "no relocation audit in:\n\(first.outputTail(lines: 40))")
        #expect(first.stdout.contains(": 0 errors, "), "lintian's verdict missing:\n\(first.outputTail(lines: 40))")
        let depends = Self.field("Depends", in: first.stdout)
        for package in ["libpq5", "python3.11", "libpython3.11", "libssl3"] {
            #expect(depends.contains(package), "Depends lacks \(package): \(depends)")
        }
        let deb1 = debs + "/thumbs_1_amd64.deb", deb2 = debs + "/rejected/thumbs_2_amd64.deb", deb3 = debs + "/thumbs_3_amd64.deb"

        // A strict build fails on lintian's warnings: rejected, kept apart, and push refuses it.
        let strict = try runFab("deb:strict=true")
        #expect(strict.status != 0, "a build failing on lintian warnings passed:\n\(strict.outputTail(lines: 40))")
        #expect((strict.stdout + strict.stderr).contains("lintian gate rejected thumbs_2_amd64.deb"), "\(strict.outputTail(lines: 20))")
        #expect(FileManager.default.fileExists(atPath: deb2), "the rejected build is not in rejected/")
        let refused = try runFab("push:deb=\(deb2)")
        #expect(refused.status != 0)
        #expect((refused.stdout + refused.stderr).contains("was rejected by the lintian gate"), "\(refused.outputTail(lines: 20))")
        #expect(try served.packages().isEmpty, "the repository changed after a refused push")

        // The next build is version 3; both passing builds stay.
        let third = try runFab("deb")
        try #require(third.status == 0, "fab deb (3) failed:\n\(third.outputTail(lines: 80))")
        #expect(third.stdout.contains("Version: 3\n"), "\(third.outputTail(lines: 40))")
        #expect(FileManager.default.fileExists(atPath: deb1) && FileManager.default.fileExists(atPath: deb3),
                "both builds must stay: \((try? FileManager.default.contentsOfDirectory(atPath: debs)) ?? [])")

        // The package's layout: code in /srv/thumbs/thumbs, config in /etc/thumbs, the unit, no build paths.
        let unpacked = work + "/unpacked"
        try TestShell.run("/usr/bin/dpkg-deb", ["-x", deb1, unpacked]).checked("unpack thumbs 1")
        for path in ["srv/thumbs/thumbs/app.py", "srv/thumbs/thumbs/__init__.py", "srv/thumbs/venv/bin/uwsgi",
                     "etc/thumbs/uwsgi.ini", "etc/thumbs/thumbs.conf", "lib/systemd/system/thumbs.service"] {
            #expect(FileManager.default.fileExists(atPath: unpacked + "/" + path), "the package has no /\(path)")
        }
        #expect(!FileManager.default.fileExists(atPath: unpacked + "/srv/thumbs/thumbs/config"), "config/ is also in the code")
        #expect(!FileManager.default.fileExists(atPath: unpacked + "/srv/thumbs/thumbs/debian"))
        let leftovers = try TestShell.run("/bin/grep", ["-rl", "fab-builds", unpacked])
        #expect(leftovers.status == 1, "files in the package name the build directory:\n\(leftovers.stdout)")

        // Version 1 published and installed on a clean server.
        let pushed = try runFab("push:deb=\(deb1)")
        try #require(pushed.status == 0, "fab push (1) failed:\n\(pushed.outputTail(lines: 40))")
        #expect(try served.packages().contains("thumbs 1"))
        let installed = try runFab("-H", "web1", "install:source=\(served.sourcesListLine)")
        try #require(installed.status == 0, "fab install failed:\n\(installed.outputTail(lines: 60))\n\(Self.log(web))")
        #expect(try installedVersion(web) == "1")
        try expectServing(web)
        // The venv's interpreter exists on a machine that never had Python before this package.
        let python = try web.run("/srv/thumbs/venv/bin/python -c 'import sys; print(sys.prefix)'")
        #expect(python.status == 0 && python.stdout.contains("/srv/thumbs/venv"), "the venv's python does not run: \(python.outputTail())")

        // Version 3 (the newest passing build): push, upgrade.
        let pushed3 = try runFab("push")
        try #require(pushed3.status == 0, "fab push (3) failed:\n\(pushed3.outputTail(lines: 40))")
        #expect(try served.packages().contains("thumbs 3"))
        let upgraded = try runFab("-H", "web1", "upgrade")
        try #require(upgraded.status == 0, "fab upgrade failed:\n\(upgraded.outputTail(lines: 40))\n\(Self.log(web))")
        #expect(try installedVersion(web) == "3")
        try expectServing(web)

        // Back to 1.
        let rolledBack = try runFab("-H", "web1", "rollback:version=1", "health")
        try #require(rolledBack.status == 0, "fab rollback failed:\n\(rolledBack.outputTail(lines: 40))\n\(Self.log(web))")
        #expect(try installedVersion(web) == "1")
        #expect(rolledBack.stdout.contains("[web1] thumbs 1"))
        #expect(rolledBack.stdout.contains("\"status\": \"ok\""), "the health task did not reach the service:\n\(rolledBack.outputTail(lines: 20))")
        try expectServing(web)
        print("thumbs e2e: whole test in \(clock.now - started)")
    }

    /// The service on `machine` answers: /health names uWSGI, Pillow and libpq; Pillow makes a PNG and scales it.
    private func expectServing(_ machine: CleanMachine) throws {
        let health = try Self.http(host: machine.host, path: "/health")
        #expect(health.status == 200, "GET /health: \(health.status) \(String(decoding: health.body, as: UTF8.self))")
        let json = try JSONSerialization.jsonObject(with: health.body) as? [String: String] ?? [:]
        #expect(json["status"] == "ok")
        #expect(json["server"]?.hasPrefix("uWSGI 2.0.") == true, "\(json)")
        #expect(json["pillow"] == "11.0.0", "\(json)")
        #expect(json["python"]?.hasPrefix("3.11.") == true, "\(json)")
        #expect(json["libpq"]?.hasPrefix("15.") == true, "psycopg2 does not report bookworm's libpq 15: \(json)")

        let sample = try Self.http(host: machine.host, path: "/sample.png?size=48")
        #expect(sample.status == 200 && Self.pngSize(sample.body) == [48, 48], "GET /sample.png: \(sample.status)")
        let thumbnail = try Self.http(host: machine.host, path: "/thumbnail?size=12", body: sample.body)
        #expect(thumbnail.status == 200 && Self.pngSize(thumbnail.body) == [12, 12], "POST /thumbnail: \(thumbnail.status)")
        let refused = try Self.http(host: machine.host, path: "/info", body: Data("not an image".utf8))
        #expect(refused.status == 400)
    }

    private func installedVersion(_ machine: CleanMachine) throws -> String {
        try machine.run("dpkg-query -W -f '${Version}' thumbs").stdout
    }

    /// The value of a control field in fab's description of the built package ("  Depends: ...").
    static func field(_ name: String, in output: String) -> String {
        output.split(separator: "\n").first { $0.hasPrefix("  \(name): ") }.map { String($0.dropFirst(name.count + 4)) } ?? ""
    }

    /// Width and height from a PNG's IHDR chunk, or nil when `data` is not a PNG.
    static func pngSize(_ data: Data) -> [Int]? {
        let bytes = [UInt8](data.prefix(24))
        guard bytes.count == 24, bytes[0..<8] == [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] else { return nil }
        func number(_ offset: Int) -> Int { bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) } }
        return [number(16), number(20)]
    }

    /// An HTTP request to the service from this host (with Debian's python3, never through a proxy),
    /// retrying while uWSGI starts; POST when `body` is given.
    static func http(host: String, path: String, body: Data? = nil) throws -> (status: Int, body: Data) {
        let program = """
            import base64, json, sys, time, urllib.error, urllib.request
            url, body = sys.argv[1], sys.stdin.buffer.read()
            opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
            for attempt in range(40):
                try:
                    request = urllib.request.Request(url, data=body or None, method="POST" if body else "GET")
                    with opener.open(request, timeout=10) as response:
                        status, data = response.status, response.read()
                    break
                except urllib.error.HTTPError as error:
                    status, data = error.code, error.read()
                    break
                except OSError:
                    time.sleep(0.25)
            else:
                sys.exit("no answer from " + url)
            print(json.dumps({"status": status, "body": base64.b64encode(data).decode()}))
            """
        let file = NSTemporaryDirectory() + "fab-thumbs-body-" + UUID().uuidString.prefix(8)
        try (body ?? Data()).write(to: URL(fileURLWithPath: file))
        defer { try? FileManager.default.removeItem(atPath: file) }
        let result = try TestShell.run("/bin/sh", ["-c", "exec /usr/bin/python3 -c \"$0\" \"$1\" < \"$2\"", program,
                                                   "http://\(host):\(port)\(path)", file], timeout: .seconds(60)).checked("ask thumbs")
        let answer = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any] ?? [:]
        return (answer["status"] as? Int ?? 0, Data(base64Encoded: answer["body"] as? String ?? "") ?? Data())
    }

    /// The tail of uWSGI's log on `machine`, for failure messages.
    static func log(_ machine: CleanMachine) -> String {
        (try? machine.run("tail -n 30 /var/log/thumbs/uwsgi.log").stdout) ?? ""
    }
}
#endif
