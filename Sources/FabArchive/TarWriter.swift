import CLibArchive
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a tar stream (pax or ustar, optionally gzip-compressed) to a sink closure, entry by entry.
///
/// Nothing is buffered beyond libarchive's block (10 KiB) and one read chunk, so the stream can go
/// straight into an SSH channel running `tar -x` on the other side, without a temporary file:
///
/// ```swift
/// let writer = try TarWriter(compression: .gzip) { bytes in try channel.write(bytes) }
/// try writer.addDirectory(path: "app")
/// try writer.addFile(path: "app/main.py", fromLocalFile: "src/main.py")
/// try writer.addSymlink(path: "app/current", target: "releases/42")
/// try writer.finish()
/// ```
///
/// Entries are owned by root/root (uid and gid 0) unless another ``Owner`` is given: the stream
/// carries source code, and the unpacking side decides ownership.
///
/// A writer is a single-use resource confined to the task that made it, so it is a class and not
/// `Sendable`. If it is released without ``finish()``, the stream is abandoned: nothing more is
/// written to the sink (the receiver sees an incomplete archive).
public final class TarWriter {
    /// The tar dialect written.
    public struct Format: Sendable, Hashable {
        let rawValue: Int32
        let name: String

        /// POSIX pax, restricted: plain ustar headers, plus pax extended headers only for entries that
        /// need them (long or non-ASCII paths, large sizes). What GNU and BSD tar read. The default.
        public static let pax = Format(rawValue: ARCHIVE_FORMAT_TAR_PAX_RESTRICTED, name: "pax")
        /// Strict POSIX ustar: no extensions; paths over 255 bytes and files of 8 GiB or more are refused.
        public static let ustar = Format(rawValue: ARCHIVE_FORMAT_TAR_USTAR, name: "ustar")
    }

    /// Compression applied to the whole stream.
    public struct Compression: Sendable, Hashable {
        let gzipLevel: Int?

        /// No compression: a plain tar stream.
        public static let none = Compression(gzipLevel: nil)
        /// gzip at zlib's default level (6); `tar -xz` reads it.
        public static let gzip = Compression(gzipLevel: 6)
        /// gzip at a given level, 1 (fastest) to 9 (smallest); values outside are clamped.
        public static func gzip(level: Int) -> Compression {
            Compression(gzipLevel: min(max(level, 1), 9))
        }
    }

    /// The owner recorded on every entry.
    public struct Owner: Sendable, Hashable {
        /// The numeric user id.
        public var uid: Int64
        /// The numeric group id.
        public var gid: Int64
        /// The user name (tar prefers names to ids when extracting as root).
        public var user: String
        /// The group name.
        public var group: String

        /// Makes an owner.
        public init(uid: Int64, gid: Int64, user: String, group: String) {
            self.uid = uid
            self.gid = gid
            self.user = user
            self.group = group
        }

        /// root/root, uid and gid 0. The default.
        public static let root = Owner(uid: 0, gid: 0, user: "root", group: "root")
    }

    /// What the stream is called in errors (`"tar stream to web1"`).
    public let name: String
    private let handle: OpaquePointer
    private let target: SinkTarget
    private let owner: Owner
    private var state: State = .open

    private enum State { case open, finished, failed }

