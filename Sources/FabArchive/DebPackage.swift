/// A Debian binary package (.deb) read from disk: its control fields, its control members and a
/// summary (optionally a full listing) of the files it installs.
///
/// A .deb is an ar archive holding `debian-binary` (the format version, `2.0`), then
/// `control.tar[.gz|.xz|.zst]`, then `data.tar[.gz|.xz|.zst|.bz2|.lzma]`. The inner tar members
/// are decompressed and read as a stream straight out of the ar archive: nothing is extracted and
/// no temporary file is written.
///
/// ```swift
/// let deb = try DebPackage(path: "build/myapp_1.2.0_amd64.deb")
/// print(deb.control.package ?? "?", deb.control.version ?? "?", deb.fileCount)
/// ```
public struct DebPackage: Sendable {
    /// The maintainer scripts dpkg runs, in the order they are reported in ``maintainerScripts``.
    public static let maintainerScriptNames = ["preinst", "postinst", "prerm", "postrm"]

    /// The path the package was read from, as given.
    public let path: String
    /// The size of the .deb file in bytes.
    public let fileSize: Int64
    /// The format version from `debian-binary` (`"2.0"`), without the trailing newline.
    public let formatVersion: String
    /// The ar member holding the control tar (`control.tar.xz`).
    public let controlMemberName: String
    /// The ar member holding the data tar (`data.tar.xz`).
    public let dataMemberName: String
    /// The fields of `./control`.
    public let control: ControlParagraph
    /// The names of the regular files in the control tar, without `./` (`control`, `md5sums`, `postinst`), in archive order.
    public let controlFiles: [String]
    /// The maintainer scripts present, from `preinst`, `postinst`, `prerm`, `postrm`, in that order.
    public let maintainerScripts: [String]
    /// The lines of `./conffiles` (normally absolute paths), in order; empty when the package has none.
    public let conffiles: [String]
    /// Whether the control tar has an `md5sums` file.
    public let hasMD5Sums: Bool
    /// The number of regular files in the data tar (hard links, directories and symlinks not counted).
    public let fileCount: Int
    /// The sum of the sizes of the regular files in the data tar, in bytes.
    public let totalDataSize: Int64
    /// Every entry of the data tar in archive order, when the package was read with `listEntries: true`; otherwise nil.
    public let entries: [Entry]?

    /// Reads a .deb file.
    ///
    /// - Parameters:
    ///   - path: The .deb to read.
    ///   - listEntries: Whether to keep a listing of every data entry in ``entries``.
    /// - Throws: ``ArchiveError`` with code
    ///   `.cannotOpen` when the file cannot be opened or is not a regular file;
    ///   `.notDebianPackage` when it is empty, not an ar archive, or its members are not those of a .deb
    ///   (the first member is not `debian-binary`, an unknown member, control after data);
    ///   `.unsupportedFormatVersion` when `debian-binary` is not a 2.x version;
    ///   `.truncated` when the file ends early; `.damaged` when an archive or its compression is corrupt;
    ///   `.missingMember` when `control.tar.*`, `data.tar.*` or `./control` is absent;
    ///   `.invalidControl` when `./control` is not valid control data.
    public init(path: String, listEntries: Bool = false) throws {
        var loader = DebLoader(path: path, listEntries: listEntries)
        // Entry paths are converted with the thread's locale: use UTF-8 so non-ASCII paths survive.
        try withUTF8CharacterType { try loader.load() }
        guard let controlMember = loader.controlMember else {
            throw ArchiveError(.missingMember, path: path,
                               description: "\(path) is incomplete: it has no control.tar member (the file may be truncated)")
        }
        guard let dataMember = loader.dataMember else {
            throw ArchiveError(.missingMember, path: path,
                               description: "\(path) is incomplete: it has no data.tar member (the file may be truncated)")
        }
        guard let controlText = loader.controlText else {
            throw ArchiveError(.missingMember, path: path,
                               description: "\(path) has no ./control file in \(controlMember)")
        }
        self.path = path
        self.fileSize = loader.fileSize
        self.formatVersion = loader.formatVersion
        self.controlMemberName = controlMember
        self.dataMemberName = dataMember
        self.control = try ControlParagraph.parse(controlText, source: "\(path) (\(controlMember): ./control)")
        self.controlFiles = loader.controlFiles
        self.maintainerScripts = Self.maintainerScriptNames.filter { loader.controlFiles.contains($0) }
        self.conffiles = (loader.conffilesText ?? "")
            .split(whereSeparator: \.isNewline)
            .map { line in
                let start = line.firstIndex { !$0.isWhitespace } ?? line.endIndex
                let end = line.lastIndex { !$0.isWhitespace }.map(line.index(after:)) ?? start
                return String(line[start..<max(start, end)])
            }
            .filter { !$0.isEmpty }
        self.hasMD5Sums = loader.controlFiles.contains("md5sums")
        self.fileCount = loader.fileCount
        self.totalDataSize = loader.totalDataSize
        self.entries = listEntries ? loader.entries : nil
    }
}
