import CCrypto
import CLibSSH2
import Foundation

/// The libssh2 session and its socket, confined to one serial dispatch queue.
///
/// libssh2 is not thread-safe per session, so every call on `session` happens on `queue`
/// (a GCD thread, never Swift's cooperative pool, because the calls wait on the socket).
/// The session runs in non-blocking mode and every wait goes through ``wait(deadline:operation:)``,
/// which is where timeouts, cancellation and keepalives are enforced.
final class SessionCore: @unchecked Sendable {
    let queue: DispatchQueue
    let label: String
    let keepaliveInterval: Int
    let keepaliveCountMax: Int
    private(set) var session: OpaquePointer?
    private(set) var socket: Int32 = -1
    /// Context shared with the C callbacks (kbd-interactive answers, last-receive time).
    let context: UnsafeMutablePointer<fab_session_context>
    /// Forwarding tunnels served by this session (it is a jump host for them).
    var tunnels: [Tunnel] = []
    /// The SFTP channel, opened on first transfer.
    var sftpChannel: SFTPChannel?
    private var pumpScheduled = false
    private var keepaliveTimer: DispatchSourceTimer?
    private var lastKeepaliveSent: Double = 0
    /// Keeps a jump host's session alive for as long as this session uses its tunnel.
    var upstream: SSHSession?

    init(label: String, keepaliveInterval: Int, keepaliveCountMax: Int) {
        self.label = label
        self.queue = DispatchQueue(label: "fab.ssh.\(label)")
        self.keepaliveInterval = keepaliveInterval
        self.keepaliveCountMax = max(1, keepaliveCountMax)
        context = .allocate(capacity: 1)
        context.initialize(to: fab_session_context(kbdintAnswer: nil, kbdintAnswerLength: 0,
                                                   kbdintPromptsSeen: 0, lastReceive: fab_monotonic_seconds()))
    }

    deinit {
        keepaliveTimer?.cancel()
        if let session {
            libssh2_session_free(session)
        }
        if socket >= 0 { close(socket) }
        context.deinitialize(count: 1)
        context.deallocate()
    }