    /// Starts a tar stream.
    ///
    /// Nothing is written until the first entry.
    /// - Parameters:
    ///   - format: The tar dialect; `.pax` by default.
    ///   - compression: `.none` by default, or `.gzip`.
    ///   - owner: The owner recorded on every entry; root/root by default.
    ///   - name: What the stream is called in error messages.
    ///   - sink: Receives the stream's bytes in order; the buffer is valid only during the call.
    ///     If it throws, the writer stops and the same error is rethrown from the call that was writing.
    /// - Throws: ``ArchiveError`` with code `.writeFailed` when libarchive cannot set up the format or compression.
    public init(format: Format = .pax, compression: Compression = .none, owner: Owner = .root,
                name: String = "the tar stream",
                sink: @escaping (UnsafeRawBufferPointer) throws -> Void) throws {
        try LibArchive.open(for: name)
        guard let handle = LibArchive.api.archive_write_new() else {
            throw ArchiveError(.writeFailed, path: name, description: "\(name) cannot be started: libarchive could not allocate a writer")
        }
        self.handle = handle
        self.name = name
        self.owner = owner
        self.target = SinkTarget(sink: sink)

        try check(LibArchive.api.archive_write_set_format(handle, format.rawValue), "select the \(format.name) format")
        if let level = compression.gzipLevel {
            try check(LibArchive.api.archive_write_add_filter_gzip(handle), "add gzip compression")
            try check(LibArchive.api.archive_write_set_filter_option(handle, "gzip", "compression-level", String(level)),
                      "set the gzip level")
        } else {
            try check(LibArchive.api.archive_write_add_filter_none(handle), "select no compression")
        }
        // The target outlives the handle: both are released together in deinit, the handle first.
        let status = LibArchive.api.archive_write_open2(handle, Unmanaged.passUnretained(target).toOpaque(), nil,
            { _, clientData, buffer, length in
                guard let clientData else { return -1 }
                let target = Unmanaged<SinkTarget>.fromOpaque(clientData).takeUnretainedValue()
                return target.write(buffer, length)
            }, nil, nil)
        try check(status, "open the stream")
    }

    deinit {
        // Freeing an unfinished writer makes libarchive close it, which would write a trailer:
        // an abandoned stream must not look complete, so drop whatever comes now.
        target.discard = true
        LibArchive.api.archive_write_free(handle)
    }

    /// Adds a regular file with the given contents.
    ///
    /// - Parameters:
    ///   - path: The path inside the archive (`app/main.py`).
    ///   - contents: The file's bytes (`Array`, `"text".utf8`, ...).
    ///   - mode: The permission bits; `0o644` by default.
    ///   - mtime: The modification time in seconds since the epoch; now by default.
    /// - Throws: ``ArchiveError`` `.invalidArgument` for an empty path or a finished writer,
    ///   `.writeFailed` when libarchive refuses the entry; or whatever the sink throws.
    public func addFile(path: String, contents: some Collection<UInt8>, mode: UInt32 = 0o644, mtime: Int? = nil) throws {
        let entry = try makeEntry(path: path, type: EntryFileType.regular, mode: mode, mtime: mtime ?? Self.now())
        LibArchive.api.archive_entry_set_size(entry.handle, la_int64_t(contents.count))
        try writeHeader(entry, path: path)
        let written: Void? = try contents.withContiguousStorageIfAvailable { buffer in
            try writeData(UnsafeRawBufferPointer(buffer), path: path)
        }
        if written == nil {
            try Array(contents).withUnsafeBytes { try writeData($0, path: path) }
        }
        try finishEntry(path: path)
    }

    /// Adds a regular file whose contents are the UTF-8 bytes of a string.
    ///
    /// - Parameters:
    ///   - path: The path inside the archive.
    ///   - contents: The text.
    ///   - mode: The permission bits; `0o644` by default.
    ///   - mtime: The modification time in seconds since the epoch; now by default.
    /// - Throws: As the byte-collection variant: ``ArchiveError`` `.invalidArgument` for an empty path
    ///   or a finished writer, `.writeFailed` when libarchive refuses the entry; or whatever the sink throws.
    public func addFile(path: String, contents: String, mode: UInt32 = 0o644, mtime: Int? = nil) throws {
        try addFile(path: path, contents: contents.utf8, mode: mode, mtime: mtime)
    }

