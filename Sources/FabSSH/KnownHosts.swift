import CCrypto
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Keys

/// The host key algorithms fab can check, named as in known_hosts and in the key blob.
public enum HostKeyType: String, Sendable, CaseIterable {
    /// Ed25519.
    case ed25519 = "ssh-ed25519"
    /// ECDSA on NIST P-256.
    case ecdsa256 = "ecdsa-sha2-nistp256"
    /// ECDSA on NIST P-384.
    case ecdsa384 = "ecdsa-sha2-nistp384"
    /// ECDSA on NIST P-521.
    case ecdsa521 = "ecdsa-sha2-nistp521"
    /// RSA.
    case rsa = "ssh-rsa"
    /// DSA.
    case dss = "ssh-dss"
}

/// A host's public key: its type and the raw SSH wire blob (what `libssh2_session_hostkey` returns).
public struct HostKey: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// The key algorithm.
    public var type: HostKeyType
    /// The public key in SSH wire format (a string naming the type, then the key's fields).
    public var blob: [UInt8]

    /// Makes a key from a type and blob the caller already trusts to agree (as libssh2 reports them).
    public init(type: HostKeyType, blob: [UInt8]) {
        self.type = type
        self.blob = blob
    }

    /// Makes a key from a wire blob, taking the type from the blob itself.
    /// - Throws: ``SSHError`` (`invalidKey`) when the blob is truncated or names a type fab does not know.
    public init(blob: [UInt8]) throws {
        guard let name = HostKey.embeddedTypeName(blob) else {
            throw SSHError.knownHosts(.invalidKey, path: nil, message: "The host key blob is truncated; it does not start with a key type name.")
        }
        guard let type = HostKeyType(rawValue: name) else {
            throw SSHError.knownHosts(.invalidKey, path: nil, message: "The host key type \"\(name)\" is not supported; use ed25519, ECDSA, RSA or DSA keys.")
        }
        self.init(type: type, blob: blob)
    }

    /// Parses a public key as written in `.pub` files and known_hosts: `TYPE BASE64 [comment]`.
    /// - Throws: ``SSHError`` (`invalidKey`) when the type is unknown, the base64 is invalid,
    ///   or the blob's own type differs from `TYPE`.
    public init(openSSHPublicKey text: String) throws {
        let fields = text.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" })
        guard fields.count >= 2 else {
            throw SSHError.knownHosts(.invalidKey, path: nil, message: "A public key must be written as TYPE BASE64 [comment]; \"\(text.prefix(40))\" is not.")
        }
        guard let key = HostKey.parse(typeName: String(fields[0]), base64: String(fields[1])) else {
            throw SSHError.knownHosts(.invalidKey, path: nil, message: "The public key \"\(fields[0]) \(fields[1].prefix(20))...\" is invalid or of an unsupported type; check that it was copied whole.")
        }
        self = key
    }

    /// The blob in base64, as written in known_hosts and `.pub` files.
    public var base64: String { Data(blob).base64EncodedString() }

    /// `SHA256:` and the unpadded base64 SHA-256 of the blob, as `ssh-keygen -lf` prints it.
    public var fingerprintSHA256: String {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let ok = blob.withUnsafeBytes { input in
            EVP_Digest(input.baseAddress, input.count, &digest, &length, EVP_sha256(), nil)
        }
        guard ok == 1 else { return "SHA256:?" }
        var text = Data(digest[0..<Int(length)]).base64EncodedString()
        while text.hasSuffix("=") { text.removeLast() }
        return "SHA256:" + text
    }

    /// `TYPE FINGERPRINT`, for messages.
    public var description: String { "\(type.rawValue) \(fingerprintSHA256)" }

    static func parse(typeName: String, base64: String) -> HostKey? {
        guard let type = HostKeyType(rawValue: typeName),
              let data = Data(base64Encoded: base64), !data.isEmpty else { return nil }
        let blob = [UInt8](data)
        guard embeddedTypeName(blob) == typeName else { return nil }
        return HostKey(type: type, blob: blob)
    }

    static func embeddedTypeName(_ blob: [UInt8]) -> String? {
        guard blob.count >= 4 else { return nil }
        let length = Int(blob[0]) << 24 | Int(blob[1]) << 16 | Int(blob[2]) << 8 | Int(blob[3])
        guard length > 0, length <= blob.count - 4 else { return nil }
        return String(decoding: blob[4..<(4 + length)], as: UTF8.self)
    }
}

