// An example fabfile showing fab's vocabulary: hosts and roles, run, sudo, local, put/get,
// scopes, file helpers and a template. Run it from this folder:
//   fab -l
//   fab -H web1,web2 -P uptime
//   fab deploy:branch=main             (on its role, web; deploy:hosts=web1 for one host)
import FabCore

/// Hosts per role; names can be ssh_config aliases.
let roledefs: [String: [String]] = [
    "web": ["web1", "web2"],
    "db": ["db1"],
]

/// A typed home for a value one task computes and the next one uses.
let releaseKey = StateKey<String>("release")

/// Show how long each host has been up.
func uptime(_ fab: Fab) async throws {
    try await fab.run("uptime")
}

/// Deploy a release of the site to the web servers.
///
/// Uploads a rendered config, unpacks the release under /srv/site/releases and switches the
/// `current` link, keeping the previous releases for a quick rollback.
/// - Roles: web
/// - Parameter branch: the git branch to deploy
/// - Parameter restart: restart the service afterwards
func deploy(_ fab: Fab, branch: String = "main", restart: Bool = true) async throws {
    let release = try await fab.state.value(for: releaseKey) {
        // Read-only, so --dry-run runs it too and prints the commands with the real release.
        try await fab.local("git rev-parse --short \(fab.quote(branch))", readOnly: true).output
    }
    let root = "/srv/site"
    try await fab.mkdirs("\(root)/releases/\(release)", useSudo: true)
    try await fab.local("git archive --format=tar.gz -o /tmp/site-\(release).tar.gz \(fab.quote(branch))")
    try await fab.put("/tmp/site-\(release).tar.gz", "/tmp/site-\(release).tar.gz")
    try await fab.cd("\(root)/releases/\(release)") {
        try await fab.sudo("tar -xzf /tmp/site-\(release).tar.gz")
    }
    try await fab.uploadTemplate("templates/site.conf", to: "/etc/site.conf",
                                 context: ["host": fab.host ?? "", "release": release, "workers": 4],
                                 mode: 0o644, useSudo: true, owner: "root:root")
    try await fab.append("/etc/site.env", ["RELEASE=\(release)"], useSudo: true)
    try await fab.sudo("ln -sfn \(fab.quote("\(root)/releases/\(release)")) \(root)/current")
    if restart {
        let result = try await fab.warnOnly { try await fab.sudo("systemctl restart site") }
        if result.failed { try await fab.sudo("service site restart") }
    }
}

/// Fetch each web server's access log into logs/HOST/.
/// - Roles: web
func logs(_ fab: Fab) async throws {
    try await fab.get("/var/log/site/access.log", "logs/%(host)s/access.log")
}

/// Ask before dropping the database's caches (answer with --answer confirm=yes on CI).
/// - Roles: db
func flushCaches(_ fab: Fab) async throws {
    guard try fab.confirm("Flush caches on \(fab.host ?? "")?", key: "confirm", default: false) else { return }
    try await fab.sudo("psql -c 'DISCARD ALL'", user: "postgres")
}
