#if os(Linux)
import FabProcess
import Foundation
import Glibc
import Synchronization

/// A clean, minimal Debian bookworm "machine" for end-to-end tests, reachable over SSH on loopback.
///
/// Each machine is an overlayfs copy of one cached `debootstrap --variant=minbase` tree (with
/// openssh-server, ca-certificates and sudo, but no Python), mounted at ``root`` with /proc and a
/// small /dev, with the host's DNS, CA certificates and pip configuration copied in, its own host
/// keys and its own sshd listening on its own loopback address. It shares the host's network (so apt
/// and pip reach the same mirrors and proxies as the host) but has its own files and dpkg database.
///
/// ```swift
/// let machine = try CleanMachine.start(.init(passwordlessSudo: true))
/// defer { try? machine.shutdown() }
/// let result = try machine.ssh("id -un")   // the real OpenSSH client, host key checked strictly
/// ```
///
/// Requirements: Linux, root, overlayfs, `debootstrap`, `openssh-client` (ssh-keygen) on the host,
/// and Debian's archive reachable for the first start (about 45 s to build the cached base tree).
///
/// The handle is a `final class` rather than a struct because it owns resources that must be
/// released exactly once (the sshd process, the mounts, a lock that marks the machine as alive);
/// its only mutable state is behind a `Mutex`, which is what makes it `Sendable`.
public final class CleanMachine: Sendable {
    /// How to set up a machine.
    public struct Configuration: Sendable {
        /// The ordinary user that logs in by key (created with a `*` password field).
        public var user: String
        /// Whether ``user`` gets passwordless sudo (`USER ALL=(ALL:ALL) NOPASSWD: ALL`).
        public var passwordlessSudo: Bool
        /// Debian packages installed with `apt-get install --no-install-recommends` at start
        /// (after an `apt-get update`); empty for the bare base, as a fresh VM would be.
        public var extraPackages: [String]
        /// The loopback address sshd listens on; `nil` picks a fresh one in 127.100.0.0 to 127.199.255.255.
        public var address: String?
        /// The port sshd listens on; `nil` means 22 if it is free on the address, else a free port.
        public var port: Int?

        /// Creates a configuration; every parameter has a default (user `deploy`, no sudo, no extra packages).
        public init(user: String = "deploy", passwordlessSudo: Bool = false, extraPackages: [String] = [],
                    address: String? = nil, port: Int? = nil) {
            self.user = user
            self.passwordlessSudo = passwordlessSudo
            self.extraPackages = extraPackages
            self.address = address
            self.port = port
        }
    }

    /// How long one step of ``start(_:)`` took.
    public struct StepTiming: Sendable, CustomStringConvertible {
        /// The step's name, such as `base`, `mount` or `sshd`.
        public let step: String
        /// How long it took.
        public let duration: Duration
        public var description: String { "\(step): \(duration)" }
    }

    /// The loopback address sshd listens on.
    public let host: String
    /// The port sshd listens on.
    public let port: Int
    /// The ordinary user that logs in by key.
    public let user: String
    /// The user's private ed25519 key (mode 0600, outside the machine).
    public let privateKeyPath: String
    /// The user's public key.
    public let publicKeyPath: String
    /// A known_hosts file holding exactly this machine's host keys, for strict host-key checking.
    public let knownHostsPath: String
    /// This machine's host public keys, as `TYPE BASE64` lines.
    public let hostPublicKeys: [String]
    /// The machine's root directory on the host (the overlay mount point).
    public let root: String
    /// The machine's private directory (overlay layers, client keys, logs), removed by ``shutdown()``.
    public let directory: String
    /// The process id of the machine's sshd listener.
    public let sshdProcessID: Int32
    /// How long each step of ``start(_:)`` took.
    public let timings: [StepTiming]

    private struct State: ~Copyable {
        var sshd: ChildProcess?
        var lock: FileLock?
        var isShutDown = false
    }

    private let state: Mutex<State>

    private init(host: String, port: Int, user: String, privateKeyPath: String, publicKeyPath: String,
                 knownHostsPath: String, hostPublicKeys: [String], root: String, directory: String,
                 sshd: ChildProcess, lock: FileLock, timings: [StepTiming]) {
        self.host = host
        self.port = port
        self.user = user
        self.privateKeyPath = privateKeyPath
        self.publicKeyPath = publicKeyPath
        self.knownHostsPath = knownHostsPath
        self.hostPublicKeys = hostPublicKeys
        self.root = root
        self.directory = directory
        self.sshdProcessID = sshd.pid
        self.timings = timings
        self.state = Mutex(State(sshd: sshd, lock: lock))
    }

    deinit {
        try? shutdown()
    }

    // MARK: - Locations

    /// The name of the cached base tree; bump the version when its contents change.
    public static let baseName = "bookworm-minbase-v1"

