import FabArchive
import FabCore
import Foundation

/// The build host's steps before packaging: its home, the build dependencies (apt), the committed
/// source tree, and the build directory's life (made by ``Deployment/prepareApp(branch:version:)``,
/// removed after the build or when it fails).
extension Deployment {
    /// What ``prepareApp(branch:version:)`` decided, for ``buildDeb()``.
    struct PreparedBuild: Sendable {
        var source: DeploymentSource
        var version: String
        var home: String
        var buildDirectory: String
        var tarball: String
    }

    /// Checks the input, resolves the branch and version, installs the build dependencies on the build
    /// host and sends it the committed tree of the project on `branch`.
    /// - Parameters:
    ///   - branch: the branch to build; nil for the checked-out one.
    ///   - version: an explicit version; nil for the version file, else the highest version the build
    ///     host's apt and the repository know, plus one.
    /// - Throws: ``FabError`` for bad input (before anything runs remotely), ``CommandFailure`` when a step fails.
    public func prepareApp(branch: String? = nil, version: String? = nil) async throws {
        var timings = BuildTimings()
        var mark = ContinuousClock.now
        let source = try DeploymentSource.resolve(projectDirectory: projectDirectory, branch: branch)
        try checkLayout(against: source)
        for path in source.uncommittedChanges(excluding: settings.excludes) {
            warn("localhost", "not committed, so not built: \(path)")
        }
        if let version {
            do { _ = try DebianVersion(version) } catch { throw FabError(.invalidArgument, error.description) }
        }
        let fileVersion = try versionFromFile()
        let tarball = NSTemporaryDirectory() + "fab-source-\(UUID().uuidString.prefix(8)).tar"
        defer { try? FileManager.default.removeItem(atPath: tarball) }
        let files = try source.writeTar(to: tarball, excluding: [".git"])
        say("localhost", "source: \(source.prefix.isEmpty ? "." : source.prefix) on \(source.branch) at \(source.shortCommit), \(files) files")
        mark = timings.add("source", since: mark)

        let build = fab.on(settings.buildHost)
        let home: String, chosen: String
        do {
            home = try await build.probe("printf '%s' \"$HOME\"").output
            guard home.hasPrefix("/") else { throw FabError(.aborted, "[\(settings.buildHost)] the login user's home '\(home)' is not an absolute path.") }
            try await checkLinks(on: build)
            mark = timings.add("connect", since: mark)
            try await build.step("apt install") { try await installBuildDependencies(on: build, home: home) }
            mark = timings.add("apt", since: mark)

            if let version {
                chosen = version
            } else if let fileVersion {
                chosen = fileVersion
            } else {
                chosen = try await nextVersion(build: build)
            }
            try await refuseExisting(version: chosen)
            say(settings.buildHost, "version \(chosen)")
            mark = timings.add("version", since: mark)
        } catch {
            await abandonBuild(directory: nil, timings: timings, failedAfter: Self.seconds(from: mark))
            throw error
        }

        let stamp = Self.timestamp()
        let directory = "\(home)/\(settings.buildDirectory)/\(app)/\(stamp)-\(source.shortCommit)"
        let remoteTar = directory + "/source.tar"
        do {
            try await build.run("mkdir -p \(build.quote(directory + "/src")) && chmod 700 \(build.quote(directory))")
            try await transferSource(source, tarball: tarball, remoteTar: remoteTar, into: directory + "/src", on: build)
        } catch {
            await abandonBuild(directory: directory, timings: timings, failedAfter: Self.seconds(from: mark))
            throw error
        }
        fab.state[Self.prepared] = PreparedBuild(source: source, version: chosen, home: home, buildDirectory: directory, tarball: remoteTar)
        timings.add("source", since: mark)
        fab.state[Self.timingsKey] = timings
    }

    /// The step timings of the current build (``prepareApp(branch:version:)`` starts them, ``buildDeb()`` prints them).
    static let timingsKey = StateKey<BuildTimings>("fab-deploy.timings")

