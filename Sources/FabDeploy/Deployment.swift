import FabArchive
import FabCore
import Foundation

/// The deploy kit: builds a Python app with its whole virtualenv into a Debian package on a build
/// host, fetches it back, publishes it to an apt repository, and installs, upgrades or rolls it back
/// on servers — dh-virtualenv's job, driven from a fabfile.
///
/// ```swift
/// func deb(_ fab: Fab, branch: String? = nil) async throws {
///     let deploy = try await Deployment(fab, app: "whois", buildDeps: ["libpq-dev"], runDeps: ["libpq5"])
///     try await deploy.prepareApp(branch: branch)
///     try await deploy.buildDeb()
/// }
/// func push(_ fab: Fab) async throws { try await Deployment(fab, app: "whois").pushToRepo() }
/// ```
///
/// Conventions are ``Settings`` with defaults. Nothing on the build host runs as root except apt-get;
/// the package's files are owned by root (`dpkg-deb --root-owner-group`), so the service user cannot
/// modify its own code, and the maintainer scripts create what the service must write (logs, run
/// directory) with its user. A failed build leaves the repository untouched; bad input fails before
/// anything changes on a server.
public struct Deployment: Sendable {
    /// Where and how to build and publish; every field has a default.
    public struct Settings: Sendable {
        /// Prepended to the app's name to make the package name: `vrmd-` makes `vrmd-whois`.
        public var packagePrefix = "vrmd-"
        /// Where the package installs the app (the virtualenv in `venv/`, the code in `app/`, as
        /// ``layout`` says); nil for `/vrmd/APP`.
        public var installRoot: String?
        /// Where the code, the virtualenv, more directories and links go; the default is the code in
        /// `INSTALL_ROOT/app` and the virtualenv in `INSTALL_ROOT/venv`.
        public var layout = Layout()
        /// The interpreter on the build host that makes the virtualenv. `/usr/bin/python3.11` makes
        /// the package depend on `python3.11`.
        public var python = "/usr/bin/python3.11"
        /// The build host's name (an ssh_config alias).
        public var buildHost = "buildvm"
        /// The repository host's name (an ssh_config alias).
        public var repositoryHost = "repo"
        /// Where built packages are fetched to: nil for the project's `debian/` folder (its
        /// `.gitignore` keeps `*.deb` out of git). `FAB_ARTIFACT_DIR` in the environment overrides it.
        public var artifactDirectory: String?
        /// How packages are published.
        public var repository: Repository = .reprepro(base: "/srv/apt", codename: "fab")
        /// The `Maintainer` field.
        public var maintainer = "vrmd operations <ops@vrmd.example>"
        /// The description's first line; nil for "Python app APP built by fab" (worded so that lintian's
        /// `description-starts-with-package-name` holds for any prefix, the empty one included).
        public var synopsis: String?
        public var section = "misc"
        public var priority = "optional"
        /// pip's index (`--index-url`), nil for pip's configuration.
        public var indexURL: String?
        /// More indexes (`--extra-index-url`), such as a private one.
        public var extraIndexURLs: [String] = []
        /// pip's cache on the build host, relative to the login user's home: it survives builds, so a
        /// second build downloads and compiles nothing that did not change.
        public var pipCacheDirectory = ".cache/fab-pip"
        /// Where builds happen on the build host, relative to the login user's home.
        public var buildDirectory = "fab-builds"
        /// Upgrade pip (and install wheel) in the new virtualenv before the requirements.
        public var upgradePip = true
        /// Files and directories left out of the package (shell patterns matched against each path component).
        public var excludes = [".git", "*.bak", "*.orig", ".gitignore", "fabfile.swift", "__pycache__", "*.pyc", "*.deb", "VERSION"]
        /// The project's version file (one version a line, relative to the project): when it exists it
        /// sets the version, and ``Deployment/bumpVersionFile()`` increments it.
        public var versionFile = "VERSION"
        /// How lintian checks the package (on the build host, while the package travels here) and
        /// what fails the build: errors by default; see ``LintPolicy``.
        public var lint = LintPolicy()
        @available(*, unavailable, message: "use lint.enabled; lint also accepts named tags with a reason and sets what fails the build")
        public var lintian: Bool { get { lint.enabled } set { lint.enabled = newValue } }
        /// Keep the build directory on the build host after a successful build.
        public var keepBuildDirectory = false
        /// How recent (in minutes) the build host's last successful `apt-get update` and install of the
        /// build dependencies must be for a build to skip apt-get, when every build dependency is
        /// installed and no apt source changed since; 0 runs apt-get update and install on every build.
        public var aptUpdateMaxAgeMinutes = 60
        /// dpkg-deb's gzip level (1 to 9): 1 packs in about half the time of dpkg-deb's 6, for a
        /// package about 10 % larger.
        public var compressionLevel = 1
        /// How the build host gets the branch's committed tree: streamed from here (default) or cloned
        /// there from a git server it can reach.
        public var source: SourceTransport = .stream

        public init() {}
    }

    /// How packages reach the apt repository.
    public enum Repository: Sendable, Equatable {
        /// A reprepro repository at `base` on the repository host; each pushed .deb is also kept in
        /// `archive/PACKAGE/`, so older versions can be re-published (``Deployment/rollbackRepository(to:)``).
        ///
        /// The archive lies outside `base`, which a web server serves: nil puts it beside `base`
        /// (`/srv/apt` keeps its archive in `/srv/apt-archive`). The repository host's login user must
        /// be able to create or write it. Earlier versions of fab kept it in `base/archive`, where
        /// anyone could list and download it over HTTP; fab moves nothing by itself and warns while
        /// that folder exists: move its contents (`mv /srv/apt/archive/* /srv/apt-archive/`), or give
        /// `archive: "/srv/apt/archive"` to keep the old place.
        case reprepro(base: String, codename: String, archive: String? = nil)
        /// An incoming directory that another tool processes.
        case incoming(directory: String)