    /// Adds a regular file copied from a local file, streamed in chunks (never loaded whole).
    ///
    /// - Parameters:
    ///   - path: The path inside the archive.
    ///   - localPath: The file to copy; symlinks are followed.
    ///   - mode: The permission bits; the local file's own permission bits when nil.
    /// - Throws: ``ArchiveError`` `.cannotOpen` when the file cannot be opened or is not a regular file,
    ///   `.readFailed` when reading fails or the file changes size while being read,
    ///   `.invalidArgument` for an empty path or a finished writer, `.writeFailed` when libarchive
    ///   refuses the entry; or whatever the sink throws.
    public func addFile(path: String, fromLocalFile localPath: String, mode: UInt32? = nil) throws {
        let file = try LocalFile(path: localPath)
        let fileMode = mode ?? (UInt32(file.status.st_mode) & 0o7777)
        let entry = try makeEntry(path: path, type: EntryFileType.regular, mode: fileMode,
                                  mtime: Int(file.status.st_mtim.tv_sec))
        let size = file.size
        LibArchive.api.archive_entry_set_size(entry.handle, la_int64_t(size))
        try writeHeader(entry, path: path)
        var remaining = size
        try file.forEachChunk { chunk in
            guard remaining > 0 else { return }
            let usable = UnsafeRawBufferPointer(rebasing: chunk.prefix(Int(min(Int64(chunk.count), remaining))))
            try writeData(usable, path: path)
            remaining -= Int64(usable.count)
        }
        guard remaining == 0 else {
            state = .failed
            throw ArchiveError(.readFailed, path: localPath,
                               description: "\(localPath) shrank from \(size) bytes while it was being added to \(name) as \(path)")
        }
        try finishEntry(path: path)
    }

    /// Adds a directory.
    ///
    /// - Parameters:
    ///   - path: The directory's path inside the archive (a trailing `/` is optional).
    ///   - mode: The permission bits; `0o755` by default.
    ///   - mtime: The modification time in seconds since the epoch; now by default.
    /// - Throws: ``ArchiveError`` `.invalidArgument` for an empty path or a finished writer,
    ///   `.writeFailed` when libarchive refuses the entry; or whatever the sink throws.
    public func addDirectory(path: String, mode: UInt32 = 0o755, mtime: Int? = nil) throws {
        let entry = try makeEntry(path: path, type: EntryFileType.directory, mode: mode, mtime: mtime ?? Self.now())
        try writeHeader(entry, path: path)
        try finishEntry(path: path)
    }

    /// Adds a symbolic link.
    ///
    /// - Parameters:
    ///   - path: The link's path inside the archive.
    ///   - target: What the link points to, stored as given (relative or absolute).
    ///   - mtime: The modification time in seconds since the epoch; now by default.
    /// - Throws: ``ArchiveError`` `.invalidArgument` for an empty path or target or a finished writer,
    ///   `.writeFailed` when libarchive refuses the entry; or whatever the sink throws.
    public func addSymlink(path: String, target linkTarget: String, mtime: Int? = nil) throws {
        guard !linkTarget.isEmpty else {
            throw ArchiveError(.invalidArgument, path: name,
                               description: "The symlink \(path) cannot be added to \(name): its target is empty")
        }
        let entry = try makeEntry(path: path, type: EntryFileType.symlink, mode: 0o777, mtime: mtime ?? Self.now())
        LibArchive.api.archive_entry_set_symlink_utf8(entry.handle, linkTarget)
        try writeHeader(entry, path: path)
        try finishEntry(path: path)
    }

    /// Writes the end-of-archive marker, flushes compression and hands the last bytes to the sink.
    ///
    /// Calling it again does nothing.
    /// - Throws: ``ArchiveError`` `.writeFailed` when libarchive fails to close the stream
    ///   (or the writer failed earlier); or whatever the sink throws.
    public func finish() throws {
        switch state {
        case .finished: return
        case .failed:
            throw ArchiveError(.writeFailed, path: name, description: "\(name) cannot be finished: an earlier write failed")
        case .open: break
        }
        let status = LibArchive.api.archive_write_close(handle)
        if status < ARCHIVE_WARN {
            state = .failed
            throw failure("finish")
        }
        state = .finished
    }

    // MARK: - Internals

