import FabCore
import Foundation
import Testing
@testable import FabDeploy

/// A deployment that never connects (for validation and the text fab writes).
private func offlineDeployment(app: String = "demo", configure: (inout Deployment.Settings) -> Void = { _ in }) async throws -> Deployment {
    let pool = ConnectionPool(resolver: { host in throw FabError(.noHost, "no host \(host) in these tests") }, secrets: { _ in nil })
    let runtime = FabRuntime(pool: pool, output: OutputSink(write: { _ in }), dryRun: true, answers: [:], roledefs: [:])
    return try await Deployment(Fab(host: nil, runtime: runtime), app: app, projectDirectory: NSTemporaryDirectory(), configure: configure)
}

/// A package as fab lays it out under `root`: a virtualenv with byte-code, a wheel's bundled library
/// (mode 0755, as pip installs it), an extension built from source with a RUNPATH into the
/// virtualenv, fab's documentation files and control file. Returns the .deb's path.
private func makeVirtualenvPackage(in tmp: TemporaryDirectory, package: String, root: String, overrides: String?,
                                   projectOverrides: String? = nil, synopsis: String? = nil) throws -> String {
    let pkg = tmp.path + "/" + package
    let relative = String(root.dropFirst())
    let site = "\(pkg)/\(relative)/venv/lib/python3.11/site-packages"
    try tmp.write("\(package)/\(relative)/venv/lib/python3.11/site-packages/mod/__init__.py", "VALUE = 1\n")
    try tmp.write("\(package)/\(relative)/venv/lib/python3.11/site-packages/mod/__pycache__/__init__.cpython-311.pyc", Data([0x61, 0x0d, 0x0d, 0x0a]))
    try tmp.write("\(package)/\(relative)/app/main.py", "print('hello')\n")
    try tmp.write("\(package)/\(relative)/venv/bin/demo-cli", "#!\(root)/venv/bin/python3.11\nimport mod\n", mode: 0o755)
    try FileManager.default.createDirectory(atPath: site + "/numpy.libs", withIntermediateDirectories: true)
    try FileManager.default.copyItem(atPath: URL(fileURLWithPath: "/usr/lib/x86_64-linux-gnu/libz.so.1").resolvingSymlinksInPath().path, toPath: site + "/numpy.libs/libz-4d2a6e8b.so.1.2.13")
    try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: site + "/numpy.libs/libz-4d2a6e8b.so.1.2.13")
    try tmp.write("ext-\(package).c", "int fab_answer(void) { return 42; }\n")
    try mustRun(["/usr/bin/gcc", "-shared", "-fPIC", "-o", site + "/mod/_ext.cpython-311-x86_64-linux-gnu.so", tmp.path + "/ext-\(package).c",
                 "-Wl,-rpath,\(root)/venv/lib", "-Wl,--no-as-needed", "-lc"])
    try mustRun(["/bin/sh", "-c", DeploymentCommands.strip(files: [site + "/mod/_ext.cpython-311-x86_64-linux-gnu.so"])])
    let doc = "\(package)/usr/share/doc/\(package)"
    try tmp.write(doc + "/copyright", DeploymentCommands.copyright(package: package, app: "demo", maintainer: "Fab Tests <fab-tests@example.com>"))
    try tmp.write("changelog-\(package)", DeploymentCommands.changelog(package: package, version: "1", branch: "main", commit: "1a2b3c4",
                                                                     maintainer: "Fab Tests <fab-tests@example.com>", date: Date()))
    try mustRun(["/bin/sh", "-c", "gzip -9n < changelog-\(package) > \(doc)/changelog.gz"], directory: tmp.path)
    if let overrides {
        let project = tmp.path + "/project-\(package)"
        try FileManager.default.createDirectory(atPath: project + "/debian", withIntermediateDirectories: true)
        if let projectOverrides { try tmp.write("project-\(package)/debian/\(package).lintian-overrides", projectOverrides) }
        try mustRun(["/bin/sh", "-c", LintOverrides.installCommand(package: package, sourceDirectory: project,
                                                                   destination: pkg + "/usr/share/lintian/overrides/" + package)],
                    stdin: overrides)
    }
    try mustRun(["/bin/sh", "-c", DeploymentCommands.normalizeModes(stagingDirectory: pkg)])
    try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: site + "/numpy.libs/libz-4d2a6e8b.so.1.2.13")
    var control = ControlFileBuilder(package: package, version: "1", architecture: "amd64", maintainer: "Fab Tests <fab-tests@example.com>",
                                     synopsis: synopsis ?? ControlFileBuilder.defaultSynopsis(package: package, app: "demo"))
    control.shlibsDepends = ["libc6 (>= 2.2.5)", "zlib1g (>= 1:1.2.13)"]
    control.pythonVersion = "3.11"
    control.installedSize = try ControlFileBuilder.installedSize(ofDirectory: URL(fileURLWithPath: pkg))
    control.branch = "main"
    control.commit = "1a2b3c4"
    try mustRun(["/bin/sh", "-c", DeploymentCommands.md5sums(stagingDirectory: pkg)])
    try tmp.write("\(package)/DEBIAN/control", try control.build())
    let deb = tmp.path + "/\(package)_1_amd64.deb"
    try mustRun(["/bin/sh", "-c", DeploymentCommands.buildDeb(stagingDirectory: pkg, output: deb, level: 1)])
    return deb
}

