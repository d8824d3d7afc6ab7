/// How fab treats a host key it has not seen before or that has changed.
public enum HostKeyPolicy: String, Sendable, CaseIterable {
    /// Unknown or changed keys refuse the connection (OpenSSH's `StrictHostKeyChecking yes`). The default.
    case strict
    /// Unknown keys are appended to known_hosts; a changed key still refuses (`accept-new`). A host known with
    /// other keys only, even of another type, has a changed key, not an unknown one.
    case acceptNew = "accept-new"
    /// Unknown and changed keys are accepted, each time with a warning to the session's ``SSHWarningHandler``;
    /// `@revoked` keys still refuse. An explicit, insecure opt-out.
    case insecure
}

/// Everything needed to reach and log in to one host: the result of resolving a host name
/// through ssh_config and the command line.
public struct SSHTarget: Sendable, Equatable, CustomStringConvertible {
    /// The name the user gave (an ssh_config alias or an address); used in messages and output prefixes.
    public var alias: String
    /// The address to connect to.
    public var hostName: String
    public var port: Int
    public var user: String
    /// Private key files to offer, in order.
    public var identityFiles: [String]
    /// Offer only `identityFiles`, even when the agent holds other keys.
    public var identitiesOnly: Bool
    /// Offer the keys held by ssh-agent (`SSH_AUTH_SOCK`).
    public var useAgent: Bool
    public var hostKeyPolicy: HostKeyPolicy
    /// known_hosts files to read, in order; the first one receives new keys under `.acceptNew`.
    public var knownHostsFiles: [String]
    /// The name to look the host key up under (ssh_config's `HostKeyAlias`), when not `hostName`.
    public var hostKeyAlias: String?
    /// Write new known_hosts lines hashed (`|1|...`), as `HashKnownHosts yes` does.
    public var hashKnownHosts: Bool
    /// Seconds to wait for the TCP connection and the SSH handshake.
    public var connectTimeout: Double
    /// Seconds of silence from the server before a keepalive is sent; 0 turns keepalives off
    /// (then a server that stops answering mid-command is noticed only by the command's own timeout).
    public var serverAliveInterval: Int
    /// Unanswered keepalives after which the server is declared dead: it is reported after
    /// `serverAliveInterval * serverAliveCountMax` seconds of silence.
    public var serverAliveCountMax: Int

    /// fab's keepalive interval when neither ssh_config nor `fab --keepalive` sets one: 15 s
    /// (OpenSSH's own default is off, which lets a stopped server hang a run for as long as TCP allows).
    public static let defaultServerAliveInterval = 15
    /// fab's (and OpenSSH's) keepalive count: with the default interval a silent server is reported after 45 s.
    public static let defaultServerAliveCountMax = 3
    /// Jump hosts to tunnel through, outermost first (ssh_config's `ProxyJump`).
    public var jumpHosts: [SSHTarget]
    /// The ssh_config files this target was resolved through (the `-F` file, or the user's then the system's),
    /// named in messages that advise changing the configuration; empty when none was read.
    public var configFiles: [String] = []

    public init(alias: String, hostName: String? = nil, port: Int = 22, user: String,
                identityFiles: [String] = [], identitiesOnly: Bool = false, useAgent: Bool = true,
                hostKeyPolicy: HostKeyPolicy = .strict, knownHostsFiles: [String] = [],
                hostKeyAlias: String? = nil, hashKnownHosts: Bool = false, connectTimeout: Double = 10,
                serverAliveInterval: Int = SSHTarget.defaultServerAliveInterval,
                serverAliveCountMax: Int = SSHTarget.defaultServerAliveCountMax, jumpHosts: [SSHTarget] = []) {
        self.alias = alias
        self.hostName = hostName ?? alias
        self.port = port
        self.user = user
        self.identityFiles = identityFiles
        self.identitiesOnly = identitiesOnly
        self.useAgent = useAgent
        self.hostKeyPolicy = hostKeyPolicy
        self.knownHostsFiles = knownHostsFiles
        self.hostKeyAlias = hostKeyAlias
        self.hashKnownHosts = hashKnownHosts
        self.connectTimeout = connectTimeout
        self.serverAliveInterval = serverAliveInterval
        self.serverAliveCountMax = serverAliveCountMax
        self.jumpHosts = jumpHosts
    }

    /// `user@host:port`, as shown in messages.
    public var description: String {
        port == 22 ? "\(user)@\(hostName)" : "\(user)@\(hostName):\(port)"
    }
}
