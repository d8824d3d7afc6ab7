import FabArchive
import FabCore
import Foundation

/// The package family in one call: the virtualenv package (built only when its inputs changed), the
/// app package pinned to it, the parts (config and manifest packages), and their publication in
/// dependency order, pushing only what the repository does not have.
///
/// ```swift
/// func deb(_ fab: Fab, branch: String? = nil) async throws {
///     let deploy = try await Deployment(fab, app: "whois", buildDeps: ["libpq-dev"], runDeps: ["libpq5"])
///     let family = try await deploy.buildFamily(branch: branch)
///     fab.say("\(family.app.pinned) on \(family.venv.pinned)")
/// }
/// ```
///
/// Each part is usable alone: after ``prepareApp(branch:version:)``, ``buildVirtualenvPackage()``
/// builds or finds the virtualenv package, ``buildAppPackage(venv:dependsOnConfig:)`` builds the app
/// package on it, and ``pushFamily(_:)`` publishes what is new.
extension Deployment {
    /// The virtualenv package's name: `PREFIX-APP-venv`.
    public var venvPackageName: String { packageName + "-venv" }

    /// The virtual package the app depends on and every config package provides: `APP-config`.
    public var configVirtualPackage: String { app + "-config" }

    /// The control field that carries a virtualenv package's input key.
    public static let venvKeyField = "Fab-Venv-Key"

    /// Where the app package installs the project (without its dependencies): `INSTALL_ROOT/project`.
    public var projectPath: String { installRoot + "/project" }

    /// The virtualenv package's steps: `venv`, `pip` (the requirements only), `strip`, `relocate`,
    /// `shlibdeps`, `debian-files`, `control`, `pack`, `gates`.
    static var venvPipeline: BuildPipeline {
        BuildPipeline(unchecked: defaultPipeline.steps.filter { ["venv", "strip", "relocate", "shlibdeps", "debian-files", "control", "pack", "gates"].contains($0.name) }
            .flatMap { step -> [BuildPipeline.Step] in
                step.name == "venv" ? [step, .init("pip") { state in let deployment = state.deployment; try await deployment.installRequirementsOnly(&state) }] : [step]
            })
    }

    /// The app package's steps: `code`, `project` (the project without its dependencies, its `.pth`
    /// and console scripts), `strip`, `relocate`, `shlibdeps`, `debian-files`, `control`, `pack`, `gates`.
    static var appPipeline: BuildPipeline {
        BuildPipeline(unchecked: defaultPipeline.steps.filter { ["code", "strip", "relocate", "shlibdeps", "debian-files", "control", "pack", "gates"].contains($0.name) }
            .flatMap { step -> [BuildPipeline.Step] in
                step.name == "code" ? [step, .init("project") { state in let deployment = state.deployment; try await deployment.installProject(&state) }] : [step]
            })
    }

