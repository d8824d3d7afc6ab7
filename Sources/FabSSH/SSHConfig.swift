import CCrypto
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Errors

// MARK: - Resolved values

/// One hop of a `ProxyJump` chain: `[user@]host[:port]`.
public struct JumpHost: Sendable, Equatable, CustomStringConvertible {
    /// The user to log in as on the jump host; nil to let that host's own configuration decide.
    public var user: String?
    /// The jump host's name or address (brackets removed from IPv6 literals).
    public var host: String
    /// The jump host's port; nil to let that host's own configuration decide.
    public var port: Int?

    /// Makes a hop from its parts.
    public init(user: String? = nil, host: String, port: Int? = nil) {
        self.user = user
        self.host = host
        self.port = port
    }

    /// Parses `[user@]host[:port]` (IPv6 as `[addr]:port`) or `ssh://[user@]host[:port]`, as OpenSSH's `ProxyJump` does.
    /// - Throws: ``SSHError`` (code `invalidValue`, no file) when the text is empty, has an empty user,
    ///   a port outside 1...65535, or (in URI form) a path.
    public init(parsing text: String) throws {
        guard let parsed = JumpHost.parse(text) else {
            throw SSHError.config(.invalidValue, file: nil, line: nil,
                message: "ProxyJump hop \"\(text)\" is malformed; write it as [user@]host[:port] or ssh://[user@]host[:port] with a port from 1 to 65535.")
        }
        self = parsed
    }

    /// `[user@]host[:port]`, with brackets around IPv6 literals when a port follows.
    public var description: String {
        var text = user.map { "\($0)@" } ?? ""
        let needsBrackets = host.contains(":")
        text += needsBrackets ? "[\(host)]" : host
        if let port { text += ":\(port)" }
        return text
    }

    static func parse(_ text: String) -> JumpHost? {
        if text.hasPrefix("ssh://") { return parseURI(String(text.dropFirst(6))) }
        // parse_user_host_port(): the user ends at the last '@'.
        var rest = Substring(text)
        var user: String?
        if let at = rest.lastIndex(of: "@") {
            let candidate = rest[..<at]
            if candidate.isEmpty { return nil }
            user = String(candidate)
            rest = rest[rest.index(after: at)...]
        }
        // hpdelim(): only ':' separates the port here ('/' is refused).
        guard let (host, portText, delimiter) = splitHostPort(rest), !host.isEmpty, delimiter != "/" else { return nil }
        var port: Int?
        if let portText, !portText.isEmpty {
            guard let value = parsePort(String(portText)) else { return nil }
            port = value
        }
        return JumpHost(user: user, host: host, port: port)
    }

    /// a2port(): a number from 1 to 65535 or a TCP service name.
    private static func parsePort(_ text: String) -> Int? {
        parsePortNumber(text) ?? serviceNamePort(text)
    }

    /// valid_domain(): letters, digits, '.', '-', '_', starting with a letter or digit, no empty labels.
    private static func isValidDomain(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.isASCII, first.properties.isAlphabetic || ("0"..."9").contains(first),
              !name.contains("..") else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-._".unicodeScalars.contains($0)) }
    }

    private static func parseURI(_ body: String) -> JumpHost? {
        var rest = Substring(body)
        var user: String?
        if let at = rest.firstIndex(of: "@") {
            var userPart = rest[..<at]
            if let semicolon = userPart.firstIndex(of: ";") { userPart = userPart[..<semicolon] }  // connection parameters are ignored
            if userPart.isEmpty { return nil }
            guard let decoded = String(userPart).removingPercentEncoding else { return nil }
            user = decoded
            rest = rest[rest.index(after: at)...]
        }
        guard let (host, tail, delimiter) = splitHostPort(rest), !host.isEmpty else { return nil }
        guard isValidDomain(host) else { return nil }
        var port: Int?
        if var tail, !tail.isEmpty {
            if delimiter == ":" {
                var portText = tail
                var path: Substring = ""
                if let slash = tail.firstIndex(of: "/") {
                    portText = tail[..<slash]
                    path = tail[tail.index(after: slash)...]
                }
                if !portText.isEmpty {
                    guard let value = parsePort(String(portText)) else { return nil }
                    port = value
                }
                tail = path
            }
            if !tail.isEmpty { return nil }  // a path is not allowed in a ProxyJump URI
        }
        return JumpHost(user: user, host: host, port: port)
    }

    /// hpdelim2(): splits `host[:|/]rest` or `[host]:rest`; returns the host without brackets.
    private static func splitHostPort(_ text: Substring) -> (String, Substring?, Character?)? {
        if text.first == "[" {
            guard let close = text.firstIndex(of: "]") else { return nil }
            let host = text[text.index(after: text.startIndex)..<close]
            let after = text.index(after: close)
            if after == text.endIndex { return (String(host), nil, nil) }
            let delimiter = text[after]
            guard delimiter == ":" || delimiter == "/" else { return nil }
            return (String(host), text[text.index(after: after)...], delimiter)
        }
        guard let cut = text.firstIndex(where: { $0 == ":" || $0 == "/" }) else { return (String(text), nil, nil) }
        return (String(text[..<cut]), text[text.index(after: cut)...], text[cut])
    }
}

/// The settings OpenSSH would use to connect to one host, as `ssh -G` resolves them.
public struct SSHHostConfig: Sendable, Equatable {
    /// How strictly to check host keys (`StrictHostKeyChecking`).
    public enum HostKeyCheckingPolicy: String, Sendable, Equatable {
        /// `yes`/`true`: refuse unknown and changed keys.
        case strict
        /// `accept-new`: record unknown keys, refuse changed ones.
        case acceptNew
        /// `no`/`off`/`false`: record unknown keys and (OpenSSH) connect with restrictions on changed ones.
        case off
        /// `ask` (the default): ask the user; a tool without a terminal treats it like `strict`.
        case ask
    }

