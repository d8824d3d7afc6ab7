import FabCore
import Foundation

extension Deployment {
    /// Where the package puts the app: its code, its virtualenv, more project directories, and
    /// symbolic links (deb-constrictor's `directories` and `links`).
    ///
    /// The default is the kit's original layout: the code in `INSTALL_ROOT/app`, the virtualenv in
    /// `INSTALL_ROOT/venv`, the project's `etc/` under `/etc`. The seed's "double whois"
    /// (`/vrmd/whois/whois`) and an app under /srv with its configuration in /etc:
    ///
    /// ```swift
    /// let deploy = try await Deployment(fab, app: "thumbs") { settings in
    ///     settings.installRoot = "/srv/thumbs"
    ///     settings.layout.codeDirectory = "thumbs"                 // /srv/thumbs/thumbs
    ///     settings.layout.directories = ["conf": "/etc/thumbs"]    // the project's conf/ in /etc/thumbs
    ///     settings.layout.links = ["/usr/bin/thumbs": "/srv/thumbs/venv/bin/thumbs"]
    /// }
    /// ```
    ///
    /// ``validate(installRoot:)`` checks every path before anything runs anywhere; the build checks
    /// on the build host, before it changes anything, that no link replaces a file another package owns.
    public struct Layout: Sendable, Equatable {
        /// Where the project's code is installed, relative to the install root: `app` by default,
        /// `whois` for `/vrmd/whois/whois`; nil ships no code (a virtualenv-only package: the project,
        /// when it has a `pyproject.toml` or `setup.py`, is still installed into the virtualenv).
        /// The project's `debian/`, `etc/` and the sources of ``directories`` are not part of the code.
        public var codeDirectory: String? = "app"
        /// Where the virtualenv goes, relative to the install root.
        public var virtualenvDirectory = "venv"
        /// More project directories, relative to the project, installed at absolute paths, such as
        /// `["conf": "/etc/thumbs", "static": "/srv/thumbs/static"]`. Each is copied as committed
        /// (``Settings/excludes`` apply) and left out of the code directory. A directory under the
        /// install root is relocated with it; one elsewhere is copied as it is.
        public var directories: [String: String] = [:]
        /// Symbolic links the package creates, `[absolute link path: target]`, such as
        /// `["/usr/bin/thumbs": "/srv/thumbs/venv/bin/thumbs"]` or a `.pth` file in the system
        /// Python's directories. A target outside the package that a Debian package owns adds that
        /// package to `Depends`.
        public var links: [String: String] = [:]

        /// The default layout: code in `app/`, virtualenv in `venv/`, no more directories or links.
        public init() {}

        /// A layout with the given parts; see the properties.
        public init(codeDirectory: String? = "app", virtualenvDirectory: String = "venv",
                    directories: [String: String] = [:], links: [String: String] = [:]) {
            self.codeDirectory = codeDirectory
            self.virtualenvDirectory = virtualenvDirectory
            self.directories = directories
            self.links = links
        }

        /// The installed path of the code, or nil when the package ships none.
        public func codePath(installRoot: String) -> String? {
            codeDirectory.map { installRoot + "/" + $0 }
        }

        /// The installed path of the virtualenv.
        public func virtualenvPath(installRoot: String) -> String {
            installRoot + "/" + virtualenvDirectory
        }

        /// Every path the layout installs, with the setting that names it, sorted by path.
        public func destinations(installRoot: String) -> [(field: String, path: String)] {
            var result: [(field: String, path: String)] = []
            if let code = codePath(installRoot: installRoot) { result.append(("layout.codeDirectory", code)) }
            result.append(("layout.virtualenvDirectory", virtualenvPath(installRoot: installRoot)))
            for (source, destination) in directories { result.append(("layout.directories[\"\(source)\"]", destination)) }
            for path in links.keys { result.append(("layout.links[\"\(path)\"]", path)) }
            return result.sorted { $0.path < $1.path }
        }

