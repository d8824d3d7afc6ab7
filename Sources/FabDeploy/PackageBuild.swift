import FabArchive
import FabCore
import Foundation

/// ``Deployment/buildDeb()`` and the steps of its default ``BuildPipeline``: each a small function
/// of the ``BuildState``, in the order ``BuildPipeline/defaultNames`` lists them.
extension Deployment {
    /// The single-package build's steps (``BuildPipeline/defaultNames``).
    static var defaultPipeline: BuildPipeline {
        BuildPipeline(unchecked: [
            .init("code") { state in let deployment = state.deployment; try await deployment.stageCode(&state) },
            .init("venv") { state in let deployment = state.deployment; try await deployment.createVirtualenv(&state) },
            .init("pip") { state in let deployment = state.deployment; try await deployment.installRequirements(&state) },
            .init("strip") { state in let deployment = state.deployment; try await deployment.stripNativeCode(&state) },
            .init("relocate") { state in let deployment = state.deployment; try await deployment.relocate(&state) },
            .init("shlibdeps") { state in let deployment = state.deployment; try await deployment.findTreeDepends(&state) },
            .init("debian-files") { state in let deployment = state.deployment; try await deployment.installDebianFiles(&state) },
            .init("control") { state in let deployment = state.deployment; try await deployment.writeControl(&state) },
            .init("pack") { state in let deployment = state.deployment; try await deployment.pack(&state) },
            .init("gates") { state in let deployment = state.deployment; try await deployment.passGates(&state) },
            .init("cleanup") { state in let deployment = state.deployment; try await deployment.removeBuildDirectory(&state) },
        ])
    }

    /// Builds the virtualenv and the package on the build host by running ``pipeline`` and fetches the
    /// .deb into ``artifactDirectory`` through the gates: its SHA-256 is checked, it is read back, and
    /// lintian checks it on the build host under ``Settings/lint`` while it travels. Only a package
    /// that passed every gate is kept, with its ``ArtifactManifest``; one that lintian rejects goes to
    /// `rejected/`.
    /// - Returns: the local path of the .deb.
    /// - Throws: ``FabError`` when ``prepareApp(branch:version:)`` did not run, a gate rejected the
    ///   package, its file name is taken, or the pipeline has no `gates` step; ``RelocationError``
    ///   when files still name the build path; ``CommandFailure`` when a step fails. A failed build
    ///   removes its build directory on the build host (unless ``Settings/keepBuildDirectory``) and
    ///   prints the step timings up to the failure.
    @discardableResult
    public func buildDeb() async throws -> String {
        guard let prepared = fab.state[Self.prepared] else {
            throw FabError(.invalidArgument, "buildDeb() needs prepareApp() first, in the same task or run.")
        }
        guard pipeline.contains("gates") else {
            throw FabError(.invalidArgument, "the build pipeline has no 'gates' step, and only a package that passed the gates is kept; put a step called 'gates' back (replace it rather than remove it).")
        }
        var state = makeState(prepared)
        do {
            // Every command that writes package content sees the commit's time (reproducible builds).
            let environment = DeploymentCommands.reproducibleEnvironment(sourceDateEpoch: prepared.source.commitTime)
            try await fab.withEnv(environment) { try await pipeline.run(&state) }
        } catch {
            // The steps that finished are in the timings; the rest of the time went to the one that failed.
            await abandonBuild(directory: prepared.buildDirectory, timings: state.timings,
                               failedAfter: Self.seconds(from: state.mark))
            throw error
        }
        fab.state[Self.timingsKey] = nil
        guard let artifact = state.artifact else {
            throw FabError(.aborted, "the build pipeline's steps ran, but its 'gates' step kept no package; a replaced 'gates' step must set state.artifact.")
        }
        if dryRun { return artifact }
        say(settings.buildHost, state.timings.summary)
        fab.state[Self.built] = artifact
        return artifact
    }

