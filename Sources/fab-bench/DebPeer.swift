#if os(Linux)
import FabTestSupport
import Foundation

/// What `fab-bench deb` needs to know about an example to build the same app with dh-virtualenv: the
/// settings its fabfile gives the deploy kit (package name, install root, interpreter, dependencies).
struct ExampleProfile {
    var package: String
    /// Where fab's package installs the app; the virtualenv is `installRoot/venv`, as with fab.
    var installRoot: String
    var python: String
    var buildDeps: [String]
    var runDeps: [String]

    /// The shipped examples; nil for another project (the benchmark then skips the peer).
    static func shipped(_ example: String) -> ExampleProfile? {
        switch example {
        case "whois":
            return ExampleProfile(package: "vrmd-whois", installRoot: "/vrmd/whois", python: "/usr/bin/python3.11",
                                  buildDeps: ["libpq-dev"], runDeps: ["supervisor", "libpq5"])
        case "thumbs":
            return ExampleProfile(package: "thumbs", installRoot: "/srv/thumbs", python: "/usr/bin/python3.11",
                                  buildDeps: ["libpq-dev"], runDeps: ["libpq5"])
        case "django":
            return ExampleProfile(package: "vrmd-django", installRoot: "/vrmd/django", python: "/usr/bin/python3.11",
                                  buildDeps: [], runDeps: ["python3"])
        default:
            return nil
        }
    }
}

/// dh-virtualenv (Debian's `dh-virtualenv` 1.2.2) building the same app on a clean build VM of the
/// same kind as fab's: the fairest equivalent of `fab deb` — the same requirements.txt, the same
/// interpreter, the virtualenv at the same path (`DH_VIRTUALENV_INSTALL_ROOT` + `--install-suffix venv`),
/// the project itself installed into it when it has a pyproject.toml or setup.py (`--skip-install`
/// otherwise), the example's maintainer scripts, `Rules-Requires-Root: no` (no fakeroot; fab needs no
/// root either) — and otherwise as its documentation sets it up: `dpkg-buildpackage -us -uc -b`,
/// with dpkg-deb's default xz compression and a dbgsym package. It runs no lintian (fab does) and
/// none of the Django example's build steps.
struct DhVirtualenvPeer {
    let profile: ExampleProfile
    /// The project's committed files (a copy fab-bench owns).
    let project: String
    /// A scratch directory on this machine.
    let work: String

    /// One build's wall time and the .deb it made.
    struct Build {
        var seconds: Double
        var debBytes: Int
    }

    /// The debian/ directory dh-virtualenv builds from, as relative path -> (contents, mode).
    func debianDirectory(hasProject: Bool, maintainerScripts: [String: String]) -> [String: (String, Int)] {
        let buildDepends = (["debhelper (>= 12)", "dh-virtualenv (>= 1.2)", "python3", "python3-venv", "python3-dev"] + profile.buildDeps)
        let depends = ["${misc:Depends}", "${shlibs:Depends}"] + profile.runDeps
        let control = """
            Source: \(profile.package)
            Section: misc
            Priority: optional
            Maintainer: vrmd operations <ops@vrmd.example>
            Build-Depends: \(buildDepends.joined(separator: ", "))
            Standards-Version: 4.6.2
            Rules-Requires-Root: no

            Package: \(profile.package)
            Architecture: any
            Pre-Depends: dpkg (>= 1.16.1), python3, ${misc:Pre-Depends}
            Depends: \(depends.joined(separator: ", "))
            Description: \(profile.package) built by dh-virtualenv (fab-bench's peer)
             The same app as fab's package, with its virtualenv, for fab-bench deb.

            """
        let flags = ["--python", profile.python, "--builtin-venv", "--install-suffix", "venv"] + (hasProject ? [] : ["--skip-install"])
        let rules = """
            #!/usr/bin/make -f
            export DH_VIRTUALENV_INSTALL_ROOT=\(profile.installRoot)

            %:
            \tdh $@ --with python-virtualenv

            override_dh_virtualenv:
            \tdh_virtualenv \(flags.joined(separator: " "))

            """
        let changelog = """
            \(profile.package) (1) unstable; urgency=medium

              * fab-bench deb's peer build.

             -- vrmd operations <ops@vrmd.example>  Tue, 01 Dec 2026 12:00:00 +0000

            """
        var files: [String: (String, Int)] = ["control": (control, 0o644), "rules": (rules, 0o755),
                                               "changelog": (changelog, 0o644), "compat": ("12\n", 0o644)]
        for (name, text) in maintainerScripts { files[name] = (text, 0o755) }
        return files
    }

