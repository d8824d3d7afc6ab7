import FabCore
import FabSSH
import FabTestSupport
import Foundation
import Testing
@testable import FabDeploy

/// Rendering and validating config packages: ordered variables, values as data, strict templates.
@Suite("Config package rendering")
struct ConfigPackageRenderingTests {
    static let package = "vrmd-whois-config-staging"

    /// Templates by path, as the commit would hold them; a path not listed is not in the project.
    static func reader(_ templates: [String: String]) -> (String) throws -> String {
        { path in
            guard let text = templates[path] else { throw FabError(.invalidArgument, "no \(path) in the project") }
            return text
        }
    }

    @Test("Ordered variables: a later one uses earlier ones, and one port feeds an nginx site and a supervisor program")
    func orderedVariablesFeedTwoFiles() throws {
        var variables = TemplateVariables()
        variables.value("port", 8471)
        variables.derived("bind", "127.0.0.1:{{ port }}")
        variables.value("workers", "3")
        variables.derived("upstream", "http://{{ bind }}/")
        let config = ConfigPackage(environment: "staging", variables: variables, files: [
            .template("deploy/nginx.stencil", to: "/etc/nginx/sites-enabled/whois.conf"),
            .template("deploy/supervisor.stencil", to: "/etc/supervisor/conf.d/whois.conf", mode: 0o640),
        ], reloads: [.systemd("nginx.service"), .supervisor])
        let rendered = try config.render(package: Self.package, read: Self.reader([
            "deploy/nginx.stencil": "server {\n    listen 80;\n    location / { proxy_pass {{ upstream }}; }\n}\n",
            "deploy/supervisor.stencil": "[program:whois]\ncommand=/vrmd/whois/venv/bin/whois --bind {{ bind }} --workers {{ workers }}\n{% if port == \"8471\" %}# default port{% endif %}\n",
        ]))
        #expect(rendered.files.map(\.destination) == ["/etc/nginx/sites-enabled/whois.conf", "/etc/supervisor/conf.d/whois.conf"])
        #expect(rendered.files[0].content == "server {\n    listen 80;\n    location / { proxy_pass http://127.0.0.1:8471/; }\n}\n")
        #expect(rendered.files[1].content == "[program:whois]\ncommand=/vrmd/whois/venv/bin/whois --bind 127.0.0.1:8471 --workers 3\n# default port\n")
        #expect(rendered.files[1].mode == 0o640)
        #expect(rendered.files[0].used == ["upstream"] && rendered.files[1].used == ["bind", "workers", "port"])
        #expect(rendered.conffiles == ["/etc/nginx/sites-enabled/whois.conf", "/etc/supervisor/conf.d/whois.conf"])
        #expect(rendered.variables == ["port = 8471", "bind = 127.0.0.1:{{ port }} -> 127.0.0.1:8471", "workers = 3",
                                       "upstream = http://{{ bind }}/ -> http://127.0.0.1:8471/"])
        let postinst = try #require(rendered.postinst)
        #expect(postinst.contains("systemctl is-active --quiet nginx.service; then\n        deb-systemd-invoke reload-or-restart nginx.service"))
        #expect(postinst.contains("supervisorctl update"))
        // Another value gives other files and another key; the same values give the same key.
        let again = try config.render(package: Self.package, read: Self.reader([
            "deploy/nginx.stencil": "server {\n    listen 80;\n    location / { proxy_pass {{ upstream }}; }\n}\n",
            "deploy/supervisor.stencil": "[program:whois]\ncommand=/vrmd/whois/venv/bin/whois --bind {{ bind }} --workers {{ workers }}\n{% if port == \"8471\" %}# default port{% endif %}\n",
        ]))
        #expect(try again.contentKey() == rendered.contentKey())
        var other = config
        other.variables = TemplateVariables()
        other.variables.value("port", 8472)
        other.variables.derived("bind", "127.0.0.1:{{ port }}")
        other.variables.value("workers", "3")
        other.variables.derived("upstream", "http://{{ bind }}/")
        let changed = try other.render(package: Self.package, read: Self.reader([
            "deploy/nginx.stencil": "x {{ upstream }}\n", "deploy/supervisor.stencil": "y\n",
        ]))
        #expect(changed.files[0].content == "x http://127.0.0.1:8472/\n")
        #expect(try changed.contentKey() != rendered.contentKey())
    }

    @Test("Hostile values land in the file byte for byte, directly and through a derived variable, and a secret is *** in the plan")
    func hostileValuesLandLiterally() throws {
        let corpus = HostileStrings.corpus(marker: "/tmp/fab-config-never-created") + ["{{ port }}", "{% if true %}x{% endif %}", "{# c #}", "{{", "}}", "{%"]
        for (index, value) in corpus.enumerated() {
            var variables = TemplateVariables()
            variables.value("port", 80)
            variables.value("name", value)
            variables.derived("label", "[{{ name }}]")
            variables.secret("password", Secret("pw-secret:" + value))
            let config = ConfigPackage(environment: "staging", variables: variables, files: [
                .text("name={{ name }}\nlabel={{ label }}\n", to: "/etc/whois/a.conf"),
                .text("{{ password }}", to: "/etc/whois/secret.conf", mode: 0o600),
            ])
            let rendered = try config.render(package: Self.package, read: Self.reader([:]))
            #expect(rendered.files[0].content == "name=\(value)\nlabel=[\(value)]\n", "\(HostileStrings.label(index, value))")
            #expect(Array(rendered.files[1].content.utf8) == Array(("pw-secret:" + value).utf8), "\(HostileStrings.label(index, value))")
            #expect(rendered.files[1].usesSecret && !rendered.files[0].usesSecret)
            #expect(rendered.variables.contains("password = ***"))
            #expect(!rendered.planLines.joined(separator: "\n").contains("pw-secret:"), "\(HostileStrings.label(index, value)): the secret is shown in the plan")
        }
        // A derived variable that uses a secret is secret itself.
        var variables = TemplateVariables()
        variables.secret("password", "hunter2-very-secret")
        variables.derived("dsn", "postgres://whois:{{ password }}@db/whois")
        let description = try variables.describe(package: Self.package)
        #expect(description == ["password = ***", "dsn = postgres://whois:{{ password }}@db/whois (uses a secret)"])
    }

    @Test("A template using an undefined variable fails naming the template, the line and the variable; so does a variable used before it is defined")
    func undefinedVariablesAreErrors() throws {
        var variables = TemplateVariables()
        variables.value("port", 8471)
        variables.value("host", "example.org")
        func failure(_ template: String, _ expected: String, sourceLocation: SourceLocation = #_sourceLocation) {
            let config = ConfigPackage(environment: "staging", variables: variables, files: [.template("deploy/site.stencil", to: "/etc/whois/site.conf")])
            do {
                _ = try config.render(package: Self.package, read: Self.reader(["deploy/site.stencil": template]))
                Issue.record("rendered without error: \(template)", sourceLocation: sourceLocation)
            } catch {
                #expect("\(error)".contains(expected), "\(error)", sourceLocation: sourceLocation)
            }
        }
        failure("listen {{ port }};\nserver_name {{ hostname }};\n",
                "template deploy/site.stencil of vrmd-whois-config-staging line 2 uses the variable 'hostname', which is not defined (defined: host, port)")
        failure("a\n\nb\n{% if debug %}x{% endif %}\n", "line 4 uses the variable 'debug'")
        failure("{{ port|default:fallback }}", "line 1 uses the variable 'fallback'")
        failure("{% for item in items %}{{ item }}{% endfor %}", "line 1 uses the variable 'items'")
        failure("{% for c in host %}{{ c }}{% endfor %}\n{{ c }}", "line 2 uses the variable 'c'")
        failure("{{ port\n", "line 1: a tag opened with '{{' is never closed")
        failure("x\n{% now \"yyyy\" %}", "line 2 uses {% now %}, which config templates do not allow")
        failure("{% include \"other.stencil\" %}", "uses {% include %}, which config templates do not allow")
        failure("{% if port %}", "cannot be rendered")
        // Names that are not variables: filters, literals, loop variables, keywords, strings.
        let config = ConfigPackage(environment: "staging", variables: variables, files: [.text(
            "{{ host|uppercase }} {{ \"x y\"|lowercase }} {{ 'q' }} {{ 3 }}{% for c in host|split:\".\" where c != \"org\" %}{{ forloop.counter }}{{ c }}{% endfor %}{% if host and not false %}!{% endif %}{% filter uppercase %}z{% endfilter %}{# {{ nothing }} #}",
            to: "/etc/whois/x.conf")])
        let rendered = try config.render(package: Self.package, read: Self.reader([:]))
        #expect(rendered.files[0].content == "EXAMPLE.ORG x y q 31example!Z")

        // Ordered: a variable can use only those before it.
        var forward = TemplateVariables()
        forward.derived("bind", "127.0.0.1:{{ port }}")
        forward.value("port", 8471)
        #expect(throws: FabError.self) { try forward.describe(package: Self.package) }
        do { _ = try forward.describe(package: Self.package) } catch {
            #expect("\(error)".contains("the variable 'bind' of \(Self.package) line 1 uses the variable 'port', which is defined only after it"), "\(error)")
        }
    }

    @Test("Bad names, paths and modes are refused before anything runs", arguments: [
        ("Prod", "/etc/x.conf", "deploy/x", 0o644, "the environment name 'Prod' cannot be part of a package name"),
        ("prod_1", "/etc/x.conf", "deploy/x", 0o644, "the environment name 'prod_1'"),
        ("-x", "/etc/x.conf", "deploy/x", 0o644, "the environment name '-x'"),
        ("a b", "/etc/x.conf", "deploy/x", 0o644, "the environment name 'a b'"),
        ("prod", "/usr/share/x.conf", "deploy/x", 0o644, "the destination '/usr/share/x.conf' of vrmd-whois-config-prod is not a file path under /etc"),
        ("prod", "/etc", "deploy/x", 0o644, "is not a file path under /etc"),
        ("prod", "/etc/", "deploy/x", 0o644, "is not a file path under /etc"),
        ("prod", "/etc/../usr/x", "deploy/x", 0o644, "is not a file path under /etc"),
        ("prod", "/etc//x", "deploy/x", 0o644, "is not a file path under /etc"),
        ("prod", "etc/x.conf", "deploy/x", 0o644, "is not a file path under /etc"),
        ("prod", "/etc/my site.conf", "deploy/x", 0o644, "contains blanks or control characters"),
        ("prod", "/etc/x\n.conf", "deploy/x", 0o644, "contains blanks or control characters"),
        ("prod", "/etc/x.conf", "../outside/x", 0o644, "the template path '../outside/x' of vrmd-whois-config-prod is outside the project"),
        ("prod", "/etc/x.conf", "/etc/passwd", 0o644, "the template path '/etc/passwd' of vrmd-whois-config-prod is outside the project"),
        ("prod", "/etc/x.conf", "deploy/../../x", 0o644, "is outside the project"),
        ("prod", "/etc/x.conf", "~/x", 0o644, "is outside the project"),
        ("prod", "/etc/x.conf", "deploy/x", 0o4755, "the mode 4755 of /etc/x.conf"),
        ("prod", "/etc/x.conf", "deploy/x", 0o666, "the mode 666 of /etc/x.conf"),
    ])
    func badInputIsRefused(environment: String, destination: String, template: String, mode: Int, expected: String) throws {
        let config = ConfigPackage(environment: environment, files: [.template(template, to: destination, mode: mode)])
        let package = ConfigPackage.packageName(prefix: "vrmd-", app: "whois", environment: environment)
        do {
            _ = try config.render(package: package, read: Self.reader(["deploy/x": "x"]))
            Issue.record("accepted \(environment) \(destination) \(template)")
        } catch {
            #expect("\(error)".contains(expected), "\(error)")
        }
    }

    @Test("Variable names must be unique identifiers that Stencil does not reserve; units and relations are checked")
    func badVariableNamesAndReloads() throws {
        for (name, expected) in [("listen-port", "is not usable in a template"), ("9lives", "is not usable"), ("", "is not usable"),
                                 ("a b", "is not usable"), ("in", "reserve"), ("forloop", "reserve"), ("port", "is defined twice")] {
            var variables = TemplateVariables()
            variables.value("port", 1)
            variables.value(name, "x")
            let config = ConfigPackage(environment: "prod", variables: variables, files: [.text("x", to: "/etc/x")])
            #expect(throws: FabError.self) { try config.validate(package: "vrmd-whois-config-prod") }
            do { try config.validate(package: "vrmd-whois-config-prod") } catch {
                #expect("\(error)".contains(expected), "\(name): \(error)")
            }
        }
        for reload in [ConfigPackage.Reload.systemd("nginx; touch /tmp/x"), .systemd("-x"), .systemd("")] {
            let config = ConfigPackage(environment: "prod", files: [.text("x", to: "/etc/x")], reloads: [reload])
            #expect(throws: FabError.self) { try config.validate(package: "vrmd-whois-config-prod") }
        }
        var config = ConfigPackage(environment: "prod", files: [.text("x", to: "/etc/x"), .text("y", to: "/etc/x")])
        #expect(throws: FabError.self) { try config.validate(package: "p-config-prod") }
        config = ConfigPackage(environment: "prod", files: [.text("x", to: "/etc/x"), .text("y", to: "/etc/x/y")])
        #expect(throws: FabError.self) { try config.validate(package: "p-config-prod") }
        config = ConfigPackage(environment: "prod", files: [])
        #expect(throws: FabError.self) { try config.validate(package: "p-config-prod") }
        config = ConfigPackage(environment: "prod", files: [.text("x", to: "/etc/x")])
        config.depends = ["nginx (>> )"]
        #expect(throws: FabError.self) { try config.validate(package: "p-config-prod") }
    }

    @Test("Manifest packages pin exact versions and refuse bad names and versions")
    func manifestValidation() throws {
        let role = ManifestPackage(role: "whois-server", pins: [.init("vrmd-whois", "7"), .init("vrmd-whois-config-production", "3")],
                                   extraPackages: ["nginx"])
        try role.validate(prefix: "vrmd-")
        #expect(role.packageName(prefix: "vrmd-") == "vrmd-whois-server")
        #expect(role.depends == ["vrmd-whois (= 7)", "vrmd-whois-config-production (= 3)", "nginx"])
        for bad in [ManifestPackage(role: "Whois", pins: [.init("a1", "1")]),
                    ManifestPackage(role: "r", name: "x", pins: [.init("a1", "1")]),
                    ManifestPackage(role: "r", pins: []),
                    ManifestPackage(role: "r", pins: [.init("a1", "1"), .init("a1", "2")]),
                    ManifestPackage(role: "r", pins: [.init("a1", "not a version")]),
                    ManifestPackage(role: "r", pins: [.init("a1", "1")], extraPackages: ["nginx; rm"])] {
            #expect(throws: FabError.self, "\(bad)") { try bad.validate(prefix: "vrmd-") }
        }
    }
}