    /// Packages added to debootstrap's minbase variant in the base tree.
    public static let basePackages = ["openssh-server", "ca-certificates", "sudo"]

    /// The Debian mirror the base tree and the machines' `sources.list` use.
    public static let debianMirror = "http://deb.debian.org/debian"

    /// Where the base tree is cached: `$FAB_TEST_CACHE`, else `/var/cache/fab-tests` (outside the repository).
    public static var cacheDirectory: String {
        let value = ProcessInfo.processInfo.environment["FAB_TEST_CACHE"] ?? ""
        return value.isEmpty ? "/var/cache/fab-tests" : value
    }

    /// The cached base tree's path (it exists once ``prepareBase()`` has returned).
    public static var basePath: String { cacheDirectory + "/" + baseName }

    /// Where machines live while they run: `fab-clean-machines` in the temporary directory.
    public static var machinesDirectory: String {
        LocalSystem.realPath(NSTemporaryDirectory()) + "/fab-clean-machines"
    }

    // MARK: - Base tree

    /// Makes sure the cached base tree exists, building it with debootstrap if needed, and returns its path.
    ///
    /// The tree is built under a temporary name and renamed into place only when complete, under an
    /// exclusive `flock`, so concurrent test processes build it once and an interrupted build never
    /// leaves a half tree under the final name (leftovers are removed by the next build).
    /// - Throws: ``TestEnvironmentError`` with `baseImageFailed` if debootstrap fails (the message has
    ///   the tail of its log) or an existing tree is unusable.
    @discardableResult
    public static func prepareBase() throws -> String {
        let cache = cacheDirectory
        let final = basePath
        if isUsableBase(final) { return final }
        try createDirectory(cache, mode: 0o755)
        let lock = try FileLock(path: cache + "/" + baseName + ".lock", wait: true)
        defer { lock.unlock() }
        if FileManager.default.fileExists(atPath: final) {
            guard isUsableBase(final) else {
                throw TestEnvironmentError(.baseImageFailed, "The cached base tree \(final) exists but has no /usr/sbin/sshd; delete it (rm -rf --one-file-system \(final)) so the next run rebuilds it.")
            }
            return final
        }
        // Remove what an interrupted build left (debootstrap mounts /proc and /sys in its target).
        let leftovers = (try? FileManager.default.contentsOfDirectory(atPath: cache)) ?? []
        for entry in leftovers where entry.hasPrefix(baseName + ".building-") {
            // Its debootstrap may still run, orphaned: stop it before removing what it writes to.
            LocalSystem.killProcesses(rootedAt: cache + "/" + entry, orMentionedInCommandLine: true)
            try removeTree(cache + "/" + entry)
        }
        let building = cache + "/" + baseName + ".building-\(getpid())"
        let arguments = ["--variant=minbase", "--include=" + basePackages.joined(separator: ","),
                         "bookworm", building, debianMirror]
        let result = try TestShell.run("debootstrap", arguments, timeout: .seconds(1200))
        let stillMounted = LocalSystem.unmountAll(under: building)
        guard stillMounted.isEmpty else {
            throw TestEnvironmentError(.baseImageFailed, "debootstrap left \(stillMounted.joined(separator: ", ")) mounted and it cannot be unmounted; unmount it by hand (umount -l) and run the tests again.")
        }
        guard result.succeeded else {
            let log = (try? String(contentsOfFile: building + "/debootstrap/debootstrap.log", encoding: .utf8)) ?? ""
            let tail = log.split(separator: "\n").suffix(20).joined(separator: "\n")
            try? removeTree(building)
            throw TestEnvironmentError(.baseImageFailed, "debootstrap could not build the clean-machine base tree; check that \(debianMirror) is reachable and there is 400 MB free in \(cache), then run the tests again.",
                                       command: result.command, exitStatus: result.status,
                                       outputTail: [result.outputTail(), tail].joined(separator: "\n"))
        }
        try finishBase(building)
        guard rename(building, final) == 0 else {
            throw TestEnvironmentError.systemCall("Renaming \(building) to \(final)")
        }
        return final
    }

    private static func isUsableBase(_ path: String) -> Bool {
        FileManager.default.isExecutableFile(atPath: path + "/usr/sbin/sshd")
    }

