// The whois app as a package family: the virtualenv package vrmd-whois-venv (rebuilt only when its
// inputs change), the app package vrmd-whois, one config package per environment
// (vrmd-whois-config-staging, -production) and a role package per environment that pins them
// (vrmd-whois-server-production: `apt-get install vrmd-whois-server-production` sets up a server).
// From the repository root:
//   fab -F ssh_config -f Fabfiles/whois/family/fabfile.swift deb push
//   fab -F ssh_config -f Fabfiles/whois/family/fabfile.swift 'install:hosts=web1'
//   fab ... versions upgrade versions          the version table, apt-get upgrade, the table again
//   fab ... 'rollback:version=3'               back to build 3: app, its venv, role and config
// The project is the folder above this one (Fabfiles/whois); Fabfiles/whois/fabfile.swift builds the
// same app as one package.
import FabCore
import FabDeploy
import Foundation

/// Servers that run the whois service.
let roledefs: [String: [String]] = ["whois": ["web1"]]

/// The whois project: the folder above this fabfile's.
private let project = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().path

/// The environments, each with its own whoisd port.
private let ports = ["staging": 4344, "production": 4343]

/// The app's deployment: its config file comes from the config packages, not from the app package.
private func whois(_ fab: Fab) async throws -> Deployment {
    try await Deployment(fab, app: "whois", buildDeps: ["libpq-dev"], runDeps: ["supervisor", "libpq5"],
                         projectDirectory: project) {
        $0.excludes.append("whoisd.conf")
        // debian/vrmd-whois.lintian-overrides names the single package; the venv package needs its own word.
        $0.lint.accept["privacy-breach-google-adsense"] = "Twisted's pydoctor templates in the virtualenv carry a Google Analytics snippet; nothing in the package serves them"
    }
}

/// whoisd's config file; the variables come in order, and a later one may use earlier ones.
private let whoisdConf = """
    # vrmd-whois settings for {{ environment }} (package vrmd-whois-config-{{ environment }}).
    # A conffile: dpkg keeps your edits on upgrade. WHOISD_* variables and options override it.
    [whoisd]
    bind = {{ bind }}
    port = {{ port }}
    timeout = {{ timeout }}
    dsn = {{ dsn }}

    """

/// The config package of one environment.
private func config(_ environment: String) -> ConfigPackage {
    var variables = TemplateVariables()
    variables.value("environment", environment)
    variables.value("port", ports[environment] ?? 4343)
    variables.value("bind", "0.0.0.0")
    variables.value("timeout", 30)
    variables.value("dsn", "")
    return ConfigPackage(environment: environment, variables: variables,
                         files: [.text(whoisdConf, to: "/etc/vrmd-whois/whoisd.conf")],
                         reloads: [.systemd("vrmd-whois.service"), .supervisor])
}

/// The role package of one environment: the app and that environment's config package at the
/// versions of this build, under the app's version, so `rollback:version=N` names both (FabDeploy's
/// FamilyManifest gives a role its own build number instead).
private struct RolePart: FamilyPart {
    var environment: String

    func build(in family: FamilyContext) async throws -> FamilyMember {
        let deploy = family.deployment
        let configName = deploy.packageName(of: config(environment))
        guard let config = family.parts.first(where: { $0.package == configName }) else {
            throw FabError(.invalidArgument, "the role of \(environment) needs \(configName) built before it; list its config package first.")
        }
        let role = ManifestPackage(role: "whois-server-\(environment)",
                                   pins: [.init(family.app.package, family.app.version), .init(config.package, config.version)])
        return try family.member(built: try await deploy.buildManifestPackage(role, branch: family.branch, version: family.app.version))
    }
}

/// What `deb` built, for `push` in the same run.
private let built = StateKey<PackageFamily>("whois-family.built")

/// Build the family on the build VM: the venv (found by its input key when its inputs did not
/// change), the app, both config packages (reused when unchanged) and both role packages.
/// - Parameter branch: the branch to build (default: the checked-out one)
/// - Parameter version: the app's (and the role packages') version (default: the next build number)
func deb(_ fab: Fab, branch: String? = nil, version: String? = nil) async throws {
    let parts: [any FamilyPart] = [config("staging"), config("production"),
                                   RolePart(environment: "staging"), RolePart(environment: "production")]
    fab.state[built] = try await whois(fab).buildFamily(branch: branch, version: version, parts: parts, push: false)
}

/// Publish what `deb` built in this run and the repository does not have yet (a reused venv or
/// config package is not uploaded again).
func push(_ fab: Fab) async throws {
    guard let family = fab.state[built] else {
        throw FabError(.invalidArgument, "push publishes what deb built in the same run: run `fab deb push`.")
    }
    let pushed = try await whois(fab).pushFamily(family)
    fab.say("pushed: " + (pushed.members.filter(\.pushed).map { "\($0.package) \($0.version)" }.joined(separator: ", ")))
}

/// Set up a server of a role from the repository: its role package brings the app, the venv and the config.
/// - Roles: whois
/// - Parameter environment: the role's environment (staging or production)
/// - Parameter source: a "deb URL CODENAME main" line for the repository, written to sources.list.d first
func install(_ fab: Fab, environment: String = "production", source: String? = nil) async throws {
    guard ports[environment] != nil else {
        throw FabError(.invalidArgument, "there is no environment '\(environment)'; use staging or production.")
    }
    if let source {
        guard source.hasPrefix("deb "), !source.contains(where: \.isNewline) else {
            throw FabError(.invalidArgument, "'\(source)' is not a one-line 'deb ...' sources entry.")
        }
        try await fab.sudo("printf '%s\\n' \(fab.quote(source)) > /etc/apt/sources.list.d/vrmd-whois.list")
    }
    try await fab.hide(.stdout) { try await fab.sudo(DeploymentCommands.aptUpdate()) }
    try await fab.sudo(DeploymentCommands.aptInstall(["vrmd-whois-server-\(environment)"]))
}

/// Upgrade every package of the family to what the repository serves (apt-get upgrade).
/// - Roles: whois
func upgrade(_ fab: Fab) async throws {
    try await fab.hide(.stdout) { try await fab.sudo(DeploymentCommands.aptUpdate()) }
    try await fab.sudo("DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -q -y -o Dpkg::Options::=--force-confold upgrade")
}

/// Roll back to an earlier build of the app: the repository serves again that build, the venv
/// version it pins and the role package (with its config) that pins it, and the server installs them.
/// - Roles: whois
/// - Parameter version: the app's build to go back to
/// - Parameter environment: the server's environment (staging or production)
func rollback(_ fab: Fab, version: String, environment: String = "production") async throws {
    guard ports[environment] != nil else {
        throw FabError(.invalidArgument, "there is no environment '\(environment)'; use staging or production.")
    }
    try await whois(fab).rollbackFamily(to: version, roles: ["vrmd-whois-server-\(environment)"])
}

/// Show which version of each package of the family every server runs, against the repository.
/// - Roles: whois
/// - Parameter json: a local file to write the table to as JSON as well
func versions(_ fab: Fab, json: String? = nil) async throws {
    try await whois(fab).auditVersions(packages: ["vrmd-whois-venv", "vrmd-whois", "vrmd-whois-config-*", "vrmd-whois-server-*"],
                                       jsonFile: json)
}
