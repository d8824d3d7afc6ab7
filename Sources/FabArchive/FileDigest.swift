import CCrypto

/// SHA-256 and MD5 digests of files and bytes, as lowercase hex, computed with OpenSSL's EVP interface.
///
/// Files are read in chunks, so a digest of a large file needs only a small buffer.
public enum FileDigest {
    /// The SHA-256 digest of a file, as 64 lowercase hex digits (what `sha256sum` prints).
    ///
    /// - Parameter path: The file to hash; it is streamed, never loaded whole.
    /// - Throws: ``ArchiveError`` with code `.cannotOpen` when the file cannot be opened,
    ///   `.readFailed` when reading fails, `.digestFailed` when OpenSSL fails.
    public static func sha256(path: String) throws -> String {
        try digest(path: path, algorithm: .sha256)
    }

    /// The SHA-256 digest of some bytes, as 64 lowercase hex digits.
    ///
    /// - Parameter bytes: The bytes to hash (an array, a string's `utf8` view, ...).
    /// - Throws: ``ArchiveError`` with code `.digestFailed` when OpenSSL fails (it does not in practice).
    public static func sha256(bytes: some Sequence<UInt8>) throws -> String {
        try digest(bytes: bytes, algorithm: .sha256)
    }

    /// The MD5 digest of a file, as 32 lowercase hex digits (what `md5sum` and a .deb's `md5sums` hold).
    ///
    /// - Parameter path: The file to hash; it is streamed, never loaded whole.
    /// - Throws: ``ArchiveError`` with code `.cannotOpen` when the file cannot be opened,
    ///   `.readFailed` when reading fails, `.digestFailed` when OpenSSL fails.
    public static func md5(path: String) throws -> String {
        try digest(path: path, algorithm: .md5)
    }

    /// The MD5 digest of some bytes, as 32 lowercase hex digits.
    ///
    /// - Parameter bytes: The bytes to hash.
    /// - Throws: ``ArchiveError`` with code `.digestFailed` when OpenSSL fails (it does not in practice).
    public static func md5(bytes: some Sequence<UInt8>) throws -> String {
        try digest(bytes: bytes, algorithm: .md5)
    }

    private static func digest(path: String, algorithm: DigestContext.Algorithm) throws -> String {
        let file = try LocalFile(path: path)
        let context = try DigestContext(algorithm, source: path)
        try file.forEachChunk { chunk in try context.update(chunk) }
        return try context.finalHex()
    }

    private static func digest(bytes: some Sequence<UInt8>, algorithm: DigestContext.Algorithm) throws -> String {
        let context = try DigestContext(algorithm, source: nil)
        let handled: Void? = try bytes.withContiguousStorageIfAvailable { buffer in
            try context.update(UnsafeRawBufferPointer(buffer))
        }
        if handled == nil {
            let copy = Array(bytes)
            try copy.withUnsafeBytes { try context.update($0) }
        }
        return try context.finalHex()
    }
}

/// An OpenSSL `EVP_MD_CTX`, freed in `deinit`.
final class DigestContext {
    /// The digests FabArchive computes.
    enum Algorithm {
        case sha256, md5

        var name: String {
            switch self {
            case .sha256: "SHA-256"
            case .md5: "MD5"
            }
        }
    }

    private let context: OpaquePointer
    private let algorithm: Algorithm
    private let source: String?

    /// Starts a digest.
    ///
    /// - Throws: ``ArchiveError/Code/digestFailed`` when OpenSSL cannot set up the context.
    init(_ algorithm: Algorithm, source: String?) throws {
        self.algorithm = algorithm
        self.source = source
        fab_openssl_no_atexit()
        guard let context = EVP_MD_CTX_new() else {
            throw Self.failure(algorithm, source: source, step: "allocate a context")
        }
        self.context = context
        let md = switch algorithm {
        case .sha256: EVP_sha256()
        case .md5: EVP_md5()
        }
        guard EVP_DigestInit_ex(context, md, nil) == 1 else {
            throw Self.failure(algorithm, source: source, step: "initialise")
        }
    }

    deinit { EVP_MD_CTX_free(context) }

    /// Adds bytes to the digest.
    ///
    /// - Throws: ``ArchiveError/Code/digestFailed`` when OpenSSL fails.
    func update(_ bytes: UnsafeRawBufferPointer) throws {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        guard EVP_DigestUpdate(context, base, bytes.count) == 1 else {
            throw Self.failure(algorithm, source: source, step: "update")
        }
    }

    /// Finishes the digest and returns it as lowercase hex.
    ///
    /// - Throws: ``ArchiveError/Code/digestFailed`` when OpenSSL fails.
    func finalHex() throws -> String {
        var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        guard EVP_DigestFinal_ex(context, &output, &length) == 1 else {
            throw Self.failure(algorithm, source: source, step: "finish")
        }
        return hex(output.prefix(Int(length)))
    }

    private static func failure(_ algorithm: Algorithm, source: String?, step: String) -> ArchiveError {
        let subject = source ?? "the given bytes"
        return ArchiveError(.digestFailed, path: source,
                            description: "The \(algorithm.name) digest of \(subject) could not be computed: OpenSSL failed to \(step)")
    }
}

/// Lowercase hex digits of some bytes.
func hex(_ bytes: some Sequence<UInt8>) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.underestimatedCount * 2)
    for byte in bytes {
        out.append(digits[Int(byte >> 4)])
        out.append(digits[Int(byte & 0x0f)])
    }
    return String(decoding: out, as: UTF8.self)
}
