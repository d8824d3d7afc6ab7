import FabCore
import Foundation

/// Rolling a package family back across its split: the app's earlier build, the virtualenv package
/// version that build pins, the role packages that pin that build, and what those roles pin
/// exactly besides (their config packages).
///
/// reprepro serves one version of each package, so an older app whose virtualenv has changed since
/// cannot be installed until its virtualenv version is served again; a role package that pins the
/// app exactly must come back with it. Everything is found from the packages themselves (their
/// `Depends` in the repository's rollback archive), so it holds for role packages with build
/// numbers of their own (``FamilyManifest``) as for roles versioned like the app.
extension Deployment {
    /// What ``rollbackFamilyRepository(to:roles:)`` published again: package name and version, the
    /// virtualenv first, then the app, then the roles.
    public struct FamilyRollback: Sendable, Equatable {
        /// The packages and versions the repository now serves, in install order.
        public var packages: [(name: String, version: String)]

        public static func == (lhs: FamilyRollback, rhs: FamilyRollback) -> Bool {
            lhs.packages.map { "\($0.name)=\($0.version)" } == rhs.packages.map { "\($0.name)=\($0.version)" }
        }
    }

    /// Publishes again, from the repository's rollback archive, the app's build `version`, the
    /// virtualenv package version it pins (`Depends: PREFIX-APP-venv (= V)`), for each package of
    /// `roles` the newest archived version that pins that app build, and what that role pins exactly
    /// besides (its config package). Runs once per `fab` run however
    /// many hosts the task has; checks everything before it changes the repository.
    /// - Parameters:
    ///   - version: the app's build to go back to.
    ///   - roles: role (manifest) package names, such as `vrmd-whois-server-production`.
    /// - Throws: ``FabError`` `.invalidArgument` when the archive lacks the app build, the virtualenv
    ///   version it pins, or a role package pinning it (nothing is changed then).
    @discardableResult
    public func rollbackFamilyRepository(to version: String, roles: [String] = []) async throws -> FamilyRollback {
        guard case .reprepro = settings.repository, let archiveRoot = settings.repository.archiveDirectory else {
            throw FabError(.invalidArgument, "rollback needs a reprepro repository (settings.repository).")
        }
        let wanted: DebianVersion
        do { wanted = try DebianVersion(version) } catch { throw FabError(.invalidArgument, error.description) }
        for role in roles {
            do { try ControlFileBuilder.validatePackageName(role) } catch {
                throw FabError(.invalidArgument, "\(error.message) Give role packages by their package names, such as \(packageName)-server-production.")
            }
        }
        let key = StateKey<FamilyRollback>("fab-deploy.rollback-family.\(packageName).\(version).\(roles.joined(separator: ","))")
        return try await fab.state.value(for: key) {
            let repo = fab.on(settings.repositoryHost)
            func archived(_ package: String) async throws -> [ArchivedPackage] {
                let output = try await read(repo, ArchivedPackage.listCommand(directory: archiveRoot + "/" + package, package: package), planned: "")
                return ArchivedPackage.parse(output)
            }
            let apps = try await archived(packageName)
            guard let app = apps.first(where: { (try? DebianVersion($0.version)) == wanted }) else {
                let have = DeploymentCommands.distinctSorted(apps.map(\.version))
                throw FabError(.invalidArgument, "the rollback archive \(archiveRoot)/\(packageName) on \(settings.repositoryHost) has no \(packageName) \(version) (it has: \(have.isEmpty ? "none" : have.joined(separator: ", "))); nothing was changed.")
            }
            var plan: [(name: String, version: String)] = []
            if let venv = app.pinnedVersion(of: venvPackageName) {
                guard try await archived(venvPackageName).contains(where: { (try? DebianVersion($0.version)) == (try? DebianVersion(venv)) }) else {
                    throw FabError(.invalidArgument, "\(packageName) \(version) needs \(venvPackageName) \(venv), which the rollback archive \(archiveRoot)/\(venvPackageName) does not hold; nothing was changed.")
                }
                plan.append((venvPackageName, venv))
            }
            plan.append((packageName, app.version))
            var rolePlan: [(name: String, version: String)] = []
            for role in roles {
                let pinning = try await archived(role).filter { $0.pinnedVersion(of: packageName).flatMap { try? DebianVersion($0) } == wanted }
                guard let newest = pinning.max(by: { (try? DebianVersion($0.version)) ?? wanted < (try? DebianVersion($1.version)) ?? wanted }) else {
                    throw FabError(.invalidArgument, "no archived \(role) in \(archiveRoot)/\(role) depends on \(packageName) (= \(version)); nothing was changed. Roll back the app alone, or build the role for that version.")
                }
                // What else the role pins exactly (its config package) comes back at that version too.
                for (pinned, pinnedVersion) in newest.exactPins() where pinned != packageName && pinned != venvPackageName
                    && !plan.contains(where: { $0.name == pinned && $0.version == pinnedVersion }) {
                    guard try await archived(pinned).contains(where: { (try? DebianVersion($0.version)) == (try? DebianVersion(pinnedVersion)) }) else {
                        throw FabError(.invalidArgument, "\(role) \(newest.version) needs \(pinned) \(pinnedVersion), which the rollback archive \(archiveRoot)/\(pinned) does not hold; nothing was changed.")
                    }
                    plan.append((pinned, pinnedVersion))
                }
                rolePlan.append((role, newest.version))
            }
            plan += rolePlan
            for (package, packageVersion) in plan {
                try await rollbackRepository(package: package, to: packageVersion)
            }
            return FamilyRollback(packages: plan)
        }
    }

