import FabArchive
import FabCore
import FabSSH
import Foundation

/// The configuration of one environment or customer as its own package, `PREFIX-APP-config-ENV`:
/// files under /etc rendered from Stencil templates with ordered ``TemplateVariables``, installed as
/// conffiles, and a postinst that reloads what they configure.
///
/// Every config package of an app provides, conflicts with and replaces the virtual package
/// `APP-config`, so one environment's package excludes another's (installing production removes
/// staging), and the app package can `Depends: APP-config` without naming an environment.
///
/// ```swift
/// var variables = TemplateVariables()
/// variables.value("port", 8471)
/// variables.derived("bind", "127.0.0.1:{{ port }}")
/// let production = ConfigPackage(environment: "production", variables: variables,
///     files: [.template("deploy/nginx-site.stencil", to: "/etc/nginx/sites-enabled/whois.conf"),
///             .template("deploy/supervisor.stencil", to: "/etc/supervisor/conf.d/whois.conf")],
///     reloads: [.systemd("nginx.service"), .supervisor])
/// ```
///
/// Everything is checked before anything runs remotely: variable names, a template that uses an
/// undefined variable (an error naming the template, the line and the variable), a template path
/// outside the project, a destination not under /etc, an environment name that cannot be part of a
/// package name.
public struct ConfigPackage: Sendable {
    /// One file the package installs.
    public struct File: Sendable, Equatable {
        /// Where the template comes from.
        public enum Source: Sendable, Equatable {
            /// A template file, relative to the project directory, read from the commit being built.
            case template(String)
            /// A template given as text in the fabfile.
            case text(String)
        }

        /// The template.
        public var source: Source
        /// The installed path: absolute, under /etc.
        public var destination: String
        /// The file's permission bits (root owns every file): 0o644 unless given; 0o640 or 0o600 for secrets.
        public var mode: Int

        /// A file rendered from the template at `path` (relative to the project) to `destination`.
        public static func template(_ path: String, to destination: String, mode: Int = 0o644) -> File {
            File(source: .template(path), destination: destination, mode: mode)
        }

        /// A file rendered from `template` (Stencil text in the fabfile) to `destination`.
        public static func text(_ template: String, to destination: String, mode: Int = 0o644) -> File {
            File(source: .text(template), destination: destination, mode: mode)
        }

        /// How messages name the template.
        var origin: String {
            switch source {
            case let .template(path): return "template \(path)"
            case .text: return "the inline template for \(destination)"
            }
        }
    }

    /// What the postinst reloads after the files changed; each only when its service manager runs on
    /// the machine and the service is up, so installing into a chroot or an image build never fails.
    public enum Reload: Sendable, Equatable, CustomStringConvertible {
        /// `systemctl reload-or-restart UNIT` (through `deb-systemd-invoke`, which honours `policy-rc.d`)
        /// when systemd runs (`/run/systemd/system`) and the unit is active.
        case systemd(String)
        /// `supervisorctl update` when supervisord answers.
        case supervisor
        /// `nginx -s reload` when the nginx of `/run/nginx.pid` runs.
        case nginx

        /// `systemd nginx.service`, `supervisor`, `nginx`.
        public var description: String {
            switch self {
            case let .systemd(unit): return "systemd \(unit)"
            case .supervisor: return "supervisor"
            case .nginx: return "nginx"
            }
        }
    }

    /// The environment or customer: the package name's last part (`production`, `customer-42`).
    public var environment: String
    /// The ordered variables the templates use.
    public var variables: TemplateVariables
    /// The files, in the order given.
    public var files: [File]
    /// What the postinst reloads, in order.
    public var reloads: [Reload]
    /// More `Depends` relations (such as `nginx`), none by default: a config package installs into a
    /// machine without the services it configures.
    public var depends: [String] = []
    /// The virtual package every environment's package provides; nil for `APP-config`.
    public var virtualPackage: String?
    /// The description's first line; nil for "Configuration ENV of APP".
    public var synopsis: String?

    /// A config package for `environment`.
    public init(environment: String, variables: TemplateVariables = TemplateVariables(), files: [File], reloads: [Reload] = []) {
        self.environment = environment
        self.variables = variables
        self.files = files
        self.reloads = reloads
    }

    /// `PREFIX` + `APP` + `-config-` + environment.
    public static func packageName(prefix: String, app: String, environment: String) -> String {
        "\(prefix)\(app)-config-\(environment)"
    }

