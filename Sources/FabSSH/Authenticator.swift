import CLibSSH2
import Foundation

/// Logs in on a handshaken session, trying methods in OpenSSH's order:
/// public keys (agent, then identity files), keyboard-interactive, password.
///
/// Runs on the session's queue. Records every attempt so a total failure can say what was tried.
struct Authenticator {
    let core: SessionCore
    let target: SSHTarget
    let secrets: SecretProvider

    /// One attempt, for the failure message.
    private struct Attempt {
        var method: String
        var detail: String
    }

    func authenticate() throws {
        guard let session = core.session else { return }
        let user = target.user
        let userLength = UInt32(user.utf8.count)
        var listPointer: UnsafeMutablePointer<CChar>?
        let started = fab_monotonic_seconds()
        while true {
            listPointer = libssh2_userauth_list(session, user, userLength)
            if listPointer != nil || libssh2_userauth_authenticated(session) != 0 { break }
            let rc = libssh2_session_last_errno(session)
            guard rc == LIBSSH2_ERROR_EAGAIN else { throw core.failure(rc, operation: "authenticate", code: .authentication) }
            try core.waitForReply(since: started, cancel: nil, operation: "authenticate")
        }
        if libssh2_userauth_authenticated(session) != 0 { return } // the server accepted "none"
        let offered = Set((listPointer.map { String(cString: $0) } ?? "").split(separator: ",").map(String.init))

        var attempts: [Attempt] = []
        var refusedRSA: [String] = []

        if offered.contains("publickey") {
            let agentKeys = target.useAgent ? try tryAgent(session: session, attempts: &attempts, refusedRSA: &refusedRSA) : false
            if agentKeys { return }
            for path in identityFiles() {
                if try tryKeyFile(path, session: session, attempts: &attempts, refusedRSA: &refusedRSA) { return }
            }
        }
        if offered.contains("keyboard-interactive") {
            let request = SecretRequest.keyboardInteractive(user: user, host: target.alias, prompt: "Password: ")
            if let answer = secrets(request) {
                if try tryKeyboardInteractive(answer, session: session) { return }
                attempts.append(Attempt(method: "keyboard-interactive", detail: "answer refused"))
            } else {
                attempts.append(Attempt(method: "keyboard-interactive", detail: "no answer available"))
            }
        }
        if offered.contains("password") {
            if let password = secrets(.password(user: user, host: target.alias)) {
                if try tryPassword(password, session: session) { return }
                attempts.append(Attempt(method: "password", detail: "password refused"))
            } else {
                attempts.append(Attempt(method: "password", detail: "no password available"))
            }
        }

        let tried = attempts.isEmpty ? "nothing (no keys, agent or password available)"
            : attempts.map { "\($0.method) (\($0.detail))" }.joined(separator: ", ")
        // Every key the server refused was RSA: that is libssh2 1.10's SHA-1 signature, not the key.
        let refusedKeys = attempts.filter { $0.detail.hasSuffix("key refused") }.count
        if !refusedRSA.isEmpty && refusedKeys == refusedRSA.count {
            throw SSHError(.rsaKeyRefused, host: target.alias, operation: "authenticate as \(user)",
                           message: "the server refused your RSA key (\(refusedRSA.joined(separator: ", "))): Debian bookworm's libssh2 1.10 signs RSA keys with SHA-1 only (ssh-rsa), which OpenSSH 8.8 and later refuse. Create an ed25519 key (ssh-keygen -t ed25519), add its .pub to the server's ~/.ssh/authorized_keys, and use it (IdentityFile or -i).")
        }
        throw SSHError(.authentication, host: target.alias, operation: "authenticate as \(user)",
                       message: "the server (offering \(offered.sorted().joined(separator: ","))) refused every method tried: \(tried). Check the user name, add your public key to ~/.ssh/authorized_keys on the host, or load it into ssh-agent.")
    }

    /// Identity files to try: the configured ones, else OpenSSH's defaults that exist.
    private func identityFiles() -> [String] {
        if !target.identityFiles.isEmpty { return target.identityFiles }
        let home = FileManager.default.homeDirectoryForCurrentUser.path
        return ["id_rsa", "id_ecdsa", "id_ed25519"].map { "\(home)/.ssh/\($0)" }
            .filter { FileManager.default.fileExists(atPath: $0) }
    }

