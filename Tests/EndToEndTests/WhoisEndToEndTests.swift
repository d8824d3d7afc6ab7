#if os(Linux)
import Foundation
import Glibc
import Testing
@_spi(Testing) import FabTestSupport

/// END-TO-END, SLOW (about 10 to 15 minutes; pip compiles psycopg2 on the first build): the whois
/// example deployed the way a user deploys it, by running the `fab` binary with
/// `Fabfiles/whois/fabfile.swift` against three clean Debian machines on loopback:
/// `buildvm` (passwordless sudo for apt), `repo` (reprepro at /srv/apt, served over HTTP from this
/// host) and `web1` (the server). It builds version 1, publishes it, installs it and asks the
/// service a whois question; then builds and publishes version 2, upgrades, and rolls back to 1.
/// Then, on the same build VM and repository and a second clean server, the whois family
/// (`Fabfiles/whois/family/fabfile.swift`; see ``deployFamily(build:repoHost:served:work:fab:)``).
/// One test, so the family reuses the machines, the apt state and pip's cache.
///
/// Needs root, overlayfs, debootstrap, reprepro, git, lintian and Debian's archive and PyPI.
@Suite("Whois deployed end to end with fab", .timeLimit(.minutes(30)))
struct WhoisEndToEndTests {
    init() throws {
        try #require(getuid() == 0, "Clean machines need root (chroot, mounts); run the tests as root.")
    }

    /// The repository checkout these tests belong to (the whois fabfile is built from its committed tree).
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    /// Runs `fab -F config -f fabfile ARGUMENTS` as a user would (25 minutes at most) and prints how it
    /// ended and how long it took, after `label`.
    static func runFab(_ fab: String, config: String, fabfile: String, environment: [String: String], label: String,
                       _ arguments: [String]) throws -> TestShell.Result {
        let started = ContinuousClock.now
        let result = try TestShell.run(fab, ["-F", config, "-f", fabfile] + arguments, environment: environment, timeout: .seconds(1500))
        print("\(label)fab \(arguments.joined(separator: " ")): status \(result.status) in \(ContinuousClock.now - started)")
        return result
    }