    /// Makes `work/peer-src`: the project's tree at `commit` without its debian/ folder, plus the generated one.
    func prepareSource(commit: String) throws -> String {
        let source = work + "/peer-src"
        try? FileManager.default.removeItem(atPath: source)
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        try shell("git -C \(TestShell.quote(project)) archive \(TestShell.quote(commit)) | tar -x -C \(TestShell.quote(source)) && rm -rf \(TestShell.quote(source + "/debian"))")
        var scripts: [String: String] = [:]
        for name in ["preinst", "postinst", "prerm", "postrm"] {
            if let text = try? String(contentsOfFile: project + "/debian/" + name, encoding: .utf8) { scripts[name] = text }
        }
        let files = FileManager.default
        let hasProject = files.fileExists(atPath: project + "/pyproject.toml") || files.fileExists(atPath: project + "/setup.py")
        try files.createDirectory(atPath: source + "/debian", withIntermediateDirectories: true)
        for (name, (text, mode)) in debianDirectory(hasProject: hasProject, maintainerScripts: scripts) {
            let path = source + "/debian/" + name
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            try files.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
        }
        return source
    }

    /// One build on `machine`, timed from the upload of the source to the .deb: with `installDependencies`
    /// (the cold build) it first runs apt-get update and installs dh-virtualenv and the build dependencies.
    func build(on machine: CleanMachine, source: String, label: String, installDependencies: Bool) throws -> Build {
        let clock = ContinuousClock()
        let start = clock.now
        if installDependencies {
            let packages = ["build-essential", "dh-virtualenv", "debhelper", "python3", "python3-venv", "python3-dev",
                            "python3.11-venv", "python3.11-dev"] + profile.buildDeps
            let apt = "sudo DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -o APT::Update::Error-Mode=any -q update"
                + " && sudo DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -q -y --no-install-recommends install "
                + packages.map(TestShell.quote).joined(separator: " ")
            try machine.ssh(apt, timeout: .seconds(1800)).checked("dh-virtualenv's build dependencies (\(label))")
        }
        let directory = "peer/\(label.replacingOccurrences(of: " ", with: "-"))"
        let remote = machine.sshArguments("rm -rf \(TestShell.quote(directory)) && mkdir -p \(TestShell.quote(directory + "/src")) && tar -C \(TestShell.quote(directory + "/src")) -xf -")
        try shell("tar -C \(TestShell.quote(source)) -cf - . | " + remote.map(TestShell.quote).joined(separator: " "))
        let built = try machine.ssh("cd \(TestShell.quote(directory + "/src")) && dpkg-buildpackage -us -uc -b", timeout: .seconds(1800))
        guard built.succeeded else {
            throw BenchFailure("dh-virtualenv's \(label) build failed (status \(built.status)):\n\(built.outputTail(lines: 30))")
        }
        let seconds = Double((clock.now - start).components.seconds) + Double((clock.now - start).components.attoseconds) / 1e18
        let size = try machine.ssh("stat -c %s \(TestShell.quote(directory))/\(TestShell.quote(profile.package))_1_*.deb").checked().stdout
        return Build(seconds: seconds, debBytes: Int(size.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0)
    }
}
#endif
