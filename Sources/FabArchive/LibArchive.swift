import CLibArchive

/// libarchive, opened on first use rather than linked (CLibArchive's `shim.h` says why). FabArchive
/// calls it only through ``api``, after ``open(for:)``.
enum LibArchive {
    private struct Opened: @unchecked Sendable {
        /// The function table, or nil when libarchive could not be opened; never changes once set.
        let table: UnsafePointer<fab_libarchive>?
        let error: String
    }

    /// libarchive opened once, on first use (a `static let` runs its initialiser exactly once).
    private static let opened: Opened = {
        var error: UnsafePointer<CChar>?
        let table = fab_libarchive_open(&error)
        return Opened(table: table, error: error.map { String(cString: $0) } ?? "unknown error")
    }()

    /// Opens libarchive unless it is open.
    /// - Parameter path: the file or stream about to be read or written, for the error.
    /// - Throws: ``ArchiveError`` `.cannotOpen` naming the Debian package to install.
    static func open(for path: String?) throws {
        guard opened.table == nil else { return }
        throw ArchiveError(.cannotOpen, path: path,
                           description: "fab reads and writes packages with libarchive, which it cannot open (\(opened.error)); install it with `apt-get install libarchive13`")
    }

    /// libarchive's functions. Only for use after ``open(for:)`` succeeded: every archive and entry
    /// handle FabArchive holds was made by them.
    static var api: fab_libarchive {
        guard let table = opened.table else {
            preconditionFailure("libarchive was used before LibArchive.open(for:) succeeded: \(opened.error)")
        }
        return table.pointee
    }
}
