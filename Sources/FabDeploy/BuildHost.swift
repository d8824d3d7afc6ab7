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

    /// Installs the build dependencies and the kit's tools with apt-get (the only step run with sudo).
    /// Skips apt-get when a build less than ``Settings/aptUpdateMaxAgeMinutes`` ago installed every
    /// package and no apt source changed since (so a broken source still fails the update that runs).
    func installBuildDependencies(on build: Fab, home: String) async throws {
        let packages = DeploymentCommands.kitPackages(python: settings.python, needsGit: needsGit) + buildDeps + stepPackages
            + (settings.lint.enabled ? ["lintian"] : [])
        let started = ContinuousClock.now
        let stamp = home + "/" + DeploymentCommands.aptStampFile
        if let check = DeploymentCommands.aptAlreadyReady(packages, stamp: stamp, maxAgeMinutes: settings.aptUpdateMaxAgeMinutes) {
            if try await build.probe(check).succeeded {
                say(settings.buildHost, "build dependencies installed, apt lists updated less than \(settings.aptUpdateMaxAgeMinutes) min ago: apt-get skipped")
                return
            }
        }
        try await build.hide(.stdout) {
            try await build.sudo(DeploymentCommands.aptUpdate())
            try await build.sudo(DeploymentCommands.aptInstall(packages))
        }
        try await build.hide(.running) { try await build.run(DeploymentCommands.touchAptStamp(stamp)) }
        say(settings.buildHost, dryRun ? "dry run: the build dependencies above would be installed" : "build dependencies ready in \(Self.seconds(since: started))")
    }

    /// Prints the step timings with the time of the step that failed, and removes the failed build's
    /// `directory` on the build host (nil before there is one), unless ``Settings/keepBuildDirectory``. A cleanup that fails only
    /// warns: the build's own error is the one to report.
    func abandonBuild(directory: String?, timings: BuildTimings, failedAfter seconds: Double) async {
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