    /// Builds the family: ``prepareApp(branch:version:)``, then the virtualenv package (or finds it by
    /// its input key), the app package pinned to it, each of `parts`, and, with `push`, publishes in
    /// dependency order what the repository does not have yet (a reused virtualenv package that the
    /// repository serves is not uploaded again).
    /// - Parameters:
    ///   - branch: the branch to build; nil for the checked-out one.
    ///   - version: the app package's version; nil for the version file, else the next build number.
    ///   - parts: config and manifest packages, built after the app in this order.
    ///   - dependsOnConfig: whether the app depends on ``configVirtualPackage``; nil for "when `parts`
    ///     is not empty".
    ///   - push: publish what was built (or found only locally) after every package passed its gates.
    /// - Returns: every member, with where it came from and whether it was pushed.
    /// - Throws: ``FabError`` for bad input (before anything runs remotely), a rejected package, or a
    ///   refused push; ``CommandFailure`` when a step fails. A failed build removes its build directory
    ///   and prints the step timings, as ``buildDeb()`` does; nothing is pushed then.
    @discardableResult
    public func buildFamily(branch: String? = nil, version: String? = nil, parts: [any FamilyPart] = [],
                            dependsOnConfig: Bool? = nil, push: Bool = true) async throws -> PackageFamily {
        try checkFamilySteps()
        let familyStarted = Date()
        try await prepareApp(branch: branch, version: version)
        var family = try await withPreparedBuild("buildFamily()") { prepared, timings in
            // Every package built here waits for the family's verdict (FamilyGates): all kept, or none.
            let gates = FamilyGates(root: prepared.buildDirectory + "/lint")
            fab.state[Self.familyGatesKey] = gates
            fab.state[Self.familyTimingsKey] = timings
            defer {
                fab.state[Self.familyGatesKey] = nil
                fab.state[Self.familyTimingsKey] = nil
            }
            do {
                try await prestartLint(gates)
                let venv = try await virtualenvPackage(prepared, timings: timings)
                let app = try await appPackage(prepared, venv: venv, dependsOnConfig: dependsOnConfig ?? !parts.isEmpty,
                                               lastInBuildDirectory: parts.isEmpty, timings: timings)
                var context = FamilyContext(deployment: self, venv: venv, app: app, parts: [], prepared: prepared, timings: timings,
                                            started: familyStarted)
                for part in parts {
                    let mark = ContinuousClock.now, counted = timings.value.total
                    let member = try await part.build(in: context)
                    // What the part's own timings (merged under parts/) do not cover: rendering, looking for a reusable build.
                    timings.value.add("parts/other", seconds: max(0, Self.seconds(from: mark) - (timings.value.total - counted)))
                    context.parts.append(member)
                }
                let placed = try await judgeFamily(gates, buildDirectory: prepared.buildDirectory, timings: timings)
                let family = PackageFamily(venv: venv, app: app, parts: context.parts).placing(placed)
                if family.app.origin == .built, let app = family.app.artifact { fab.state[Self.built] = app }
                return family
            } catch {
                await abandonFamilyGates(gates)
                throw error
            }
        }
        for member in family.members {
            say("localhost", "\(member.package) \(member.version): \(member.origin == .built ? "built" : member.origin == .localArtifact ? "reused from \(member.artifact ?? artifactDirectory)" : "reused from the repository")")
        }
        if push { family = try await pushFamily(family) }
        return family
    }

    /// Runs `body` on the build ``prepareApp(branch:version:)`` prepared, with the build's step
    /// timings; then removes the build directory (unless ``Settings/keepBuildDirectory``) and prints
    /// the timings. When `body` or the removal fails, abandons the build as ``buildDeb()`` does (the
    /// timings up to the failure, the directory removed) and rethrows. Either way the prepared build
    /// is used up.
    /// - Parameters:
    ///   - caller: the public call, for the error when nothing was prepared.
    ///   - body: builds the packages; gets the prepared build and the timings its steps add to.
    /// - Throws: ``FabError`` `.invalidArgument` when prepareApp did not run; whatever `body` throws.
    func withPreparedBuild<T>(_ caller: String, _ body: (PreparedBuild, TimingsBox) async throws -> T) async throws -> T {
        guard let prepared = fab.state[Self.prepared] else {
            throw FabError(.invalidArgument, "\(caller) needs a build prepared by prepareApp(), in the same task or run.")
        }
        let timings = TimingsBox(fab.state[Self.timingsKey] ?? BuildTimings())
        let started = ContinuousClock.now, before = timings.value.total
        let result: T
        do {
            result = try await body(prepared, timings)
            let mark = ContinuousClock.now
            if !settings.keepBuildDirectory {
                let build = fab.on(settings.buildHost)
                try await build.run("rm -rf -- \(build.quote(prepared.buildDirectory))")
            }
            timings.value.add("cleanup", since: mark)
        } catch {
            // The steps that finished are in the timings; the rest of the time went to the one that failed.
            await abandonBuild(directory: prepared.buildDirectory, timings: timings.value,
                               failedAfter: Self.seconds(from: started) - (timings.value.total - before))
            throw error
        }
        fab.state[Self.timingsKey] = nil
        fab.state[Self.prepared] = nil
        say(settings.buildHost, timings.value.summary)
        return result
    }

    /// Refuses build steps that need the whole virtualenv (compilemessages, collectstatic): the app
    /// package of a family is built without it.
    func checkFamilySteps() throws {
        if let step = buildSteps.first(where: { $0.phase != .source }) {
            throw FabError(.invalidArgument, "a build step of the \(step.phase) phase (compileMessages or collectStatic) needs the whole virtualenv, which a family's app package is built without; build this app as one package with buildDeb(), or run the step in the app's postinst.")
        }
    }

    // MARK: - The virtualenv package