    /// The name the caller asked for (`%n`).
    public var alias: String
    /// `HostName` with `%h` expanded and lowercased as OpenSSH does; the alias (lowercased) when unset.
    public var hostName: String
    /// `User`; nil when unset (the caller then uses the local user).
    public var user: String?
    /// `Port`; nil when unset (22).
    public var port: Int?
    /// `IdentityFile` values in order, duplicates removed, with `~`, `${VAR}` and `%` tokens expanded; empty when unset.
    public var identityFiles: [String]
    /// `IdentitiesOnly`; nil when unset.
    public var identitiesOnly: Bool?
    /// `ProxyJump` hops in connection order; nil when unset (or when a `ProxyCommand` came first), `[]` for `none`.
    public var proxyJump: [JumpHost]?
    /// `ProxyCommand`, unexpanded; nil when unset, `none`, or overridden by an earlier `ProxyJump`.
    public var proxyCommand: String?
    /// `StrictHostKeyChecking` as written, lowercased (`yes`, `no`, `ask`, `accept-new`, `off`, `true`, `false`); nil when unset.
    public var strictHostKeyChecking: String?
    /// `UserKnownHostsFile` values, `~` and tokens expanded; empty when unset or `none`.
    public var userKnownHostsFiles: [String]
    /// `GlobalKnownHostsFile` values as written (OpenSSH 9.2 does not expand them); empty when unset or `none`.
    public var globalKnownHostsFiles: [String]
    /// The known_hosts files OpenSSH would read, in order: the user files (default `~/.ssh/known_hosts`,
    /// `~/.ssh/known_hosts2`), then the global ones (default `/etc/ssh/ssh_known_hosts`, `/etc/ssh/ssh_known_hosts2`); `none` contributes nothing.
    public var knownHostsFiles: [String]
    /// Where OpenSSH records a newly accepted key: the first user known_hosts file; nil when `UserKnownHostsFile none`.
    public var knownHostsFileForNewKeys: String?
    /// `HashKnownHosts`; nil when unset (OpenSSH's default is no, Debian's /etc/ssh/ssh_config sets yes).
    public var hashKnownHosts: Bool?
    /// `ConnectTimeout` in seconds; nil when unset or `none`.
    public var connectTimeout: Int?
    /// `ServerAliveInterval` in seconds; nil when unset or `none`.
    public var serverAliveInterval: Int?
    /// `ServerAliveCountMax`; nil when unset (3).
    public var serverAliveCountMax: Int?
    /// `HostKeyAlias`, lowercased as OpenSSH does; nil when unset.
    public var hostKeyAlias: String?
    /// Where `ForwardAgent` turns agent forwarding on (`FILE:LINE`); nil when it is `no` or unset.
    /// fab cannot forward the agent (libssh2 1.10 cannot serve the channels), so resolving refuses such a host.
    public var forwardAgentSource: String?

    /// Makes a configuration with nothing set, for `alias`.
    public init(alias: String, hostName: String? = nil) {
        self.alias = alias
        self.hostName = hostName ?? SSHPattern.asciiLowercased(alias)
        self.user = nil
        self.port = nil
        self.identityFiles = []
        self.identitiesOnly = nil
        self.proxyJump = nil
        self.proxyCommand = nil
        self.strictHostKeyChecking = nil
        self.userKnownHostsFiles = []
        self.globalKnownHostsFiles = []
        self.knownHostsFiles = []
        self.knownHostsFileForNewKeys = nil
        self.hashKnownHosts = nil
        self.connectTimeout = nil
        self.serverAliveInterval = nil
        self.serverAliveCountMax = nil
        self.hostKeyAlias = nil
        self.forwardAgentSource = nil
    }

    /// `strictHostKeyChecking` as a policy; nil when unset.
    public var hostKeyChecking: HostKeyCheckingPolicy? {
        switch strictHostKeyChecking {
        case "yes", "true": return .strict
        case "accept-new": return .acceptNew
        case "no", "off", "false": return .off
        case "ask": return .ask
        default: return nil
        }
    }

    /// The name to look up in known_hosts: `HostKeyAlias` when set, else `hostName`.
    public var knownHostsName: String { hostKeyAlias ?? hostName }

    /// The port to look up in known_hosts: 22 (the plain form) when `HostKeyAlias` is set, as OpenSSH does; else the port.
    public var knownHostsPort: Int { hostKeyAlias != nil ? 22 : (port ?? 22) }
}

// MARK: - Parsed configuration

/// A parsed OpenSSH client configuration (`~/.ssh/config`, `/etc/ssh/ssh_config`, or a `-F` file), ready to resolve hosts.
public struct SSHConfig: Sendable {
    /// The configuration with no files: every host resolves to its defaults.
    public static let empty = SSHConfig(files: [], homeDirectory: "/")

    let files: [SSHConfigFile]
    let homeDirectory: String

    /// The top-level files read (the `-F` file, or the user's then the system's), as given; missing files are not listed.
    public var paths: [String] { files.map(\.path) }

    init(files: [SSHConfigFile], homeDirectory: String) {
        self.files = files
        self.homeDirectory = homeDirectory
    }

    /// Parses a user configuration file (as `ssh -F FILE`), following `Include` (relative paths under
    /// `homeDirectory/.ssh`, `~`, glob patterns). A missing file is an empty configuration.
    /// - Parameters:
    ///   - path: The file to read.
    ///   - homeDirectory: The local user's home, for `~`, relative includes and `%d`.
    /// - Throws: ``SSHError`` when the file or an included one cannot be read, has unsafe permissions
    ///   (included files only, as OpenSSH), or has a malformed value for a keyword fab uses.
    public static func load(path: String, homeDirectory: String) throws -> SSHConfig {
        var parser = ConfigParser(homeDirectory: homeDirectory, isSystem: false)
        guard let file = try parser.readFile(path, checkPermissions: false, depth: 0) else {
            return SSHConfig(files: [], homeDirectory: homeDirectory)
        }
        return SSHConfig(files: [file], homeDirectory: homeDirectory)
    }

    /// Parses configuration text as if it were the user configuration file `path` (which is used only in error
    /// messages); `Include` lines are read from disk.
    /// - Throws: ``SSHError`` as `load(path:homeDirectory:)`.
    public static func parse(_ text: String, path: String, homeDirectory: String) throws -> SSHConfig {
        var parser = ConfigParser(homeDirectory: homeDirectory, isSystem: false)
        let file = try parser.parseText(text, path: path, depth: 0)
        return SSHConfig(files: [file], homeDirectory: homeDirectory)
    }

    /// Reads the files plain `ssh` reads: `homeDirectory/.ssh/config` (which must not be writable by others), then
    /// the system file (relative includes there are under `/etc/ssh`). Missing files are empty.
    /// - Throws: ``SSHError`` as `load(path:homeDirectory:)`, and when the user file has unsafe permissions.
    public static func loadDefault(homeDirectory: String, systemConfigPath: String = "/etc/ssh/ssh_config") throws -> SSHConfig {
        var files: [SSHConfigFile] = []
        var userParser = ConfigParser(homeDirectory: homeDirectory, isSystem: false)
        if let user = try userParser.readFile(joinPath(homeDirectory, ".ssh/config"), checkPermissions: true, depth: 0) {
            files.append(user)
        }
        var systemParser = ConfigParser(homeDirectory: homeDirectory, isSystem: true)
        if let system = try systemParser.readFile(systemConfigPath, checkPermissions: false, depth: 0) {
            files.append(system)
        }
        return SSHConfig(files: files, homeDirectory: homeDirectory)
    }