    /// Runs `body` on the session's queue and returns its result to the async caller.
    func perform<T: Sendable>(_ body: @escaping @Sendable (SessionCore) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try body(self) })
            }
        }
    }

    /// The host-key algorithms libssh2 1.10 verifies, in the order fab asks for them when known_hosts says nothing
    /// (rsa-sha2 is missing from 1.10, so RSA comes last).
    static let hostKeyAlgorithms: [HostKeyType] = [.ed25519, .ecdsa256, .ecdsa384, .ecdsa521, .rsa]

    /// The host-key algorithm preference: the types known_hosts holds for the host first, as OpenSSH orders them,
    /// then the rest; so a host known by one type is not asked for another it also has.
    static func hostKeyPreference(known: [HostKeyType]) -> String {
        let first = known.filter { hostKeyAlgorithms.contains($0) }
        return (first + hostKeyAlgorithms.filter { !first.contains($0) }).map(\.rawValue).joined(separator: ",")
    }

    /// Creates the libssh2 session over an already connected socket and runs the handshake.
    /// - Parameter preferredKeyTypes: the host-key types known_hosts holds for the host, asked for first.
    func start(socket: Int32, deadline: Double, preferredKeyTypes: [HostKeyType] = []) throws {
        self.socket = socket
        fab_openssl_no_atexit()
        guard let session = fab_libssh2_session_init(UnsafeMutableRawPointer(context)) else {
            throw SSHError(.handshake, host: label, operation: "connect", message: "libssh2 could not allocate a session.")
        }
        self.session = session
        libssh2_session_set_blocking(session, 0)
        fab_install_recv_callback(session)
        let preference = Self.hostKeyPreference(known: preferredKeyTypes)
        guard libssh2_session_method_pref(session, LIBSSH2_METHOD_HOSTKEY, preference) == 0 else {
            throw SSHError.libssh2(.handshake, session: session, host: label, operation: "SSH handshake",
                                   message: "libssh2 refused the host-key algorithm list \(preference).")
        }
        context.pointee.lastReceive = fab_monotonic_seconds()
        _ = try call("SSH handshake", deadline: deadline) { libssh2_session_handshake(session, socket) }
        if keepaliveInterval > 0 {
            libssh2_keepalive_config(session, 1, UInt32(keepaliveInterval))
        }
    }

    /// Seconds an SFTP request, an authentication step, a channel open or request, or a close may go without an
    /// answer before it fails: the server answers these in milliseconds, so a minute of silence means it is stuck
    /// even while keepalives still flow.
    static let requestTimeout: Double = 60

    /// The deadline for one request to the server: ``requestTimeout`` from now, or `deadline` when sooner.
    static func requestDeadline(within deadline: Double?) -> Double {
        min(deadline ?? .infinity, fab_monotonic_seconds() + requestTimeout)
    }

    /// Repeats a libssh2 call that returns an `Int32` status while it says EAGAIN.
    /// - Throws: ``SSHError`` on timeout, cancellation, a dead peer, or a negative status.
    @discardableResult
    func call(_ operation: String, deadline: Double? = nil, cancel: CancellationFlag? = nil,
              code: SSHError.Code = .channel, _ body: () -> Int32) throws -> Int32 {
        while true {
            let rc = body()
            if rc == LIBSSH2_ERROR_EAGAIN {
                try wait(deadline: deadline, cancel: cancel, operation: operation)
                continue
            }
            if rc < 0 {
                throw failure(rc, operation: operation, code: code)
            }
            return rc
        }
    }

    /// Repeats a libssh2 call that returns a pointer while it returns NULL with EAGAIN.
    func callPointer<T>(_ operation: String, deadline: Double? = nil, cancel: CancellationFlag? = nil,
                        code: SSHError.Code = .channel, _ body: () -> T?) throws -> T {
        while true {
            if let value = body() { return value }
            let errno = libssh2_session_last_errno(session)
            if errno == LIBSSH2_ERROR_EAGAIN {
                try wait(deadline: deadline, cancel: cancel, operation: operation)
                continue
            }
            throw failure(errno, operation: operation, code: code)
        }
    }

    /// Turns a libssh2 error status into an ``SSHError`` with libssh2's message.
    func failure(_ rc: Int32, operation: String, code: SSHError.Code, path: String? = nil) -> SSHError {
        switch rc {
        case LIBSSH2_ERROR_SOCKET_RECV, LIBSSH2_ERROR_SOCKET_SEND, LIBSSH2_ERROR_SOCKET_DISCONNECT:
            return .libssh2(.connectionLost, session: session, host: label, operation: operation, path: path,
                            message: "the connection was closed by the server or the network; check that sshd is running on the host and reconnect.")
        default:
            return .libssh2(code, session: session, host: label, operation: operation, path: path,
                            message: "libssh2 reported an error.")
        }
    }

    /// Waits until the socket is ready in the direction libssh2 is blocked on.
    ///
    /// Waits in short slices so cancellation is noticed promptly; while waiting it sends
    /// keepalives and declares the peer dead after `keepaliveCountMax` silent intervals.
    func wait(deadline: Double?, cancel: CancellationFlag?, operation: String) throws {
        guard let session else { return }
        let directions = libssh2_session_block_directions(session)
        var events: Int16 = 0
        if directions & LIBSSH2_SESSION_BLOCK_INBOUND != 0 { events |= Int16(POLLIN) }
        if directions & LIBSSH2_SESSION_BLOCK_OUTBOUND != 0 { events |= Int16(POLLOUT) }
        if events == 0 { events = Int16(POLLIN) }
        try waitForSocket(events: events, deadline: deadline, cancel: cancel, operation: operation)
    }

    /// The longest remote path fab sends in an SFTP request: Linux's PATH_MAX less its terminating NUL.
    /// Longer paths are refused before anything is sent: libssh2 1.10 sends at most 32 KB of one SFTP packet
    /// and then fails, leaving the server reading the next request as the rest of that one, so every later
    /// request on the session would wait in vain.
    static let maxRemotePathBytes = 4095

    /// Refuses a remote path the host cannot have, before any request is sent.
    /// - Throws: ``SSHError`` `.sftp` naming the length and the limit.
    func checkRemotePath(_ path: String, operation: String) throws {
        let length = path.utf8.count
        guard length > Self.maxRemotePathBytes else { return }
        let shortOperation = operation.utf8.count > 200 ? String(operation.prefix(80)) + "..." : operation
        throw SSHError(.sftp, host: label, operation: shortOperation, path: String(path.prefix(80)) + "...",
                       message: "the remote path is \(length) bytes long, more than the \(Self.maxRemotePathBytes) bytes a Linux path may have (PATH_MAX); use a shorter path.")
    }

    /// Waits like ``wait(deadline:cancel:operation:)`` for the answer to a request sent (or last answered) at
    /// `since`, failing once ``requestTimeout`` seconds pass without one.
    /// - Throws: ``SSHError`` `.timeout` saying how long the server was silent, and as `wait`.
    func waitForReply(since: Double, cancel: CancellationFlag?, operation: String) throws {
        do {
            try wait(deadline: since + Self.requestTimeout, cancel: cancel, operation: operation)
        } catch var error as SSHError where error.code == .timeout {
            error.message = "the server sent no answer for \(Int(Self.requestTimeout)) s although the connection is up; sshd (or its SFTP server) on the host is stuck or overloaded. Check the host and run again."
            throw error
        }
    }

    /// Waits for the answer to an SFTP call. When the wait fails (cancelled, no answer in time, peer gone), the
    /// request may be half sent: `call` (the same libssh2 call, same arguments) is repeated for up to
    /// ``abandonGrace`` seconds so libssh2 finishes sending what it started, and the SFTP channel is marked
    /// broken, so the next request goes over a fresh channel instead of being read as the rest of this one.
    /// - Throws: the wait's ``SSHError``.
    func sftpWait(since: Double, cancel: CancellationFlag?, operation: String, retry call: () -> Int) throws {
        do {
            try waitForReply(since: since, cancel: cancel, operation: operation)
        } catch {
            let grace = fab_monotonic_seconds() + Self.abandonGrace
            while call() == Int(LIBSSH2_ERROR_EAGAIN) {
                guard (try? wait(deadline: grace, cancel: nil, operation: operation)) != nil else { break }
            }
            sftpChannel?.broken = true
            throw error
        }
    }

    /// Seconds an abandoned SFTP call gets to finish sending what it started.
    static let abandonGrace: Double = 5

    /// Shuts a broken SFTP channel down (at most ``requestTimeout`` s; a channel that will not close is left to
    /// the session) and forgets it.
    func retireSFTPChannel(_ channel: SFTPChannel) {
        sftpChannel = nil
        let started = fab_monotonic_seconds()
        while libssh2_sftp_shutdown(channel.handle) == LIBSSH2_ERROR_EAGAIN {
            guard (try? waitForReply(since: started, cancel: nil, operation: "close SFTP")) != nil else { return }
        }
    }

    /// Polls the session socket (and, when serving tunnels, nothing else) for `events`.
    func waitForSocket(events: Int16, deadline: Double?, cancel: CancellationFlag?, operation: String) throws {
        let now = fab_monotonic_seconds()
        if let cancel, cancel.isCancelled {
            throw SSHError(.cancelled, host: label, operation: operation, message: "interrupted before it finished.")
        }
        if let deadline, now >= deadline {
            throw SSHError(.timeout, host: label, operation: operation,
                           message: "no answer within the time limit; the host may be overloaded or unreachable, or the limit too short.")
        }
        try checkAlive(now: now, operation: operation)
        var slice = 0.2
        if let deadline { slice = min(slice, deadline - now) }
        var descriptor = pollfd(fd: socket, events: events, revents: 0)
        let ready = poll(&descriptor, 1, Int32(max(1, slice * 1000)))
        if ready < 0 && errno != EINTR {
            throw SSHError(.connectionLost, host: label, operation: operation, underlying: String(cString: strerror(errno)),
                           message: "waiting on the connection failed.")
        }
    }

    /// Sends a keepalive when one is due and fails when the server has been silent too long.
    func checkAlive(now: Double, operation: String) throws {
        guard keepaliveInterval > 0, let session else { return }
        let silence = now - context.pointee.lastReceive
        if silence > Double(keepaliveInterval * keepaliveCountMax) {
            throw SSHError(.connectionLost, host: label, operation: operation,
                           message: "the server stopped answering: nothing came back for \(Int(silence)) s (\(keepaliveCountMax) keepalives \(keepaliveInterval) s apart went unanswered), so it is down, stopped or unreachable. Check the host; the limit is ServerAliveInterval x ServerAliveCountMax in ssh_config or fab --keepalive SECONDS:COUNT.")
        }
        if now - lastKeepaliveSent >= Double(keepaliveInterval) && silence >= Double(keepaliveInterval) {
            var next: Int32 = 0
            _ = libssh2_keepalive_send(session, &next)
            lastKeepaliveSent = now
        }
    }

    /// Sends keepalives while the session is idle, so it survives a long local step.
    func startIdleKeepalive() {
        guard keepaliveInterval > 0 else { return }
        let timer = DispatchSource.makeTimerSource(queue: queue)
        let interval = Double(keepaliveInterval)
        timer.schedule(deadline: .now() + interval, repeating: interval)
        timer.setEventHandler { [weak self] in
            guard let self, let session = self.session else { return }
            var next: Int32 = 0
            _ = libssh2_keepalive_send(session, &next)
            // The server sees traffic and keeps the session; its replies wait in the socket
            // buffer until the next call, which processes them.
            self.lastKeepaliveSent = fab_monotonic_seconds()
        }
        timer.resume()
        keepaliveTimer = timer
    }

    /// Sends a disconnect message and frees the session; safe to call twice.
    func shutdown() {
        keepaliveTimer?.cancel()
        keepaliveTimer = nil
        for tunnel in tunnels { tunnel.close() }
        tunnels.removeAll()
        if let sftp = sftpChannel?.handle {
            _ = libssh2_sftp_shutdown(sftp)
            sftpChannel = nil
        }
        if let session {
            _ = fab_libssh2_session_disconnect(session, "fab closing")
            libssh2_session_free(session)
            self.session = nil
        }
        if socket >= 0 {
            close(socket)
            socket = -1
        }
        upstream = nil
    }
}

/// A flag another thread sets to interrupt a waiting session call (Task cancellation, Ctrl-C).
final class CancellationFlag: @unchecked Sendable {
    // Written from a cancellation handler on any thread, read on the session queue.
    private let lock = NSLock()
    private var cancelled = false
    var isCancelled: Bool { lock.withLock { cancelled } }
    func cancel() { lock.withLock { cancelled = true } }
}