@Suite("Lint policy")
struct LintPolicyTests {
    @Test("fab's overrides follow the layout, use lintian 2.116's pointers and say why")
    func overridesForLayouts() {
        let srv = LintOverrides.forLayout(package: "shop", installRoot: "/srv/www/shop", directories: ["/etc/shop", "/srv/www/shop/static", "/opt/shop-data"], links: ["/usr/bin/shop", "/srv/shop-current"])
        #expect(srv.contains("shop: dir-or-file-in-srv [srv/www/]\n"))
        #expect(srv.contains("shop: dir-or-file-in-srv [srv/www/shop/*]\n"))
        #expect(srv.contains("shop: shared-library-is-executable * [srv/www/shop/*.libs/*]\n"))
        #expect(srv.contains("shop: custom-library-search-path RUNPATH /srv/www/shop/* [srv/www/shop/*]\n"))
        #expect(srv.contains("shop: unusual-interpreter /srv/www/shop/* [srv/www/shop/*]\n"))
        #expect(!srv.contains("non-standard-toplevel-dir") && !srv.contains("etc/shop") && !srv.contains("usr/bin"))
        // The layout's directories and links outside the install root: a directory with its contents, a link by itself.
        #expect(srv.contains("shop: dir-or-file-in-opt [opt/shop-data/*]\n") && srv.contains("shop: dir-or-file-in-srv [srv/shop-current]\n"))
        #expect(!srv.contains("srv/www/shop/static"))
        let opt = LintOverrides.forLayout(package: "vrmd-shop", installRoot: "/opt/shop")
        #expect(opt.contains("vrmd-shop: dir-or-file-in-opt [opt/shop/*]\n") && !opt.contains("srv"))
        let site = LintOverrides.forLayout(package: "vrmd-whois", installRoot: "/vrmd/whois")
        #expect(site.contains("vrmd-whois: non-standard-toplevel-dir [vrmd/]\nvrmd-whois: file-in-unusual-dir [vrmd/whois/*]\n"))
        let fhs = LintOverrides.forLayout(package: "shop", installRoot: "/usr/lib/shop")
        #expect(!fhs.contains("toplevel") && fhs.contains("package-installs-python-pycache-dir [usr/lib/shop/*]"))
        // Every override line follows a comment that says why.
        for text in [srv, opt, site] {
            let lines = text.split(separator: "\n")
            #expect(lines.first?.hasPrefix("# fab: ") == true)
            #expect(lines.allSatisfy { $0.hasPrefix("# ") || $0.contains(": ") })
        }
        let accepted = LintOverrides.accepted(package: "shop", accept: ["embedded-library": "  we ship our own zlib on purpose "])
        #expect(accepted == "# Accepted in the fabfile: we ship our own zlib on purpose\nshop: embedded-library\n")
    }