    /// The virtualenv package of the prepared build: found by its input key among the local artifacts
    /// or in the repository, else built. Needs ``prepareApp(branch:version:)`` first.
    /// - Throws: ``FabError`` when prepareApp did not run or a gate rejects the package.
    public func buildVirtualenvPackage() async throws -> FamilyMember {
        guard let prepared = fab.state[Self.prepared] else {
            throw FabError(.invalidArgument, "buildVirtualenvPackage() needs prepareApp() first, in the same task or run.")
        }
        let timings = TimingsBox(fab.state[Self.timingsKey] ?? BuildTimings())
        defer { fab.state[Self.timingsKey] = timings.value }
        return try await virtualenvPackage(prepared, timings: timings)
    }

    func virtualenvPackage(_ prepared: PreparedBuild, timings: TimingsBox) async throws -> FamilyMember {
        var mark = ContinuousClock.now
        let inputs = try await virtualenvInputs(prepared)
        let key = inputs.key
        mark = timings.value.add("venv key", since: mark)
        if let found = try await findVirtualenvPackage(key: key) {
            timings.value.add("venv lookup", since: mark)
            say(settings.buildHost, "virtualenv inputs unchanged (key \(key.prefix(12))): reusing \(found.package) \(found.version) from \(found.origin == .repository ? "the repository" : found.artifact ?? artifactDirectory); not built")
            return found
        }
        mark = timings.value.add("venv lookup", since: mark)
        let build = fab.on(settings.buildHost)
        let version = try await nextVersion(build: build, package: venvPackageName)
        try await refuseExisting(version: version, package: venvPackageName)
        say(settings.buildHost, "virtualenv inputs changed (key \(key.prefix(12))): building \(venvPackageName) \(version)")
        if let gates = fab.state[Self.familyGatesKey] { try await prestartLint(gates, for: venvPackageName) }
        var spec = PackageSpec(name: venvPackageName, version: version, maintainer: settings.maintainer,
                               synopsis: "Python environment of \(app) built by fab", stagingDirectory: prepared.buildDirectory + "/venv-pkg")
        spec.extraFields[Self.venvKeyField] = key
        var state = makeState(prepared, package: spec, shipsCode: false)
        state.timingPrefix = "venv/"
        state.lastInBuildDirectory = false
        // Its lintian (seconds on thousands of files) overlaps the rest of a family's build.
        state.lintsAlone = true
        state.timings = timings.value
        state.mark = mark
        defer { timings.value = state.timings }
        try await fab.withEnv(DeploymentCommands.reproducibleEnvironment(sourceDateEpoch: prepared.source.commitTime)) {
            try await Self.venvPipeline.run(&state)
        }
        guard let artifact = state.artifact else { throw FabError(.aborted, "\(venvPackageName) was built but its gates kept no package.") }
        return FamilyMember(package: venvPackageName, version: version, architecture: state.package.architecture, artifact: artifact, origin: .built)
    }

    /// The virtualenv's inputs: the committed requirements, and what the build host says about its
    /// interpreter, architecture and build dependencies.
    func virtualenvInputs(_ prepared: PreparedBuild) async throws -> VirtualenvInputs {
        let requirements = try prepared.source.fileContents("requirements.txt") ?? ""
        let build = fab.on(settings.buildHost)
        let packages = Array(Set(DeploymentCommands.kitPackages(python: settings.python, needsGit: false) + buildDeps)).sorted()
        let probe = try await read(build, VirtualenvInputs.probeCommand(python: settings.python, packages: packages),
                                   planned: "Python (dry run)\namd64\nnone")
        let found = try VirtualenvInputs.parseProbe(probe)
        let relocation = (try? FileDigest.sha256(bytes: Array((RelocateScript.source + ProjectInstall.script).utf8))) ?? ""
        return VirtualenvInputs(requirements: requirements, interpreter: found.interpreter, buildPackages: found.packages,
                                architecture: found.architecture, installPath: settings.layout.virtualenvPath(installRoot: installRoot),
                                relocation: String(relocation.prefix(16)),
                                installer: settings.installer.tool == .uv ? settings.installer.description
                                    : "pip (ensurepip \(found.ensurepip))\(settings.upgradePip ? " upgraded to the index's newest" : "")",
                                indexURLs: (settings.indexURL.map { [$0] } ?? []) + settings.extraIndexURLs, upgradePip: settings.upgradePip)
    }

