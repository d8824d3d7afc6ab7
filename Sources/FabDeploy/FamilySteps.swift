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
    ///
    /// The installer is the settings' (``Installer``): uv makes its own installer virtualenv, installs
    /// the build requirements into it (a no-op once they are there) and the project (about 0.5 s for
    /// whois, where pip took 2 s: pip's start-up twice, for the requirements and the project).
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
        let commands = InstallerCommands(settings, home: state.prepared.home)
        let tool = settings.installer.tool
        let installer = state.prepared.home + "/" + Self.installerDirectory(python: settings.python, tool: tool)
        let venvPath = settings.layout.virtualenvPath(installRoot: installRoot)
        let lib = state.stagedRoot + "/project/lib", bin = state.stagedRoot + "/project/bin"
        let stagedVenvBin = state.virtualenv + "/bin"
        let pth = state.virtualenv + "/lib/python\(pythonVersion)/site-packages/_fab_\(app).pth"
        let requires = state.buildDirectory + "/build-requires.txt"
        /// Installs `arguments` into the installer virtualenv (or, with `--target`, into that directory).
        func install(_ arguments: [String], cached: Bool = true) -> String {
            switch tool {
            case .pip:
                return DeploymentCommands.pipInstall(venv: installer, arguments: arguments, cacheDirectory: state.pipCache,
                                                     indexURL: settings.indexURL, extraIndexURLs: settings.extraIndexURLs)
            case .uv:
                // The project never comes from uv's cache: a build of a local directory is cached by
                // its path and pyproject's time, not by its code.
                return DeploymentCommands.uvPipInstall(uv: commands.uvBinary ?? "uv", venv: installer,
                                                       arguments: (cached ? [] : ["--no-cache"]) + arguments,
                                                       cacheDirectory: commands.uvCache, indexURL: settings.indexURL,
                                                       extraIndexURLs: settings.extraIndexURLs)
            }
        }
        let target = ["--no-deps"] + (tool == .pip ? ["--no-compile"] : []) + ["--target", lib]
        let createInstaller: String
        let installRequires: String
        switch tool {
        case .pip:
            createInstaller = "\(q(settings.python)) -m venv \(q(installer))"
            // pip's start-up (most of a second) only when the requirements differ from the last ones installed.
            let stamp = installer + "/fab-build-requires.txt"
            installRequires = "{ [ ! -s \(q(requires)) ] || cmp -s \(q(requires)) \(q(stamp)) || { \(install(["-r", requires])) && cp \(q(requires)) \(q(stamp)); }; }"
        case .uv:
            createInstaller = DeploymentCommands.uvCreateVirtualenv(uv: commands.uvBinary ?? "uv", python: settings.python, venv: installer,
                                                                    cacheDirectory: commands.uvCache)
            installRequires = "{ [ ! -s \(q(requires)) ] || \(install(["-r", requires])); }"
        }
        try await build.step("project") {
            if tool == .uv { try await build.run(commands.prepare) }
            try await build.run("[ -x \(q(installer + "/bin/python")) ] || { rm -rf -- \(q(installer)) && \(createInstaller); }")
            // The build requirements go into the installer virtualenv and the project is built without
            // isolation: pip's isolated build environment installs them afresh on every build, which
            // took three times as long (17 s against 5 s for a setuptools project on the loaded test
            // build host). An interpreter without tomllib (before 3.11) builds in isolation. uv leaves
            // a lock file at the top of the target directory.
            try await build.run("if \(q(installer + "/bin/python")) -c \(q(Self.buildRequiresProgram)) \(q(appDirectory)) > \(q(requires)); then "
                + "\(installRequires) && \(install(target + ["--no-build-isolation", appDirectory], cached: false)); "
                + "else \(install(target + [appDirectory], cached: false)); fi && rm -f -- \(q(lib + "/.lock"))")
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

    /// The installer virtualenv's place, relative to the build host's home: one per interpreter and
    /// tool (uv's holds no pip).
    static func installerDirectory(python: String, tool: Installer.Tool) -> String {
        ".cache/fab-installer/" + (tool == .uv ? "uv-" : "") + python.split(separator: "/").joined(separator: "_")
    }
}