        /// Checks the install root and every path of the layout.
        /// - Throws: ``FabError`` `.invalidArgument` naming the setting and its value when a path is
        ///   not relative (or absolute) where it must be, contains `..`, `.`, an empty component or
        ///   white space, lands in a directory that is not a package's to fill (`/proc`, `/tmp`,
        ///   merged-/usr aliases such as `/lib`), when a link would replace a system directory, or when
        ///   two destinations are the same or one lies inside another.
        public func validate(installRoot: String) throws {
            try Self.checkAbsolute(installRoot, field: "installRoot")
            if let codeDirectory { try Self.checkRelative(codeDirectory, field: "layout.codeDirectory") }
            try Self.checkRelative(virtualenvDirectory, field: "layout.virtualenvDirectory")
            for (source, destination) in directories.sorted(by: { $0.key < $1.key }) {
                let field = "layout.directories[\"\(source)\"]"
                try Self.checkRelative(source, field: "a source of layout.directories")
                if source == "debian" {
                    throw FabError(.invalidArgument, "\(field): the project's debian/ holds the maintainer scripts and cannot be installed as a directory; install another directory.")
                }
                try Self.checkAbsolute(destination, field: field)
            }
            for (path, target) in links.sorted(by: { $0.key < $1.key }) {
                let field = "layout.links[\"\(path)\"]"
                try Self.checkAbsolute(path, field: field)
                if Self.systemDirectories.contains(path) {
                    throw FabError(.invalidArgument, "\(field): the link would replace the system directory \(path); link a path inside it instead.")
                }
                guard !target.isEmpty, !target.contains(where: { $0.isWhitespace || $0 == "\0" }) else {
                    throw FabError(.invalidArgument, "\(field): the target '\(target.escapedForMessage)' must be a path without white space.")
                }
            }
            let all = destinations(installRoot: installRoot)
            for (index, first) in all.enumerated() {
                for second in all[(index + 1)...] where second.path == first.path || second.path.hasPrefix(first.path + "/") {
                    throw FabError(.invalidArgument, second.path == first.path
                        ? "\(first.field) and \(second.field) both install \(first.path); give each its own path."
                        : "\(second.field) installs \(second.path) inside \(first.path), which \(first.field) installs; give it a path outside.")
                }
            }
        }

        /// Directories a link must not replace: the ones every Debian system has and dpkg's base
        /// packages own.
        static let systemDirectories: Set<String> = [
            "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64", "/libx32", "/media", "/mnt",
            "/opt", "/proc", "/root", "/run", "/sbin", "/srv", "/sys", "/tmp", "/usr", "/var",
            "/usr/bin", "/usr/sbin", "/usr/lib", "/usr/lib64", "/usr/libexec", "/usr/include", "/usr/share",
            "/usr/local", "/usr/share/doc", "/usr/lib/python3", "/usr/lib/python3/dist-packages",
            "/etc/systemd", "/etc/systemd/system", "/lib/systemd", "/lib/systemd/system", "/usr/lib/systemd",
            "/usr/lib/systemd/system", "/var/lib", "/var/log", "/var/cache", "/var/www",
        ]

        /// Top directories no package installs into: virtual or volatile file systems, and the
        /// merged-/usr aliases (`/lib` is `/usr/lib`: dpkg tracks the two spellings apart, so a
        /// file shipped under the alias can vanish on upgrades).
        static let forbiddenRoots = ["/proc", "/sys", "/dev", "/run", "/tmp", "/var/tmp", "/bin", "/sbin",
                                     "/lib", "/lib32", "/lib64", "/libx32"]

        static func checkRelative(_ path: String, field: String) throws {
            let parts = path.split(separator: "/", omittingEmptySubsequences: false)
            guard !path.isEmpty, !path.hasPrefix("/"), !parts.contains(where: { $0.isEmpty || $0 == ".." || $0 == "." }),
                  !path.contains(where: { $0.isWhitespace || $0 == "\0" }) else {
                throw FabError(.invalidArgument, "\(field): '\(path.escapedForMessage)' must be a relative path such as app or lib/static, without .., empty components or white space.")
            }
        }

        static func checkAbsolute(_ path: String, field: String) throws {
            let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
            guard path.hasPrefix("/"), path != "/", !parts.contains(where: { $0.isEmpty || $0 == ".." || $0 == "." }),
                  !path.contains(where: { $0.isWhitespace || $0 == "\0" }) else {
                throw FabError(.invalidArgument, "\(field): '\(path.escapedForMessage)' must be an absolute path other than / such as /etc/APP, without .., empty components or white space.")
            }
            if let root = forbiddenRoots.first(where: { path == $0 || path.hasPrefix($0 + "/") }) {
                let usr = ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"].contains(root)
                throw FabError(.invalidArgument, usr
                    ? "\(field): \(path) is under \(root), an alias of /usr\(root) on merged-/usr systems; use /usr\(path) instead."
                    : "\(field): \(path) is under \(root), which the system fills at run time, not a package; choose a path under /etc, /usr, /srv, /opt or /var/lib.")
            }
        }
    }
}

