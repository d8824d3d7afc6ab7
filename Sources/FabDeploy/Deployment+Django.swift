import FabCore
import Foundation

/// When a ``Deployment/BuildStep`` runs inside ``Deployment/buildDeb()``.
enum BuildPhase: Sendable, Equatable {
    /// In the staged code (`app/`), before the virtualenv exists: sub-apps, LESS, cache busting, CSS.
    case source
    /// After the requirements are installed, before the project is: `compilemessages`, so the `.mo`
    /// files are installed with the project.
    case virtualenv
    /// After the project is installed, before relocation and its audit: `collectstatic`.
    case installed
}

/// Where a step runs: the build host and the staged paths of this build.
struct BuildContext: Sendable {
    let build: Fab
    /// The staged code: `…/pkg/INSTALL_ROOT/app`.
    let appDirectory: String
    /// The staged virtualenv: `…/pkg/INSTALL_ROOT/venv`.
    let venv: String
    /// The staged install root: `…/pkg/INSTALL_ROOT`.
    let root: String
    /// The package version being built.
    let version: String
    /// This build's directory on the build host.
    let buildDirectory: String
}

/// A build step added by a kit function such as ``Deployment/compileLess(_:to:)``: its apt needs
/// (installed with the build dependencies) and what it runs.
struct BuildStep: Sendable {
    let phase: BuildPhase
    let packages: [String]
    let run: @Sendable (Deployment, BuildContext) async throws -> Void

    /// A step that runs one shell command made from the context.
    static func command(_ phase: BuildPhase, packages: [String] = [],
                        _ make: @escaping @Sendable (BuildContext) throws -> String) -> BuildStep {
        BuildStep(phase: phase, packages: packages) { _, context in
            try await context.build.run(try make(context))
        }
    }
}

/// Django (and other web-app) build steps, run on the build host in the staged tree before the
/// package is made; each adds what it needs to the build dependencies. Add them before
/// ``prepareApp(branch:version:)``; they run, in the order added within each phase, in ``buildDeb()``:
///
/// ```swift
/// var deploy = try await Deployment(fab, app: "django")
/// deploy.compileLess("hello/static/hello/less/site.less", to: "hello/static/hello/css/site.css")
/// try deploy.bustCaches(in: ["hello/templates", "hello/static"])
/// deploy.compressCSS(in: ["hello/static"])
/// deploy.compileMessages()
/// try deploy.collectStatic(settingsModule: "vrmdsite.settings", rootVariable: "VRMD_DJANGO_STATIC_ROOT")
/// try await deploy.prepareApp(branch: branch)
/// try await deploy.buildDeb()
/// ```
///
/// Paths are relative to the project directory (the staged `app/`); every value is quoted.
extension Deployment {
    /// Adds the directory `path` of `branch` into the app at `into` (default: `path`), before the
    /// other steps. A local `repo` (a directory in a git work tree; default: the project's own
    /// repository, with `path` relative to the project) is streamed like the main tree; a `repo` URL
    /// (`https://…`, `ssh://…`, `git@host:…`, `file://…`) is cloned on the build host (adds `git`).
    /// - Throws: ``FabError`` `.invalidArgument` for a path that leaves the app, or (for a local
    ///   repository) a branch or path that does not exist, before anything runs.
    public mutating func addSubApp(repo: String? = nil, branch: String, path: String, into: String? = nil) throws {
        let destination = into ?? (path as NSString).lastPathComponent
        try Self.checkRelative(path, what: "sub-app path")
        try Self.checkRelative(destination, what: "sub-app destination")
        if let repo, Self.isURL(repo) {
            let name = destination
            buildSteps.append(BuildStep(phase: .source, packages: ["git", "ca-certificates"]) { deployment, context in
                let command = DeploymentSource.cloneCommand(url: repo, branch: branch, commit: nil, prefix: path,
                                                            checkout: context.buildDirectory + "/subapp-" + UUID().uuidString.prefix(8),
                                                            destination: context.appDirectory + "/" + name)
                let commit = try await context.build.hide([.stdout]) { try await context.build.run(command).output }
                deployment.say(deployment.settings.buildHost, "sub-app \(name): \(path) on \(branch) of \(repo) at \(commit.prefix(7)) (cloned)")
            })
            return
        }
        let source: DeploymentSource
        if let repo {
            source = try DeploymentSource.resolve(repository: Self.absolute(repo, base: projectDirectory), prefix: path, branch: branch)
        } else {
            let project = try DeploymentSource.resolve(projectDirectory: projectDirectory, branch: nil)
            source = try DeploymentSource.resolve(repository: projectDirectory,
                                                  prefix: project.prefix.isEmpty ? path : project.prefix + "/" + path, branch: branch)
        }
        let excludes = settings.excludes
        buildSteps.append(BuildStep(phase: .source, packages: []) { deployment, context in
            let q = context.build.quote
            let tarball = NSTemporaryDirectory() + "fab-subapp-\(UUID().uuidString.prefix(8)).tar"
            defer { try? FileManager.default.removeItem(atPath: tarball) }
            let files = try source.writeTar(to: tarball, excluding: excludes)
            let remote = context.buildDirectory + "/subapp-" + UUID().uuidString.prefix(8) + ".tar"
            let target = context.appDirectory + "/" + destination
            try await context.build.put(tarball, remote, mode: 0o600)
            try await context.build.run("mkdir -p \(q(target)) && tar -x -f \(q(remote)) -C \(q(target)) && rm -f \(q(remote))")
            deployment.say(deployment.settings.buildHost, "sub-app \(destination): \(source.prefix) on \(source.branch) at \(source.shortCommit), \(files) files")
        })
    }

