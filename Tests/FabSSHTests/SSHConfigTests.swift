import FabSSH
import FabTestSupport
import Foundation
import Testing

/// One resolution case: a config, the alias asked for, and the fields expected (others are not checked).
struct ResolveCase: Sendable, CustomTestStringConvertible {
    var name: String
    var config: String
    var alias: String
    var expected: [String: String]
    var testDescription: String { name }
}

/// One config that must be refused, with the line the error must name.
struct RejectCase: Sendable, CustomTestStringConvertible {
    var name: String
    var config: String
    var line: Int
    var code: SSHError.Code
    var testDescription: String { name }
}

/// Renders every resolved field as text, `-` for unset, so cases can list just what they check.
private func summary(_ config: SSHHostConfig) -> [String: String] {
    func text<T>(_ value: T?) -> String { value.map { "\($0)" } ?? "-" }
    return [
        "hostName": config.hostName,
        "user": text(config.user),
        "port": text(config.port),
        "identityFiles": config.identityFiles.joined(separator: "|"),
        "identitiesOnly": text(config.identitiesOnly),
        "proxyJump": config.proxyJump.map { $0.isEmpty ? "none" : $0.map(\.description).joined(separator: ",") } ?? "-",
        "proxyCommand": text(config.proxyCommand),
        "strictHostKeyChecking": text(config.strictHostKeyChecking),
        "hostKeyChecking": text(config.hostKeyChecking?.rawValue),
        "userKnownHostsFiles": config.userKnownHostsFiles.joined(separator: "|"),
        "knownHostsFiles": config.knownHostsFiles.joined(separator: "|"),
        "knownHostsFileForNewKeys": text(config.knownHostsFileForNewKeys),
        "hashKnownHosts": text(config.hashKnownHosts),
        "connectTimeout": text(config.connectTimeout),
        "serverAliveInterval": text(config.serverAliveInterval),
        "serverAliveCountMax": text(config.serverAliveCountMax),
        "hostKeyAlias": text(config.hostKeyAlias),
        "knownHostsName": "\(config.knownHostsName):\(config.knownHostsPort)",
    ]
}

private let home = "/home/tester"
private let localUser = "tester"

