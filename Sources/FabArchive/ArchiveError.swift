import CLibArchive

/// An error from reading a Debian package, parsing control data, writing a tar stream or hashing a file.
///
/// Every error names the file or stream it is about (``path``), keeps libarchive's (or the C
/// library's) own message when there is one (``libraryMessage``), and describes itself in one
/// sentence written for the person who has to act on it (``description``).
public struct ArchiveError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is; compare against the static members (`error.code == .truncated`).
    ///
    /// A struct rather than an enum so that new kinds can be added without breaking callers' switches.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// A short stable name for the kind, such as `"truncated"`.
        public let rawValue: String

        /// Makes a code from its stable name.
        public init(_ rawValue: String) { self.rawValue = rawValue }

        /// The stable name.
        public var description: String { rawValue }

        /// The file could not be opened or examined (missing, unreadable, a directory).
        public static let cannotOpen = Code("cannotOpen")
        /// The file is not a Debian binary package (not an ar archive, or members in the wrong order).
        public static let notDebianPackage = Code("notDebianPackage")
        /// The package's `debian-binary` names a format version this reader does not understand.
        public static let unsupportedFormatVersion = Code("unsupportedFormatVersion")
        /// The file ends before its archive does.
        public static let truncated = Code("truncated")
        /// The archive is damaged in a way other than being cut short (bad header, bad compressed data).
        public static let damaged = Code("damaged")
        /// A member every package needs (`control.tar.*`, `data.tar.*`, `./control`) is absent.
        public static let missingMember = Code("missingMember")
        /// Control text (Deb822) is malformed.
        public static let invalidControl = Code("invalidControl")
        /// Reading a local file failed.
        public static let readFailed = Code("readFailed")
        /// Writing an archive failed: libarchive refused an entry or the stream could not be written.
        public static let writeFailed = Code("writeFailed")
        /// An argument cannot go into an archive (an empty path, a writer that is already finished).
        public static let invalidArgument = Code("invalidArgument")
        /// OpenSSL could not compute a digest.
        public static let digestFailed = Code("digestFailed")
    }

    /// What kind of failure this is.
    public var code: Code
    /// The file (or stream, or control source) the error is about, when there is one.
    public var path: String?
    /// The C library's own message (libarchive's `archive_error_string`, or `strerror` of ``systemErrno``).
    public var libraryMessage: String?
    /// The `errno` reported by the system or libarchive, when there is one.
    public var systemErrno: Int32?
    /// One sentence that says what is wrong, naming the file.
    public var description: String

    /// Makes an error from its parts.
    ///
    /// - Parameters:
    ///   - code: The kind of failure.
    ///   - path: The file or stream concerned.
    ///   - description: One sentence for the user. The library message is appended in parentheses
    ///     when given and the sentence does not already contain it.
    ///   - libraryMessage: The C library's own message.
    ///   - systemErrno: The `errno` value, if any.
    public init(_ code: Code, path: String?, description: String,
                libraryMessage: String? = nil, systemErrno: Int32? = nil) {
        self.code = code
        self.path = path
        self.libraryMessage = libraryMessage
        self.systemErrno = systemErrno
        var sentence = description
        if let libraryMessage, !libraryMessage.isEmpty, !sentence.contains(libraryMessage) {
            if sentence.hasSuffix(".") { sentence.removeLast() }
            sentence += " (\(libraryMessage))."
        } else if !sentence.hasSuffix(".") {
            sentence += "."
        }
        self.description = sentence
    }
}

extension ArchiveError {
    /// libarchive's current message and errno for `archive`, for building an error.
    static func libarchiveState(_ archive: OpaquePointer?) -> (message: String?, errno: Int32?) {
        guard let archive else { return (nil, nil) }
        let message = LibArchive.api.archive_error_string(archive).map { String(cString: $0) }
        let number = LibArchive.api.archive_errno(archive)
        return (message, number == 0 ? nil : number)
    }

    /// Whether libarchive's message says the input ended early.
    static func looksTruncated(_ message: String?) -> Bool {
        guard let message = message?.lowercased() else { return false }
        return message.contains("truncated") || message.contains("premature end")
            || message.contains("unexpected end") || message.contains("eof")
    }
}
