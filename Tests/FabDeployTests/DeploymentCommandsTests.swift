import Foundation
import Testing
@testable import FabDeploy

@Suite("Deployment commands and parsers")
struct DeploymentCommandsTests {
    @Test("apt-cache show output gives every version once, in order")
    func aptCacheShow() throws {
        let output = """
            Package: vrmd-whois
            Version: 2
            Architecture: amd64
            Description: whois (built by fab)
             Automated build.

            Package: vrmd-whois
            Version: 10
            Architecture: amd64

            Package: vrmd-whois
            Version: 2
            Architecture: amd64

            """
        #expect(try DeploymentCommands.versions(fromAptCacheShow: output) == ["2", "10"])
        #expect(try DeploymentCommands.versions(fromAptCacheShow: "\n") == [])
        #expect(try DebianVersion.nextBuildNumber(from: DeploymentCommands.versions(fromAptCacheShow: output)) == 11)
    }

    @Test("apt-cache madison lines give their version column")
    func madison() {
        let output = """
             vrmd-whois |         10 | http://127.0.0.1:8080 fab/main amd64 Packages
             vrmd-whois |          9 | http://127.0.0.1:8080 fab/main amd64 Packages
             vrmd-whois |          9 | http://mirror fab/main amd64 Packages
            N: Unable to locate package
            """
        #expect(DeploymentCommands.versions(fromAptCacheMadison: output) == ["10", "9"])
    }

    @Test("reprepro list and archive listings give versions")
    func repositoryListings() {
        #expect(DeploymentCommands.versions(fromRepreproList: "3 amd64\n3 source\n") == ["3"])
        #expect(DeploymentCommands.versions(fromRepreproList: "") == [])
        let archive = "vrmd-whois_1_amd64.deb\nvrmd-whois_2_amd64.deb\nvrmd-whois-extra_5_all.deb\nnotes.txt\n"
        #expect(DeploymentCommands.versions(fromArchiveListing: archive, package: "vrmd-whois") == ["1", "2"])
        #expect(DeploymentCommands.debFileName(package: "vrmd-whois", version: "1:2-3", architecture: "amd64") == "vrmd-whois_2-3_amd64.deb")
    }

    @Test("dpkg-shlibdeps output becomes relations; Depends merges run, shared-library and interpreter dependencies")
    func depends() throws {
        let shlibs = DeploymentCommands.shlibsDepends(fromShlibdepsOutput: "dpkg-shlibdeps: warning: x\nshlibs:Depends=libc6 (>= 2.14), libpq5 (>= 10~~)\n")
        #expect(shlibs == ["libc6 (>= 2.14)", "libpq5 (>= 10~~)"])
        #expect(DeploymentCommands.shlibsDepends(fromShlibdepsOutput: "nothing") == [])
        let merged = try DeploymentCommands.mergeDepends(run: ["supervisor", "libpq5"], shlibs: shlibs, pythonVersion: "3.11")
        #expect(merged == ["supervisor", "libc6 (>= 2.14)", "libpq5 (>= 10~~)", "python3.11"])
        #expect(throws: ControlFileError.self) { try DeploymentCommands.mergeDepends(run: ["Bad Name"], shlibs: [], pythonVersion: nil) }
    }

    @Test("Kit packages follow the interpreter")
    func kitPackages() {
        let versioned = DeploymentCommands.kitPackages(python: "/usr/bin/python3.11", needsGit: false)
        #expect(versioned.contains("python3.11-venv") && versioned.contains("python3.11-dev") && !versioned.contains("git"))
        let plain = DeploymentCommands.kitPackages(python: "/usr/bin/python3", needsGit: true)
        #expect(plain.contains("python3-venv") && plain.contains("git") && plain.contains("dpkg-dev") && plain.contains("patchelf"))
    }