    /// Resolves the settings for `alias` as `ssh -G alias` would: each keyword takes the first value found in the
    /// blocks that apply, in file order; `IdentityFile` accumulates; `Match final` blocks get a second pass.
    ///
    /// `Match exec "command"` runs the command through `/bin/sh -c` (standard input and output on /dev/null, at
    /// most ``matchExecTimeout`` seconds) and matches when it exits 0; like OpenSSH, it runs only when the criteria
    /// before it on the line matched, and its `%` tokens (`%h %p %r %u %n %l %L %d %C %k %%`) are substituted raw,
    /// unquoted, exactly as OpenSSH does, so the command sees the same text `ssh` would give it. `Match localnetwork`
    /// matches when an address of a local interface (getifaddrs) lies in one of its CIDR networks.
    /// - Parameters:
    ///   - alias: The host name as the user typed it.
    ///   - localUser: The local user name (`%u`, and `%r` when `User` is unset; `Match user`/`localuser`).
    ///   - environment: Variables for `${NAME}` in `IdentityFile` and `UserKnownHostsFile`.
    /// - Throws: ``SSHError`` naming the file and line for a keyword OpenSSH does not know (`.unknownKeyword`, unless
    ///   an `IgnoreUnknown` in effect before it lists it, as in OpenSSH), and for a `Match exec` command that cannot be
    ///   run, is killed, outlives the limit or uses an unknown `%` token (`.matchExec`).
    public func resolve(host alias: String, localUser: String,
                        environment: [String: String] = ProcessInfo.processInfo.environment) throws -> SSHHostConfig {
        var state = ConfigResolveState()
        var context = ConfigMatchContext(hostForHostLines: alias, originalHost: alias, localUser: localUser, finalPass: false, finalHost: nil)
        for file in files {
            var active = true
            try apply(file.directives, state: &state, context: context, active: &active, neverMatch: false)
        }
        let finalHost = SSHPattern.asciiLowercased(expandPercent(state.hostName ?? alias, ["h": alias]))
        if state.wantsFinalPass {
            // ssh.c sets HostName to the final name, then re-reads every file with `Host` matched against it.
            state.hostName = finalHost
            context = ConfigMatchContext(hostForHostLines: finalHost, originalHost: alias, localUser: localUser, finalPass: true, finalHost: finalHost)
            for file in files {
                var active = true
                try apply(file.directives, state: &state, context: context, active: &active, neverMatch: false)
            }
        }
        return finish(state: state, alias: alias, hostName: finalHost, localUser: localUser, environment: environment)
    }

    // MARK: Resolution

    private func apply(_ directives: [ConfigDirective], state: inout ConfigResolveState, context: ConfigMatchContext,
                       active: inout Bool, neverMatch: Bool) throws {
        for directive in directives {
            switch directive {
            case .host(let patterns):
                active = neverMatch ? false : SSHPattern.hostLineMatches(context.hostForHostLines, patterns: patterns)
            case .match(let criteria):
                if criteria.contains(where: { $0.kind == .final }) { state.wantsFinalPass = true }
                // readconf.c evaluates every Match line (running its exec), even in a file included under a false block.
                let result = try evaluate(criteria, state: state, context: context)
                active = neverMatch ? false : result
            case .include(let included):
                let outer = active
                for file in included {
                    try apply(file.directives, state: &state, context: context, active: &active, neverMatch: neverMatch || !outer)
                    active = outer  // a Match in an included file does not change the including file's state
                }
            case .setting(let setting):
                if active { state.apply(setting) }
            case .unknown(let spelled, let path, let line):
                // parse_token(): the IgnoreUnknown in effect so far (set in a block that applied) excuses it.
                let keyword = SSHPattern.asciiLowercased(spelled)
                if let ignored = state.ignoreUnknown, SSHPattern.matchList(keyword, patternList: ignored, lowercasePatterns: true) == 1 {
                    continue
                }
                throw SSHError.config(.unknownKeyword, file: path, line: line,
                                      message: "\"\(spelled)\" is not an ssh_config keyword OpenSSH 9.2 knows, so ssh refuses this file too; fix the spelling, or list the keyword in an IgnoreUnknown line above it (for options of newer OpenSSH versions).")
            }
        }
    }

    /// The longest a `Match exec` command may run before resolution fails.
    public static let matchExecTimeout: Double = 30

    private func evaluate(_ criteria: [ConfigMatchCriterion], state: ConfigResolveState, context: ConfigMatchContext) throws -> Bool {
        let host: String
        if context.finalPass, let finalHost = context.finalHost {
            host = finalHost
        } else if let hostName = state.hostName {
            host = expandPercent(hostName, ["h": context.originalHost])
        } else {
            host = context.originalHost
        }
        let remoteUser = state.user ?? context.localUser
        var result = true
        for criterion in criteria {
            let matched: Bool
            switch criterion.kind {
            case .all: matched = true
            case .canonical, .final: matched = context.finalPass
            case .host: matched = SSHPattern.matchHostname(host, patternList: criterion.argument) == 1
            case .originalHost: matched = SSHPattern.matchHostname(context.originalHost, patternList: criterion.argument) == 1
            case .user: matched = SSHPattern.matchList(remoteUser, patternList: criterion.argument, lowercasePatterns: false) == 1
            case .localUser: matched = SSHPattern.matchList(context.localUser, patternList: criterion.argument, lowercasePatterns: false) == 1
            case .localNetwork: matched = LocalNetworks.anyInterface(in: criterion.networks)
            case .exec:
                if !result { continue }  // as OpenSSH: a command after a failed criterion is not run
                let tokens = execTokens(host: host, state: state, context: context, remoteUser: remoteUser)
                guard let command = expandPercentStrict(criterion.argument, tokens) else {
                    throw SSHError.config(.matchExec, file: criterion.path, line: criterion.line,
                                          message: "Match exec \"\(criterion.argument)\" uses a % token OpenSSH does not define there; use %h %p %r %u %n %l %L %d %C %k, or %% for a percent sign.")
                }
                matched = try MatchExec.run(command, timeout: Self.matchExecTimeout, file: criterion.path, line: criterion.line)
            }
            if matched == criterion.negated { result = false }
        }
        return result
    }

    /// The `%` tokens of `Match exec`, as match_cfg_line() in OpenSSH 9.2 builds them.
    private func execTokens(host: String, state: ConfigResolveState, context: ConfigMatchContext,
                            remoteUser: String) -> [Character: String] {
        let localHost = localHostName()
        let port = String(state.port ?? 22)
        return [
            "C": sha1Hex(localHost + host + port + remoteUser), "L": String(localHost.prefix(while: { $0 != "." })),
            "d": homeDirectory, "h": host, "k": state.hostKeyAlias ?? host, "l": localHost,
            "n": context.originalHost, "p": port, "r": remoteUser, "u": context.localUser,
        ]
    }