    /// The virtual package the config packages of `app` provide (and the app depends on): `APP-config`.
    public static func virtualPackageName(app: String) -> String { "\(app)-config" }

    // MARK: - Validation and rendering

    /// Checks the environment name and the resulting package name.
    func validateName(package: String) throws {
        guard environment.range(of: "^[a-z0-9][a-z0-9+.-]*$", options: .regularExpression) != nil else {
            throw FabError(.invalidArgument, "the environment name '\(TemplateVariables.printable(environment))' cannot be part of a package name; use lowercase letters, digits, '+', '-' and '.', starting with a letter or digit (such as production or customer-42).")
        }
        do { try ControlFileBuilder.validatePackageName(package) } catch {
            throw FabError(.invalidArgument, "the config package name \(package): \(error)")
        }
    }

    /// Checks a destination: an absolute path under /etc, without `.`/`..`/empty components, blanks or
    /// control characters.
    static func validateDestination(_ path: String, package: String) throws {
        let components = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        guard path.hasPrefix("/etc/"), components.count >= 2,
              components.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }) else {
            throw FabError(.invalidArgument, "the destination '\(TemplateVariables.printable(path))' of \(package) is not a file path under /etc (such as /etc/nginx/sites-enabled/whois.conf); config packages install conffiles under /etc only.")
        }
        guard !path.unicodeScalars.contains(where: { $0.properties.isWhitespace || $0.value < 0x20 || $0.value == 0x7f }) else {
            throw FabError(.invalidArgument, "the destination '\(TemplateVariables.printable(path))' of \(package) contains blanks or control characters, which dpkg's conffiles list cannot hold; rename it.")
        }
    }

    /// Checks a template path: relative, inside the project (no `..`), not hidden in `.git`.
    static func validateTemplatePath(_ path: String, package: String) throws {
        let components = path.split(separator: "/", omittingEmptySubsequences: false)
        guard !path.isEmpty, !path.hasPrefix("/"), !path.hasPrefix("~"),
              components.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }), components.first != ".git" else {
            throw FabError(.invalidArgument, "the template path '\(TemplateVariables.printable(path))' of \(package) is outside the project; give a path relative to the project directory without '..' (such as deploy/nginx.conf.stencil).")
        }
    }

    /// Checks a unit name for ``Reload/systemd(_:)``.
    static func validateUnit(_ unit: String, package: String) throws {
        guard unit.range(of: "^[A-Za-z0-9_][A-Za-z0-9:_.@\\\\-]*$", options: .regularExpression) != nil, unit.count <= 255 else {
            throw FabError(.invalidArgument, "'\(TemplateVariables.printable(unit))' in the reloads of \(package) is not a systemd unit name (such as nginx.service or whois@1.service).")
        }
    }

    /// Validates the package description (names, paths, modes, reloads, relations) without reading templates.
    /// - Throws: ``FabError`` `.invalidArgument` naming the first problem.
    public func validate(package: String) throws {
        try validateName(package: package)
        try variables.validateNames(package: package)
        guard !files.isEmpty else {
            throw FabError(.invalidArgument, "\(package) has no files; give it at least one template to render under /etc.")
        }
        var destinations = Set<String>()
        for file in files {
            try Self.validateDestination(file.destination, package: package)
            guard destinations.insert(file.destination).inserted else {
                throw FabError(.invalidArgument, "\(package) installs \(file.destination) twice; give each file one destination.")
            }
            if case let .template(path) = file.source { try Self.validateTemplatePath(path, package: package) }
            guard (0...0o775).contains(file.mode), file.mode & 0o002 == 0 else {
                throw FabError(.invalidArgument, "the mode \(String(file.mode, radix: 8)) of \(file.destination) in \(package) is not usable for a config file; give permission bits without setuid, setgid, sticky or world-write, such as 0o644 or 0o640.")
            }
        }
        // A file whose path is another's directory cannot be installed.
        for destination in destinations where destinations.contains(where: { $0.hasPrefix(destination + "/") }) {
            throw FabError(.invalidArgument, "\(package) installs \(destination) as a file and as a directory of other files; rename one.")
        }
        for reload in reloads {
            if case let .systemd(unit) = reload { try Self.validateUnit(unit, package: package) }
        }
        do {
            _ = try DeploymentCommands.mergeDepends(run: depends, shlibs: [], pythonVersion: nil)
            if let virtualPackage { try ControlFileBuilder.validatePackageName(virtualPackage) }
        } catch {
            throw FabError(.invalidArgument, "\(package): \(error)")
        }
    }

    /// Validates everything and renders every file.
    /// - Parameters:
    ///   - package: the package name (for messages).
    ///   - read: reads a template path (already checked to be relative and inside the project); it
    ///     throws when the file is not in the project.
    /// - Throws: ``FabError``: `.invalidArgument` for a bad name, path, mode or reload; `.template` for
    ///   a template that uses an undefined variable (naming the template, line and variable) or does not render.
    func render(package: String, read: (String) throws -> String) throws -> RenderedConfig {
        try validate(package: package)
        let resolved = try variables.resolve(package: package)
        var rendered: [RenderedConfig.File] = []
        for file in files {
            let template: String
            switch file.source {
            case let .template(path): template = try read(path)
            case let .text(text): template = text
            }
            let result = try TemplateRenderer.render(template, named: "\(file.origin) of \(package)", with: resolved)
            rendered.append(.init(destination: file.destination, content: result.text, mode: file.mode, origin: file.origin,
                                  used: result.used, usesSecret: result.usedSecret))
        }
        return RenderedConfig(package: package, files: rendered, postinst: Self.postinst(package: package, reloads: reloads),
                              variables: try variables.describe(package: package))
    }

    // MARK: - Maintainer script

    /// The postinst that reloads `reloads` on `configure`, or nil when there is nothing to reload.
    /// Each reload runs only when its service manager is present and running here, so the package
    /// installs into a chroot or an image without systemd; a reload that fails fails the postinst, so
    /// apt reports a configuration the service refused.
    static func postinst(package: String, reloads: [Reload]) -> String? {
        guard !reloads.isEmpty else { return nil }
        let q = ShellQuoting.quote
        var body: [String] = []
        for reload in reloads {
            switch reload {
            case let .systemd(unit):
                body.append("""
                        if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet \(q(unit)); then
                            deb-systemd-invoke reload-or-restart \(q(unit)) || fail \(q("reload-or-restart of " + unit))
                        fi
                    """)
            case .supervisor:
                body.append("""
                        if command -v supervisorctl >/dev/null 2>&1 && supervisorctl pid >/dev/null 2>&1; then
                            supervisorctl update || fail 'supervisorctl update'
                        fi
                    """)
            case .nginx:
                body.append("""
                        if command -v nginx >/dev/null 2>&1 && [ -s /run/nginx.pid ] && kill -0 "$(cat /run/nginx.pid)" 2>/dev/null; then
                            nginx -s reload || fail 'nginx -s reload'
                        fi
                    """)
            }
        }
        return """
            #!/bin/sh
            # \(package): reload what this configuration configures, where its service manager runs
            # (nothing happens in a chroot or an image build without one).
            set -e

            fail() {
                echo "\(package): $1 failed; the new configuration is installed but not in use, fix it and reconfigure (dpkg --configure -a)." >&2
                exit 1
            }

            if [ "$1" = configure ]; then
            \(body.joined(separator: "\n"))
            fi

            exit 0

            """
    }
}

