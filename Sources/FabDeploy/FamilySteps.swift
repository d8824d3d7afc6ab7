import FabCore
import Foundation

/// The steps the family's packages use besides the single package's: `pip` of the virtualenv
/// package (the requirements only) and `project` of the app package (the project without its
/// dependencies, reaching the virtualenv through a `.pth` file; see ``ProjectInstall``).
extension Deployment {
    /// `pip` of the virtualenv package: the committed `requirements.txt` only (the project goes into
    /// the app package).
    func installRequirementsOnly(_ state: inout BuildState) async throws {
        let requirements = state.sourceDirectory + "/requirements.txt"
        let present = dryRun ? try state.prepared.source.fileContents("requirements.txt") != nil
            : try await state.build.exists(requirements)
        if present {
            try await virtualenvBuilder(state).install(["-r", requirements])
        }
        let version = state.pythonVersion ?? "?"
        say(settings.buildHost, dryRun ? "dry run: the virtualenv would be built with Python \(version)" : "virtualenv ready in \(Self.seconds(since: state.virtualenvStarted)) (Python \(version)\(present ? "" : ", no requirements.txt"))")
    }

    /// `project` of the app package: installs the project (when it has a `pyproject.toml` or
    /// `setup.py`) without its dependencies into `INSTALL_ROOT/project/lib` with an installer
    /// virtualenv kept in the build host's cache, moves its console scripts to `project/bin` with a
    /// `#!` line naming the virtualenv's python, links them from the virtualenv's `bin`, and writes
    /// the `.pth` file that puts `project/lib` on the virtualenv's path.
    func installProject(_ state: inout BuildState) async throws {
        let build = state.build, q = build.quote
        let appDirectory = state.appDirectory
        let committed = dryRun ? Set(try state.prepared.source.entries().map(\.path)) : []
        func staged(_ name: String) async throws -> Bool {
            dryRun ? committed.contains(name) : try await build.exists(appDirectory + "/" + name)
        }
        let hasProject = try await staged("pyproject.toml")
        let hasSetup = try await staged("setup.py")
        guard hasProject || hasSetup else {
            say(settings.buildHost, "no pyproject.toml or setup.py: \(packageName) ships the code only")
            return
        }
        let pythonVersion = try await virtualenvBuilder(state).pythonVersion()
        let installer = state.prepared.home + "/" + Self.installerDirectory(python: settings.python)
        let venvPath = settings.layout.virtualenvPath(installRoot: installRoot)
        let lib = state.stagedRoot + "/project/lib", bin = state.stagedRoot + "/project/bin"
        let stagedVenvBin = state.virtualenv + "/bin"
        let pth = state.virtualenv + "/lib/python\(pythonVersion)/site-packages/_fab_\(app).pth"
        let requires = state.buildDirectory + "/build-requires.txt"
        func pip(_ arguments: [String]) -> String {
            DeploymentCommands.pipInstall(venv: installer, arguments: arguments, cacheDirectory: state.pipCache,
                                          indexURL: settings.indexURL, extraIndexURLs: settings.extraIndexURLs)
        }
        let target = ["--no-deps", "--no-compile", "--target", lib]
        try await build.step("project") {
            try await build.run("[ -x \(q(installer + "/bin/python")) ] || { rm -rf -- \(q(installer)) && \(q(settings.python)) -m venv \(q(installer)); }")
            // The build requirements go into the installer virtualenv (a no-op once they are there)
            // and the project is built without isolation: pip's isolated build environment installs
            // them afresh on every build, which took three times as long (17 s against 5 s for a
            // setuptools project on the loaded test build host). An interpreter without tomllib
            // (before 3.11) builds in isolation.
            try await build.run("if \(q(installer + "/bin/python")) -c \(q(Self.buildRequiresProgram)) \(q(appDirectory)) > \(q(requires)); then "
                + "{ [ ! -s \(q(requires)) ] || \(pip(["-r", requires])); } && \(pip(target + ["--no-build-isolation", appDirectory])); "
                + "else \(pip(target + [appDirectory])); fi")
        }
        let arguments = [settings.python, "-", lib, bin, stagedVenvBin, venvPath + "/bin/python", projectPath + "/bin", venvPath + "/bin",
                         pth, projectPath + "/lib"]
        let finished = try await build.hide([.running, .stdout]) {
            try await build.run(arguments.map(q).joined(separator: " "), stdin: ProjectInstall.script)
        }
        // What building the project in place leaves behind.
        if let code = state.codeDirectory {
            try await build.run("cd \(q(code)) && rm -rf build *.egg-info && find . -name __pycache__ -prune -exec rm -rf {} +")
        }
        let scripts = ProjectInstall.scripts(fromOutput: finished.stdout)
        say(settings.buildHost, dryRun ? "dry run: the project would be installed into \(projectPath)/lib without its dependencies"
            : "project installed into \(projectPath)/lib without its dependencies; \(scripts.isEmpty ? "no console scripts" : "console scripts \(scripts.joined(separator: ", ")) in \(venvPath)/bin")")
    }

    /// Prints the build requirements of the project in `sys.argv[1]` one a line (`[build-system]
    /// requires` of its pyproject.toml, and wheel beside setuptools; setuptools and wheel for a
    /// setup.py project); fails without tomllib.
    static let buildRequiresProgram = """
        import os, sys
        import tomllib
        path = os.path.join(sys.argv[1], "pyproject.toml")
        requires = ["setuptools>=40.8.0", "wheel"]
        if os.path.exists(path):
            with open(path, "rb") as f:
                system = tomllib.load(f).get("build-system")
            if system is not None:
                requires = system.get("requires", [])
        # setuptools before 70.1 builds wheels only with the wheel package, which pip's isolated
        # build adds by itself; a shared environment needs it named.
        if any(r.replace(" ", "").lower().startswith("setuptools") for r in requires) and "wheel" not in requires:
            requires.append("wheel")
        if requires:
            print("\\n".join(requires))
        """

    /// The installer virtualenv's place, relative to the build host's home: one per interpreter.
    static func installerDirectory(python: String) -> String {
        ".cache/fab-installer/" + python.split(separator: "/").joined(separator: "_")
    }
}
