import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Builds the `DEBIAN/control` file of a binary package that fab makes from a virtualenv.
///
/// Set the fields, then call ``build()``: it validates every field and renders them in the order
/// dpkg-gencontrol uses. `Section` and `Priority` are always written, because reprepro skips a .deb
/// without them. The description is a synopsis line followed by an extended description that records
/// the build (`Automated build. Branch: main Commit: 1a2b3c4`, branch and commit when known), in Deb822
/// continuation format.
///
/// ```swift
/// var control = ControlFileBuilder(package: "vrmd-whois", version: "42", architecture: "amd64",
///                                  maintainer: "Ops <ops@example.com>", synopsis: "whois server")
/// control.runDepends = ["libpq5"]
/// control.shlibsDepends = ["libc6 (>= 2.34), libpq5 (>= 12~)"]
/// control.pythonVersion = "3.11"
/// control.installedSize = try ControlFileBuilder.installedSize(ofDirectory: stagingURL)
/// control.branch = "main"; control.commit = "1a2b3c4"
/// let text = try control.build()
/// ```
public struct ControlFileBuilder: Sendable {
    /// Package name: lowercase letters, digits, `+`, `-`, `.`; at least two characters; starts with a
    /// letter or digit (Debian Policy 5.6.1).
    public var package: String
    /// The package version, checked with ``DebianVersion``.
    public var version: String
    /// `all`, or the build machine's dpkg architecture (`dpkg --print-architecture`, e.g. `amd64`).
    public var architecture: String
    /// `Name <address>`.
    public var maintainer: String
    /// The `Installed-Size` in KiB, as ``installedSize(ofDirectory:)`` computes it; omitted when nil.
    public var installedSize: Int?
    /// Run-time dependencies the project declares: relations such as `libpq5` or
    /// `postgresql-client (>= 15) | postgresql-client-16`; an entry may hold several, comma-separated.
    public var runDepends: [String] = []
    /// What dpkg-shlibdeps found for the package's ELF files: its `shlibs:Depends=` value (the prefix is
    /// accepted and dropped), or relations as in ``runDepends``.
    public var shlibsDepends: [String] = []
    /// The `major.minor` of the Python the virtualenv runs on (`3.11`); adds a dependency on the
    /// `python3.11` package, which provides `/usr/bin/python3.11`. Nil adds none.
    public var pythonVersion: String?
    /// The archive section, `misc` unless set (`python`, `net`, `web`, ...).
    public var section: String = "misc"
    /// The priority, `optional` unless set.
    public var priority: String = "optional"
    /// An `http://` or `https://` URL, or nil.
    public var homepage: String?
    /// The one-line synopsis: at most 80 characters.
    public var synopsis: String
    /// The branch the package was built from, or nil.
    public var branch: String?
    /// The commit the package was built from (an abbreviated or full hash), or nil.
    public var commit: String?
    /// `Provides` relations, such as the virtual `whois-config` a config package offers.
    public var provides: [String] = []
    /// `Conflicts` relations, such as the virtual package every config package of an app provides, so
    /// installing one environment's removes another's.
    public var conflicts: [String] = []
    /// `Replaces` relations (with ``conflicts``, lets one package take over another's files).
    public var replaces: [String] = []
    /// More fields, by name (`Fab-Venv-Key`), rendered in name order before `Description`; a name is
    /// letters, digits and `-`, starting with a letter, and not one of the fields above.
    public var extraFields: [String: String] = [:]

    /// A builder with the required fields; set the others as properties.
    public init(package: String, version: String, architecture: String, maintainer: String, synopsis: String) {
        self.package = package
        self.version = version
        self.architecture = architecture
        self.maintainer = maintainer
        self.synopsis = synopsis
    }

