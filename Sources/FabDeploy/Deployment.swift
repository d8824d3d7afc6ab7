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
///
/// `Deployment` is the facade over the kit's parts, each in its own file, in the order a build uses them:
/// - the build host's steps (``prepareApp(branch:version:)``: apt, the committed source, the build
///   directory; `BuildHost.swift`) and versions (`Versions.swift`);
/// - a ``BuildPipeline`` of named steps (``pipeline``, run by ``buildDeb()``; `PackageBuild.swift`)
///   that stage the tree, build the virtualenv (`VirtualenvBuilder.swift`), relocate and audit it;
/// - a ``PackageSpec`` (the package as a value) written by a ``PackageFormat`` (``DebFormat``);
/// - the gates and their ``ArtifactManifest`` (`Deployment+Gates.swift`);
/// - repositories (``Repository``, ``pushToRepo(deb:)``; `Publishing.swift`);
/// - fleet operations (``install(version:sourcesLine:allowDowngrade:)``, ``upgrade()``,
///   ``rollback(to:)``, ``installedVersion()``; `FleetOperations.swift`).
public struct Deployment: Sendable {

    /// The task's handle: its runtime, output and state; build and repository hosts are reached through it.
    public let fab: Fab
    /// The app's short name (`whois`).
    public let app: String
    /// Where and how to build and publish.
    public let settings: Settings
    /// Debian packages the build needs (headers, tools), besides the kit's own.
    public let buildDeps: [String]
    /// Debian packages the app needs at run time, for `Depends`.
    public let runDeps: [String]
    /// The app's project directory (holding requirements.txt, debian/, etc/).
    public let projectDirectory: String
    /// Steps run on the build host in the staged tree (sub-apps, LESS, cache busting...; Deployment+Django.swift).
    var buildSteps: [BuildStep] = []
    /// The named steps ``buildDeb()`` runs; insert, replace or remove steps before building (see ``BuildPipeline``).
    public var pipeline = Deployment.defaultPipeline

    /// `PREFIX` + app: the Debian package name.
    public var packageName: String { settings.packagePrefix + app }
    /// The install root on servers.
    public var installRoot: String { settings.installRoot ?? "/vrmd/\(app)" }
    /// Where built packages are fetched to.
    public var artifactDirectory: String {
        if let value = ProcessInfo.processInfo.environment["FAB_ARTIFACT_DIR"], !value.isEmpty { return value }
        return settings.artifactDirectory.map { Self.absolute($0, base: projectDirectory) } ?? projectDirectory + "/debian"
    }

    static let built = StateKey<String>("fab-deploy.built-deb")
    /// What a dry run's ``buildDeb()`` would have fetched, for a dry run's ``pushToRepo(deb:)``.
    static let planned = StateKey<PlannedArtifact>("fab-deploy.planned-deb")

    /// A .deb a dry run planned but did not make.
    struct PlannedArtifact: Sendable {
        var path: String
        var version: String
        var architecture: String
    }
    static let prepared = StateKey<PreparedBuild>("fab-deploy.prepared")

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
        if let name = ProcessInfo.processInfo.environment["FAB_INSTALLER"], !name.isEmpty {
            settings.installer = try Installer.named(name)
        }
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
        try settings.installer.validate()
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

    /// Prints what a .deb holds: its control fields, file count, size and Depends.
    public func describe(_ path: String) throws {
        let deb = try DebPackage(path: path)
        let out = fab.runtime.output
        out.plain("\n\(path)")
        out.plain("  sha256 \(try FileDigest.sha256(path: path)), \(deb.fileSize) bytes, \(deb.fileCount) files, \(deb.totalDataSize) bytes unpacked")
        for field in deb.control.fields { out.plain("  \(field.name): \(field.value.replacingOccurrences(of: "\n", with: "\n    "))") }
        out.plain("  maintainer scripts: \(deb.maintainerScripts.joined(separator: ", ")); conffiles: \(deb.conffiles.count); md5sums: \(deb.hasMD5Sums ? "yes" : "no")\n")
    }

    // MARK: - Helpers

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
