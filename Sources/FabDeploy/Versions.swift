import FabArchive
import FabCore
import Foundation

/// Versions: the project's version file, the next build number, and what the repository and
/// local artifacts already hold (a version names one set of bytes).
extension Deployment {
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

    /// The highest version the build host's apt, the repository (published and archived) and the
    /// builds in ``artifactDirectory`` (rejected ones included) know, plus one.
    func nextVersion(build: Fab, package: String? = nil) async throws -> String {
        let packageName = package ?? self.packageName
        var known: [String] = []
        let show = try await build.probe(DeploymentCommands.aptCacheShow(packageName))
        if show.succeeded { known += try DeploymentCommands.versions(fromAptCacheShow: show.stdout) }
        known += try await repositoryVersions(quietly: true, package: packageName)
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
    func repositoryVersions(quietly: Bool, package: String? = nil) async throws -> [String] {
        let packageName = package ?? self.packageName
        guard case let .reprepro(base, codename, _) = settings.repository, let archive = settings.repository.archiveDirectory,
              let legacy = settings.repository.legacyArchiveDirectory else { return [] }
        let repo = fab.on(settings.repositoryHost)
        if quietly && fab.state[Self.repositoryUnreachable] == true { return [] }
        // prepareApp asks twice (the next version, then whether it exists): one listing serves both.
        if quietly, let known = fab.state[Self.preparedRepositoryVersions]?[packageName] { return known }
        do {
            let listed = try await read(repo, DeploymentCommands.repreproList(base: base, codename: codename, package: packageName), planned: "")
            let archived = try await read(repo, DeploymentCommands.listArchive(directory: archive + "/" + packageName, package: packageName), planned: "")
            // Versions an older fab archived inside the served tree still count: a version names one set of bytes.
            let old = archive == legacy ? "" : try await read(repo, DeploymentCommands.listArchive(directory: legacy + "/" + packageName, package: packageName), planned: "")
            warnAboutLegacyArchive(DeploymentCommands.versions(fromArchiveListing: old, package: packageName), package: packageName)
            let versions = DeploymentCommands.versions(fromRepreproList: listed)
                + DeploymentCommands.versions(fromArchiveListing: archived + "\n" + old, package: packageName)
            if quietly {
                var known = fab.state[Self.preparedRepositoryVersions] ?? [:]
                known[packageName] = versions
                fab.state[Self.preparedRepositoryVersions] = known
            }
            return versions
        } catch where quietly {
            warn(settings.repositoryHost, "cannot read the repository's versions (\(error)); counting only what the build host's apt knows.")
            fab.state[Self.repositoryUnreachable] = true
            return []
        }
    }

    /// Warns (once per run) that packages remain in the archive's old, served place.
    func warnAboutLegacyArchive(_ versions: [String], package: String? = nil) {
        let packageName = package ?? self.packageName
        guard !versions.isEmpty, let legacy = settings.repository.legacyArchiveDirectory,
              let archive = settings.repository.archiveDirectory else { return }
        let key = StateKey<Bool>("fab-deploy.legacy-archive-warned")
        guard fab.state[key] != true else { return }
        fab.state[key] = true
        warn(settings.repositoryHost, "\(legacy)/\(packageName) still holds \(packageName) \(DeploymentCommands.distinctSorted(versions).joined(separator: ", ")) inside the served repository (anyone can download them over HTTP); fab no longer keeps its rollback archive there and moves nothing by itself: run `mkdir -p \(LocalShell.quote(archive)) && mv \(LocalShell.quote(legacy + "/" + packageName)) \(LocalShell.quote(archive))/` on \(settings.repositoryHost), or set archive: \"\(legacy)\" to keep the old place.")
    }

    /// Fails when the repository already has `version` (published or archived), or a build of it
    /// (passed or rejected) is in ``artifactDirectory``: a version names one set of bytes.
    func refuseExisting(version: String, package: String? = nil) async throws {
        let packageName = package ?? self.packageName
        let existing = try await repositoryVersions(quietly: true, package: packageName)
        let wanted = try DebianVersion(version)
        if existing.contains(where: { (try? DebianVersion($0)) == wanted }) {
            throw FabError(.invalidArgument, "\(packageName) \(version) is already in the repository on \(settings.repositoryHost); build another version (bump the version file or give version=...).")
        }
        if let file = LocalArtifacts.files(package: packageName, version: version, in: artifactDirectory).first {
            throw FabError(.invalidArgument, "\(file) is already a build of \(packageName) \(version), and fab never gives two builds one version; bump the version file or give version=... (or delete that file if it must go).")
        }
    }

    static let repositoryUnreachable = StateKey<Bool>("fab-deploy.repository-unreachable")
    /// The repository's versions by package, read once per run.
    static let preparedRepositoryVersions = StateKey<[String: [String]]>("fab-deploy.prepared-repository-versions")
}
