import FabSSH

/// Output groups that can be hidden or shown, as Fabric's `--hide`/`--show`.
public struct OutputGroups: OptionSet, Sendable, Hashable {
    public let rawValue: Int
    public init(rawValue: Int) { self.rawValue = rawValue }
    /// "[host] run: command" lines.
    public static let running = OutputGroups(rawValue: 1)
    public static let stdout = OutputGroups(rawValue: 2)
    public static let stderr = OutputGroups(rawValue: 4)
    /// Transfer and status lines ("[host] put: ...").
    public static let status = OutputGroups(rawValue: 8)
    public static let all: OutputGroups = [.running, .stdout, .stderr, .status]
}

/// The settings in force for operations, changed for a scope by `cd`, `prefix`, `withEnv` and
/// `settings`, and restored on every exit from it. Scopes are task-local: concurrent tasks
/// (hosts run in parallel) each see their own.
public struct Settings: Sendable {
    /// Remote working directory for `run`/`sudo` (`cd`).
    public var remoteDirectory: String?
    /// Local working directory for `local` (`lcd`).
    public var localDirectory: String?
    /// Commands run before each command, joined with `&&` (`prefix`).
    public var prefixes: [String] = []
    /// Environment exported before each command (`withEnv`). Names must be shell identifiers.
    public var environment: [String: String] = [:]
    /// Environment whose values reach remote commands over their standard input, never their
    /// command line (`withEnv(secrets:)`).
    public var secretEnvironment: [String: Secret] = [:]
    /// A non-zero exit returns a failed result instead of throwing.
    public var warnOnly = false
    /// Which output groups are printed.
    public var visible: OutputGroups = .all
    /// Wrap each remote command in this shell (`/bin/bash -c`), or send it to the login shell as is (nil).
    public var shell: String?
    /// The user `sudo` runs as when a call names none (nil: root).
    public var sudoUser: String?
    /// Per-command timeout in seconds.
    public var commandTimeout: Double?

    public init() {}

    /// The settings of the current scope.
    @TaskLocal public static var current = Settings()
}
