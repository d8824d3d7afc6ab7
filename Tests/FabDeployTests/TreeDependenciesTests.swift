import FabCore
import Foundation
import Testing
@testable import FabDeploy

@Suite("Dependencies found from the tree")
struct TreeDependenciesTests {
    @Test func mergedUsrSpellings() {
        #expect(TreeDependencies.mergedUsrSpellings("/lib/x86_64-linux-gnu/libc.so.6") == ["/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/x86_64-linux-gnu/libc.so.6"])
        #expect(TreeDependencies.mergedUsrSpellings("/usr/lib/x86_64-linux-gnu/libc.so.6") == ["/usr/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6"])
        #expect(TreeDependencies.mergedUsrSpellings("/usr/bin/python3") == ["/usr/bin/python3", "/bin/python3"])
        #expect(TreeDependencies.mergedUsrSpellings("/usr/lib64/ld.so") == ["/usr/lib64/ld.so", "/lib64/ld.so"])
        #expect(TreeDependencies.mergedUsrSpellings("/usr/libexec/x") == ["/usr/libexec/x"])
        #expect(TreeDependencies.mergedUsrSpellings("/etc/x") == ["/etc/x"])
    }

    @Test func ownerSearchQuotesAndSkipsPatterns() {
        #expect(TreeDependencies.ownerSearch(["/usr/bin/python3", "/opt/it's", "/usr/lib/*"])
            == "LC_ALL=C dpkg-query -S -- /bin/python3 '/opt/it'\\''s' /usr/bin/python3 2>/dev/null || true")
        #expect(TreeDependencies.ownerSearch([]) == nil)
    }

    @Test func parsesOwners() {
        let output = """
            python3-minimal: /usr/bin/python3
            libc6:amd64: /lib/x86_64-linux-gnu/libc.so.6
            diversion by dash from: /bin/sh
            base-files, python3: /usr/share/x
            """
        let owners = TreeDependencies.owners(fromSearch: output)
        #expect(owners == ["/usr/bin/python3": ["python3-minimal"], "/lib/x86_64-linux-gnu/libc.so.6": ["libc6"],
                           "/usr/share/x": ["base-files", "python3"]])
        #expect(TreeDependencies.owners(of: "/usr/lib/x86_64-linux-gnu/libc.so.6", in: owners) == ["libc6"])
    }

    @Test func fullPackagesReplaceMinimalOnes() {
        #expect(TreeDependencies.fullPackageQuery(["python3-minimal", "libc6", "python3.11-minimal"])
            == "dpkg-query -W -f '${Package}\\t${db:Status-Abbrev}\\t${Pre-Depends}, ${Depends}\\n' -- python3 python3.11 2>/dev/null || true")
        #expect(TreeDependencies.fullPackageQuery(["libc6"]) == nil)
        // python3 pre-depends on python3-minimal; python3.11 depends on python3.11-minimal.
        let query = "python3\tii \tpython3-minimal (= 3.11.2-1+b1), python3.11 (>= 3.11.2-1~), libpython3-stdlib (= 3.11.2-1+b1)\n"
            + "python3.11\tii \t, python3.11-minimal (= 3.11.2-6+deb12u6), libpython3.11-stdlib (= 3.11.2-6+deb12u6), media-types | mime-support\n"
            + "busybox\trc \t, busybox-minimal\n"
        #expect(TreeDependencies.fullPackages(fromQuery: query) == ["python3-minimal": "python3", "python3.11-minimal": "python3.11"])
    }

    @Test func resolvesEveryHopAndMergesWithTheOtherDepends() throws {
        let links = [
            TreeDependencies.ExternalLink(link: "/srv/t/venv/bin/python", hops: ["/usr/bin/python3", "/usr/bin/python3.11"], interpreter: true),
            TreeDependencies.ExternalLink(link: "/srv/t/venv/bin/python3", hops: ["/usr/bin/python3", "/usr/bin/python3.11"], interpreter: true),
            TreeDependencies.ExternalLink(link: "/srv/t/share/jquery.js", hops: ["/usr/share/javascript/jquery/jquery.js"], interpreter: false),
            TreeDependencies.ExternalLink(link: "/srv/t/data", hops: ["/var/lib/t"], interpreter: false),
        ]
        let owners = ["/usr/bin/python3": ["python3-minimal"], "/usr/bin/python3.11": ["python3.11-minimal"],
                      "/usr/share/javascript/jquery/jquery.js": ["libjs-jquery"]]
        let full = ["python3-minimal": "python3", "python3.11-minimal": "python3.11"]
        let linked = try TreeDependencies.resolve(links: links, owners: owners, fullPackages: full)
        #expect(linked == ["python3", "python3.11", "libjs-jquery"])
        // Without the full packages installed, the owners themselves.
        #expect(try TreeDependencies.resolve(links: Array(links.prefix(1)), owners: owners, fullPackages: [:]) == ["python3-minimal", "python3.11-minimal"])
        // In Depends: after the run and shlibs dependencies, the interpreter's python3.11 once.
        let merged = try DeploymentCommands.mergeDepends(run: ["supervisor"], shlibs: ["libc6 (>= 2.34), libpython3.11 (>= 3.11.0)"] + linked,
                                                         pythonVersion: "3.11")
        #expect(merged == ["supervisor", "libc6 (>= 2.34)", "libpython3.11 (>= 3.11.0)", "python3", "python3.11", "libjs-jquery"])
    }

    @Test func essentialPackagesAreLeftOut() throws {
        #expect(TreeDependencies.essentialQuery(["dash", "python3", "dash"])
            == "dpkg-query -W -f '${Package}\\t${Essential}\\n' -- dash python3 2>/dev/null || true")
        let essential = TreeDependencies.essentialPackages(fromQuery: "dash\tyes\npython3\t\ncoreutils\tyes\n")
        #expect(essential == ["dash", "coreutils"])
        let links = [TreeDependencies.ExternalLink(link: "/srv/t/run.sh", hops: ["/usr/bin/env", "/usr/bin/perl"], interpreter: false, script: true)]
        #expect(try TreeDependencies.resolve(links: links, owners: ["/usr/bin/env": ["coreutils"], "/usr/bin/perl": ["perl-base"]],
                                             fullPackages: [:], essential: essential) == ["perl-base"])
    }

    @Test func anInterpreterNoPackageOwnsIsRefused() {
        let links = [TreeDependencies.ExternalLink(link: "/srv/t/venv/bin/python", hops: ["/opt/pyenv/versions/3.11.7/bin/python3.11"], interpreter: true)]
        let message = failureMessage { _ = try TreeDependencies.resolve(links: links, owners: [:], fullPackages: [:]) }
        #expect(message == "the virtualenv's /srv/t/venv/bin/python resolves to /opt/pyenv/versions/3.11.7/bin/python3.11, which no Debian package owns, so the package's interpreter would be missing on a clean server; set settings.python to a Debian interpreter such as /usr/bin/python3.")
    }

    /// The inspection on a real virtualenv made by Debian's /usr/bin/python3, and dpkg's answers on
    /// this machine: `python3` and `python3.11`, and nothing for links that stay in the package.
    @Test(.enabled(if: haveTool(debianPython) && haveTool("/usr/bin/dpkg-query")))
    func inspectsARealVirtualenvTree() throws {
        let tmp = try TemporaryDirectory("tree")
        defer { tmp.remove() }
        let staging = tmp.path + "/pkg"
        let venv = staging + "/srv/t/venv"
        try mustRun([debianPython, "-m", "venv", "--without-pip", venv])
        try FileManager.default.createDirectory(atPath: staging + "/usr/bin", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: staging + "/usr/bin/t-python", withDestinationPath: "/srv/t/venv/bin/python3")
        try FileManager.default.createSymbolicLink(atPath: staging + "/srv/t/current", withDestinationPath: "venv")
        try FileManager.default.createSymbolicLink(atPath: staging + "/srv/t/share", withDestinationPath: "/usr/share")
        // Scripts: through env to Debian's python3; /bin/sh (dash, Essential); an interpreter no package
        // owns; one inside the package; and a file that is not executable.
        try tmp.write("pkg/srv/t/app/run.py", "#!/usr/bin/env python3\nprint(1)\n", mode: 0o755)
        try tmp.write("pkg/srv/t/app/hook.sh", "#!/bin/sh\nexit 0\n", mode: 0o755)
        try tmp.write("pkg/srv/t/app/odd", "#!/opt/nowhere/python -u\n", mode: 0o755)
        try tmp.write("pkg/srv/t/app/tool", "#!/srv/t/venv/bin/python3\n", mode: 0o755)
        try tmp.write("pkg/srv/t/app/plain.py", "#!/opt/nowhere/python\n", mode: 0o644)
        let output = try mustRun(["/bin/sh", "-c", TreeDependencies.inspectCommand(staging: staging, python: debianPython, virtualenv: "/srv/t/venv")]).stdout
        let links = try TreeDependencies.externalLinks(fromInspection: output)
        let version = try mustRun([debianPython, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let python = ["/usr/bin/python3", "/usr/bin/python\(version)"]
        let symlinks = links.filter { !$0.script }, scripts = links.filter(\.script)
        #expect(symlinks.map(\.link).sorted() == ["/srv/t/venv/bin/python", "/srv/t/venv/bin/python3", "/srv/t/venv/bin/python\(version)", "/usr/bin/t-python"])
        #expect(symlinks.allSatisfy { $0.hops == python })
        #expect(symlinks.filter(\.interpreter).count == 3)
        #expect(scripts.map(\.link) == ["/srv/t/app/hook.sh", "/srv/t/app/odd", "/srv/t/app/run.py", "/srv/t/app/tool"])
        #expect(scripts.first { $0.link.hasSuffix("run.py") }?.hops == ["/usr/bin/env"] + python)
        #expect(scripts.first { $0.link.hasSuffix("odd") }?.hops == ["/opt/nowhere/python"])
        #expect(scripts.first { $0.link.hasSuffix("tool") }?.hops == python)
        #expect(scripts.first { $0.link.hasSuffix("hook.sh") }?.hops.first == "/bin/sh")
        let search = try #require(TreeDependencies.ownerSearch(links.flatMap(\.hops)))
        let owners = TreeDependencies.owners(fromSearch: try mustRun(["/bin/sh", "-c", search]).stdout)
        let query = try #require(TreeDependencies.fullPackageQuery(owners.values.flatMap { $0 }))
        let full = TreeDependencies.fullPackages(fromQuery: try mustRun(["/bin/sh", "-c", query]).stdout)
        let packages = owners.values.flatMap { $0 }.map { full[$0] ?? $0 }
        let essential = TreeDependencies.essentialPackages(fromQuery: try mustRun(["/bin/sh", "-c", try #require(TreeDependencies.essentialQuery(packages))]).stdout)
        #expect(essential.isSuperset(of: ["coreutils", "dash"]) && !essential.contains("python3"))
        #expect(try TreeDependencies.resolve(links: links, owners: owners, fullPackages: full, essential: essential) == ["python3", "python\(version)"])
        #expect(TreeDependencies.scriptsWithoutPackagedInterpreter(links, owners: owners) == ["/srv/t/app/odd"])
    }

    /// An ELF file that embeds Python (as uWSGI does) gets `libpython3.X` from dpkg-shlibdeps as the kit runs it.
    @Test(.enabled(if: haveTool("/usr/bin/dpkg-shlibdeps") && haveTool("/usr/bin/gcc") && haveTool("/usr/bin/python3-config")))
    func shlibdepsFindsLibpythonForAnEmbeddingBinary() throws {
        let tmp = try TemporaryDirectory("embed")
        defer { tmp.remove() }
        try tmp.write("embed.c", "#include <Python.h>\nint main(void) { Py_Initialize(); return Py_FinalizeEx(); }\n")
        let flags = try mustRun(["/bin/sh", "-c", "/usr/bin/python3-config --includes; /usr/bin/python3-config --ldflags --embed"]).stdout
            .split(whereSeparator: \.isWhitespace).map(String.init)
        try mustRun(["/usr/bin/gcc", "-o", tmp.path + "/embed", tmp.path + "/embed.c"] + flags)
        let version = try mustRun([debianPython, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let output = try mustRun(["/bin/sh", "-c", DeploymentCommands.shlibdeps(files: [tmp.path + "/embed"], libraryDirectories: [], workDirectory: tmp.path + "/work")])
        let shlibs = DeploymentCommands.shlibsDepends(fromShlibdepsOutput: output.stdout)
        #expect(shlibs.contains { $0.hasPrefix("libpython\(version) ") }, "\(shlibs)")
        #expect(shlibs.contains { $0.hasPrefix("libc6 ") })
    }
}

/// The description of the error `body` throws, or nil.
private func failureMessage(_ body: () throws -> Void) -> String? {
    do { try body() } catch { return "\(error)" }
    return nil
}
