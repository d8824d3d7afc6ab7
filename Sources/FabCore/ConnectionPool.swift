import FabSSH

/// The SSH sessions of one `fab` run: one per host, opened on first use and reused by every
/// task, closed at the end. Concurrent first uses of a host share one connection attempt.
public actor ConnectionPool {
    /// Turns a host as the user wrote it into a connection target (ssh_config, `-H` overrides).
    public typealias Resolver = @Sendable (String) throws -> SSHTarget

    private let resolver: Resolver
    private let secrets: SecretProvider
    private let warnings: SSHWarningHandler?
    private var sessions: [String: Task<SSHSession, any Error>] = [:]
    private var sudoPassword: Secret?
    private var sudoNeedsPassword: [String: Bool] = [:]

    /// - Parameters:
    ///   - resolver: resolves host strings; it decides users, ports, keys and host-key policy.
    ///   - secrets: answers passphrase, password and sudo-password requests (a terminal prompt in `fab`).
    ///   - warnings: receives connection warnings (a host key accepted unchecked under the insecure policy).
    public init(resolver: @escaping Resolver, secrets: @escaping SecretProvider = { _ in nil },
                warnings: SSHWarningHandler? = nil) {
        self.resolver = resolver
        self.secrets = secrets
        self.warnings = warnings
    }

    /// The session for `host`, connecting on first use.
    /// - Throws: ``SSHError`` from resolution or connection.
    public func session(for host: String) async throws -> SSHSession {
        if let existing = sessions[host] { return try await existing.value }
        let resolver = self.resolver, secrets = self.secrets, warnings = self.warnings
        let attempt = Task { try await SSHSession.connect(to: try resolver(host), secrets: secrets, warnings: warnings) }
        sessions[host] = attempt
        do {
            return try await attempt.value
        } catch {
            sessions[host] = nil
            throw error
        }
    }

    /// The connection target `host` resolves to, without connecting.
    public func target(for host: String) throws -> SSHTarget { try resolver(host) }

    /// Whether sudo on `host` needs a password (learned once per host, then cached).
    func sudoNeedsPassword(on host: String, probe: () async throws -> Bool) async throws -> Bool {
        if let known = sudoNeedsPassword[host] { return known }
        let needs = try await probe()
        sudoNeedsPassword[host] = needs
        return needs
    }

    /// The sudo password, asked for once per run and kept in memory only.
    /// - Throws: ``FabError`` when none can be had (no terminal to ask on).
    func sudoPassword(for host: String) throws -> Secret {
        if let sudoPassword { return sudoPassword }
        guard let answer = secrets(.sudoPassword(host: host)) else {
            throw FabError(.sudoPassword, "sudo on \(host) needs a password and none could be asked for; run fab on a terminal, or allow the command in sudoers with NOPASSWD.")
        }
        sudoPassword = answer
        return answer
    }

    /// Forgets a sudo password the host refused, so the next attempt asks again.
    func forgetSudoPassword() { sudoPassword = nil }

    /// Closes every session.
    public func closeAll() async {
        let open = sessions.values
        sessions.removeAll()
        for attempt in open {
            if let session = try? await attempt.value { await session.close() }
        }
    }
}
