import FabSSH
import FabTestSupport
import Foundation
import Testing

/// One resolution: a config, the host string and overrides, and the target fields expected (others unchecked).
struct TargetCase: Sendable, CustomTestStringConvertible {
    var name: String
    var config: String = ""
    var host: String
    var overrides = TargetResolver.Overrides()
    var expected: [String: String]
    var testDescription: String { name }
}

/// A host string or config that must be refused, with words the message must contain.
struct RefusedTargetCase: Sendable, CustomTestStringConvertible {
    var name: String
    var config: String = ""
    var host: String
    var overrides = TargetResolver.Overrides()
    var messageContains: [String]
    var testDescription: String { name }
}

private let testerHome = "/home/tester"
private let defaultKnownHosts = "\(testerHome)/.ssh/known_hosts|\(testerHome)/.ssh/known_hosts2|/etc/ssh/ssh_known_hosts|/etc/ssh/ssh_known_hosts2"

/// Every target field as text, so cases list only what they check; `jumps` is `alias=user@host:port` per hop.
private func fields(_ target: SSHTarget) -> [String: String] {
    [
        "alias": target.alias, "hostName": target.hostName, "port": "\(target.port)", "user": target.user,
        "identityFiles": target.identityFiles.joined(separator: "|"), "identitiesOnly": "\(target.identitiesOnly)",
        "useAgent": "\(target.useAgent)", "policy": target.hostKeyPolicy.rawValue,
        "knownHosts": target.knownHostsFiles.joined(separator: "|"), "hostKeyAlias": target.hostKeyAlias ?? "-",
        "hash": "\(target.hashKnownHosts)", "timeout": "\(target.connectTimeout)",
        "alive": "\(target.serverAliveInterval)/\(target.serverAliveCountMax)",
        "jumps": target.jumpHosts.map { "\($0.alias)=\($0.user)@\($0.hostName):\($0.port)" }.joined(separator: ","),
        "jumpKeys": target.jumpHosts.map { $0.identityFiles.joined(separator: "+") }.joined(separator: ","),
        "jumpPolicies": target.jumpHosts.map(\.hostKeyPolicy.rawValue).joined(separator: ","),
    ]
}

private func resolver(_ config: String) throws -> TargetResolver {
    TargetResolver(config: try SSHConfig.parse(config, path: "/test/config", homeDirectory: testerHome),
                   localUser: "tester", homeDirectory: testerHome)
}

private let jumpConfig = """
    Host web
        HostName 10.0.0.5
        User deploy
        ProxyJump bastion
    Host bastion
        HostName bastion.example.com
        User jumper
        Port 2222
        IdentityFile ~/.ssh/bastion_key
        ProxyJump outer
    Host outer
        HostName outer.example.com
    Host twohops
        ProxyJump root@outer:2200,bastion
    Host direct
        ProxyJump none
    """

