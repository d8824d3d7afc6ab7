#if os(Linux)
import FabCore
import FabSSH
import FabTestSupport
import Foundation
import Glibc
import Testing
@testable import FabDeploy

/// The version audit against real servers: two clean Debian machines (their own dpkg databases,
/// packages installed there with dpkg) reached over their own sshd, and a reprepro repository on a
/// loopback sshd, as `fab -P versions` runs it.
@Suite("Version audit across servers", .serialized)
struct VersionAuditTests {
    static let family = ["vrmd-demo-venv", "vrmd-demo", "vrmd-demo-config-*", "vrmd-demo-server"]

    @Test("One table after both servers: installed against what reprepro serves, drift marked (behind, missing, unpublished, broken), JSON too; none once the server is upgraded")
    func auditTwoServers() async throws {
        try #require(getuid() == 0, "clean machines need root (chroot, mounts); run the tests as root.")
        try #require(haveTool("/usr/bin/reprepro") && haveTool("/usr/bin/dpkg-deb") && haveTool("/usr/sbin/sshd"), "needs reprepro, dpkg-deb and sshd")
        let repo = try SSHServer()
        defer { repo.stop() }
        let work = try TemporaryDirectory("audit")
        defer { work.remove() }
        let base = work.path + "/apt"
        try work.write("apt/conf/distributions", AptRepository.distributionsConfiguration(codename: "fab"))
        try mustRun(["/bin/chown", "-R", repo.user, work.path])
        let web1 = try CleanMachine.start()
        defer { try? web1.shutdown() }
        let web2 = try CleanMachine.start()
        defer { try? web2.shutdown() }

        // The repository serves venv 1, the app at 2, both configs, and no manifest package.
        for (name, version) in [("vrmd-demo-venv", "1"), ("vrmd-demo", "2"), ("vrmd-demo-config-staging", "1"), ("vrmd-demo-config-production", "1")] {
            let deb = try makeDeb(name, version, in: work)
            try mustRun(["/usr/sbin/runuser", "-u", repo.user, "--", "reprepro", "-b", base, "includedeb", "fab", deb])
        }
        // web1 is up to date (and has a manifest the repository does not serve); web2 has the old app,
        // no venv, the staging config and a manifest whose postinst failed (dpkg: half-configured).
        try install(web1, [("vrmd-demo-venv", "1", nil), ("vrmd-demo", "2", nil), ("vrmd-demo-config-production", "1", nil),
                           ("vrmd-demo-server", "1", nil)], work: work)
        try install(web2, [("vrmd-demo", "1", nil), ("vrmd-demo-config-staging", "1", nil),
                           ("vrmd-demo-server", "1", "#!/bin/sh\nexit 1\n")], work: work)

        let output = CapturedOutput()
        let runtime = Self.runtime(["repo": repo.target(), "web1": Self.target(web1), "web2": Self.target(web2)], output: output)
        let json = work.path + "/versions.json"
        let audit = try VersionAudit(packages: Self.family, repository: .reprepro(base: base, codename: "fab"), jsonFile: json)
        let versions = TaskDefinition(name: "versions", summary: "", help: "", parameters: [], hosts: [], roles: []) { fab, _ in
            try await audit.run(fab)
        }
        let runner = TaskRunner(runtime: runtime, options: RunnerOptions(hosts: ["web1", "web2"], parallel: true))
        var outcomes = await runner.run([(versions, TaskArguments(taskName: "versions", values: [:]))])
        #expect(outcomes.allSatisfy { $0.succeeded }, "\(outcomes.compactMap(\.failure)) \(output.value)")
        let expected = """
            HOST  PACKAGE                      INSTALLED            REPOSITORY  DRIFT
            web1  vrmd-demo-venv               1                    1
            web1  vrmd-demo                    2                    2
            web1  vrmd-demo-config-production  1                    1
            web1  vrmd-demo-server             1                    -           unpublished
            web2  vrmd-demo-venv               -                    1           missing
            web2  vrmd-demo                    1                    2           behind
            web2  vrmd-demo-config-staging     1                    1
            web2  vrmd-demo-server             1 (half-configured)  -           broken
            drift in 4 of 8 packages on 2 hosts (newest: what reprepro serves in fab at \(base) on repo)

            """
        #expect(output.value.contains(expected), "\(output.value)")
        #expect(output.value.components(separatedBy: "HOST  PACKAGE").count == 2, "the table is printed once")
        let document = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: json))) as? [String: Any]
        let rows = try #require(document?["rows"] as? [[String: Any]])
        #expect(rows.count == 8)
        #expect(rows.map { "\($0["host"] ?? "") \($0["package"] ?? "") \($0["drift"] ?? "")" }.contains("web2 vrmd-demo behind"))
        #expect(rows.first { $0["package"] as? String == "vrmd-demo-server" && $0["host"] as? String == "web2" }?["status"] as? String == "half-configured")

        // web2 catches up (the app upgraded, the venv installed, the manifest repaired); the repository
        // publishes the manifest: no drift left.
        try install(web2, [("vrmd-demo", "2", nil), ("vrmd-demo-venv", "1", nil), ("vrmd-demo-server", "1", nil)], work: work)
        try mustRun(["/usr/sbin/runuser", "-u", repo.user, "--", "reprepro", "-b", base, "includedeb", "fab", try makeDeb("vrmd-demo-server", "1", in: work)])
        let before = output.value.count
        outcomes = await runner.run([(versions, TaskArguments(taskName: "versions", values: [:]))])
        #expect(outcomes.allSatisfy { $0.succeeded })
        let after = String(output.value.dropFirst(before))
        #expect(after.contains("web2  vrmd-demo                    2          2\n"), "\(after)")
        #expect(after.contains("no drift in 8 packages on 2 hosts"), "\(after)")

        // A repository that cannot be read: the table still shows what the servers have, and the task fails saying why.
        let broken = try VersionAudit(packages: ["vrmd-demo"], repository: .reprepro(base: work.path + "/missing", codename: "fab"))
        let failing = TaskDefinition(name: "versions", summary: "", help: "", parameters: [], hosts: [], roles: []) { fab, _ in
            try await broken.run(fab)
        }
        let start = output.value.count
        outcomes = await TaskRunner(runtime: runtime, options: RunnerOptions(hosts: ["web1"])).run([(failing, TaskArguments(taskName: "versions", values: [:]))])
        let shown = String(output.value.dropFirst(start))
        #expect(outcomes.map(\.succeeded) == [true, false])
        #expect(shown.contains("web1  vrmd-demo  2          ?           unknown"), "\(shown)")
        #expect(outcomes.last?.failure?.contains("cannot list the repository \(work.path)/missing") == true, "\(outcomes)")
    }

    @Test("Rows and table: patterns pick the installed alternative, versions compare as dpkg does, a failed host gets one row, columns align without trailing spaces")
    func rowsAndTable() throws {
        let installed = [
            "a": [VersionAudit.InstalledPackage(name: "app", version: "1:2.0", status: "installed"),
                  VersionAudit.InstalledPackage(name: "app-config-prod", version: "3", status: "installed"),
                  VersionAudit.InstalledPackage(name: "app-config-test", version: "1", status: "config-files")],
            "b": [VersionAudit.InstalledPackage(name: "app", version: "10~rc1", status: "triggers-pending")],
        ]
        let served = ["app": "1:2.0", "app-config-prod": "2", "app-config-test": "1"]
        let rows = VersionAudit.rows(packages: ["app", "app-config-*"], hosts: ["a", "b", "c"], installed: installed, served: served)
        #expect(rows.map { "\($0.host) \($0.package) \($0.drift)" } == [
            "a app none", "a app-config-prod ahead",
            "b app behind", "b app-config-prod missing", "b app-config-test missing",
            "c - failed",
        ])
        #expect(VersionAudit.rows(packages: ["app"], hosts: ["a"], installed: installed, served: nil).map(\.drift) == [.unknown])
        let table = VersionAudit.table(rows, source: "fab")
        #expect(table.split(separator: "\n").allSatisfy { !$0.hasSuffix(" ") })
        #expect(table.contains("\nc     -                ?          ?           host failed\n"), "\(table)")
        #expect(table.hasSuffix("drift in 5 of 6 packages on 3 hosts (newest: fab)"))
        #expect(throws: FabError.self) { try VersionAudit(packages: ["app; rm -rf /"]) }
        #expect(throws: FabError.self) { try VersionAudit(packages: ["app"], repository: .incoming(directory: "/srv/incoming")) }
        #expect(VersionAudit.dpkgQuery(["app", "app-config-*"]) == "dpkg-query -W -f '${Package}\\t${Version}\\t${db:Status-Status}\\n' -- app 'app-config-*'")
    }

    // MARK: - Helpers

    static func target(_ machine: CleanMachine) -> SSHTarget {
        SSHTarget(alias: machine.host, hostName: machine.host, port: machine.port, user: machine.user,
                  identityFiles: [machine.privateKeyPath], identitiesOnly: true, useAgent: false,
                  hostKeyPolicy: .strict, knownHostsFiles: [machine.knownHostsPath], connectTimeout: 5)
    }

    static func runtime(_ targets: [String: SSHTarget], output: CapturedOutput) -> FabRuntime {
        let pool = ConnectionPool(resolver: { host in
            guard var target = targets[host] else { throw FabError(.noHost, "unknown test host \(host)") }
            target.alias = host
            return target
        }, secrets: { _ in nil })
        return FabRuntime(pool: pool, output: output.sink)
    }

    /// A tiny arch-all package `name` at `version`, with an optional postinst.
    func makeDeb(_ name: String, _ version: String, postinst: String? = nil, in work: TemporaryDirectory) throws -> String {
        let stage = "stage-\(name)-\(version)-\(UUID().uuidString.prefix(6))"
        try work.write("\(stage)/usr/share/doc/\(name)/README", "\(name) \(version)\n")
        let control = ControlFileBuilder(package: name, version: version, architecture: "all",
                                         maintainer: "Fab Tests <fab-tests@example.com>", synopsis: "test package of the version audit")
        try work.write("\(stage)/DEBIAN/control", try control.build())
        if let postinst { try work.write("\(stage)/DEBIAN/postinst", postinst, mode: 0o755) }
        try mustRun(["/bin/sh", "-c", DeploymentCommands.normalizeModes(stagingDirectory: work.path + "/" + stage)])
        let deb = work.path + "/" + DeploymentCommands.debFileName(package: name, version: version, architecture: "all")
        try? FileManager.default.removeItem(atPath: deb)
        try mustRun(["/bin/sh", "-c", DeploymentCommands.buildDeb(stagingDirectory: work.path + "/" + stage, output: deb, level: 1)])
        return deb
    }

    /// Installs packages on `machine` with its own dpkg (a failing postinst leaves the package half-configured).
    func install(_ machine: CleanMachine, _ packages: [(String, String, String?)], work: TemporaryDirectory) throws {
        for (name, version, postinst) in packages {
            let deb = try makeDeb(name, version, postinst: postinst, in: work)
            let inside = "/tmp/" + (deb as NSString).lastPathComponent
            try mustRun(["/bin/cp", deb, machine.root + inside])
            let result = try machine.run("dpkg -i \(inside)")
            #expect(result.status == (postinst == nil ? 0 : 1), "dpkg -i \(name) \(version): \(result.stdout) \(result.stderr)")
        }
    }
}
#endif