    private func finish(state: ConfigResolveState, alias: String, hostName: String, localUser: String,
                        environment: [String: String]) -> SSHHostConfig {
        var config = SSHHostConfig(alias: alias, hostName: hostName)
        config.user = state.user
        config.port = state.port
        config.identitiesOnly = state.identitiesOnly
        config.strictHostKeyChecking = state.strictHostKeyChecking
        config.hashKnownHosts = state.hashKnownHosts
        config.connectTimeout = state.connectTimeout
        config.serverAliveInterval = state.serverAliveInterval
        config.serverAliveCountMax = state.serverAliveCountMax
        config.hostKeyAlias = state.hostKeyAlias.map(SSHPattern.asciiLowercased)
        if let forward = state.forwardAgent, !["no", "false"].contains(SSHPattern.asciiLowercased(forward.value)) {
            config.forwardAgentSource = forward.source
        }
        switch state.jump {
        case nil: config.proxyJump = nil
        case .some(.none): config.proxyJump = []
        case .some(.hops(let hops)): config.proxyJump = hops
        }
        if state.jump == nil, let command = state.proxyCommand, command.lowercased() != "none" {
            config.proxyCommand = command
        }

        let remoteUser = state.user ?? localUser
        let portText = String(state.port ?? 22)
        let localHost = localHostName()
        let shortHost = String(localHost.prefix(while: { $0 != "." }))
        var tokens: [Character: String] = [
            "d": homeDirectory, "h": hostName, "i": String(getuid()), "k": config.hostKeyAlias ?? alias,
            "L": shortHost, "l": localHost, "n": alias, "p": portText, "r": remoteUser, "u": localUser,
        ]
        tokens["C"] = sha1Hex(localHost + hostName + portText + remoteUser)
        let expandFile: (String) -> String = { raw in
            expandPercent(expandDollar(expandTilde(raw, home: homeDirectory), environment: environment), tokens)
        }
        config.identityFiles = state.identityFiles.map(expandFile)

        let userFiles = state.userKnownHostsFiles ?? ["~/.ssh/known_hosts", "~/.ssh/known_hosts2"]
        let userFilesExpanded = userFiles.count == 1 && userFiles[0].lowercased() == "none" ? [] : userFiles.map(expandFile)
        if state.userKnownHostsFiles != nil { config.userKnownHostsFiles = userFilesExpanded }
        let globalFiles = state.globalKnownHostsFiles ?? ["/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"]
        let globalFilesUsed = globalFiles.count == 1 && globalFiles[0].lowercased() == "none" ? [] : globalFiles
        if state.globalKnownHostsFiles != nil { config.globalKnownHostsFiles = globalFilesUsed }
        config.knownHostsFiles = userFilesExpanded + globalFilesUsed
        config.knownHostsFileForNewKeys = userFilesExpanded.first
        return config
    }
}

// MARK: - Parsed form

struct SSHConfigFile: Sendable {
    var path: String
    var directives: [ConfigDirective]
}

enum ConfigDirective: Sendable {
    case host([String])
    case match([ConfigMatchCriterion])
    case include([SSHConfigFile])
    case setting(ConfigSetting)
    /// A keyword OpenSSH does not know, as spelled, with where it is: an error unless `IgnoreUnknown` covers it
    /// when resolution reaches it.
    case unknown(String, path: String, line: Int)
}

struct ConfigMatchCriterion: Sendable {
    enum Kind: Sendable, Equatable { case all, canonical, final, host, originalHost, user, localUser, exec, localNetwork }
    var kind: Kind
    var negated: Bool
    var argument: String
    /// `localnetwork`'s networks, parsed.
    var networks: [CIDRNetwork] = []
    /// Where the Match line is, for `exec` errors.
    var path = ""
    var line = 0
}

enum ConfigProxyJump: Sendable, Equatable {
    case none
    case hops([JumpHost])
}

enum ConfigSetting: Sendable {
    case hostName(String)
    case user(String)
    case port(Int)
    case identityFile(String)
    case identitiesOnly(Bool)
    case proxyJump(ConfigProxyJump)
    case proxyCommand(String)
    case strictHostKeyChecking(String)
    case userKnownHostsFiles([String])
    case globalKnownHostsFiles([String])
    case hashKnownHosts(Bool)
    case connectTimeout(Int?)
    case serverAliveInterval(Int?)
    case serverAliveCountMax(Int)
    case hostKeyAlias(String)
    case ignoreUnknown(String)
    /// `ForwardAgent`'s value, with where it was written.
    case forwardAgent(String, source: String)
}

struct ConfigMatchContext {
    var hostForHostLines: String
    var originalHost: String
    var localUser: String
    var finalPass: Bool
    var finalHost: String?
}

/// The options as readconf.c fills them: the first value obtained wins.
struct ConfigResolveState {
    var hostName: String?
    var user: String?
    var port: Int?
    var identityFiles: [String] = []
    var identitiesOnly: Bool?
    var jump: ConfigProxyJump?
    var proxyCommand: String?
    var strictHostKeyChecking: String?
    var userKnownHostsFiles: [String]?
    var globalKnownHostsFiles: [String]?
    var hashKnownHosts: Bool?
    var connectTimeout: Int?
    var serverAliveInterval: Int?
    var serverAliveCountMax: Int?
    var hostKeyAlias: String?
    var ignoreUnknown: String?
    var forwardAgent: (value: String, source: String)?
    var wantsFinalPass = false

    mutating func apply(_ setting: ConfigSetting) {
        switch setting {
        case .hostName(let value): if hostName == nil { hostName = value }
        case .user(let value): if user == nil { user = value }
        case .port(let value): if port == nil { port = value }
        case .identityFile(let value): if !identityFiles.contains(value) { identityFiles.append(value) }
        case .identitiesOnly(let value): if identitiesOnly == nil { identitiesOnly = value }
        case .proxyJump(let value):
            // parse_jump(): an earlier ProxyCommand or ProxyJump wins.
            if jump == nil && proxyCommand == nil { jump = value }
        case .proxyCommand(let value):
            // An earlier ProxyJump (even `none`) wins over ProxyCommand.
            if jump == nil && proxyCommand == nil { proxyCommand = value }
        case .strictHostKeyChecking(let value): if strictHostKeyChecking == nil { strictHostKeyChecking = value }
        case .userKnownHostsFiles(let value): if userKnownHostsFiles == nil { userKnownHostsFiles = value }
        case .globalKnownHostsFiles(let value): if globalKnownHostsFiles == nil { globalKnownHostsFiles = value }
        case .hashKnownHosts(let value): if hashKnownHosts == nil { hashKnownHosts = value }
        case .connectTimeout(let value): if connectTimeout == nil { connectTimeout = value }  // `none` leaves it unset
        case .serverAliveInterval(let value): if serverAliveInterval == nil { serverAliveInterval = value }
        case .serverAliveCountMax(let value): if serverAliveCountMax == nil { serverAliveCountMax = value }
        case .hostKeyAlias(let value): if hostKeyAlias == nil { hostKeyAlias = value }
        case .ignoreUnknown(let value): if ignoreUnknown == nil { ignoreUnknown = value }
        case .forwardAgent(let value, let source): if forwardAgent == nil { forwardAgent = (value, source) }
        }
    }
}