    /// Post-processes a fresh debootstrap tree into the shared base of every machine.
    private static func finishBase(_ tree: String) throws {
        let files = FileManager.default
        // Each machine gets its own host keys; the package's postinst made shared ones.
        for entry in (try? files.contentsOfDirectory(atPath: tree + "/etc/ssh")) ?? [] where entry.hasPrefix("ssh_host_") {
            try files.removeItem(atPath: tree + "/etc/ssh/" + entry)
        }
        // No downloaded .debs, and no package lists: lists frozen at build time go stale (404s weeks
        // later), so every machine must run apt-get update before installing, as fab's build step does.
        for directory in ["/var/cache/apt/archives", "/var/lib/apt/lists"] {
            for entry in (try? files.contentsOfDirectory(atPath: tree + directory)) ?? [] where entry != "partial" && entry != "lock" {
                try files.removeItem(atPath: tree + directory + "/" + entry)
            }
        }
        try write("""
            deb \(debianMirror) bookworm main
            deb \(debianMirror) bookworm-updates main
            deb http://deb.debian.org/debian-security bookworm-security main

            """, to: tree + "/etc/apt/sources.list")
        try write(policyRCD, to: tree + "/usr/sbin/policy-rc.d", mode: 0o755)
        // Faster package installs inside test machines; changes nothing a test can observe.
        try write("force-unsafe-io\n", to: tree + "/etc/dpkg/dpkg.cfg.d/fab-test-unsafe-io")
        try write("\(baseName): debootstrap --variant=minbase --include=\(basePackages.joined(separator: ",")) bookworm\n",
                  to: tree + "/etc/fab-test-base")
    }

    private static let policyRCD = "#!/bin/sh\n# fab test machine: never start daemons from package scripts.\nexit 101\n"

    // MARK: - Starting

    /// Starts a clean machine: mounts a fresh overlay of the base tree, sets it up and starts its sshd.
    ///
    /// Builds the base tree first if it is not cached (see ``prepareBase()``), and removes machines
    /// left behind by crashed test processes (see ``cleanUpStaleMachines()``). Blocks until sshd
    /// sends its banner; takes about a second with a cached base and no ``Configuration/extraPackages``.
    /// - Parameter configuration: the user, sudo, extra packages, address and port.
    /// - Returns: the running machine; call ``shutdown()`` when done (deinit does it as a fallback).
    /// - Throws: ``TestEnvironmentError``: `invalidArgument` for a bad user or package name,
    ///   `baseImageFailed`, `machineStartFailed` (a mount, key generation, user creation or package
    ///   install failed), `sshdNotReady` (with the sshd log).
    public static func start(_ configuration: Configuration = Configuration()) throws -> CleanMachine {
        try validate(configuration)
        let clock = StepClock()
        let base = try clock.measure("base") { try prepareBase() }
        // Best effort: a stale machine that cannot be removed must not stop new ones from starting.
        clock.measure("stale cleanup") { _ = try? cleanUpStaleMachines() }
        let (directory, lock) = try clock.measure("create") { try createMachineDirectory() }
        do {
            return try setUp(directory: directory, lock: lock, base: base, configuration: configuration, clock: clock)
        } catch {
            try? tearDown(directory: directory)
            lock.unlock()
            throw error
        }
    }

    /// Measures the steps of one start (used on one thread only).
    private final class StepClock {
        var timings: [StepTiming] = []
        func measure<T>(_ step: String, _ body: () throws -> T) rethrows -> T {
            let clock = ContinuousClock()
            let start = clock.now
            defer { timings.append(StepTiming(step: step, duration: clock.now - start)) }
            return try body()
        }
    }

    private static func validate(_ configuration: Configuration) throws {
        let user = configuration.user
        guard user.range(of: "^[a-z_][a-z0-9_-]{0,31}$", options: .regularExpression) != nil, user != "root" else {
            throw TestEnvironmentError(.invalidArgument, "\(TestShell.quote(user)) is not a usable user name for a clean machine; use lowercase letters, digits, _ and -, not root.")
        }
        for package in configuration.extraPackages
        where package.range(of: "^[a-z0-9][a-z0-9+.-]*(=[A-Za-z0-9.+:~-]+)?$", options: .regularExpression) == nil {
            throw TestEnvironmentError(.invalidArgument, "\(TestShell.quote(package)) is not a Debian package name; give names such as python3-venv or name=version.")
        }
        if let port = configuration.port, !(1...65535).contains(port) {
            throw TestEnvironmentError(.invalidArgument, "Port \(port) is out of range; give 1 to 65535 or nil for a free one.")
        }
        if let address = configuration.address, !address.hasPrefix("127.") {
            throw TestEnvironmentError(.invalidArgument, "\(address) is not a loopback address; clean machines listen on 127.x.y.z only.")
        }
    }