@Suite("ssh_config resolution")
struct SSHConfigTests {
    static let resolveCases: [ResolveCase] = [
        ResolveCase(name: "no config: defaults", config: "", alias: "Web1.Example", expected: [
            "hostName": "web1.example", "user": "-", "port": "-", "identityFiles": "", "proxyJump": "-",
            "userKnownHostsFiles": "", "knownHostsFileForNewKeys": "\(home)/.ssh/known_hosts",
            "knownHostsFiles": "\(home)/.ssh/known_hosts|\(home)/.ssh/known_hosts2|/etc/ssh/ssh_known_hosts|/etc/ssh/ssh_known_hosts2",
        ]),
        ResolveCase(name: "keywords are case-insensitive; = and spaces both separate", config: """
            HOST web
              HOSTNAME=web.internal
              port = 2200
              User  =deploy
              identitiesonly=YES
            """, alias: "web", expected: [
                "hostName": "web.internal", "port": "2200", "user": "deploy", "identitiesOnly": "true",
            ]),
        ResolveCase(name: "first obtained value wins across blocks", config: """
            Host web
              Port 2200
            Host *
              Port 22
              User fallback
            Host web
              User late
            """, alias: "web", expected: ["port": "2200", "user": "fallback"]),
        ResolveCase(name: "lines before any Host apply to every host", config: """
            User everyone
            Host web
              User ignored
            """, alias: "web", expected: ["user": "everyone"]),
        ResolveCase(name: "wildcards * and ?", config: """
            Host db?.example
              User dbadmin
            Host *.example
              Port 2222
            """, alias: "db1.example", expected: ["user": "dbadmin", "port": "2222"]),
        ResolveCase(name: "? needs exactly one character", config: """
            Host db?.example
              User dbadmin
            """, alias: "db12.example", expected: ["user": "-"]),
        ResolveCase(name: "several patterns on one line", config: """
            Host alpha beta gamma
              User greek
            """, alias: "beta", expected: ["user": "greek"]),
        ResolveCase(name: "negation excludes the block even though another pattern matches", config: """
            Host web* !web-db
              User webuser
            Host *
              User other
            """, alias: "web-db", expected: ["user": "other"]),
        ResolveCase(name: "negation does not stop other hosts matching", config: """
            Host !web-db web*
              User webuser
            """, alias: "web-1", expected: ["user": "webuser"]),
        ResolveCase(name: "a line of only negations matches nothing", config: """
            Host !foo
              User nobody
            """, alias: "bar", expected: ["user": "-"]),
        ResolveCase(name: "Host patterns are case-sensitive, HostName is lowercased", config: """
            Host WEB
              HostName Web.Example.COM
            """, alias: "WEB", expected: ["hostName": "web.example.com"]),
        ResolveCase(name: "Host patterns are case-sensitive (no match)", config: """
            Host WEB
              HostName web.example.com
            """, alias: "web", expected: ["hostName": "web"]),
        ResolveCase(name: "quoted values with spaces, comments", config: """
            # a comment line
              # an indented comment
            Host web # trailing comment
              IdentityFile "/keys/my key" # the deploy key
              User 'dep loy'
              IdentityFile /keys/escaped\\ space
            """, alias: "web", expected: ["identityFiles": "/keys/my key|/keys/escaped space", "user": "dep loy"]),
        ResolveCase(name: "HostName expands %h and %%", config: """
            Host web*
              HostName %h.internal.%%
            """, alias: "web3", expected: ["hostName": "web3.internal.%"]),
        ResolveCase(name: "IdentityFile accumulates across blocks, in order, without duplicates", config: """
            Host web
              IdentityFile ~/.ssh/web
              IdentityFile ~/.ssh/shared
            Host *
              IdentityFile ~/.ssh/shared
              IdentityFile ~/.ssh/fallback
            """, alias: "web", expected: [
                "identityFiles": "\(home)/.ssh/web|\(home)/.ssh/shared|\(home)/.ssh/fallback",
            ]),
        ResolveCase(name: "IdentityFile tokens", config: """
            Host web
              HostName web.example
              User deploy
              Port 2200
              IdentityFile ~/keys/%h-%r-%p-%u-%n-%%
              IdentityFile %d/k
              IdentityFile ${KEYDIR}/env
              IdentityFile ${UNSET}/x
            """, alias: "web", expected: [
                "identityFiles": "\(home)/keys/web.example-deploy-2200-tester-web-%|\(home)/k|/keys/env|${UNSET}/x",
            ]),
        ResolveCase(name: "IdentityFile %r and %p default to the local user and 22", config: """
            Host web
              IdentityFile /k/%r@%h:%p
            """, alias: "web", expected: ["identityFiles": "/k/tester@web:22"]),
        ResolveCase(name: "UserKnownHostsFile: first line wins, several files on it, expanded", config: """
            Host web
              UserKnownHostsFile ~/kh1 /var/kh/%h
            Host *
              UserKnownHostsFile /never
            """, alias: "web", expected: [
                "userKnownHostsFiles": "\(home)/kh1|/var/kh/web",
                "knownHostsFiles": "\(home)/kh1|/var/kh/web|/etc/ssh/ssh_known_hosts|/etc/ssh/ssh_known_hosts2",
                "knownHostsFileForNewKeys": "\(home)/kh1",
            ]),
        ResolveCase(name: "UserKnownHostsFile none, GlobalKnownHostsFile set", config: """
            UserKnownHostsFile none
            GlobalKnownHostsFile /etc/fab/known
            """, alias: "web", expected: [
                "userKnownHostsFiles": "", "knownHostsFiles": "/etc/fab/known", "knownHostsFileForNewKeys": "-",
            ]),
        ResolveCase(name: "ProxyJump chain in connection order", config: """
            Host inner
              ProxyJump alice@bastion:2222,ssh://bob@mid.example:2200,last
            """, alias: "inner", expected: ["proxyJump": "alice@bastion:2222,bob@mid.example:2200,last"]),
        ResolveCase(name: "ProxyJump IPv6 with port", config: """
            Host inner
              ProxyJump [::1]:2222
            """, alias: "inner", expected: ["proxyJump": "[::1]:2222"]),
        ResolveCase(name: "ProxyJump none is kept and wins over later values", config: """
            Host inner
              ProxyJump none
            Host *
              ProxyJump bastion
            """, alias: "inner", expected: ["proxyJump": "none"]),
        ResolveCase(name: "an earlier ProxyCommand disables ProxyJump", config: """
            Host inner
              ProxyCommand nc -X connect %h %p
            Host *
              ProxyJump bastion
            """, alias: "inner", expected: ["proxyJump": "-", "proxyCommand": "nc -X connect %h %p"]),
        ResolveCase(name: "an earlier ProxyJump disables ProxyCommand", config: """
            Host inner
              ProxyJump bastion
            Host *
              ProxyCommand nc %h %p
            """, alias: "inner", expected: ["proxyJump": "bastion", "proxyCommand": "-"]),
        ResolveCase(name: "times: seconds, units, none", config: """
            Host web
              ConnectTimeout 1m30s
              ServerAliveInterval none
              ServerAliveCountMax 5
            Host *
              ServerAliveInterval 15
            """, alias: "web", expected: ["connectTimeout": "90", "serverAliveInterval": "15", "serverAliveCountMax": "5"]),
        ResolveCase(name: "StrictHostKeyChecking raw value and policy", config: """
            Host web
              StrictHostKeyChecking Accept-New
            """, alias: "web", expected: ["strictHostKeyChecking": "accept-new", "hostKeyChecking": "acceptNew"]),
        ResolveCase(name: "StrictHostKeyChecking true means strict", config: "StrictHostKeyChecking true",
                    alias: "web", expected: ["strictHostKeyChecking": "true", "hostKeyChecking": "strict"]),
        ResolveCase(name: "HostKeyAlias is lowercased and looked up without the port", config: """
            Host web
              Port 2200
              HostKeyAlias Web-Key
              HashKnownHosts yes
            """, alias: "web", expected: ["hostKeyAlias": "web-key", "knownHostsName": "web-key:22", "hashKnownHosts": "true"]),
        ResolveCase(name: "known_hosts lookup uses the port without HostKeyAlias", config: "Port 2200",
                    alias: "web", expected: ["knownHostsName": "web:2200"]),
        ResolveCase(name: "keywords OpenSSH knows but fab does not use are accepted; IgnoreUnknown passes unknown ones", config: """
            IgnoreUnknown nosuch*,Other
            Host web
              SendEnv LANG LC_*
              GSSAPIAuthentication yes
              NoSuchKeyword whatever
              OTHER x
              User deploy
            """, alias: "web", expected: ["user": "deploy"]),
        ResolveCase(name: "Match all", config: """
            Host web
              User deploy
            Match all
              Port 2200
            """, alias: "other", expected: ["user": "-", "port": "2200"]),
        ResolveCase(name: "Match host sees the HostName set so far", config: """
            Host web
              HostName web.prod.example
            Match host *.prod.example
              User produser
            """, alias: "web", expected: ["user": "produser"]),
        ResolveCase(name: "Match host pattern lists with negation", config: """
            Match host *.example,!db.example
              User webuser
            """, alias: "db.example", expected: ["user": "-"]),
        ResolveCase(name: "Match originalhost sees the alias", config: """
            Host web
              HostName web.prod.example
            Match originalhost web
              Port 2201
            """, alias: "web", expected: ["port": "2201"]),
        ResolveCase(name: "Match user uses User, else the local user", config: """
            Match user tester
              Port 2202
            """, alias: "web", expected: ["port": "2202"]),
        ResolveCase(name: "Match with several criteria needs all of them", config: """
            Host web
              User deploy
            Match originalhost web user root
              Port 2203
            """, alias: "web", expected: ["port": "-"]),
        ResolveCase(name: "Match negated criterion", config: """
            Match !host db*
              Port 2204
            """, alias: "web", expected: ["port": "2204"]),
        ResolveCase(name: "Match exec applies its block when the command exits 0", config: """
            Match exec "test %h = web && exit 0"
              Port 2205
            Match exec false
              User never
            """, alias: "web", expected: ["port": "2205", "user": "-"]),
        ResolveCase(name: "Match exec after a failed criterion is not run", config: """
            Match host nomatch exec "exit 0"
              Port 2206
            Match !exec "exit 3"
              User negated
            """, alias: "web", expected: ["port": "-", "user": "negated"]),
        ResolveCase(name: "Match localnetwork: loopback matches, a documentation network does not", config: """
            Match localnetwork 203.0.113.0/24,198.51.100.0/24
              User remote
            Match localnetwork 203.0.113.0/24,127.0.0.0/8
              Port 2209
            Match !localnetwork 203.0.113.0/24
              IdentitiesOnly yes
            """, alias: "web", expected: ["user": "-", "port": "2209", "identitiesOnly": "true"]),
        ResolveCase(name: "Match final: a second pass where Host matches the final HostName", config: """
            Host web
              HostName Web.Prod.Example
            Host web.prod.example
              User viahostname
            Match final host web.prod.example
              Port 2207
            """, alias: "web", expected: ["user": "viahostname", "port": "2207", "hostName": "web.prod.example"]),
        ResolveCase(name: "Match canonical without canonicalization never applies", config: """
            Match canonical
              Port 2208
            """, alias: "web", expected: ["port": "-"]),
    ]