        /// Where pushed packages are kept for rollbacks (nil for an incoming directory).
        public var archiveDirectory: String? {
            guard case let .reprepro(base, _, archive) = self else { return nil }
            return Self.archiveDirectory(base: base, archive: archive)
        }

        /// `archive`, or the directory beside `base` (`/srv/apt` -> `/srv/apt-archive`).
        static func archiveDirectory(base: String, archive: String?) -> String {
            archive ?? trimmed(base) + "-archive"
        }

        /// The archive's place before it moved out of the served tree, `base/archive`.
        var legacyArchiveDirectory: String? {
            guard case let .reprepro(base, _, _) = self else { return nil }
            return Self.trimmed(base) + "/archive"
        }

        static func trimmed(_ path: String) -> String {
            var path = path
            while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
            return path
        }
    }

    public let fab: Fab
    /// The app's short name (`whois`).
    public let app: String
    public let settings: Settings
    /// Debian packages the build needs (headers, tools), besides the kit's own.
    public let buildDeps: [String]
    /// Debian packages the app needs at run time, for `Depends`.
    public let runDeps: [String]
    /// The app's project directory (holding requirements.txt, debian/, etc/).
    public let projectDirectory: String
    /// Steps run on the build host in the staged tree (sub-apps, LESS, cache busting...; Deployment+Django.swift).
    var buildSteps: [BuildStep] = []

    /// `PREFIX` + app: the Debian package name.
    public var packageName: String { settings.packagePrefix + app }
    /// The install root on servers.
    public var installRoot: String { settings.installRoot ?? "/vrmd/\(app)" }
    /// Where built packages are fetched to.
    public var artifactDirectory: String {
        if let value = ProcessInfo.processInfo.environment["FAB_ARTIFACT_DIR"], !value.isEmpty { return value }
        return settings.artifactDirectory.map { Self.absolute($0, base: projectDirectory) } ?? projectDirectory + "/debian"
    }

    private static let built = StateKey<String>("fab-deploy.built-deb")
    /// What a dry run's ``buildDeb()`` would have fetched, for a dry run's ``pushToRepo(deb:)``.
    private static let planned = StateKey<PlannedArtifact>("fab-deploy.planned-deb")

    /// A .deb a dry run planned but did not make.
    struct PlannedArtifact: Sendable {
        var path: String
        var version: String
        var architecture: String
    }
    private static let prepared = StateKey<PreparedBuild>("fab-deploy.prepared")

    /// A deployment of `app` for the task's `fab`.
    /// - Parameters:
    ///   - projectDirectory: the app's directory; by default the directory of the fabfile that calls this.
    ///   - configure: changes to the default ``Settings``.
    /// - Throws: ``FabError`` `.invalidArgument` for a name, path or setting that cannot work, before
    ///   anything runs anywhere.
    public init(_ fab: Fab, app: String, buildDeps: [String] = [], runDeps: [String] = [],
                projectDirectory: String? = nil, fabfile: String = #filePath,
                configure: (inout Settings) -> Void = { _ in }) async throws {
        var settings = Settings()
        configure(&settings)
        self.fab = fab
        self.app = app
        self.settings = settings
        self.buildDeps = buildDeps
        self.runDeps = runDeps
        let directory = projectDirectory.map { Self.absolute($0, base: FileManager.default.currentDirectoryPath) }
            ?? (fabfile as NSString).deletingLastPathComponent
        self.projectDirectory = directory
        do {
            try ControlFileBuilder.validatePackageName(settings.packagePrefix + app)
            for dependency in buildDeps + runDeps { _ = try DeploymentCommands.mergeDepends(run: [dependency], shlibs: [], pythonVersion: nil) }
        } catch {
            throw FabError(.invalidArgument, "\(error)")
        }
        guard installRoot.hasPrefix("/"), installRoot != "/", !installRoot.contains(where: \.isWhitespace) else {
            throw FabError(.invalidArgument, "the install root '\(installRoot)' must be an absolute path other than / without spaces.")
        }
        try settings.layout.validate(installRoot: installRoot)
        guard settings.python.hasPrefix("/") else {
            throw FabError(.invalidArgument, "the build interpreter '\(settings.python)' must be an absolute path such as /usr/bin/python3.11.")
        }
        try settings.lint.validate()
        if case let .reprepro(base, _, _) = settings.repository, let archive = settings.repository.archiveDirectory {
            let root = Repository.trimmed(base), kept = Repository.trimmed(archive)
            guard root.hasPrefix("/"), kept.hasPrefix("/"), kept != "/", kept != root else {
                throw FabError(.invalidArgument, "the repository base '\(base)' and its archive '\(archive)' must be absolute paths, and the archive another directory than the base.")
            }
            if kept.hasPrefix(root + "/") && kept != Repository.trimmed(settings.repository.legacyArchiveDirectory ?? "") {
                throw FabError(.invalidArgument, "the rollback archive '\(archive)' is inside the repository base '\(base)', which the web server serves; put it beside the base (the default is \(root)-archive).")
            }
        }
    }

    // MARK: - Output

    func say(_ host: String, _ text: String) { fab.runtime.output.line(host, .status, text) }
    func warn(_ host: String, _ text: String) { fab.runtime.output.line(host, .warning, text) }

    // MARK: - Dry run

    /// Whether this run only prints its plan (`fab --dry-run`).
    var dryRun: Bool { fab.runtime.dryRun }