    /// Installs the build dependencies and the kit's tools with apt-get (the only step run with sudo),
    /// in two phases: first what the virtualenv build needs (``BuildHostPackages/now``), then, in the
    /// background while the virtualenv builds, what only later steps use (``BuildHostPackages/later``:
    /// lintian and the 140 packages it pulls in, about 40 % of a fresh host's dpkg time), which
    /// ``awaitBackgroundApt(before:_:)`` waits for.
    /// Skips apt-get when a build less than ``Settings/aptUpdateMaxAgeMinutes`` ago installed every
    /// package and no apt source changed since (so a broken source still fails the update that runs).
    func installBuildDependencies(on build: Fab, home: String) async throws {
        let packages = buildHostPackages
        let started = ContinuousClock.now
        let stamp = home + "/" + DeploymentCommands.aptStampFile
        if let check = DeploymentCommands.aptAlreadyReady(packages.now + packages.later, stamp: stamp, maxAgeMinutes: settings.aptUpdateMaxAgeMinutes) {
            if try await build.probe(check).succeeded {
                say(settings.buildHost, "build dependencies installed, apt lists updated less than \(settings.aptUpdateMaxAgeMinutes) min ago: apt-get skipped")
                return
            }
        }
        let unsafeIO = settings.buildHostUnsafeIO
        try await build.hide(.stdout) {
            try await build.sudo(DeploymentCommands.aptUpdate(translations: false))
            try await build.sudo(DeploymentCommands.repairInterruptedDpkg + " && " + DeploymentCommands.aptInstall(packages.now, unsafeIO: unsafeIO))
        }
        guard !packages.later.isEmpty else {
            try await build.hide(.running) { try await build.run(DeploymentCommands.touchAptStamp(stamp)) }
            say(settings.buildHost, dryRun ? "dry run: the build dependencies above would be installed" : "build dependencies ready in \(Self.seconds(since: started))")
            return
        }
        let directory = home + "/" + DeploymentCommands.backgroundAptDirectory + "/" + UUID().uuidString.prefix(8).lowercased()
        // Recorded first, so that a build abandoned from here on stops it and removes its directory.
        if !dryRun { fab.state[Self.backgroundAptKey] = BackgroundApt(directory: directory, packages: packages.later, stamp: stamp) }
        try await build.hide(.running) { try await build.run("mkdir -p \(build.quote(directory)) && chmod 700 \(build.quote(directory))") }
        try await build.sudo(DeploymentCommands.startBackgroundAptInstall(packages.later, directory: directory, unsafeIO: unsafeIO,
                                                                          deadlineSeconds: Self.backgroundAptDeadlineSeconds))
        let later = packages.later.joined(separator: " ")
        if dryRun {
            say(settings.buildHost, "dry run: the build dependencies above would be installed, and \(later) in the background while the virtualenv builds")
            return
        }
        say(settings.buildHost, "build dependencies of the virtualenv ready in \(Self.seconds(since: started)); installing \(later) in the background")
    }

    /// The build host's apt packages: ``now`` before anything is built, ``later`` in the background.
    struct BuildHostPackages: Sendable, Equatable {
        /// What the virtualenv build and the steps up to `pack` use: the interpreter and its venv and
        /// -dev packages, the compiler, binutils (strip), patchelf, dpkg-dev (dpkg-shlibdeps), git for
        /// a cloned source, the project's build dependencies and its steps' packages. The virtualenv's
        /// input key covers the kit's and the project's, so they are installed when it is probed.
        var now: [String]
        /// What only the gates use: lintian (when ``Settings/lint`` is enabled and the project did not
        /// list it itself).
        var later: [String]
    }

    /// The packages of ``installBuildDependencies(on:home:)``, each once.
    var buildHostPackages: BuildHostPackages {
        var now: [String] = []
        for package in DeploymentCommands.kitPackages(python: settings.python, needsGit: needsGit) + buildDeps + stepPackages
        where !now.contains(package) { now.append(package) }
        return BuildHostPackages(now: now, later: settings.lint.enabled && !now.contains("lintian") ? ["lintian"] : [])
    }

    /// How long the background apt-get may run (its lock wait of up to 600 s included) before it is
    /// stopped on the build host, whether or not fab is still there to wait.
    static let backgroundAptDeadlineSeconds = 1200

    /// The build steps that use nothing the background apt-get installs; any other step (`gates`,
    /// `cleanup`, a fabfile's own) waits for it first.
    static let stepsBeforeBackgroundApt: Set<String> = ["code", "venv", "pip", "project", "strip", "relocate", "shlibdeps",
                                                         "debian-files", "control", "pack"]

    /// An apt-get install running in the background on the build host.
    struct BackgroundApt: Sendable {
        var directory: String
        var packages: [String]
        var stamp: String
    }

    static let backgroundAptKey = StateKey<BackgroundApt>("fab-deploy.background-apt")

