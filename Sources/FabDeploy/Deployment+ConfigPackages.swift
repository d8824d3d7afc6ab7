import FabArchive
import FabCore
import Foundation

/// Building config packages (one per environment) and manifest packages (one per server role) on the
/// build host, through the same gates as the app's package.
///
/// ```swift
/// func config(_ fab: Fab, env: String) async throws {
///     let deploy = try await Deployment(fab, app: "whois")
///     var variables = TemplateVariables()
///     variables.value("port", env == "production" ? 8471 : 8472)
///     variables.derived("bind", "127.0.0.1:{{ port }}")
///     try await deploy.buildConfigPackage(ConfigPackage(environment: env, variables: variables, files: [
///         .template("deploy/nginx.stencil", to: "/etc/nginx/sites-enabled/whois.conf"),
///         .template("deploy/supervisor.stencil", to: "/etc/supervisor/conf.d/whois.conf"),
///     ], reloads: [.systemd("nginx.service"), .supervisor]))
/// }
/// ```
///
/// Versions: a config or manifest package gets its own build number, the next one after every
/// version the build host's apt, the repository and the local artifacts know (as the app does), unless
/// the fabfile gives one. A build number, not a digest of the content, because apt upgrades to the
/// higher version, and a digest does not order. The content's SHA-256 is recorded in the control field
/// `Fab-Content-Key`, and the changelog is dated from the commit, so a rebuild of one commit at one
/// version gives the same package.
extension Deployment {
    /// The name of `config`'s package: `PREFIX-APP-config-ENV`.
    public func packageName(of config: ConfigPackage) -> String {
        ConfigPackage.packageName(prefix: settings.packagePrefix, app: app, environment: config.environment)
    }

    /// The virtual package the app's config packages provide: `APP-config` unless `config` names another.
    public func virtualPackage(of config: ConfigPackage) -> String {
        config.virtualPackage ?? ConfigPackage.virtualPackageName(app: app)
    }

    /// Renders `config` from the templates committed on `branch` and validates it, without running anything remotely.
    /// - Throws: ``FabError``: `.invalidArgument` for a bad name, path, mode, reload or a template that
    ///   is not committed; `.template` for a template that uses an undefined variable (naming the
    ///   template, line and variable) or does not render.
    func renderConfig(_ config: ConfigPackage, source: DeploymentSource) throws -> RenderedConfig {
        let package = packageName(of: config)
        try config.validate(package: package)
        let entries = try source.entries()
        return try config.render(package: package) { path in
            guard let entry = entries.first(where: { $0.path == path }) else {
                throw FabError(.invalidArgument, "the template \(path) of \(package) is not committed in the project on \(source.branch) (\(source.shortCommit)); commit it, or fix the path (it is relative to \(projectDirectory)).")
            }
            guard entry.mode == "100644" || entry.mode == "100755" else {
                throw FabError(.invalidArgument, "the template \(path) of \(package) is \(entry.mode == "120000" ? "a symbolic link" : "not a regular file"); a template must be a file inside the project.")
            }
            let data = try DeploymentSource.gitData(["cat-file", "blob", entry.object], in: source.repositoryRoot)
            guard let text = String(data: data, encoding: .utf8) else {
                throw FabError(.invalidArgument, "the template \(path) of \(package) is not UTF-8 text.")
            }
            return text
        }
    }

    /// Renders, validates and builds the config package of one environment on the build host, and
    /// fetches it into ``artifactDirectory`` through the gates (SHA-256, read-back, lintian under
    /// ``Settings/lint``; a rejected package goes to `rejected/`).
    ///
    /// The files are conffiles under /etc; the package provides, conflicts with and replaces
    /// ``virtualPackage(of:)``; its postinst reloads ``ConfigPackage/reloads``. The plan shows every
    /// file with its template and variables; secret values show as `***`.
    /// - Parameters:
    ///   - branch: the branch whose committed templates are rendered; nil for the checked-out one.
    ///   - version: an explicit version; nil for the next build number of this package.
    /// - Returns: the local path of the .deb.
    /// - Throws: ``FabError`` for bad input (before anything runs remotely) or a gate that rejected
    ///   the package; ``CommandFailure`` when a step on the build host fails.
    @discardableResult
    public func buildConfigPackage(_ config: ConfigPackage, branch: String? = nil, version: String? = nil) async throws -> String {
        let source = try DeploymentSource.resolve(projectDirectory: projectDirectory, branch: branch)
        let rendered = try renderConfig(config, source: source)
        let package = rendered.package
        for line in rendered.planLines { say("localhost", "\(package): \(line)") }
        var spec = PackageSpec(name: package, version: "0", maintainer: settings.maintainer,
                               synopsis: config.synopsis ?? "Configuration \(config.environment) of \(app), built by fab", stagingDirectory: "")
        spec.depends = config.depends
        let virtual = virtualPackage(of: config)
        spec.provides = [virtual]
        spec.conflicts = [virtual]
        spec.replaces = [virtual]
        spec.conffiles = rendered.conffiles
        if let postinst = rendered.postinst { spec.maintainerScripts["postinst"] = postinst }
        spec.extraFields[Self.contentKeyField] = try rendered.contentKey()
        let files = rendered.files.map { SmallPackageFile(path: $0.destination, content: $0.content, mode: $0.mode) }
        let checked = ArtifactManifest.Gate(name: "template check", passed: true, tool: "fab",
                                            detail: "\(rendered.files.count) templates rendered with every variable defined, destinations under /etc")
        return try await buildSmallPackage(spec, files: files, source: source, version: version, gates: [checked],
                                           summary: "\(rendered.files.count) conffiles, \(config.reloads.isEmpty ? "no reloads" : "reloads " + config.reloads.map(\.description).joined(separator: ", "))")
    }