    /// The `fab` executable built with these tests (next to the test bundle); `FAB_BINARY` overrides.
    static let fabBinary: String? = {
        if let explicit = ProcessInfo.processInfo.environment["FAB_BINARY"] { return explicit }
        guard let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") else { return nil }
        var directory = URL(fileURLWithPath: exe).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = directory.appendingPathComponent("fab").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            directory.deleteLastPathComponent()
        }
        return nil
    }()

    @Test("deb, push, install, answer; version 2, upgrade; rollback to 1; the family: install a role, code-only change, drift, upgrade, rollback")
    func deployWhois() throws {
        let fab = try #require(Self.fabBinary, "the fab executable was not built next to the tests; set FAB_BINARY")
        let work = NSTemporaryDirectory() + "/fab-whois-e2e-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: work + "/debs", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }

        // The machines: a build VM as fresh as a new Debian VM (no Python, no apt lists), the
        // repository host (the push-target recipe of AptRepository), and a server.
        let build = try CleanMachine.start(.init(passwordlessSudo: true))
        defer { try? build.shutdown() }
        let repoHost = try CleanMachine.start(.init(passwordlessSudo: false, extraPackages: ["reprepro"]))
        defer { try? repoHost.shutdown() }
        let web = try CleanMachine.start(.init(passwordlessSudo: true))
        defer { try? web.shutdown() }
        try repoHost.run("mkdir -p /srv/apt/conf").checked()
        try AptRepository.distributionsConfiguration(codename: "fab")
            .write(toFile: repoHost.root + "/srv/apt/conf/distributions", atomically: true, encoding: .utf8)
        // The rollback archive lives beside the served tree (/srv/apt-archive), owned by the same user.
        try repoHost.run("install -d -o \(repoHost.user) /srv/apt-archive && chown -R \(repoHost.user): /srv/apt && su -s /bin/sh \(repoHost.user) -c 'reprepro -b /srv/apt export fab'").checked()
        let served = try AptRepository.start(codename: "fab", directory: repoHost.root + "/srv/apt")
        defer { try? served.stop() }

        let config = work + "/ssh_config"
        try (build.sshConfigSnippet(alias: "buildvm") + repoHost.sshConfigSnippet(alias: "repo") + web.sshConfigSnippet(alias: "web1"))
            .write(toFile: config, atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment
        environment["FAB_ARTIFACT_DIR"] = work + "/debs"
        let fabfile = Self.repositoryRoot + "/Fabfiles/whois/fabfile.swift"
        func runFab(_ arguments: String...) throws -> TestShell.Result {
            try Self.runFab(fab, config: config, fabfile: fabfile, environment: environment, label: "", arguments)
        }

        // Version 1: built from the committed tree, checked, fetched, published.
        let first = try runFab("deb")
        try #require(first.status == 0, "fab deb failed:\n\(first.outputTail(lines: 60))")
        #expect(first.stdout.contains("audit passed"), "no relocation audit in:\n\(first.outputTail(lines: 40))")
        #expect(first.stdout.contains(": 0 errors, "), "lintian's verdict missing:\n\(first.outputTail(lines: 40))")
        #expect(FileManager.default.fileExists(atPath: work + "/debs/vrmd-whois_1_amd64.deb.fab.json"), "no build manifest")
        #expect(first.stdout.contains("Version: 1\n"))
        #expect(first.stdout.contains("Branch: "), "no branch in the description")
        #expect(first.stdout.contains("python3.11"), "Depends lacks the interpreter")
        #expect(first.stdout.contains("libpq5 (>="), "Depends lacks dpkg-shlibdeps's libpq5")
        #expect(FileManager.default.fileExists(atPath: work + "/debs/vrmd-whois_1_amd64.deb"))
        let pushed = try runFab("push")
        try #require(pushed.status == 0, "fab push failed:\n\(pushed.outputTail(lines: 40))")
        #expect(try served.packages().contains("vrmd-whois 1"))
        // The same version again is refused before anything changes.
        let again = try runFab("push")
        #expect(again.status != 0)
        #expect((again.stdout + again.stderr).contains("already has vrmd-whois 1"), "\(again.outputTail())")

        // Install on the server from the repository; the service answers a whois query.
        let installed = try runFab("-H", "web1", "install:source=\(served.sourcesListLine)")
        try #require(installed.status == 0, "fab install failed:\n\(installed.outputTail(lines: 60))")
        #expect(try installedVersion(web) == "1")
        #expect(try whois(host: web.host).contains("EXAMPLE.COM"))
        // Nothing on the server names the build machine's paths.
        let leftovers = try web.run("grep -rl fab-builds /vrmd /etc/vrmd-whois /lib/systemd/system/vrmd-whois.service")
        #expect(leftovers.status == 1, "files on the server name the build directory:\n\(leftovers.stdout)")

        // Version 2 (the next build number, from the repository), upgrade, rollback to 1.
        let second = try runFab("deb", "push")
        try #require(second.status == 0, "fab deb push (2) failed:\n\(second.outputTail(lines: 60))")
        #expect(try served.packages().contains("vrmd-whois 2"))
        let upgraded = try runFab("-H", "web1", "upgrade")
        try #require(upgraded.status == 0, "fab upgrade failed:\n\(upgraded.outputTail(lines: 40))")
        #expect(try installedVersion(web) == "2")
        #expect(try whois(host: web.host).contains("EXAMPLE.COM"))

        let rolledBack = try runFab("-H", "web1", "rollback:version=1", "versions")
        try #require(rolledBack.status == 0, "fab rollback failed:\n\(rolledBack.outputTail(lines: 40))")
        #expect(try installedVersion(web) == "1")
        #expect(try served.packages().contains("vrmd-whois 1"))
        // The version table: installed 1, served 1, no drift.
        #expect(rolledBack.stdout.contains("web1  vrmd-whois  1          1\nno drift in 1 package on 1 host"), "\(rolledBack.outputTail(lines: 20))")
        #expect(try whois(host: web.host).contains("EXAMPLE.COM"))

        // The machines share this host's network, and web1's whoisd listens on 0.0.0.0:4343, the
        // family's production port: left running, it would answer the questions asked of web2 (and
        // hold the port web2's whoisd needs). web1 has done its part.
        try web.shutdown()
        try deployFamily(build: build, repoHost: repoHost, served: served, work: work, fab: fab)
    }

    /// The whois family (`Fabfiles/whois/family/fabfile.swift`) on the same build VM and repository, from a
    /// git repository of its own (a copy of `Fabfiles/whois`, so a code-only change can be committed): the
    /// production manifest installed on a clean server brings up venv, app and config, and whoisd answers
    /// on the production port; a code-only change builds and pushes the app (and the manifests that pin
    /// it), not the venv; the version table shows the drift, `upgrade` (apt-get upgrade) removes it;
    /// rolling the app back keeps the venv it shares.
    private func deployFamily(build: CleanMachine, repoHost: CleanMachine, served: AptRepository, work: String, fab: String) throws {
        let web = try CleanMachine.start(.init(passwordlessSudo: true))
        defer { try? web.shutdown() }
        let project = work + "/family-src/whois"
        try FileManager.default.createDirectory(atPath: work + "/family-src", withIntermediateDirectories: true)
        try TestShell.run("/bin/cp", ["-a", Self.repositoryRoot + "/Fabfiles/whois", project]).checked("copy the whois project")
        func git(_ arguments: String...) throws {
            try TestShell.run("git", ["-C", project, "-c", "user.name=fab tests", "-c", "user.email=fab-tests@example.com"] + arguments,
                              timeout: .seconds(60)).checked("git \(arguments.joined(separator: " "))")
        }
        try git("init", "-q", "-b", "main")
        try git("add", "-A")
        try git("commit", "-q", "-m", "whois")

        let config = work + "/ssh_config-family"
        try (build.sshConfigSnippet(alias: "buildvm") + repoHost.sshConfigSnippet(alias: "repo") + web.sshConfigSnippet(alias: "web2"))
            .write(toFile: config, atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment
        environment["FAB_ARTIFACT_DIR"] = work + "/family-debs"
        try FileManager.default.createDirectory(atPath: work + "/family-debs", withIntermediateDirectories: true)
        let fabfile = project + "/family/fabfile.swift"
        func runFab(_ arguments: String...) throws -> TestShell.Result {
            try Self.runFab(fab, config: config, fabfile: fabfile, environment: environment, label: "family: ", arguments)
        }
        func servedVersion(_ package: String) throws -> String? {
            try served.packages().first { $0.hasPrefix(package + " ") }.map { String($0.dropFirst(package.count + 1)) }
        }
        func installed(_ package: String) throws -> String {
            try web.run("dpkg-query -W -f '${db:Status-Abbrev}${Version}' \(package)").stdout
        }
        let family = ["vrmd-whois-venv", "vrmd-whois", "vrmd-whois-config-staging", "vrmd-whois-config-production", "vrmd-whois-server-production"]

        // The whole family, built and pushed.
        let first = try runFab("deb", "push")
        try #require(first.status == 0, "family deb push failed:\n\(first.outputTail(lines: 80))")
        let published = try served.packages()
        let v1 = try #require(try servedVersion("vrmd-whois"), "\(published)")
        for package in family {
            #expect(try servedVersion(package) != nil, "\(package) not published: \(published)")
        }

        // The production manifest on a clean server: venv, app and the production config, and the
        // service answers on the production port (4343; staging's is 4344).
        let installedFirst = try runFab("install:hosts=web2,source=\(served.sourcesListLine)")
        try #require(installedFirst.status == 0, "family install failed:\n\(installedFirst.outputTail(lines: 60))")
        for package in ["vrmd-whois-venv", "vrmd-whois", "vrmd-whois-config-production", "vrmd-whois-server-production"] {
            #expect(try installed(package).hasPrefix("ii "), "\(package) is not installed on web2")
        }
        #expect(try installed("vrmd-whois-config-staging").hasPrefix("ii ") == false)
        #expect(try web.run("grep -x 'port = 4343' /etc/vrmd-whois/whoisd.conf").status == 0)
        #expect(try whois(host: web.host, port: 4343).contains("EXAMPLE.COM"))
        #expect(try WhoisMaintainerScriptTests.pidfileProcessListens(on: web, port: 4343), "web2's whoisd does not hold port 4343 after the install")
        #expect(try whois(host: web.host, port: 4343, query: "family.test").contains("No match for \"FAMILY.TEST\""))

        // A code-only change: only the app (and the manifests that pin it) are built and pushed.
        let records = project + "/whoisd/records.py"
        var code = try String(contentsOfFile: records, encoding: .utf8)
        code = code.replacingOccurrences(of: "RECORDS = {", with: "RECORDS = {\n    \"family.test\": {\"Domain Name\": \"FAMILY.TEST\"},")
        try code.write(toFile: records, atomically: true, encoding: .utf8)
        try git("commit", "-q", "-am", "a record for family.test")
        let venvBefore = try servedVersion("vrmd-whois-venv")
        let configBefore = try servedVersion("vrmd-whois-config-production")
        let second = try runFab("deb", "push")
        try #require(second.status == 0, "family deb push (code change) failed:\n\(second.outputTail(lines: 80))")
        let v2 = try #require(try servedVersion("vrmd-whois"))
        #expect(v2 != v1)
        #expect(try servedVersion("vrmd-whois-venv") == venvBefore, "the venv was rebuilt for a code-only change")
        #expect(try servedVersion("vrmd-whois-config-production") == configBefore, "the config was rebuilt for a code-only change")
        let venvDebs = try FileManager.default.contentsOfDirectory(atPath: work + "/family-debs").filter { $0.hasPrefix("vrmd-whois-venv_") && $0.hasSuffix(".deb") }
        #expect(venvDebs.count == 1, "a second venv package was built: \(venvDebs)")

        // The table shows the drift before the upgrade and none after.
        let drift = try runFab("versions:hosts=web2")
        try #require(drift.status == 0, "\(drift.outputTail(lines: 30))")
        #expect(drift.stdout.contains(Self.tableLine("web2", "vrmd-whois", v1, v2, "behind")), "\(drift.outputTail(lines: 20))")
        let upgraded = try runFab("upgrade:hosts=web2", "versions:hosts=web2")
        try #require(upgraded.status == 0, "family upgrade failed:\n\(upgraded.outputTail(lines: 60))")
        #expect(try installed("vrmd-whois") == "ii " + v2)
        #expect(try whois(host: web.host, port: 4343, query: "family.test").contains("Domain Name: FAMILY.TEST"))
        #expect(try WhoisMaintainerScriptTests.pidfileProcessListens(on: web, port: 4343), "web2's whoisd does not hold port 4343 after the upgrade")
        #expect(upgraded.stdout.contains("no drift in "), "\(upgraded.outputTail(lines: 20))")

        // Rollback across the split: the app goes back to v1 and keeps the venv both use.
        let rolledBack = try runFab("rollback:version=\(v1),hosts=web2", "versions:hosts=web2")
        try #require(rolledBack.status == 0, "family rollback failed:\n\(rolledBack.outputTail(lines: 60))")
        #expect(try installed("vrmd-whois") == "ii " + v1)
        #expect(try installed("vrmd-whois-venv") == "ii " + (venvBefore ?? ""))
        #expect(try whois(host: web.host, port: 4343, query: "family.test").contains("No match for \"FAMILY.TEST\""))
        #expect(try whois(host: web.host, port: 4343).contains("EXAMPLE.COM"))
        #expect(try WhoisMaintainerScriptTests.pidfileProcessListens(on: web, port: 4343), "web2's whoisd does not hold port 4343 after the rollback")
        #expect(rolledBack.stdout.contains("no drift in "), "\(rolledBack.outputTail(lines: 20))")
        print(rolledBack.stdout.split(separator: "\n").filter { $0.hasPrefix("HOST") || $0.hasPrefix("web2 ") || $0.contains("drift") }.joined(separator: "\n"))
    }

    /// A row of the version table as its columns come out for the whois family (widths from the
    /// longest package name, vrmd-whois-config-production, and versions of one or two digits).
    static func tableLine(_ host: String, _ package: String, _ installed: String, _ repository: String, _ drift: String) -> String {
        [host, package.padding(toLength: 28, withPad: " ", startingAt: 0),
         installed.padding(toLength: 9, withPad: " ", startingAt: 0),
         repository.padding(toLength: 10, withPad: " ", startingAt: 0), drift].joined(separator: "  ")
    }

    private func installedVersion(_ machine: CleanMachine) throws -> String {
        try machine.run("dpkg-query -W -f '${Version}' vrmd-whois").stdout
    }

    /// Asks the server at `host`:`port` about `query` from this host, retrying while it starts.
    private func whois(host: String, port: Int = 4343, query: String = "example.com") throws -> String {
        let program = """
            import socket, sys, time
            for attempt in range(40):
                try:
                    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), 5)
                    break
                except OSError:
                    time.sleep(0.25)
            s.sendall(sys.argv[3].encode() + b"\\r\\n")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            print(data.decode())
            """
        return try TestShell.run("/usr/bin/python3", ["-c", program, host, String(port), query], timeout: .seconds(30)).checked("ask whoisd").stdout
    }
}
#endif
