import CLibSSH2
import Foundation

/// Opens TCP connections with a timeout, the way libssh2 wants its socket: non-blocking, TCP_NODELAY.
enum SocketConnector {
    /// Connects to `host:port`, trying each resolved address in turn until one answers.
    /// - Throws: ``SSHError`` (`.resolve`, `.connect`, `.connectTimeout`) naming the host and the system's reason.
    /// - Parameter configFiles: the ssh_config files in use, named in the advice when the name does not resolve.
    static func connect(host: String, port: Int, label: String, deadline: Double, configFiles: [String] = []) throws -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &list)
        guard status == 0, let first = list else {
            throw SSHError(.resolve, host: label, operation: "connect", underlying: String(cString: gai_strerror(status)),
                           message: "could not resolve '\(host)'; check the name, or give it a HostName in \(configFiles.isEmpty ? "an ssh_config file (fab -F FILE, or ~/.ssh/config)" : configFiles.joined(separator: " or "))).")
        }
        defer { freeaddrinfo(list) }
        var lastError = "no address"
        var timedOut = false
        var entry: UnsafeMutablePointer<addrinfo>? = first
        while let info = entry {
            entry = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
            guard fd >= 0 else { lastError = String(cString: strerror(errno)); continue }
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fab_set_nodelay(fd)
            if Glibc.connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 { return fd }
            guard errno == EINPROGRESS else {
                lastError = String(cString: strerror(errno))
                close(fd)
                continue
            }
            let remaining = deadline - fab_monotonic_seconds()
            var descriptor = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let ready = remaining > 0 ? poll(&descriptor, 1, Int32(remaining * 1000)) : 0
            if ready == 0 {
                timedOut = true
                lastError = "timed out"
                close(fd)
                continue
            }
            var soError: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &length)
            if ready > 0 && soError == 0 { return fd }
            lastError = String(cString: strerror(soError != 0 ? soError : errno))
            close(fd)
        }
        if timedOut {
            throw SSHError(.connectTimeout, host: label, operation: "connect", underlying: lastError,
                           message: "\(host) port \(port) did not answer in time; check that the host is up and the port is right, or raise ConnectTimeout.")
        }
        throw SSHError(.connect, host: label, operation: "connect", underlying: lastError,
                       message: "could not connect to \(host) port \(port) (\(lastError)); check that sshd runs there and the port is right.")
    }
}