// MARK: - ConfigParser

/// Reads configuration text into directives, validating the values of the keywords fab uses (OpenSSH validates
/// every line, whether or not its block applies).
struct ConfigParser {
    /// readconf.c's READCONF_MAX_DEPTH.
    static let maxIncludeDepth = 16

    let homeDirectory: String
    let isSystem: Bool

    init(homeDirectory: String, isSystem: Bool) {
        self.homeDirectory = homeDirectory
        self.isSystem = isSystem
    }

    /// Reads and parses `path`; nil when it does not exist.
    mutating func readFile(_ path: String, checkPermissions: Bool, depth: Int) throws -> SSHConfigFile? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            let code = errno
            if code == ENOENT || code == ENOTDIR { return nil }
            throw SSHError.config(.unreadableFile, file: path, line: nil,
                                 message: "cannot be read (\(String(cString: strerror(code)))); fix its permissions or remove the reference to it.")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else {
            throw SSHError.config(.unreadableFile, file: path, line: nil,
                                 message: "is not a regular file; point the configuration at a file.")
        }
        if checkPermissions && ((info.st_uid != 0 && info.st_uid != getuid()) || (info.st_mode & 0o022) != 0) {
            throw SSHError.config(.insecurePermissions, file: path, line: nil,
                                 message: "has bad owner or permissions, which OpenSSH refuses; make it owned by you and not writable by group or others (chmod go-w).")
        }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                let code = errno
                throw SSHError.config(.unreadableFile, file: path, line: nil,
                                     message: "cannot be read (\(String(cString: strerror(code)))); fix the file or remove the reference to it.")
            }
            if count == 0 { break }
            bytes.append(contentsOf: buffer[0..<count])
        }
        return try parseText(String(decoding: bytes, as: UTF8.self), path: path, depth: depth)
    }

    mutating func parseText(_ text: String, path: String, depth: Int) throws -> SSHConfigFile {
        var directives: [ConfigDirective] = []
        var lineNumber = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            lineNumber += 1
            if let directive = try parseLine(Array(rawLine.utf8), path: path, line: lineNumber, depth: depth) {
                directives.append(directive)
            }
        }
        return SSHConfigFile(path: path, directives: directives)
    }

    private mutating func parseLine(_ line: [UInt8], path: String, line number: Int, depth: Int) throws -> ConfigDirective? {
        guard let (keywordBytes, rest) = ConfigLineSplitter.keywordAndRest(line) else { return nil }
        let spelled = String(decoding: keywordBytes, as: UTF8.self)
        let keyword = SSHPattern.asciiLowercased(spelled)
        let fail = { (code: SSHError.Code, message: String) -> SSHError in
            SSHError.config(code, file: path, line: number, message: message)
        }
        let known: Set<String> = [
            "host", "match", "include", "hostname", "user", "port", "identityfile", "identitiesonly", "proxyjump",
            "proxycommand", "stricthostkeychecking", "userknownhostsfile", "globalknownhostsfile", "hashknownhosts",
            "connecttimeout", "serveraliveinterval", "serveralivecountmax", "hostkeyalias", "ignoreunknown",
            "forwardagent",
        ]
        guard known.contains(keyword) else {
            // Keywords OpenSSH knows but fab does not use are accepted and ignored; others are refused when
            // resolution reaches them, unless an IgnoreUnknown in effect there lists them.
            return Self.openSSHKeywords.contains(keyword) ? nil : .unknown(spelled, path: path, line: number)
        }
        guard !rest.isEmpty else {
            throw fail(.missingArgument, "\(spelled) has no value; give it one or remove the line.")
        }
        if keyword == "proxycommand" {
            // readconf.c takes the rest of the line verbatim (after any '=' and whitespace).
            let value = rest.drop(while: { $0 == 0x20 || $0 == 0x09 || $0 == 0x3D })
            return .setting(.proxyCommand(String(decoding: value, as: UTF8.self)))
        }
        guard let arguments = ConfigLineSplitter.arguments(rest) else {
            throw fail(.invalidQuotes, "\(spelled) has an unclosed quote; close it or remove it.")
        }
        if arguments.isEmpty {
            throw fail(.missingArgument, "\(spelled) has no value; give it one or remove the line.")
        }
        if keyword != "match", arguments.contains("") {
            throw fail(.invalidValue, "\(spelled) has an empty value; remove the empty quotes.")
        }
        func single() throws -> String {
            if arguments.count > 1 {
                throw fail(.extraArgument, "\(spelled) takes one value but has \(arguments.count) (\(arguments.joined(separator: " "))); keep one, and quote values that contain spaces.")
            }
            return arguments[0]
        }
        func flag() throws -> Bool {
            switch SSHPattern.asciiLowercased(try single()) {
            case "yes", "true": return true
            case "no", "false": return false
            default: throw fail(.invalidValue, "\(spelled) must be yes or no, not \"\(arguments[0])\".")
            }
        }
        func time() throws -> Int? {
            let value = try single()
            if value == "none" { return nil }
            guard let seconds = parseTimeSpec(value) else {
                throw fail(.invalidValue, "\(spelled) \"\(value)\" is not a time; write seconds (30) or a spec such as 1m30s.")
            }
            return seconds
        }
        func fileList() throws -> [String] {
            if arguments.contains(where: { SSHPattern.asciiLowercased($0) == "none" }) && arguments.count > 1 {
                throw fail(.invalidValue, "\(spelled) \"none\" must appear alone; remove the other files or the none.")
            }
            return arguments
        }

        switch keyword {
        case "host":
            return .host(arguments)
        case "match":
            return .match(try parseMatch(arguments, path: path, line: number, fail: fail))
        case "include":
            if depth >= Self.maxIncludeDepth {
                throw fail(.includeTooDeep, "Include nests more than \(Self.maxIncludeDepth) levels deep; look for a file that includes itself.")
            }
            var files: [SSHConfigFile] = []
            for argument in arguments {
                let pattern: String
                if argument.hasPrefix("~") {
                    if isSystem {
                        throw fail(.invalidValue, "Include \"\(argument)\": ~ is not allowed in the system configuration; use an absolute path.")
                    }
                    pattern = expandTilde(argument, home: homeDirectory)
                } else if argument.hasPrefix("/") {
                    pattern = argument
                } else {
                    pattern = isSystem ? "/etc/ssh/\(argument)" : joinPath(homeDirectory, ".ssh/\(argument)")
                }
                for match in globPaths(pattern) {
                    if let file = try readFile(match, checkPermissions: true, depth: depth + 1) {
                        files.append(file)
                    }
                }
            }
            return .include(files)
        case "hostname":
            return .setting(.hostName(try single()))
        case "user":
            return .setting(.user(try single()))
        case "port":
            let value = try single()
            guard let port = parsePortNumber(value) ?? serviceNamePort(value) else {
                throw fail(.invalidValue, "Port \"\(value)\" is not a port; use a number from 1 to 65535.")
            }
            return .setting(.port(port))
        case "identityfile":
            return .setting(.identityFile(try single()))
        case "identitiesonly":
            return .setting(.identitiesOnly(try flag()))
        case "hashknownhosts":
            return .setting(.hashKnownHosts(try flag()))
        case "proxyjump":
            var value = try single()
            if SSHPattern.asciiLowercased(value) == "none" { return .setting(.proxyJump(.none)) }
            if let hash = value.firstIndex(of: "#") { value = String(value[..<hash]) }  // as parse_jump()
            var hops: [JumpHost] = []
            for part in value.split(separator: ",", omittingEmptySubsequences: false) {
                guard let hop = JumpHost.parse(String(part)) else {
                    throw fail(.invalidValue, "ProxyJump \"\(value)\" is malformed at \"\(part)\"; write hops as [user@]host[:port] or ssh://[user@]host[:port], separated by commas.")
                }
                hops.append(hop)
            }
            return .setting(.proxyJump(.hops(hops)))
        case "stricthostkeychecking":
            let value = SSHPattern.asciiLowercased(try single())
            guard ["yes", "no", "ask", "accept-new", "off", "true", "false"].contains(value) else {
                throw fail(.invalidValue, "StrictHostKeyChecking must be yes, accept-new, no, off or ask, not \"\(arguments[0])\".")
            }
            return .setting(.strictHostKeyChecking(value))
        case "userknownhostsfile":
            return .setting(.userKnownHostsFiles(try fileList()))
        case "globalknownhostsfile":
            return .setting(.globalKnownHostsFiles(try fileList()))
        case "connecttimeout":
            return .setting(.connectTimeout(try time()))
        case "serveraliveinterval":
            return .setting(.serverAliveInterval(try time()))
        case "serveralivecountmax":
            let value = try single()
            guard !value.isEmpty, value.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), let count = Int(value), count <= Int(Int32.max) else {
                throw fail(.invalidValue, "ServerAliveCountMax \"\(value)\" is not a whole number; use 0 or more.")
            }
            return .setting(.serverAliveCountMax(count))
        case "hostkeyalias":
            return .setting(.hostKeyAlias(try single()))
        case "ignoreunknown":
            return .setting(.ignoreUnknown(try single()))
        case "forwardagent":
            return .setting(.forwardAgent(try single(), source: "\(path):\(number)"))
        default:
            return nil
        }
    }

    /// Every keyword of OpenSSH 9.2 as Debian builds it (readconf.c's table with GSSAPI, PKCS#11 and Debian's
    /// additions), including the deprecated and unsupported ones it accepts with a warning.
    static let openSSHKeywords: Set<String> = [
        "protocol", "cipher", "fallbacktorsh", "globalknownhostsfile2", "rhostsauthentication", "userknownhostsfile2",
        "useroaming", "usersh", "useprivilegedport", "useblacklistedkeys", "afstokenpassing", "kerberosauthentication",
        "kerberostgtpassing", "rsaauthentication", "rhostsrsaauthentication", "compressionlevel",
        "gssapiauthentication", "gssapidelegatecredentials", "gssapikeyexchange", "gssapiclientidentity",
        "gssapiserveridentity", "gssapirenewalforcesrekey", "gssapitrustdns", "gssapikexalgorithms",
        "pkcs11provider", "smartcarddevice", "forwardagent", "forwardx11", "forwardx11trusted", "forwardx11timeout",
        "exitonforwardfailure", "xauthlocation", "gatewayports", "passwordauthentication",
        "kbdinteractiveauthentication", "kbdinteractivedevices", "challengeresponseauthentication",
        "skeyauthentication", "tisauthentication", "pubkeyauthentication", "dsaauthentication",
        "hostbasedauthentication", "identityfile", "identityfile2", "identitiesonly", "certificatefile",
        "addkeystoagent", "identityagent", "hostname", "hostkeyalias", "proxycommand", "port", "ciphers", "macs",
        "remoteforward", "localforward", "permitremoteopen", "user", "host", "match", "escapechar",
        "globalknownhostsfile", "userknownhostsfile", "connectionattempts", "batchmode", "checkhostip",
        "stricthostkeychecking", "compression", "tcpkeepalive", "keepalive", "numberofpasswordprompts",
        "syslogfacility", "loglevel", "logverbose", "dynamicforward", "preferredauthentications",
        "hostkeyalgorithms", "casignaturealgorithms", "bindaddress", "bindinterface", "clearallforwardings",
        "enablesshkeysign", "verifyhostkeydns", "nohostauthenticationforlocalhost", "rekeylimit", "connecttimeout",
        "addressfamily", "serveraliveinterval", "serveralivecountmax", "sendenv", "setenv", "controlpath",
        "controlmaster", "controlpersist", "hashknownhosts", "include", "tunnel", "tunneldevice", "localcommand",
        "permitlocalcommand", "remotecommand", "visualhostkey", "kexalgorithms", "ipqos", "requesttty",
        "sessiontype", "stdinnull", "forkafterauthentication", "proxyusefdpass", "canonicaldomains",
        "canonicalizefallbacklocal", "canonicalizehostname", "canonicalizemaxdots", "canonicalizepermittedcnames",
        "streamlocalbindmask", "streamlocalbindunlink", "revokedhostkeys", "fingerprinthash", "updatehostkeys",
        "hostbasedacceptedalgorithms", "hostbasedkeytypes", "pubkeyacceptedalgorithms", "pubkeyacceptedkeytypes",
        "ignoreunknown", "proxyjump", "securitykeyprovider", "knownhostscommand", "requiredrsasize",
        "enableescapecommandline", "protocolkeepalives", "setuptimeout",
    ]

    private func parseMatch(_ arguments: [String], path: String, line: Int,
                            fail: (SSHError.Code, String) -> SSHError) throws -> [ConfigMatchCriterion] {
        var criteria: [ConfigMatchCriterion] = []
        var index = 0
        while index < arguments.count {
            var name = arguments[index]
            index += 1
            let negated = name.hasPrefix("!")
            if negated { name.removeFirst() }
            let lower = SSHPattern.asciiLowercased(name)
            switch lower {
            case "all":
                let onlyQualifiers = criteria.allSatisfy { $0.kind == .canonical || $0.kind == .final }
                if !onlyQualifiers || index < arguments.count {
                    throw fail(.invalidMatch, "Match 'all' cannot be combined with other criteria; remove 'all' or the others.")
                }
                criteria.append(ConfigMatchCriterion(kind: .all, negated: negated, argument: ""))
            case "canonical", "final":
                criteria.append(ConfigMatchCriterion(kind: lower == "final" ? .final : .canonical, negated: negated, argument: ""))
            case "host", "originalhost", "user", "localuser", "exec", "localnetwork":
                guard index < arguments.count, !arguments[index].isEmpty else {
                    throw fail(.invalidMatch, "Match \(name) needs an argument; add the pattern or command.")
                }
                let argument = arguments[index]
                index += 1
                let kind: ConfigMatchCriterion.Kind
                var networks: [CIDRNetwork] = []
                switch lower {
                case "host": kind = .host
                case "originalhost": kind = .originalHost
                case "user": kind = .user
                case "localuser": kind = .localUser
                case "exec": kind = .exec
                default:
                    kind = .localNetwork
                    for entry in argument.split(separator: ",", omittingEmptySubsequences: false) {
                        guard let network = CIDRNetwork(String(entry)) else {
                            throw fail(.invalidMatch, "Match localnetwork \"\(entry)\" is not a network; write address/bits with the host bits zero, such as 192.168.1.0/24 or fd00::/8, separated by commas.")
                        }
                        networks.append(network)
                    }
                }
                criteria.append(ConfigMatchCriterion(kind: kind, negated: negated, argument: argument, networks: networks,
                                                     path: path, line: line))
            default:
                throw fail(.invalidMatch, "Match \"\(name)\" is not a criterion OpenSSH 9.2 knows, so ssh refuses this file too; use all, canonical, final, exec, localnetwork, host, originalhost, user or localuser.")
            }
        }
        return criteria
    }
}

