import FabCore
import FabSSH
import FabTestSupport
import Foundation
import Testing
@testable import FabDeploy

@Suite("Installer settings and commands")
struct InstallerTests {
    @Test("FAB_INSTALLER names pip, uv or uv==VERSION; anything else is refused with what to write")
    func names() throws {
        #expect(try Installer.named("pip") == .pip)
        #expect(try Installer.named("uv") == .uv(version: Installer.defaultUVVersion))
        #expect(try Installer.named("uv==0.9.14").description == "uv 0.9.14")
        for bad in ["poetry", "uv==", "uv==latest", "uv==1.0; rm -rf /", "UV"] {
            let error = #expect(throws: FabError.self) { try Installer.named(bad) }
            #expect(error?.description.contains("pip, uv or uv==VERSION") == true || error?.description.contains("is not a release number") == true,
                    "\(bad): \(String(describing: error))")
        }
    }

    @Test("uv's commands quote every value, copy out of the cache and trust the system's certificates")
    func commands() {
        let hostile = "/tmp/a b'; rm -rf /"
        let create = DeploymentCommands.uvCreateVirtualenv(uv: "/h/.cache/fab-uv/0.13.9/uv", python: "/usr/bin/python3.11", venv: hostile,
                                                           cacheDirectory: "/h/.cache/fab-uv/cache")
        #expect(create == #"rm -rf -- '/tmp/a b'\''; rm -rf /' && UV_SYSTEM_CERTS=1 UV_PYTHON_DOWNLOADS=never /h/.cache/fab-uv/0.13.9/uv venv -q --python /usr/bin/python3.11 --cache-dir /h/.cache/fab-uv/cache '/tmp/a b'\''; rm -rf /' && rm -f -- '/tmp/a b'\''; rm -rf //.gitignore' '/tmp/a b'\''; rm -rf //CACHEDIR.TAG'"#)
        let install = DeploymentCommands.uvPipInstall(uv: "/u", venv: "/v", arguments: ["-r", "/a/requirements.txt", "/a"], cacheDirectory: "/c",
                                                      indexURL: "https://pypi.example/simple", extraIndexURLs: ["https://x.example/simple?a=1&b=2"])
        #expect(install == "UV_SYSTEM_CERTS=1 UV_PYTHON_DOWNLOADS=never /u pip install -q --python /v/bin/python --cache-dir /c --link-mode copy --index-url https://pypi.example/simple --extra-index-url 'https://x.example/simple?a=1&b=2' -r /a/requirements.txt /a")
        let setup = DeploymentCommands.installUV(version: "0.13.9", binary: "/h/.cache/fab-uv/0.13.9/uv", python: "/usr/bin/python3.11", pipCache: "/h/.cache/fab-pip")
        #expect(setup.hasPrefix("case \"$(/h/.cache/fab-uv/0.13.9/uv --version 2>/dev/null)\" in 'uv 0.13.9'|'uv 0.13.9 '*) ;; *) "))
        #expect(setup.contains(" -m pip install -q --cache-dir /h/.cache/fab-pip ") && setup.contains(" --no-deps uv==0.13.9;"))
        // pip straight from Debian's wheel where there is one, without installing it first.
        #expect(setup.contains("/usr/bin/python3.11 -m venv --without-pip \"$t\" && \"$t/bin/python\" \"$w/pip\" install -q --cache-dir /h/.cache/fab-pip "))
    }

    @Test("The kit's installer commands follow the setting; pip upgrades itself only when asked")
    func plan() {
        var settings = Deployment.Settings()
        settings.python = "/usr/bin/python3"
        settings.installer = .pip
        let pip = InstallerCommands(settings, home: "/home/d")
        #expect(pip.prepare == "mkdir -p /home/d/.cache/fab-pip")
        #expect(pip.createVirtualenv(venv: "/b/venv").count == 2)
        #expect(pip.install(venv: "/b/venv", arguments: ["/a"]).hasPrefix("/b/venv/bin/python -m pip install -q --cache-dir /home/d/.cache/fab-pip "))
        settings.upgradePip = false
        #expect(InstallerCommands(settings, home: "/home/d").createVirtualenv(venv: "/b/venv") == ["rm -rf -- /b/venv && /usr/bin/python3 -m venv /b/venv"])
        settings.installer = .uv(version: "0.13.9")
        let uv = InstallerCommands(settings, home: "/home/d")
        #expect(uv.prepare.hasPrefix("mkdir -p /home/d/.cache/fab-pip && case \"$(/home/d/.cache/fab-uv/0.13.9/uv --version"))
        #expect(uv.createVirtualenv(venv: "/b/venv").count == 1)
        #expect(uv.install(venv: "/b/venv", arguments: ["/a"]).contains("/home/d/.cache/fab-uv/0.13.9/uv pip install -q --python /b/venv/bin/python --cache-dir /home/d/.cache/fab-uv/cache "))
    }
}

