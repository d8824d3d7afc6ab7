import FabArchive
import FabCore
import Foundation

/// A server role as a package, `PREFIX-ROLE` (or as named): Architecture all, nothing installed but
/// its documentation, and `Depends` on the app and one environment's config package at pinned
/// versions (and any extra packages), so `apt-get install ROLE` sets up a new server and says
/// exactly which versions it runs.
///
/// ```swift
/// let role = ManifestPackage(role: "whois-server", pins: [
///     .init("vrmd-whois", "7"), try .init(deb: productionConfigDeb),
/// ], extraPackages: ["nginx"])
/// ```
public struct ManifestPackage: Sendable {
    /// A package at an exact version: `Depends: NAME (= VERSION)`.
    public struct Pin: Sendable, Equatable {
        /// The package name.
        public var package: String
        /// Its exact version.
        public var version: String

        /// `package` pinned at `version`.
        public init(_ package: String, _ version: String) {
            self.package = package
            self.version = version
        }

        /// The package in the .deb at `path` (as a build returns it) at its version.
        /// - Throws: ``FabError`` `.invalidArgument` when the file is not a readable package.
        public init(deb path: String) throws {
            let control: ControlParagraph
            do { control = try DebPackage(path: path).control } catch {
                throw FabError(.invalidArgument, "cannot pin \(path): \(error); give a .deb a build made.")
            }
            guard let package = control.package, let version = control.version else {
                throw FabError(.invalidArgument, "cannot pin \(path): its control data has no Package or Version.")
            }
            self.init(package, version)
        }
    }

    /// The role (`whois-server`): the package name's last part.
    public var role: String
    /// The package name; nil for `PREFIX` + role.
    public var name: String?
    /// The packages the role runs, each at its exact version, in order.
    public var pins: [Pin]
    /// More `Depends` relations, as written (`nginx`, `postgresql-client (>= 15)`).
    public var extraPackages: [String]
    /// The description's first line; nil for "Server role ROLE".
    public var synopsis: String?

    /// A role depending on `pins` at their exact versions, and on `extraPackages`.
    public init(role: String, name: String? = nil, pins: [Pin], extraPackages: [String] = []) {
        self.role = role
        self.name = name
        self.pins = pins
        self.extraPackages = extraPackages
    }

    /// The package name: ``name``, or `prefix` + ``role``.
    public func packageName(prefix: String) -> String { name ?? prefix + role }

    /// The `Depends` relations: the pins, then the extra packages.
    public var depends: [String] { pins.map { "\($0.package) (= \($0.version))" } + extraPackages }

    /// Checks the role and package name, the pins and the extra relations.
    /// - Throws: ``FabError`` `.invalidArgument` naming the first problem, before anything runs.
    public func validate(prefix: String) throws {
        let package = packageName(prefix: prefix)
        guard name != nil || role.range(of: "^[a-z0-9][a-z0-9+.-]*$", options: .regularExpression) != nil else {
            throw FabError(.invalidArgument, "the role name '\(TemplateVariables.printable(role))' cannot be part of a package name; use lowercase letters, digits, '+', '-' and '.' (such as whois-server).")
        }
        do { try ControlFileBuilder.validatePackageName(package) } catch {
            throw FabError(.invalidArgument, "the manifest package name \(package): \(error)")
        }
        guard !pins.isEmpty else {
            throw FabError(.invalidArgument, "the manifest package \(package) pins nothing; give it the app and config packages at their versions.")
        }
        var seen = Set<String>()
        for pin in pins {
            guard seen.insert(pin.package).inserted else {
                throw FabError(.invalidArgument, "the manifest package \(package) pins \(pin.package) twice; pin each package once.")
            }
            guard pin.package != package else {
                throw FabError(.invalidArgument, "the manifest package \(package) cannot depend on itself.")
            }
            do {
                try ControlFileBuilder.validatePackageName(pin.package)
                _ = try DebianVersion(pin.version)
            } catch {
                throw FabError(.invalidArgument, "the pin \(TemplateVariables.printable(pin.package)) \(TemplateVariables.printable(pin.version)) of \(package): \(error)")
            }
        }
        do { _ = try DeploymentCommands.mergeDepends(run: depends, shlibs: [], pythonVersion: nil) } catch {
            throw FabError(.invalidArgument, "the manifest package \(package): \(error)")
        }
    }
}