@Suite("Resolving host strings into targets")
struct TargetResolverTests {
    static let cases: [TargetCase] = [
        TargetCase(name: "bare name without config: local user, port 22, OpenSSH's defaults", host: "Web1.Example", expected: [
            "alias": "Web1.Example", "hostName": "web1.example", "user": "tester", "port": "22", "identityFiles": "",
            "identitiesOnly": "false", "useAgent": "true", "policy": "strict", "knownHosts": defaultKnownHosts,
            "hostKeyAlias": "-", "hash": "false", "timeout": "10.0", "alive": "15/3", "jumps": "",
        ]),
        TargetCase(name: "alias takes HostName, User, Port, keys and settings from config", config: """
            Host buildvm
                HostName 192.168.56.10
                User builder
                Port 2022
                IdentityFile ~/.ssh/build_ed25519
                IdentitiesOnly yes
                HostKeyAlias BuildVM
                HashKnownHosts yes
                ConnectTimeout 3
                ServerAliveInterval 15
                ServerAliveCountMax 5
            """, host: "buildvm", expected: [
                "alias": "buildvm", "hostName": "192.168.56.10", "user": "builder", "port": "2022",
                "identityFiles": "\(testerHome)/.ssh/build_ed25519", "identitiesOnly": "true", "hostKeyAlias": "buildvm",
                "hash": "true", "timeout": "3.0", "alive": "15/5",
            ]),
        TargetCase(name: "user@ and :port in the host string beat User and Port",
                   config: "Host vm\n  User builder\n  Port 2022", host: "alice@vm:2200",
                   expected: ["alias": "alice@vm:2200", "hostName": "vm", "user": "alice", "port": "2200"]),
        TargetCase(name: "overrides beat the host string, as ssh -l/-p beat user@", config: "Host vm\n  User builder",
                   host: "alice@vm:2200", overrides: .init(user: "bob", port: 2300),
                   expected: ["user": "bob", "port": "2300"]),
        TargetCase(name: "-i keys come first, then IdentityFile, without duplicates",
                   config: "Host vm\n  IdentityFile /keys/a\n  IdentityFile /keys/b", host: "vm",
                   overrides: .init(identityFiles: ["~/.ssh/cli", "/keys/b"]),
                   expected: ["identityFiles": "\(testerHome)/.ssh/cli|/keys/b|/keys/a"]),
        TargetCase(name: "the user ends at the last @", host: "me@corp@host", expected: ["user": "me@corp", "hostName": "host"]),
        TargetCase(name: "ssh:// URI", host: "ssh://alice@host.example:2222/",
                   expected: ["alias": "alice@host.example:2222", "user": "alice", "hostName": "host.example", "port": "2222"]),
        TargetCase(name: "bracketed IPv6 with port", host: "[::1]:2222", expected: ["hostName": "::1", "port": "2222"]),
        TargetCase(name: "bracketed IPv6 with user, no port", host: "root@[fe80::1%eth0]", expected: ["hostName": "fe80::1%eth0", "user": "root", "port": "22"]),
        TargetCase(name: "bare IPv6 address is all host", host: "2001:db8::7", expected: ["hostName": "2001:db8::7", "port": "22"]),
        TargetCase(name: "an IPv6 literal is matched by Host patterns", config: "Host ::1\n  User v6user\n  Port 2201",
                   host: "[::1]", expected: ["user": "v6user", "port": "2201"]),
        // Host-key policies.
        TargetCase(name: "StrictHostKeyChecking unset means ask, which is strict without a terminal", host: "h", expected: ["policy": "strict"]),
        TargetCase(name: "StrictHostKeyChecking ask is strict", config: "StrictHostKeyChecking ask", host: "h", expected: ["policy": "strict"]),
        TargetCase(name: "StrictHostKeyChecking yes", config: "StrictHostKeyChecking yes", host: "h", expected: ["policy": "strict"]),
        TargetCase(name: "StrictHostKeyChecking accept-new", config: "StrictHostKeyChecking accept-new", host: "h", expected: ["policy": "accept-new"]),
        TargetCase(name: "StrictHostKeyChecking no", config: "StrictHostKeyChecking no", host: "h", expected: ["policy": "insecure"]),
        TargetCase(name: "StrictHostKeyChecking off", config: "StrictHostKeyChecking off", host: "h", expected: ["policy": "insecure"]),
        TargetCase(name: "an explicit policy beats the config", config: "StrictHostKeyChecking no", host: "h",
                   overrides: .init(hostKeyPolicy: .strict), expected: ["policy": "strict"]),
        // known_hosts.
        TargetCase(name: "UserKnownHostsFile replaces the user files, the global ones stay", config: "UserKnownHostsFile ~/kh1 /kh2",
                   host: "h", expected: ["knownHosts": "\(testerHome)/kh1|/kh2|/etc/ssh/ssh_known_hosts|/etc/ssh/ssh_known_hosts2"]),
        TargetCase(name: "GlobalKnownHostsFile replaces the global files", config: "GlobalKnownHostsFile /etc/fab_known_hosts",
                   host: "h", expected: ["knownHosts": "\(testerHome)/.ssh/known_hosts|\(testerHome)/.ssh/known_hosts2|/etc/fab_known_hosts"]),
        TargetCase(name: "UserKnownHostsFile none leaves only the global files", config: "UserKnownHostsFile none", host: "h",
                   expected: ["knownHosts": "/etc/ssh/ssh_known_hosts|/etc/ssh/ssh_known_hosts2"]),
        TargetCase(name: "explicit known_hosts files replace all", config: "UserKnownHostsFile /kh", host: "h",
                   overrides: .init(knownHostsFiles: ["~/fab_known_hosts"]), expected: ["knownHosts": "\(testerHome)/fab_known_hosts"]),
        TargetCase(name: "ConnectTimeout 0 falls back to 10 s; an override wins", config: "ConnectTimeout 0", host: "h",
                   expected: ["timeout": "10.0"]),
        TargetCase(name: "connect timeout override", config: "ConnectTimeout 30", host: "h", overrides: .init(connectTimeout: 2.5),
                   expected: ["timeout": "2.5"]),
        TargetCase(name: "useAgent off", host: "h", overrides: .init(useAgent: false), expected: ["useAgent": "false"]),
        // Jump hosts.
        TargetCase(name: "ProxyJump hops are resolved through the config, and the first hop's own ProxyJump is followed",
                   config: jumpConfig, host: "web", expected: [
                       "hostName": "10.0.0.5", "user": "deploy", "port": "22",
                       "jumps": "outer=tester@outer.example.com:22,bastion=jumper@bastion.example.com:2222",
                       "jumpKeys": ",\(testerHome)/.ssh/bastion_key",
                   ]),
        TargetCase(name: "hops after the first keep the chain given (their own ProxyJump is ignored, as ssh -J)",
                   config: jumpConfig, host: "twohops",
                   expected: ["jumps": "root@outer:2200=root@outer.example.com:2200,bastion=jumper@bastion.example.com:2222"]),
        TargetCase(name: "user, port and -i apply to the destination only; the policy to every hop", config: jumpConfig, host: "web",
                   overrides: .init(user: "ops", port: 2201, identityFiles: ["/keys/cli"], hostKeyPolicy: .acceptNew),
                   expected: [
                       "user": "ops", "port": "2201", "identityFiles": "/keys/cli", "policy": "accept-new",
                       "jumps": "outer=tester@outer.example.com:22,bastion=jumper@bastion.example.com:2222",
                       "jumpKeys": ",\(testerHome)/.ssh/bastion_key", "jumpPolicies": "accept-new,accept-new",
                   ]),
        TargetCase(name: "the gateway applies when the config has no ProxyJump, resolved through the config", config: jumpConfig,
                   host: "db.internal", overrides: .init(gateway: "admin@bastion"),
                   expected: ["jumps": "outer=tester@outer.example.com:22,admin@bastion=admin@bastion.example.com:2222"]),
        TargetCase(name: "a gateway chain", host: "db", overrides: .init(gateway: "a:2201,root@[::1]"),
                   expected: ["jumps": "a:2201=tester@a:2201,root@[::1]=root@::1:22"]),
        TargetCase(name: "the config's ProxyJump wins over the gateway", config: jumpConfig, host: "web",
                   overrides: .init(gateway: "elsewhere"),
                   expected: ["jumps": "outer=tester@outer.example.com:22,bastion=jumper@bastion.example.com:2222"]),
        TargetCase(name: "ProxyJump none means direct, even with a gateway", config: jumpConfig, host: "direct",
                   overrides: .init(gateway: "bastion"), expected: ["jumps": ""]),
        TargetCase(name: "ProxyJump written before a ProxyCommand wins", config: "Host h\n  ProxyJump j\n  ProxyCommand nc %h %p", host: "h",
                   expected: ["jumps": "j=tester@j:22"]),
    ]