    @Test("An accepted tag needs a one-line reason; a bad tag or timeout is refused before anything runs")
    func policyValidation() async throws {
        var policy = LintPolicy()
        #expect(policy.enabled && policy.failOn == .error)
        policy.accept["embedded-library"] = "the wheel bundles it"
        try policy.validate()
        for (tag, reason) in [("embedded-library", ""), ("embedded-library", "   "), ("embedded-library", "one\nshop: other-tag"), ("Bad Tag", "why")] {
            var bad = LintPolicy()
            bad.accept[tag] = reason
            #expect(throws: FabError.self) { try bad.validate() }
        }
        var timeout = LintPolicy()
        timeout.timeoutSeconds = 0
        #expect(throws: FabError.self) { try timeout.validate() }
        // Through Deployment: the error names the tag and asks for a reason.
        do {
            _ = try await offlineDeployment { $0.lint.accept["embedded-library"] = "" }
            Issue.record("an accepted tag without a reason was taken")
        } catch let error as FabError {
            #expect(error.message.contains("lint.accept[\"embedded-library\"] has no reason"), "\(error.message)")
        }
        let deploy = try await offlineDeployment { $0.lint.accept["embedded-library"] = "the wheel bundles it" }
        #expect(deploy.fabLintOverrides(package: deploy.packageName).hasSuffix("# Accepted in the fabfile: the wheel bundles it\nvrmd-demo: embedded-library\n"))
    }

    @Test("The default synopsis never starts with the package name")
    func defaultSynopsis() {
        #expect(ControlFileBuilder.defaultSynopsis(package: "whois", app: "whois") == "Python app whois built by fab")
        #expect(ControlFileBuilder.defaultSynopsis(package: "vrmd-whois", app: "whois") == "Python app whois built by fab")
        #expect(ControlFileBuilder.defaultSynopsis(package: "python", app: "python") == "Built by fab: Python app python")
        #expect(ControlFileBuilder.defaultSynopsis(package: "x", app: String(repeating: "a", count: 70)).count <= 80)
    }

    @Test("lintian's output becomes counts, failures by level, and overridden tags")
    func reportParsing() {
        let output = """
            E: demo: alien-tag no-such-tag [usr/share/lintian/overrides/demo:9]
            W: demo: copyright-without-copyright-notice
            W: demo: shared-library-lacks-prerequisites [srv/demo/x.so]
            O: demo: dir-or-file-in-srv [srv/demo/]
            N: fab: why
            O: demo: dir-or-file-in-srv [srv/demo/a:b]
            O: demo: embedded-library zlib [srv/demo/x.libs/libz.so]
            """
        let (version, seconds, body) = LintCommands.split("Lintian v2.116.3+deb12u1\n17.25\n\(LintCommands.separator)\n" + output)
        #expect(version == "2.116.3+deb12u1" && seconds == 17.25)
        let report = LintReport.parse(body, version: version)
        #expect(report.errors.count == 1 && report.warnings.count == 2)
        #expect(report.overridden == ["dir-or-file-in-srv": 2, "embedded-library": 1])
        #expect(report.failures(at: .error).count == 1 && report.failures(at: .warning).count == 3)
        #expect(LintReport.tags(of: report.failures(at: .warning)) == ["alien-tag", "copyright-without-copyright-notice", "shared-library-lacks-prerequisites"])
        #expect(report.summary == "lintian 2.116.3+deb12u1: 1 error, 2 warnings, 3 hints overridden (dir-or-file-in-srv 2, embedded-library 1)")
    }