/// Splits configuration lines as readconf.c does (strdelim for the keyword, argv_split for the values).
enum ConfigLineSplitter {
    private static func isSpace(_ byte: UInt8) -> Bool { byte == 0x20 || byte == 0x09 || byte == 0x0D || byte == 0x0A }

    /// The keyword and the rest of the line (after `=`/whitespace), or nil for blank and comment lines.
    static func keywordAndRest(_ line: [UInt8]) -> ([UInt8], ArraySlice<UInt8>)? {
        var end = line.count
        while end > 0, isSpace(line[end - 1]) || line[end - 1] == 0x0C { end -= 1 }
        var start = 0
        while start < end, isSpace(line[start]) { start += 1 }
        guard start < end, line[start] != 0x23 else { return nil }
        var cursor = start
        while cursor < end, !isSpace(line[cursor]), line[cursor] != 0x3D { cursor += 1 }
        let keyword = Array(line[start..<cursor])
        guard !keyword.isEmpty else { return nil }
        var sawEquals = false
        if cursor < end, line[cursor] == 0x3D { sawEquals = true; cursor += 1 }
        while cursor < end, isSpace(line[cursor]) { cursor += 1 }
        if !sawEquals, cursor < end, line[cursor] == 0x3D {
            cursor += 1
            while cursor < end, isSpace(line[cursor]) { cursor += 1 }
        }
        return (keyword, line[cursor..<end])
    }