    @Test("resolves as ssh would", arguments: cases)
    func resolves(_ testCase: TargetCase) throws {
        let target = try resolver(testCase.config).resolve(testCase.host, overrides: testCase.overrides)
        let actual = fields(target)
        for (field, value) in testCase.expected.sorted(by: { $0.key < $1.key }) {
            #expect(actual[field] == value, "\(field)")
        }
    }

    static let refusals: [RefusedTargetCase] = [
        RefusedTargetCase(name: "empty", host: "  ", messageContains: ["is empty"]),
        RefusedTargetCase(name: "nothing before @", host: "@host", messageContains: ["before '@'"]),
        RefusedTargetCase(name: "nothing after @", host: "alice@", messageContains: ["no host follows '@'"]),
        RefusedTargetCase(name: "port not a number", host: "host:ssh2", messageContains: ["port \"ssh2\"", "1 to 65535"]),
        RefusedTargetCase(name: "port zero", host: "host:0", messageContains: ["port \"0\""]),
        RefusedTargetCase(name: "port too large", host: "host:65536", messageContains: ["port \"65536\""]),
        RefusedTargetCase(name: "colon without port", host: "host:", messageContains: ["not followed by a port"]),
        RefusedTargetCase(name: "nothing before the colon", host: ":22", messageContains: ["no host comes before ':'"]),
        RefusedTargetCase(name: "unclosed bracket", host: "[::1:22", messageContains: ["'[' is not closed"]),
        RefusedTargetCase(name: "junk after bracket", host: "[::1]22", messageContains: ["follows ']'"]),
        RefusedTargetCase(name: "empty brackets", host: "[]:22", messageContains: ["brackets are empty"]),
        RefusedTargetCase(name: "several colons, not IPv6", host: "host:22:33", messageContains: ["not an IPv6 address", "[address]:port"]),
        RefusedTargetCase(name: "space inside", host: "web 1", messageContains: ["contains a space"]),
        RefusedTargetCase(name: "leading dash", host: "-oProxyCommand=x", messageContains: ["starts with '-'"]),
        RefusedTargetCase(name: "shell characters", host: "web;reboot", messageContains: ["cannot contain ';'"]),
        RefusedTargetCase(name: "comma", host: "a,b", messageContains: ["cannot contain ','", "gateway"]),
        RefusedTargetCase(name: "override port out of range", host: "h", overrides: .init(port: 70000), messageContains: ["70000"]),
        RefusedTargetCase(name: "malformed gateway", host: "h", overrides: .init(gateway: "a,,b"), messageContains: ["is empty"]),
        RefusedTargetCase(name: "ProxyCommand ssh -W becomes a ProxyJump suggestion",
                          config: "Host app\n  ProxyCommand ssh -q -l ops -p 2222 -W %h:%p bastion.example.com", host: "app",
                          messageContains: ["supports ProxyJump but not ProxyCommand", "\"ProxyJump ops@bastion.example.com:2222\""]),
        RefusedTargetCase(name: "ProxyCommand ssh host -W with -J", config: "ProxyCommand /usr/bin/ssh -J outer gw -W [%h]:%p", host: "app",
                          messageContains: ["\"ProxyJump outer,gw\""]),
        RefusedTargetCase(name: "other ProxyCommands get the general form", config: "ProxyCommand nc -X 5 -x proxy:1080 %h %p", host: "app",
                          messageContains: ["not ProxyCommand", "ProxyJump [user@]jumphost[:port]"]),
        RefusedTargetCase(name: "a jump host's ProxyCommand is refused too",
                          config: "Host app\n  ProxyJump gw\nHost gw\n  ProxyCommand ssh -W %h:%p edge", host: "app",
                          messageContains: ["gives gw", "\"ProxyJump edge\""]),
        RefusedTargetCase(name: "Host * ProxyJump without ProxyJump none on the bastion loops",
                          config: "Host *\n  ProxyJump bastion", host: "web",
                          messageContains: ["loops (web -> bastion -> bastion)", "\"ProxyJump none\" to the Host block of bastion"]),
        RefusedTargetCase(name: "ForwardAgent yes is refused with its line: libssh2 1.10 cannot serve agent channels",
                          config: "Host app\n  ForwardAgent yes", host: "app",
                          messageContains: ["ForwardAgent at /test/config:2", "cannot serve forwarded agent channels", "ForwardAgent no"]),
        RefusedTargetCase(name: "ForwardAgent with a socket path is forwarding too",
                          config: "Host app\n  ForwardAgent no\nHost *\n  ForwardAgent ~/agent.sock", host: "web",
                          messageContains: ["ForwardAgent at /test/config:4"]),
        RefusedTargetCase(name: "two hosts jumping through each other loop",
                          config: "Host a\n  ProxyJump b\nHost b\n  ProxyJump a", host: "a", messageContains: ["loops (a -> b -> a)"]),
    ]

