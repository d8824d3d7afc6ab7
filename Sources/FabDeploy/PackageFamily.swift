import FabArchive
import FabCore
import Foundation

/// One package of a family, as a build left it: built now, or reused (found among the local
/// artifacts or in the repository by its input key).
public struct FamilyMember: Sendable, Equatable {
    /// Where the package came from.
    public enum Origin: Sendable, Equatable {
        /// Built in this run.
        case built
        /// Reused: a passed build of it is in the artifact directory.
        case localArtifact
        /// Reused: the repository serves it.
        case repository
    }

    /// The package name.
    public var package: String
    /// Its version.
    public var version: String
    /// Its architecture.
    public var architecture: String
    /// The local .deb (with its manifest), or nil when only the repository has it.
    public var artifact: String?
    /// Where it came from.
    public var origin: Origin
    /// Whether this run published it.
    public var pushed = false

    /// A member; see the properties.
    public init(package: String, version: String, architecture: String, artifact: String?, origin: Origin) {
        self.package = package
        self.version = version
        self.architecture = architecture
        self.artifact = artifact
        self.origin = origin
    }

    /// `name (= version)`: how another package of the family depends on exactly this one.
    public var pinned: String { "\(package) (= \(version))" }
}

/// What ``Deployment/buildFamily(branch:version:parts:dependsOnConfig:push:)`` made and published.
public struct PackageFamily: Sendable, Equatable {
    /// The virtualenv package (`PREFIX-APP-venv`).
    public var venv: FamilyMember
    /// The app package (`PREFIX-APP`), which depends on exactly ``venv``.
    public var app: FamilyMember
    /// The packages of the ``FamilyPart``s (config and manifest packages), in the order built.
    public var parts: [FamilyMember] = []

    /// Every member in dependency order: the venv, the app, then the parts.
    public var members: [FamilyMember] { [venv, app] + parts }

    /// The family with each artifact path found in `paths` (a temporary name) replaced by its value.
    func placing(_ paths: [String: String]) -> PackageFamily {
        func placed(_ member: FamilyMember) -> FamilyMember {
            var member = member
            if let artifact = member.artifact, let final = paths[artifact] { member.artifact = final }
            return member
        }
        var family = self
        family.venv = placed(venv)
        family.app = placed(app)
        family.parts = parts.map(placed)
        return family
    }
}

/// A package of the family built after the virtualenv and app packages (a config or a manifest
/// package): it stages its files and builds through ``FamilyContext/build(_:stage:)``.
public protocol FamilyPart: Sendable {
    /// Builds the part's package in `family`, through the same steps and gates as the app.
    /// - Throws: whatever its validation or build throws; the family's build then fails.
    func build(in family: FamilyContext) async throws -> FamilyMember
}

/// What a ``FamilyPart`` sees: the deployment, the venv and app packages of this build, the parts
/// built before it, and a way to build a staged package through the gates.
public struct FamilyContext: Sendable {
    /// The deployment (settings, app name, prefix).
    public let deployment: Deployment
    /// This build's virtualenv package.
    public let venv: FamilyMember
    /// This build's app package.
    public let app: FamilyMember
    /// The parts built before this one (config packages before a manifest that pins them).
    public internal(set) var parts: [FamilyMember]
    let prepared: Deployment.PreparedBuild
    let timings: TimingsBox
    /// When the family call started: a part's artifact older than this was reused.
    let started: Date

    /// The next build number of `package` (the build host's apt, the repository, local artifacts).
    /// - Throws: ``FabError`` when no number can be derived from the versions known.
    public func nextVersion(of package: String) async throws -> String {
        let version = try await deployment.nextVersion(build: deployment.fab.on(deployment.settings.buildHost), package: package)
        try await deployment.refuseExisting(version: version, package: package)
        return version
    }

    /// Builds `package` from the files that `stage` puts in its staging directory (a fresh directory
    /// in this build's directory, set in `package.stagingDirectory` before `stage` runs), then runs
    /// the kit's `debian-files`, `control`, `pack` and `gates` steps: the package gets a copyright
    /// file, a changelog, lintian overrides, conffiles for every file under /etc, and is kept only
    /// when every gate passed.
    /// - Returns: the built member, its artifact in the artifact directory.
    /// - Throws: ``FabError`` when a gate rejects it; ``CommandFailure`` when a step fails.
    public func build(_ package: PackageSpec, stage: BuildPipeline.Step) async throws -> FamilyMember {
        var spec = package
        spec.stagingDirectory = prepared.buildDirectory + "/part-" + package.name
        spec.branch = spec.branch ?? prepared.source.branch
        spec.commit = spec.commit ?? prepared.source.shortCommit
        var state = deployment.makeState(prepared, package: spec, shipsCode: false)
        state.timingPrefix = package.name + " "
        state.lastInBuildDirectory = false
        state.timings = timings.value
        let pipeline = BuildPipeline(unchecked: [stage] + deployment.pipeline.steps.filter { ["debian-files", "control", "pack", "gates"].contains($0.name) })
        defer { timings.value = state.timings }
        try await deployment.fab.withEnv(DeploymentCommands.reproducibleEnvironment(sourceDateEpoch: prepared.source.commitTime)) {
            try await pipeline.run(&state)
        }
        guard let artifact = state.artifact else {
            throw FabError(.aborted, "\(spec.name) was built but its gates kept no package.")
        }
        return FamilyMember(package: spec.name, version: spec.version, architecture: state.package.architecture, artifact: artifact, origin: .built)
    }
}

/// The family build's step timings, which the parts add to as they are built.
final class TimingsBox: @unchecked Sendable {
    // Parts may be built by code that hands the context to other tasks: every access holds the lock.
    private let lock = NSLock()
    private var stored: BuildTimings

    init(_ value: BuildTimings) { stored = value }

    /// The timings so far.
    var value: BuildTimings {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