    /// argv_split() with comments ending the line: quotes group, backslash escapes quotes, backslash and space.
    /// Nil when a quote is not closed.
    static func arguments(_ text: ArraySlice<UInt8>) -> [String]? {
        let bytes = Array(text)
        var arguments: [String] = []
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == 0x20 || byte == 0x09 { index += 1; continue }
            if byte == 0x23 { break }
            var token: [UInt8] = []
            var quote: UInt8 = 0
            while index < bytes.count {
                let current = bytes[index]
                if current == 0x5C, index + 1 < bytes.count {
                    let next = bytes[index + 1]
                    if next == 0x27 || next == 0x22 || next == 0x5C || (quote == 0 && next == 0x20) {
                        token.append(next)
                        index += 2
                        continue
                    }
                    token.append(current)
                } else if quote == 0 && (current == 0x20 || current == 0x09) {
                    break
                } else if quote == 0 && (current == 0x22 || current == 0x27) {
                    quote = current
                } else if quote != 0 && current == quote {
                    quote = 0
                } else {
                    token.append(current)
                }
                index += 1
            }
            if quote != 0 { return nil }
            arguments.append(String(decoding: token, as: UTF8.self))
        }
        return arguments
    }
}

// MARK: - Patterns (match.c)

/// OpenSSH's wildcard matching, shared by ssh_config and known_hosts.
enum SSHPattern {
    /// match_pattern(): `*` matches any run, `?` any one character; case-sensitive.
    static func match(_ string: String, pattern: String) -> Bool {
        let text = Array(string.utf8)
        let pattern = Array(pattern.utf8)
        var t = 0, p = 0
        var starPattern = -1, starText = 0
        while t < text.count {
            if p < pattern.count && (pattern[p] == 0x3F || pattern[p] == text[t]) && pattern[p] != 0x2A {
                t += 1; p += 1
            } else if p < pattern.count && pattern[p] == 0x2A {
                starPattern = p; starText = t; p += 1
            } else if starPattern >= 0 {
                p = starPattern + 1; starText += 1; t = starText
            } else {
                return false
            }
        }
        while p < pattern.count && pattern[p] == 0x2A { p += 1 }
        return p == pattern.count
    }

    /// match_pattern_list(): comma-separated patterns, `!` negates. 1 positive, -1 negated match, 0 none.
    static func matchList(_ string: String, patternList: String, lowercasePatterns: Bool) -> Int {
        var gotPositive = false
        for rawPattern in patternList.split(separator: ",", omittingEmptySubsequences: false) {
            var pattern = Substring(rawPattern)
            let negated = pattern.first == "!"
            if negated { pattern = pattern.dropFirst() }
            let sub = lowercasePatterns ? SSHPattern.asciiLowercased(String(pattern)) : String(pattern)
            if match(string, pattern: sub) {
                if negated { return -1 }
                gotPositive = true
            }
        }
        return gotPositive ? 1 : 0
    }

    /// match_hostname(): `matchList` with host and patterns lowercased.
    static func matchHostname(_ host: String, patternList: String) -> Int {
        matchList(SSHPattern.asciiLowercased(host), patternList: patternList, lowercasePatterns: true)
    }

