// The whois app's fabfile, written with fab's deploy kit (FabDeploy). From the repository root:
//   fab -F ssh_config -f Fabfiles/whois/fabfile.swift deb push         build on `buildvm`, publish on `repo`
//   fab -F ssh_config -f Fabfiles/whois/fabfile.swift 'install:hosts=web1'  install from the repository
//   fab ... 'rollback:version=1,hosts=web1'                publish and install an older build
// Hosts are ssh_config aliases; the conventions (package prefix vrmd-, install root /vrmd/whois,
// interpreter /usr/bin/python3.11, repository /srv/apt codename fab with its rollback archive in
// /srv/apt-archive, lintian failing on errors) are Deployment.Settings defaults.
import FabCore
import FabDeploy

/// Servers that run the whois service.
let roledefs: [String: [String]] = ["whois": ["web1"]]

// supervisor: production servers supervise whoisd with it (the postinst uses it when supervisord runs,
// and falls back to start-stop-daemon where it does not, as in the end-to-end test's chroots).
// libpq5: psycopg2's extension links libpq.so.5 (dpkg-shlibdeps finds it too; it is named for clarity).
let runDeps = ["supervisor", "libpq5"]

/// Build the .deb on the build VM and fetch it back.
/// - Parameter branch: the branch to build (default: the checked-out one)
/// - Parameter version: an explicit version (default: the VERSION file, else the next build number)
func deb(_ fab: Fab, branch: String? = nil, version: String? = nil) async throws {
    let deploy = try await Deployment(fab, app: "whois", buildDeps: ["libpq-dev"], runDeps: runDeps)
    try await deploy.prepareApp(branch: branch, version: version)
    try await deploy.buildDeb()
}

/// Publish the built .deb to the apt repository.
func push(_ fab: Fab) async throws { try await Deployment(fab, app: "whois").pushToRepo() }

/// Install vrmd-whois from the repository.
/// - Roles: whois
/// - Parameter version: the version to install (default: the newest)
/// - Parameter source: a "deb URL CODENAME main" line for the repository, written to sources.list.d first
func install(_ fab: Fab, version: String? = nil, source: String? = nil) async throws {
    try await Deployment(fab, app: "whois").install(version: version, sourcesLine: source)
}

/// Upgrade vrmd-whois to the newest version in the repository.
/// - Roles: whois
func upgrade(_ fab: Fab) async throws { try await Deployment(fab, app: "whois").upgrade() }

/// Publish an older build again from the repository's archive, and install it.
/// - Roles: whois
/// - Parameter version: the version to go back to
func rollback(_ fab: Fab, version: String) async throws {
    try await Deployment(fab, app: "whois").rollback(to: version)
}

/// Show the version of vrmd-whois each server runs and the one the repository serves, in one table.
/// - Roles: whois
/// - Parameter json: a local file to write the table to as JSON as well
func versions(_ fab: Fab, json: String? = nil) async throws {
    try await Deployment(fab, app: "whois").auditVersions(jsonFile: json)
}

/// Increment the build number in the project's VERSION file (no SCM involved).
func bump_version(_ fab: Fab) async throws {
    try await Deployment(fab, app: "whois").bumpVersionFile()
}
