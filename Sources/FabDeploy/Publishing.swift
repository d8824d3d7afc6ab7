import FabArchive
import FabCore
import Foundation

/// Publishing: the artifact to push, the push through the gate's verdict into the repository (and
/// its rollback archive), and re-publishing an archived version.
extension Deployment {
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
    /// - Parameter deb: the .deb to push: by default the app's newest; a given one may also be
    ///   another package this kit built, such as ``buildConfigPackage(_:branch:version:)``'s.
    /// - Throws: ``FabError`` when the package is not this app's, its manifest is missing, rejected or
    ///   does not match the file, the repository already has that version or a higher one (nothing is
    ///   changed then), or the repository does not list it after including it.
    public func pushToRepo(deb: String? = nil) async throws {
        if deb == nil, dryRun, fab.state[Self.built] == nil, let plan = fab.state[Self.planned] {
            // A dry run's deb task made nothing: plan the push of what it would have made.
            try await publish(path: plan.path, package: packageName, version: plan.version, architecture: plan.architecture, hash: "")
            return
        }
        guard let deb else {
            try await publish(deb: try latestArtifact(), package: packageName)
            return
        }
        // A given .deb may be another package this kit built (a config or manifest package, a member
        // of the family): its manifest says it passed the gates.
        let path = Self.absolute(deb, base: FileManager.default.currentDirectoryPath)
        try await publish(deb: path, package: try DebPackage(path: path).control.package ?? packageName)
    }

    /// Publishes the .deb at `path`, a build of `package` (this app's or another member of its
    /// family), as ``pushToRepo(deb:)`` does.
    /// - Throws: ``FabError`` when the file is not a `package` package, its manifest is missing,
    ///   rejected or does not match, or the repository refuses it (see ``pushToRepo(deb:)``).
    func publish(deb path: String, package packageName: String) async throws {
        let package = try DebPackage(path: path)
        guard package.control.package == packageName, let version = package.control.version,
              let architecture = package.control.architecture else {
            throw FabError(.invalidArgument, "\(path) is not a \(packageName) package (it is \(package.control.package ?? "unnamed")).")
        }
        // Only a build that passed every gate is published: its manifest must say so and match the file.
        let manifest = try ArtifactManifest.verify(deb: path, package: packageName, version: version, architecture: architecture)
        try await publish(path: path, package: packageName, version: version, architecture: architecture, hash: manifest.sha256)
    }

    /// Uploads, includes and archives a checked .deb (`hash` is its SHA-256, empty in a dry run's plan).
    private func publish(path: String, package packageName: String, version: String, architecture: String, hash: String) async throws {
        let repo = fab.on(settings.repositoryHost)
        let q = repo.quote
        let fileName = DeploymentCommands.debFileName(package: packageName, version: version, architecture: architecture)
        switch settings.repository {
        case let .incoming(directory):
            try await repo.put(path, directory + "/" + fileName, mode: 0o644)
            say(settings.repositoryHost, "\(fileName) is in \(directory)")
        case let .reprepro(base, codename, archiveSetting):
            let current = try await currentVersion(base: base, codename: codename, package: packageName)
            let archived = try await repositoryVersions(quietly: false, package: packageName)
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
            let landed = try await currentVersion(base: base, codename: codename, package: packageName)
            guard included.succeeded, let landed, (try? DebianVersion(landed)) == wanted else {
                try await repo.run("rm -f \(q(incoming))")
                throw FabError(.aborted, "reprepro did not publish \(packageName) \(version) in \(codename) (it serves \(landed ?? "nothing")); \(included.stderr.split(whereSeparator: \.isNewline).suffix(3).joined(separator: " "))")
            }
            try await repo.run("mv -f \(q(incoming)) \(q(archive + "/" + fileName))")
            say(settings.repositoryHost, "published \(packageName) \(landed) in \(codename); kept \(archive)/\(fileName) for rollbacks")
        }
    }

    /// The version of `package` (nil for the app's) the reprepro distribution serves, or nil.
    func currentVersion(base: String, codename: String, package: String? = nil) async throws -> String? {
        let packageName = package ?? self.packageName
        let repo = fab.on(settings.repositoryHost)
        let output = try await read(repo, DeploymentCommands.repreproList(base: base, codename: codename, package: packageName), planned: "")
        return DeploymentCommands.versions(fromRepreproList: output).first
    }

    /// Publishes an archived older (or any archived) version again, replacing what the repository
    /// serves, so servers can install it. Runs once per `fab` run however many hosts the task has.
    /// - Throws: ``FabError`` when the archive has no such version (nothing is changed then).
    public func rollbackRepository(to version: String) async throws {
        try await rollbackRepository(package: packageName, to: version)
    }

    /// ``rollbackRepository(to:)`` for another package of the app's family (its virtualenv or role package).
    func rollbackRepository(package packageName: String, to version: String) async throws {
        guard case let .reprepro(base, codename, _) = settings.repository, let archiveRoot = settings.repository.archiveDirectory else {
            throw FabError(.invalidArgument, "rollback needs a reprepro repository (settings.repository).")
        }
        let key = StateKey<Bool>("fab-deploy.rollback.\(packageName).\(version)")
        _ = try await fab.state.value(for: key) {
            let repo = fab.on(settings.repositoryHost)
            let wanted: DebianVersion
            do { wanted = try DebianVersion(version) } catch let error as DebianVersionError { throw FabError(.invalidArgument, error.description) }
            let archive = archiveRoot + "/" + packageName
            let listing = try await read(repo, DeploymentCommands.listArchive(directory: archive, package: packageName), planned: "")
            if let legacy = settings.repository.legacyArchiveDirectory, legacy != archiveRoot {
                let old = try await read(repo, DeploymentCommands.listArchive(directory: legacy + "/" + packageName, package: packageName), planned: "")
                warnAboutLegacyArchive(DeploymentCommands.versions(fromArchiveListing: old, package: packageName), package: packageName)
            }
            guard let name = listing.split(whereSeparator: \.isNewline).map(String.init).first(where: {
                DeploymentCommands.versions(fromArchiveListing: $0, package: packageName).first.flatMap { try? DebianVersion($0) } == wanted
            }) else {
                let have = DeploymentCommands.versions(fromArchiveListing: listing, package: packageName)
                throw FabError(.invalidArgument, "the rollback archive \(archive) on \(settings.repositoryHost) has no \(packageName) \(version) (it has: \(have.isEmpty ? "none" : DeploymentCommands.distinctSorted(have).joined(separator: ", "))); nothing was changed.")
            }
            if try await currentVersion(base: base, codename: codename, package: packageName).flatMap({ try? DebianVersion($0) }) != wanted {
                try await repo.run(DeploymentCommands.repreproRemove(base: base, codename: codename, package: packageName))
                try await repo.run(DeploymentCommands.repreproInclude(base: base, codename: codename, deb: archive + "/" + name))
            }
            let landed = try await currentVersion(base: base, codename: codename, package: packageName)
            guard dryRun || landed.flatMap({ try? DebianVersion($0) }) == wanted else {
                throw FabError(.aborted, "reprepro serves \(landed ?? "nothing") after re-including \(name).")
            }
            say(settings.repositoryHost, "repository now serves \(packageName) \(version)")
            return true
        }
    }
}
