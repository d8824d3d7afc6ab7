import CLibArchive
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A libarchive read handle, freed in `deinit`.
///
/// Either reads an ar container from a file descriptor, or reads a (possibly compressed) tar stream
/// whose bytes are pulled from the current member of another reader, without a temporary file.
final class ArchiveReader {
    /// The libarchive handle.
    let handle: OpaquePointer
    /// What the bytes come from, when this reader streams a member of another reader.
    private var memberSource: MemberSource?

    private init(handle: OpaquePointer) {
        self.handle = handle
    }

    deinit { LibArchive.api.archive_read_free(handle) }

    /// Makes a reader for an ar archive on an open descriptor (which must outlive the reader).
    ///
    /// - Throws: ``ArchiveError`` `.notDebianPackage` when the file is not an ar archive,
    ///   `.readFailed` when reading its start fails.
    static func ar(descriptor: Int32, path: String) throws -> ArchiveReader {
        try LibArchive.open(for: path)
        guard let handle = LibArchive.api.archive_read_new() else {
            throw ArchiveError(.cannotOpen, path: path, description: "\(path) cannot be read: libarchive could not allocate a reader")
        }
        let reader = ArchiveReader(handle: handle)
        LibArchive.api.archive_read_support_format_ar(handle)
        LibArchive.api.archive_read_support_filter_none(handle)
        guard LibArchive.api.archive_read_open_fd(handle, descriptor, 64 * 1024) == ARCHIVE_OK else {
            // Opening already reads the start of the file to recognise the format.
            let state = ArchiveError.libarchiveState(handle)
            if state.errno == nil || state.errno == EILSEQ {
                throw ArchiveError(.notDebianPackage, path: path,
                                   description: "\(path) is not a Debian package: it is not an ar archive",
                                   libraryMessage: state.message, systemErrno: state.errno)
            }
            throw ArchiveError(.readFailed, path: path, description: "\(path) cannot be read",
                               libraryMessage: state.message, systemErrno: state.errno)
        }
        return reader
    }

    /// Makes a reader for the tar stream held in the current member of `outer` (plain or compressed
    /// with any filter libarchive knows). It reads `outer`'s data as it goes; `outer` must not move
    /// to another member until this reader is done.
    ///
    /// - Throws: ``ArchiveError/Code/damaged`` when the stream's start cannot be recognised.
    static func tar(inCurrentMemberOf outer: ArchiveReader, path: String, member: String) throws -> ArchiveReader {
        guard let handle = LibArchive.api.archive_read_new() else {
            throw ArchiveError(.damaged, path: path, description: "\(path) cannot be read: libarchive could not allocate a reader")
        }
        let reader = ArchiveReader(handle: handle)
        LibArchive.api.archive_read_support_format_tar(handle)
        LibArchive.api.archive_read_support_filter_all(handle)
        let source = MemberSource(outer: outer)
        reader.memberSource = source
        // The source is kept alive by `reader.memberSource` for as long as libarchive may call back.
        let status = LibArchive.api.archive_read_open(handle, Unmanaged.passUnretained(source).toOpaque(), nil, { _, clientData, buffer in
            guard let clientData, let buffer else { return -1 }
            let source = Unmanaged<MemberSource>.fromOpaque(clientData).takeUnretainedValue()
            return source.next(buffer)
        }, nil)
        guard status == ARCHIVE_OK else {
            throw reader.failure(path: path, member: member, action: "open")
        }
        return reader
    }

    /// Moves to the next entry; nil at the end.
    ///
    /// - Throws: ``ArchiveError`` (`.truncated` or `.damaged`) when the header cannot be read.
    func nextEntry(path: String, member: String) throws -> OpaquePointer? {
        var entry: OpaquePointer?
        let status = LibArchive.api.archive_read_next_header(handle, &entry)
        if status == ARCHIVE_EOF { return nil }
        guard status >= ARCHIVE_WARN, let entry else {
            throw failure(path: path, member: member, action: "read an entry header of")
        }
        return entry
    }

    /// Reads the current entry's data whole.
    ///
    /// - Parameter limit: The most bytes to accept; a larger entry is reported as damaged.
    /// - Throws: ``ArchiveError`` (`.truncated` or `.damaged`) when the data cannot be read or exceeds `limit`.
    func readData(limit: Int, path: String, member: String) throws -> [UInt8] {
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16 * 1024)
        while true {
            let count = chunk.withUnsafeMutableBytes { LibArchive.api.archive_read_data(handle, $0.baseAddress, $0.count) }
            if count == 0 { return bytes }
            guard count > 0 else {
                throw failure(path: path, member: member, action: "read data from")
            }
            bytes.append(contentsOf: chunk[0..<count])
            guard bytes.count <= limit else {
                throw ArchiveError(.damaged, path: path,
                                   description: "\(path) is damaged: \(member) holds more than \(limit) bytes")
            }
        }
    }

    /// Reads and discards the rest of the current entry, so truncation of the underlying file shows.
    ///
    /// - Throws: ``ArchiveError`` (`.truncated` or `.damaged`) when the data cannot be read.
    func skipData(path: String, member: String) throws {
        guard LibArchive.api.archive_read_data_skip(handle) >= ARCHIVE_WARN else {
            throw failure(path: path, member: member, action: "read data from")
        }
    }

    /// An error describing libarchive's current failure on this reader (or on the member it reads from).
    func failure(path: String, member: String, action: String) -> ArchiveError {
        let own = ArchiveError.libarchiveState(handle)
        let sourceMessage = memberSource?.failureMessage
        let message = sourceMessage ?? own.message
        if ArchiveError.looksTruncated(message) || memberSource?.endedEarly == true {
            return ArchiveError(.truncated, path: path,
                                description: "\(path) is truncated: it ends inside \(member)",
                                libraryMessage: message, systemErrno: own.errno)
        }
        return ArchiveError(.damaged, path: path,
                            description: "\(path) is damaged: libarchive could not \(action) \(member)",
                            libraryMessage: message, systemErrno: own.errno)
    }
}

/// Feeds a nested reader with the data blocks of the outer reader's current member.
private final class MemberSource {
    let outer: ArchiveReader
    /// libarchive's message when the outer reader failed.
    var failureMessage: String?
    /// Whether the outer reader reported the member shorter than its header said.
    var endedEarly = false

    init(outer: ArchiveReader) { self.outer = outer }

    /// Points `buffer` at the next block of member data; returns its length, 0 at the end, -1 on error.
    func next(_ buffer: UnsafeMutablePointer<UnsafeRawPointer?>) -> la_ssize_t {
        var block: UnsafeRawPointer?
        var size = 0
        var offset: la_int64_t = 0
        let status = LibArchive.api.archive_read_data_block(outer.handle, &block, &size, &offset)
        if status == ARCHIVE_EOF {
            buffer.pointee = nil
            return 0
        }
        guard status >= ARCHIVE_WARN else {
            let message = ArchiveError.libarchiveState(outer.handle).message
            failureMessage = message
            endedEarly = ArchiveError.looksTruncated(message)
            return -1
        }
        buffer.pointee = block
        return la_ssize_t(size)
    }
}

/// The `AE_IF*` file-type bits of `archive_entry_filetype` (C macros with casts, which Swift does not import).
enum EntryFileType {
    static let mask: UInt32 = 0o170000
    static let regular: UInt32 = 0o100000
    static let symlink: UInt32 = 0o120000
    static let socket: UInt32 = 0o140000
    static let characterDevice: UInt32 = 0o020000
    static let blockDevice: UInt32 = 0o060000
    static let directory: UInt32 = 0o040000
    static let fifo: UInt32 = 0o010000
}