    @Test("resolves as OpenSSH does", arguments: resolveCases)
    func resolves(_ testCase: ResolveCase) throws {
        let config = try SSHConfig.parse(testCase.config, path: "/test/config", homeDirectory: home)
        let resolved = summary(try config.resolve(host: testCase.alias, localUser: localUser, environment: ["KEYDIR": "/keys"]))
        for (field, value) in testCase.expected.sorted(by: { $0.key < $1.key }) {
            #expect(resolved[field] == value, "\(field)")
        }
    }

    static let rejectCases: [RejectCase] = [
        RejectCase(name: "port not a number", config: "Host a\n  Port abc", line: 2, code: .invalidValue),
        RejectCase(name: "port zero", config: "Port 0", line: 1, code: .invalidValue),
        RejectCase(name: "port too large", config: "Port 70000", line: 1, code: .invalidValue),
        RejectCase(name: "two ports", config: "\n\nPort 22 23", line: 3, code: .extraArgument),
        RejectCase(name: "keyword without value", config: "Host a\nHostName", line: 2, code: .missingArgument),
        RejectCase(name: "bad time", config: "ConnectTimeout 5x", line: 1, code: .invalidValue),
        RejectCase(name: "bad flag", config: "IdentitiesOnly maybe", line: 1, code: .invalidValue),
        RejectCase(name: "bad StrictHostKeyChecking", config: "StrictHostKeyChecking sometimes", line: 1, code: .invalidValue),
        RejectCase(name: "negative count", config: "ServerAliveCountMax -1", line: 1, code: .invalidValue),
        RejectCase(name: "ProxyJump bad port", config: "ProxyJump a:b", line: 1, code: .invalidValue),
        RejectCase(name: "ProxyJump empty user", config: "ProxyJump @host", line: 1, code: .invalidValue),
        RejectCase(name: "ProxyJump empty hop", config: "ProxyJump a,,b", line: 1, code: .invalidValue),
        RejectCase(name: "ProxyJump URI with path", config: "ProxyJump ssh://host/path", line: 1, code: .invalidValue),
        RejectCase(name: "unclosed quote", config: "IdentityFile \"/keys/a", line: 1, code: .invalidQuotes),
        RejectCase(name: "empty quoted value", config: "User \"\"", line: 1, code: .invalidValue),
        RejectCase(name: "Match criterion without argument", config: "Match host", line: 1, code: .invalidMatch),
        RejectCase(name: "Match all combined", config: "Match all host x", line: 1, code: .invalidMatch),
        RejectCase(name: "Match unknown criterion", config: "Host a\nMatch frobnicate yes", line: 2, code: .invalidMatch),
        RejectCase(name: "Match localnetwork with host bits", config: "Match localnetwork 127.0.0.1/8", line: 1, code: .invalidMatch),
        RejectCase(name: "Match localnetwork not a network", config: "Match localnetwork 10.0.0.0/8,lan", line: 1, code: .invalidMatch),
        RejectCase(name: "Match localnetwork mask too long", config: "Match localnetwork 10.0.0.0/33", line: 1, code: .invalidMatch),
        RejectCase(name: "none with other files", config: "UserKnownHostsFile none /x", line: 1, code: .invalidValue),
        RejectCase(name: "bad value in a block that does not apply", config: "Host nomatch\n  Port x", line: 2, code: .invalidValue),
    ]

