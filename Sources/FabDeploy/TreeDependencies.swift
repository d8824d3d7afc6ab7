import FabCore
import Foundation

/// The Debian packages a staged package tree needs because of its symbolic links and its scripts'
/// interpreters, found from the tree itself rather than a convention.
///
/// A virtualenv made by `/usr/bin/python3 -m venv` has `bin/python` → `/usr/bin/python3` →
/// `python3.11`: the package needs the owners of every hop (`python3` and `python3.11`), or its
/// interpreter dangles on a clean server. ``inspectCommand(staging:python:virtualenv:)`` walks every
/// symlink of the staged tree on the build host, and every executable script's `#!` interpreter
/// (through `env` to the command it runs, looked up in `/usr/bin` and `/bin`), and prints, for each
/// one that leaves the package, the system paths it passes through; ``ownerSearch(_:)`` asks dpkg who owns them (under both
/// merged-/usr spellings, since dpkg records `/lib/...` for some packages and `/usr/lib/...` for
/// others); ``fullPackageQuery(_:)`` and ``resolve(links:owners:fullPackages:)`` turn owners into
/// `Depends` entries, preferring `python3` over `python3-minimal` when `python3` is installed and
/// depends on it (Debian's Python policy: packages depend on the full interpreter, not `-minimal`).
public enum TreeDependencies {
    /// One symlink of the staged tree, or one script's interpreter, whose chain leaves the package.
    public struct ExternalLink: Sendable, Equatable, Decodable {
        /// Its installed path, such as `/vrmd/whois/venv/bin/python` (for a script: the script's).
        public var link: String
        /// The system paths its chain passes through, in order, the final resolved path last
        /// (`/usr/bin/python3`, `/usr/bin/python3.11`); directories are left out (a system
        /// directory belongs to many packages, so a link to one adds no dependency).
        public var hops: [String]
        /// Whether it is one of the virtualenv's interpreters (`bin/python*`): its final path must
        /// belong to a package, or the package could not run on a clean server.
        public var interpreter: Bool
        /// Whether the chain starts at a script's `#!` line rather than at a symlink.
        public var script: Bool

        /// A link (or script) and the system paths it reaches.
        public init(link: String, hops: [String], interpreter: Bool, script: Bool = false) {
            self.link = link
            self.hops = hops
            self.interpreter = interpreter
            self.script = script
        }
    }

