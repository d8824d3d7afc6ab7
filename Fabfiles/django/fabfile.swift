// The Django example's fabfile, written with fab's deploy kit (FabDeploy). From the repository root:
//   fab -F ssh_config -f Fabfiles/django/fabfile.swift deb push          build on `buildvm`, publish on `repo`
//   fab ... deb:clone=https://git.example/vrmd.git                       the build VM clones instead
//   fab -F ssh_config -f Fabfiles/django/fabfile.swift 'install:hosts=web1'  install from the repository
// The Django steps (LESS, cache busting, CSS compression, compilemessages, collectstatic) run on the
// build VM in the staged tree; each adds its Debian packages to the build dependencies.
import FabCore
import FabDeploy

/// Servers that run the site.
let roledefs: [String: [String]] = ["django": ["web1"]]

/// The deployment, with the Django build steps in the order they run.
private func django(_ fab: Fab, clone: String? = nil) async throws -> Deployment {
    // python3: the project's development manage.py is a python3 script (lintian checks the dependency).
    var deploy = try await Deployment(fab, app: "django", runDeps: ["python3"]) { settings in
        if let clone { settings.source = .clone(url: clone) }
    }
    deploy.compileLess("hello/static/hello/less/site.less", to: "hello/static/hello/css/site.css")
    try deploy.bustCaches(in: ["hello/templates", "hello/static"])
    deploy.compressCSS(in: ["hello/static"])
    deploy.compileMessages()
    try deploy.collectStatic(settingsModule: "vrmdsite.settings", rootVariable: "VRMD_DJANGO_STATIC_ROOT")
    return deploy
}

/// Build the .deb on the build VM and fetch it back.
/// - Parameter branch: the branch to build (default: the checked-out one)
/// - Parameter version: an explicit version (default: the VERSION file, else the next build number)
/// - Parameter clone: a git URL the build VM clones the branch's commit from (default: stream it from here)
func deb(_ fab: Fab, branch: String? = nil, version: String? = nil, clone: String? = nil) async throws {
    let deploy = try await django(fab, clone: clone)
    try await deploy.prepareApp(branch: branch, version: version)
    try await deploy.buildDeb()
}

/// Publish the built .deb to the apt repository.
func push(_ fab: Fab) async throws { try await Deployment(fab, app: "django").pushToRepo() }

/// Install vrmd-django from the repository.
/// - Roles: django
/// - Parameter version: the version to install (default: the newest)
/// - Parameter source: a "deb URL CODENAME main" line for the repository, written to sources.list.d first
func install(_ fab: Fab, version: String? = nil, source: String? = nil) async throws {
    try await Deployment(fab, app: "django").install(version: version, sourcesLine: source)
}

/// Upgrade vrmd-django to the newest version in the repository.
/// - Roles: django
func upgrade(_ fab: Fab) async throws { try await Deployment(fab, app: "django").upgrade() }

/// Publish an older build again from the repository's archive, and install it.
/// - Roles: django
/// - Parameter version: the version to go back to
func rollback(_ fab: Fab, version: String) async throws {
    try await Deployment(fab, app: "django").rollback(to: version)
}