/// A config package's files as rendered, its postinst, and the plan lines that describe it.
struct RenderedConfig: Sendable {
    /// One rendered file.
    struct File: Sendable {
        var destination: String
        var content: String
        var mode: Int
        var origin: String
        var used: [String]
        var usesSecret: Bool
    }

    var package: String
    var files: [File]
    var postinst: String?
    /// The variables as a plan shows them (secrets as `***`).
    var variables: [String]

    /// The conffiles: every file, in order.
    var conffiles: [String] { files.map(\.destination) }

    /// The SHA-256 of everything the package holds that the templates decide: each destination, mode
    /// and content, and the postinst. Equal keys mean equal files.
    func contentKey() throws -> String {
        var bytes: [UInt8] = []
        func add(_ text: String) {
            bytes += Array("\(text.utf8.count):".utf8) + Array(text.utf8)
        }
        for file in files {
            add(file.destination)
            add(String(file.mode, radix: 8))
            add(file.content)
        }
        add(postinst ?? "")
        return try FileDigest.sha256(bytes: bytes)
    }

    /// What a plan or log shows: each file with the template and variables it uses, then the
    /// variables' values (secrets as `***`). No file content is shown.
    var planLines: [String] {
        files.map { file in
            "\(file.destination) (mode \(String(file.mode, radix: 8))) from \(file.origin)\(file.used.isEmpty ? "" : ", using " + file.used.joined(separator: ", "))"
        } + (variables.isEmpty ? [] : ["variables: " + variables.joined(separator: "; ")])
    }
}