    @Test("malformed values are refused with file and line", arguments: rejectCases)
    func rejects(_ testCase: RejectCase) {
        do {
            _ = try SSHConfig.parse(testCase.config, path: "/test/config", homeDirectory: home)
            Issue.record("accepted \(testCase.config.debugDescription)")
        } catch let error as SSHError {
            #expect(error.path == "/test/config")
            #expect(error.line == testCase.line)
            #expect(error.code == testCase.code)
            #expect(error.description.hasPrefix("/test/config:\(testCase.line): "))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test("JumpHost parses both forms", arguments: [
        ("host", JumpHost(host: "host")),
        ("user@host", JumpHost(user: "user", host: "host")),
        ("user@host:2222", JumpHost(user: "user", host: "host", port: 2222)),
        ("a@b@host", JumpHost(user: "a@b", host: "host")),
        ("[fe80::1]:2222", JumpHost(host: "fe80::1", port: 2222)),
        ("ssh://host", JumpHost(host: "host")),
        ("ssh://u%40x@host:2200", JumpHost(user: "u@x", host: "host", port: 2200)),
        ("ssh://host:2200/", JumpHost(host: "host", port: 2200)),
        ("host:", JumpHost(host: "host")),
        ("host:ssh", JumpHost(host: "host", port: 22)),
        ("ssh://u;x=1@host", JumpHost(user: "u", host: "host")),
    ])
    func jumpHostParses(_ text: String, _ expected: JumpHost) throws {
        #expect(try JumpHost(parsing: text) == expected)
    }