    /// The state a build starts from: the staged paths of this layout, and a package description
    /// with the settings' fields (or `package`, for another member of the family, staged in its own
    /// directory; with `shipsCode` false it has no code directory and reads requirements from the source).
    func makeState(_ prepared: PreparedBuild, package given: PackageSpec? = nil, shipsCode: Bool = true) -> BuildState {
        let build = fab.on(settings.buildHost)
        let dir = prepared.buildDirectory
        var package: PackageSpec
        if let given {
            package = given
        } else {
            package = PackageSpec(name: packageName, version: prepared.version, maintainer: settings.maintainer,
                                  synopsis: settings.synopsis ?? ControlFileBuilder.defaultSynopsis(package: packageName, app: app),
                                  stagingDirectory: dir + "/pkg")
            package.depends = runDeps
            package.maintainerScriptsDirectory = dir + "/src/debian"
        }
        package.section = given?.section ?? settings.section
        package.priority = given?.priority ?? settings.priority
        package.branch = package.branch ?? prepared.source.branch
        package.commit = package.commit ?? prepared.source.shortCommit
        package.sourceDateEpoch = package.sourceDateEpoch ?? prepared.source.commitTime
        let staging = package.stagingDirectory
        let code = shipsCode ? settings.layout.codePath(installRoot: installRoot).map { staging + $0 } : nil
        let timings = fab.state[Self.timingsKey] ?? BuildTimings()
        return BuildState(deployment: self, build: build, buildDirectory: dir, sourceDirectory: dir + "/src", stagingDirectory: staging,
                          installRoot: installRoot, stagedRoot: staging + installRoot,
                          virtualenv: staging + settings.layout.virtualenvPath(installRoot: installRoot),
                          codeDirectory: code, appDirectory: code ?? dir + "/src",
                          pipCache: prepared.home + "/" + settings.pipCacheDirectory, package: package,
                          format: DebFormat(compressionLevel: settings.compressionLevel), prepared: prepared,
                          timings: timings, mark: .now)
    }

    /// The virtualenv builder for this build's staged virtualenv.
    func virtualenvBuilder(_ state: BuildState) -> VirtualenvBuilder {
        VirtualenvBuilder(deployment: self, build: state.build, venv: state.virtualenv,
                          installer: InstallerCommands(settings, home: state.prepared.home))
    }

    /// The context the kit's ``BuildStep``s (sub-apps, LESS, collectstatic...) run in.
    func stepContext(_ state: BuildState) -> BuildContext {
        BuildContext(build: state.build, appDirectory: state.appDirectory, venv: state.virtualenv, root: state.stagedRoot,
                     version: state.version, buildDirectory: state.buildDirectory)
    }

    // MARK: - The steps

    /// `code`: the project's files without debian/ (maintainer scripts), etc/ (installed under /etc)
    /// and the layout's directories (installed where it says); then those directories and links; then
    /// the `.source` build steps.
    func stageCode(_ state: inout BuildState) async throws {
        let build = state.build
        try await build.run("mkdir -p \(build.quote(state.pipCache))")
        for command in settings.layout.stagingCommands(installRoot: installRoot, source: state.sourceDirectory,
                                                       staging: state.stagingDirectory, excludes: settings.excludes) {
            try await build.run(command)
        }
        try await runBuildSteps(.source, stepContext(state))
    }

    /// `venv`: the virtualenv, made with the build interpreter.
    func createVirtualenv(_ state: inout BuildState) async throws {
        let builder = virtualenvBuilder(state)
        state.virtualenvStarted = .now
        state.pythonVersion = try await builder.pythonVersion()
        state.package.pythonVersion = state.pythonVersion
        try await builder.create()
    }

    /// `pip`: the requirements and the project (with the `.virtualenv` build steps between them when
    /// there are any), then the `.installed` build steps.
    func installRequirements(_ state: inout BuildState) async throws {
        let builder = virtualenvBuilder(state)
        let appDirectory = state.appDirectory
        var requirements: [String] = [], project: [String] = []
        // A dry run staged nothing: the committed tree says what the staged code would hold.
        let committed = dryRun ? Set(try state.prepared.source.entries().map(\.path)) : []
        let build = state.build
        func staged(_ name: String) async throws -> Bool {
            dryRun ? committed.contains(name) : try await build.exists(appDirectory + "/" + name)
        }
        if try await staged("requirements.txt") { requirements = ["-r", appDirectory + "/requirements.txt"] }
        let hasProject = try await staged("pyproject.toml")
        let hasSetup = try await staged("setup.py")
        if hasProject || hasSetup { project = [appDirectory] }
        // Steps that need the requirements (compilemessages) run before the project is installed.
        let split = buildSteps.contains { $0.phase == .virtualenv }
        let batches: [[String]] = split ? [requirements, project] : [requirements + project]
        for (index, arguments) in batches.enumerated() {
            try await builder.install(arguments)
            if split && index == 0 { try await runBuildSteps(.virtualenv, stepContext(state)) }
        }
        // What building the app in place leaves behind.
        if let code = state.codeDirectory {
            try await build.run("cd \(build.quote(code)) && rm -rf build *.egg-info && find . -name __pycache__ -prune -exec rm -rf {} +")
        }
        let version = state.pythonVersion ?? "?"
        say(settings.buildHost, dryRun ? "dry run: the virtualenv would be built with Python \(version)" : "virtualenv ready in \(Self.seconds(since: state.virtualenvStarted)) (Python \(version))")
        try await runBuildSteps(.installed, stepContext(state))
        let tool = settings.installer.tool.rawValue
        state.mark = state.timings.add(state.timingPrefix + (buildSteps.isEmpty ? tool : tool + "+steps"), since: state.mark)
    }

