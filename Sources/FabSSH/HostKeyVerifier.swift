import CLibSSH2
import Foundation

/// Checks the server's host key against known_hosts under the target's ``HostKeyPolicy``.
/// Runs on the session's queue, right after the handshake and before any authentication.
struct HostKeyVerifier {
    let core: SessionCore
    let target: SSHTarget

    /// The key the server presented.
    func presentedKey() throws -> HostKey {
        var length = 0
        var type: Int32 = 0
        guard let session = core.session, let pointer = libssh2_session_hostkey(session, &length, &type), length > 0 else {
            throw SSHError(.handshake, host: target.alias, operation: "verify host key", message: "the server presented no host key.")
        }
        let blob = Array(UnsafeRawBufferPointer(start: pointer, count: length))
        let keyType: HostKeyType
        switch type {
        case LIBSSH2_HOSTKEY_TYPE_ED25519: keyType = .ed25519
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_256: keyType = .ecdsa256
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_384: keyType = .ecdsa384
        case LIBSSH2_HOSTKEY_TYPE_ECDSA_521: keyType = .ecdsa521
        case LIBSSH2_HOSTKEY_TYPE_RSA: keyType = .rsa
        default: keyType = .dss
        }
        return HostKey(type: keyType, blob: blob)
    }

    /// Verifies (and under `.acceptNew` records) the presented key.
    /// - Throws: ``SSHError`` `.hostKeyUnknown`, `.hostKeyChanged` or `.hostKeyRevoked`, naming the file and line and the fix.
    func verify() throws {
        if target.hostKeyPolicy == .insecure { return }
        let key = try presentedKey()
        let name = target.hostKeyAlias ?? target.hostName
        // Like OpenSSH, a HostKeyAlias is looked up (and recorded) in the plain, port-22 form.
        let port = target.hostKeyAlias == nil ? target.port : 22
        let display = port == 22 ? name : "[\(name)]:\(port)"
        let files = target.knownHostsFiles
        switch KnownHosts.load(paths: files).verify(host: name, port: port, key: key) {
        case .match:
            return
        case .mismatch(let location, let expected):
            throw SSHError(.hostKeyChanged, host: target.alias, operation: "verify host key", path: location.file,
                           message: "the host key for \(display) has CHANGED: the server now presents \(key.type.rawValue) \(key.fingerprintSHA256), but \(location.file) line \(location.line) holds a different \(expected.rawValue) key. Someone may be intercepting the connection, or the host was reinstalled. If you know the key changed legitimately, remove the old one with: ssh-keygen -R '\(display)' -f \(location.file)")
        case .revoked(let location):
            throw SSHError(.hostKeyRevoked, host: target.alias, operation: "verify host key", path: location.file,
                           message: "the host key of \(display) (\(key.fingerprintSHA256)) is marked @revoked in \(location.file) line \(location.line); refusing to connect.")
        case .notFound:
            guard target.hostKeyPolicy == .acceptNew, let file = files.first else {
                let where_ = files.isEmpty ? "any known_hosts file" : files.joined(separator: ", ")
                throw SSHError(.hostKeyUnknown, host: target.alias, operation: "verify host key",
                               message: "the host key of \(display) (\(key.type.rawValue) \(key.fingerprintSHA256)) is not in \(where_). Check the fingerprint with the host's administrator, then add it with: ssh-keyscan -p \(target.port) \(target.hostName) >> ~/.ssh/known_hosts, or connect once with --known-hosts-policy accept-new.")
            }
            do {
                try KnownHosts.append(host: name, port: port, key: key, to: file, hashed: target.hashKnownHosts)
            } catch {
                throw SSHError(.hostKeyUnknown, host: target.alias, operation: "record host key", path: file,
                               underlying: "\(error)", message: "could not add the new host key to \(file); check that the file and its directory are writable.")
            }
        }
    }
}