    /// Builds the manifest package of a server role on the build host (Architecture all, only its
    /// documentation, `Depends` on the pinned packages and the extra ones), through the same gates.
    /// - Parameters:
    ///   - branch: the branch recorded in the package (its changelog and description); nil for the checked-out one.
    ///   - version: an explicit version; nil for the next build number of this package.
    /// - Returns: the local path of the .deb.
    /// - Throws: ``FabError`` for bad input (before anything runs remotely) or a gate that rejected
    ///   the package; ``CommandFailure`` when a step on the build host fails.
    @discardableResult
    public func buildManifestPackage(_ manifest: ManifestPackage, branch: String? = nil, version: String? = nil) async throws -> String {
        try manifest.validate(prefix: settings.packagePrefix)
        let source = try DeploymentSource.resolve(projectDirectory: projectDirectory, branch: branch)
        let package = manifest.packageName(prefix: settings.packagePrefix)
        var spec = PackageSpec(name: package, version: "0", maintainer: settings.maintainer,
                               synopsis: manifest.synopsis ?? "Server role \(manifest.role) of \(app), built by fab", stagingDirectory: "")
        spec.depends = manifest.depends
        spec.section = "metapackages"
        spec.extraFields[Self.contentKeyField] = try FileDigest.sha256(bytes: Array((package + "\n" + manifest.depends.joined(separator: "\n") + "\n" + spec.synopsis).utf8))
        say("localhost", "\(package): Depends: \(manifest.depends.joined(separator: ", "))")
        let checked = ArtifactManifest.Gate(name: "pin check", passed: true, tool: "fab",
                                            detail: "\(manifest.pins.count) packages pinned at exact versions")
        return try await buildSmallPackage(spec, files: [], source: source, version: version, gates: [checked],
                                           summary: "depends on \(manifest.depends.joined(separator: ", "))")
    }

    /// The control field that records a config or manifest package's content key.
    static let contentKeyField = "Fab-Content-Key"