    private func tryAgent(session: OpaquePointer, attempts: inout [Attempt], refusedRSA: inout [String]) throws -> Bool {
        guard ProcessInfo.processInfo.environment["SSH_AUTH_SOCK"] != nil,
              let agent = libssh2_agent_init(session) else { return false }
        defer {
            libssh2_agent_disconnect(agent)
            libssh2_agent_free(agent)
        }
        guard libssh2_agent_connect(agent) == 0, libssh2_agent_list_identities(agent) == 0 else {
            attempts.append(Attempt(method: "publickey", detail: "ssh-agent not reachable"))
            return false
        }
        // With IdentitiesOnly, only agent keys whose public half matches a configured file are offered.
        let allowedBlobs: Set<[UInt8]>? = target.identitiesOnly
            ? Set(target.identityFiles.compactMap { PrivateKeyFile.publicKeyBlob(forPrivateKeyAt: $0) }) : nil
        var previous: UnsafeMutablePointer<libssh2_agent_publickey>?
        while true {
            var identity: UnsafeMutablePointer<libssh2_agent_publickey>?
            guard libssh2_agent_get_identity(agent, &identity, previous) == 0, let identity else { break }
            previous = identity
            let blob = Array(UnsafeBufferPointer(start: identity.pointee.blob, count: Int(identity.pointee.blob_len)))
            if let allowedBlobs, !allowedBlobs.contains(blob) { continue }
            let comment = identity.pointee.comment.map { String(cString: $0) } ?? "agent key"
            let rc = try retry { libssh2_agent_userauth(agent, target.user, identity) }
            if rc == 0 { return true }
            attempts.append(Attempt(method: "publickey", detail: "agent key refused"))
            if PrivateKeyFile.keyType(ofBlob: blob) == "ssh-rsa" { refusedRSA.append("\(comment) from ssh-agent") }
        }
        return false
    }

    private func tryKeyFile(_ path: String, session: OpaquePointer, attempts: inout [Attempt], refusedRSA: inout [String]) throws -> Bool {
        guard FileManager.default.isReadableFile(atPath: path) else {
            if !target.identityFiles.isEmpty {
                attempts.append(Attempt(method: "publickey", detail: "\(path) not readable"))
            }
            return false
        }
        let key = PrivateKeyFile(path: path)
        var passphrase: Secret?
        if key.isEncrypted {
            passphrase = secrets(.keyPassphrase(path: path))
            if passphrase == nil {
                attempts.append(Attempt(method: "publickey", detail: "\(path) is encrypted and no passphrase was given"))
                return false
            }
        }
        // No .pub path: libssh2 then derives the public key from the private one, so a wrong
        // passphrase shows up as a file error instead of a misleading "key refused".
        let rc = try retry {
            (passphrase ?? Secret("")).withRevealed { phrase in
                libssh2_userauth_publickey_fromfile_ex(session, target.user, UInt32(target.user.utf8.count),
                                                       nil, path, phrase)
            }
        }
        if rc == 0 { return true }
        if rc == LIBSSH2_ERROR_FILE {
            let reason = key.isEncrypted ? "wrong passphrase or unsupported key format" : "unreadable or unsupported key format"
            attempts.append(Attempt(method: "publickey", detail: "\(path): \(reason)"))
            return false
        }
        attempts.append(Attempt(method: "publickey", detail: "key refused"))
        if key.keyType == "ssh-rsa" { refusedRSA.append(path) }
        return false
    }

    private func tryKeyboardInteractive(_ answer: Secret, session: OpaquePointer) throws -> Bool {
        let rc: Int32 = try answer.withRevealed { text in
            try text.utf8CString.withUnsafeBufferPointer { buffer in
                core.context.pointee.kbdintAnswer = buffer.baseAddress
                core.context.pointee.kbdintAnswerLength = UInt32(text.utf8.count)
                defer {
                    core.context.pointee.kbdintAnswer = nil
                    core.context.pointee.kbdintAnswerLength = 0
                }
                return try retry { fab_libssh2_userauth_kbdint(session, target.user, UInt32(target.user.utf8.count)) }
            }
        }
        return rc == 0
    }

    private func tryPassword(_ password: Secret, session: OpaquePointer) throws -> Bool {
        let rc = try retry {
            password.withRevealed { text in
                libssh2_userauth_password_ex(session, target.user, UInt32(target.user.utf8.count),
                                             text, UInt32(text.utf8.count), nil)
            }
        }
        return rc == 0
    }

    /// Repeats an authentication call while it says EAGAIN; returns its final status
    /// (a refusal is a status, not an error; a lost connection is an error).
    /// Each call gets ``SessionCore/requestTimeout`` for the server's answer (prompts for secrets happen between
    /// calls, so a slow typist never times out).
    private func retry(_ body: () -> Int32) throws -> Int32 {
        let started = fab_monotonic_seconds()
        while true {
            let rc = body()
            if rc == LIBSSH2_ERROR_EAGAIN {
                try core.waitForReply(since: started, cancel: nil, operation: "authenticate")
                continue
            }
            if rc == LIBSSH2_ERROR_SOCKET_RECV || rc == LIBSSH2_ERROR_SOCKET_SEND || rc == LIBSSH2_ERROR_SOCKET_DISCONNECT {
                throw core.failure(rc, operation: "authenticate", code: .authentication)
            }
            return rc
        }
    }
}