    /// Rolls the family back to the app's build `version` (``rollbackFamilyRepository(to:roles:)``),
    /// then installs exactly those versions on the task's host in one `apt-get install` (downgrades
    /// allowed) and checks that each is what dpkg reports.
    /// - Throws: ``FabError`` as ``rollbackFamilyRepository(to:roles:)``, or `.aborted` when a
    ///   package is not at its version afterwards.
    public func rollbackFamily(to version: String, roles: [String] = []) async throws {
        let rollback = try await rollbackFamilyRepository(to: version, roles: roles)
        try await fab.hide(.stdout) { try await fab.sudo(DeploymentCommands.aptUpdate()) }
        try await fab.sudo(DeploymentCommands.aptInstall(rollback.packages.map { "\($0.name)=\($0.version)" }, allowDowngrades: true))
        let host = fab.host ?? "localhost"
        if dryRun {
            say(host, "dry run: \(rollback.packages.map { "\($0.name) \($0.version)" }.joined(separator: ", ")) would be installed")
            return
        }
        for (package, packageVersion) in rollback.packages {
            let result = try await fab.probe(DeploymentCommands.installedVersion(package))
            let installed = result.succeeded ? result.output : nil
            guard installed.flatMap({ try? DebianVersion($0) }) == (try? DebianVersion(packageVersion)) else {
                throw FabError(.aborted, "[\(host)] \(package) \(installed ?? "nothing") is installed after the rollback, not \(packageVersion).")
            }
        }
        say(host, "rolled back to \(rollback.packages.map { "\($0.name) \($0.version)" }.joined(separator: ", "))")
    }
}

/// One .deb of a package's rollback archive, with the fields a rollback reads.
struct ArchivedPackage: Equatable {
    var fileName: String
    var version: String
    var depends: String

    /// The version of `package` this one depends on exactly (`package (= V)`), or nil.
    func pinnedVersion(of package: String) -> String? {
        exactPins().first { $0.package == package }?.version
    }

    /// The packages this one depends on at exactly one version (`NAME (= V)`), in field order;
    /// alternatives (`a | b`) are not pins.
    func exactPins() -> [(package: String, version: String)] {
        depends.split(separator: ",").compactMap { clause in
            let words = clause.trimmingCharacters(in: .whitespaces)
            guard !words.contains("|"), let open = words.range(of: "(= "), words.hasSuffix(")") else { return nil }
            let name = words[words.startIndex..<open.lowerBound].trimmingCharacters(in: .whitespaces)
            let version = words[open.upperBound..<words.index(before: words.endIndex)].trimmingCharacters(in: .whitespaces)
            guard !name.isEmpty, !name.contains(" "), !version.isEmpty else { return nil }
            return (name, version)
        }
    }

    /// Prints `FILE<TAB>VERSION<TAB>DEPENDS` for each `PACKAGE_*.deb` in `directory` (nothing when it
    /// does not exist), reading the control fields with dpkg-deb.
    static func listCommand(directory: String, package: String) -> String {
        let q = LocalShell.quote
        return "cd \(q(directory)) 2>/dev/null || exit 0; for f in \(q(package))_*.deb; do [ -f \"$f\" ] || continue; "
            + "printf '%s\\t%s\\t%s\\n' \"$f\" \"$(dpkg-deb -f \"$f\" Version)\" \"$(dpkg-deb -f \"$f\" Depends | tr '\\n' ' ')\"; done"
    }

    /// The lines of ``listCommand(directory:package:)``'s output.
    static func parse(_ output: String) -> [ArchivedPackage] {
        output.split(whereSeparator: \.isNewline).compactMap { line in
            let fields = line.split(separator: "\t", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 3, !fields[1].isEmpty else { return nil }
            return ArchivedPackage(fileName: fields[0], version: fields[1], depends: fields[2])
        }
    }
}
