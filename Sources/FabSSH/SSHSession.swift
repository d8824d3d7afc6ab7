import CLibSSH2
import Foundation

/// An authenticated SSH session to one host, over which commands run and files transfer.
///
/// Each session owns its libssh2 handle on its own serial queue, so many sessions work in
/// parallel without blocking Swift's cooperative threads, and calls on one session run one
/// after another. The connection is closed by ``close()`` or when the session is released.
public final class SSHSession: Sendable {
    /// Where this session is connected to.
    public let target: SSHTarget
    let core: SessionCore
    /// The answers this session's login was given, so that extra connections for parallel
    /// transfer streams log in without asking again.
    let answers: SecretRecorder
    /// Where warnings for the caller go (see ``SSHWarningHandler``).
    let warnings: SSHWarningHandler?

    private init(target: SSHTarget, core: SessionCore, answers: SecretRecorder, warnings: SSHWarningHandler?) {
        self.target = target
        self.core = core
        self.answers = answers
        self.warnings = warnings
    }

    deinit {
        let core = self.core
        core.queue.async { core.shutdown() }
    }

    /// Connects, verifies the host key and logs in, through `target.jumpHosts` when there are any.
    ///
    /// Each hop's host key is checked under its own policy (see ``HostKeyPolicy``); the key types known_hosts
    /// holds for a host are preferred when negotiating. A connection the server closes during the SSH handshake
    /// (sshd's `MaxStartups` throttling) is tried again, three attempts in about 2 s in all.
    /// - Parameters:
    ///   - target: the resolved host (see ``SSHTarget``).
    ///   - secrets: answers passphrase and password requests, only when the server needs one.
    ///   - warnings: receives warnings, such as a host key accepted unchecked or changed under `.insecure`.
    /// - Throws: ``SSHError`` naming the host and the failing step (connect, handshake, host key, authentication).
    public static func connect(to target: SSHTarget, secrets: @escaping SecretProvider = { _ in nil },
                               warnings: SSHWarningHandler? = nil) async throws -> SSHSession {
        let answers = SecretRecorder(secrets)
        var upstream: SSHSession?
        for hop in target.jumpHosts {
            var hop = hop
            hop.jumpHosts = []
            let core = try await open(hop, via: upstream, secrets: answers.provider, warnings: warnings)
            upstream = SSHSession(target: hop, core: core, answers: answers, warnings: warnings)
        }
        let core = try await open(target, via: upstream, secrets: answers.provider, warnings: warnings)
        return SSHSession(target: target, core: core, answers: answers, warnings: warnings)
    }

    /// Another connection to the same target, logged in with the answers this one was given
    /// (it never asks the user); used for parallel transfer streams.
    func sibling() async throws -> SSHSession {
        try await Self.connect(to: target, secrets: answers.replay, warnings: warnings)
    }

    /// Pauses before each retry of a connection the server closed during the handshake (MaxStartups):
    /// three attempts, about 1.9 s of waiting in all.
    static let handshakeRetryDelays: [Double] = [0.4, 1.5]

    /// Connects one hop (directly, or through `upstream`'s tunnel) and returns its logged-in core,
    /// retrying when the server drops the connection before the handshake completes.
    private static func open(_ target: SSHTarget, via upstream: SSHSession?, secrets: @escaping SecretProvider,
                             warnings: SSHWarningHandler?) async throws -> SessionCore {
        let (name, port) = HostKeyVerifier.lookup(target)
        let knownHosts = KnownHosts.load(paths: target.knownHostsFiles)
        let preferred = knownHosts.knownTypes(host: name, port: port)
        var attempt = 0
        while true {
            do {
                return try await openOnce(target, via: upstream, knownHosts: knownHosts, preferredKeyTypes: preferred,
                                          secrets: secrets, warnings: warnings)
            } catch let error as SSHError where error.code == .connectionLost && error.operation == "SSH handshake" {
                guard attempt < handshakeRetryDelays.count else {
                    var refused = error
                    refused.code = .throttled
                    refused.message = "the server accepted the TCP connection but closed it during the SSH handshake \(attempt + 1) times in a row: it is refusing new connections, most likely because too many unauthenticated connections are open (sshd's MaxStartups). Retry later, connect to fewer hosts at once (fab --pool-size), or raise MaxStartups in the server's sshd_config."
                    throw refused
                }
                try await Task.sleep(nanoseconds: UInt64(handshakeRetryDelays[attempt] * 1_000_000_000))
                attempt += 1
            }
        }
    }