    @Test("JumpHost refuses malformed text", arguments: ["", "@host", "host:0", "host:65536", "host:nosuchservice", "a/22", "[::1", "ssh://", "ssh://host/x", "ssh://@host", "ssh://[::1]:22"])
    func jumpHostRejects(_ text: String) {
        #expect(throws: SSHError.self) { try JumpHost(parsing: text) }
    }

    @Test("a missing file is an empty configuration")
    func missingFile() throws {
        let config = try SSHConfig.load(path: "/nonexistent/fab/ssh_config", homeDirectory: home)
        let resolved = try config.resolve(host: "web", localUser: localUser)
        var expected = SSHHostConfig(alias: "web")
        expected.knownHostsFiles = ["\(home)/.ssh/known_hosts", "\(home)/.ssh/known_hosts2", "/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2"]
        expected.knownHostsFileForNewKeys = "\(home)/.ssh/known_hosts"
        #expect(resolved == expected)
    }

    @Test("Include: absolute globs, paths relative to ~/.ssh, inside blocks, Match state kept per file")
    func includes() throws {
        let directory = try TemporaryDirectory.make(prefix: "fab-sshconfig").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fakeHome = directory + "/home"
        try FileManager.default.createDirectory(atPath: fakeHome + "/.ssh/conf.d", withIntermediateDirectories: true)
        try "Host web\n  User fromrelative\n".write(toFile: fakeHome + "/.ssh/conf.d/10-web.conf", atomically: true, encoding: .utf8)
        try "Host *\n  Port 2300\nMatch all\n  IdentityFile ~/id_glob\n".write(toFile: fakeHome + "/.ssh/conf.d/20-all.conf", atomically: true, encoding: .utf8)
        try "Host db\n  User fromabsolute\n".write(toFile: directory + "/abs-1.conf", atomically: true, encoding: .utf8)
        try "Host *\n  ConnectTimeout 7\n".write(toFile: directory + "/never.conf", atomically: true, encoding: .utf8)
        try "Host zzz\n  Port 1\n".write(toFile: directory + "/switch.conf", atomically: true, encoding: .utf8)
        let main = """
            Include conf.d/*.conf
            Include \(directory)/abs-*.conf \(directory)/missing-*.conf
            Host nomatch
              Include \(directory)/never.conf
            Host web
              Include \(directory)/switch.conf
              ServerAliveCountMax 9
            Host db
              HostName db.internal
            """
        let config = try SSHConfig.parse(main, path: "\(fakeHome)/.ssh/config", homeDirectory: fakeHome)
        let web = try config.resolve(host: "web", localUser: localUser)
        #expect(web.user == "fromrelative")
        #expect(web.port == 2300)
        #expect(web.identityFiles == ["\(fakeHome)/id_glob"])
        #expect(web.hostName == "web")
        #expect(web.connectTimeout == nil, "an Include inside a block that does not apply must never apply")
        #expect(web.serverAliveCountMax == 9, "a Host line in an included file must not end the including block")
        let db = try config.resolve(host: "db", localUser: localUser)
        #expect(db.user == "fromabsolute")
        #expect(db.hostName == "db.internal")
    }

