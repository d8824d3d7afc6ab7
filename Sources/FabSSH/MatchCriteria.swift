import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An IPv4 or IPv6 network as `Match localnetwork` writes it: `address[/bits]`, as OpenSSH's addr_pton_cidr()
/// reads it (host bits must be zero, the mask defaults to the whole address).
struct CIDRNetwork: Sendable, Equatable {
    /// The network's address bytes: 4 for IPv4, 16 for IPv6.
    let address: [UInt8]
    let prefixLength: Int

    /// Parses one list entry; nil when OpenSSH would refuse it.
    init?(_ text: String) {
        // addr_match_cidr_list(): at most INET6_ADDRSTRLEN + 3 characters, from a fixed set.
        guard !text.isEmpty, text.utf8.count <= 49,
              text.unicodeScalars.allSatisfy({ "0123456789abcdefABCDEF.:/".unicodeScalars.contains($0) }) else { return nil }
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { return nil }
        var bytes: [UInt8]
        if parts[0].contains(":") {
            var value = in6_addr()
            guard inet_pton(AF_INET6, String(parts[0]), &value) == 1 else { return nil }
            bytes = withUnsafeBytes(of: &value) { Array($0) }
        } else {
            var value = in_addr()
            guard inet_pton(AF_INET, String(parts[0]), &value) == 1 else { return nil }
            bytes = withUnsafeBytes(of: &value) { Array($0) }
        }
        var length = bytes.count * 8
        if parts.count == 2 {
            guard !parts[1].isEmpty, parts[1].allSatisfy(\.isNumber), let value = Int(parts[1]), value <= length else { return nil }
            length = value
        }
        // Host bits set ("127.0.0.1/8") is an inconsistent mask length for OpenSSH.
        guard CIDRNetwork.masked(bytes, length) == bytes else { return nil }
        address = bytes
        prefixLength = length
    }

    /// Whether `bytes` (4 or 16 address bytes) lie in this network.
    func contains(_ bytes: [UInt8]) -> Bool {
        bytes.count == address.count && CIDRNetwork.masked(bytes, prefixLength) == address
    }

    private static func masked(_ bytes: [UInt8], _ length: Int) -> [UInt8] {
        bytes.enumerated().map { index, byte in
            let bits = max(0, min(8, length - index * 8))
            return bits == 8 ? byte : byte & UInt8(truncatingIfNeeded: 0xFF << (8 - bits))
        }
    }
}

/// The addresses of this machine's network interfaces, for `Match localnetwork`.
enum LocalNetworks {
    /// Whether any local interface address (getifaddrs) lies in one of `networks`, as check_match_ifaddrs().
    static func anyInterface(in networks: [CIDRNetwork]) -> Bool {
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return false }
        defer { freeifaddrs(list) }
        var entry: UnsafeMutablePointer<ifaddrs>? = first
        while let current = entry {
            entry = current.pointee.ifa_next
            guard let address = current.pointee.ifa_addr else { continue }
            var bytes: [UInt8] = []
            switch Int32(address.pointee.sa_family) {
            case AF_INET:
                address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { pointer in
                    var value = pointer.pointee.sin_addr
                    bytes = withUnsafeBytes(of: &value) { Array($0) }
                }
            case AF_INET6:
                address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                    var value = pointer.pointee.sin6_addr
                    bytes = withUnsafeBytes(of: &value) { Array($0) }
                }
            default:
                continue
            }
            if networks.contains(where: { $0.contains(bytes) }) { return true }
        }
        return false
    }
}

/// Runs `Match exec` commands as OpenSSH's execute_in_shell() does: `/bin/sh -c COMMAND` with standard input
/// and output on /dev/null (standard error stays the caller's), matching on exit status 0.
enum MatchExec {
    /// Runs `command` and reports whether it exited 0.
    /// - Throws: ``SSHError`` `.matchExec` naming `file` and `line` when the shell cannot start, the command is
    ///   killed by a signal, or it runs longer than `timeout` seconds (it is then killed).
    static func run(_ command: String, timeout: Double, file: String, line: Int) throws -> Bool {
        func fail(_ problem: String) -> SSHError {
            SSHError.config(.matchExec, file: file, line: line,
                            message: "Match exec \"\(command.prefix(100))\" \(problem); fix the command or the Match line.")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // Its own process group, so a timeout kills whatever the command started too.
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)
        let arguments = ["/bin/sh", "-c", command]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let status = posix_spawn(&pid, "/bin/sh", &actions, &attributes, &argv, environ)
        guard status == 0 else { throw fail("could not start /bin/sh (\(String(cString: strerror(status))))") }
        let deadline = Date().addingTimeInterval(timeout)
        var exit: Int32 = 0
        while true {
            let waited = waitpid(pid, &exit, WNOHANG)
            if waited == pid { break }
            if waited < 0 && errno != EINTR { throw fail("could not be waited for (\(String(cString: strerror(errno))))") }
            if Date() >= deadline {
                kill(-pid, SIGKILL)
                _ = waitpid(pid, &exit, 0)
                throw fail("did not finish within \(Int(timeout)) s and was killed")
            }
            usleep(5_000)
        }
        // WIFEXITED / WEXITSTATUS, which Swift cannot import as macros.
        guard exit & 0x7F == 0 else { throw fail("was killed by signal \(exit & 0x7F)") }
        return (exit >> 8) & 0xFF == 0
    }
}
