import FabArchive
import FabCore
import Foundation

/// The verdict fab records beside a built package: `NAME_VERSION_ARCH.deb.fab.json`.
///
/// ``Deployment/buildDeb()`` writes it only after every gate passed (the relocation audit, the
/// SHA-256 check of the transfer, reading the package back, lintian under the ``LintPolicy``);
/// ``Deployment/pushToRepo(deb:)`` publishes nothing without it, and checks that the .deb's SHA-256
/// is still the one recorded. A build that fails a gate after its .deb was fetched is moved to the
/// artifact directory's `rejected/` folder with a manifest whose ``verdict`` is ``Verdict/rejected``
/// and whose gates say which one failed; push refuses it with that reason.
public struct ArtifactManifest: Codable, Sendable, Equatable {
    /// Whether the build may be published.
    public enum Verdict: String, Codable, Sendable {
        /// Every gate passed: the build may be pushed.
        case passed
        /// A gate failed: the build stays in `rejected/` and push refuses it.
        case rejected
    }

    /// One check the build went through.
    public struct Gate: Codable, Sendable, Equatable {
        /// `relocation audit`, `transfer sha256`, `package readback`, `lintian`.
        public var name: String
        /// Whether it passed (a gate turned off in the fabfile passes with a detail saying so).
        public var passed: Bool
        /// The tool and its version, when one did the check (`lintian 2.116.3`).
        public var tool: String?
        /// What it found, in one line.
        public var detail: String
    }

    /// The manifest format's version.
    public var format = 1
    /// The package's name, version and architecture, as its control file says.
    public var package: String
    public var version: String
    public var architecture: String
    /// The .deb's file name, `PACKAGE_VERSION_ARCH.deb`.
    public var fileName: String
    /// The .deb's SHA-256, in hex.
    public var sha256: String
    /// The .deb's size in bytes.
    public var size: Int64
    /// Whether the build may be pushed.
    public var verdict: Verdict
    /// The gates in the order the build went through them.
    public var gates: [Gate]
    /// The branch and commit the package was built from.
    public var branch: String?
    public var commit: String?
    /// The build host (its ssh_config alias).
    public var buildHost: String
    /// When the verdict was recorded, ISO 8601 in UTC.
    public var recordedAt: String
    /// lintian's findings, when it ran.
    public var lintian: LintReport?

    /// Where the manifest of the .deb at `deb` lives.
    public static func path(for deb: String) -> String { deb + ".fab.json" }

    /// The first gate that failed, if any.
    public var failedGate: Gate? { gates.first { !$0.passed } }

    /// Writes the manifest beside the .deb (atomically).
    /// - Throws: ``FabError`` `.localFile` when it cannot be written.
    func write(besides deb: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let path = Self.path(for: deb)
        do {
            try encoder.encode(self).write(to: URL(fileURLWithPath: path), options: .atomic)
        } catch {
            throw FabError(.localFile, "cannot write the build's manifest \(path): \(error.localizedDescription); check that the artifact directory is writable.")
        }
    }

    /// Reads the manifest beside the .deb at `deb`, or nil when there is none.
    /// - Throws: ``FabError`` `.invalidArgument` when it exists but is not a manifest.
    static func read(besides deb: String) throws -> ArtifactManifest? {
        let path = Self.path(for: deb)
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        do {
            return try JSONDecoder().decode(ArtifactManifest.self, from: data)
        } catch {
            throw FabError(.invalidArgument, "\(path) is not a fab build manifest (\(error)); rebuild the package with the deb task.")
        }
    }

