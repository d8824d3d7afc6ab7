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
    /// The run's sudo password and the token of its prompt; used from session queues.
    nonisolated let sudoPasswords: SudoPasswords

    /// - Parameters:
    ///   - resolver: resolves host strings; it decides users, ports, keys and host-key policy.
    ///   - secrets: answers passphrase, password and sudo-password requests (a terminal prompt in `fab`).
    ///   - warnings: receives connection warnings (a host key accepted unchecked under the insecure policy).
    public init(resolver: @escaping Resolver, secrets: @escaping SecretProvider = { _ in nil },
                warnings: SSHWarningHandler? = nil) {
        self.resolver = resolver
        self.secrets = secrets
        self.warnings = warnings
        sudoPasswords = SudoPasswords(secrets: secrets)
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

    /// Closes every session.
    public func closeAll() async {
        let open = sessions.values
        sessions.removeAll()
        for attempt in open {
            if let session = try? await attempt.value { await session.close() }
        }
    }
}