    /// Validates the fields and renders the control file, ending with a newline.
    /// - Throws: ``ControlFileError`` naming the first field that is not valid and why.
    public func build() throws(ControlFileError) -> String {
        try Self.validatePackageName(package)
        do {
            _ = try DebianVersion(version)
        } catch {
            throw ControlFileError(code: .invalidVersion, field: "Version", message: error.description)
        }
        for (field, value) in [("Package", package), ("Version", version), ("Architecture", architecture),
                               ("Maintainer", maintainer), ("Section", section), ("Priority", priority),
                               ("Homepage", homepage ?? ""), ("Description", synopsis),
                               ("Branch", branch ?? ""), ("Commit", commit ?? "")]
        where value.contains(where: \.isNewline) {
            throw ControlFileError(code: .newlineInField, field: field,
                                   message: "The \(field) field cannot contain a line break: '\(value.debugDescriptionWithoutQuotes)'.")
        }
        guard architecture == "all" || Self.matches(architecture, first: Self.lowerAlnum, rest: Self.lowerAlnum + "-"),
              architecture != "any" else {
            throw ControlFileError(code: .invalidArchitecture, field: "Architecture",
                                   message: "The architecture '\(architecture)' is not valid: use 'all' or the build machine's `dpkg --print-architecture` (such as amd64).")
        }
        guard Self.isMaintainer(maintainer) else {
            throw ControlFileError(code: .invalidMaintainer, field: "Maintainer",
                                   message: "The maintainer '\(maintainer)' is not of the form 'Full Name <address@example.com>'.")
        }
        if let installedSize, installedSize < 0 {
            throw ControlFileError(code: .invalidField, field: "Installed-Size",
                                   message: "The installed size cannot be negative (\(installedSize) KiB).")
        }
        guard Self.matches(section, first: Self.lowerAlnum, rest: Self.lowerAlnum + "+-./") else {
            throw ControlFileError(code: .invalidField, field: "Section",
                                   message: "The section '\(section)' is not valid: use a Debian section name such as misc, net, python or web.")
        }
        guard Self.priorities.contains(priority) else {
            throw ControlFileError(code: .invalidField, field: "Priority",
                                   message: "The priority '\(priority)' is not one of \(Self.priorities.joined(separator: ", ")).")
        }
        if let homepage, !(homepage.hasPrefix("https://") || homepage.hasPrefix("http://"))
            || homepage.contains(where: \.isWhitespace) {
            throw ControlFileError(code: .invalidField, field: "Homepage",
                                   message: "The homepage '\(homepage)' is not an http:// or https:// URL without spaces.")
        }
        let synopsis = synopsis.trimmingCharacters(in: .whitespaces)
        guard !synopsis.isEmpty, synopsis.count <= 80 else {
            throw ControlFileError(code: .invalidDescription, field: "Description",
                                   message: synopsis.isEmpty ? "The synopsis (first line of the description) is empty."
                                       : "The synopsis is \(synopsis.count) characters long; Debian allows at most 80.")
        }
        for (field, value) in [("Branch", branch), ("Commit", commit)] {
            if let value, value.isEmpty || value.contains(where: \.isWhitespace) || value.count > 72 {
                throw ControlFileError(code: .invalidDescription, field: field,
                                       message: "The \(field.lowercased()) '\(value)' must be one word of at most 72 characters.")
            }
        }

        var lines: [String] = []
        lines.append("Package: \(package)")
        lines.append("Version: \(version.trimmingCharacters(in: .whitespaces))")
        lines.append("Architecture: \(architecture)")
        lines.append("Maintainer: \(maintainer.trimmingCharacters(in: .whitespaces))")
        if let installedSize { lines.append("Installed-Size: \(installedSize)") }
        let depends = try mergedDepends()
        if !depends.isEmpty { lines.append("Depends: \(depends.joined(separator: ", "))") }
        for (field, relations) in [("Conflicts", conflicts), ("Replaces", replaces), ("Provides", provides)] {
            let parsed = try Self.relations(relations, field: field)
            if !parsed.isEmpty { lines.append("\(field): \(parsed.joined(separator: ", "))") }
        }
        lines.append("Section: \(section)")
        lines.append("Priority: \(priority)")
        if let homepage { lines.append("Homepage: \(homepage)") }
        for (name, value) in extraFields.sorted(by: { $0.key < $1.key }) {
            try Self.validateExtraField(name: name, value: value)
            lines.append("\(name): \(value.trimmingCharacters(in: .whitespaces))")
        }
        lines.append("Description: \(synopsis)")
        // One line, as the seed pipeline wrote it: "Automated build. Branch: main Commit: 1a2b3c4".
        var provenance = "Automated build."
        if let branch { provenance += " Branch: \(branch)" }
        if let commit { provenance += " Commit: \(commit)" }
        lines.append(" " + provenance)
        return lines.joined(separator: "\n") + "\n"
    }

