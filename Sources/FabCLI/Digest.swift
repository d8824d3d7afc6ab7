import CCrypto

/// SHA-256 of cache-key material (plugin names, compiler records).
///
/// It runs on every start, so it uses OpenSSL's provider-free `SHA256_*` functions (``fab_sha256``):
/// the EVP interface FabArchive uses for packages would first set up OpenSSL 3's providers and read
/// its configuration, about 1.5 ms of a warm `fab -l`.
enum Digest {
    /// The lowercase hex SHA-256 of `bytes`.
    static func sha256(_ bytes: [UInt8]) -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        bytes.withUnsafeBufferPointer { buffer in
            digest.withUnsafeMutableBufferPointer { fab_sha256(buffer.baseAddress, buffer.count, $0.baseAddress) }
        }
        let digits = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(64)
        for byte in digest {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0f)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
