#if os(Linux)
import Foundation
import Glibc
import Testing
@_spi(Testing) import FabTestSupport

/// END-TO-END, SLOW (about 3 to 5 minutes): the Django example's `deb` task run with the `fab` binary
/// and `Fabfiles/django/fabfile.swift` against a clean Debian build machine (passwordless sudo for apt)
/// that clones the source from a git server it can reach (a bare copy of this repository inside the
/// machine, `file:///srv/git/fab.git`). There is no repository host: the version is given. The .deb
/// is then taken apart here: CSS compiled from LESS and minified, the cache-busting token replaced by
/// the version, compiled translations, collected static files, and the relocation audit passed.
///
/// Needs root, overlayfs, debootstrap, git, dpkg-deb, and Debian's archive and PyPI.
@Suite("Django built end to end with fab", .timeLimit(.minutes(20)))
struct DjangoEndToEndTests {
    init() throws {
        try #require(getuid() == 0, "Clean machines need root (chroot, mounts); run the tests as root.")
    }

    @Test("deb (cloned on the build VM): LESS, cache busting, CSS compression, messages, collectstatic")
    func buildDjango() throws {
        let fab = try #require(WhoisEndToEndTests.fabBinary, "the fab executable was not built next to the tests; set FAB_BINARY")
        let root = WhoisEndToEndTests.repositoryRoot
        let work = NSTemporaryDirectory() + "/fab-django-e2e-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: work + "/debs", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }

        let build = try CleanMachine.start(.init(passwordlessSudo: true))
        defer { try? build.shutdown() }
        // The git server: a bare copy of this repository (its committed branches), owned by the login user.
        try FileManager.default.createDirectory(atPath: build.root + "/srv/git", withIntermediateDirectories: true)
        try TestShell.run("/usr/bin/git", ["clone", "-q", "--bare", root, build.root + "/srv/git/fab.git"]).checked("copy the repository")
        try build.run("chown -R \(build.user): /srv/git").checked()

        let config = work + "/ssh_config"
        try build.sshConfigSnippet(alias: "buildvm").write(toFile: config, atomically: true, encoding: .utf8)
        var environment = ProcessInfo.processInfo.environment
        environment["FAB_ARTIFACT_DIR"] = work + "/debs"
        let started = ContinuousClock.now
        let result = try TestShell.run(fab, ["-F", config, "-f", root + "/Fabfiles/django/fabfile.swift",
                                             "deb:version=7,clone=file:///srv/git/fab.git"],
                                       environment: environment, timeout: .seconds(1100))
        print("fab deb (django): status \(result.status) in \(ContinuousClock.now - started)")
        try #require(result.status == 0, "fab deb failed:\n\(result.outputTail(lines: 80))")
        #expect(result.stdout.contains("source: cloned file:///srv/git/fab.git"), "\(result.outputTail(lines: 40))")
        #expect(result.stdout.contains("audit passed"), "no relocation audit in:\n\(result.outputTail(lines: 40))")
        #expect(result.stdout.contains("Branch: "), "no branch in the description")
        #expect(result.stdout.contains("Architecture: all"))

        let deb = work + "/debs/vrmd-django_7_all.deb"
        try #require(FileManager.default.fileExists(atPath: deb), "no \(deb)")
        let unpacked = work + "/unpacked"
        try TestShell.run("/usr/bin/dpkg-deb", ["-x", deb, unpacked]).checked("unpack the .deb")
        let site = unpacked + "/vrmd/django"
        func read(_ path: String) throws -> String { try String(contentsOfFile: site + "/" + path, encoding: .utf8) }

        // Collected: the compiled, minified, busted stylesheet; the script; the image; not the LESS source.
        let css = try read("static/hello/css/site.css")
        #expect(css.contains("body h1{"), "not compiled from LESS and minified: \(css)")
        #expect(css.contains("logo.svg?v=7"), "cache-busting token not replaced in the CSS: \(css)")
        #expect(css.split(separator: "\n").count == 1)
        #expect(try read("static/hello/js/app.js").contains("window.VRMD_RELEASE = \"7\";"))
        #expect(FileManager.default.fileExists(atPath: site + "/static/hello/img/logo.svg"))
        #expect(!FileManager.default.fileExists(atPath: site + "/static/hello/less/site.less"))

        // Installed with the project: the busted template and the compiled French translation.
        let packages = site + "/venv/lib/python3.11/site-packages/hello"
        let template = try String(contentsOfFile: packages + "/templates/hello/index.html", encoding: .utf8)
        #expect(template.contains("?v=7\"") && !template.contains("{{CACHE_BUST}}"))
        let mo = try Data(contentsOf: URL(fileURLWithPath: packages + "/locale/fr/LC_MESSAGES/django.mo"))
        #expect(mo.prefix(4) == Data([0xde, 0x12, 0x04, 0x95]), "django.mo is not a compiled catalogue")

        // Nothing names the build machine's paths.
        let leftovers = try TestShell.run("/bin/grep", ["-rl", "fab-builds", unpacked])
        #expect(leftovers.status == 1, "files in the package name the build directory:\n\(leftovers.stdout)")
    }
}
#endif