    /// ASCII-only lowercasing, as OpenSSH's lowercase().
    static func asciiLowercased(_ text: String) -> String {
        String(decoding: text.utf8.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }, as: UTF8.self)
    }

    /// A `Host` line: some pattern matches and no negated pattern does.
    static func hostLineMatches(_ host: String, patterns: [String]) -> Bool {
        var matched = false
        for pattern in patterns {
            if pattern.hasPrefix("!") {
                if match(host, pattern: String(pattern.dropFirst())) { return false }
            } else if match(host, pattern: pattern) {
                matched = true
            }
        }
        return matched
    }
}

// MARK: - Helpers

/// a2port() for digits: 1...65535, else nil.
fileprivate func parsePortNumber(_ text: String) -> Int? {
    guard !text.isEmpty, text.utf8.count <= 5, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
          let value = Int(text), (1...65535).contains(value) else { return nil }
    return value
}

/// a2port()'s fallback: a TCP service name from /etc/services.
private func serviceNamePort(_ name: String) -> Int? {
    guard !name.isEmpty, name.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { return nil }
    guard let entry = getservbyname(name, "tcp") else { return nil }
    let port = Int(UInt16(bigEndian: UInt16(truncatingIfNeeded: entry.pointee.s_port)))
    return port > 0 ? port : nil
}

/// convtime(): `90`, `1m30s`, `2h`, units s m h d w (either case); nil when malformed or over Int32.max.
fileprivate func parseTimeSpec(_ text: String) -> Int? {
    let bytes = Array(text.utf8)
    guard !bytes.isEmpty else { return nil }
    var total = 0
    var index = 0
    while index < bytes.count {
        var value = 0
        let start = index
        while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 {
            value = value * 10 + Int(bytes[index] - 0x30)
            if value > Int(Int32.max) { return nil }
            index += 1
        }
        guard index > start else { return nil }
        var multiplier = 1
        if index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "s"), UInt8(ascii: "S"): multiplier = 1
            case UInt8(ascii: "m"), UInt8(ascii: "M"): multiplier = 60
            case UInt8(ascii: "h"), UInt8(ascii: "H"): multiplier = 3600
            case UInt8(ascii: "d"), UInt8(ascii: "D"): multiplier = 86400
            case UInt8(ascii: "w"), UInt8(ascii: "W"): multiplier = 604800
            default: return nil
            }
            index += 1
        }
        guard value <= Int(Int32.max) / multiplier else { return nil }
        total += value * multiplier
        if total > Int(Int32.max) { return nil }
    }
    return total
}

/// percent_expand(): replaces `%x` for the keys given and `%%`; unknown tokens are left as written.
fileprivate func expandPercent(_ text: String, _ tokens: [Character: String]) -> String {
    guard text.contains("%") else { return text }
    var result = ""
    var iterator = text.makeIterator()
    while let character = iterator.next() {
        guard character == "%" else { result.append(character); continue }
        guard let key = iterator.next() else { result.append("%"); break }
        if key == "%" {
            result.append("%")
        } else if let value = tokens[key] {
            result += value
        } else {
            result.append("%")
            result.append(key)
        }
    }
    return result
}

/// percent_expand() as OpenSSH applies it to `Match exec`: `%%` and the given tokens; nil for any other `%x`
/// or a trailing `%` (OpenSSH stops with "unknown key").
fileprivate func expandPercentStrict(_ text: String, _ tokens: [Character: String]) -> String? {
    var result = ""
    var iterator = text.makeIterator()
    while let character = iterator.next() {
        guard character == "%" else { result.append(character); continue }
        guard let key = iterator.next() else { return nil }
        if key == "%" {
            result.append("%")
        } else if let value = tokens[key] {
            result += value
        } else {
            return nil
        }
    }
    return result
}

/// dollar_expand(): replaces `${NAME}` with the environment variable; unset variables are left as written.
fileprivate func expandDollar(_ text: String, environment: [String: String]) -> String {
    guard text.contains("${") else { return text }
    var result = ""
    var rest = Substring(text)
    while let start = rest.range(of: "${") {
        result += rest[..<start.lowerBound]
        guard let close = rest[start.upperBound...].firstIndex(of: "}") else {
            rest = rest[start.lowerBound...]
            break
        }
        let name = String(rest[start.upperBound..<close])
        if let value = environment[name] {
            result += value
        } else {
            result += rest[start.lowerBound...close]
        }
        rest = rest[rest.index(after: close)...]
    }
    result += rest
    return result
}

/// tilde_expand_filename(): `~` and `~/...` become `home`, `~user/...` that user's home (left as written if unknown).
fileprivate func expandTilde(_ path: String, home: String) -> String {
    guard path.hasPrefix("~") else { return path }
    let afterTilde = path.dropFirst()
    let slash = afterTilde.firstIndex(of: "/")
    let userName = String(afterTilde[..<(slash ?? afterTilde.endIndex)])
    let rest = slash.map { String(afterTilde[$0...]) } ?? ""
    let base: String
    if userName.isEmpty {
        base = home
    } else if let userHome = homeDirectory(ofUser: userName) {
        base = userHome
    } else {
        return path
    }
    if rest.isEmpty { return base }
    return base.hasSuffix("/") ? base + rest.dropFirst() : base + rest
}

private func homeDirectory(ofUser name: String) -> String? {
    var entry = passwd()
    var result: UnsafeMutablePointer<passwd>?
    var buffer = [CChar](repeating: 0, count: 16384)
    let status = getpwnam_r(name, &entry, &buffer, buffer.count, &result)
    guard status == 0, result != nil, let directory = entry.pw_dir else { return nil }
    return String(cString: directory)
}

fileprivate func joinPath(_ directory: String, _ relative: String) -> String {
    directory.hasSuffix("/") ? directory + relative : directory + "/" + relative
}

/// glob(3) with sorted results; a pattern that matches nothing yields nothing.
fileprivate func globPaths(_ pattern: String) -> [String] {
    var result = glob_t()
    defer { globfree(&result) }
    guard glob(pattern, 0, nil, &result) == 0 else { return [] }
    var paths: [String] = []
    for index in 0..<Int(result.gl_pathc) {
        if let path = result.gl_pathv[index] { paths.append(String(cString: path)) }
    }
    return paths
}

fileprivate func localHostName() -> String {
    var buffer = [CChar](repeating: 0, count: 256)
    guard gethostname(&buffer, buffer.count - 1) == 0 else { return "" }
    return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

/// Lowercase hex SHA-1, for `%C`.
fileprivate func sha1Hex(_ text: String) -> String {
    var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
    var length: UInt32 = 0
    let bytes = Array(text.utf8)
    let ok = bytes.withUnsafeBytes { input in
        EVP_Digest(input.baseAddress, input.count, &digest, &length, EVP_sha1(), nil)
    }
    guard ok == 1 else { return "" }
    return digest[0..<Int(length)].map { String(format: "%02x", $0) }.joined()
}