    private func check(_ status: Int32, _ action: String) throws {
        if status < ARCHIVE_WARN { throw failure(action) }
    }

    private func makeEntry(path: String, type: UInt32, mode: UInt32, mtime: Int) throws -> EntryHandle {
        guard state == .open else {
            throw ArchiveError(.invalidArgument, path: name,
                               description: "\(path) cannot be added to \(name): the writer is \(state == .finished ? "already finished" : "stopped after an earlier failure")")
        }
        guard !path.isEmpty else {
            throw ArchiveError(.invalidArgument, path: name, description: "An entry with an empty path cannot be added to \(name)")
        }
        guard let entry = EntryHandle() else {
            throw ArchiveError(.writeFailed, path: name, description: "\(path) cannot be added to \(name): libarchive could not allocate an entry")
        }
        let raw = entry.handle
        LibArchive.api.archive_entry_set_pathname_utf8(raw, path)
        LibArchive.api.archive_entry_set_filetype(raw, type)
        LibArchive.api.archive_entry_set_perm(raw, mode_t(mode & 0o7777))
        LibArchive.api.archive_entry_set_uid(raw, la_int64_t(owner.uid))
        LibArchive.api.archive_entry_set_gid(raw, la_int64_t(owner.gid))
        LibArchive.api.archive_entry_set_uname_utf8(raw, owner.user)
        LibArchive.api.archive_entry_set_gname_utf8(raw, owner.group)
        LibArchive.api.archive_entry_set_mtime(raw, time_t(mtime), 0)
        return entry
    }

    private func writeHeader(_ entry: EntryHandle, path: String) throws {
        // Paths are stored as UTF-8 and converted while the header is written (see withUTF8CharacterType).
        let status = withUTF8CharacterType { LibArchive.api.archive_write_header(handle, entry.handle) }
        if status < ARCHIVE_WARN {
            throw failure("write the header of \(path)")
        }
    }

    private func writeData(_ bytes: UnsafeRawBufferPointer, path: String) throws {
        var offset = 0
        while offset < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
            let written = LibArchive.api.archive_write_data(handle, rest.baseAddress, rest.count)
            guard written > 0 else {
                throw failure("write the contents of \(path)")
            }
            offset += written
        }
    }

    private func finishEntry(path: String) throws {
        if LibArchive.api.archive_write_finish_entry(handle) < ARCHIVE_WARN {
            throw failure("finish \(path)")
        }
    }

    /// Marks the writer failed and returns the error to throw: the sink's own error when the sink failed.
    private func failure(_ action: String) -> any Error {
        state = .failed
        if let sinkError = target.error {
            return sinkError
        }
        let libarchive = ArchiveError.libarchiveState(handle)
        return ArchiveError(.writeFailed, path: name, description: "\(name) failed: libarchive could not \(action)",
                            libraryMessage: libarchive.message, systemErrno: libarchive.errno)
    }

    private static func now() -> Int {
        Int(time(nil))
    }
}

/// Holds the caller's sink for libarchive's write callback, and the first error it threw.
private final class SinkTarget {
    let sink: (UnsafeRawBufferPointer) throws -> Void
    var error: (any Error)?
    var discard = false

    init(sink: @escaping (UnsafeRawBufferPointer) throws -> Void) { self.sink = sink }

    func write(_ buffer: UnsafeRawPointer?, _ length: Int) -> la_ssize_t {
        if discard { return la_ssize_t(length) }
        guard error == nil else { return -1 }
        do {
            try sink(UnsafeRawBufferPointer(start: buffer, count: buffer == nil ? 0 : length))
            return la_ssize_t(length)
        } catch {
            self.error = error
            return -1
        }
    }
}

/// A libarchive entry, freed in `deinit`.
private final class EntryHandle {
    let handle: OpaquePointer

    init?() {
        guard let handle = LibArchive.api.archive_entry_new() else { return nil }
        self.handle = handle
    }

    deinit { LibArchive.api.archive_entry_free(handle) }
}