    @Test("Include refuses a file that includes itself, and unsafe permissions")
    func includeLoopsAndPermissions() throws {
        let directory = try TemporaryDirectory.make(prefix: "fab-sshconfig").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let loop = directory + "/loop.conf"
        try "Include \(loop)\n".write(toFile: loop, atomically: true, encoding: .utf8)
        #expect { try SSHConfig.load(path: loop, homeDirectory: directory) } throws: {
            ($0 as? SSHError)?.code == .includeTooDeep
        }
        let writable = directory + "/writable.conf"
        try "Port 2222\n".write(toFile: writable, atomically: true, encoding: .utf8)
        chmod(writable, 0o666)
        #expect { try SSHConfig.parse("Include \(writable)", path: "main", homeDirectory: directory) } throws: {
            ($0 as? SSHError)?.code == .insecurePermissions
        }
    }

    /// The reference: OpenSSH's own `ssh -G -F FILE ALIAS` on this machine.
    @Test("resolution agrees with ssh -G")
    func agreesWithOpenSSH() throws {
        let directory = try TemporaryDirectory.make(prefix: "fab-sshconfig").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "Host included*\n  User incuser\n  Port 2400\nMatch all\n  IdentityFile /inc/all_key\n"
            .write(toFile: directory + "/inc-a.conf", atomically: true, encoding: .utf8)
        let file = directory + "/config"
        let text = """
            # fab's reference configuration for ssh -G
            Host web* !web-db
              HostName %h.internal.example
              User deploy
              IdentityFile ~/.ssh/web_%h_%r
              IdentityFile "/keys/with space/%n"
            Host web-db
              HostName=10.1.2.3
              Port = 2222
              ProxyJump admin@bastion.example:2200,ssh://jump2.example:2201,last-hop
            Host Mixed.Case
              HostName UPPER.example
              HostKeyAlias Alias.Key
            Host chain
              ProxyCommand nc %h %p
              ProxyJump ignored-jump
            Match host *.internal.example
              ConnectTimeout 1m5s
              UserKnownHostsFile ~/kh_%h /tmp/kh-%p
            Match originalhost chain
              Port 2500
            Host final-test
              HostName final.example
            Host final.example
              User finaluser
            Match final
              IdentitiesOnly yes
            Host *
              Include \(directory)/inc-*.conf
              IdentityFile ~/.ssh/common
              StrictHostKeyChecking accept-new
              ServerAliveInterval 30
              Port 22
            """
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        guard let entry = getpwuid(getuid()), let directoryPointer = entry.pointee.pw_dir, let namePointer = entry.pointee.pw_name else {
            Issue.record("no passwd entry for this user")
            return
        }
        let realHome = String(cString: directoryPointer)
        let realUser = String(cString: namePointer)
        let config = try SSHConfig.load(path: file, homeDirectory: realHome)

        for alias in ["web1", "web-db", "Mixed.Case", "chain", "final-test", "included-1", "plain"] {
            let result = try TestShell.run("ssh", ["-G", "-F", file, alias]).checked("ssh -G \(alias)")
            var reference: [String: [String]] = [:]
            for line in result.stdout.split(separator: "\n") {
                guard let space = line.firstIndex(of: " ") else { continue }
                reference[String(line[..<space]), default: []].append(String(line[line.index(after: space)...]))
            }
            let ours = try config.resolve(host: alias, localUser: realUser)
            let port = ours.port ?? 22
            let user = ours.user ?? realUser
            #expect(reference["hostname"] == [ours.hostName], "hostname for \(alias)")
            #expect(reference["user"] == [user], "user for \(alias)")
            #expect(reference["port"] == [String(port)], "port for \(alias)")
            #expect(reference["hostkeyalias"] == ours.hostKeyAlias.map { [$0] }, "hostkeyalias for \(alias)")
            #expect(reference["connecttimeout"] == [ours.connectTimeout.map { String($0) } ?? "none"], "connecttimeout for \(alias)")
            #expect(reference["serveraliveinterval"] == [String(ours.serverAliveInterval ?? 0)], "serveraliveinterval for \(alias)")
            #expect(reference["identitiesonly"] == [ours.identitiesOnly == true ? "yes" : "no"], "identitiesonly for \(alias)")
            #expect(reference["stricthostkeychecking"] == [ours.strictHostKeyChecking ?? "ask"], "stricthostkeychecking for \(alias)")
            #expect(reference["proxycommand"] == ours.proxyCommand.map { [$0] }, "proxycommand for \(alias)")
            // ssh -G prints one line with the user known_hosts files, expanded.
            let userFiles = ours.userKnownHostsFiles.isEmpty ? ["\(realHome)/.ssh/known_hosts", "\(realHome)/.ssh/known_hosts2"] : ours.userKnownHostsFiles
            #expect(reference["userknownhostsfile"] == [userFiles.joined(separator: " ")], "userknownhostsfile for \(alias)")
            // ssh -G prints the jump chain as one comma-separated line.
            let referenceJumps = try reference["proxyjump"]?.first.map { try $0.split(separator: ",").map { try JumpHost(parsing: String($0)) } }
            #expect(referenceJumps == ours.proxyJump, "proxyjump for \(alias)")
            // ssh -G prints IdentityFile unexpanded (it expands at connect time): expand ~ and the tokens used here.
            let referenceKeys = (reference["identityfile"] ?? []).map { value in
                var path = value.hasPrefix("~/") ? realHome + value.dropFirst() : value
                for (token, replacement) in [("%h", ours.hostName), ("%r", user), ("%n", alias), ("%p", String(port))] {
                    path = path.replacingOccurrences(of: token, with: replacement)
                }
                return path
            }
            #expect(referenceKeys == ours.identityFiles, "identityfile for \(alias)")
        }
    }

    // MARK: Refusals and Match criteria checked against OpenSSH itself

    /// Writes `text` as a config file and returns whether `ssh -G` accepts it for `alias`, and what fab says.
    private func compareWithSSH(_ text: String, alias: String = "web") throws
        -> (sshAccepts: Bool, ours: Result<SSHHostConfig, SSHError>, file: String, sshOutput: String) {
        let directory = try TemporaryDirectory.make(prefix: "fab-sshconfig").path
        let file = directory + "/config"
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        let ssh = try TestShell.run("ssh", ["-G", "-F", file, alias])
        let ours: Result<SSHHostConfig, SSHError>
        do {
            ours = .success(try SSHConfig.load(path: file, homeDirectory: home).resolve(host: alias, localUser: localUser))
        } catch let error as SSHError {
            ours = .failure(error)
        }
        return (ssh.status == 0, ours, file, ssh.stdout)
    }

    @Test("an unknown keyword is refused with file and line wherever it is, unless an IgnoreUnknown in effect before it lists it; ssh agrees",
          arguments: [
            ("Host web\n  User a\n  Frobnicate yes\n", 3, true),
            ("Host other\n  Frobnicate yes\n", 2, true),
            ("IgnoreUnknown frob*\nHost web\n  Frobnicate yes\n", 0, false),
            ("Host web\n  Frobnicate yes\nIgnoreUnknown frob*\n", 2, true),
            ("Host other\n  IgnoreUnknown frob*\nHost *\n  Frobnicate yes\n", 4, true),
            ("Host web\n  IgnoreUnknown frob*\nHost *\n  Frobnicate yes\n", 0, false),
            ("IgnoreUnknown Tag,ChannelTimeout\nHost *\n  ChannelTimeout session=5m\n", 0, false),
          ])
    func unknownKeywords(_ text: String, line: Int, refused: Bool) throws {
        let (sshAccepts, ours, file, _) = try compareWithSSH(text)
        #expect(sshAccepts == !refused, "ssh -G disagrees with the expectation for \(text.debugDescription)")
        switch ours {
        case .success:
            #expect(!refused, "fab accepted \(text.debugDescription)")
        case .failure(let error):
            #expect(refused, "fab refused: \(error)")
            #expect(error.code == .unknownKeyword)
            #expect(error.path == file && error.line == line)
            #expect(error.description.hasPrefix("\(file):\(line): "), "\(error)")
            #expect(error.message.contains("IgnoreUnknown"))
        }
    }

    @Test("Match exec gets OpenSSH's % tokens, substituted exactly as ssh substitutes them")
    func matchExecTokens() throws {
        let directory = try TemporaryDirectory.make(prefix: "fab-matchexec").path
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let out = directory + "/tokens"
        let text = """
            Host web
              HostName Web.Example.Org
              User deployer
              Port 2222
            Match exec "echo '%h|%p|%r|%u|%n|%l|%L|%d|%C|%k|%%' > \(out)"
              IdentitiesOnly yes
            """
        let file = directory + "/config"
        try text.write(toFile: file, atomically: true, encoding: .utf8)
        guard let entry = getpwuid(getuid()), let homePointer = entry.pointee.pw_dir, let namePointer = entry.pointee.pw_name else {
            Issue.record("no passwd entry for this user")
            return
        }
        let realHome = String(cString: homePointer), realUser = String(cString: namePointer)
        let ours = try SSHConfig.load(path: file, homeDirectory: realHome).resolve(host: "web", localUser: realUser)
        #expect(ours.identitiesOnly == true)
        let fabTokens = try String(contentsOfFile: out, encoding: .utf8)
        try FileManager.default.removeItem(atPath: out)
        let ssh = try TestShell.run("ssh", ["-G", "-F", file, "web"]).checked("ssh -G web")
        #expect(ssh.stdout.contains("identitiesonly yes"))
        let sshTokens = try String(contentsOfFile: out, encoding: .utf8)
        #expect(fabTokens == sshTokens)
        // OpenSSH gives %h as HostName is written (its lowercasing comes later), and %k falls back to it.
        #expect(fabTokens.hasPrefix("Web.Example.Org|2222|deployer|\(realUser)|web|"), "\(fabTokens)")
        #expect(fabTokens.hasSuffix("|%\n"))
    }

    @Test("Match exec with an unknown token, a command killed or one that outlives its limit is refused with file and line")
    func matchExecFailures() throws {
        for (text, fragment) in [("Host *\nMatch exec \"test %z\"\n", "% token"), ("Match exec \"kill -9 $$\"\n", "signal 9")] {
            let config = try SSHConfig.parse(text, path: "/test/config", homeDirectory: home)
            #expect { _ = try config.resolve(host: "web", localUser: localUser) } throws: { error in
                guard let error = error as? SSHError else { return false }
                return error.code == .matchExec && error.path == "/test/config" && error.message.contains(fragment)
            }
        }
        #expect(SSHConfig.matchExecTimeout == 30)
    }

    /// Whether a local interface address lies in one of `networks`, by `ip -o addr` and Python's ipaddress:
    /// an oracle independent of fab (Debian's OpenSSH 9.2 has no `Match localnetwork`; 9.4 added it).
    private func interfaceInNetworks(_ networks: String) throws -> Bool {
        let script = """
            import ipaddress, subprocess, sys
            nets = [ipaddress.ip_network(n) for n in sys.argv[1].split(",")]
            addrs = [ipaddress.ip_interface(line.split()[3]).ip for line in subprocess.run(["ip", "-o", "addr"], capture_output=True, text=True, check=True).stdout.splitlines()]
            print(any(a.version == n.version and a in n for a in addrs for n in nets))
            """
        return try TestShell.run("/usr/bin/python3", ["-c", script, networks]).checked("ip/ipaddress oracle").stdout == "True\n"
    }

    @Test("Match localnetwork matches exactly when an interface address is in a network", arguments: [
        "127.0.0.0/8", "203.0.113.0/24", "::1", "203.0.113.0/24,127.0.0.0/8", "198.51.100.7", "192.0.2.0/24", "fd00::/8",
        "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16",
    ])
    func localNetwork(_ networks: String) throws {
        let config = try SSHConfig.parse("Match localnetwork \(networks)\n  Port 2345\n", path: "/test/config", homeDirectory: home)
        let matched = try config.resolve(host: "web", localUser: localUser).port == 2345
        #expect(matched == (try interfaceInNetworks(networks)))
        if networks.hasPrefix("127.") { #expect(matched, "loopback is always local") }
        if networks.hasPrefix("203.0.113.") && !networks.contains("127.") { #expect(!matched) }
    }
}
