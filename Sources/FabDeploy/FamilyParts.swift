import FabArchive
import FabCore
import Foundation

/// A config package is a part of the family: built with ``Deployment/buildConfigPackage(_:branch:version:)``
/// from the family's commit, after the app package (which then depends on ``Deployment/configVirtualPackage``).
extension ConfigPackage: FamilyPart {
    /// Builds (or reuses, by its content key) this environment's config package.
    public func build(in family: FamilyContext) async throws -> FamilyMember {
        let path = try await family.deployment.buildConfigPackage(self, branch: family.branch)
        return try family.member(built: path)
    }
}

/// A manifest package of the family: it pins the app package and the config package of one
/// environment built (or reused) in the same family call, so `apt-get install ROLE` sets up a server.
///
/// ```swift
/// try await deploy.buildFamily(branch: branch, parts: [
///     ConfigPackage(environment: "staging", variables: staging, files: files),
///     ConfigPackage(environment: "production", variables: production, files: files),
///     FamilyManifest(role: "whois-server", config: "production"),
/// ])
/// ```
public struct FamilyManifest: FamilyPart {
    /// The server role (the package is `PREFIX-ROLE` unless ``name`` is given).
    public var role: String
    /// The package name, or nil for `PREFIX-ROLE`.
    public var name: String?
    /// The environment whose config package is pinned (built earlier in the same call), or nil for none.
    public var config: String?
    /// More packages the role needs (unpinned relations, such as `nginx`).
    public var extraPackages: [String]

    /// A manifest for `role` pinning the app and the config package of `config`.
    public init(role: String, name: String? = nil, config: String?, extraPackages: [String] = []) {
        self.role = role
        self.name = name
        self.config = config
        self.extraPackages = extraPackages
    }

    /// Builds the manifest package with `Depends` on the app and the config package at their exact versions.
    /// - Throws: ``FabError`` `.invalidArgument` when no config package of ``config`` was built before it.
    public func build(in family: FamilyContext) async throws -> FamilyMember {
        var pins = [ManifestPackage.Pin(family.app.package, family.app.version)]
        if let config {
            let package = ConfigPackage.packageName(prefix: family.deployment.settings.packagePrefix, app: family.deployment.app, environment: config)
            guard let member = family.parts.first(where: { $0.package == package }) else {
                throw FabError(.invalidArgument, "the manifest \(role) pins the config package \(package), which this family call did not build; put ConfigPackage(environment: \"\(config)\", ...) before it in parts.")
            }
            pins.append(.init(member.package, member.version))
        }
        let manifest = ManifestPackage(role: role, name: name, pins: pins, extraPackages: extraPackages)
        let path = try await family.deployment.buildManifestPackage(manifest, branch: family.branch)
        return try family.member(built: path)
    }
}

extension FamilyContext {
    /// The branch this family is built from.
    public var branch: String { prepared.source.branch }

    /// The member a part's build left at `path`: built now, or reused when the file is older than
    /// this family call.
    /// - Throws: ``FabError`` when the file is not a package with a name, version and architecture.
    public func member(built path: String) throws -> FamilyMember {
        let deb = try DebPackage(path: path)
        guard let name = deb.control.package, let version = deb.control.version, let architecture = deb.control.architecture else {
            throw FabError(.aborted, "\(path) has no package name, version or architecture in its control file.")
        }
        let modified = (try? FileManager.default.attributesOfItem(atPath: path)[.modificationDate] as? Date) ?? Date()
        return FamilyMember(package: name, version: version, architecture: architecture, artifact: path,
                            origin: modified < started ? .localArtifact : .built)
    }
}