// MARK: - Verdicts

/// A line in a known_hosts file.
public struct KnownHostsEntryLocation: Sendable, Equatable, CustomStringConvertible {
    /// The file's path as given to `KnownHosts.load(paths:)`.
    public var file: String
    /// The 1-based line number.
    public var line: Int

    /// Makes a location.
    public init(file: String, line: Int) {
        self.file = file
        self.line = line
    }

    /// `FILE:LINE`.
    public var description: String { "\(file):\(line)" }
}

/// What the known_hosts files say about a host's key.
public enum KnownHostsVerdict: Sendable, Equatable {
    /// The key is recorded for this host at this line.
    case match(KnownHostsEntryLocation)
    /// The host has keys recorded, none of them the one presented: the key changed (or someone is in the middle).
    /// The location is the first line with a key of the presented type, else the first line for the host;
    /// `expected` is the type of the key on that line.
    case mismatch(KnownHostsEntryLocation, expected: HostKeyType)
    /// An `@revoked` line for this host lists this key: never accept it.
    case revoked(KnownHostsEntryLocation)
    /// The host has no key recorded (revoked keys aside).
    case notFound
}

// MARK: - known_hosts

/// The entries of one or more OpenSSH known_hosts files, read by fab itself (libssh2 1.10 stops at the first
/// line it cannot parse and knows neither wildcards nor `@revoked`).
public struct KnownHosts: Sendable {
    enum HostField: Sendable {
        case patterns(String)
        case hashed(salt: [UInt8], hash: [UInt8])
    }

    struct Entry: Sendable {
        var revoked: Bool
        var hosts: HostField
        var key: HostKey
        var location: KnownHostsEntryLocation
    }

    let entries: [Entry]

    /// Lines that were ignored because they are malformed or hold a key type fab does not know
    /// (comments, blank lines and `@cert-authority` lines are not listed).
    public let skippedLines: [KnownHostsEntryLocation]

    init(entries: [Entry], skippedLines: [KnownHostsEntryLocation]) {
        self.entries = entries
        self.skippedLines = skippedLines
    }

    /// Parses known_hosts text; `file` names it in locations.
    public init(contents: String, file: String) {
        var entries: [Entry] = []
        var skipped: [KnownHostsEntryLocation] = []
        KnownHosts.parse(contents, file: file, into: &entries, skipped: &skipped)
        self.init(entries: entries, skippedLines: skipped)
    }

    /// Reads files in order. Missing or unreadable files contribute nothing; malformed lines, `@cert-authority`
    /// lines and comments are skipped, so later valid lines are still found.
    public static func load(paths: [String]) -> KnownHosts {
        var entries: [Entry] = []
        var skipped: [KnownHostsEntryLocation] = []
        for path in paths {
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            parse(String(decoding: data, as: UTF8.self), file: path, into: &entries, skipped: &skipped)
        }
        return KnownHosts(entries: entries, skippedLines: skipped)
    }

    /// Looks up `key` for `host`: an `@revoked` line listing the key wins, then an exact match; any other key
    /// recorded for the host, of whatever type, means the key has changed (stricter than OpenSSH, which
    /// treats a host known only with other key types as new).
    /// - Parameters:
    ///   - host: The name to look up: the `HostKeyAlias` (then pass port 22) or the host name; compared lowercased.
    ///   - port: 22 (or 0) for the plain form; other ports look up `[host]:port`.
    ///   - key: The key the server presented.
    public func verify(host: String, port: Int, key: HostKey) -> KnownHostsVerdict {
        let name = KnownHosts.lookupName(host: host, port: port)
        var firstMatch: KnownHostsEntryLocation?
        var sameType: (KnownHostsEntryLocation, HostKeyType)?
        var otherType: (KnownHostsEntryLocation, HostKeyType)?
        for entry in entries where KnownHosts.field(entry.hosts, matches: name) {
            if entry.revoked {
                if entry.key == key { return .revoked(entry.location) }
            } else if entry.key == key {
                if firstMatch == nil { firstMatch = entry.location }
            } else if entry.key.type == key.type {
                if sameType == nil { sameType = (entry.location, entry.key.type) }
            } else if otherType == nil {
                otherType = (entry.location, entry.key.type)
            }
        }
        if let firstMatch { return .match(firstMatch) }
        if let (location, type) = sameType ?? otherType { return .mismatch(location, expected: type) }
        return .notFound
    }