extension DeploymentBuildTests {
    /// uv from PyPI on the real test build host: it is installed into the login user's cache, makes the
    /// virtualenv and installs a requirement and the project; the package holds no pip, its dist-info
    /// says uv, and the console script, unpacked at the install path, runs with the packaged interpreter.
    @Test func buildsWithUVAndTheConsoleScriptRunsFromTheInstallPath() async throws {
        let tmp = try TemporaryDirectory("build-uv")
        defer { tmp.remove() }
        // The install root is a fresh directory of its own (the kit refuses /tmp), so unpacking the
        // package there touches nothing else; it goes with the test.
        let installRoot = "/srv/fabdeploy-uv-" + UUID().uuidString.prefix(8).lowercased()
        defer { try? FileManager.default.removeItem(atPath: installRoot) }
        let project = try makeProject(tmp, files: [
            "requirements.txt": "idna==3.10\n",
            "pyproject.toml": """
                [build-system]
                requires = ["setuptools>=61"]
                build-backend = "setuptools.build_meta"

                [project]
                name = "hellouv"
                version = "1.0"
                dependencies = ["idna"]

                [project.scripts]
                hello-uv = "hellouv:main"

                [tool.setuptools]
                py-modules = ["hellouv"]

                """,
            "hellouv.py": "import idna\n\ndef main():\n    print(__file__, idna.encode('bücher.example').decode())\n",
        ])
        let server = try SSHServer()
        defer { server.stop() }
        let output = CapturedOutput()
        let deploy = try await makeDeployment(server, output: output, app: "hellouv", project: project, artifacts: tmp.path + "/out") {
            $0.installer = .uv
            $0.installRoot = installRoot
        }
        try await deploy.prepareApp(version: "1")
        let deb = try await deploy.buildDeb()
        let text = output.value
        #expect(text.contains(", uv ") && text.contains("[buildvm] step timings: "), "\(text.suffix(2000))")

        let uv = try TestUser.standard().home + "/.cache/fab-uv/\(Installer.defaultUVVersion)/uv"
        #expect(try mustRun([uv, "--version"]).stdout.hasPrefix("uv \(Installer.defaultUVVersion)"))

        let contents = try mustRun(["/usr/bin/dpkg-deb", "-c", deb]).stdout
        let venv = "." + installRoot + "/venv"
        #expect(contents.contains(venv + "/bin/hello-uv") && contents.contains(venv + "/pyvenv.cfg"), "\(contents.prefix(3000))")
        for absent in ["/bin/pip", "/.gitignore", "/CACHEDIR.TAG"] {
            #expect(!contents.contains(venv + absent + "\n") && !contents.contains(venv + absent + " "), "\(absent) is in the package")
        }
        let unpacked = tmp.path + "/unpacked"
        try mustRun(["/usr/bin/dpkg-deb", "-x", deb, unpacked])
        let pythonDirectory = try #require(try FileManager.default.contentsOfDirectory(atPath: unpacked + installRoot + "/venv/lib").first)
        let distInfo = unpacked + installRoot + "/venv/lib/" + pythonDirectory + "/site-packages/idna-3.10.dist-info"
        #expect(try String(contentsOfFile: distInfo + "/INSTALLER", encoding: .utf8) == "uv")
        #expect(try String(contentsOfFile: unpacked + installRoot + "/venv/pyvenv.cfg", encoding: .utf8).contains("uv = \(Installer.defaultUVVersion)"))

        // The package's tree at its install path: the console script runs with the venv's interpreter.
        try mustRun(["/bin/sh", "-c", "dpkg-deb --fsys-tarfile \"$1\" | tar -x -C / \"./${2#/}\"", "sh", deb, installRoot])
        let ran = try mustRun([installRoot + "/venv/bin/hello-uv"]).stdout
        #expect(ran == installRoot + "/venv/lib/" + pythonDirectory + "/site-packages/hellouv.py xn--bcher-kva.example\n", "\(ran)")
        #expect(try String(contentsOfFile: installRoot + "/venv/bin/hello-uv", encoding: .utf8).hasPrefix("#!" + installRoot + "/venv/bin/python"))
        #expect(try leftovers(app: "hellouv").isEmpty)
    }
}