    /// The output of a read-only `command` on `host`, which runs under `--dry-run` too (it changes
    /// nothing). When it fails under `--dry-run` (it reads what an earlier, only printed, step would
    /// have made, or a host is not ready), the plan says so and goes on with `planned`.
    /// - Throws: ``CommandFailure`` when the command fails in a real run.
    func read(_ host: Fab, _ command: String, planned: String) async throws -> String {
        guard dryRun else { return try await host.hide([.running, .stdout]) { try await host.run(command).output } }
        let result = try await host.probe(command)
        if result.succeeded { return result.output }
        let firstLine = command.split(whereSeparator: \.isNewline).first.map(String.init) ?? command
        let shown = firstLine.count > 100 ? firstLine.prefix(100) + "…" : firstLine
        let why = result.stderr.split(whereSeparator: \.isNewline).last.map { " (\($0))" } ?? ""
        let lines = planned.split(whereSeparator: \.isNewline)
        let value = lines.isEmpty ? "nothing" : lines.count == 1 ? "'\(planned)'" : lines.joined(separator: ", ")
        say(host.host ?? "localhost", "dry run: this read failed\(why), as it may before the steps above have run: \(shown); planning with \(value)")
        return planned
    }

    // MARK: - Version file

    /// The version in the project's version file, or nil when there is none.
    /// - Throws: ``FabError`` when it holds no valid Debian version.
    public func versionFromFile() throws -> String? {
        let path = projectDirectory + "/" + settings.versionFile
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let value = text.trimmingCharacters(in: .whitespacesAndNewlines)
        do { _ = try DebianVersion(value) } catch {
            throw FabError(.invalidArgument, "\(path): \(error.description)")
        }
        return value
    }

    /// Increments the build number in the project's version file (creating it with 1) past every
    /// version built here (in ``artifactDirectory``, rejected builds included), and returns the new version.
    /// - Throws: ``FabError`` when the file holds no version whose leading number can be incremented.
    @discardableResult
    public func bumpVersionFile() throws -> String {
        let path = projectDirectory + "/" + settings.versionFile
        let current = try versionFromFile()
        let next: Int
        do { next = try DebianVersion.nextBuildNumber(from: (current.map { [$0] } ?? []) + LocalArtifacts.versions(package: packageName, in: artifactDirectory)) } catch {
            throw FabError(.invalidArgument, "\(path): \(error.description)")
        }
        do { try "\(next)\n".write(toFile: path, atomically: true, encoding: .utf8) } catch {
            throw FabError(.localFile, "cannot write \(path): \(error.localizedDescription)")
        }
        say("localhost", "\(settings.versionFile): \(current ?? "none") -> \(next)")
        return String(next)
    }

    // MARK: - Build

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

    /// The highest version the build host's apt, the repository (published and archived) and the
    /// builds in ``artifactDirectory`` (rejected ones included) know, plus one.
    func nextVersion(build: Fab) async throws -> String {
        var known: [String] = []
        let show = try await build.probe(DeploymentCommands.aptCacheShow(packageName))
        if show.succeeded { known += try DeploymentCommands.versions(fromAptCacheShow: show.stdout) }
        known += try await repositoryVersions(quietly: true)
        known += LocalArtifacts.versions(package: packageName, in: artifactDirectory)
        known = DeploymentCommands.distinctSorted(known)
        do {
            let next = try DebianVersion.nextBuildNumber(from: known)
            say(settings.buildHost, "known versions of \(packageName) (build host's apt, repository, \(artifactDirectory)): \(known.isEmpty ? "none" : known.joined(separator: ", ")); next build number \(next)")
            return String(next)
        } catch {
            throw FabError(.invalidArgument, "\(error.description) Give an explicit version instead.")
        }
    }

    /// Every version the repository host publishes or keeps in its archive; with `quietly`, an
    /// unreachable repository host gives none (with a warning) instead of an error.
    func repositoryVersions(quietly: Bool) async throws -> [String] {
        guard case let .reprepro(base, codename, _) = settings.repository, let archive = settings.repository.archiveDirectory,
              let legacy = settings.repository.legacyArchiveDirectory else { return [] }
        let repo = fab.on(settings.repositoryHost)
        if quietly && fab.state[Self.repositoryUnreachable] == true { return [] }
        // prepareApp asks twice (the next version, then whether it exists): one listing serves both.
        if quietly, let known = fab.state[Self.preparedRepositoryVersions] { return known }
        do {
            let listed = try await read(repo, DeploymentCommands.repreproList(base: base, codename: codename, package: packageName), planned: "")
            let archived = try await read(repo, DeploymentCommands.listArchive(directory: archive + "/" + packageName, package: packageName), planned: "")
            // Versions an older fab archived inside the served tree still count: a version names one set of bytes.
            let old = archive == legacy ? "" : try await read(repo, DeploymentCommands.listArchive(directory: legacy + "/" + packageName, package: packageName), planned: "")
            warnAboutLegacyArchive(DeploymentCommands.versions(fromArchiveListing: old, package: packageName))
            let versions = DeploymentCommands.versions(fromRepreproList: listed)
                + DeploymentCommands.versions(fromArchiveListing: archived + "\n" + old, package: packageName)
            if quietly { fab.state[Self.preparedRepositoryVersions] = versions }
            return versions
        } catch where quietly {
            warn(settings.repositoryHost, "cannot read the repository's versions (\(error)); counting only what the build host's apt knows.")
            fab.state[Self.repositoryUnreachable] = true
            return []
        }
    }