    /// `strip`: native code loses its symbols, as dh_strip does, before relocation, so RECORD gets the
    /// hashes of the files as they are packaged.
    func stripNativeCode(_ state: inout BuildState) async throws {
        let builder = virtualenvBuilder(state)
        state.elfFiles = try await builder.elfFiles(under: state.stagingDirectory)
        try await builder.strip(state.elfFiles)
    }

    /// `relocate`: build paths become install paths, and the audit checks none is left.
    func relocate(_ state: inout BuildState) async throws {
        state.auditedFiles = try await virtualenvBuilder(state).relocate(buildRoot: state.stagedRoot, finalRoot: installRoot)
    }

    /// `shlibdeps`: the architecture and the shared libraries of native code (dpkg-shlibdeps, its
    /// warnings summed up in one line), and the packages that symlinks and `#!` lines leaving the
    /// package lead to.
    func findTreeDepends(_ state: inout BuildState) async throws {
        let build = state.build
        let elfFiles = state.elfFiles
        if dryRun && elfFiles.isEmpty {
            say(settings.buildHost, "dry run: the architecture and the shared libraries of native code come from the built tree; planning with none (Architecture: all)")
        }
        var shlibs: [String] = []
        if !elfFiles.isEmpty {
            state.package.architecture = try await read(build, "dpkg --print-architecture", planned: "amd64")
            let libraryDirectories = Array(Set(elfFiles.filter { $0.contains(".so") }.map { ($0 as NSString).deletingLastPathComponent })).sorted()
            // Its warnings (dozens with wheels that bundle libraries) become one line; the failure of
            // a hidden command still shows its last lines of standard error.
            let output = try await build.hide([.running, .stdout, .stderr]) {
                try await build.run(DeploymentCommands.shlibdeps(files: elfFiles, libraryDirectories: libraryDirectories,
                                                                 workDirectory: state.buildDirectory + "/shlibdeps"))
            }
            shlibs = DeploymentCommands.shlibsDepends(fromShlibdepsOutput: output.stdout)
            say(settings.buildHost, "\(elfFiles.count) ELF files; dpkg-shlibdeps: \(shlibs.joined(separator: ", "))")
            try await reportShlibdepsWarnings(ShlibdepsWarnings(standardError: output.stderr), log: state.buildDirectory + "/shlibdeps.log", on: build)
        }
        let linked = try await treeDepends(on: build, staging: state.stagingDirectory, providedBy: state.providedPaths)
        if !linked.isEmpty { say(settings.buildHost, "symlinks leaving the package need: \(linked.joined(separator: ", "))") }
        state.package.treeDepends += shlibs + linked
    }

    /// `debian-files`: what Debian expects besides the files: systemd units where packages put them,
    /// copyright and changelog, lintian overrides, and modes.
    func installDebianFiles(_ state: inout BuildState) async throws {
        let build = state.build, q = build.quote
        let staging = state.stagingDirectory
        let package = state.package
        try await build.run(DeploymentCommands.moveSystemdUnits(stagingDirectory: staging))
        let doc = staging + "/usr/share/doc/" + package.name
        try await installLintOverrides(on: build, stagingDirectory: staging, sourceDirectory: state.sourceDirectory, package: package.name)
        try await build.hide(.running) {
            try await build.run("mkdir -p \(q(doc)) && cat > \(q(doc + "/copyright"))", stdin: DeploymentCommands.copyright(package: package.name, app: app, maintainer: package.maintainer))
            try await build.run("gzip -9n > \(q(doc + "/changelog.gz"))",
                                stdin: DeploymentCommands.changelog(package: package.name, version: package.version, branch: state.prepared.source.branch,
                                                                    commit: state.prepared.source.shortCommit, maintainer: package.maintainer,
                                                                    date: Date(timeIntervalSince1970: TimeInterval(state.prepared.source.commitTime))))
        }
        try await build.run(DeploymentCommands.normalizeModes(stagingDirectory: staging))
    }

