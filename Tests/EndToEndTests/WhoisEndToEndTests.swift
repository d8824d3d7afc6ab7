#if os(Linux)
import Foundation
import Glibc
import Testing
@_spi(Testing) import FabTestSupport

/// END-TO-END, SLOW (about 3 to 5 minutes; pip compiles psycopg2 on the first build): the whois
/// example deployed the way a user deploys it, by running the `fab` binary with
/// `Fabfiles/whois/fabfile.swift` against three clean Debian machines on loopback:
/// `buildvm` (passwordless sudo for apt), `repo` (reprepro at /srv/apt, served over HTTP from this
/// host) and `web1` (the server). It builds version 1, publishes it, installs it and asks the
/// service a whois question; then builds and publishes version 2, upgrades, and rolls back to 1.
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

    @Test("deb, push, install, answer; version 2, upgrade; rollback to 1")
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
            let started = ContinuousClock.now
            let result = try TestShell.run(fab, ["-F", config, "-f", fabfile] + arguments, environment: environment,
                                           timeout: .seconds(1500))
            print("fab \(arguments.joined(separator: " ")): status \(result.status) in \(ContinuousClock.now - started)")
            return result
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
    }

    private func installedVersion(_ machine: CleanMachine) throws -> String {
        try machine.run("dpkg-query -W -f '${Version}' vrmd-whois").stdout
    }

    /// Asks the server at `host`:4343 about example.com from this host, retrying while it starts.
    private func whois(host: String) throws -> String {
        let program = """
            import socket, sys, time
            for attempt in range(40):
                try:
                    s = socket.create_connection((sys.argv[1], 4343), 5)
                    break
                except OSError:
                    time.sleep(0.25)
            s.sendall(b"example.com\\r\\n")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            print(data.decode())
            """
        return try TestShell.run("/usr/bin/python3", ["-c", program, host], timeout: .seconds(30)).checked("ask whoisd").stdout
    }
}
#endif
