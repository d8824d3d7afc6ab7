import FabCore
import Foundation

/// One binary package as a value: what it is called, what it needs and offers, and where its staged
/// contents are on the build host. The build's steps fill it in (dh_gencontrol's substitution
/// variables, as values), and a ``PackageFormat`` writes it last.
///
/// ```swift
/// var spec = PackageSpec(name: "vrmd-whois-venv", version: "7", maintainer: "Ops <ops@example.com>",
///                        synopsis: "Python environment of whois built by fab", stagingDirectory: "/home/b/fab-builds/x/pkg")
/// spec.depends = ["python3.11"]
/// spec.extraFields["Fab-Venv-Key"] = key
/// ```
public struct PackageSpec: Sendable, Equatable {
    /// The package name (Debian Policy 5.6.1).
    public var name: String
    /// The version (checked as a ``DebianVersion`` when rendered).
    public var version: String
    /// `all`, or the build host's dpkg architecture when the package holds native code.
    public var architecture = "all"
    /// `Name <address>`.
    public var maintainer: String
    /// The description's first line.
    public var synopsis: String
    /// The archive section.
    public var section = "misc"
    /// The priority.
    public var priority = "optional"
    /// `Depends` relations the project or the family declares (`libpq5`, `vrmd-whois-venv (= 7)`).
    public var depends: [String] = []
    /// `Depends` relations found from the staged tree: dpkg-shlibdeps, interpreters that symlinks and
    /// `#!` lines lead to.
    public var treeDepends: [String] = []
    /// The Python `major.minor` the package's virtualenv runs on; adds `pythonX.Y` to `Depends`.
    public var pythonVersion: String?
    /// `Provides` relations (a virtual package such as `whois-config`).
    public var provides: [String] = []
    /// `Conflicts` relations.
    public var conflicts: [String] = []
    /// `Replaces` relations.
    public var replaces: [String] = []
    /// More control fields by name, such as the virtualenv package's input key.
    public var extraFields: [String: String] = [:]
    /// The branch the package was built from, recorded in the description.
    public var branch: String?
    /// The commit the package was built from, recorded in the description.
    public var commit: String?
    /// `Installed-Size` in KiB, computed from the staged tree by the `control` step.
    public var installedSize: Int?
    /// The staged tree on the build host: the package's files as installed, under this directory.
    public var stagingDirectory: String
    /// A directory on the build host whose `preinst`, `postinst`, `prerm` and `postrm` (those that
    /// exist) become the maintainer scripts; nil for none.
    public var maintainerScriptsDirectory: String?
    /// Maintainer scripts given as text, by name (`postinst`); they take the place of a file of the
    /// same name in ``maintainerScriptsDirectory``.
    public var maintainerScripts: [String: String] = [:]
    /// Installed paths of configuration files (every file under /etc, by default).
    public var conffiles: [String] = []
    /// The time, in seconds since the epoch, that every staged file and the package archive get, for
    /// byte-identical rebuilds: the commit's time (`SOURCE_DATE_EPOCH`); nil packs the files with
    /// their own times and the archive with the time of packing.
    public var sourceDateEpoch: Int?

    /// The maintainer scripts a package may have.
    public static let scriptNames = ["preinst", "postinst", "prerm", "postrm"]

    /// A package with the required parts; set the others as properties.
    public init(name: String, version: String, architecture: String = "all", maintainer: String, synopsis: String,
                stagingDirectory: String) {
        self.name = name
        self.version = version
        self.architecture = architecture
        self.maintainer = maintainer
        self.synopsis = synopsis
        self.stagingDirectory = stagingDirectory
    }

    /// The control data, rendered and checked by ``ControlFileBuilder``.
    /// - Throws: ``ControlFileError`` naming the first field that is not valid.
    public func controlFile() throws(ControlFileError) -> String {
        var control = ControlFileBuilder(package: name, version: version, architecture: architecture,
                                         maintainer: maintainer, synopsis: synopsis)
        control.installedSize = installedSize
        control.runDepends = depends
        control.shlibsDepends = treeDepends
        control.pythonVersion = pythonVersion
        control.section = section
        control.priority = priority
        control.branch = branch
        control.commit = commit
        control.provides = provides
        control.conflicts = conflicts
        control.replaces = replaces
        control.extraFields = extraFields
        return try control.build()
    }

    /// Checks the names of the maintainer scripts given as text.
    /// - Throws: ``FabError`` `.invalidArgument` for a name that is not a maintainer script.
    public func validateScripts() throws {
        for name in maintainerScripts.keys.sorted() where !Self.scriptNames.contains(name) {
            throw FabError(.invalidArgument, "'\(name)' is not a maintainer script of package \(self.name); use one of \(Self.scriptNames.joined(separator: ", ")).")
        }
    }
}