    /// The `Depends` relations: ``runDepends``, ``shlibsDepends`` and the Python dependency, in that order,
    /// normalised (`name (op version)`) and without redundancy: an exact duplicate is dropped; an
    /// unversioned relation is dropped when the same package has a versioned one; of several `>=`
    /// relations on one package only the highest stays; an alternative group (`a | b`) is dropped when a
    /// plain relation on one of its members already holds.
    /// - Throws: ``ControlFileError`` with code `invalidRelation` for a relation that does not parse.
    public func mergedDepends() throws(ControlFileError) -> [String] {
        var groups: [[Relation]] = []
        var inputs = runDepends
        inputs += shlibsDepends.map { entry in
            let trimmed = entry.trimmingCharacters(in: .whitespaces)
            return trimmed.hasPrefix("shlibs:Depends=") ? String(trimmed.dropFirst("shlibs:Depends=".count)) : trimmed
        }
        if let pythonVersion {
            guard Self.matches(pythonVersion, first: "3", rest: "0123456789."),
                  pythonVersion.split(separator: ".", omittingEmptySubsequences: false).count == 2 else {
                throw ControlFileError(code: .invalidRelation, field: "Depends",
                                       message: "The Python version '\(pythonVersion)' is not of the form 3.N (such as 3.11).")
            }
            inputs.append("python\(pythonVersion)")
        }
        for input in inputs {
            if input.contains(where: \.isNewline) {
                throw ControlFileError(code: .newlineInField, field: "Depends",
                                       message: "The dependency '\(input.debugDescriptionWithoutQuotes)' contains a line break.")
            }
            for item in input.split(separator: ",") {
                let text = item.trimmingCharacters(in: .whitespaces)
                if text.isEmpty { continue }
                groups.append(try text.split(separator: "|", omittingEmptySubsequences: false).map { alternative throws(ControlFileError) in
                    try Relation(parsing: alternative.trimmingCharacters(in: .whitespaces), in: text)
                })
            }
        }

        // Which groups stay: not an exact repeat, not implied by another plain relation.
        var keep = Array(repeating: true, count: groups.count)
        var seen: Set<String> = []
        for (index, group) in groups.enumerated() where !seen.insert(group.map(\.description).joined(separator: " | ")).inserted {
            keep[index] = false
        }
        for (index, group) in groups.enumerated() where keep[index] && group.count == 1 {
            let relation = group[0]
            for (other, otherGroup) in groups.enumerated() where other != index && keep[other] && otherGroup.count == 1 {
                let candidate = otherGroup[0]
                guard candidate.key == relation.key else { continue }
                if relation.constraint == nil, candidate.constraint != nil {
                    keep[index] = false  // implied by the versioned relation
                    break
                }
                if let mine = relation.constraint, let theirs = candidate.constraint, mine.op == ">=", theirs.op == ">=",
                   mine.version < theirs.version || (mine.version == theirs.version && other < index) {
                    keep[index] = false  // a higher minimum (or the same one, earlier) stays
                    break
                }
            }
        }
        let plain = groups.indices.filter { keep[$0] && groups[$0].count == 1 }.map { groups[$0][0] }
        for (index, group) in groups.enumerated() where keep[index] && group.count > 1 {
            if group.contains(where: { alternative in
                plain.contains { $0 == alternative || ($0.key == alternative.key && alternative.constraint == nil) }
            }) {
                keep[index] = false
            }
        }
        return groups.indices.filter { keep[$0] }.map { groups[$0].map(\.description).joined(separator: " | ") }
    }

    /// The fields ``build()`` writes itself, which ``extraFields`` cannot name.
    static let standardFields: Set<String> = ["package", "version", "architecture", "maintainer", "installed-size", "depends",
                                              "conflicts", "replaces", "provides", "section", "priority", "homepage", "description",
                                              "pre-depends", "recommends", "suggests", "breaks", "enhances", "essential", "source"]

