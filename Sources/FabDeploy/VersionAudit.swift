import FabCore
import Foundation
import Glibc

/// What is installed where: one table, after every server of the task has answered, of each package
/// of a family (venv, app, config, manifest) on each server, its installed version, the version the
/// repository serves, and the drift between them.
///
/// ```swift
/// /// Show which versions each server runs, and what the repository serves.
/// /// - Roles: whois
/// func versions(_ fab: Fab) async throws {
///     try await VersionAudit(packages: ["vrmd-whois-venv", "vrmd-whois", "vrmd-whois-config-*", "vrmd-whois-server"]).run(fab)
/// }
/// ```
///
/// ```
/// HOST  PACKAGE                        INSTALLED  REPOSITORY  DRIFT
/// web1  vrmd-whois-venv                1          1
/// web1  vrmd-whois                     1          2           behind
/// web2  vrmd-whois                     -          2           missing
/// ```
///
/// Each server answers with `dpkg-query` (in parallel with `fab -P`); the repository is asked once,
/// after the last server, with `reprepro list` on the repository host, and the table is printed once,
/// in one piece (`--hide user` hides it). The repository's listing is the reference rather than each
/// server's `apt-cache policy` candidate: a candidate is only as new as that server's last
/// `apt-get update`, so a server that has not updated would show no drift exactly when it is behind,
/// and pins would make servers disagree about "newest"; reprepro serves one version per package,
/// the one `apt-get upgrade` installs once a server updates.
///
/// Packages are names or `dpkg-query` patterns: `vrmd-whois-config-*` matches whichever config
/// package a server has (config packages of different environments exclude each other).
public struct VersionAudit: Sendable {
    /// The packages to audit, in the table's order: names, or shell patterns (`*`, `?`, `[...]`).
    public var packages: [String]
    /// The repository host's name (an ssh_config alias).
    public var repositoryHost: String
    /// The reprepro repository whose served versions are the reference.
    public var repository: Deployment.Repository
    /// A local file to write the table to as JSON as well (nil: print only).
    public var jsonFile: String?

    /// An audit of `packages` against the reprepro repository on `repositoryHost`.
    /// - Throws: ``FabError`` `.invalidArgument` for an empty list, a name that is neither a package
    ///   name nor a pattern, or an incoming-directory repository (it has no listing to compare with).
    public init(packages: [String], repositoryHost: String = "repo",
                repository: Deployment.Repository = .reprepro(base: "/srv/apt", codename: "fab"),
                jsonFile: String? = nil) throws {
        guard !packages.isEmpty else {
            throw FabError(.invalidArgument, "the version audit needs at least one package name; give the family's packages (venv, app, config, manifest).")
        }
        for package in packages where package.range(of: "^[a-z0-9*?\\[][a-z0-9+.*?\\[\\]-]*$", options: .regularExpression) == nil {
            throw FabError(.invalidArgument, "'\(package)' is neither a Debian package name nor a pattern of one; use lowercase letters, digits, +, -, . and the wildcards * ? [...].")
        }
        guard case .reprepro = repository else {
            throw FabError(.invalidArgument, "the version audit compares with what a reprepro repository serves, and an incoming directory has no listing; give the .reprepro(base:codename:) repository that processes it.")
        }
        self.packages = packages
        self.repositoryHost = repositoryHost
        self.repository = repository
        self.jsonFile = jsonFile
    }

    /// A package as `dpkg-query` reports it on one server.
    public struct InstalledPackage: Sendable, Equatable {
        public var name: String
        public var version: String
        /// dpkg's `db:Status-Status`: `installed`, `half-configured`, `config-files`...
        public var status: String

        public init(name: String, version: String, status: String) {
            self.name = name
            self.version = version
            self.status = status
        }
    }

    /// How a server's package differs from the repository.
    public enum Drift: String, Sendable, Codable {
        /// The installed version is the one the repository serves.
        case none
        /// The repository serves a newer version (`apt-get upgrade` after an update installs it).
        case behind
        /// The installed version is newer than the served one (the repository was rolled back).
        case ahead
        /// Not installed on the server.
        case missing
        /// Installed, but the repository serves no such package.
        case unpublished
        /// dpkg left the package half-installed, unpacked or half-configured.
        case broken
        /// The repository could not be read.
        case unknown
        /// The server's part of the audit failed (unreachable, dpkg-query failed).
        case failed
    }

    /// One line of the table.
    public struct Row: Sendable, Equatable, Codable {
        public var host: String
        public var package: String
        /// The installed version; nil when not installed.
        public var installed: String?
        /// dpkg's status when the package is not configured (`half-configured`, `unpacked`...).
        public var status: String?
        /// The version the repository serves; nil when it serves none or could not be read.
        public var repository: String?
        public var drift: Drift
    }

    /// What each server records, by host.
    static let installedKey = StateKey<[InstalledPackage]>("fab-deploy.version-audit.installed")

