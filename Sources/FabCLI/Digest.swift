import FabArchive
import Foundation

/// SHA-256 of cache-key material, through the OpenSSL digest FabArchive already wraps.
enum Digest {
    /// The lowercase hex SHA-256 of `bytes`.
    static func sha256(_ bytes: [UInt8]) -> String {
        // EVP SHA-256 over memory fails only if OpenSSL cannot allocate a context; a fresh random
        // key then means "never cached": fab recompiles rather than risk loading a wrong plugin.
        (try? FileDigest.sha256(bytes: bytes)) ?? UUID().uuidString
    }
}