    @Test("Commands quote every interpolated value")
    func quoting() {
        let hostile = "/tmp/a b'; rm -rf /"
        #expect(DeploymentCommands.aptInstall(["vrmd-whois=2"], allowDowngrades: true)
            .hasSuffix("--allow-downgrades -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install vrmd-whois=2"))
        #expect(DeploymentCommands.aptUpdate().contains("-o APT::Update::Error-Mode=any"))
        #expect(DeploymentCommands.createVirtualenv(python: "/usr/bin/python3.11", venv: hostile)
            == #"rm -rf -- '/tmp/a b'\''; rm -rf /' && /usr/bin/python3.11 -m venv '/tmp/a b'\''; rm -rf /'"#)
        #expect(DeploymentCommands.repreproInclude(base: "/srv/apt", codename: "fab", deb: hostile)
            == #"reprepro -b /srv/apt includedeb fab '/tmp/a b'\''; rm -rf /'"#)
        let pip = DeploymentCommands.pipInstall(venv: "/v", arguments: ["-r", "/a/requirements.txt"], cacheDirectory: "/home/d/.cache/fab-pip",
                                                extraIndexURLs: ["https://pypi.example/simple?x=1&y=2"])
        #expect(pip == "/v/bin/python -m pip install -q --cache-dir /home/d/.cache/fab-pip --disable-pip-version-check --no-input --progress-bar off --no-compile --extra-index-url 'https://pypi.example/simple?x=1&y=2' -r /a/requirements.txt")
        #expect(DeploymentCommands.buildDeb(stagingDirectory: "/b/pkg", output: "/b/x.deb") == "dpkg-deb --root-owner-group -Zgzip -z6 --build /b/pkg /b/x.deb")
        #expect(DeploymentCommands.buildDeb(stagingDirectory: "/b/p kg", output: "/b/x.deb", level: 1, sourceDateEpoch: 1577934245)
            == "find '/b/p kg' -exec touch -h -d @1577934245 -- {} + && SOURCE_DATE_EPOCH=1577934245 dpkg-deb --root-owner-group -Zgzip -z1 --build '/b/p kg' /b/x.deb")
    }

    @Test("md5sums, ELF listing and dpkg-shlibdeps commands work on a real tree")
    func realTree() throws {
        let directory = NSTemporaryDirectory() + "fab-deploy-commands-" + UUID().uuidString.prefix(8)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createDirectory(atPath: directory + "/pkg/opt/app/lib", withIntermediateDirectories: true)
        try "hello\n".write(toFile: directory + "/pkg/opt/app/a b.txt", atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(atPath: "/bin/true", toPath: directory + "/pkg/opt/app/lib/tool")
        try FileManager.default.createSymbolicLink(atPath: directory + "/pkg/opt/app/link", withDestinationPath: "lib/tool")

        let md5 = try runProcess(["/bin/sh", "-c", DeploymentCommands.md5sums(stagingDirectory: directory + "/pkg")])
        #expect(md5.status == 0, "\(md5.stderr)")
        let sums = try String(contentsOfFile: directory + "/pkg/DEBIAN/md5sums", encoding: .utf8)
        #expect(sums.contains("b1946ac92492d2347c6235b4d2611184  opt/app/a b.txt"))
        #expect(sums.contains("  opt/app/lib/tool") && !sums.contains("link"))

        let elf = try runProcess(["/bin/sh", "-c", DeploymentCommands.listELFFiles(under: directory + "/pkg", python: "/usr/bin/python3")])
        #expect(elf.stdout == directory + "/pkg/opt/app/lib/tool\n", "\(elf.stderr)")

        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/dpkg-shlibdeps") else { return }
        let shlibdeps = try runProcess(["/bin/sh", "-c", DeploymentCommands.shlibdeps(files: [directory + "/pkg/opt/app/lib/tool"],
                                                                                       libraryDirectories: [], workDirectory: directory + "/work")])
        #expect(shlibdeps.status == 0, "\(shlibdeps.stderr)")
        #expect(DeploymentCommands.shlibsDepends(fromShlibdepsOutput: shlibdeps.stdout).contains { $0.hasPrefix("libc6 (>= ") })
    }
}

