import FabSSH

/// The global options of a run: where tasks run, how to connect, and how to behave.
///
/// Parsed from the command line by ``FabCommand``; the executor interprets them.
public struct RunOptions: Sendable, Equatable {
    /// `-H`: hosts as written (`user@host:port`, `host`, `[::1]:2222`), in order, without duplicates.
    public var hosts: [String] = []
    /// `-R`: role names, in order, without duplicates; the fabfile's `roledefs` maps them to hosts.
    public var roles: [String] = []
    /// `-x`: hosts removed from every task's final host list, as written.
    public var excludedHosts: [String] = []
    /// `--set KEY=VALUE`: values tasks read through `fab.values`.
    public var values: [String: String] = [:]
    /// `-u`: the login user for hosts that name none.
    public var user: String?
    /// `-i`: private key files to try, in order.
    public var identityFiles: [String] = []
    /// `--use-agent` / `--no-use-agent`; nil: use the agent when `SSH_AUTH_SOCK` is set.
    public var useAgent: Bool?
    /// `--known-hosts-policy`.
    public var knownHostsPolicy: HostKeyPolicy?
    /// `--keepalive SECONDS[:COUNT]`; nil: ssh_config's, else 15 s and 3.
    public var keepalive: KeepaliveSetting?
    /// `-g`: a host to jump through (ProxyJump), as written.
    public var gateway: String?
    /// `-F`: an ssh_config file to read instead of `~/.ssh/config`.
    public var sshConfigFile: String?
    /// `--sudo-password-file`: a 0600 file holding the sudo password (else `FAB_SUDO_PASSWORD_FILE`).
    public var sudoPasswordFile: String?
    /// `--sudo-password-fd`: a descriptor to read the sudo password from.
    public var sudoPasswordFD: Int32?
    /// `-P`: run each task on its hosts in parallel.
    public var parallel = false
    /// `-z`: at most this many hosts at once in parallel mode; nil: no limit.
    public var poolSize: Int?
    /// The output levels to show, after applying `--hide` and then `--show` to the defaults.
    public var shownOutput: Set<OutputLevel> = OutputLevel.shownByDefault
    /// `--dry-run`: print commands instead of running them.
    public var dryRun = false
    /// `-w`: a failed command is a warning, not the end of the task.
    public var warnOnly = false
    /// `--answer KEY=VALUE`: answers to prompts, so runs need no terminal.
    public var answers: [String: String] = [:]

    /// The options of a command line that gives none.
    public init() {}
}