    /// The key types recorded (not revoked) for `host`, in file order without repeats: the host-key algorithms
    /// to prefer when negotiating, as OpenSSH orders them, so a host known by one type is not asked for another.
    /// - Parameters:
    ///   - host: As for ``verify(host:port:key:)``.
    ///   - port: As for ``verify(host:port:key:)``.
    public func knownTypes(host: String, port: Int) -> [HostKeyType] {
        let name = KnownHosts.lookupName(host: host, port: port)
        var types: [HostKeyType] = []
        for entry in entries where !entry.revoked && !types.contains(entry.key.type) && KnownHosts.field(entry.hosts, matches: name) {
            types.append(entry.key.type)
        }
        return types
    }

    /// Appends a known_hosts line for `host` in OpenSSH's format (`host`, `[host]:port`, or hashed `|1|salt|hash`),
    /// creating the file (mode 0600) and missing directories (0700). The line goes out in one `O_APPEND` write,
    /// so concurrent appends do not interleave; a missing final newline in the file is supplied first.
    /// - Parameters:
    ///   - host: The host name or address (or `HostKeyAlias`), written lowercased.
    ///   - port: 22 (or 0) writes the plain form; other ports write `[host]:port`.
    ///   - key: The key to record.
    ///   - path: The known_hosts file.
    ///   - hashed: Whether to hash the name (as `HashKnownHosts yes`).
    /// - Throws: ``SSHError`` with `invalidHost` when the name is empty or contains whitespace, commas or
    ///   pattern characters, or the port is out of range; `writeFailed` when the directory or file cannot be written.
    public static func append(host: String, port: Int, key: HostKey, to path: String, hashed: Bool) throws {
        let forbidden: Set<Character> = [",", "*", "?", "!", "[", "]", "#", "|", "@"]
        guard !host.isEmpty, !host.contains(where: { $0.isWhitespace || forbidden.contains($0) }),
              host.unicodeScalars.allSatisfy({ $0.value > 0x20 && $0.value != 0x7F }) else {
            throw SSHError.knownHosts(.invalidHost, path: path, message: "Cannot record a host key for \"\(host)\": a known_hosts name must not be empty or contain spaces, commas, brackets or pattern characters.")
        }
        guard (0...65535).contains(port) else {
            throw SSHError.knownHosts(.invalidHost, path: path, message: "Cannot record a host key for \(host) on port \(port): ports run from 1 to 65535.")
        }
        let name = lookupName(host: host, port: port)
        let field: String
        if hashed {
            var salt = [UInt8](repeating: 0, count: 20)
            guard RAND_bytes(&salt, Int32(salt.count)) == 1, let hash = hmacSHA1(key: salt, message: name) else {
                throw SSHError.knownHosts(.writeFailed, path: path, message: "Cannot hash the host name for \(path): OpenSSL could not produce random bytes or an HMAC.")
            }
            field = "|1|\(Data(salt).base64EncodedString())|\(Data(hash).base64EncodedString())"
        } else {
            field = name
        }
        let line = "\(field) \(key.type.rawValue) \(key.base64)\n"
        try createParentDirectories(of: path)
        try appendLine(line, to: path)
    }

    // MARK: Internals

    /// `host` or `[host]:port`, lowercased, as OpenSSH's put_host_port().
    static func lookupName(host: String, port: Int) -> String {
        let lower = SSHPattern.asciiLowercased(host)
        return port == 0 || port == 22 ? lower : "[\(lower)]:\(port)"
    }

    static func field(_ field: HostField, matches name: String) -> Bool {
        switch field {
        case .patterns(let patterns):
            return SSHPattern.matchHostname(name, patternList: patterns) == 1
        case .hashed(let salt, let hash):
            return hmacSHA1(key: salt, message: name) == hash
        }
    }

