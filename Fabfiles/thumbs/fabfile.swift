// The thumbs app's fabfile, written with fab's deploy kit (FabDeploy). From the repository root:
//   fab -F ssh_config -f Fabfiles/thumbs/fabfile.swift deb push          build on `buildvm`, publish on `repo`
//   fab -F ssh_config -f Fabfiles/thumbs/fabfile.swift 'install:hosts=web1'  install from the repository
//   fab ... 'rollback:version=1,hosts=web1'                 publish and install an older build
//   fab --dry-run ... deb push                                           print the plan, change nothing
// Unlike whois (under /vrmd, code in app/), thumbs installs under /srv/thumbs with its code in
// /srv/thumbs/thumbs (the Python package `thumbs`, which uWSGI imports), its config/ folder in
// /etc/thumbs, and the package is named plain `thumbs`.
import FabCore
import FabDeploy

/// Servers that run the thumbnail service.
let roledefs: [String: [String]] = ["thumbs": ["web1"]]

/// The deployment: one place for the layout, the dependencies and the lint policy.
/// debian/thumbs.lintian-overrides accepts Pillow's bundled libraries and uWSGI's RUNPATH; fab's
/// own overrides cover the files under /srv. `strict` fails the build on lintian warnings too.
private func thumbs(_ fab: Fab, strict: Bool = false) async throws -> Deployment {
    // libpq-dev: psycopg2 is compiled from source against Debian's libpq (pg_config, headers).
    // libpq5: what psycopg2's extension links at run time (dpkg-shlibdeps finds it too).
    try await Deployment(fab, app: "thumbs", buildDeps: ["libpq-dev"], runDeps: ["libpq5"]) { settings in
        settings.packagePrefix = ""
        settings.installRoot = "/srv/thumbs"
        settings.synopsis = "thumbnail service on uWSGI with Pillow"
        settings.layout.codeDirectory = "thumbs"
        settings.layout.directories = ["config": "/etc/thumbs"]
        if strict { settings.lint.failOn = .warning }
    }
}

/// Build the .deb on the build VM and fetch it back.
/// - Parameter branch: the branch to build (default: the checked-out one)
/// - Parameter version: an explicit version (default: the next build number)
/// - Parameter strict: fail on lintian warnings too, not only errors
func deb(_ fab: Fab, branch: String? = nil, version: String? = nil, strict: Bool = false) async throws {
    let deploy = try await thumbs(fab, strict: strict)
    try await deploy.prepareApp(branch: branch, version: version)
    try await deploy.buildDeb()
}

/// Publish a built .deb to the apt repository.
/// - Parameter deb: the .deb to publish (default: the one built in this run, else the newest in debian/)
func push(_ fab: Fab, deb: String? = nil) async throws { try await thumbs(fab).pushToRepo(deb: deb) }

/// Install thumbs from the repository.
/// - Roles: thumbs
/// - Parameter version: the version to install (default: the newest)
/// - Parameter source: a "deb URL CODENAME main" line for the repository, written to sources.list.d first
func install(_ fab: Fab, version: String? = nil, source: String? = nil) async throws {
    try await thumbs(fab).install(version: version, sourcesLine: source)
}

/// Upgrade thumbs to the newest version in the repository.
/// - Roles: thumbs
func upgrade(_ fab: Fab) async throws { try await thumbs(fab).upgrade() }

/// Publish an older build again from the repository's archive, and install it.
/// - Roles: thumbs
/// - Parameter version: the version to go back to
func rollback(_ fab: Fab, version: String) async throws { try await thumbs(fab).rollback(to: version) }

/// Show the installed version of thumbs and what its /health says, on each server.
/// - Roles: thumbs
func health(_ fab: Fab) async throws {
    let version = try await thumbs(fab).installedVersion()
    fab.runtime.output.line(fab.host ?? "localhost", .status, "thumbs \(version ?? "not installed")")
    if version != nil {
        try await fab.run("PYTHONPATH=/srv/thumbs /srv/thumbs/venv/bin/python -m thumbs.check")
    }
}
