import CLibArchive

/// Walks a .deb's ar members and its control and data tars once, collecting what ``DebPackage`` exposes.
struct DebLoader {
    let path: String
    let listEntries: Bool

    var fileSize: Int64 = 0
    var formatVersion = ""
    var controlMember: String?
    var dataMember: String?
    var controlText: String?
    var conffilesText: String?
    var controlFiles: [String] = []
    var fileCount = 0
    var totalDataSize: Int64 = 0
    var entries: [DebPackage.Entry] = []

    /// The largest control-tar file read into memory (`control`, `conffiles`); real ones are a few KiB.
    private static let controlFileLimit = 16 * 1024 * 1024
    private static let controlNames = ["control.tar", "control.tar.gz", "control.tar.xz", "control.tar.zst"]
    private static let dataNames = ["data.tar", "data.tar.gz", "data.tar.xz", "data.tar.zst", "data.tar.bz2", "data.tar.lzma"]

    init(path: String, listEntries: Bool) {
        self.path = path
        self.listEntries = listEntries
    }

    private func notDeb(_ reason: String) -> ArchiveError {
        ArchiveError(.notDebianPackage, path: path, description: "\(path) is not a Debian package: \(reason)")
    }

    /// Reads the whole package.
    ///
    /// - Throws: ``ArchiveError`` as documented on ``DebPackage/init(path:listEntries:)``.
    mutating func load() throws {
        let file = try LocalFile(path: path)
        fileSize = file.size
        guard fileSize > 0 else { throw notDeb("the file is empty") }
        let outer = try ArchiveReader.ar(descriptor: file.descriptor, path: path)
        var index = 0
        // Where the last member read ends (after the 8-byte "!<arch>\n" magic and each member in turn):
        // libarchive reports a cut-off member header as a clean end, so compare with the file's size.
        var expectedEnd: Int64 = 8
        while true {
            var entry: OpaquePointer?
            let status = LibArchive.api.archive_read_next_header(outer.handle, &entry)
            if status == ARCHIVE_EOF { break }
            guard status >= ARCHIVE_WARN, let entry else {
                let state = ArchiveError.libarchiveState(outer.handle)
                if index == 0 {
                    throw ArchiveError(.notDebianPackage, path: path,
                                       description: "\(path) is not a Debian package: it is not an ar archive",
                                       libraryMessage: state.message, systemErrno: state.errno)
                }
                if ArchiveError.looksTruncated(state.message) {
                    throw ArchiveError(.truncated, path: path,
                                       description: "\(path) is truncated: it ends inside the header of member \(index + 1)",
                                       libraryMessage: state.message, systemErrno: state.errno)
                }
                throw ArchiveError(.damaged, path: path,
                                   description: "\(path) is damaged: the header of member \(index + 1) cannot be read",
                                   libraryMessage: state.message, systemErrno: state.errno)
            }
            let name = LibArchive.api.archive_entry_pathname(entry).map { String(cString: $0) } ?? ""
            defer { index += 1 }
            // ar member: a 60-byte header, then the data padded to an even length.
            let memberSize = Int64(LibArchive.api.archive_entry_size(entry))
            expectedEnd += 60 + memberSize + memberSize % 2

            if index == 0 {
                guard name == "debian-binary" else {
                    throw notDeb("its first member is '\(name)', not 'debian-binary'")
                }
                let bytes = try outer.readData(limit: 64, path: path, member: name)
                let text = String(decoding: bytes, as: UTF8.self)
                formatVersion = String(text.prefix { $0 != "\n" })
                guard formatVersion.hasPrefix("2.") else {
                    throw ArchiveError(.unsupportedFormatVersion, path: path,
                                       description: "\(path) uses Debian package format '\(formatVersion)', but only 2.x is supported")
                }
                continue
            }
            if name.hasPrefix("_") {
                // Members starting with '_' are reserved for extensions; dpkg skips them too.
                try outer.skipData(path: path, member: name)
                continue
            }
            if Self.controlNames.contains(name) {
                guard controlMember == nil else { throw notDeb("it has a second control member '\(name)'") }
                guard dataMember == nil else { throw notDeb("its control member '\(name)' comes after its data member") }
                controlMember = name
                try readControl(in: outer, member: name)
                try outer.skipData(path: path, member: name)
                continue
            }
            if Self.dataNames.contains(name) {
                guard controlMember != nil else { throw notDeb("its data member '\(name)' comes before any control member") }
                guard dataMember == nil else { throw notDeb("it has a second data member '\(name)'") }
                dataMember = name
                try readData(in: outer, member: name)
                try outer.skipData(path: path, member: name)
                continue
            }
            throw notDeb("it has an unexpected member '\(name)'")
        }
        if fileSize > expectedEnd {
            throw ArchiveError(.truncated, path: path,
                               description: "\(path) is truncated: it ends inside the header of member \(index + 1)")
        }
        guard index > 0 else { throw notDeb("it is an empty ar archive") }
    }

    /// Removes a leading `./` (or `/`) from a tar path.
    private static func normalized(_ name: String) -> String {
        var result = Substring(name)
        while result.hasPrefix("./") { result = result.dropFirst(2) }
        while result.hasPrefix("/") { result = result.dropFirst() }
        return String(result)
    }

    private mutating func readControl(in outer: ArchiveReader, member: String) throws {
        let tar = try ArchiveReader.tar(inCurrentMemberOf: outer, path: path, member: member)
        while let entry = try tar.nextEntry(path: path, member: member) {
            guard UInt32(LibArchive.api.archive_entry_filetype(entry)) == EntryFileType.regular,
                  LibArchive.api.archive_entry_hardlink(entry) == nil else { continue }
            let name = Self.normalized(LibArchive.api.archive_entry_pathname(entry).map { String(cString: $0) } ?? "")
            if name.isEmpty { continue }
            controlFiles.append(name)
            switch name {
            case "control":
                let bytes = try tar.readData(limit: Self.controlFileLimit, path: path, member: "\(member) (./control)")
                controlText = String(decoding: bytes, as: UTF8.self)
            case "conffiles":
                let bytes = try tar.readData(limit: Self.controlFileLimit, path: path, member: "\(member) (./conffiles)")
                conffilesText = String(decoding: bytes, as: UTF8.self)
            default:
                try tar.skipData(path: path, member: member)
            }
        }
    }

    private mutating func readData(in outer: ArchiveReader, member: String) throws {
        let tar = try ArchiveReader.tar(inCurrentMemberOf: outer, path: path, member: member)
        while let entry = try tar.nextEntry(path: path, member: member) {
            let item = DebPackage.Entry(libarchiveEntry: entry)
            if item.kind == .regular {
                fileCount += 1
                totalDataSize += item.size
            }
            if listEntries { entries.append(item) }
            try tar.skipData(path: path, member: member)
        }
    }
}