    /// The virtualenv package with input key `key`: the one the repository serves, else the newest
    /// passed build of it in ``artifactDirectory`` (not older than what the repository serves).
    func findVirtualenvPackage(key: String) async throws -> FamilyMember? {
        let local = localVirtualenvPackages(key: key)
        var served: (version: String, key: String)?
        if case let .reprepro(base, codename, _) = settings.repository {
            let repo = fab.on(settings.repositoryHost)
            do {
                let output = try await read(repo, Self.repreproKeyList(base: base, codename: codename, package: venvPackageName), planned: "")
                served = output.split(whereSeparator: \.isNewline).compactMap { line -> (String, String)? in
                    let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
                    return fields.count == 2 ? (fields[0], fields[1]) : nil
                }.first
            } catch {
                warn(settings.repositoryHost, "cannot read the repository's \(venvPackageName) (\(error)); looking for a reusable one among the local artifacts only.")
            }
        }
        if let served, served.key == key {
            let artifact = local.first { (try? DebianVersion($0.version)) == (try? DebianVersion(served.version)) }?.path
            return FamilyMember(package: venvPackageName, version: served.version, architecture: local.first?.architecture ?? "",
                                artifact: artifact, origin: .repository)
        }
        let servedVersion = served.flatMap { try? DebianVersion($0.version) }
        guard let newest = local.first(where: { candidate in
            guard let servedVersion else { return true }
            return (try? DebianVersion(candidate.version)).map { $0 > servedVersion } ?? false
        }) else { return nil }
        return FamilyMember(package: venvPackageName, version: newest.version, architecture: newest.architecture, artifact: newest.path, origin: .localArtifact)
    }

