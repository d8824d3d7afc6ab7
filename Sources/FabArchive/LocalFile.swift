#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A local file opened for reading, closed in `deinit`; the one place FabArchive reads files.
final class LocalFile {
    /// The path as given by the caller, for messages.
    let path: String
    /// The open descriptor; owned by this object.
    let descriptor: Int32
    /// The file's status taken right after opening.
    let status: stat

    /// Opens `path` read-only.
    ///
    /// - Throws: ``ArchiveError/Code/cannotOpen`` when the file cannot be opened or is not a regular file.
    init(path: String) throws {
        self.path = path
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            let number = errno
            throw ArchiveError(.cannotOpen, path: path,
                               description: "\(path) cannot be opened: \(Self.message(number))",
                               libraryMessage: nil, systemErrno: number)
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let number = errno
            close(fd)
            throw ArchiveError(.cannotOpen, path: path,
                               description: "\(path) cannot be examined: \(Self.message(number))",
                               systemErrno: number)
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            let kind = (info.st_mode & S_IFMT) == S_IFDIR ? "a directory" : "not a regular file"
            throw ArchiveError(.cannotOpen, path: path,
                               description: "\(path) cannot be read as a file: it is \(kind)")
        }
        self.descriptor = fd
        self.status = info
    }

    deinit { close(descriptor) }

    /// The size in bytes at the time of opening.
    var size: Int64 { Int64(status.st_size) }

    /// Reads up to `buffer.count` bytes, retrying on `EINTR`; returns 0 at end of file.
    ///
    /// - Throws: ``ArchiveError/Code/readFailed`` when the system call fails.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        while true {
            let count = systemRead(descriptor, base, buffer.count)
            if count >= 0 { return count }
            let number = errno
            if number == EINTR { continue }
            throw ArchiveError(.readFailed, path: path,
                               description: "\(path) could not be read: \(Self.message(number))",
                               systemErrno: number)
        }
    }

    /// Calls `body` with successive chunks of the file until its end, reusing one buffer of `chunkSize` bytes.
    ///
    /// - Throws: ``ArchiveError/Code/readFailed`` on a read error, or whatever `body` throws.
    func forEachChunk(chunkSize: Int = 256 * 1024,
                      _ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let count = try read(into: buffer)
            if count == 0 { return }
            try body(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
        }
    }

    /// `strerror` text for an errno value.
    static func message(_ number: Int32) -> String {
        guard let text = strerror(number) else { return "error \(number)" }
        return String(cString: text)
    }
}

/// The system's `read(2)`, named apart from ``LocalFile/read(into:)``.
private func systemRead(_ fd: Int32, _ buffer: UnsafeMutableRawPointer, _ count: Int) -> Int {
    read(fd, buffer, count)
}
