import FabSSH
import FabTestSupport
import Foundation

/// The sshd instances, ssh_config and scratch directory a benchmark run uses, and their teardown.
///
/// One main server on 127.0.0.1 (scenarios 1, 2 and 4) and `fanOutHosts` servers on
/// 127.0.0.2, 127.0.0.3, ... (scenario 3), all logging in the ordinary test user.
/// ``tearDown()`` stops every sshd (and its session children, so a ControlPersist master dies
/// with it) and deletes every directory; it also runs on SIGINT and SIGTERM.
final class BenchFixture: @unchecked Sendable {
    // Mutated only during set-up (one thread) and teardown (guarded by `lock`).
    let main: SSHServer
    let fanOut: [SSHServer]
    let scratch: URL
    /// The ssh_config every OpenSSH command is given with -F.
    let configPath: String
    /// Where OpenSSH clients' stderr goes, shown when one fails.
    let logPath: String
    let controlPath: String
    /// A directory the test user owns, for the remote side of transfers (same machine, so teardown deletes it).
    let remoteScratch: String
    private let lock = NSLock()
    private var tornDown = false
    private var signalSources: [DispatchSourceSignal] = []

    /// The algorithms libssh2 1.10 negotiates with OpenSSH 9.2; OpenSSH is pinned to them.
    static let cipher = "aes128-ctr"
    static let mac = "hmac-sha2-256"
    static let kex = "curve25519-sha256"

    init(fanOutHosts: Int, progress: (String) -> Void) throws {
        let user = try TestUser.standard()
        scratch = try TemporaryDirectory.make(prefix: "fab-bench")
        configPath = scratch.path + "/ssh_config"
        logPath = scratch.path + "/ssh-stderr.log"
        controlPath = scratch.path + "/cm"
        remoteScratch = "/tmp/fab-bench-remote-\(UUID().uuidString.prefix(8))"
        var started: [SSHServer] = []
        do {
            progress("starting \(fanOutHosts + 1) sshd instances as user \(user.name)")
            let main = try SSHServer(address: "127.0.0.1", user: user)
            started.append(main)
            for index in 0..<fanOutHosts {
                started.append(try SSHServer(address: "127.0.0.\(index + 2)", user: user))
            }
        } catch {
            for server in started { Self.stop(server) }
            try? FileManager.default.removeItem(at: scratch)
            throw error
        }
        main = started[0]
        fanOut = Array(started.dropFirst())
        var config = Self.configBlock(main, alias: "main")
            + Self.configBlock(main, alias: "main-defaults", pinAlgorithms: false)
        for (index, server) in fanOut.enumerated() { config += Self.configBlock(server, alias: "fan\(index)") }
        installSignalHandlers()
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: remoteScratch, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o700])
        guard chown(remoteScratch, getpwnam(user.name).pointee.pw_uid, getpwnam(user.name).pointee.pw_gid) == 0 else {
            throw BenchFailure("could not give \(remoteScratch) to \(user.name): \(String(cString: strerror(errno))).")
        }
    }

    deinit { tearDown() }

    /// One Host block: the server's own key and known_hosts, strict checking, no agent, no prompts,
    /// and (unless `pinAlgorithms` is false) the same key exchange, cipher and MAC that libssh2 uses.
    static func configBlock(_ server: SSHServer, alias: String, pinAlgorithms: Bool = true) -> String {
        let algorithms = pinAlgorithms ? """
                KexAlgorithms \(kex)
                Ciphers \(cipher)
                MACs \(mac)

            """ : ""
        return """
        Host \(alias)
            HostName \(server.address)
            Port \(server.port)
            User \(server.user)
            IdentityFile \(server.privateKeyPath)
            IdentitiesOnly yes
            IdentityAgent none
            UserKnownHostsFile \(server.knownHostsPath)
            GlobalKnownHostsFile /dev/null
            StrictHostKeyChecking yes
            BatchMode yes
            LogLevel ERROR
        \(algorithms)
        """
    }

    /// Stops every sshd and deletes every file the run made; safe to call twice and from a signal handler.
    func tearDown() {
        let servers: [SSHServer]? = lock.withLock {
            if tornDown { return nil }
            tornDown = true
            return [main] + fanOut
        }
        guard let servers else { return }
        for source in signalSources { source.cancel() }
        for server in servers { Self.stop(server) }
        try? FileManager.default.removeItem(at: scratch)
        try? FileManager.default.removeItem(atPath: remoteScratch)
    }

    private static func stop(_ server: SSHServer) {
        server.stop()
        try? FileManager.default.removeItem(at: server.directory)
    }

    private func installSignalHandlers() {
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { [weak self] in
                FileHandle.standardError.write(Data("\nfab-bench: interrupted; stopping sshd instances and removing files\n".utf8))
                self?.tearDown()
                exit(128 + signalNumber)
            }
            source.resume()
            signalSources.append(source)
        }
    }
}