    /// Checks one of ``extraFields``.
    static func validateExtraField(name: String, value: String) throws(ControlFileError) {
        guard let first = name.first, first.isASCII, first.isLetter,
              name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-") }),
              !standardFields.contains(name.lowercased()) else {
            throw ControlFileError(code: .invalidField, field: name,
                                   message: "The extra control field name '\(name.debugDescriptionWithoutQuotes)' must be letters, digits and '-', start with a letter, and not be a field fab writes itself (such as Depends).")
        }
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty, !value.contains(where: \.isNewline) else {
            throw ControlFileError(code: value.contains(where: \.isNewline) ? .newlineInField : .invalidField, field: name,
                                   message: "The \(name) field must be one non-empty line: '\(value.debugDescriptionWithoutQuotes)'.")
        }
    }

    /// Parses and normalises a relation field (`Provides`, `Conflicts`, `Replaces`), keeping the order
    /// and dropping exact repeats.
    static func relations(_ entries: [String], field: String) throws(ControlFileError) -> [String] {
        var result: [String] = []
        for entry in entries {
            if entry.contains(where: \.isNewline) {
                throw ControlFileError(code: .newlineInField, field: field,
                                       message: "The \(field) relation '\(entry.debugDescriptionWithoutQuotes)' contains a line break.")
            }
            for item in entry.split(separator: ",") {
                let text = item.trimmingCharacters(in: .whitespaces)
                if text.isEmpty { continue }
                if text.contains("|") {
                    throw ControlFileError(code: .invalidRelation, field: field,
                                           message: "The \(field) relation '\(text)' cannot have alternatives (|).")
                }
                let rendered = try Relation(parsing: text, in: text, field: field).description
                if !result.contains(rendered) { result.append(rendered) }
            }
        }
        return result
    }

    /// Checks a package name against Debian Policy 5.6.1.
    /// - Throws: ``ControlFileError`` with code `invalidPackageName`, saying which rule the name breaks.
    public static func validatePackageName(_ name: String) throws(ControlFileError) {
        func fail(_ why: String) -> ControlFileError {
            ControlFileError(code: .invalidPackageName, field: "Package", message: "The package name '\(name)' is not valid: \(why).")
        }
        guard name.count >= 2 else { throw fail("it must be at least two characters long") }
        if let bad = name.first(where: { !(lowerAlnum + "+-.").contains($0) }) {
            throw fail(bad.isUppercase ? "it must be lowercase" : "it cannot contain '\(bad)' (allowed: a-z, 0-9, +, -, .)")
        }
        guard let first = name.first, lowerAlnum.contains(first) else {
            throw fail("it must start with a letter or a digit")
        }
    }

    /// Renders `DEBIAN/conffiles`: one absolute path a line.
    /// - Parameter paths: The installed paths of the package's configuration files, such as
    ///   `/etc/vrmd-whois/whoisd.conf`; dpkg keeps an administrator's changes to them on upgrade.
    /// - Throws: ``ControlFileError`` with code `invalidField` for a path that is not absolute or
    ///   contains white space.
    public static func conffiles(_ paths: [String]) throws(ControlFileError) -> String {
        for path in paths where !path.hasPrefix("/") || path.contains(where: \.isWhitespace) || path.hasSuffix("/") {
            throw ControlFileError(code: .invalidField, field: "conffiles",
                                   message: "The conffile path '\(path.debugDescriptionWithoutQuotes)' must be an absolute file path without white space.")
        }
        return paths.isEmpty ? "" : paths.joined(separator: "\n") + "\n"
    }

    // MARK: Installed-Size

    /// The shell command that lists what ``installedSize(parsingFindOutput:)`` needs about a directory
    /// tree on a remote machine (GNU find: one line per entry with its type, device:inode, link count and
    /// size; no file names, so any name is safe).
    /// - Parameter directory: The package's staging directory (what `dpkg-deb --build` will pack).
    public static func installedSizeCommand(directory: String) -> String {
        "find \(LocalShell.quote(directory)) -printf '%y %D:%i %n %s\\n'"
    }