    private static func openOnce(_ target: SSHTarget, via upstream: SSHSession?, knownHosts: KnownHosts,
                                 preferredKeyTypes: [HostKeyType], secrets: @escaping SecretProvider,
                                 warnings: SSHWarningHandler?) async throws -> SessionCore {
        let core = SessionCore(label: target.alias, keepaliveInterval: target.serverAliveInterval,
                               keepaliveCountMax: target.serverAliveCountMax)
        var tunnelSocket: Int32?
        if let upstream {
            do {
                tunnelSocket = try await upstream.core.perform { jump in
                    try jump.openTunnel(host: target.hostName, port: target.port,
                                        deadline: fab_monotonic_seconds() + target.connectTimeout)
                }
            } catch var error as SSHError {
                error.host = target.alias
                error.operation = "connect through \(upstream.target.alias)"
                throw error
            }
        }
        // Connect, handshake, verify and log in in one block on the session's queue, with the
        // deadline taken there: a busy cooperative pool between steps cannot eat the timeout.
        try await core.perform { [tunnelSocket] core in
            let deadline = fab_monotonic_seconds() + target.connectTimeout
            let socket = try tunnelSocket ?? SocketConnector.connect(host: target.hostName, port: target.port, label: target.alias,
                                                                      deadline: deadline, configFiles: target.configFiles)
            core.upstream = upstream
            do {
                try core.start(socket: socket, deadline: deadline, preferredKeyTypes: preferredKeyTypes)
            } catch var error as SSHError where error.code == .channel || error.code == .timeout || error.code == .connectionLost {
                error.operation = "SSH handshake"
                switch error.code {
                case .timeout:
                    error.code = .connectTimeout
                    error.message = "the server did not complete the SSH handshake in time; check that an SSH server listens on port \(target.port)."
                case .connectionLost:
                    error.message = "the server closed the connection during the SSH handshake; check that sshd is running and accepts connections."
                default:
                    error.code = .handshake
                    error.message = "the SSH handshake failed; the server may offer no key exchange, cipher or host key type that libssh2 1.10 supports (it needs ed25519 or ECDSA host keys, aes-ctr ciphers and non-EtM MACs)."
                }
                throw error
            }
            try HostKeyVerifier(core: core, target: target, knownHosts: knownHosts, warnings: warnings).verify()
            try Authenticator(core: core, target: target, secrets: secrets).authenticate()
            core.startIdleKeepalive()
        }
        return core
    }

    /// Runs one command and waits for it to finish.
    ///
    /// A non-zero exit is returned in the result, not thrown. Cancelling the calling task
    /// closes the channel and throws ``SSHError/Code/cancelled``.
    /// - Parameters:
    ///   - command: the command line, run by the login user's shell on the host.
    ///   - options: PTY, environment, stdin, timeout and capture limit.
    ///   - onLine: called with each complete output line as it arrives (on the session's queue).
    /// - Throws: ``SSHError`` when the command cannot be started, times out, is cancelled or the connection drops.
    public func execute(_ command: String, options: ExecOptions = ExecOptions(),
                        onLine: OutputLineHandler? = nil) async throws -> ExecResult {
        try await performCancellable { core, cancel in
            try core.execute(command, options: options, onLine: onLine, cancel: cancel)
        }
    }

    /// Runs `body` on the session's queue; cancelling the calling task raises the flag `body` polls.
    func performCancellable<T: Sendable>(_ body: @escaping @Sendable (SessionCore, CancellationFlag) throws -> T) async throws -> T {
        let cancel = CancellationFlag()
        return try await withTaskCancellationHandler {
            try await core.perform { core in try body(core, cancel) }
        } onCancel: {
            cancel.cancel()
        }
    }

    /// Closes the connection (and, when this is the last user, the jump hosts' connections).
    public func close() async {
        _ = try? await core.perform { core in core.shutdown() }
    }
}