    /// The program (run with the build host's Python, the staged tree's path and the virtualenv's
    /// installed path as arguments) that prints one JSON ``ExternalLink`` a line.
    static let inspectProgram = #"""
import json, os, stat, sys
staging, venv = sys.argv[1].rstrip("/"), sys.argv[2]
def packaged(path):
    return os.path.lexists(staging + path)
def chain(start, here_dir):
    """The system paths a chain starting at start (relative to here_dir) passes through."""
    here, hops, seen = os.path.normpath(os.path.join(here_dir, start)), [], set()
    if not packaged(here):
        hops.append(here)
    while len(seen) < 40:
        real = staging + here if packaged(here) else here
        if not os.path.islink(real):
            break
        nxt = os.path.normpath(os.path.join(os.path.dirname(here), os.readlink(real)))
        if nxt in seen:
            break
        seen.add(nxt)
        if not packaged(nxt):
            hops.append(nxt)
        here = nxt
    if hops:
        final = os.path.realpath(hops[-1])
        if final != hops[-1]:
            hops.append(final)
    # A system directory belongs to many packages (or to none in particular): no dependency.
    return [h for h in hops if not os.path.isdir(h)]
def interpreters(full):
    """The programs a script's #! line runs: the interpreter, and the command env runs."""
    try:
        with open(full, "rb") as f:
            line = f.read(512).split(b"\n", 1)[0]
    except OSError:
        return []
    if not line.startswith(b"#!"):
        return []
    words = os.fsdecode(line[2:]).split()
    if not words or not words[0].startswith("/"):
        return []
    found = [words[0]]
    if os.path.basename(words[0]) == "env":
        rest = [w for w in words[1:] if not w.startswith("-") and "=" not in w]
        if rest and "/" not in rest[0]:
            for directory in ("/usr/bin", "/bin"):
                if os.path.exists(os.path.join(directory, rest[0])):
                    found.append(os.path.join(directory, rest[0]))
                    break
    return found
for top, dirs, files in os.walk(staging):
    for name in sorted(dirs + files):
        full = os.path.join(top, name)
        installed = full[len(staging):]
        if os.path.islink(full):
            hops = chain(os.readlink(full), os.path.dirname(installed))
            if hops:
                is_interpreter = os.path.dirname(installed) == venv + "/bin" and name.startswith("python")
                print(json.dumps({"link": installed, "hops": hops, "interpreter": is_interpreter, "script": False}))
        elif name in files and os.stat(full).st_mode & 0o111 and stat.S_ISREG(os.stat(full).st_mode):
            hops = []
            for program in interpreters(full):
                hops += [h for h in chain(program, "/") if h not in hops]
            if hops:
                print(json.dumps({"link": installed, "hops": hops, "interpreter": False, "script": True}))
"""#

    /// Walks the staged tree's symlinks and executable scripts with `python` and prints one JSON
    /// ``ExternalLink`` a line for each whose chain leaves the package. Parse with ``externalLinks(fromInspection:)``.
    /// - Parameters:
    ///   - staging: the staging directory on the build host (installed paths are relative to it).
    ///   - python: the build host's interpreter that runs the walk.
    ///   - virtualenv: the virtualenv's installed path (whose `bin/python*` are interpreters).
    public static func inspectCommand(staging: String, python: String, virtualenv: String) -> String {
        [python, "-c", inspectProgram, staging, virtualenv].map(LocalShell.quote).joined(separator: " ")
    }

    /// The links printed by ``inspectCommand(staging:python:virtualenv:)``.
    /// - Throws: `DecodingError` for a line that is not such an object.
    public static func externalLinks(fromInspection output: String) throws -> [ExternalLink] {
        try output.split(whereSeparator: \.isNewline).map { try JSONDecoder().decode(ExternalLink.self, from: Data($0.utf8)) }
    }

    /// The merged-/usr spellings of `path`: itself, and `/usr/lib/x` for `/lib/x` and back
    /// (`/bin`, `/sbin`, `/lib`, `/lib32`, `/lib64`, `/libx32`).
    public static func mergedUsrSpellings(_ path: String) -> [String] {
        for alias in ["/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"] {
            if path.hasPrefix(alias + "/") { return [path, "/usr" + path] }
            if path.hasPrefix("/usr" + alias + "/") { return [path, String(path.dropFirst(4))] }
        }
        return [path]
    }

    /// `dpkg-query -S` on every spelling of `paths` (see ``mergedUsrSpellings(_:)``); prints
    /// `package[, package]: path` lines for the owned ones and succeeds whatever is owned. Paths with
    /// glob characters are left out (dpkg would take them as patterns). Parse with ``owners(fromSearch:)``.
    public static func ownerSearch(_ paths: [String]) -> String? {
        let spellings = Set(paths.flatMap(mergedUsrSpellings)).filter { !$0.contains(where: { "*?[]\\".contains($0) }) }.sorted()
        guard !spellings.isEmpty else { return nil }
        return "LC_ALL=C dpkg-query -S -- " + spellings.map(LocalShell.quote).joined(separator: " ") + " 2>/dev/null || true"
    }

    /// The owners in `dpkg-query -S` output, by path (architecture qualifiers dropped; diversion lines skipped).
    public static func owners(fromSearch output: String) -> [String: [String]] {
        var result: [String: [String]] = [:]
        for line in output.split(whereSeparator: \.isNewline) where !line.hasPrefix("diversion by ") {
            guard let separator = line.range(of: ": /") else { continue }
            let path = String(line[line.index(after: separator.lowerBound)...]).trimmingCharacters(in: .whitespaces)
            let packages = line[..<separator.lowerBound].split(separator: ",").map {
                String($0.trimmingCharacters(in: .whitespaces).split(separator: ":").first ?? "")
            }.filter { !$0.isEmpty }
            result[path, default: []].append(contentsOf: packages)
        }
        return result
    }

    /// The owners of `path` under any of its spellings, from ``owners(fromSearch:)``.
    public static func owners(of path: String, in owners: [String: [String]]) -> [String] {
        var seen = Set<String>()
        return mergedUsrSpellings(path).flatMap { owners[$0] ?? [] }.filter { seen.insert($0).inserted }
    }

    /// For each `-minimal` owner, asks dpkg for the package without the suffix: prints
    /// `package<TAB>status<TAB>Pre-Depends, Depends` lines for the installed ones. Parse with ``fullPackages(fromQuery:)``.
    public static func fullPackageQuery(_ owners: [String]) -> String? {
        let bases = Set(owners.filter { $0.hasSuffix("-minimal") }.map { String($0.dropLast("-minimal".count)) }).sorted()
        guard !bases.isEmpty else { return nil }
        return "dpkg-query -W -f '${Package}\\t${db:Status-Abbrev}\\t${Pre-Depends}, ${Depends}\\n' -- " + bases.map(LocalShell.quote).joined(separator: " ") + " 2>/dev/null || true"
    }

    /// `-minimal` owner → full package, for each installed full package whose Pre-Depends or Depends name the `-minimal` one.
    public static func fullPackages(fromQuery output: String) -> [String: String] {
        var result: [String: String] = [:]
        for line in output.split(whereSeparator: \.isNewline) {
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 3, fields[1].hasPrefix("ii") else { continue }
            let minimal = fields[0] + "-minimal"
            let names = fields[2].split(whereSeparator: { ",|".contains($0) }).compactMap {
                $0.trimmingCharacters(in: .whitespaces).split(separator: " ").first?.split(separator: ":").first.map(String.init)
            }
            if names.contains(minimal) { result[minimal] = fields[0] }
        }
        return result
    }

    /// Of `packages`, asks dpkg which are Essential (every Debian system has them, and lintian
    /// rejects an unversioned dependency on one): prints `package<TAB>yes|no` lines. Parse with
    /// ``essentialPackages(fromQuery:)``.
    public static func essentialQuery(_ packages: [String]) -> String? {
        let names = Set(packages).sorted()
        guard !names.isEmpty else { return nil }
        return "dpkg-query -W -f '${Package}\\t${Essential}\\n' -- " + names.map(LocalShell.quote).joined(separator: " ") + " 2>/dev/null || true"
    }

    /// The Essential packages in ``essentialQuery(_:)`` output.
    public static func essentialPackages(fromQuery output: String) -> Set<String> {
        Set(output.split(whereSeparator: \.isNewline).compactMap { line in
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            return fields.count == 2 && fields[1] == "yes" ? String(fields[0]) : nil
        })
    }

    /// The scripts of `links` whose interpreter no package owns (they would not run on a clean server).
    public static func scriptsWithoutPackagedInterpreter(_ links: [ExternalLink], owners: [String: [String]]) -> [String] {
        links.filter { link in link.script && link.hops.last.map { Self.owners(of: $0, in: owners).isEmpty } == true }.map(\.link)
    }

    /// The `Depends` entries for `links`: the owner of every hop (a `-minimal` owner replaced by its
    /// full package when `fullPackages` has one), in order, without duplicates, without `essential` packages.
    /// - Throws: ``FabError`` `.invalidArgument` when a virtualenv interpreter resolves to a file no
    ///   package owns (a pyenv or hand-built Python): the package could not run on a clean server.
    public static func resolve(links: [ExternalLink], owners: [String: [String]], fullPackages: [String: String],
                               essential: Set<String> = []) throws -> [String] {
        var result: [String] = []
        for link in links {
            for hop in link.hops {
                for owner in Self.owners(of: hop, in: owners) {
                    let package = fullPackages[owner] ?? owner
                    if !result.contains(package) && !essential.contains(package) { result.append(package) }
                }
            }
            if link.interpreter, let final = link.hops.last, Self.owners(of: final, in: owners).isEmpty {
                throw FabError(.invalidArgument, "the virtualenv's \(link.link) resolves to \(final), which no Debian package owns, so the package's interpreter would be missing on a clean server; set settings.python to a Debian interpreter such as /usr/bin/python3.")
            }
        }
        return result
    }
}

extension Deployment {
    /// The packages the staged tree's links and scripts need (the virtualenv's interpreter above all),
    /// found on the build host with ``TreeDependencies``; warns about scripts whose interpreter no
    /// package provides. Read-only.
    /// - Throws: ``FabError`` when the virtualenv's interpreter belongs to no package.
    /// - Parameter providedBy: paths that a package this one depends on provides (the family's
    ///   virtualenv): chains that start inside them are left out.
    func treeDepends(on build: Fab, staging: String, providedBy: [String] = []) async throws -> [String] {
        let venv = settings.layout.virtualenvPath(installRoot: installRoot)
        let inspection = try await read(build, TreeDependencies.inspectCommand(staging: staging, python: settings.python, virtualenv: venv), planned: "")
        var links: [TreeDependencies.ExternalLink]
        do {
            links = try TreeDependencies.externalLinks(fromInspection: inspection)
            links.removeAll { link in
                link.hops.first.map { hop in providedBy.contains { hop == $0 || hop.hasPrefix($0 + "/") } } ?? false
            }
        } catch {
            throw FabError(.aborted, "[\(settings.buildHost)] the symlink inspection printed something that is not its JSON lines (\(error)); run the build again with keepBuildDirectory to look at the tree.")
        }
        guard let search = TreeDependencies.ownerSearch(links.flatMap(\.hops)) else { return [] }
        let owners = TreeDependencies.owners(fromSearch: try await read(build, search, planned: ""))
        var full: [String: String] = [:]
        if let query = TreeDependencies.fullPackageQuery(owners.values.flatMap { $0 }) {
            full = TreeDependencies.fullPackages(fromQuery: try await read(build, query, planned: ""))
        }
        var essential: Set<String> = []
        if let query = TreeDependencies.essentialQuery(owners.values.flatMap { $0 }.map { full[$0] ?? $0 }) {
            essential = TreeDependencies.essentialPackages(fromQuery: try await read(build, query, planned: ""))
        }
        let orphans = TreeDependencies.scriptsWithoutPackagedInterpreter(links, owners: owners)
        if !orphans.isEmpty {
            warn(settings.buildHost, "no Debian package provides the #! interpreter of \(orphans.prefix(5).joined(separator: ", "))\(orphans.count > 5 ? " and \(orphans.count - 5) more" : ""); add what provides it to runDeps, or these scripts will not run on a clean server.")
        }
        return try TreeDependencies.resolve(links: links, owners: owners, fullPackages: full, essential: essential)
    }
}
