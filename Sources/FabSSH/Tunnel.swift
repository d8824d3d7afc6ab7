import CLibSSH2
import Foundation

/// A direct-tcpip channel of a jump host's session, bridged to one end of a local socket pair.
///
/// The inner session (the host behind the jump) uses the other end as its socket, so it runs
/// exactly like a direct TCP session. The jump session's queue pumps bytes both ways.
final class Tunnel {
    private var channel: OpaquePointer?
    /// The jump session's end of the socket pair.
    let localEnd: Int32
    /// Bytes read from the channel, not yet written to the socket pair.
    private var inbound: [UInt8] = []
    /// Bytes read from the socket pair, not yet written to the channel.
    private var outbound: [UInt8] = []
    private var localClosed = false
    private var remoteClosed = false
    private var buffer = [UInt8](repeating: 0, count: 64 * 1024)

    init(channel: OpaquePointer, localEnd: Int32) {
        self.channel = channel
        self.localEnd = localEnd
    }

    var isFinished: Bool { channel == nil }

    /// Poll events wanted on the local end right now.
    var localEvents: Int16 {
        var events: Int16 = 0
        if outbound.isEmpty && !localClosed { events |= Int16(POLLIN) }
        if !inbound.isEmpty { events |= Int16(POLLOUT) }
        return events
    }

    /// Moves whatever can move without blocking; returns whether anything moved.
    @discardableResult
    func pump() -> Bool {
        guard let channel else { return false }
        var progressed = false
        // Channel -> local.
        while inbound.count < 256 * 1024 && !remoteClosed {
            let n = buffer.withUnsafeMutableBytes { raw in
                fab_libssh2_channel_read(channel, 0, raw.baseAddress!.assumingMemoryBound(to: CChar.self), raw.count)
            }
            if n > 0 {
                inbound.append(contentsOf: buffer[0..<n])
                progressed = true
            } else if n == 0 {
                if libssh2_channel_eof(channel) != 0 { remoteClosed = true }
                break
            } else if Int32(n) == LIBSSH2_ERROR_EAGAIN {
                break
            } else {
                remoteClosed = true
                break
            }
        }
        if !inbound.isEmpty {
            let written = inbound.withUnsafeBytes { Glibc.write(localEnd, $0.baseAddress, $0.count) }
            if written > 0 {
                inbound.removeFirst(written)
                progressed = true
            } else if written < 0 && errno != EAGAIN && errno != EINTR {
                localClosed = true
                inbound.removeAll()
            }
        }
        // Local -> channel.
        if outbound.isEmpty && !localClosed {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(localEnd, $0.baseAddress, $0.count) }
            if n > 0 {
                outbound.append(contentsOf: buffer[0..<n])
                progressed = true
            } else if n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) {
                localClosed = true
            }
        }
        while !outbound.isEmpty {
            let n = outbound.withUnsafeBytes { raw in
                fab_libssh2_channel_write(channel, raw.baseAddress!.assumingMemoryBound(to: CChar.self), raw.count)
            }
            if n > 0 {
                outbound.removeFirst(n)
                progressed = true
            } else if Int32(n) == LIBSSH2_ERROR_EAGAIN {
                break
            } else {
                remoteClosed = true
                outbound.removeAll()
                break
            }
        }
        if (localClosed && outbound.isEmpty) || (remoteClosed && inbound.isEmpty) {
            close()
            return true
        }
        return progressed
    }

    /// Closes the channel and the local end; the inner session sees its socket close.
    func close() {
        guard let channel else { return }
        _ = libssh2_channel_close(channel)
        _ = libssh2_channel_free(channel)
        self.channel = nil
        Glibc.close(localEnd)
    }
}

extension SessionCore {
    /// Opens a direct-tcpip channel to `host:port` and returns a socket for the inner session.
    /// Runs on this session's queue.
    func openTunnel(host: String, port: Int, deadline: Double) throws -> Int32 {
        guard let session else {
            throw SSHError(.proxyJump, host: label, operation: "open tunnel", message: "the jump host's session is closed.")
        }
        let channel: OpaquePointer
        do {
            channel = try callPointer("open tunnel to \(host):\(port)", deadline: deadline, code: .proxyJump) {
                fab_libssh2_channel_direct_tcpip(session, host, Int32(port))
            }
        } catch let error as SSHError {
            var error = error
            error.message = "the jump host could not open a connection to \(host) port \(port); check that the name resolves from the jump host and that its sshd allows TCP forwarding (AllowTcpForwarding)."
            throw error
        }
        var pair: [Int32] = [0, 0]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &pair) == 0 else {
            _ = libssh2_channel_free(channel)
            throw SSHError(.proxyJump, host: label, operation: "open tunnel", underlying: String(cString: strerror(errno)),
                           message: "could not create a local socket pair.")
        }
        for fd in pair {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        }
        tunnels.append(Tunnel(channel: channel, localEnd: pair[0]))
        schedulePump()
        return pair[1]
    }

    /// Keeps pumping tunnels on this queue, yielding between rounds so other calls get in.
    func schedulePump() {
        queue.async { [weak self] in self?.pumpRound() }
    }

    private func pumpRound() {
        tunnels.removeAll { $0.isFinished }
        guard session != nil, !tunnels.isEmpty else { return }
        var progressed = false
        for tunnel in tunnels where tunnel.pump() { progressed = true }
        tunnels.removeAll { $0.isFinished }
        guard !tunnels.isEmpty, let session else { return }
        if !progressed {
            var descriptors = [pollfd(fd: socket, events: Int16(POLLIN), revents: 0)]
            if libssh2_session_block_directions(session) & LIBSSH2_SESSION_BLOCK_OUTBOUND != 0 {
                descriptors[0].events |= Int16(POLLOUT)
            }
            descriptors += tunnels.map { pollfd(fd: $0.localEnd, events: $0.localEvents, revents: 0) }
            _ = poll(&descriptors, nfds_t(descriptors.count), 50)
            if (try? checkAlive(now: fab_monotonic_seconds(), operation: "forward")) == nil {
                for tunnel in tunnels { tunnel.close() }
                tunnels.removeAll()
                return
            }
        }
        schedulePump()
    }
}