    /// Before the pipeline step `step`: when it may use what apt-get installs in the background, waits
    /// for that install (its time goes to the step timings as `apt (wait)`), then writes the apt stamp;
    /// does nothing when no install is running or the step does not need it.
    /// - Throws: ``FabError`` `.aborted` with apt-get's last lines when the install failed or ran past
    ///   its deadline (before anything is packaged or kept).
    func awaitBackgroundApt(before step: String, _ state: inout BuildState) async throws {
        guard !Self.stepsBeforeBackgroundApt.contains(step), let background = fab.state[Self.backgroundAptKey] else { return }
        fab.state[Self.backgroundAptKey] = nil
        let build = fab.on(settings.buildHost)
        let result: CommandResult
        do {
            result = try await build.hide([.running, .stdout, .stderr]) {
                try await build.run(DeploymentCommands.waitForBackgroundApt(directory: background.directory), warnOnly: true,
                                    timeout: Double(Self.backgroundAptDeadlineSeconds + 60))
            }
        } catch {
            await stopBackgroundApt(background)
            throw FabError(.aborted, "[\(settings.buildHost)] waiting for apt-get to install \(background.packages.joined(separator: " ")) in the background failed (\(error)); nothing was kept. Check the build host and build again.")
        }
        let tail = result.stdout.split(whereSeparator: \.isNewline).suffix(6).joined(separator: " | ")
        _ = try? await build.hide([.running, .stdout, .stderr]) { try await build.run("rm -rf -- \(build.quote(background.directory))", warnOnly: true) }
        guard result.succeeded else {
            let what = [124, 137].contains(result.exitStatus) ? "did not finish within \(Self.backgroundAptDeadlineSeconds) s and was stopped"
                : "failed (exit status \(result.exitStatus))"
            throw FabError(.aborted, "[\(settings.buildHost)] apt-get install of \(background.packages.joined(separator: " ")) in the background \(what): \(tail); nothing was kept. Fix the build host's apt (sources, package names, a held lock) and build again.")
        }
        try await build.hide(.running) { try await build.run(DeploymentCommands.touchAptStamp(background.stamp)) }
        state.mark = state.timings.add("apt (wait)", since: state.mark)
    }

    /// Stops the background apt-get of a build that is abandoned, and removes its files; a failure
    /// only warns (the build's own error is the one to report).
    func stopBackgroundApt(_ background: BackgroundApt) async {
        fab.state[Self.backgroundAptKey] = nil
        let build = fab.on(settings.buildHost)
        do {
            try await build.hide([.running, .stdout]) {
                try await build.sudo(DeploymentCommands.stopBackgroundApt(directory: background.directory))
                try await build.run("rm -rf -- \(build.quote(background.directory))")
            }
        } catch {
            warn(settings.buildHost, "could not stop the background apt-get install of \(background.packages.joined(separator: " ")) (\(error)); it stops by itself within \(Self.backgroundAptDeadlineSeconds / 60) min.")
        }
    }

    /// Stops the build's background apt-get if it still runs, prints the step timings with the time of
    /// the step that failed, and removes the failed build's `directory` on the build host (nil before
    /// there is one), unless ``Settings/keepBuildDirectory``. A cleanup that fails only warns: the
    /// build's own error is the one to report.
    func abandonBuild(directory: String?, timings: BuildTimings, failedAfter seconds: Double) async {
        if let background = fab.state[Self.backgroundAptKey] { await stopBackgroundApt(background) }
        var timings = timings
        timings.add("failed step", seconds: max(0, seconds))
        say(settings.buildHost, "build failed; " + timings.summary)
        fab.state[Self.timingsKey] = nil
        fab.state[Self.prepared] = nil
        guard let directory else { return }
        let build = fab.on(settings.buildHost)
        if settings.keepBuildDirectory {
            say(settings.buildHost, "kept the failed build's directory \(directory) (keepBuildDirectory)")
            return
        }
        do {
            try await build.hide([.running]) { try await build.run("rm -rf -- \(build.quote(directory))") }
            say(settings.buildHost, "removed the failed build's directory \(directory)")
        } catch {
            warn(settings.buildHost, "could not remove the failed build's directory \(directory) (\(error)); remove it by hand.")
        }
    }

    /// Puts the branch's committed tree in `directory` on the build host: streamed from `tarball`, or
    /// cloned there (checking the server has the same commit).
    func transferSource(_ source: DeploymentSource, tarball: String, remoteTar: String, into directory: String, on build: Fab) async throws {
        switch settings.source {
        case .stream:
            try await build.put(tarball, remoteTar, mode: 0o600)
            try await build.run("tar -x -f \(build.quote(remoteTar)) -C \(build.quote(directory)) && rm -f \(build.quote(remoteTar))")
        case let .clone(url):
            let checkout = (directory as NSString).deletingLastPathComponent + "/checkout"
            let command = DeploymentSource.cloneCommand(url: url, branch: source.branch, commit: source.commit, prefix: source.prefix,
                                                        checkout: checkout, destination: directory)
            let commit = try await build.hide([.stdout]) { try await build.run(command).output }
            guard commit == source.commit || dryRun else {
                throw FabError(.aborted, "[\(settings.buildHost)] the clone of \(url) checked out \(commit), not \(source.commit).")
            }
            say(settings.buildHost, "source: cloned \(url) \(source.branch) at \(source.shortCommit)")
        }
    }
}