    @Test("malformed host strings and unsupported configs are refused with a sentence", arguments: refusals)
    func refuses(_ testCase: RefusedTargetCase) throws {
        let resolver = try resolver(testCase.config)
        let error = #expect(throws: SSHError.self) { try resolver.resolve(testCase.host, overrides: testCase.overrides) }
        #expect(error?.code == .config)
        for words in testCase.messageContains {
            #expect(error?.message.contains(words) == true, "\(String(describing: error))")
        }
        #expect(error?.message.hasSuffix(".") == true)
    }

    @Test("an explicit config file that does not exist is an error, as ssh -F; 'none' reads nothing")
    func missingConfigFile() throws {
        let error = #expect(throws: SSHError.self) { try TargetResolver.loadingDefault(configFile: "/nonexistent/fab/config") }
        #expect(error?.code == .config)
        #expect(error?.message.contains("/nonexistent/fab/config does not exist") == true)
        let none = try TargetResolver.loadingDefault(configFile: "none")
        #expect(try none.resolve("somewhere").hostName == "somewhere")
        let account = try #require(getpwuid(getuid()))
        #expect(none.localUser == String(cString: account.pointee.pw_name))
        #expect(none.homeDirectory == String(cString: account.pointee.pw_dir))
    }

    @Test("a malformed config file is reported with its file and line")
    func malformedConfigFile() throws {
        let directory = try TemporaryDirectory.make(prefix: "fab-resolver")
        let file = directory.path + "/config"
        try "Host x\n  Port nope\n".write(toFile: file, atomically: true, encoding: .utf8)
        let error = #expect(throws: SSHError.self) { try TargetResolver.loadingDefault(configFile: file) }
        #expect(error?.code == .invalidValue)
        #expect(error?.path == file)
        #expect(error?.line == 2)
        #expect(error.map { "\($0)" }?.hasPrefix("\(file):2: ") == true)
    }
}