    /// The `Installed-Size` in KiB from the output of ``installedSizeCommand(directory:)``, with
    /// dpkg-gencontrol's algorithm: each regular file or symbolic link counts its size rounded up to
    /// whole KiB (a hard-linked file once), every other entry (directories, the top one included)
    /// counts 1 KiB.
    /// - Throws: ``ControlFileError`` with code `invalidField` for a line that is not `type dev:ino links size`.
    public static func installedSize(parsingFindOutput output: String) throws(ControlFileError) -> Int {
        var entries: [InstalledSizeEntry] = []
        for line in output.split(whereSeparator: \.isNewline) {
            let parts = line.split(separator: " ")
            guard parts.count == 4, let links = Int(parts[2]), let size = Int(parts[3]), parts[0].count == 1 else {
                throw ControlFileError(code: .invalidField, field: "Installed-Size",
                                       message: "A line of find's output is not 'type device:inode links size': '\(line)'.")
            }
            let kind: InstalledSizeEntry.Kind = parts[0] == "f" ? .file : parts[0] == "l" ? .symlink : .other
            entries.append(InstalledSizeEntry(kind: kind, identity: String(parts[1]), linkCount: links, size: size))
        }
        return installedSize(entries)
    }

    /// The `Installed-Size` in KiB of a local directory tree, as dpkg-gencontrol computes it (see
    /// ``installedSize(parsingFindOutput:)``).
    /// - Throws: ``ControlFileError`` with code `invalidField` when an entry cannot be examined.
    public static func installedSize(ofDirectory directory: URL) throws(ControlFileError) -> Int {
        var entries: [InstalledSizeEntry] = []
        func visit(_ path: String) throws(ControlFileError) {
            var info = stat()
            guard lstat(path, &info) == 0 else {
                throw ControlFileError(code: .invalidField, field: "Installed-Size",
                                       message: "Cannot examine \(path): \(String(cString: strerror(errno))).")
            }
            let type = info.st_mode & S_IFMT
            let kind: InstalledSizeEntry.Kind = type == S_IFREG ? .file : type == S_IFLNK ? .symlink : .other
            entries.append(InstalledSizeEntry(kind: kind, identity: "\(info.st_dev):\(info.st_ino)",
                                              linkCount: Int(info.st_nlink), size: Int(info.st_size)))
            guard type == S_IFDIR else { return }
            let names: [String]
            do {
                names = try FileManager.default.contentsOfDirectory(atPath: path)
            } catch {
                throw ControlFileError(code: .invalidField, field: "Installed-Size",
                                       message: "Cannot list \(path): \(error.localizedDescription)")
            }
            for name in names { try visit(path + "/" + name) }
        }
        try visit(directory.path)
        return installedSize(entries)
    }

    private static func installedSize(_ entries: [InstalledSizeEntry]) -> Int {
        var total = 0
        var linked: Set<String> = []
        for entry in entries {
            switch entry.kind {
            case .file, .symlink:
                if !linked.contains(entry.identity) { total += (entry.size + 1023) / 1024 }
                if entry.linkCount > 1 { linked.insert(entry.identity) }
            case .other:
                total += 1
            }
        }
        return total
    }

    // MARK: Helpers

    private static let lowerAlnum = "abcdefghijklmnopqrstuvwxyz0123456789"
    private static let priorities = ["required", "important", "standard", "optional", "extra"]

    private static func matches(_ value: String, first: String, rest: String) -> Bool {
        guard let head = value.first, first.contains(head) else { return false }
        return value.dropFirst().allSatisfy { rest.contains($0) }
    }

    private static func isMaintainer(_ value: String) -> Bool {
        let text = value.trimmingCharacters(in: .whitespaces)
        guard text.hasSuffix(">"), let open = text.lastIndex(of: "<") else { return false }
        let name = text[..<open].trimmingCharacters(in: .whitespaces)
        let address = text[text.index(after: open)..<text.index(before: text.endIndex)]
        let parts = address.split(separator: "@", omittingEmptySubsequences: false)
        return !name.isEmpty && !name.contains(where: { "<>,".contains($0) }) && parts.count == 2
            && !parts[0].isEmpty && parts[1].contains(".") && !address.contains(where: \.isWhitespace)
    }
}

/// One file-system entry, for the Installed-Size computation.
private struct InstalledSizeEntry {
    enum Kind { case file, symlink, other }
    let kind: Kind
    /// `device:inode`, to count hard-linked files once.
    let identity: String
    let linkCount: Int
    let size: Int
}

