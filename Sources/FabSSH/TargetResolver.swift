import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Turns a host as users write it (`alias`, `user@host`, `host:port`, `user@host:port`, `[::1]:22`,
/// `ssh://user@host:port`) into an ``SSHTarget``, the way `ssh` would.
///
/// Precedence, highest first: ``Overrides`` (the command-line flags, as `ssh -l`/`-p`/`-i` beat `user@`),
/// the parts written in the host string, ssh_config, then defaults (local user, port 22, 10 s connect timeout,
/// `~/.ssh/known_hosts` and `known_hosts2` plus the global files).
///
/// `ProxyJump` hops are resolved through the same configuration (their own `User`, `Port`, `IdentityFile`...).
/// As in OpenSSH, whose `ProxyJump a,b` runs `ssh -J a -W host b`, the first hop's own `ProxyJump` is followed
/// (so `Host mid` / `ProxyJump bastion` chains work) and the later hops' are ignored; a chain that comes back to
/// a host already on it is refused rather than followed forever.
public struct TargetResolver: Sendable {
    /// Command-line settings that win over ssh_config and over the host string.
    ///
    /// `user`, `port` and `identityFiles` apply to the destination only, as `ssh -l/-p/-i` do; the host-key,
    /// known_hosts, agent and timeout settings apply to every hop, since they say how fab connects.
    public struct Overrides: Sendable, Equatable {
        /// The login user (`ssh -l`); wins over `user@` and `User`.
        public var user: String?
        /// The port (`ssh -p`); wins over `:port` and `Port`.
        public var port: Int?
        /// Private keys to offer first (`ssh -i`), before the configured `IdentityFile`s; `~/` is expanded.
        public var identityFiles: [String]
        /// Whether to offer ssh-agent keys; nil means yes.
        public var useAgent: Bool?
        /// The host-key policy; nil takes each host's `StrictHostKeyChecking` (`yes`/`ask`/unset: strict,
        /// `accept-new`: acceptNew, `no`/`off`: insecure).
        public var hostKeyPolicy: HostKeyPolicy?
        /// known_hosts files replacing the configured and default ones (the first receives new keys); `~/` is expanded.
        public var knownHostsFiles: [String]?
        /// Seconds to wait for each connection; nil takes `ConnectTimeout`, else 10.
        public var connectTimeout: Double?
        /// Keepalive interval in seconds (`fab --keepalive`), 0 for none; nil takes `ServerAliveInterval`, else
        /// ``SSHTarget/defaultServerAliveInterval``.
        public var serverAliveInterval: Int?
        /// Unanswered keepalives before the server is declared dead; nil takes `ServerAliveCountMax`, else
        /// ``SSHTarget/defaultServerAliveCountMax``.
        public var serverAliveCountMax: Int?
        /// Jump hosts (`fab -g`, like `ssh -J`: `[user@]host[:port]`, comma-separated), used only when
        /// ssh_config gives the destination no `ProxyJump` (`ProxyJump none` counts as given).
        public var gateway: String?

        /// Makes overrides; every parameter defaults to "not given".
        public init(user: String? = nil, port: Int? = nil, identityFiles: [String] = [], useAgent: Bool? = nil,
                    hostKeyPolicy: HostKeyPolicy? = nil, knownHostsFiles: [String]? = nil,
                    connectTimeout: Double? = nil, serverAliveInterval: Int? = nil, serverAliveCountMax: Int? = nil,
                    gateway: String? = nil) {
            self.user = user
            self.port = port
            self.identityFiles = identityFiles
            self.useAgent = useAgent
            self.hostKeyPolicy = hostKeyPolicy
            self.knownHostsFiles = knownHostsFiles
            self.connectTimeout = connectTimeout
            self.serverAliveInterval = serverAliveInterval
            self.serverAliveCountMax = serverAliveCountMax
            self.gateway = gateway
        }
    }

    /// The parsed ssh_config hosts are resolved through.
    public let config: SSHConfig
    /// The local user name: the default login user, `%u` and `%r` in ssh_config.
    public let localUser: String
    /// The local user's home: default known_hosts files and `~/` in overrides.
    public let homeDirectory: String

    /// Makes a resolver over a parsed configuration.
    /// - Parameters:
    ///   - config: The ssh_config to resolve through (``SSHConfig/empty`` for none).
    ///   - localUser: The local user name; nil for the current user's (`getpwuid(getuid())`).
    ///   - homeDirectory: The local user's home; nil for the current user's password-database entry, as ssh uses.
    public init(config: SSHConfig, localUser: String? = nil, homeDirectory: String? = nil) {
        self.config = config
        let account = (localUser == nil || homeDirectory == nil) ? LocalAccount.current() : nil
        self.localUser = localUser ?? account?.name ?? "root"
        self.homeDirectory = homeDirectory ?? account?.home ?? "/"
    }

    /// A resolver over the files `ssh` reads: `~/.ssh/config` then `/etc/ssh/ssh_config`, or only `configFile`
    /// as `ssh -F` does (`none` for no configuration at all).
    /// - Parameter configFile: An explicit configuration file (`~/` is expanded); nil for the default files.
    /// - Throws: ``SSHError`` (`.config`) when `configFile` does not exist, or a file is unreadable, unsafe
    ///   (writable by others) or malformed; the message names the file and line.
    public static func loadingDefault(configFile: String? = nil) throws -> TargetResolver {
        let account = LocalAccount.current()
        let config: SSHConfig
        if let configFile, configFile == "none" {
            config = .empty
        } else if let configFile {
            let path = expandHome(configFile, home: account.home)
            guard FileManager.default.fileExists(atPath: path) else {
                throw SSHError(.config, host: "", operation: "read \(path)", path: path,
                               message: "the configuration file \(path) does not exist; check the path given with -F.")
            }
            config = try SSHConfig.load(path: path, homeDirectory: account.home)
        } else {
            config = try SSHConfig.loadDefault(homeDirectory: account.home)
        }
        return TargetResolver(config: config, localUser: account.name, homeDirectory: account.home)
    }

    /// Resolves `host` into everything needed to connect, as `ssh host` would.
    /// - Parameters:
    ///   - host: `alias`, `user@host`, `host:port`, `user@host:port`, `[v6addr]:port`, a bare IPv6 address or
    ///     `ssh://[user@]host[:port]`. The host part is looked up in ssh_config; the target's ``SSHTarget/alias``
    ///     is the text as written.
    ///   - overrides: Command-line settings, which win over everything else.
    /// - Throws: ``SSHError`` (`.config`) when `host`, an override or the gateway is malformed, when ssh_config
    ///   gives the destination or its first jump host a `ProxyCommand` (fab supports `ProxyJump` only) or turns
    ///   `ForwardAgent` on for the destination (libssh2 1.10 cannot serve forwarded agent channels), or when
    ///   `ProxyJump` chains loop.
    public func resolve(_ host: String, overrides: Overrides = .init()) throws -> SSHTarget {
        var written = host.trimmingCharacters(in: .whitespaces)
        if written.hasPrefix("ssh://") {
            written.removeFirst(6)
            if written.hasSuffix("/") { written.removeLast() }
        }
        let spec = try HostSpec.parse(host)
        if let port = overrides.port, !(1...65535).contains(port) {
            throw SSHError(.config, host: written, operation: "resolve host",
                           message: "the port \(port) is out of range; give a port from 1 to 65535.")
        }
        if let user = overrides.user, user.isEmpty {
            throw SSHError(.config, host: written, operation: "resolve host",
                           message: "the user name given is empty; give a user name or leave it out to use ssh_config's User.")
        }
        if let timeout = overrides.connectTimeout, !(timeout > 0) {
            throw SSHError(.config, host: written, operation: "resolve host",
                           message: "the connect timeout \(timeout) is not positive; give a number of seconds above 0.")
        }
        if let interval = overrides.serverAliveInterval, interval < 0 {
            throw SSHError(.config, host: written, operation: "resolve host",
                           message: "the keepalive interval \(interval) is negative; give seconds, or 0 to turn keepalives off.")
        }
        if let count = overrides.serverAliveCountMax, count < 1 {
            throw SSHError(.config, host: written, operation: "resolve host",
                           message: "the keepalive count \(count) is below 1; give how many unanswered keepalives end the connection.")
        }
        let resolved = try config.resolve(host: spec.host, localUser: localUser)
        if let command = resolved.proxyCommand {
            throw Self.proxyCommandError(command, host: spec.host, label: written)
        }
        if let source = resolved.forwardAgentSource {
            throw SSHError(.config, host: written, operation: "resolve host",
                           message: "ssh_config asks to forward your agent to \(spec.host) (ForwardAgent at \(source)), which fab cannot do: libssh2 1.10 cannot serve forwarded agent channels; put `ForwardAgent no` in a Host block for \(spec.host) above that line (the first value wins), or run the commands that need your agent with ssh -A.")
        }
        var hops: [JumpHost] = resolved.proxyJump ?? []
        if resolved.proxyJump == nil, let gateway = overrides.gateway, !gateway.trimmingCharacters(in: .whitespaces).isEmpty {
            hops = try gateway.split(separator: ",", omittingEmptySubsequences: false).map { part in
                do {
                    let hop = try HostSpec.parse(String(part))
                    return JumpHost(user: hop.user, host: hop.host, port: hop.port)
                } catch var error as SSHError {
                    error.host = written
                    error.operation = "resolve gateway \(gateway)"
                    throw error
                }
            }
        }
        var target = makeTarget(alias: written, config: resolved, user: overrides.user ?? spec.user,
                                port: overrides.port ?? spec.port, extraIdentities: overrides.identityFiles, overrides: overrides)
        target.jumpHosts = try resolveChain(hops, seen: [SSHPattern.asciiLowercased(spec.host)], label: written, overrides: overrides)
        return target
    }

    // MARK: Jump hosts

    /// Resolves hops (connection order) through the configuration; the first hop's own `ProxyJump` is followed.
    private func resolveChain(_ hops: [JumpHost], seen: [String], label: String, overrides: Overrides) throws -> [SSHTarget] {
        var chain: [SSHTarget] = []
        for (index, hop) in hops.enumerated() {
            let resolved = try config.resolve(host: hop.host, localUser: localUser)
            if index == 0 {
                let key = SSHPattern.asciiLowercased(hop.host)
                if seen.contains(key) {
                    let path = (seen + [key]).joined(separator: " -> ")
                    throw SSHError(.config, host: label, operation: "resolve ProxyJump",
                                   message: "the ProxyJump chain loops (\(path)), which ssh would follow forever; add \"ProxyJump none\" to the Host block of \(seen.last ?? key).")
                }
                if let command = resolved.proxyCommand {
                    var error = Self.proxyCommandError(command, host: hop.host, label: label)
                    error.operation = "resolve jump host \(hop.host)"
                    throw error
                }
                if let inner = resolved.proxyJump, !inner.isEmpty {
                    chain += try resolveChain(inner, seen: seen + [key], label: label, overrides: overrides)
                }
            }
            var shared = overrides
            shared.user = nil
            shared.port = nil
            chain.append(makeTarget(alias: hop.description, config: resolved, user: hop.user, port: hop.port,
                                    extraIdentities: [], overrides: shared))
        }
        return chain
    }

    // MARK: Assembly

    private func makeTarget(alias: String, config resolved: SSHHostConfig, user: String?, port: Int?,
                            extraIdentities: [String], overrides: Overrides) -> SSHTarget {
        var identities = extraIdentities.map { Self.expandHome($0, home: homeDirectory) }
        for file in resolved.identityFiles where !identities.contains(file) { identities.append(file) }
        let configuredTimeout = resolved.connectTimeout.flatMap { $0 > 0 ? Double($0) : nil }
        var target = SSHTarget(
            alias: alias, hostName: resolved.hostName, port: port ?? resolved.port ?? 22,
            user: user ?? resolved.user ?? localUser, identityFiles: identities,
            identitiesOnly: resolved.identitiesOnly ?? false, useAgent: overrides.useAgent ?? true,
            hostKeyPolicy: overrides.hostKeyPolicy ?? Self.policy(resolved.hostKeyChecking),
            knownHostsFiles: overrides.knownHostsFiles?.map { Self.expandHome($0, home: homeDirectory) } ?? knownHostsFiles(resolved),
            hostKeyAlias: resolved.hostKeyAlias, hashKnownHosts: resolved.hashKnownHosts ?? false,
            connectTimeout: overrides.connectTimeout ?? configuredTimeout ?? 10,
            serverAliveInterval: overrides.serverAliveInterval ?? resolved.serverAliveInterval ?? SSHTarget.defaultServerAliveInterval,
            serverAliveCountMax: overrides.serverAliveCountMax ?? resolved.serverAliveCountMax ?? SSHTarget.defaultServerAliveCountMax)
        target.configFiles = config.paths
        return target
    }

    /// `StrictHostKeyChecking` as a fab policy. Unset means OpenSSH's `ask`, which without a terminal is strict.
    static func policy(_ checking: SSHHostConfig.HostKeyCheckingPolicy?) -> HostKeyPolicy {
        switch checking {
        case .acceptNew: return .acceptNew
        case .off: return .insecure
        case .strict, .ask, nil: return .strict
        }
    }

    /// The user files (configured, or this resolver's `~/.ssh/known_hosts` and `known_hosts2`; none for
    /// `UserKnownHostsFile none`), then the global ones, as ``SSHHostConfig/knownHostsFiles`` orders them.
    private func knownHostsFiles(_ resolved: SSHHostConfig) -> [String] {
        let userNone = resolved.userKnownHostsFiles.isEmpty && resolved.knownHostsFileForNewKeys == nil
        let configUserCount = !resolved.userKnownHostsFiles.isEmpty ? resolved.userKnownHostsFiles.count : (userNone ? 0 : 2)
        let global = Array(resolved.knownHostsFiles.dropFirst(configUserCount))
        if !resolved.userKnownHostsFiles.isEmpty || userNone { return resolved.userKnownHostsFiles + global }
        let ssh = Self.expandHome("~/.ssh", home: homeDirectory)
        return ["\(ssh)/known_hosts", "\(ssh)/known_hosts2"] + global
    }

    /// Refuses a `ProxyCommand`, suggesting the `ProxyJump` line that does the same when the command is `ssh -W`.
    static func proxyCommandError(_ command: String, host: String, label: String) -> SSHError {
        let advice = proxyJumpEquivalent(of: command).map { "replace it with \"ProxyJump \($0)\"" }
            ?? "replace it with \"ProxyJump [user@]jumphost[:port]\" naming the host it connects through"
        return SSHError(.config, host: label, operation: "resolve host",
                        message: "ssh_config gives \(host) \"ProxyCommand \(command)\"; fab supports ProxyJump but not ProxyCommand, so \(advice).")
    }

    /// `ssh [-l user] [-p port] [-J hops] -W %h:%p [user@]jump` as a `ProxyJump` value; nil for other commands.
    static func proxyJumpEquivalent(of command: String) -> String? {
        let words = command.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard let program = words.first, program == "ssh" || program.hasSuffix("/ssh") else { return nil }
        var user: String?, port: String?, jumps: String?, destination: String?, forwardsStdio = false
        var index = 1
        while index < words.count {
            let word = words[index]
            index += 1
            guard word.hasPrefix("-"), word.count > 1 else {
                if destination != nil { return nil }  // a remote command: not a plain jump
                destination = word
                continue
            }
            let letter = word.dropFirst().first ?? " "
            guard "BbcDEeFIiJLlmOoPpRSWw".contains(letter) else { continue }  // flags without a value
            var value = String(word.dropFirst(2))
            if value.isEmpty {
                guard index < words.count else { return nil }
                value = words[index]
                index += 1
            }
            switch letter {
            case "l": user = value
            case "p": port = value
            case "J": jumps = value
            case "W": forwardsStdio = value.contains("%h")
            default: break
            }
        }
        guard forwardsStdio, var hop = destination, !hop.contains("%") else { return nil }
        if let user, !hop.contains("@") { hop = "\(user)@\(hop)" }
        if let port { hop += ":\(port)" }
        return jumps.map { "\($0),\(hop)" } ?? hop
    }

    /// `~` and `~/...` under `home`; other paths unchanged.
    static func expandHome(_ path: String, home: String) -> String {
        guard path == "~" || path.hasPrefix("~/") else { return path }
        let rest = path.dropFirst(2)
        if rest.isEmpty { return home }
        return home.hasSuffix("/") ? home + rest : home + "/" + rest
    }
}

/// `[user@]host[:port]` as written on a command line.
struct HostSpec: Equatable {
    var user: String?
    var host: String
    var port: Int?

    /// Parses a host string; the user ends at the last `@` (as ssh), IPv6 addresses take brackets when a port follows.
    /// - Throws: ``SSHError`` (`.config`) with a sentence saying what is wrong.
    static func parse(_ text: String) throws -> HostSpec {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        func fail(_ problem: String) -> SSHError {
            SSHError(.config, host: trimmed.isEmpty ? "(empty)" : trimmed, operation: "resolve host",
                     message: "\"\(trimmed)\" is not a valid host: \(problem); write [user@]host[:port], with an IPv6 address as [address]:port.")
        }
        var rest = Substring(trimmed)
        if rest.hasPrefix("ssh://") {
            rest = rest.dropFirst(6)
            if rest.hasSuffix("/") { rest = rest.dropLast() }
        }
        guard !rest.isEmpty else { throw fail("it is empty") }
        if let bad = rest.first(where: { $0.isWhitespace || $0.asciiValue.map { $0 < 0x20 || $0 == 0x7F } == true }) {
            throw fail(bad.isWhitespace ? "it contains a space" : "it contains a control character")
        }
        var user: String?
        if let at = rest.lastIndex(of: "@") {
            guard at != rest.startIndex else { throw fail("nothing comes before '@'; give the user name or drop the '@'") }
            user = String(rest[..<at])
            rest = rest[rest.index(after: at)...]
            guard !rest.isEmpty else { throw fail("no host follows '@'") }
        }
        var host: Substring
        var portText: Substring?
        if rest.first == "[" {
            guard let close = rest.firstIndex(of: "]") else { throw fail("'[' is not closed by ']'") }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.first == ":" else { throw fail("\"\(after)\" follows ']', where only :port may") }
                portText = after.dropFirst()
            }
            guard !host.isEmpty else { throw fail("the brackets are empty") }
        } else if rest.contains("]") {
            throw fail("']' has no opening '['")
        } else {
            let colons = rest.filter { $0 == ":" }.count
            if colons > 1 {
                guard isIPv6(String(rest)) else { throw fail("it has several ':' but is not an IPv6 address") }
                host = rest
            } else if let colon = rest.firstIndex(of: ":") {
                host = rest[..<colon]
                portText = rest[rest.index(after: colon)...]
                guard !host.isEmpty else { throw fail("no host comes before ':'") }
            } else {
                host = rest
            }
        }
        var port: Int?
        if let portText {
            guard !portText.isEmpty else { throw fail("':' is not followed by a port") }
            guard portText.allSatisfy({ $0.isASCII && $0.isNumber }), portText.count <= 5,
                  let value = Int(portText), (1...65535).contains(value) else {
                throw fail("the port \"\(portText)\" is not a number from 1 to 65535")
            }
            port = value
        }
        if host.hasPrefix("-") { throw fail("it starts with '-', which ssh would read as an option") }
        let forbidden = "'`\"$\\;&<>|(){}/,"
        if let bad = host.first(where: { forbidden.contains($0) }) {
            let hint = bad == "," ? " (for jump hosts use ProxyJump or the gateway)" : ""
            throw fail("a host name cannot contain '\(bad)'\(hint)")
        }
        return HostSpec(user: user, host: String(host), port: port)
    }

    private static func isIPv6(_ text: String) -> Bool {
        var address = in6_addr()
        let bare = text.split(separator: "%", maxSplits: 1).first.map(String.init) ?? text  // fe80::1%eth0
        return inet_pton(AF_INET6, bare, &address) == 1
    }
}

/// The current user's name and home from the password database, as ssh reads them.
struct LocalAccount {
    var name: String
    var home: String

    static func current() -> LocalAccount {
        let environment = ProcessInfo.processInfo.environment
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        if getpwuid_r(getuid(), &entry, &buffer, buffer.count, &result) == 0, result != nil,
           let name = entry.pw_name, let home = entry.pw_dir {
            return LocalAccount(name: String(cString: name), home: String(cString: home))
        }
        return LocalAccount(name: environment["USER"] ?? environment["LOGNAME"] ?? String(getuid()),
                            home: environment["HOME"] ?? "/")
    }
}