    /// Real lintian (one run over several packages): a virtualenv package under /srv with an empty
    /// prefix, under /opt with `vrmd-`, and under /vrmd passes with fab's overrides; the project's
    /// override file is honoured; the same /srv package without overrides and with the old synopsis
    /// fails with exactly the tags the overrides cover.
    @Test(.enabled(if: haveTool("/usr/bin/lintian") && haveTool("/usr/bin/gcc")))
    func lintianPassesEveryLayoutWithFabsOverrides() throws {
        let tmp = try TemporaryDirectory("lint")
        defer { tmp.remove() }
        func fab(_ package: String, _ root: String) -> String {
            LintOverrides.forLayout(package: package, installRoot: root)
        }
        let srv = try makeVirtualenvPackage(in: tmp, package: "demo", root: "/srv/demo", overrides: fab("demo", "/srv/demo"))
        let opt = try makeVirtualenvPackage(in: tmp, package: "vrmd-demo", root: "/opt/demo", overrides: fab("vrmd-demo", "/opt/demo"))
        let site = try makeVirtualenvPackage(in: tmp, package: "vrmd-site", root: "/vrmd/site", overrides: fab("vrmd-site", "/vrmd/site"))
        // The project's file overrides what fab does not know about: here a VCS file the app needs.
        try tmp.write("withvcs/srv/withvcs/app/.gitignore", "*.log\n")
        let project = try makeVirtualenvPackage(in: tmp, package: "withvcs", root: "/srv/withvcs", overrides: fab("withvcs", "/srv/withvcs"),
                                                projectOverrides: "# The app lists its own ignore patterns at start-up.\nwithvcs: package-contains-vcs-control-file [srv/withvcs/app/.gitignore]\n")
        let bare = try makeVirtualenvPackage(in: tmp, package: "bare", root: "/srv/bare", overrides: nil, synopsis: "bare (built by fab)")

        let result = try runProcess(["/usr/bin/lintian", "--fail-on", "none", "--show-overrides", "--tag-display-limit", "0", srv, opt, site, project, bare])
        #expect(result.status == 0, "\(result.stderr)")
        func report(_ package: String) -> LintReport {
            let lines = result.stdout.split(separator: "\n").filter { $0.dropFirst(3).hasPrefix(package + ": ") || $0.dropFirst(3).hasPrefix(package + " binary: ") }
            return LintReport.parse(lines.joined(separator: "\n"), version: "test")
        }
        for package in ["demo", "vrmd-demo", "vrmd-site", "withvcs"] {
            let found = report(package)
            #expect(found.errors.isEmpty, "\(package): \(found.errors.joined(separator: "\n"))")
            #expect(!found.errors.contains { $0.contains("description-starts-with-package-name") })
            #expect(!found.warnings.contains { $0.contains("mismatched-override") }, "\(package): \(found.warnings.joined(separator: "\n"))")
        }
        #expect(report("demo").overridden["dir-or-file-in-srv", default: 0] > 5)
        #expect(report("demo").overridden.keys.contains("embedded-library"))
        #expect(report("demo").overridden.keys.contains("shared-library-is-executable"))
        #expect(report("demo").overridden.keys.contains("custom-library-search-path"))
        #expect(report("demo").overridden.keys.contains("unusual-interpreter"))
        #expect(report("bare").warnings.contains { $0.contains("unusual-interpreter") })
        #expect(report("vrmd-demo").overridden["dir-or-file-in-opt", default: 0] > 5)
        #expect(report("vrmd-site").overridden.keys.contains("non-standard-toplevel-dir"))
        #expect(report("withvcs").overridden["package-contains-vcs-control-file"] == 1)
        #expect(!report("withvcs").warnings.contains { $0.contains("package-contains-vcs-control-file") })
        let installed = try String(contentsOfFile: tmp.path + "/withvcs/usr/share/lintian/overrides/withvcs", encoding: .utf8)
        #expect(installed.hasPrefix("# fab: ") && installed.contains("# From the project: withvcs.lintian-overrides\n# The app lists"))
        // Without fab's overrides, the same layout fails on exactly what they cover.
        let failing = Set(LintReport.tags(of: report("bare").errors))
        #expect(failing.isSuperset(of: ["dir-or-file-in-srv", "embedded-library", "shared-library-is-executable",
                                        "custom-library-search-path", "description-starts-with-package-name"]), "\(failing)")
    }

    @Test("A lintian started before its packages exist judges what it is fed as one started on them; one that is gone is replaced; stopped, none is left",
          .enabled(if: haveTool("/usr/bin/lintian") && haveTool("/usr/bin/gcc")))
    func prestartedLintian() throws {
        let tmp = try TemporaryDirectory("prestart")
        defer { tmp.remove() }
        let bare = try makeVirtualenvPackage(in: tmp, package: "bare", root: "/srv/bare", overrides: nil, synopsis: "bare (built by fab)")
        let overridden = try makeVirtualenvPackage(in: tmp, package: "demo", root: "/srv/demo",
                                                   overrides: LintOverrides.forLayout(package: "demo", installRoot: "/srv/demo"))
        func sh(_ command: String) throws -> ProcessOutput { try mustRun(["/usr/bin/timeout", "300", "/bin/sh", "-c", command]) }
        func verdict(_ directory: String) throws -> LintReport {
            let (version, seconds, output) = LintCommands.split(try sh(LintCommands.wait(directory: directory)).stdout)
            #expect(version.hasPrefix("2.") && seconds != nil, "\(version) \(String(describing: seconds))")
            return LintReport.parse(output, version: version)
        }
        func groupIsGone(_ directory: String) throws -> Bool {
            let pid = try String(contentsOfFile: directory + "/lintian.pid", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
            for _ in 0..<50 {
                // Zombies do not count: they hold nothing, and a container's init may not reap them.
                let states = try runProcess(["/bin/ps", "-o", "stat=", "-g", pid]).stdout.split(whereSeparator: \.isNewline)
                if states.allSatisfy({ $0.trimmingCharacters(in: .whitespaces).hasPrefix("Z") }) { return true }
                Thread.sleep(forTimeInterval: 0.1)
            }
            return false
        }

        let started = tmp.path + "/started"
        try FileManager.default.createDirectory(atPath: started, withIntermediateDirectories: true)
        _ = try sh(LintCommands.start(debs: [bare, overridden], directory: started))
        let expected = try verdict(started)
        #expect(Set(LintReport.tags(of: expected.errors)).isSuperset(of: ["dir-or-file-in-srv", "embedded-library"]), "\(expected.errors)")
        #expect(expected.overridden["dir-or-file-in-srv", default: 0] > 5, "\(expected.overridden)")

        // Prestarted, fed: the same verdict.
        let fed = tmp.path + "/fed"
        #expect(try sh(LintCommands.prestart(directory: fed)).stdout.contains("prestarted"))
        _ = try sh(LintCommands.feed(debs: [bare, overridden], directory: fed))
        let judged = try verdict(fed)
        #expect(FileManager.default.fileExists(atPath: fed + "/lintian.warm"), "the prestarted lintian did not start warm")
        #expect(judged.errors == expected.errors && judged.warnings == expected.warnings && judged.overridden == expected.overridden)

        // Stopped while it waits for its list: its whole process group goes (lintian under `timeout`
        // too), so an abandoned build leaves no reader behind.
        let stopped = tmp.path + "/stopped"
        #expect(try sh(LintCommands.prestart(directory: stopped)).stdout.contains("prestarted"))
        Thread.sleep(forTimeInterval: 0.5)
        _ = try sh(LintCommands.stop(directory: stopped))
        #expect(try groupIsGone(stopped), "the stopped lintian's process group is still there")

        // Fed after it is gone: a new lintian checks the packages.
        _ = try sh(LintCommands.feed(debs: [bare, overridden], directory: stopped))
        let replaced = try verdict(stopped)
        #expect(replaced.errors == expected.errors && replaced.warnings == expected.warnings && replaced.overridden == expected.overridden)
        #expect(try groupIsGone(stopped))
    }

    @Test("The warm start runs lintian as a process of its own when it cannot compile lintian's checks first")
    func warmStartFallsBack() throws {
        let tmp = try TemporaryDirectory("warm")
        defer { tmp.remove() }
        try tmp.write("warm.pl", LintCommands.warmStart)
        // Not a lintian: no Lintian::Profile beside it.
        try tmp.write("bin/lintian", "#!/bin/sh\necho \"not-lintian: $*\"\n", mode: 0o755)
        let result = try mustRun(["/usr/bin/perl", tmp.path + "/warm.pl", tmp.path + "/bin/lintian", "--fail-on", "none", "a b.deb"], directory: tmp.path)
        #expect(result.stdout == "not-lintian: --fail-on none a b.deb\n", "\(result.stdout) \(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: tmp.path + "/lintian.warm"))
    }
}