/// The promise: a user whose `ssh buildvm` works finds that fab connects the same way.
@Suite("Resolved targets connect like OpenSSH's ssh", .serialized)
struct TargetResolverLiveTests {
    @Test("ssh -F cfg and fab both reach an alias directly and an alias behind a ProxyJump alias")
    func sameAsOpenSSH() async throws {
        let inner = try SSHServer(address: "127.0.0.7")
        let jump = try SSHServer(address: "127.0.0.6", options: Self.forwarding(to: inner))
        let file = jump.directory.path + "/ssh_config"
        let config = jump.sshConfigBlock(alias: "buildvm") + jump.sshConfigBlock(alias: "jumpalias")
            + inner.sshConfigBlock(alias: "innervm") + "    ProxyJump jumpalias\n"
        try config.write(toFile: file, atomically: true, encoding: .utf8)
        let resolver = try TargetResolver.loadingDefault(configFile: file)

        for (alias, server) in [("buildvm", jump), ("innervm", inner)] {
            // $SSH_CONNECTION ends with the server address and port the session reached.
            let command = "echo $(id -un) ${SSH_CONNECTION#* * }"
            let accepted = logins(jump)
            let ssh = try TestShell.run("ssh", ["-F", file, "-o", "BatchMode=yes", alias, "true"], timeout: .seconds(30))
            #expect(ssh.succeeded, "ssh \(alias): \(ssh.outputTail())")
            let sshOutput = try TestShell.run("ssh", ["-F", file, "-o", "BatchMode=yes", alias, command], timeout: .seconds(30))
                .checked("ssh \(alias)").stdout
            #expect(sshOutput == "\(server.user) \(server.address) \(server.port)\n")

            let target = try resolver.resolve(alias)
            let session = try await SSHSession.connect(to: target)
            let result = try await session.execute(command)
            await session.close()
            #expect(result.succeeded)
            #expect(result.stdout == sshOutput)
            // ssh and fab each logged in to the jump host once: directly for buildvm, as a hop for innervm.
            #expect(logins(jump) == accepted + 3)
        }
    }

    @Test("a jump host's own ProxyJump is followed, as by ssh: innervm -> midalias -> bastionalias")
    func recursiveJump() async throws {
        let inner = try SSHServer(address: "127.0.0.10")
        let mid = try SSHServer(address: "127.0.0.9", options: Self.forwarding(to: inner))
        let bastion = try SSHServer(address: "127.0.0.8", options: Self.forwarding(to: mid))
        let file = bastion.directory.path + "/ssh_config"
        let config = bastion.sshConfigBlock(alias: "bastionalias")
            + mid.sshConfigBlock(alias: "midalias") + "    ProxyJump bastionalias\n"
            + inner.sshConfigBlock(alias: "innervm") + "    ProxyJump midalias\n"
        try config.write(toFile: file, atomically: true, encoding: .utf8)

        // mid is reachable directly on loopback, so only bastion's log shows that ssh went through it.
        let ssh = try TestShell.run("ssh", ["-F", file, "-o", "BatchMode=yes", "innervm", "true"], timeout: .seconds(30))
        #expect(ssh.succeeded, "\(ssh.outputTail())")
        #expect(logins(bastion) == 1 && logins(mid) == 1 && logins(inner) == 1)

        let target = try TargetResolver.loadingDefault(configFile: file).resolve("innervm")
        #expect(target.jumpHosts.map(\.alias) == ["bastionalias", "midalias"])
        let session = try await SSHSession.connect(to: target)
        #expect(try await session.execute("true").succeeded)
        await session.close()
        #expect(logins(bastion) == 2 && logins(mid) == 2 && logins(inner) == 2)
    }

    /// Options for a jump host that may forward only to `next`.
    static func forwarding(to next: SSHServer) -> SSHServer.Options {
        var options = SSHServer.Options()
        options.extraConfig = ["PermitOpen \(next.address):\(next.port)"]
        return options
    }
}

/// How many public-key logins `server` has accepted.
private func logins(_ server: SSHServer) -> Int {
    server.log.components(separatedBy: "Accepted publickey").count - 1
}