    /// Checks that the .deb at `deb` may be published: its manifest exists, says passed, names the
    /// same package, version and architecture, and records the file's SHA-256.
    /// - Returns: the manifest.
    /// - Throws: ``FabError`` `.invalidArgument`, in one sentence saying which check failed and what
    ///   to do; nothing has been published then.
    public static func verify(deb: String, package: String, version: String, architecture: String) throws -> ArtifactManifest {
        let name = (deb as NSString).lastPathComponent
        guard let manifest = try read(besides: deb) else {
            throw FabError(.invalidArgument, "\(name) has no fab manifest (\(path(for: name))), so there is no record that it passed the build's gates (relocation audit, SHA-256 check, lintian); it was not published. Build it with the deb task and push what that build leaves.")
        }
        guard manifest.verdict == .passed, manifest.failedGate == nil else {
            let gate = manifest.failedGate
            throw FabError(.invalidArgument, "\(name) was rejected by the \(gate?.name ?? "build") gate (\(gate?.detail ?? "no detail")); it was not published. Fix that and build a new version with the deb task.")
        }
        guard manifest.package == package, manifest.version == version, manifest.architecture == architecture else {
            throw FabError(.invalidArgument, "\(name)'s manifest is for \(manifest.package) \(manifest.version) \(manifest.architecture), not \(package) \(version) \(architecture); it was not published. Build it again with the deb task.")
        }
        let hash: String
        do { hash = try FileDigest.sha256(path: deb) } catch {
            throw FabError(.localFile, "cannot read \(deb) to check its SHA-256: \(error)")
        }
        guard hash == manifest.sha256 else {
            throw FabError(.invalidArgument, "\(name) has SHA-256 \(hash) but passed the build's gates as \(manifest.sha256): the file changed after the build; it was not published. Build a new version with the deb task.")
        }
        return manifest
    }

    /// Now, in ISO 8601 (UTC).
    static func now() -> String {
        let formatter = ISO8601DateFormatter()
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: Date())
    }
}

/// The .debs a build left in the artifact directory (passed ones) and its `rejected/` folder.
enum LocalArtifacts {
    /// The folder of the artifact directory that rejected builds are moved to.
    static let rejectedFolder = "rejected"

    /// The versions of `package` among the .debs in `directory` and in `directory/rejected`.
    static func versions(package: String, in directory: String) -> [String] {
        [directory, directory + "/" + rejectedFolder].flatMap { folder -> [String] in
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            return DeploymentCommands.versions(fromArchiveListing: names.sorted().joined(separator: "\n"), package: package)
        }
    }

    /// The local .debs of `package` at `version` (any architecture), passed or rejected.
    static func files(package: String, version: String, in directory: String) -> [String] {
        guard let wanted = try? DebianVersion(version) else { return [] }
        return [directory, directory + "/" + rejectedFolder].flatMap { folder -> [String] in
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
            return names.sorted().filter { name in
                DeploymentCommands.versions(fromArchiveListing: name, package: package).first.flatMap { try? DebianVersion($0) } == wanted
            }.map { folder + "/" + $0 }
        }
    }

    /// Puts the fetched file `temporary` at `destination` without ever replacing a file there
    /// (`link(2)` fails when the name exists), then removes `temporary`.
    /// - Throws: ``FabError`` when `destination` exists (with the same bytes or not) or cannot be made.
    static func place(_ temporary: String, at destination: String) throws {
        if link(temporary, destination) != 0 {
            let code = errno
            try? FileManager.default.removeItem(atPath: temporary)
            if code == EEXIST {
                throw FabError(.aborted, "\(destination) already exists and fab never replaces a built package; the new build was discarded. Build again (the next build number accounts for it), or give another version.")
            }
            throw FabError(.localFile, "cannot create \(destination): \(String(cString: strerror(code))); check that the artifact directory is writable.")
        }
        try? FileManager.default.removeItem(atPath: temporary)
    }

    /// Moves a .deb (at `deb`) that failed a gate into `directory/rejected/` as `fileName` (never
    /// replacing a file there), and writes its manifest; returns the new path.
    static func reject(_ deb: String, named fileName: String, in directory: String, manifest: ArtifactManifest) throws -> String {
        let folder = directory + "/" + rejectedFolder
        do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
            try? FileManager.default.removeItem(atPath: deb)
            throw FabError(.localFile, "cannot create \(folder) for the rejected build (\(error.localizedDescription)); the rejected .deb was deleted.")
        }
        var destination = folder + "/" + fileName
        if FileManager.default.fileExists(atPath: destination) {
            destination = folder + "/" + Deployment.timestamp() + "-" + fileName
        }
        do { try FileManager.default.moveItem(atPath: deb, toPath: destination) } catch {
            try? FileManager.default.removeItem(atPath: deb)
            throw FabError(.localFile, "cannot move the rejected \(deb) to \(folder) (\(error.localizedDescription)); it was deleted.")
        }
        try manifest.write(besides: destination)
        return destination
    }
}