    /// Warns (once per run) that packages remain in the archive's old, served place.
    func warnAboutLegacyArchive(_ versions: [String]) {
        guard !versions.isEmpty, let legacy = settings.repository.legacyArchiveDirectory,
              let archive = settings.repository.archiveDirectory else { return }
        let key = StateKey<Bool>("fab-deploy.legacy-archive-warned")
        guard fab.state[key] != true else { return }
        fab.state[key] = true
        warn(settings.repositoryHost, "\(legacy)/\(packageName) still holds \(packageName) \(DeploymentCommands.distinctSorted(versions).joined(separator: ", ")) inside the served repository (anyone can download them over HTTP); fab no longer keeps its rollback archive there and moves nothing by itself: run `mkdir -p \(LocalShell.quote(archive)) && mv \(LocalShell.quote(legacy + "/" + packageName)) \(LocalShell.quote(archive))/` on \(settings.repositoryHost), or set archive: \"\(legacy)\" to keep the old place.")
    }

    /// Fails when the repository already has `version` (published or archived), or a build of it
    /// (passed or rejected) is in ``artifactDirectory``: a version names one set of bytes.
    func refuseExisting(version: String) async throws {
        let existing = try await repositoryVersions(quietly: true)
        let wanted = try DebianVersion(version)
        if existing.contains(where: { (try? DebianVersion($0)) == wanted }) {
            throw FabError(.invalidArgument, "\(packageName) \(version) is already in the repository on \(settings.repositoryHost); build another version (bump the version file or give version=...).")
        }
        if let file = LocalArtifacts.files(package: packageName, version: version, in: artifactDirectory).first {
            throw FabError(.invalidArgument, "\(file) is already a build of \(packageName) \(version), and fab never gives two builds one version; bump the version file or give version=... (or delete that file if it must go).")
        }
    }

    /// Builds the virtualenv and the package on the build host and fetches the .deb into
    /// ``artifactDirectory`` through the gates: its SHA-256 is checked, it is read back, and lintian
    /// checks it on the build host under ``Settings/lint`` while it travels. Only a package that passed
    /// every gate is kept, with its ``ArtifactManifest``; one that lintian rejects goes to `rejected/`.
    /// - Returns: the local path of the .deb.
    /// - Throws: ``FabError`` when ``prepareApp(branch:version:)`` did not run, a gate rejected the
    ///   package, or its file name is taken; ``RelocationError`` when files still name the build path;
    ///   ``CommandFailure`` when a step fails. A failed build removes its build directory on the build
    ///   host (unless ``Settings/keepBuildDirectory``) and prints the step timings up to the failure.
    @discardableResult
    public func buildDeb() async throws -> String {
        guard let prepared = fab.state[Self.prepared] else {
            throw FabError(.invalidArgument, "buildDeb() needs prepareApp() first, in the same task or run.")
        }
        var timings = fab.state[Self.timingsKey] ?? BuildTimings()
        let started = ContinuousClock.now, before = timings.total
        do {
            // Every command that writes package content sees the commit's time (reproducible builds).
            let environment = DeploymentCommands.reproducibleEnvironment(sourceDateEpoch: prepared.source.commitTime)
            return try await fab.withEnv(environment) { try await buildDeb(prepared, timings: &timings) }
        } catch {
            // The steps that finished are in timings; the rest of the time went to the one that failed.
            let failed = Self.seconds(from: started) - (timings.total - before)
            await abandonBuild(directory: prepared.buildDirectory, timings: timings, failedAfter: failed)
            throw error
        }
    }