    /// The newest build of `package` in ``artifactDirectory`` when it passed its gates and records
    /// `contentKey`, or nil (an older build with that key is not reused: it would go back past a newer one).
    func existingBuild(package: String, contentKey: String) -> String? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: artifactDirectory)) ?? []
        let newest = names.compactMap { name -> (DebianVersion, String)? in
            guard name.hasSuffix(".deb"), let version = DeploymentCommands.versions(fromArchiveListing: name, package: package).first,
                  let parsed = try? DebianVersion(version) else { return nil }
            return (parsed, artifactDirectory + "/" + name)
        }.max { $0.0 < $1.0 }
        guard let path = newest?.1, let deb = try? DebPackage(path: path), deb.control[Self.contentKeyField] == contentKey,
              (try? ArtifactManifest.verify(deb: path, package: package, version: deb.control.version ?? "",
                                            architecture: deb.control.architecture ?? "")) != nil else { return nil }
        return path
    }

    /// A file a small package installs: its path, content and mode.
    struct SmallPackageFile: Sendable {
        var path: String
        var content: String
        var mode: Int
    }

    /// Builds a package whose files fab writes itself (config, manifest): on the build host, in a
    /// private build directory, with the documentation Debian expects, through the format and the gates.
    private func buildSmallPackage(_ spec: PackageSpec, files: [SmallPackageFile], source: DeploymentSource,
                                   version: String?, gates: [ArtifactManifest.Gate], summary: String) async throws -> String {
        var spec = spec
        let package = spec.name
        if let version {
            do { _ = try DebianVersion(version) } catch { throw FabError(.invalidArgument, "\(package): \(error.description)") }
        }
        if version == nil, let key = spec.extraFields[Self.contentKeyField], let existing = existingBuild(package: package, contentKey: key) {
            say("localhost", "\(package) is unchanged since \((existing as NSString).lastPathComponent) (same \(Self.contentKeyField)): nothing to build, using it")
            return existing
        }
        let build = fab.on(settings.buildHost)
        let q = build.quote
        var timings = BuildTimings()
        var mark = ContinuousClock.now
        let home = try await read(build, "printf '%s' \"$HOME\"", planned: "/home/build")
        guard home.hasPrefix("/") else { throw FabError(.aborted, "[\(settings.buildHost)] the login user's home '\(home)' is not an absolute path.") }
        let chosen: String
        if let version { chosen = version } else { chosen = try await nextVersion(build: build, package: package) }
        try await refuseExisting(version: chosen, package: package)
        spec.version = chosen
        spec.branch = source.branch
        spec.commit = source.shortCommit
        // Every file, and the archive's members, dated from the commit: a rebuild gives the same bytes.
        spec.sourceDateEpoch = source.commitTime
        say(settings.buildHost, "\(package) version \(chosen)")
        mark = timings.add("version", since: mark)

        let directory = "\(home)/\(settings.buildDirectory)/\(app)/\(Self.timestamp())-\(package)-\(source.shortCommit)"
        let staging = directory + "/pkg"
        spec.stagingDirectory = staging
        do {
            // The build directory is private: a secret's file is written before its mode is set.
            try await build.run("mkdir -p \(q(staging)) && chmod 700 \(q(directory))")
            try await build.hide(.running) {
                for file in files {
                    let path = staging + file.path
                    let parent = (path as NSString).deletingLastPathComponent
                    try await build.run("mkdir -p \(q(parent)) && cat > \(q(path)) && chmod \(String(file.mode, radix: 8)) \(q(path))", stdin: file.content)
                }
                let doc = staging + "/usr/share/doc/" + package
                try await build.run("mkdir -p \(q(doc)) && cat > \(q(doc + "/copyright"))",
                                    stdin: DeploymentCommands.copyright(package: package, app: app, maintainer: settings.maintainer))
                try await build.run("gzip -9n > \(q(doc + "/changelog.gz"))",
                                    stdin: DeploymentCommands.changelog(package: package, version: chosen, branch: source.branch, commit: source.shortCommit,
                                                                        maintainer: settings.maintainer,
                                                                        date: Date(timeIntervalSince1970: TimeInterval(source.commitTime))))
                // Directories 0755 (a config directory may be new on the server), file modes as given,
                // the documentation 0644 whatever the build user's umask.
                try await build.run("find \(q(staging)) -type d -exec chmod 0755 {} + && chmod 0644 \(q(doc + "/copyright")) \(q(doc + "/changelog.gz"))")
            }
            let sizes = try await read(build, ControlFileBuilder.installedSizeCommand(directory: staging), planned: "")
            spec.installedSize = try ControlFileBuilder.installedSize(parsingFindOutput: sizes)
            let format = DebFormat(compressionLevel: settings.compressionLevel)
            try await format.writeMetadata(spec, on: build)
            mark = timings.add("package files", since: mark)
            let remote = try await format.pack(spec, into: directory, on: build)
            let remoteHash = try await read(build, DeploymentCommands.sha256(remote), planned: "")
            let fileName = format.fileName(for: spec)
            say(settings.buildHost, dryRun ? "dry run: dpkg-deb would make \(fileName) (\(summary))" : "built \(fileName): \(summary)")
            mark = timings.add("dpkg-deb", since: mark)
            if dryRun {
                if !settings.keepBuildDirectory { try await build.run("rm -rf -- \(q(directory))") }
                return artifactDirectory + "/" + fileName
            }
            let local = try await fetchThroughGates(
                BuiltPackage(remotePath: remote, remoteSHA256: remoteHash, fileName: fileName, version: chosen, architecture: spec.architecture,
                             branch: source.branch, commit: source.shortCommit, auditedFiles: 0, package: package, buildGates: gates),
                timings: &timings, mark: &mark)
            if !settings.keepBuildDirectory {
                try await build.run("rm -rf -- \(q(directory))")
                timings.add("cleanup", since: mark)
            }
            if let family = fab.state[Self.familyTimingsKey] {
                // Part of a family: its steps go into the family's timings (its summary says them once).
                for step in timings.steps { family.value.add("parts/" + step.name, seconds: step.seconds) }
            } else {
                say(settings.buildHost, timings.summary)
            }
            return local
        } catch {
            // Only this package's directory goes: an app build prepared in the same run stays prepared.
            if settings.keepBuildDirectory {
                say(settings.buildHost, "kept the failed build's directory \(directory) (keepBuildDirectory)")
            } else if (try? await build.hide([.running]) { try await build.run("rm -rf -- \(q(directory))") }) == nil {
                warn(settings.buildHost, "could not remove the failed build's directory \(directory); remove it by hand.")
            }
            throw error
        }
    }
}
