import FabTestSupport
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// `fab --dry-run` on every shipped example, run as a user would: it prints the whole plan (each
/// command, transfer and publication with the values it would use), exits 0, and changes nothing,
/// neither on the hosts (their read-only probes run) nor here.
@Suite("fab --dry-run on the shipped examples", .serialized)
struct DryRunTests {
    /// One shipped example: its fabfile, the tasks to plan, and lines the plan must hold.
    struct Example: Sendable, CustomTestStringConvertible {
        var fabfile: String
        var arguments: [String]
        var expected: [String]
        /// Whether the plan reads files with sudo (the example's `append` checks /etc/site.env as root),
        /// so the hosts' account needs passwordless sudo, as a fleet's deploy account has.
        var sudo = false
        var testDescription: String { fabfile + " " + arguments.joined(separator: " ") }
    }

    static let examples: [Example] = [
        Example(fabfile: "whois", arguments: ["deb", "push"], expected: [
            "install python3.11 python3.11-venv python3.11-dev gcc libc6-dev binutils patchelf dpkg-dev libpq-dev",
            "[buildvm] put: ", "/source.tar", "): none; next build number 1",
            "-r /HOME/fab-builds/whois/", "dpkg-deb --root-owner-group", "vrmd-whois_1_",
            "[repo] put: ", "dry run: vrmd-whois 1 would be published in fab",
        ]),
        Example(fabfile: "django", arguments: ["deb:version=7", "push"], expected: [
            "lessc", "collectstatic", "dpkg-deb --root-owner-group", "vrmd-django_7_all.deb",
            "dry run: vrmd-django 7 would be published in fab",
        ]),
        Example(fabfile: "thumbs", arguments: ["deb", "push"], expected: [
            "install python3.11 python3.11-venv python3.11-dev gcc libc6-dev binutils patchelf dpkg-dev libpq-dev",
            "-r /HOME/fab-builds/thumbs/", "/pkg/srv/thumbs/thumbs/requirements.txt", "--exclude=./config",
            "planning with etc/thumbs/thumbs.conf, etc/thumbs/uwsgi.ini", "thumbs_1_",
            "dry run: thumbs 1 would be published in fab",
        ]),
        Example(fabfile: "example", arguments: ["deploy:branch=HEAD,hosts=web1"], expected: [
            "[localhost] local: git rev-parse --short HEAD", "[web1] sudo: mkdir -p -- /srv/site/releases/COMMIT",
            "[web1] put: /tmp/site-COMMIT.tar.gz -> /tmp/site-COMMIT.tar.gz", "[web1] sudo: printf '%s\\n' RELEASE=COMMIT >> /etc/site.env",
            "[web1] sudo: ln -sfn /srv/site/releases/COMMIT /srv/site/current", "[web1] sudo: systemctl restart site",
        ], sudo: true),
    ]

    /// The repository checkout these tests belong to.
    static let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path

    @Test("prints the whole plan, exits 0 and changes nothing", arguments: examples)
    func plan(_ example: Example) throws {
        let fab = try FabProcess(fixture: "basic")
        defer { fab.remove() }
        // One account plays every host; its home must look the same afterwards.
        let user = try TestUser.named("fabdryrun")
        let sudoers = "/etc/sudoers.d/fabdryrun"
        if example.sudo {
            try "fabdryrun ALL=(ALL) NOPASSWD: ALL\n".write(toFile: sudoers, atomically: true, encoding: .utf8)
            chmod(sudoers, 0o440)
        }
        defer { try? FileManager.default.removeItem(atPath: sudoers) }
        let server = try SSHServer(user: user)
        defer { server.stop() }
        let config = fab.directory.appendingPathComponent("ssh_config").path
        try ["buildvm", "repo", "web1"].map(server.sshConfigBlock(alias:)).joined()
            .write(toFile: config, atomically: true, encoding: .utf8)
        let artifacts = fab.directory.appendingPathComponent("debs").path
        try FileManager.default.createDirectory(atPath: artifacts, withIntermediateDirectories: true)
        let homeBefore = try Self.listing(user.home)
        let absentBefore = ["/srv/site", "/etc/site.env", "/etc/site.conf", "/srv/apt/archive", "/srv/apt-archive"].filter { !FileManager.default.fileExists(atPath: $0) }
        let project = Self.repositoryRoot + "/Fabfiles/" + example.fabfile
        let statusBefore = try TestShell.run("/usr/bin/git", ["-C", project, "status", "--porcelain", "--ignored", "."]).checked().stdout

        // From the project's folder, as its README says (the example's template path is relative to it).
        let binary = try #require(FabProcess.binary, "no fab executable next to the test bundle; build it (swift build)")
        let command = (["cd", project, "&&", "exec", binary, "-F", config, "--dry-run"] + example.arguments)
            .map { $0 == "&&" ? $0 : TestShell.quote($0) }.joined(separator: " ")
        let output = try fab.run(["-c", command], executable: "/bin/sh", environment: ["FAB_ARTIFACT_DIR": artifacts])
        #expect(output.status == 0, "fab --dry-run failed:\n\(output.stdout.suffix(3000))\n\(output.stderr)")
        let commit = try TestShell.run("/usr/bin/git", ["-C", project, "rev-parse", "--short", "HEAD"]).checked().stdout
            .trimmingCharacters(in: .whitespacesAndNewlines)
        for line in example.expected {
            let wanted = line.replacingOccurrences(of: "HOME", with: String(user.home.dropFirst()))
                .replacingOccurrences(of: "COMMIT", with: commit)
            #expect(output.stdout.contains(wanted), "the plan lacks '\(wanted)':\n\(output.stdout.suffix(4000))")
        }

        // Nothing changed: the hosts' account, the artifact folder, the project's files.
        #expect(try Self.listing(user.home) == homeBefore, "the dry run changed \(user.home)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: artifacts).isEmpty)
        for path in absentBefore { #expect(!FileManager.default.fileExists(atPath: path), "the dry run made \(path)") }
        #expect(try TestShell.run("/usr/bin/git", ["-C", project, "status", "--porcelain", "--ignored", "."]).checked().stdout == statusBefore)
    }

    /// Every path under `directory` with its size and modification time, one a line.
    static func listing(_ directory: String) throws -> String {
        try TestShell.run("/usr/bin/find", [directory, "-printf", "%p %s %T@\n"]).checked().stdout
    }
}