    /// ``buildDeb()``'s steps; `timings` gets each step as it finishes.
    private func buildDeb(_ prepared: PreparedBuild, timings: inout BuildTimings) async throws -> String {
        let build = fab.on(settings.buildHost)
        let q = build.quote
        let dir = prepared.buildDirectory
        let src = dir + "/src"
        let staging = dir + "/pkg"
        let root = staging + installRoot
        let layout = settings.layout
        let venv = staging + layout.virtualenvPath(installRoot: installRoot)
        let code = layout.codePath(installRoot: installRoot).map { staging + $0 }
        // Where requirements.txt and the project's pyproject.toml are read: the staged code, or the
        // source tree when the package ships no code.
        let appDir = code ?? src
        let cache = prepared.home + "/" + settings.pipCacheDirectory
        let python = settings.python
        var started = ContinuousClock.now
        var mark = started

        // The code: the project's files without debian/ (maintainer scripts), etc/ (installed under
        // /etc) and the layout's directories (installed where it says); then those directories and links.
        try await build.run("mkdir -p \(q(cache))")
        for command in layout.stagingCommands(installRoot: installRoot, source: src, staging: staging, excludes: settings.excludes) {
            try await build.run(command)
        }
        let context = BuildContext(build: build, appDirectory: appDir, venv: venv, root: root, version: prepared.version, buildDirectory: dir)
        try await runBuildSteps(.source, context)
        mark = timings.add("code", since: mark)

        // The virtualenv, with the persistent pip cache.
        let pythonVersion = try await read(build, DeploymentCommands.pythonVersion(python), planned: Self.plannedPythonVersion(python))
        try await build.step("virtualenv") {
            try await build.run(DeploymentCommands.createVirtualenv(python: python, venv: venv))
            if settings.upgradePip {
                try await build.run(DeploymentCommands.pipInstall(venv: venv, arguments: ["--upgrade", "pip", "wheel"], cacheDirectory: cache,
                                                                  indexURL: settings.indexURL, extraIndexURLs: settings.extraIndexURLs))
            }
        }
        mark = timings.add("venv", since: mark)
        var requirements: [String] = [], project: [String] = []
        // A dry run staged nothing: the committed tree says what the staged code would hold.
        let committed = dryRun ? Set(try prepared.source.entries().map(\.path)) : []
        func staged(_ name: String) async throws -> Bool {
            dryRun ? committed.contains(name) : try await build.exists(appDir + "/" + name)
        }
        if try await staged("requirements.txt") { requirements = ["-r", appDir + "/requirements.txt"] }
        let hasProject = try await staged("pyproject.toml")
        let hasSetup = try await staged("setup.py")
        if hasProject || hasSetup { project = [appDir] }
        // Steps that need the requirements (compilemessages) run before the project is installed.
        let split = buildSteps.contains { $0.phase == .virtualenv }
        let batches: [[String]] = split ? [requirements, project] : [requirements + project]
        for (index, pipArguments) in batches.enumerated() {
            if !pipArguments.isEmpty {
                try await build.step("pip install") {
                    try await build.run(DeploymentCommands.pipInstall(venv: venv, arguments: pipArguments, cacheDirectory: cache,
                                                                      indexURL: settings.indexURL, extraIndexURLs: settings.extraIndexURLs))
                }
            }
            if split && index == 0 { try await runBuildSteps(.virtualenv, context) }
        }
        // What building the app in place leaves behind.
        if let code {
            try await build.run("cd \(q(code)) && rm -rf build *.egg-info && find . -name __pycache__ -prune -exec rm -rf {} +")
        }
        say(settings.buildHost, dryRun ? "dry run: the virtualenv would be built with Python \(pythonVersion)" : "virtualenv ready in \(Self.seconds(since: started)) (Python \(pythonVersion))")
        try await runBuildSteps(.installed, context)
        mark = timings.add(buildSteps.isEmpty ? "pip" : "pip+steps", since: mark)

        // Native code: what dh_strip does (the symbols the build left are no use on a server), before
        // relocation, so RECORD gets the hashes of the files as they are packaged.
        let elfOutput = try await read(build, DeploymentCommands.listELFFiles(under: staging, python: python), planned: "")
        let elfFiles = elfOutput.split(whereSeparator: \.isNewline).map(String.init)
        if !elfFiles.isEmpty {
            try await build.run(DeploymentCommands.strip(files: elfFiles))
        }

        // Relocation and audit.
        started = ContinuousClock.now
        let relocation = try Relocation(buildRoot: root, finalRoot: installRoot, python: python)
        let relocated = try await build.hide([.stdout]) {
            try await build.run(relocation.command, warnOnly: true, stdin: relocation.script)
        }
        var auditedFiles = 0
        if dryRun {
            say(settings.buildHost, "dry run: relocation from \(root) to \(installRoot) and its audit run on the built tree")
        } else {
            let report = try relocation.report(exitStatus: relocated.exitStatus, standardOutput: relocated.stdout, standardError: relocated.stderr)
            say(settings.buildHost, "relocation: \(report.totalRewritten) files rewritten, \(report.elfSearchPathsFixed) ELF search paths fixed, \(report.elfStripped) stripped, \(report.bytecodeCompiled) byte-code files compiled, \(report.recordEntriesUpdated) RECORD hashes updated; audit passed (\(report.filesScanned) files scanned) in \(Self.seconds(since: started))")
            fab.state[Self.auditKey] = report.filesScanned
            auditedFiles = report.filesScanned
        }
        mark = timings.add("relocation+audit", since: mark)

        // Native code: architecture and shared-library dependencies.
        if dryRun && elfFiles.isEmpty {
            say(settings.buildHost, "dry run: the architecture and the shared libraries of native code come from the built tree; planning with none (Architecture: all)")
        }
        var architecture = "all"
        var shlibs: [String] = []
        if !elfFiles.isEmpty {
            architecture = try await read(build, "dpkg --print-architecture", planned: "amd64")
            let libraryDirectories = Array(Set(elfFiles.filter { $0.contains(".so") }.map { ($0 as NSString).deletingLastPathComponent })).sorted()
            // Its warnings (dozens with wheels that bundle libraries) become one line; the failure of
            // a hidden command still shows its last lines of standard error.
            let output = try await build.hide([.running, .stdout, .stderr]) {
                try await build.run(DeploymentCommands.shlibdeps(files: elfFiles, libraryDirectories: libraryDirectories, workDirectory: dir + "/shlibdeps"))
            }
            shlibs = DeploymentCommands.shlibsDepends(fromShlibdepsOutput: output.stdout)
            say(settings.buildHost, "\(elfFiles.count) ELF files; dpkg-shlibdeps: \(shlibs.joined(separator: ", "))")
            try await reportShlibdepsWarnings(ShlibdepsWarnings(standardError: output.stderr), log: dir + "/shlibdeps.log", on: build)
        }
        let linked = try await treeDepends(on: build, staging: staging)
        if !linked.isEmpty { say(settings.buildHost, "symlinks leaving the package need: \(linked.joined(separator: ", "))") }
        mark = timings.add("native deps", since: mark)

        // Files Debian expects: units where packages put them, documentation, lintian overrides.
        try await build.run(DeploymentCommands.moveSystemdUnits(stagingDirectory: staging))
        let doc = staging + "/usr/share/doc/" + packageName
        try await installLintOverrides(on: build, stagingDirectory: staging, sourceDirectory: src)
        try await build.hide(.running) {
            try await build.run("mkdir -p \(q(doc)) && cat > \(q(doc + "/copyright"))", stdin: DeploymentCommands.copyright(package: packageName, app: app, maintainer: settings.maintainer))
            try await build.run("gzip -9n > \(q(doc + "/changelog.gz"))",
                                stdin: DeploymentCommands.changelog(package: packageName, version: prepared.version, branch: prepared.source.branch,
                                                                    commit: prepared.source.shortCommit, maintainer: settings.maintainer,
                                                                    date: Date(timeIntervalSince1970: TimeInterval(prepared.source.commitTime))))
        }
        try await build.run(DeploymentCommands.normalizeModes(stagingDirectory: staging))
        let sizeOutput = try await read(build, ControlFileBuilder.installedSizeCommand(directory: staging), planned: "")
        try await build.run("mkdir -p \(q(staging + "/DEBIAN")) && for s in preinst postinst prerm postrm; do if [ -f \(q(src + "/debian"))/$s ]; then install -m 0755 \(q(src + "/debian"))/$s \(q(staging + "/DEBIAN"))/$s; fi; done")
        let conffileOutput = try await read(build, "cd \(q(staging)) && if [ -d etc ]; then find etc -type f | LC_ALL=C sort; fi",
                                            planned: Self.plannedConffiles(committed: committed, directories: layout.directories).joined(separator: "\n"))
        let conffiles = conffileOutput.split(whereSeparator: \.isNewline).map { "/" + $0 }
        var control = ControlFileBuilder(package: packageName, version: prepared.version, architecture: architecture,
                                         maintainer: settings.maintainer, synopsis: settings.synopsis ?? ControlFileBuilder.defaultSynopsis(package: packageName, app: app))
        control.installedSize = try ControlFileBuilder.installedSize(parsingFindOutput: sizeOutput)
        control.runDepends = runDeps
        control.shlibsDepends = shlibs + linked
        control.pythonVersion = pythonVersion
        control.section = settings.section
        control.priority = settings.priority
        control.branch = prepared.source.branch
        control.commit = prepared.source.shortCommit
        let controlText = try control.build()
        try await build.run(DeploymentCommands.md5sums(stagingDirectory: staging))
        try await build.hide(.running) {
            try await build.run("cat > \(q(staging + "/DEBIAN/control"))", stdin: controlText)
            if !conffiles.isEmpty {
                try await build.run("cat > \(q(staging + "/DEBIAN/conffiles"))", stdin: try ControlFileBuilder.conffiles(conffiles))
            }
        }

        mark = timings.add("package files", since: mark)

        // The .deb.
        started = ContinuousClock.now
        let fileName = DeploymentCommands.debFileName(package: packageName, version: prepared.version, architecture: architecture)
        let remoteDeb = dir + "/" + fileName
        try await build.run(DeploymentCommands.buildDeb(stagingDirectory: staging, output: remoteDeb, level: settings.compressionLevel,
                                                            sourceDateEpoch: prepared.source.commitTime))
        let remoteHash = try await read(build, DeploymentCommands.sha256(remoteDeb), planned: "")
        say(settings.buildHost, dryRun ? "dry run: dpkg-deb would make \(fileName)" : "built \(fileName) in \(Self.seconds(since: started))")
        mark = timings.add("dpkg-deb", since: mark)

        if dryRun {
            if settings.lint.enabled {
                try await build.run(LintCommands.start(deb: remoteDeb, directory: dir))
            }
            _ = try await build.get(remoteDeb, artifactDirectory + "/" + fileName)
            say("localhost", "dry run: \(fileName) would be fetched to \(artifactDirectory), checked against the build host's SHA-256, read back\(settings.lint.enabled ? ", judged by lintian (failing on \(settings.lint.failOn.rawValue)s)" : "") and kept with its manifest only if every gate passed")
            if !settings.keepBuildDirectory { try await build.run("rm -rf -- \(q(dir))") }
            fab.state[Self.planned] = PlannedArtifact(path: artifactDirectory + "/" + fileName, version: prepared.version, architecture: architecture)
            fab.state[Self.timingsKey] = nil
            return artifactDirectory + "/" + fileName
        }
        // Fetch and verify while lintian checks it on the build host; keep it only when every gate passed.
        let local = try await fetchThroughGates(
            BuiltPackage(remotePath: remoteDeb, remoteSHA256: remoteHash, fileName: fileName, version: prepared.version,
                         architecture: architecture, branch: prepared.source.branch, commit: prepared.source.shortCommit,
                         auditedFiles: auditedFiles),
            timings: &timings, mark: &mark)
        if !settings.keepBuildDirectory {
            try await build.run("rm -rf -- \(q(dir))")
            timings.add("cleanup", since: mark)
        }
        say(settings.buildHost, timings.summary)
        fab.state[Self.timingsKey] = nil
        fab.state[Self.built] = local
        return local
    }