extension Deployment.Layout {
    /// The shell commands that fill the staging tree from the source tree: the code (without
    /// `debian/`, `etc/` and the sources of ``directories``), the project's `etc/` under `/etc`
    /// (unless ``directories`` maps `etc` itself), each of ``directories``, and the ``links``.
    /// Every value is quoted; a command fails with a sentence on standard error when a directory is
    /// missing from the project or a destination already holds something.
    /// - Parameters:
    ///   - installRoot: the package's install root (absolute).
    ///   - source: the build host's copy of the project.
    ///   - staging: the build host's staging directory (what dpkg-deb packs).
    ///   - excludes: shell patterns left out of every copy (``Deployment/Settings/excludes``).
    public func stagingCommands(installRoot: String, source: String, staging: String, excludes: [String]) -> [String] {
        let q = LocalShell.quote
        let excluded = excludes.map { "--exclude=" + q($0) }
        var commands: [String] = []
        if let code = codePath(installRoot: installRoot) {
            let skipped = ["debian", "etc"] + directories.keys.sorted()
            let options = (excluded + skipped.map { "--exclude=" + q("./" + $0) }).joined(separator: " ")
            commands.append("mkdir -p \(q(staging + code)) && tar -C \(q(source)) \(options) -cf - . | tar -C \(q(staging + code)) -xf -")
        }
        if directories["etc"] == nil {
            // The excludes hold here too: a family's app package leaves out what a config package ships.
            commands.append("if [ -d \(q(source + "/etc")) ]; then mkdir -p \(q(staging + "/etc")) && tar -C \(q(source + "/etc")) \(excluded.joined(separator: " ")) -cf - . | tar -C \(q(staging + "/etc")) -xf -; fi")
        }
        func fail(_ sentence: String) -> String { "{ printf '%s\\n' \(q(sentence)) >&2; exit 1; }" }
        for (name, destination) in directories.sorted(by: { $0.value < $1.value }) {
            let from = source + "/" + name, to = staging + destination
            commands.append("[ -d \(q(from)) ] || " + fail("layout.directories: the project has no directory \(name) on the built branch; commit it or remove it from the layout.")
                + "; [ ! -e \(q(to)) ] || " + fail("layout.directories[\"\(name)\"]: \(destination) already holds files of the package (the project's etc/ or code); choose another path.")
                + "; mkdir -p \(q(to)) && tar -C \(q(from)) \(excluded.joined(separator: " ")) -cf - . | tar -C \(q(to)) -xf -")
        }
        for (path, target) in links.sorted(by: { $0.key < $1.key }) {
            let at = staging + path
            commands.append("{ [ ! -e \(q(at)) ] && [ ! -L \(q(at)) ]; } || " + fail("layout.links[\"\(path)\"]: the package already has a file at \(path); choose another link path.")
                + "; mkdir -p \(q((at as NSString).deletingLastPathComponent)) && ln -s -- \(q(target)) \(q(at))")
        }
        return commands
    }
}

extension Deployment {
    /// Checks the layout against the project and the build steps, before anything runs remotely.
    /// - Throws: ``FabError`` `.invalidArgument` when build steps need code the layout does not ship,
    ///   or a directory of ``Layout/directories`` has no committed file on the branch.
    func checkLayout(against source: DeploymentSource) throws {
        let layout = settings.layout
        if layout.codeDirectory == nil && !buildSteps.isEmpty {
            throw FabError(.invalidArgument, "layout.codeDirectory is nil (no code is shipped), but \(buildSteps.count) build step(s) work on the code; set a code directory or remove the steps.")
        }
        guard !layout.directories.isEmpty else { return }
        let paths = try source.entries(excluding: settings.excludes).map(\.path)
        for name in layout.directories.keys.sorted() where !paths.contains(where: { $0.hasPrefix(name + "/") }) {
            throw FabError(.invalidArgument, "layout.directories[\"\(name)\"]: the project has no committed file in \(name)/ on \(source.branch); commit it or remove the entry.")
        }
    }

    /// Fails when a link of the layout would replace a file that a package on the build host owns
    /// (dpkg would refuse to install the package on a server with that package). Read-only.
    func checkLinks(on build: Fab) async throws {
        let paths = settings.layout.links.keys.sorted()
        guard let search = TreeDependencies.ownerSearch(paths) else { return }
        let output = try await read(build, search, planned: "")
        let owners = TreeDependencies.owners(fromSearch: output)
        for path in paths {
            let packages = TreeDependencies.owners(of: path, in: owners)
            if !packages.isEmpty {
                throw FabError(.invalidArgument, "layout.links[\"\(path)\"]: \(path) belongs to the package \(packages.joined(separator: ", ")) on \(settings.buildHost), and dpkg does not let two packages ship one path; choose another link path.")
            }
        }
    }
}

private extension String {
    /// The string with line breaks and other control characters escaped, without quotes, for error messages.
    var escapedForMessage: String { String(debugDescription.dropFirst().dropLast()) }
}
