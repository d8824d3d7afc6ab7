import FabProcess
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
        let termination: Termination
        do {
            // Its own process group (ChildProcess's default), so a timeout kills whatever the command started too.
            let child = try ChildProcess.spawn(executable: "/bin/sh", arguments: ["-c", command],
                                               standardInput: .null, standardOutput: .null, standardError: .inherit)
            termination = try child.wait(deadline: .seconds(timeout))
        } catch let error as ProcessError where error.code == .timedOut {
            throw fail("did not finish within \(Int(timeout)) s and was killed")
        } catch {
            throw fail("could not start /bin/sh (\(error))")
        }
        if case .signalled(let signal) = termination { throw fail("was killed by signal \(signal) (\(termination.signalName ?? "?"))") }
        return termination.succeeded
    }
}