    /// Reads this server's installed versions of ``packages`` and arranges for the table to be
    /// printed once, after every server of the task has answered (see ``Fab/afterAllHosts(_:_:)``).
    /// - Throws: ``FabError`` for a task on no host or outside a run of fab's task runner;
    ///   ``FabError`` `.aborted` when `dpkg-query` fails on the server. The closing step fails the task
    ///   when the repository cannot be read (after printing the table with what it knows).
    public func run(_ fab: Fab) async throws {
        guard fab.host != nil else {
            throw FabError(.invalidArgument, "the version audit runs on servers and this task has none; give it hosts (- Roles: web in its doc comment, or task:hosts=web1;web2).")
        }
        let audit = self
        try fab.afterAllHosts("fab-deploy.version-audit") { fab, run in try await audit.report(fab, run) }
        try fab.record(try await installed(on: fab), as: Self.installedKey)
    }

    /// The packages matching ``packages`` that dpkg knows on `fab`'s host.
    func installed(on fab: Fab) async throws -> [InstalledPackage] {
        let result = try await fab.probe(Self.dpkgQuery(packages))
        // dpkg-query exits 1 when a pattern matches nothing, which is an answer ("not installed").
        let unexpected = result.stderr.split(whereSeparator: \.isNewline).filter { !$0.contains("no packages found matching") }
        guard result.exitStatus == 0 || (result.exitStatus == 1 && unexpected.isEmpty) else {
            throw FabError(.aborted, "[\(fab.host ?? "localhost")] dpkg-query failed with status \(result.exitStatus) (\(unexpected.joined(separator: " ").trimmingCharacters(in: .whitespaces))); check that the server is a Debian system with a readable /var/lib/dpkg.")
        }
        return Self.parseDpkgQuery(result.stdout)
    }

    /// The closing step: asks the repository, prints the table, writes the JSON file.
    func report(_ fab: Fab, _ run: TaskRun) async throws {
        guard case let .reprepro(base, codename, _) = repository else { return }
        var installed: [String: [InstalledPackage]] = [:]
        for value in run.values(Self.installedKey) { installed[value.host ?? ""] = value.value }
        let repo = fab.on(repositoryHost)
        let listing = try? await repo.probe(Self.repreproList(base: base, codename: codename))
        let served = listing.flatMap { $0.succeeded ? Self.parseRepreproList($0.stdout) : nil }
        let rows = Self.rows(packages: packages, hosts: run.hosts.compactMap { $0 }, installed: installed, served: served)
        let source = "what reprepro serves in \(codename) at \(base) on \(repositoryHost)"
        fab.sayBlock(Self.table(rows, source: source))
        if let jsonFile {
            let path = jsonFile.hasPrefix("/") ? jsonFile : FileManager.default.currentDirectoryPath + "/" + jsonFile
            do {
                try Self.json(rows, source: source).write(to: URL(fileURLWithPath: path), options: .atomic)
            } catch {
                throw FabError(.localFile, "cannot write the version table to \(path) (\(error.localizedDescription)); give json a writable path.")
            }
        }
        if served == nil {
            let why = listing.map { $0.stderr.split(whereSeparator: \.isNewline).last.map(String.init) ?? "exit status \($0.exitStatus)" } ?? "the host cannot be reached"
            throw FabError(.aborted, "[\(repositoryHost)] cannot list the repository \(base) (\(why)); the table shows the installed versions only. Check that reprepro can read \(base) as the login user there.")
        }
    }

    // MARK: - Commands and parsers

    /// `dpkg-query -W` of the patterns: `NAME<TAB>VERSION<TAB>STATUS` lines.
    static func dpkgQuery(_ patterns: [String]) -> String {
        "dpkg-query -W -f '${Package}\\t${Version}\\t${db:Status-Status}\\n' -- " + patterns.map(LocalShell.quote).joined(separator: " ")
    }

    /// `reprepro list` of a whole distribution: `NAME<TAB>VERSION` lines.
    static func repreproList(base: String, codename: String) -> String {
        "reprepro -b \(LocalShell.quote(base)) --list-format '${package}\\t${version}\\n' list \(LocalShell.quote(codename))"
    }

    static func parseDpkgQuery(_ output: String) -> [InstalledPackage] {
        output.split(whereSeparator: \.isNewline).compactMap { line in
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 3, !fields[0].isEmpty else { return nil }
            return InstalledPackage(name: fields[0], version: fields[1], status: fields[2])
        }
    }

    /// The newest version the listing has of each package (one, unless several components serve it).
    static func parseRepreproList(_ output: String) -> [String: String] {
        var newest: [String: String] = [:]
        for line in output.split(whereSeparator: \.isNewline) {
            let fields = line.split(separator: "\t").map(String.init)
            guard fields.count == 2 else { continue }
            if let known = newest[fields[0]], let old = try? DebianVersion(known), let new = try? DebianVersion(fields[1]), old >= new { continue }
            newest[fields[0]] = fields[1]
        }
        return newest
    }

