import CLibSSH2
import Foundation

/// Receives warnings a session has for its caller (an insecure host key accepted), with the host as the user named it.
/// Called on the session's queue; the library never prints them itself.
public typealias SSHWarningHandler = @Sendable (_ host: String, _ message: String) -> Void

/// Checks the server's host key against known_hosts under the target's ``HostKeyPolicy``.
/// Runs on the session's queue, right after the handshake and before any authentication.
///
/// The rule, for every policy: a key listed `@revoked` refuses; a host that known_hosts holds with any key
/// (by name, hashed name, `[host]:port` or `HostKeyAlias`), none of them the presented one, has a CHANGED key,
/// which refuses under `strict` and `acceptNew` and is accepted with a warning under `insecure`.
struct HostKeyVerifier {
    let core: SessionCore
    let target: SSHTarget
    /// The known_hosts files of the target, read once before the handshake.
    let knownHosts: KnownHosts
    let warnings: SSHWarningHandler?

    /// The name and port the target's key is looked up (and recorded) under: like OpenSSH, a
    /// `HostKeyAlias` is used in the plain, port-22 form.
    static func lookup(_ target: SSHTarget) -> (name: String, port: Int) {
        (target.hostKeyAlias ?? target.hostName, target.hostKeyAlias == nil ? target.port : 22)
    }

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
    /// - Throws: ``SSHError`` `.hostKeyRevoked` (every policy), `.hostKeyChanged` (all but `.insecure`) or
    ///   `.hostKeyUnknown` (`.strict`), naming the known_hosts file and line in use and the fix.
    func verify() throws {
        let key = try presentedKey()
        let (name, port) = Self.lookup(target)
        let display = KnownHosts.lookupName(host: name, port: port)
        let files = target.knownHostsFiles
        let insecure = target.hostKeyPolicy == .insecure
        switch knownHosts.verify(host: name, port: port, key: key) {
        case .match:
            return
        case .revoked(let location):
            throw SSHError(.hostKeyRevoked, host: target.alias, operation: "verify host key", path: location.file,
                           message: "the host key of \(display) (\(key.type.rawValue) \(key.fingerprintSHA256)) is marked @revoked in \(location.file) line \(location.line), so fab refuses it under every policy; ask the host's administrator for the host's current key.")
        case .mismatch(let location, let expected):
            let what = expected == key.type ? "a different \(expected.rawValue) key"
                : "a key of type \(expected.rawValue) (the server now offers \(key.type.rawValue) instead)"
            if insecure {
                warnings?(target.alias, "the host key for \(display) has CHANGED: the server presents \(key.type.rawValue) \(key.fingerprintSHA256), but \(location.file) line \(location.line) holds \(what); connecting anyway because the host-key policy is insecure.")
                return
            }
            throw SSHError(.hostKeyChanged, host: target.alias, operation: "verify host key", path: location.file,
                           message: "the host key for \(display) has CHANGED: the server now presents \(key.type.rawValue) \(key.fingerprintSHA256), but \(location.file) line \(location.line) holds \(what). Someone may be intercepting the connection, or the host was reinstalled. Check the new fingerprint with the host's administrator; if the change is legitimate, remove the old key with: ssh-keygen -R \(ShellQuoting.quote(display)) -f \(ShellQuoting.quote(location.file)), then connect again.")
        case .notFound:
            if insecure {
                warnings?(target.alias, "the host key of \(display) (\(key.type.rawValue) \(key.fingerprintSHA256)) is not in \(Self.describe(files)); connecting without checking it because the host-key policy is insecure.")
                return
            }
            guard target.hostKeyPolicy == .acceptNew, let file = files.first else {
                let advice = files.first.map { "ssh-keyscan -p \(target.port) \(ShellQuoting.quote(target.hostName)) >> \(ShellQuoting.quote($0))" }
                    ?? "ssh-keyscan, into a known_hosts file named by UserKnownHostsFile"
                throw SSHError(.hostKeyUnknown, host: target.alias, operation: "verify host key",
                               message: "the host key of \(display) (\(key.type.rawValue) \(key.fingerprintSHA256)) is not in \(Self.describe(files)). Check the fingerprint with the host's administrator, then add it with: \(advice), or connect once with --known-hosts-policy accept-new.")
            }
            do {
                try KnownHosts.append(host: name, port: port, key: key, to: file, hashed: target.hashKnownHosts)
            } catch {
                throw SSHError(.hostKeyUnknown, host: target.alias, operation: "record host key", path: file,
                               underlying: "\(error)", message: "could not add the new host key to \(file); check that the file and its directory are writable.")
            }
        }
    }

    private static func describe(_ files: [String]) -> String {
        files.isEmpty ? "any known_hosts file (UserKnownHostsFile none)" : files.joined(separator: ", ")
    }
}
