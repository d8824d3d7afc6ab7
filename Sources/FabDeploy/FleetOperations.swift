import FabArchive
import FabCore
import Foundation

/// Fleet operations on the task's host: install, upgrade, roll back, and read what is installed.
extension Deployment {
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
}