@Suite("Deployment source trees")
struct DeploymentSourceTests {
    @Test("The committed tree of a project subdirectory goes into the tar; excluded and uncommitted files do not")
    func committedTree() throws {
        let repository = NSTemporaryDirectory() + "fab-deploy-source-" + UUID().uuidString.prefix(8)
        defer { try? FileManager.default.removeItem(atPath: repository) }
        let project = repository + "/apps/whois"
        try FileManager.default.createDirectory(atPath: project + "/debian", withIntermediateDirectories: true)
        try "print('hi')\n".write(toFile: project + "/main.py", atomically: true, encoding: .utf8)
        try "#!/bin/sh\n".write(toFile: project + "/debian/postinst", atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: project + "/debian/postinst")
        try "old\n".write(toFile: project + "/main.py.bak", atomically: true, encoding: .utf8)
        try "other\n".write(toFile: repository + "/outside.txt", atomically: true, encoding: .utf8)
        try FileManager.default.createSymbolicLink(atPath: project + "/current", withDestinationPath: "main.py")
        let git = "git -c user.name=t -c user.email=t@example.com"
        let setup = try runProcess(["/bin/sh", "-c", "git init -q -b main && \(git) add -A && \(git) commit -q -m one && echo later > apps/whois/uncommitted.py"],
                                   directory: repository)
        try #require(setup.status == 0, "\(setup.stderr)")

        let source = try DeploymentSource.resolve(projectDirectory: project, branch: nil)
        #expect(source.branch == "main")
        #expect(source.prefix == "apps/whois")
        #expect(source.shortCommit.count == 7)
        #expect(source.uncommittedChanges() == ["uncommitted.py"])
        let tar = repository + "/source.tar"
        #expect(try source.writeTar(to: tar, excluding: [".git", "*.bak"]) == 3)
        let listing = try runProcess(["/usr/bin/tar", "-tvf", tar])
        let lines = listing.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains { $0.hasPrefix("-rwxr-xr-x root/root") && $0.hasSuffix("./debian/postinst") })
        #expect(lines.contains { $0.hasPrefix("-rw-r--r-- root/root") && $0.hasSuffix("./main.py") })
        #expect(lines.contains { $0.hasSuffix("./current -> main.py") })
        #expect(!listing.stdout.contains("main.py.bak") && !listing.stdout.contains("outside") && !listing.stdout.contains("uncommitted"))

        #expect(throws: (any Error).self) { try DeploymentSource.resolve(projectDirectory: project, branch: "no-such-branch") }
        #expect(throws: (any Error).self) { try DeploymentSource.resolve(projectDirectory: project, branch: "--upload-pack=x") }
        #expect(throws: (any Error).self) { try DeploymentSource.resolve(projectDirectory: NSTemporaryDirectory(), branch: nil) }
    }

    @Test("The uncommitted-file warning names whole paths relative to the project, and not files the package never holds")
    func uncommittedChanges() throws {
        let repository = NSTemporaryDirectory() + "fab-deploy-changes-" + UUID().uuidString.prefix(8)
        defer { try? FileManager.default.removeItem(atPath: repository) }
        let project = repository + "/apps/thumbs"
        try FileManager.default.createDirectory(atPath: project + "/pkg", withIntermediateDirectories: true)
        for name in ["fabfile.swift", "app.py", "pkg/old.py", "pkg/keep.py"] {
            try "x = 1\n".write(toFile: project + "/" + name, atomically: true, encoding: .utf8)
        }
        try "x\n".write(toFile: repository + "/outside.txt", atomically: true, encoding: .utf8)
        let git = "git -c user.name=t -c user.email=t@example.com"
        // Modified in the work tree (status ' M', whose leading space a trimmed output loses), a staged
        // rename, an untracked file with a space in a new directory, files the kit excludes, and a change
        // outside the project.
        let setup = try runProcess(["/bin/sh", "-c", """
            git init -q -b main && \(git) add -A && \(git) commit -q -m one &&
            echo y >> apps/thumbs/fabfile.swift && echo y >> apps/thumbs/app.py &&
            git mv apps/thumbs/pkg/old.py apps/thumbs/pkg/new.py &&
            mkdir -p apps/thumbs/more/__pycache__ && echo z > 'apps/thumbs/more/a b.py' && echo c > apps/thumbs/more/__pycache__/a.pyc &&
            echo d > apps/thumbs/thumbs_1_amd64.deb && echo y >> outside.txt
            """], directory: repository)
        try #require(setup.status == 0, "\(setup.stderr)")

        let source = try DeploymentSource.resolve(projectDirectory: project, branch: nil)
        let excludes = ["fabfile.swift", "__pycache__", "*.pyc", "*.deb"]
        #expect(Set(source.uncommittedChanges(excluding: excludes)) == ["app.py", "pkg/new.py", "more/a b.py"])
        #expect(Set(source.uncommittedChanges()) == ["fabfile.swift", "app.py", "pkg/new.py", "more/a b.py",
                                                     "more/__pycache__/a.pyc", "thumbs_1_amd64.deb"])
    }
}