    static func hmacSHA1(key: [UInt8], message: String) -> [UInt8]? {
        var output = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var length: UInt32 = 0
        let data = Array(message.utf8)
        let result = key.withUnsafeBytes { keyBytes in
            data.withUnsafeBytes { dataBytes in
                HMAC(EVP_sha1(), keyBytes.baseAddress, Int32(keyBytes.count),
                     dataBytes.baseAddress?.assumingMemoryBound(to: UInt8.self), dataBytes.count, &output, &length)
            }
        }
        guard result != nil else { return nil }
        return Array(output[0..<Int(length)])
    }

    /// hostkeys_foreach() for one file's text.
    static func parse(_ text: String, file: String, into entries: inout [Entry], skipped: inout [KnownHostsEntryLocation]) {
        var number = 0
        for rawLine in text.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            let location = KnownHostsEntryLocation(file: file, line: number)
            var line = Substring(rawLine)
            if line.last == "\r" { line.removeLast() }
            line = line.drop(while: { $0 == " " || $0 == "\t" })
            if line.isEmpty || line.first == "#" { continue }

            // check_markers(): at most one marker, terminated by whitespace.
            var marker = ""
            var badMarker = false
            while line.first == "@" {
                guard marker.isEmpty, let end = line.firstIndex(where: { $0 == " " || $0 == "\t" }) else { badMarker = true; break }
                marker = String(line[..<end])
                guard marker == "@revoked" || marker == "@cert-authority" else { badMarker = true; break }
                line = line[end...].drop(while: { $0 == " " || $0 == "\t" })
            }
            if marker == "@cert-authority" && !badMarker { continue }  // CA keys sign host certificates: not host keys
            if badMarker { skipped.append(location); continue }
            let revoked = marker == "@revoked"

            let fields = line.split(maxSplits: 3, omittingEmptySubsequences: true, whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count >= 3, !fields[1].hasPrefix("#"),
                  let key = HostKey.parse(typeName: String(fields[1]), base64: String(fields[2])),
                  let hosts = parseHostField(fields[0]) else {
                skipped.append(location)
                continue
            }
            entries.append(Entry(revoked: revoked, hosts: hosts, key: key, location: location))
        }
    }

    private static func parseHostField(_ text: Substring) -> HostField? {
        guard text.first == "|" else { return .patterns(String(text)) }
        let parts = text.split(separator: "|", omittingEmptySubsequences: false)
        // "|1|salt|hash" splits into "", "1", salt, hash.
        guard parts.count == 4, parts[0].isEmpty, parts[1] == "1",
              let salt = Data(base64Encoded: String(parts[2])), salt.count == 20,
              let hash = Data(base64Encoded: String(parts[3])), hash.count == 20 else { return nil }
        return .hashed(salt: [UInt8](salt), hash: [UInt8](hash))
    }

    private static func createParentDirectories(of path: String) throws {
        guard let slash = path.lastIndex(of: "/"), slash != path.startIndex else { return }
        let directory = path[..<slash]
        var prefix = directory.hasPrefix("/") ? "" : "."
        for component in directory.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o700) != 0 && errno != EEXIST {
                let code = errno
                throw SSHError.knownHosts(.writeFailed, path: path, errno: code, message: "Cannot create the directory \(prefix) for known_hosts file \(path).")
            }
        }
    }

    private static func appendLine(_ line: String, to path: String) throws {
        // Read-write so the last byte can be checked; O_APPEND makes each write land at the end.
        let fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let code = errno
            throw SSHError.knownHosts(.writeFailed, path: path, errno: code, message: "Cannot open known_hosts file \(path) for appending.")
        }
        defer { close(fd) }
        var bytes = Array(line.utf8)
        var info = stat()
        if fstat(fd, &info) == 0, info.st_size > 0 {
            var last: UInt8 = 0
            if pread(fd, &last, 1, info.st_size - 1) == 1, last != 0x0A { bytes.insert(0x0A, at: 0) }
        }
        var written = 0
        while written < bytes.count {
            let count = bytes[written...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if count < 0 {
                if errno == EINTR { continue }
                let code = errno
                throw SSHError.knownHosts(.writeFailed, path: path, errno: code, message: "Cannot append to known_hosts file \(path).")
            }
            written += count
        }
    }
}