    static let repositoryUnreachable = StateKey<Bool>("fab-deploy.repository-unreachable")
    static let preparedRepositoryVersions = StateKey<[String]>("fab-deploy.prepared-repository-versions")
    static let auditKey = StateKey<Int>("fab-deploy.audit-files")

    /// Prints what a .deb holds: its control fields, file count, size and Depends.
    public func describe(_ path: String) throws {
        let deb = try DebPackage(path: path)
        let out = fab.runtime.output
        out.plain("\n\(path)")
        out.plain("  sha256 \(try FileDigest.sha256(path: path)), \(deb.fileSize) bytes, \(deb.fileCount) files, \(deb.totalDataSize) bytes unpacked")
        for field in deb.control.fields { out.plain("  \(field.name): \(field.value.replacingOccurrences(of: "\n", with: "\n    "))") }
        out.plain("  maintainer scripts: \(deb.maintainerScripts.joined(separator: ", ")); conffiles: \(deb.conffiles.count); md5sums: \(deb.hasMD5Sums ? "yes" : "no")\n")
    }

    // MARK: - Publish

    /// The .deb to push: the one built in this run, else the highest version of the package in
    /// ``artifactDirectory`` (rejected builds, in its `rejected/` folder, are never candidates).
    public func latestArtifact() throws -> String {
        if let built = fab.state[Self.built] { return built }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: artifactDirectory)) ?? []
        let candidates = names.compactMap { name -> (DebianVersion, String)? in
            guard let version = DeploymentCommands.versions(fromArchiveListing: name, package: packageName).first,
                  let parsed = try? DebianVersion(version) else { return nil }
            return (parsed, artifactDirectory + "/" + name)
        }
        guard let best = candidates.max(by: { $0.0 < $1.0 }) else {
            throw FabError(.invalidArgument, "no \(packageName)_*.deb in \(artifactDirectory); run the deb task first.")
        }
        return best.1
    }

    /// Publishes a .deb (by default ``latestArtifact()``) to the repository host, keeps a copy in its
    /// archive for rollbacks (``Repository/archiveDirectory``, outside the served tree), and checks
    /// that the repository now serves that version.
    ///
    /// Only a build that passed every gate is published: its ``ArtifactManifest`` must exist beside it,
    /// say passed, and record the file's SHA-256.
    /// - Throws: ``FabError`` when the package is not this app's, its manifest is missing, rejected or
    ///   does not match the file, the repository already has that version or a higher one (nothing is
    ///   changed then), or the repository does not list it after including it.
    public func pushToRepo(deb: String? = nil) async throws {
        let path: String, version: String, architecture: String, hash: String
        if deb == nil, dryRun, fab.state[Self.built] == nil, let plan = fab.state[Self.planned] {
            // A dry run's deb task made nothing: plan the push of what it would have made.
            (path, version, architecture, hash) = (plan.path, plan.version, plan.architecture, "")
        } else {
            path = try deb.map { Self.absolute($0, base: FileManager.default.currentDirectoryPath) } ?? latestArtifact()
            let package = try DebPackage(path: path)
            guard package.control.package == packageName, let packageVersion = package.control.version,
                  let packageArchitecture = package.control.architecture else {
                throw FabError(.invalidArgument, "\(path) is not a \(packageName) package (it is \(package.control.package ?? "unnamed")).")
            }
            // Only a build that passed every gate is published: its manifest must say so and match the file.
            let manifest = try ArtifactManifest.verify(deb: path, package: packageName, version: packageVersion, architecture: packageArchitecture)
            (version, architecture, hash) = (packageVersion, packageArchitecture, manifest.sha256)
        }
        let repo = fab.on(settings.repositoryHost)
        let q = repo.quote
        let fileName = DeploymentCommands.debFileName(package: packageName, version: version, architecture: architecture)
        switch settings.repository {
        case let .incoming(directory):
            try await repo.put(path, directory + "/" + fileName, mode: 0o644)
            say(settings.repositoryHost, "\(fileName) is in \(directory)")
        case let .reprepro(base, codename, archiveSetting):
            let current = try await currentVersion(base: base, codename: codename)
            let archived = try await repositoryVersions(quietly: false)
            let wanted = try DebianVersion(version)
            if archived.contains(where: { (try? DebianVersion($0)) == wanted }) {
                throw FabError(.invalidArgument, "the repository already has \(packageName) \(version); nothing was changed. Build a new version, or use rollback to publish an archived one again.")
            }
            if let current, let parsed = try? DebianVersion(current), parsed > wanted {
                throw FabError(.invalidArgument, "the repository serves \(packageName) \(current), higher than \(version), and reprepro would skip \(version); nothing was changed. Use rollback to publish an older version.")
            }
            let archiveRoot = Repository.archiveDirectory(base: base, archive: archiveSetting)
            let archive = archiveRoot + "/" + packageName
            let incoming = archive + "/.incoming-" + fileName
            let made = try await repo.run("mkdir -p -- \(q(archive))", warnOnly: true)
            guard made.succeeded else {
                throw FabError(.aborted, "[\(settings.repositoryHost)] cannot create the rollback archive \(archive) (\(made.stderr.trimmingCharacters(in: .whitespacesAndNewlines))); nothing was published. Have root create it for the login user (install -d -o USER \(q(archiveRoot))), or set Repository.reprepro(archive:) to a directory that user can write.")
            }
            try await repo.put(path, incoming, mode: 0o644)
            let remoteHash = try await read(repo, DeploymentCommands.sha256(incoming), planned: hash)
            guard remoteHash == hash else {
                try await repo.run("rm -f \(q(incoming))")
                throw FabError(.aborted, "the uploaded \(fileName) has SHA-256 \(remoteHash), not \(hash); the upload was corrupted, nothing was published.")
            }
            let included = try await repo.run(DeploymentCommands.repreproInclude(base: base, codename: codename, deb: incoming), warnOnly: true)
            if dryRun {
                try await repo.run("mv -f \(q(incoming)) \(q(archive + "/" + fileName))")
                say(settings.repositoryHost, "dry run: \(packageName) \(version) would be published in \(codename) and kept in \(archive) for rollbacks")
                return
            }
            let landed = try await currentVersion(base: base, codename: codename)
            guard included.succeeded, let landed, (try? DebianVersion(landed)) == wanted else {
                try await repo.run("rm -f \(q(incoming))")
                throw FabError(.aborted, "reprepro did not publish \(packageName) \(version) in \(codename) (it serves \(landed ?? "nothing")); \(included.stderr.split(whereSeparator: \.isNewline).suffix(3).joined(separator: " "))")
            }
            try await repo.run("mv -f \(q(incoming)) \(q(archive + "/" + fileName))")
            say(settings.repositoryHost, "published \(packageName) \(landed) in \(codename); kept \(archive)/\(fileName) for rollbacks")
        }
    }

    /// The version the reprepro distribution serves, or nil.
    func currentVersion(base: String, codename: String) async throws -> String? {
        let repo = fab.on(settings.repositoryHost)
        let output = try await read(repo, DeploymentCommands.repreproList(base: base, codename: codename, package: packageName), planned: "")
        return DeploymentCommands.versions(fromRepreproList: output).first
    }

    /// Publishes an archived older (or any archived) version again, replacing what the repository
    /// serves, so servers can install it. Runs once per `fab` run however many hosts the task has.
    /// - Throws: ``FabError`` when the archive has no such version (nothing is changed then).
    public func rollbackRepository(to version: String) async throws {
        guard case let .reprepro(base, codename, _) = settings.repository, let archiveRoot = settings.repository.archiveDirectory else {
            throw FabError(.invalidArgument, "rollback needs a reprepro repository (settings.repository).")
        }
        let key = StateKey<Bool>("fab-deploy.rollback.\(version)")
        _ = try await fab.state.value(for: key) {
            let repo = fab.on(settings.repositoryHost)
            let wanted: DebianVersion
            do { wanted = try DebianVersion(version) } catch let error as DebianVersionError { throw FabError(.invalidArgument, error.description) }
            let archive = archiveRoot + "/" + packageName
            let listing = try await read(repo, DeploymentCommands.listArchive(directory: archive, package: packageName), planned: "")
            if let legacy = settings.repository.legacyArchiveDirectory, legacy != archiveRoot {
                let old = try await read(repo, DeploymentCommands.listArchive(directory: legacy + "/" + packageName, package: packageName), planned: "")
                warnAboutLegacyArchive(DeploymentCommands.versions(fromArchiveListing: old, package: packageName))
            }
            guard let name = listing.split(whereSeparator: \.isNewline).map(String.init).first(where: {
                DeploymentCommands.versions(fromArchiveListing: $0, package: packageName).first.flatMap { try? DebianVersion($0) } == wanted
            }) else {
                let have = DeploymentCommands.versions(fromArchiveListing: listing, package: packageName)
                throw FabError(.invalidArgument, "the rollback archive \(archive) on \(settings.repositoryHost) has no \(packageName) \(version) (it has: \(have.isEmpty ? "none" : DeploymentCommands.distinctSorted(have).joined(separator: ", "))); nothing was changed.")
            }
            if try await currentVersion(base: base, codename: codename).flatMap({ try? DebianVersion($0) }) != wanted {
                try await repo.run(DeploymentCommands.repreproRemove(base: base, codename: codename, package: packageName))
                try await repo.run(DeploymentCommands.repreproInclude(base: base, codename: codename, deb: archive + "/" + name))
            }
            let landed = try await currentVersion(base: base, codename: codename)
            guard dryRun || landed.flatMap({ try? DebianVersion($0) }) == wanted else {
                throw FabError(.aborted, "reprepro serves \(landed ?? "nothing") after re-including \(name).")
            }
            say(settings.repositoryHost, "repository now serves \(packageName) \(version)")
            return true
        }
    }

    // MARK: - Servers

    /// Installs the package (a given version, or the newest) from the repository on the task's host.
    /// - Parameters:
    ///   - version: the version to install; nil for the newest apt knows.
    ///   - sourcesLine: a `deb ...` line for the repository, written to `/etc/apt/sources.list.d/PACKAGE.list` first.
    public func install(version: String? = nil, sourcesLine: String? = nil, allowDowngrade: Bool = false) async throws {
        if let version {
            do { _ = try DebianVersion(version) } catch { throw FabError(.invalidArgument, error.description) }
        }
        if let sourcesLine {
            guard sourcesLine.hasPrefix("deb "), !sourcesLine.contains(where: \.isNewline) else {
                throw FabError(.invalidArgument, "'\(sourcesLine)' is not a one-line 'deb ...' sources entry.")
            }
            try await fab.sudo("printf '%s\\n' \(fab.quote(sourcesLine)) > \(fab.quote("/etc/apt/sources.list.d/\(packageName).list"))")
        }
        try await fab.hide(.stdout) { try await fab.sudo(DeploymentCommands.aptUpdate()) }
        let target = version.map { "\(packageName)=\($0)" } ?? packageName
        try await fab.sudo(DeploymentCommands.aptInstall([target], allowDowngrades: allowDowngrade))
        let installed = try await installedVersion()
        if dryRun {
            say(fab.host ?? "localhost", "dry run: \(packageName) \(version ?? "(the newest)") would replace what is installed now: \(installed ?? "nothing")")
            return
        }
        say(fab.host ?? "localhost", "\(packageName) \(installed ?? "not installed") is installed")
        if let version, installed.flatMap({ try? DebianVersion($0) }) != (try? DebianVersion(version)) {
            throw FabError(.aborted, "[\(fab.host ?? "localhost")] \(packageName) \(installed ?? "nothing") is installed, not \(version).")
        }
    }

    /// Upgrades the package on the task's host to the newest version the repository serves.
    public func upgrade() async throws {
        try await install()
    }

    /// Re-publishes `version` from the repository's archive and installs it (a downgrade) on the task's host.
    public func rollback(to version: String) async throws {
        try await rollbackRepository(to: version)
        try await install(version: version, allowDowngrade: true)
    }

    /// The version of the package installed on the task's host, or nil.
    public func installedVersion() async throws -> String? {
        let result = try await fab.probe(DeploymentCommands.installedVersion(packageName))
        return result.succeeded ? result.output : nil
    }

    // MARK: - Helpers

    /// The version a dry run assumes for an interpreter it cannot run yet: `3.11` for `.../python3.11`, else `3`.
    static func plannedPythonVersion(_ python: String) -> String {
        let name = (python as NSString).lastPathComponent
        return name.hasPrefix("python") && name.count > 6 ? String(name.dropFirst(6)) : "3"
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

    static func absolute(_ path: String, base: String) -> String {
        path.hasPrefix("/") ? path : (base as NSString).appendingPathComponent(path)
    }

    static func timestamp() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd-HHmmss"
        return formatter.string(from: Date())
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

    /// Seconds from `start` to now.
    static func seconds(from start: ContinuousClock.Instant) -> Double {
        let duration = ContinuousClock.now - start
        return Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    static func seconds(since start: ContinuousClock.Instant) -> String {
        let duration = ContinuousClock.now - start
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        return String(format: "%.1f s", seconds)
    }
}