    /// `control`: Installed-Size and conffiles (every file under /etc) from the staged tree, then the
    /// format's metadata.
    func writeControl(_ state: inout BuildState) async throws {
        let build = state.build
        let staging = state.stagingDirectory
        let sizes = try await read(build, ControlFileBuilder.installedSizeCommand(directory: staging), planned: "")
        state.package.installedSize = try ControlFileBuilder.installedSize(parsingFindOutput: sizes)
        let committed = dryRun ? Set(try state.prepared.source.entries().map(\.path)) : []
        let found = try await read(build, "cd \(build.quote(staging)) && if [ -d etc ]; then find etc -type f | LC_ALL=C sort; fi",
                                   planned: Self.plannedConffiles(committed: committed, directories: settings.layout.directories).joined(separator: "\n"))
        state.package.conffiles = found.split(whereSeparator: \.isNewline).map { "/" + $0 }
        try await state.format.writeMetadata(state.package, on: build)
    }

    /// `pack`: the package file on the build host, and its SHA-256.
    func pack(_ state: inout BuildState) async throws {
        let started = ContinuousClock.now
        let remote = try await state.format.pack(state.package, into: state.buildDirectory, on: state.build)
        state.remotePackage = remote
        state.remoteSHA256 = try await read(state.build, DeploymentCommands.sha256(remote), planned: "")
        let fileName = (remote as NSString).lastPathComponent
        say(settings.buildHost, dryRun ? "dry run: dpkg-deb would make \(fileName)" : "built \(fileName) in \(Self.seconds(since: started))")
    }

    /// `gates`: fetches the package while lintian checks it on the build host, and keeps it only when
    /// every gate passed (``fetchThroughGates(_:timings:mark:)``). A dry run plans the fetch.
    func passGates(_ state: inout BuildState) async throws {
        guard let remote = state.remotePackage else {
            throw FabError(.invalidArgument, "the build pipeline's 'gates' step found no package: a 'pack' step must run before it.")
        }
        let fileName = (remote as NSString).lastPathComponent
        let package = state.package
        if dryRun {
            let build = state.build
            if settings.lint.enabled {
                try await build.run(LintCommands.start(deb: remote, directory: state.buildDirectory))
            }
            _ = try await build.get(remote, artifactDirectory + "/" + fileName)
            say("localhost", "dry run: \(fileName) would be fetched to \(artifactDirectory), checked against the build host's SHA-256, read back\(settings.lint.enabled ? ", judged by lintian (failing on \(settings.lint.failOn.rawValue)s)" : "") and kept with its manifest only if every gate passed")
            fab.state[Self.planned] = PlannedArtifact(path: artifactDirectory + "/" + fileName, version: package.version, architecture: package.architecture)
            state.artifact = artifactDirectory + "/" + fileName
            return
        }
        state.artifact = try await fetchThroughGates(
            BuiltPackage(remotePath: remote, remoteSHA256: state.remoteSHA256, fileName: fileName, version: package.version,
                         architecture: package.architecture, branch: state.prepared.source.branch, commit: state.prepared.source.shortCommit,
                         auditedFiles: state.auditedFiles, package: package.name, timingPrefix: state.timingPrefix,
                         lastInBuildDirectory: state.lastInBuildDirectory, lintsAlone: state.lintsAlone),
            timings: &state.timings, mark: &state.mark)
    }

    /// `cleanup`: removes the build directory, unless ``Settings/keepBuildDirectory``.
    func removeBuildDirectory(_ state: inout BuildState) async throws {
        guard !settings.keepBuildDirectory else { return }
        try await state.build.run("rm -rf -- \(state.build.quote(state.buildDirectory))")
    }

    /// The files a dry run expects under /etc in the package, from the committed tree: the project's
    /// `etc/` (without the systemd units the build moves to /lib) and the layout's directories mapped there.
    static func plannedConffiles(committed: Set<String>, directories: [String: String]) -> [String] {
        var files = committed.filter { $0.hasPrefix("etc/") && !$0.hasPrefix("etc/systemd/system/") }
        for (directory, target) in directories where target.hasPrefix("/etc/") {
            for path in committed where path.hasPrefix(directory + "/") {
                files.insert(String(target.dropFirst()) + path.dropFirst(directory.count))
            }
        }
        return files.sorted()
    }
}