    /// Creates `m-XXXXXXXXXX` under ``machinesDirectory`` and locks it, under the directory-wide lock
    /// so a concurrent stale-machine sweep never sees it unlocked.
    private static func createMachineDirectory() throws -> (String, FileLock) {
        let machines = machinesDirectory
        try createDirectory(machines, mode: 0o700)
        let global = try FileLock(path: machines + "/.lock", wait: true)
        defer { global.unlock() }
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        for _ in 0..<10 {
            let name = "m-" + String((0..<10).map { _ in alphabet.randomElement()! })
            let directory = machines + "/" + name
            guard mkdir(directory, 0o700) == 0 else {
                if currentErrno() == EEXIST { continue }
                throw TestEnvironmentError.systemCall("Creating \(directory)")
            }
            let lock = try FileLock(path: directory + "/machine.lock", wait: false)
            return (directory, lock)
        }
        throw TestEnvironmentError(.machineStartFailed, "Could not find a free machine directory name in \(machines); remove stale entries there.")
    }

    private static func setUp(directory: String, lock: FileLock, base: String, configuration: Configuration,
                              clock: StepClock) throws -> CleanMachine {
        let root = directory + "/root"
        let client = directory + "/client"
        // The overlay's root directory takes the upper directory's mode: 0755, as / must be.
        for path in [root, directory + "/upper", directory + "/work"] {
            try createDirectory(path, mode: 0o755)
        }
        try createDirectory(client, mode: 0o700)
        try clock.measure("mount") {
            try mountFilesystems(root: root, directory: directory, base: base)
        }
        try clock.measure("files") {
            try writeSystemFiles(root: root)
        }
        let privateKey = client + "/id_ed25519"
        try clock.measure("keys") {
            for type in ["ed25519", "ecdsa"] {
                let keyPath = root + "/etc/ssh/ssh_host_\(type)_key"
                try TestShell.run("ssh-keygen", ["-q", "-t", type, "-N", "", "-C", "root@fab-clean-machine", "-f", keyPath])
                    .checked("generate the machine's \(type) host key")
            }
            try TestShell.run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "\(configuration.user)@fab-test-client", "-f", privateKey])
                .checked("generate the test user's key pair")
        }
        try clock.measure("user") {
            try createUser(configuration, root: root, publicKeyPath: privateKey + ".pub")
        }
        if !configuration.extraPackages.isEmpty {
            try clock.measure("packages") {
                let packages = configuration.extraPackages.map(TestShell.quote).joined(separator: " ")
                try runInChroot(root, """
                    apt-get -q -o DPkg::Lock::Timeout=600 -o APT::Update::Error-Mode=any update && \
                    apt-get -q -y -o DPkg::Lock::Timeout=600 install --no-install-recommends \(packages)
                    """, timeout: .seconds(1200))
                    .checked("install the extra packages \(packages) in the clean machine (apt-get needs \(debianMirror))")
            }
        }
        var sshd: (process: ChildProcess, address: String, port: Int)?
        try clock.measure("sshd") {
            sshd = try startSSHD(root: root, directory: directory, configuration: configuration)
        }
        guard let sshd else {
            throw TestEnvironmentError(.machineStartFailed, "sshd was not started.")
        }
        var hostKeys: [String] = []
        var knownHosts = ""
        let hostPattern = sshd.port == 22 ? sshd.address : "[\(sshd.address)]:\(sshd.port)"
        for type in ["ed25519", "ecdsa"] {
            let line = try String(contentsOfFile: root + "/etc/ssh/ssh_host_\(type)_key.pub", encoding: .utf8)
            let fields = line.split(separator: " ")
            guard fields.count >= 2 else {
                throw TestEnvironmentError(.machineStartFailed, "The machine's \(type) host public key is malformed: \(line).")
            }
            hostKeys.append("\(fields[0]) \(fields[1])")
            knownHosts += "\(hostPattern) \(fields[0]) \(fields[1])\n"
        }
        let knownHostsPath = client + "/known_hosts"
        try write(knownHosts, to: knownHostsPath, mode: 0o600)
        return CleanMachine(host: sshd.address, port: sshd.port, user: configuration.user,
                            privateKeyPath: privateKey, publicKeyPath: privateKey + ".pub",
                            knownHostsPath: knownHostsPath, hostPublicKeys: hostKeys, root: root,
                            directory: directory, sshd: sshd.process, lock: lock, timings: clock.timings)
    }

    private static func mountFilesystems(root: String, directory: String, base: String) throws {
        guard !base.contains(","), !base.contains(":"), !directory.contains(","), !directory.contains(":") else {
            throw TestEnvironmentError(.machineStartFailed, "overlayfs cannot take paths with commas or colons (\(base), \(directory)); set FAB_TEST_CACHE and TMPDIR to plain paths.")
        }
        try mount("overlay", at: root, type: "overlay",
                  options: "lowerdir=\(base),upperdir=\(directory)/upper,workdir=\(directory)/work")
        try mount("proc", at: root + "/proc", type: "proc", flags: UInt(MS_NOSUID | MS_NODEV | MS_NOEXEC))
        // A small private /dev with just what apt, dpkg, sshd and Python use; never the host's /dev,
        // so a removal that went wrong could not reach host devices.
        let dev = root + "/dev"
        try mount("tmpfs", at: dev, type: "tmpfs", flags: UInt(MS_NOSUID), options: "mode=755,size=16m")
        let nodes: [(String, UInt32, UInt32)] = [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7),
                                                 ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)]
        for (name, major, minor) in nodes {
            let path = dev + "/" + name
            guard mknod(path, S_IFCHR | 0o666, dev_t(major << 8 | minor)) == 0, chmod(path, 0o666) == 0 else {
                throw TestEnvironmentError.systemCall("Creating the device node \(path)")
            }
        }
        let links = [("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                     ("stderr", "/proc/self/fd/2"), ("ptmx", "pts/ptmx")]
        for (name, target) in links {
            try FileManager.default.createSymbolicLink(atPath: dev + "/" + name, withDestinationPath: target)
        }
        for (name, mode) in [("pts", mode_t(0o755)), ("shm", mode_t(0o1777))] {
            guard mkdir(dev + "/" + name, mode) == 0, chmod(dev + "/" + name, mode) == 0 else {
                throw TestEnvironmentError.systemCall("Creating \(dev)/\(name)")
            }
        }
        try mount("devpts", at: dev + "/pts", type: "devpts", flags: UInt(MS_NOSUID | MS_NOEXEC),
                  options: "newinstance,ptmxmode=0666,mode=620,gid=5")
        try mount("tmpfs", at: dev + "/shm", type: "tmpfs", flags: UInt(MS_NOSUID | MS_NODEV), options: "mode=1777,size=256m")
    }

    private static func mount(_ source: String, at target: String, type: String, flags: UInt = 0,
                              options: String? = nil) throws {
        let result = options.map { Glibc.mount(source, target, type, flags, $0) }
            ?? Glibc.mount(source, target, type, flags, nil)
        guard result == 0 else {
            let code = currentErrno()
            var message = "Mounting \(type) at \(target) failed; clean machines need root and a kernel with \(type) support"
            if type == "overlay" { message += " (and an upper directory on a filesystem overlayfs accepts, such as ext4 or tmpfs: set TMPDIR)" }
            throw TestEnvironmentError(.machineStartFailed, message + ".", errno: code)
        }
    }

    /// DNS, hosts, policy-rc.d, CA certificates, pip configuration, /run/sshd.
    private static func writeSystemFiles(root: String) throws {
        let files = FileManager.default
        try write(policyRCD, to: root + "/usr/sbin/policy-rc.d", mode: 0o755)
        try replace(root + "/etc/resolv.conf", with: (try? Data(contentsOf: URL(fileURLWithPath: "/etc/resolv.conf"))) ?? Data())
        var name = [UInt8](repeating: 0, count: 256)
        gethostname(&name, name.count - 1)
        let hostname = String(decoding: name.prefix { $0 != 0 }, as: UTF8.self)
        try replace(root + "/etc/hosts", with: Data("""
            127.0.0.1\tlocalhost
            127.0.1.1\t\(hostname)
            ::1\tlocalhost ip6-localhost ip6-loopback

            """.utf8))
        // The host trusts an intercepting proxy's CA for PyPI: copy the bundle, and the local CA files
        // too so the bundle survives update-ca-certificates runs triggered by package installs.
        let bundle = "/etc/ssl/certs/ca-certificates.crt"
        if let data = files.contents(atPath: bundle) {
            try replace(root + bundle, with: data)
        }
        let localCAs = "/usr/local/share/ca-certificates"
        for entry in (try? files.contentsOfDirectory(atPath: localCAs)) ?? [] {
            let target = root + localCAs + "/" + entry
            try? files.removeItem(atPath: target)
            try files.copyItem(atPath: localCAs + "/" + entry, toPath: target)
        }
        let pip = pipConfiguration()
        if !pip.contents.isEmpty {
            try write(pip.contents, to: root + "/etc/pip.conf", mode: 0o644)
        }
        for path in pip.filesToCopy where path.hasPrefix("/") && !path.hasPrefix("/etc/ssl/certs/") {
            if let data = files.contents(atPath: path) {
                try createDirectory(root + (path as NSString).deletingLastPathComponent, mode: 0o755)
                try replace(root + path, with: data)
            }
        }
        for path in [root + "/run/sshd", root + "/var/log"] {
            try createDirectory(path, mode: 0o755)
        }
    }

    /// The host's `/etc/pip.conf`, plus the network settings it gives only through `PIP_*` variables
    /// (index, trusted hosts, certificates, proxy). Find-links directories and the like stay out:
    /// they point at host paths the machine does not have.
    static func pipConfiguration(environment: [String: String] = ProcessInfo.processInfo.environment,
                                 hostFile: String = "/etc/pip.conf") -> (contents: String, filesToCopy: [String]) {
        var contents = (try? String(contentsOfFile: hostFile, encoding: .utf8)) ?? ""
        func configured(_ key: String) -> String? {
            for line in contents.split(separator: "\n") {
                let parts = line.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
                if parts.count == 2, parts[0] == key { return parts[1] }
            }
            return nil
        }
        let networkSettings = ["index-url", "extra-index-url", "trusted-host", "cert", "client-cert", "proxy"]
        var additions: [String] = []
        for key in networkSettings where configured(key) == nil {
            let variable = "PIP_" + key.uppercased().replacingOccurrences(of: "-", with: "_")
            if let value = environment[variable], !value.isEmpty { additions.append("\(key) = \(value)") }
        }
        if !additions.isEmpty {
            if !contents.isEmpty, !contents.hasSuffix("\n") { contents += "\n" }
            contents += "[global]\n" + additions.joined(separator: "\n") + "\n"
        }
        let files = ["cert", "client-cert"].compactMap { configured($0) }
        return (contents, files)
    }

    private static func createUser(_ configuration: Configuration, root: String, publicKeyPath: String) throws {
        let user = configuration.user
        let key = try Data(contentsOf: URL(fileURLWithPath: publicKeyPath))
        try write(String(decoding: key, as: UTF8.self), to: root + "/tmp/fab-authorized-key", mode: 0o644)
        try runInChroot(root, """
            set -e
            useradd --create-home --shell /bin/bash --user-group \(user)
            usermod --password '*' \(user)
            install -d -m 700 -o \(user) -g \(user) /home/\(user)/.ssh
            install -m 600 -o \(user) -g \(user) /tmp/fab-authorized-key /home/\(user)/.ssh/authorized_keys
            rm -f /tmp/fab-authorized-key
            """).checked("create the user \(user) in the clean machine")
        if configuration.passwordlessSudo {
            try write("\(user) ALL=(ALL:ALL) NOPASSWD: ALL\n", to: root + "/etc/sudoers.d/fab-test-\(user)", mode: 0o440)
        }
    }

    private static func sshdConfiguration(address: String, port: Int, user: String) -> String {
        """
        # fab clean machine: written by FabTestSupport.CleanMachine.
        ListenAddress \(address)
        Port \(port)
        HostKey /etc/ssh/ssh_host_ed25519_key
        HostKey /etc/ssh/ssh_host_ecdsa_key
        PidFile none
        UsePAM no
        StrictModes no
        PermitRootLogin no
        AllowUsers \(user)
        PubkeyAuthentication yes
        PasswordAuthentication no
        KbdInteractiveAuthentication no
        AuthorizedKeysFile .ssh/authorized_keys
        PrintMotd no
        LogLevel VERBOSE
        MaxStartups 100:30:200
        MaxSessions 100
        AcceptEnv LANG LC_*
        Subsystem sftp internal-sftp

        """
    }

    private static func startSSHD(root: String, directory: String, configuration: Configuration) throws
        -> (process: ChildProcess, address: String, port: Int) {
        let address = configuration.address ?? randomLoopbackAddress()
        var port = try configuration.port ?? (LocalSystem.canBind(address: address, port: 22) ? 22 : LocalSystem.freePort(on: address))
        let logPath = root + "/var/log/sshd_fab.log"
        for attempt in 1...3 {
            try write(sshdConfiguration(address: address, port: port, user: configuration.user),
                      to: root + "/etc/ssh/sshd_config_fab", mode: 0o644)
            try? FileManager.default.removeItem(atPath: logPath)
            let outputPath = directory + "/sshd.out"
            let output = open(outputPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
            guard output >= 0 else { throw TestEnvironmentError.systemCall("Creating \(outputPath)") }
            defer { close(output) }
            let process: ChildProcess
            do {
                process = try ChildProcess.spawn(executable: "/usr/sbin/chroot",
                                                 arguments: [root, "/usr/sbin/sshd", "-D", "-f", "/etc/ssh/sshd_config_fab", "-E", "/var/log/sshd_fab.log"],
                                                 environment: .exactly(TestShell.cleanRootEnvironment),
                                                 standardOutput: .descriptor(output), standardError: .descriptor(output))
            } catch {
                throw TestEnvironmentError(.sshdNotReady, "Could not start chroot \(root) /usr/sbin/sshd: \(error).")
            }
            try? "\(process.pid)\n".write(toFile: directory + "/sshd.pid", atomically: true, encoding: .utf8)
            let deadline = ContinuousClock.now + .seconds(15)
            while ContinuousClock.now < deadline {
                if !process.isRunning { break }
                if let banner = LocalSystem.firstLine(address: address, port: port), banner.hasPrefix("SSH-2.0-") {
                    return (process, address, port)
                }
                usleep(10_000)
            }
            let log = [(try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "",
                       (try? String(contentsOfFile: directory + "/sshd.out", encoding: .utf8)) ?? ""]
                .joined(separator: "\n")
            let command = "chroot \(root) /usr/sbin/sshd -D -f /etc/ssh/sshd_config_fab -E /var/log/sshd_fab.log"
            if process.isRunning {
                process.signal(SIGKILL)
                _ = process.wait(timeout: .seconds(5))
                throw TestEnvironmentError(.sshdNotReady, "The clean machine's sshd did not send an SSH banner on \(address):\(port) within 15 s; see its log below.",
                                           command: command, outputTail: tail(log))
            }
            if configuration.port == nil, attempt < 3, log.contains("Address already in use") {
                port = try LocalSystem.freePort(on: address)
                continue
            }
            throw TestEnvironmentError(.sshdNotReady, "The clean machine's sshd exited before accepting connections on \(address):\(port); see its log below.",
                                       command: command, exitStatus: process.wait(timeout: .zero)?.status, outputTail: tail(log))
        }
        throw TestEnvironmentError(.sshdNotReady, "The clean machine's sshd could not bind a port on \(address).")
    }

    /// A random address in 127.100.0.0 to 127.199.255.254: far from the 127.0.0.x addresses other tests use.
    private static func randomLoopbackAddress() -> String {
        "127.\(Int.random(in: 100...199)).\(Int.random(in: 0...255)).\(Int.random(in: 2...254))"
    }

    // MARK: - Using

    /// Runs `command` with `/bin/sh -c` inside the machine as root, locally through `chroot`, with a
    /// fresh root login's environment (not the test's). A non-zero exit is returned, not thrown.
    /// - Parameters:
    ///   - command: a shell command line, as root inside the machine.
    ///   - timeout: how long to let it run before killing it.
    /// - Throws: ``TestEnvironmentError`` if the machine is shut down, the command cannot start or times out.
    @discardableResult
    public func run(_ command: String, timeout: Duration = .seconds(900)) throws -> TestShell.Result {
        guard !state.withLock({ $0.isShutDown }) else {
            throw TestEnvironmentError(.invalidArgument, "The clean machine at \(host) is shut down; start a new one to run \(command).")
        }
        return try Self.runInChroot(root, command, timeout: timeout)
    }

    private static func runInChroot(_ root: String, _ command: String, timeout: Duration = .seconds(900)) throws -> TestShell.Result {
        var result = try TestShell.run("/usr/sbin/chroot", [root, "/bin/sh", "-c", command],
                                       environment: TestShell.cleanRootEnvironment, timeout: timeout)
        result.command = "chroot \(root) /bin/sh -c \(TestShell.quote(command))"
        return result
    }

    /// The argument vector that runs `remoteCommand` on this machine with the real OpenSSH client,
    /// as ``user``, with this machine's key and strict host-key checking (no user ssh_config).
    public func sshArguments(_ remoteCommand: String) -> [String] {
        ["ssh", "-F", "/dev/null", "-i", privateKeyPath, "-o", "IdentitiesOnly=yes",
         "-o", "UserKnownHostsFile=\(knownHostsPath)", "-o", "StrictHostKeyChecking=yes",
         "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "LogLevel=ERROR",
         "-p", String(port), "\(user)@\(host)", remoteCommand]
    }

    /// Runs `remoteCommand` over SSH with the real OpenSSH client (see ``sshArguments(_:)``).
    /// - Throws: ``TestEnvironmentError`` if ssh cannot start or times out; a failed login is status 255.
    public func ssh(_ remoteCommand: String, timeout: Duration = .seconds(900)) throws -> TestShell.Result {
        let arguments = sshArguments(remoteCommand)
        return try TestShell.run(arguments[0], Array(arguments.dropFirst()), timeout: timeout)
    }

    /// An ssh_config block for this machine, for a test's own ssh_config file:
    /// `Host alias` with HostName, Port, User, IdentityFile, IdentitiesOnly, UserKnownHostsFile and
    /// `StrictHostKeyChecking yes`.
    public func sshConfigSnippet(alias: String) -> String {
        func quoted(_ path: String) -> String { path.contains(" ") ? "\"\(path)\"" : path }
        return """
            Host \(alias)
                HostName \(host)
                Port \(port)
                User \(user)
                IdentityFile \(quoted(privateKeyPath))
                IdentitiesOnly yes
                UserKnownHostsFile \(quoted(knownHostsPath))
                StrictHostKeyChecking yes

            """
    }

    // MARK: - Stopping

    /// Whether ``shutdown()`` has run.
    public var isShutDown: Bool { state.withLock { $0.isShutDown } }

    /// Stops the machine: kills its sshd and every other process rooted in it (SIGTERM, then
    /// SIGKILL), unmounts everything it mounted (most recent first, lazily if busy) and removes its
    /// directory. Idempotent.
    /// - Throws: ``TestEnvironmentError`` with `cleanupFailed` if a process or mount is left
    ///   (the directory is then kept, and the next ``start(_:)`` retries the cleanup).
    public func shutdown() throws {
        let owned = state.withLock { state -> (ChildProcess?, FileLock?)? in
            if state.isShutDown { return nil }
            state.isShutDown = true
            defer { state.sshd = nil; state.lock = nil }
            return (state.sshd, state.lock)
        }
        guard let (sshd, lock) = owned else { return }
        defer { lock?.unlock() }
        sshd?.signal(SIGTERM)
        try Self.tearDown(directory: directory)
        // Reap the listener (killed above or by the teardown) so it does not linger as a zombie.
        if let sshd, sshd.wait(timeout: .seconds(5)) == nil {
            throw TestEnvironmentError(.cleanupFailed, "The clean machine's sshd (pid \(sshd.pid)) did not exit after SIGTERM and SIGKILL.")
        }
    }

    /// For tests of the stale-machine sweep only: drops this handle's claim on the machine without
    /// stopping anything, as a crashed test process would.
    @_spi(Testing)
    public func abandonWithoutCleanup() {
        state.withLock { state in
            state.isShutDown = true
            state.lock?.unlock()
            state.lock = nil
        }
    }

    /// Removes machines whose test process died without shutting them down: any directory under
    /// ``machinesDirectory`` whose lock nobody holds. Their processes are killed and mounts removed first.
    /// Called by ``start(_:)``; safe while other processes run machines.
    /// - Returns: the directories removed.
    /// - Throws: ``TestEnvironmentError`` with `cleanupFailed` if a stale machine could not be removed.
    @discardableResult
    public static func cleanUpStaleMachines() throws -> [String] {
        let machines = machinesDirectory
        guard FileManager.default.fileExists(atPath: machines) else { return [] }
        let global = try FileLock(path: machines + "/.lock", wait: true)
        defer { global.unlock() }
        var removed: [String] = []
        var failures: [String] = []
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: machines)) ?? [] where entry.hasPrefix("m-") {
            let directory = machines + "/" + entry
            guard let lock = FileLock.tryLock(path: directory + "/machine.lock") else { continue }
            defer { lock.unlock() }
            do {
                try tearDown(directory: directory)
                removed.append(directory)
            } catch {
                failures.append("\(error)")
            }
        }
        if !failures.isEmpty {
            throw TestEnvironmentError(.cleanupFailed, "Could not remove stale clean machines under \(machines): " + failures.joined(separator: "; "))
        }
        return removed
    }

    /// Kills the processes rooted in a machine, unmounts its filesystems and deletes its directory.
    private static func tearDown(directory: String) throws {
        let root = directory + "/root"
        let survivors = LocalSystem.killProcesses(rootedAt: root)
        let mounts = LocalSystem.unmountAll(under: directory)
        guard mounts.isEmpty else {
            throw TestEnvironmentError(.cleanupFailed, "Could not unmount \(mounts.joined(separator: ", ")); the machine directory \(directory) was kept. Unmount them by hand (umount -l) and delete it.")
        }
        try removeTree(directory)
        guard survivors.isEmpty else {
            throw TestEnvironmentError(.cleanupFailed, "Processes \(survivors.map(String.init).joined(separator: ", ")) in the clean machine \(directory) did not die after SIGKILL.")
        }
    }

    // MARK: - Files

    private static func tail(_ text: String, lines: Int = 30) -> String {
        text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    /// `rm -rf --one-file-system`, so a mount left inside is never descended into.
    static func removeTree(_ path: String) throws {
        guard FileManager.default.fileExists(atPath: path) else { return }
        LocalSystem.unmountAll(under: path)
        try TestShell.run("rm", ["-rf", "--one-file-system", path]).checked("remove \(path)")
    }

    static func createDirectory(_ path: String, mode: Int) throws {
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: mode])
    }

    static func write(_ text: String, to path: String, mode: Int = 0o644) throws {
        try replace(path, with: Data(text.utf8), mode: mode)
    }

    /// Writes `data` to `path`, replacing whatever is there (even a symbolic link), with `mode`.
    private static func replace(_ path: String, with data: Data, mode: Int = 0o644) throws {
        try? FileManager.default.removeItem(atPath: path)
        guard FileManager.default.createFile(atPath: path, contents: data, attributes: [.posixPermissions: mode]) else {
            throw TestEnvironmentError(.machineStartFailed, "Could not write \(path); check that its directory exists and is writable.")
        }
        chmod(path, mode_t(mode))
    }
}
#endif
