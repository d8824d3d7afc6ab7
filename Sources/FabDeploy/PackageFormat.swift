import FabArchive
import FabCore
import Foundation

/// A package format: how a ``PackageSpec`` and its staged tree become one file on the build host, and
/// how a fetched file is read back. ``DebFormat`` is the one fab has (RPM would be the next).
public protocol PackageFormat: Sendable {
    /// The file name the format gives a package (`NAME_VERSION_ARCH.deb`).
    func fileName(for package: PackageSpec) -> String
    /// Writes the format's metadata (control data, maintainer scripts, checksums) into the staged tree
    /// on the build host.
    /// - Throws: ``FabError`` for metadata that cannot be written; ``CommandFailure`` when a command fails.
    func writeMetadata(_ package: PackageSpec, on build: Fab) async throws
    /// Packs the staged tree into `directory` on the build host.
    /// - Returns: the path of the package file there.
    /// - Throws: ``CommandFailure`` when the packer fails.
    func pack(_ package: PackageSpec, into directory: String, on build: Fab) async throws -> String
    /// Reads a fetched package file back: its name, version and architecture as the file says.
    /// - Throws: an error of the archive reader when the file is not a package of this format.
    func readBack(_ path: String) throws -> PackageReadBack
}

/// What a package file says about itself, read back after it was fetched.
public struct PackageReadBack: Sendable, Equatable {
    /// The package name, or nil when the file has none.
    public var name: String?
    /// The version, or nil.
    public var version: String?
    /// The architecture, or nil.
    public var architecture: String?
    /// How many files it installs.
    public var fileCount: Int
    /// Their size in bytes, unpacked.
    public var unpackedSize: Int
    /// The package file's size in bytes.
    public var fileSize: Int
}

/// Debian's binary package: `DEBIAN/control`, `conffiles`, maintainer scripts and `md5sums` in the
/// staged tree, packed by `dpkg-deb --root-owner-group` (every file owned by root, no fakeroot).
public struct DebFormat: PackageFormat {
    /// gzip's level for dpkg-deb (1 to 9).
    public var compressionLevel: Int

    /// A format packing with gzip at `compressionLevel`.
    public init(compressionLevel: Int = 1) {
        self.compressionLevel = compressionLevel
    }

    /// `NAME_VERSION_ARCH.deb`, the epoch left out, as dpkg-name does.
    public func fileName(for package: PackageSpec) -> String {
        DeploymentCommands.debFileName(package: package.name, version: package.version, architecture: package.architecture)
    }

    /// Writes `DEBIAN/`: the maintainer scripts (from the spec's directory, then its texts), `control`,
    /// `conffiles` when there are any, and `md5sums`.
    /// - Throws: ``FabError`` `.invalidArgument` for control data that is not valid (before anything is written).
    public func writeMetadata(_ package: PackageSpec, on build: Fab) async throws {
        let q = build.quote
        let staging = package.stagingDirectory
        let debian = staging + "/DEBIAN"
        let control: String, conffiles: String
        do {
            try package.validateScripts()
            control = try package.controlFile()
            conffiles = try ControlFileBuilder.conffiles(package.conffiles)
        } catch let error as ControlFileError {
            throw FabError(.invalidArgument, "\(package.name): \(error.description)")
        }
        try await build.run("mkdir -p \(q(debian))")
        if let scripts = package.maintainerScriptsDirectory {
            try await build.run("for s in preinst postinst prerm postrm; do if [ -f \(q(scripts))/$s ]; then install -m 0755 \(q(scripts))/$s \(q(debian))/$s; fi; done")
        }
        try await build.hide(.running) {
            for (name, text) in package.maintainerScripts.sorted(by: { $0.key < $1.key }) {
                try await build.run("cat > \(q(debian + "/" + name)) && chmod 0755 \(q(debian + "/" + name))", stdin: text)
            }
        }
        try await build.run(DeploymentCommands.md5sums(stagingDirectory: staging))
        // Modes set, not left to the build user's umask (077 would give 0600): the same bytes from any host.
        try await build.hide(.running) {
            try await build.run("cat > \(q(debian + "/control"))", stdin: control)
            if !conffiles.isEmpty {
                try await build.run("cat > \(q(debian + "/conffiles"))", stdin: conffiles)
            }
            try await build.run("cd \(q(debian)) && chmod 0644 control md5sums && if [ -f conffiles ]; then chmod 0644 conffiles; fi")
        }
    }

    /// `dpkg-deb --build` into `directory`; with the spec's ``PackageSpec/sourceDateEpoch``, every
    /// staged file and the archive's members get that time (``DeploymentCommands/buildDeb(stagingDirectory:output:compression:level:sourceDateEpoch:)``).
    public func pack(_ package: PackageSpec, into directory: String, on build: Fab) async throws -> String {
        let output = directory + "/" + fileName(for: package)
        try await build.run(DeploymentCommands.buildDeb(stagingDirectory: package.stagingDirectory, output: output, level: compressionLevel,
                                                        sourceDateEpoch: package.sourceDateEpoch))
        return output
    }

    /// Reads the .deb's control data and data member with libarchive.
    public func readBack(_ path: String) throws -> PackageReadBack {
        let deb = try DebPackage(path: path)
        return PackageReadBack(name: deb.control.package, version: deb.control.version, architecture: deb.control.architecture,
                               fileCount: deb.fileCount, unpackedSize: Int(deb.totalDataSize), fileSize: Int(deb.fileSize))
    }
}