    /// Compiles a LESS stylesheet to CSS with `lessc` (Debian `node-less`).
    public mutating func compileLess(_ input: String, to output: String) {
        buildSteps.append(.command(.source, packages: ["node-less"]) { context in
            DjangoSteps.compileLess(input: context.appDirectory + "/" + input, output: context.appDirectory + "/" + output)
        })
    }

    /// Replaces `token` with the package version in every text file under the directories.
    /// - Throws: ``FabError`` for an empty token or no directory.
    public mutating func bustCaches(in directories: [String], token: String = DjangoSteps.cacheBustToken) throws {
        // Checked now, with a valid stand-in version, so a mistake fails before anything runs.
        do { _ = try DjangoSteps.replaceCacheBustToken(directories: directories, version: "1", token: token) } catch {
            throw FabError(.invalidArgument, error.description)
        }
        let python = settings.python
        buildSteps.append(.command(.source) { context in
            try DjangoSteps.replaceCacheBustToken(directories: directories.map { context.appDirectory + "/" + $0 },
                                                  version: context.version, token: token, python: python)
        })
    }

    /// Minifies every `.css` (not `*.min.css`) under the directories with rcssmin (Debian `python3-rcssmin`).
    public mutating func compressCSS(in directories: [String]) {
        buildSteps.append(.command(.source, packages: ["python3-rcssmin"]) { context in
            DjangoSteps.compressCSS(directories: directories.map { context.appDirectory + "/" + $0 })
        })
    }

    /// Compiles the `.po` translations to `.mo` with Django's `compilemessages` (Debian `gettext`),
    /// after the requirements and before the project is installed, so the `.mo` files are installed too.
    public mutating func compileMessages() {
        buildSteps.append(.command(.virtualenv, packages: ["gettext"]) { context in
            DjangoSteps.compileMessages(projectDirectory: context.appDirectory, venv: context.venv)
        })
    }

    /// Runs `collectstatic` into `static/` under the install root (`/vrmd/APP/static` on servers),
    /// telling the settings where with the environment variable `rootVariable`.
    /// - Throws: ``FabError`` for a settings module or variable name that is not valid.
    public mutating func collectStatic(settingsModule: String, rootVariable: String, directory: String = "static",
                                       ignore: [String] = ["*.less"]) throws {
        try Self.checkRelative(directory, what: "static directory")
        do { _ = try DjangoSteps.collectStatic(venv: "/v", settingsModule: settingsModule, environment: [rootVariable: "/s"], ignore: ignore) } catch {
            throw FabError(.invalidArgument, error.description)
        }
        buildSteps.append(.command(.installed) { context in
            try DjangoSteps.collectStatic(venv: context.venv, settingsModule: settingsModule,
                                          environment: [rootVariable: context.root + "/" + directory], ignore: ignore)
        })
    }

    // MARK: - Used by Deployment

    /// Whether the build host needs git (a cloned source or sub-app).
    var needsGit: Bool {
        if case .clone = settings.source { return true }
        return false
    }

    /// The apt packages the added steps need (and ca-certificates for an https clone).
    var stepPackages: [String] {
        var packages: [String] = []
        if case let .clone(url) = settings.source, url.hasPrefix("https:") { packages.append("ca-certificates") }
        for package in buildSteps.flatMap(\.packages) where !packages.contains(package) { packages.append(package) }
        return packages
    }

    /// Runs the steps of one phase, in the order they were added.
    func runBuildSteps(_ phase: BuildPhase, _ context: BuildContext) async throws {
        let steps = buildSteps.filter { $0.phase == phase }
        guard !steps.isEmpty else { return }
        let started = ContinuousClock.now
        for step in steps { try await step.run(self, context) }
        say(settings.buildHost, "\(steps.count) \(phase) step(s) done in \(Self.seconds(since: started))")
    }

    static func isURL(_ value: String) -> Bool {
        value.contains("://") || (value.contains("@") && value.contains(":"))
    }

    static func checkRelative(_ path: String, what: String) throws {
        let parts = path.split(separator: "/")
        guard !path.isEmpty, !path.hasPrefix("/"), !parts.contains(".."), !parts.isEmpty else {
            throw FabError(.invalidArgument, "the \(what) '\(path)' must be a relative path inside the project.")
        }
    }
}
