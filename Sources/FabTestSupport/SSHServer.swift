import FabProcess
import Foundation

/// A real OpenSSH sshd on loopback, started for a test with fresh host and user keys.
///
/// Everything lives in a private (0700) temporary directory: the config passed with `-f`
/// (so the system's sshd_config.d does not apply), host keys, the user's key pair and a
/// known_hosts file holding this server's key. ``stop()`` kills exactly the sshd it started.
public final class SSHServer: @unchecked Sendable {
    // Mutable state (the process) is touched only by start/stop, which tests call serially.
    public let address: String
    public let port: Int
    /// The account tests log in as (an ordinary user created for tests, see ``TestUser``).
    public let user: String
    public let directory: URL
    /// The user's ed25519 private key (unencrypted), authorised on this server.
    public let privateKeyPath: String
    /// A known_hosts file with this server's host key under `[address]:port`.
    public let knownHostsPath: String
    public let hostKeyPath: String
    public let logPath: String
    private var process: ChildProcess?

    /// Options for the server's config.
    public struct Options: Sendable {
        /// Extra sshd_config lines (for example `ClientAliveInterval 1`).
        public var extraConfig: [String] = []
        /// Enable password and keyboard-interactive authentication (checked against the system's
        /// password database, so the user needs a password set; see ``TestUser/setPassword(_:)``).
        public var passwordAuthentication = false
        /// Host key type: `ed25519` or `ecdsa`.
        public var hostKeyType = "ed25519"
        public init() {}
    }

    /// Starts sshd on `address` and a free port and waits until it answers.
    /// - Throws: ``TestEnvironmentError`` with sshd's log when it does not come up.
    public init(address: String = "127.0.0.1", user: TestUser? = nil, options: Options = Options()) throws {
        let user = try user ?? TestUser.standard()
        self.address = address
        self.user = user.name
        directory = try TemporaryDirectory.make(prefix: "fab-sshd")
        let dir = directory.path
        hostKeyPath = "\(dir)/host_key"
        privateKeyPath = "\(dir)/id_ed25519"
        knownHostsPath = "\(dir)/known_hosts"
        logPath = "\(dir)/sshd.log"
        port = try FreePort.find(on: address)

        _ = try TestShell.run("/usr/bin/ssh-keygen", ["-q", "-t", options.hostKeyType, "-N", "", "-f", hostKeyPath]).checked()
        _ = try TestShell.run("/usr/bin/ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "fab-test", "-f", privateKeyPath]).checked()
        let publicKey = try String(contentsOfFile: privateKeyPath + ".pub", encoding: .utf8)
        try publicKey.write(toFile: "\(dir)/authorized_keys", atomically: true, encoding: .utf8)
        let hostPublic = try String(contentsOfFile: hostKeyPath + ".pub", encoding: .utf8)
            .split(separator: " ").prefix(2).joined(separator: " ")
        try "[\(address)]:\(port) \(hostPublic)\n".write(toFile: knownHostsPath, atomically: true, encoding: .utf8)
        // The test user must be able to read its authorized_keys; the private key stays the test's.
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: "\(dir)/authorized_keys")

        var config = [
            "ListenAddress \(address):\(port)",
            "HostKey \(hostKeyPath)",
            "PidFile \(dir)/sshd.pid",
            "AuthorizedKeysFile \(dir)/authorized_keys",
            "StrictModes no",
            "UsePAM no",
            "PubkeyAuthentication yes",
            "PasswordAuthentication \(options.passwordAuthentication ? "yes" : "no")",
            "KbdInteractiveAuthentication \(options.passwordAuthentication ? "yes" : "no")",
            "PermitRootLogin yes",
            "AllowTcpForwarding yes",
            "AllowUsers \(user.name)",
            "MaxStartups 200:30:400",
            "MaxSessions 100",
            "LogLevel VERBOSE",
            "Subsystem sftp internal-sftp",
            "AcceptEnv FAB_*",
        ]
        config += options.extraConfig
        try (config.joined(separator: "\n") + "\n").write(toFile: "\(dir)/sshd_config", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: "/run/sshd", withIntermediateDirectories: true)

        let process = try ChildProcess.spawn(executable: "/usr/sbin/sshd", arguments: ["-D", "-f", "\(dir)/sshd_config", "-E", logPath])
        self.process = process
        try waitUntilReady()
    }

    deinit { stop() }

    /// The process id of the listening sshd.
    public var pid: Int32 { process?.pid ?? 0 }

    /// An ssh_config block that reaches this server as `alias` with strict host-key checking.
    public func sshConfigBlock(alias: String) -> String {
        """
        Host \(alias)
            HostName \(address)
            Port \(port)
            User \(user)
            IdentityFile \(privateKeyPath)
            IdentitiesOnly yes
            UserKnownHostsFile \(knownHostsPath)
            StrictHostKeyChecking yes

        """
    }

    /// Stops the listening sshd and every session process it forked.
    public func stop() {
        guard let process else { return }
        // Session children have the listener as parent; kill them first so no session outlives the server.
        for child in Self.childProcesses(of: process.pid) { kill(child, SIGKILL) }
        process.terminate(grace: .zero)
        self.process = nil
    }

    /// Kills the session processes (children of the listener) with `signal`, leaving the listener.
    public func signalSessions(_ signal: Int32) {
        for child in Self.childProcesses(of: pid) { kill(child, signal) }
    }

    /// The server's log so far, for failure messages.
    public var log: String { (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "" }

    static func childProcesses(of pid: Int32) -> [Int32] {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var result: [Int32] = []
        for entry in entries {
            guard let candidate = Int32(entry),
                  let stat = try? String(contentsOfFile: "/proc/\(entry)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 1, Int32(fields[1]) == pid {
                result.append(candidate)
                result += childProcesses(of: candidate)
            }
        }
        return result
    }

    private func waitUntilReady() throws {
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline {
            if let banner = try? Self.readBanner(address: address, port: port), banner.hasPrefix("SSH-") { return }
            guard process?.isRunning == true else { break }
            usleep(20_000)
        }
        throw TestEnvironmentError(.machineStartFailed, "sshd on \(address):\(port) did not start; its log:\n\(log)")
    }

    private static func readBanner(address: String, port: Int) throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestEnvironmentError(.machineStartFailed, "socket failed") }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        inet_pton(AF_INET, address, &addr.sin_addr)
        var timeout = timeval(tv_sec: 1, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw TestEnvironmentError(.machineStartFailed, "connect failed") }
        var buffer = [UInt8](repeating: 0, count: 256)
        let n = read(fd, &buffer, buffer.count)
        return n > 0 ? String(decoding: buffer[0..<n], as: UTF8.self) : ""
    }
}

/// Finds a free TCP port on a loopback address.
public enum FreePort {
    /// A port on `address` that nothing listens on now.
    public static func find(on address: String = "127.0.0.1") throws -> Int {
        try LocalSystem.freePort(on: address)
    }
}

/// Private temporary directories for tests.
public enum TemporaryDirectory {
    /// Creates a new 0700 directory under the system's temporary directory.
    public static func make(prefix: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        return url
    }
}

