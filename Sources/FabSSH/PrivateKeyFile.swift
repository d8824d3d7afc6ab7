import Foundation

/// What can be learned from a private key file without decrypting it: its type and whether
/// it is encrypted (OpenSSH's format stores the public key in clear; PEM files say so in headers).
struct PrivateKeyFile {
    let path: String
    /// `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`..., or nil when unknown.
    let keyType: String?
    let isEncrypted: Bool

    init(path: String) {
        self.path = path
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        if let parsed = Self.parseOpenSSH(text) {
            keyType = Self.keyType(ofBlob: parsed.publicBlob)
            isEncrypted = parsed.cipher != "none"
        } else if text.contains("BEGIN RSA PRIVATE KEY") {
            keyType = "ssh-rsa"
            isEncrypted = text.contains("ENCRYPTED")
        } else if text.contains("BEGIN EC PRIVATE KEY") {
            keyType = "ecdsa"
            isEncrypted = text.contains("ENCRYPTED")
        } else {
            keyType = Self.typeFromPublicFile(path + ".pub")
            isEncrypted = text.contains("ENCRYPTED")
        }
    }

    /// The public key blob of an OpenSSH-format private key, or of its `.pub` file.
    static func publicKeyBlob(forPrivateKeyAt path: String) -> [UInt8]? {
        if let text = try? String(contentsOfFile: path, encoding: .utf8), let parsed = parseOpenSSH(text) {
            return parsed.publicBlob
        }
        guard let line = try? String(contentsOfFile: path + ".pub", encoding: .utf8) else { return nil }
        let fields = line.split(separator: " ")
        guard fields.count >= 2, let data = Data(base64Encoded: String(fields[1])) else { return nil }
        return Array(data)
    }

    /// The key type named at the start of an SSH public key blob.
    static func keyType(ofBlob blob: [UInt8]) -> String? {
        var reader = SSHWireReader(blob)
        return reader.readString().map { String(decoding: $0, as: UTF8.self) }
    }

    private static func typeFromPublicFile(_ path: String) -> String? {
        guard let line = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return line.split(separator: " ").first.map(String.init)
    }

    /// Parses the clear part of `-----BEGIN OPENSSH PRIVATE KEY-----` (openssh-key-v1).
    private static func parseOpenSSH(_ text: String) -> (cipher: String, publicBlob: [UInt8])? {
        let begin = "-----BEGIN OPENSSH PRIVATE KEY-----", end = "-----END OPENSSH PRIVATE KEY-----"
        guard let start = text.range(of: begin), let stop = text.range(of: end) else { return nil }
        let body = text[start.upperBound..<stop.lowerBound].filter { !$0.isWhitespace }
        guard let data = Data(base64Encoded: String(body)) else { return nil }
        let magic = Array("openssh-key-v1\0".utf8)
        guard data.count > magic.count, Array(data.prefix(magic.count)) == magic else { return nil }
        var reader = SSHWireReader(Array(data.dropFirst(magic.count)))
        guard let cipher = reader.readString(), reader.readString() != nil, reader.readString() != nil,
              let count = reader.readUInt32(), count >= 1, let publicBlob = reader.readString() else { return nil }
        return (String(decoding: cipher, as: UTF8.self), publicBlob)
    }
}

/// Reads SSH wire-format fields (RFC 4251): uint32 and length-prefixed strings.
struct SSHWireReader {
    private let bytes: [UInt8]
    private var offset = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func readUInt32() -> UInt32? {
        guard offset + 4 <= bytes.count else { return nil }
        let value = bytes[offset..<offset + 4].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        offset += 4
        return value
    }

    mutating func readString() -> [UInt8]? {
        guard let length = readUInt32(), offset + Int(length) <= bytes.count else { return nil }
        defer { offset += Int(length) }
        return Array(bytes[offset..<offset + Int(length)])
    }
}