    /// The passed virtualenv packages with input key `key` in ``artifactDirectory``, newest first.
    func localVirtualenvPackages(key: String) -> [(version: String, architecture: String, path: String)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: artifactDirectory)) ?? []
        var found: [(DebianVersion, String, String, String)] = []
        for name in names where name.hasPrefix(venvPackageName + "_") && name.hasSuffix(".deb") {
            let path = artifactDirectory + "/" + name
            guard let deb = try? DebPackage(path: path), deb.control.package == venvPackageName, deb.control[Self.venvKeyField] == key,
                  let version = deb.control.version, let architecture = deb.control.architecture, let parsed = try? DebianVersion(version),
                  (try? ArtifactManifest.verify(deb: path, package: venvPackageName, version: version, architecture: architecture)) != nil
            else { continue }
            found.append((parsed, version, architecture, path))
        }
        return found.sorted { $0.0 > $1.0 }.map { ($0.1, $0.2, $0.3) }
    }

    /// Lists the version and input key of the package a reprepro distribution serves, tab-separated.
    static func repreproKeyList(base: String, codename: String, package: String) -> String {
        let q = LocalShell.quote
        return "reprepro -b \(q(base)) --list-format '${version}\\t${\(venvKeyField)}\\n' list \(q(codename)) \(q(package))"
    }

    // MARK: - The app package

    /// Builds the app package of the prepared build on `venv`: its code, the project installed without
    /// its dependencies (see ``ProjectInstall``), the project's maintainer scripts (`debian/postinst`,
    /// `prerm`, ...), `Depends: VENV (= V)`, and with `dependsOnConfig`
    /// the virtual ``configVirtualPackage``. Needs ``prepareApp(branch:version:)`` first; removes the
    /// build directory afterwards unless ``Settings/keepBuildDirectory``.
    /// - Throws: ``FabError`` when prepareApp did not run or a gate rejects the package.
    public func buildAppPackage(venv: FamilyMember, dependsOnConfig: Bool = false) async throws -> FamilyMember {
        try checkFamilySteps()
        return try await withPreparedBuild("buildAppPackage(venv:)") { prepared, timings in
            try await appPackage(prepared, venv: venv, dependsOnConfig: dependsOnConfig, timings: timings)
        }
    }

    func appPackage(_ prepared: PreparedBuild, venv: FamilyMember, dependsOnConfig: Bool, lastInBuildDirectory: Bool = true,
                    timings: TimingsBox) async throws -> FamilyMember {
        var spec = PackageSpec(name: packageName, version: prepared.version, maintainer: settings.maintainer,
                               synopsis: settings.synopsis ?? ControlFileBuilder.defaultSynopsis(package: packageName, app: app),
                               stagingDirectory: prepared.buildDirectory + "/pkg")
        spec.depends = runDeps + [venv.pinned] + (dependsOnConfig ? [configVirtualPackage] : [])
        // The project's maintainer scripts (debian/postinst, prerm, ...) start and stop the service:
        // they belong to the package that ships the code, as in the single package.
        spec.maintainerScriptsDirectory = prepared.buildDirectory + "/src/debian"
        var state = makeState(prepared, package: spec, shipsCode: true)
        state.providedPaths = [settings.layout.virtualenvPath(installRoot: installRoot)]
        state.lastInBuildDirectory = lastInBuildDirectory
        // Its lintian runs with the parts', in one process: a process of its own overlapping the parts'
        // builds was slower on the loaded 2-core machine (lintian wait 4.3-5.2 s against 3.7-4.1 s).
        state.timings = timings.value
        state.mark = .now
        defer { timings.value = state.timings }
        try await fab.withEnv(DeploymentCommands.reproducibleEnvironment(sourceDateEpoch: prepared.source.commitTime)) {
            try await Self.appPipeline.run(&state)
        }
        guard let artifact = state.artifact else { throw FabError(.aborted, "\(packageName) was built but its gates kept no package.") }
        fab.state[Self.built] = artifact
        return FamilyMember(package: packageName, version: prepared.version, architecture: state.package.architecture, artifact: artifact, origin: .built)
    }

    // MARK: - Publishing

    /// Publishes the newest local app package and the virtualenv package it is pinned to, each only
    /// when the repository does not have it: for a `push` task after a `deb` task that called
    /// ``buildFamily(branch:version:parts:dependsOnConfig:push:)`` with `push: false`.
    /// - Returns: the two members, with ``FamilyMember/pushed`` set.
    /// - Throws: ``FabError`` when there is no app package, it is not pinned to a virtualenv package,
    ///   that version is neither local nor in the repository, or a push is refused.
    @discardableResult
    public func pushFamily() async throws -> PackageFamily {
        let appPath = try latestArtifact()
        let deb = try DebPackage(path: appPath)
        guard let appVersion = deb.control.version, let architecture = deb.control.architecture else {
            throw FabError(.invalidArgument, "\(appPath) has no version or architecture in its control file; build it again.")
        }
        let pin = (deb.control["Depends"] ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            .first { $0.hasPrefix(venvPackageName + " (= ") && $0.hasSuffix(")") }
        guard let pin else {
            throw FabError(.invalidArgument, "\(appPath) does not depend on \(venvPackageName) at a pinned version, so it is not a family's app package; push it with pushToRepo().")
        }
        let venvVersion = String(pin.dropFirst(venvPackageName.count + 4).dropLast())
        let local = LocalArtifacts.files(package: venvPackageName, version: venvVersion, in: artifactDirectory)
            .first { !$0.contains("/" + LocalArtifacts.rejectedFolder + "/") }
        let venv = FamilyMember(package: venvPackageName, version: venvVersion, architecture: local.flatMap { try? DebPackage(path: $0).control.architecture } ?? "",
                                artifact: local, origin: .localArtifact)
        let app = FamilyMember(package: packageName, version: appVersion, architecture: architecture, artifact: appPath, origin: .built)
        return try await pushFamily(PackageFamily(venv: venv, app: app))
    }

    /// Publishes the members the repository does not have yet, in dependency order (the virtualenv,
    /// the app, then the parts), each through the same checks as ``pushToRepo(deb:)``. A member the
    /// repository serves or keeps at its version is skipped.
    /// - Returns: the family with ``FamilyMember/pushed`` set.
    /// - Throws: ``FabError`` when a member to push has no local artifact, or a push is refused.
    @discardableResult
    public func pushFamily(_ family: PackageFamily) async throws -> PackageFamily {
        var family = family
        var members = family.members
        for index in members.indices {
            let member = members[index]
            if member.origin == .repository { continue }
            let known = try await repositoryVersions(quietly: false, package: member.package)
            if known.contains(where: { (try? DebianVersion($0)) == (try? DebianVersion(member.version)) }) {
                say(settings.repositoryHost, "\(member.package) \(member.version) is already in the repository: not pushed")
                continue
            }
            guard let artifact = member.artifact else {
                throw FabError(.invalidArgument, "\(member.package) \(member.version) is neither in the repository nor in \(artifactDirectory); build it again.")
            }
            try await publish(deb: artifact, package: member.package)
            members[index].pushed = true
        }
        family.venv = members[0]
        family.app = members[1]
        family.parts = Array(members.dropFirst(2))
        return family
    }
}