/// One alternative of a binary package relation: `name[:arch] [(op version)]`.
private struct Relation: Equatable, CustomStringConvertible {
    struct Constraint: Equatable {
        let op: String
        let version: DebianVersion
        let text: String
    }

    let name: String
    let archQualifier: String?
    let constraint: Constraint?

    var key: String { archQualifier.map { "\(name):\($0)" } ?? name }

    var description: String {
        constraint.map { "\(key) (\($0.op) \($0.text))" } ?? key
    }

    static func == (a: Relation, b: Relation) -> Bool {
        a.key == b.key && a.constraint?.op == b.constraint?.op && a.constraint?.text == b.constraint?.text
    }

    init(parsing text: String, in whole: String, field: String = "Depends") throws(ControlFileError) {
        func fail(_ why: String) -> ControlFileError {
            ControlFileError(code: .invalidRelation, field: field,
                             message: field == "Depends" ? "The dependency '\(whole)' is not valid: \(why)." : "The \(field) relation '\(whole)' is not valid: \(why).")
        }
        var rest = Substring(text)
        let nameEnd = rest.firstIndex(where: { $0 == "(" || $0.isWhitespace }) ?? rest.endIndex
        let qualified = rest[..<nameEnd]
        rest = rest[nameEnd...].drop(while: \.isWhitespace)
        let pieces = qualified.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        let name = String(pieces[0])
        guard !name.isEmpty else { throw fail("a package name is missing") }
        guard (try? ControlFileBuilder.validatePackageName(name)) != nil else {
            throw fail("'\(name)' is not a valid package name")
        }
        self.name = name
        if pieces.count == 2 {
            guard !pieces[1].isEmpty, pieces[1].allSatisfy({ $0.isLetter && $0.isLowercase || $0.isNumber || $0 == "-" }) else {
                throw fail("'\(qualified)' has an empty or invalid architecture qualifier")
            }
            archQualifier = String(pieces[1])
        } else {
            archQualifier = nil
        }
        if rest.isEmpty {
            constraint = nil
            return
        }
        guard rest.first == "(", rest.last == ")" else {
            throw fail("expected '(operator version)' after \(qualified), found '\(rest)' (architecture lists and build profiles belong in source packages only)")
        }
        let inner = rest.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
        guard let op = ["<<", "<=", ">=", ">>", "="].first(where: { inner.hasPrefix($0) }) else {
            throw fail("the operator in '\(rest)' must be one of <<, <=, =, >=, >>")
        }
        let versionText = inner.dropFirst(op.count).trimmingCharacters(in: .whitespaces)
        do {
            constraint = Constraint(op: op, version: try DebianVersion(versionText), text: versionText)
        } catch {
            throw fail(error.description.dropLast().description)
        }
    }
}

/// A DEBIAN/control (or conffiles) field that fab refuses to write, and why.
public struct ControlFileError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of problem it is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// The code's name.
        public var description: String { name }
        /// The package name breaks Debian Policy 5.6.1.
        public static let invalidPackageName = Code(name: "invalidPackageName")
        /// The version does not parse (see ``DebianVersionError``).
        public static let invalidVersion = Code(name: "invalidVersion")
        /// The architecture is not `all` or a dpkg architecture name.
        public static let invalidArchitecture = Code(name: "invalidArchitecture")
        /// The maintainer is not `Name <address>`.
        public static let invalidMaintainer = Code(name: "invalidMaintainer")
        /// A dependency relation does not parse.
        public static let invalidRelation = Code(name: "invalidRelation")
        /// The synopsis, branch or commit is unusable.
        public static let invalidDescription = Code(name: "invalidDescription")
        /// A single-line field contains a line break.
        public static let newlineInField = Code(name: "newlineInField")
        /// Another field (section, priority, homepage, installed size, conffiles) is not valid.
        public static let invalidField = Code(name: "invalidField")
    }

    /// What kind of problem it is.
    public let code: Code
    /// The control field concerned, such as `Package` or `Depends`.
    public let field: String
    /// The sentence to show the user.
    public let message: String

    /// The sentence to show the user.
    public var description: String { message }
}

private extension String {
    /// The string with line breaks and other control characters escaped, for error messages.
    var debugDescriptionWithoutQuotes: String { String(debugDescription.dropFirst().dropLast()) }
}
