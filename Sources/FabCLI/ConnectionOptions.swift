import ArgumentParser
import FabSSH

/// Options that choose hosts and how to reach them.
struct ConnectionOptions: ParsableArguments {
    @Option(name: [.customShort("H"), .customLong("hosts")],
            help: ArgumentHelp("Run tasks that declare no hosts or roles on these hosts, comma-separated: host, user@host, user@host:port, [v6addr]:port (TASK:hosts=a;b sets one task's).",
                               valueName: "hosts"))
    var hosts: [String] = []

    @Option(name: [.customShort("R"), .customLong("roles")],
            help: ArgumentHelp("Like -H, with the hosts of these roles (from the fabfile's roledefs), comma-separated.",
                               valueName: "roles"))
    var roles: [String] = []

    @Option(name: [.customShort("x"), .customLong("exclude-hosts")],
            help: ArgumentHelp("Leave these hosts out of every task's host list, comma-separated, written as in the list.",
                               valueName: "hosts"))
    var excludedHosts: [String] = []

    @Option(name: [.customShort("u"), .customLong("user")],
            help: ArgumentHelp("Log in as this user on hosts that name none (default: ssh_config, then your login name).",
                               valueName: "user"))
    var user: String?

    @Option(name: [.customShort("i"), .customLong("identity")],
            help: ArgumentHelp("Try this private key file; repeat for several.", valueName: "file"))
    var identityFiles: [String] = []

    @Flag(name: .customLong("use-agent"), inversion: .prefixedNo,
          help: "Authenticate with keys from ssh-agent (default: when SSH_AUTH_SOCK is set).")
    var useAgent: Bool?

    @Option(name: .customLong("known-hosts-policy"),
            help: ArgumentHelp("What to do with host keys known_hosts does not confirm: strict (refuse), accept-new (remember unknown hosts, refuse changed keys), insecure (accept anything).",
                               valueName: "policy"))
    var knownHostsPolicy: HostKeyPolicy?

    @Option(name: .customLong("keepalive"),
            help: ArgumentHelp("Send a keepalive after SECONDS of silence and give up on a server after COUNT unanswered ones (default 15:3, or ssh_config's ServerAliveInterval and ServerAliveCountMax); 0 turns keepalives off.",
                               valueName: "seconds[:count]"))
    var keepalive: KeepaliveSetting?

    @Option(name: [.customShort("g"), .customLong("gateway")],
            help: ArgumentHelp("Reach hosts through this jump host ([user@]host[:port]), like ssh -J.", valueName: "host"))
    var gateway: String?

    @Flag(name: [.customShort("A"), .customLong("forward-agent")],
          help: "Not supported: refused with the reason (libssh2 1.10 cannot serve forwarded agent channels).")
    var forwardAgent = false

    @Option(name: [.customShort("F"), .customLong("ssh-config")],
            help: ArgumentHelp("Read this ssh_config file instead of ~/.ssh/config.", valueName: "file"))
    var sshConfig: String?

    @Option(name: .customLong("sudo-password-file"),
            help: ArgumentHelp("Answer sudo's password prompts with the password in this file (mode 0600, yours; default: $FAB_SUDO_PASSWORD_FILE, then ask on the terminal).",
                               valueName: "file"))
    var sudoPasswordFile: String?

    @Option(name: .customLong("sudo-password-fd"),
            help: ArgumentHelp("Read the sudo password from this open file descriptor (for example 3 with 3<file).",
                               valueName: "fd"))
    var sudoPasswordFD: Int32?

    /// Why `-A` is refused: said before anything connects.
    static let forwardAgentRefusal = "-A/--forward-agent cannot work: fab's SSH library (libssh2 1.10) cannot serve the agent channels a server opens back, so remote commands would find no agent; drop -A (fab itself still authenticates with your agent), or run the commands that need your agent with ssh -A."

    mutating func validate() throws {
        if forwardAgent { throw ValidationError(Self.forwardAgentRefusal) }
        for host in HostList.split(hosts) {
            if let problem = HostList.problem(with: host) {
                throw ValidationError("-H \(host): \(problem).")
            }
        }
        for host in HostList.split(excludedHosts) {
            if let problem = HostList.problem(with: host) {
                throw ValidationError("-x \(host): \(problem).")
            }
        }
        if let gateway, let problem = HostList.problem(with: gateway) {
            throw ValidationError("--gateway \(gateway): \(problem).")
        }
        if HostList.split(roles).contains(where: { $0.isEmpty }) {
            throw ValidationError("-R takes role names separated by commas, without empty names.")
        }
        if sudoPasswordFile != nil && sudoPasswordFD != nil {
            throw ValidationError("give either --sudo-password-file or --sudo-password-fd, not both.")
        }
        if let sudoPasswordFD, sudoPasswordFD < 0 {
            throw ValidationError("--sudo-password-fd takes an open file descriptor number (0 or more).")
        }
    }
}