    // MARK: - The table

    /// dpkg states in which the package's files are in place and configured.
    static let configuredStates: Set<String> = ["installed", "triggers-awaited", "triggers-pending"]
    /// dpkg states that leave nothing but (at most) configuration files.
    static let absentStates: Set<String> = ["not-installed", "config-files"]

    /// The table's rows: for each host (in order; a host that recorded nothing failed), each pattern
    /// in order, the packages installed that match it, else those the repository serves that match it,
    /// else the pattern itself. `served` is nil when the repository could not be read.
    static func rows(packages: [String], hosts: [String], installed: [String: [InstalledPackage]],
                     served: [String: String]?) -> [Row] {
        var rows: [Row] = []
        for host in hosts {
            guard let entries = installed[host] else {
                rows.append(Row(host: host, package: "-", installed: nil, status: nil, repository: nil, drift: .failed))
                continue
            }
            var seen: Set<String> = []
            for pattern in packages {
                let present = entries.filter { !absentStates.contains($0.status) && matches(pattern, $0.name) }.sorted { $0.name < $1.name }
                if !present.isEmpty {
                    for package in present where seen.insert(package.name).inserted {
                        let repository = served?[package.name]
                        rows.append(Row(host: host, package: package.name, installed: package.version,
                                        status: configuredStates.contains(package.status) ? nil : package.status, repository: repository,
                                        drift: drift(package, repository: repository, known: served != nil)))
                    }
                    continue
                }
                let offered = (served ?? [:]).keys.filter { matches(pattern, $0) }.sorted()
                for name in offered.isEmpty ? [pattern] : offered where seen.insert(name).inserted {
                    rows.append(Row(host: host, package: name, installed: nil, status: nil, repository: served?[name], drift: .missing))
                }
            }
        }
        return rows
    }

    static func drift(_ package: InstalledPackage, repository: String?, known: Bool) -> Drift {
        if !configuredStates.contains(package.status) { return .broken }
        guard known else { return .unknown }
        guard let repository else { return .unpublished }
        guard let installed = try? DebianVersion(package.version), let newest = try? DebianVersion(repository) else {
            return package.version == repository ? .none : .behind
        }
        return installed == newest ? .none : installed < newest ? .behind : .ahead
    }

    static func matches(_ pattern: String, _ name: String) -> Bool {
        fnmatch(pattern, name, 0) == 0
    }

    /// The table as printed: aligned columns, `-` for nothing, no trailing spaces, and a closing line
    /// that counts the drift and names the reference.
    static func table(_ rows: [Row], source: String) -> String {
        let header = ["HOST", "PACKAGE", "INSTALLED", "REPOSITORY", "DRIFT"]
        let cells = rows.map { row in
            [row.host, row.package,
             (row.installed ?? (row.drift == .failed ? "?" : "-")) + (row.status.map { " (\($0))" } ?? ""),
             row.repository ?? (row.drift == .unknown || row.drift == .failed ? "?" : "-"),
             row.drift == .none ? "" : row.drift == .failed ? "host failed" : row.drift.rawValue]
        }
        var widths = header.map(\.count)
        for line in cells { for (index, cell) in line.enumerated() { widths[index] = max(widths[index], cell.count) } }
        let lines = ([header] + cells).map { line in
            line.enumerated().map { index, cell in
                index == line.count - 1 ? cell : cell.padding(toLength: widths[index], withPad: " ", startingAt: 0)
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
        }
        let drifting = rows.filter { $0.drift != .none }.count
        let hosts = Set(rows.map(\.host)).count
        let counted = "\(rows.count) package\(rows.count == 1 ? "" : "s") on \(hosts) host\(hosts == 1 ? "" : "s") (newest: \(source))"
        let summary = drifting == 0 ? "no drift in \(counted)" : "drift in \(drifting) of \(counted)"
        return (lines + [summary]).joined(separator: "\n")
    }

    /// The table as JSON: `{"repository": SOURCE, "rows": [{host, package, installed, status, repository, drift}]}`.
    static func json(_ rows: [Row], source: String) throws -> Data {
        struct Document: Encodable {
            var repository: String
            var rows: [Row]
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return try encoder.encode(Document(repository: source, rows: rows))
    }
}

extension Deployment {
    /// Prints the version table of `packages` (default: this app's package) across the task's
    /// servers against this deployment's repository; see ``VersionAudit``.
    /// - Parameter jsonFile: a local file to write the table to as JSON as well.
    /// - Throws: as ``VersionAudit/init(packages:repositoryHost:repository:jsonFile:)`` and ``VersionAudit/run(_:)``.
    public func auditVersions(packages: [String]? = nil, jsonFile: String? = nil) async throws {
        try await VersionAudit(packages: packages ?? [packageName], repositoryHost: settings.repositoryHost,
                               repository: settings.repository, jsonFile: jsonFile).run(fab)
    }
}
