#if os(Linux)
import Foundation
import Glibc
import Synchronization
import Testing
@_spi(Testing) import FabTestSupport

/// Clean machines and the test apt repository, checked the way a user of them would check:
/// with the real OpenSSH client, findmnt, /proc and apt-get.
///
/// Needs root, overlayfs, debootstrap, reprepro, dpkg-deb and Debian's archive; the first run builds
/// the cached base tree (about a minute).
@Suite("Clean machines", .timeLimit(.minutes(20)))
struct CleanMachineTests {
    init() throws {
        try #require(getuid() == 0, "Clean machines need root (chroot, mounts); run the tests as root.")
    }

    @Test("A machine accepts the real OpenSSH client with strict host-key checking, and has no Python")
    func loginWithOpenSSH() throws {
        let machine = try CleanMachine.start()
        defer { try? machine.shutdown() }

        let result = try TestShell.run("ssh", [
            "-F", "/dev/null", "-i", machine.privateKeyPath, "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
            "-o", "UserKnownHostsFile=\(machine.knownHostsPath)", "-o", "StrictHostKeyChecking=yes",
            "-p", String(machine.port), "\(machine.user)@\(machine.host)", "id -un; cat /etc/debian_version",
        ])
        #expect(result.status == 0, "\(result.outputTail())")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "deploy")
        #expect(lines.last?.hasPrefix("12.") == true, "debian_version: \(lines)")

        // The build VM must get Python through fab's own apt-get step.
        let python = try machine.ssh("command -v python3")
        #expect(python.status != 0, "python3 is in the base: \(python.stdout)")

        // The ssh_config snippet works on its own, as fab's ssh_config reader would use it.
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try machine.sshConfigSnippet(alias: "clean-vm").write(toFile: directory + "/ssh_config", atomically: true, encoding: .utf8)
        let viaConfig = try TestShell.run("ssh", ["-F", directory + "/ssh_config", "-o", "BatchMode=yes", "clean-vm", "echo via-config"])
        #expect(viaConfig.stdout == "via-config\n", "\(viaConfig.outputTail())")

        // The private key stays private.
        let attributes = try FileManager.default.attributesOfItem(atPath: machine.privateKeyPath)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
    }

    @Test("Passwordless sudo works when requested and only then")
    func sudoOnlyWhenRequested() throws {
        let withSudo = try CleanMachine.start(.init(passwordlessSudo: true))
        defer { try? withSudo.shutdown() }
        let withoutSudo = try CleanMachine.start()
        defer { try? withoutSudo.shutdown() }

        let allowed = try withSudo.ssh("sudo -n true && sudo -n id -un")
        #expect(allowed.status == 0, "\(allowed.outputTail())")
        #expect(allowed.stdout == "root\n")
        let refused = try withoutSudo.ssh("sudo -n true")
        #expect(refused.status != 0, "sudo worked without being requested")
        #expect(refused.status != 255, "the login itself failed: \(refused.outputTail())")
    }

    @Test("Two machines run at once on their own addresses, files and host keys")
    func twoMachinesAtOnce() async throws {
        async let first = CleanMachine.start()
        async let second = CleanMachine.start()
        let machines = try await [first, second]
        defer { machines.forEach { try? $0.shutdown() } }
        let (a, b) = (machines[0], machines[1])

        #expect(a.host != b.host)
        #expect(a.root != b.root)
        #expect(a.hostPublicKeys != b.hostPublicKeys)

        // A stale-machine sweep leaves running machines alone.
        _ = try CleanMachine.cleanUpStaleMachines()

        try a.run("echo from-a > /etc/fab-marker").checked("write a marker")
        #expect(try a.ssh("cat /etc/fab-marker").stdout == "from-a\n")
        let onB = try b.ssh("cat /etc/fab-marker 2>/dev/null || echo absent")
        #expect(onB.stdout == "absent\n", "\(onB.outputTail())")

        // Each known_hosts file pins its own machine: A's keys presented as B's are refused.
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let pattern = b.port == 22 ? b.host : "[\(b.host)]:\(b.port)"
        let wrongKnownHosts = a.hostPublicKeys.map { "\(pattern) \($0)\n" }.joined()
        try wrongKnownHosts.write(toFile: directory + "/known_hosts", atomically: true, encoding: .utf8)
        var arguments = b.sshArguments("true")
        arguments = arguments.map { $0 == "UserKnownHostsFile=\(b.knownHostsPath)" ? "UserKnownHostsFile=\(directory)/known_hosts" : $0 }
        let spoofed = try TestShell.run(arguments[0], Array(arguments.dropFirst()))
        #expect(spoofed.status == 255)
        #expect(spoofed.stderr.contains("Host key verification failed"), "\(spoofed.outputTail())")
    }

    @Test("Shutdown leaves no mount, no process and no directory, even with sessions open")
    func shutdownLeavesNothing() throws {
        let machine = try CleanMachine.start()
        // An open SSH session, on a thread of its own (not the test pool's, which other tests may
        // be blocking), and a background process started as root inside the machine.
        let sessionStatus = Mutex<Int32?>(nil)
        let sessionEnded = DispatchSemaphore(value: 0)
        Thread {
            let status = (try? machine.ssh("sleep 600", timeout: .seconds(120)))?.status
            sessionStatus.withLock { $0 = status }
            sessionEnded.signal()
        }.start()
        try machine.run("nohup sleep 600 >/dev/null 2>&1 &").checked("start a background process")
        // sshd's listener, the session's two sshd processes, and the two sleeps.
        let deadline = ContinuousClock.now + .seconds(20)
        while ContinuousClock.now < deadline, processes(rootedAt: machine.root).count < 5 {
            usleep(50_000)
        }
        #expect(processes(rootedAt: machine.root).count >= 5, "\(processes(rootedAt: machine.root))")
        #expect(try mountPoints(under: machine.directory).count == 5, "overlay, proc, dev, dev/pts, dev/shm")

        try machine.shutdown()

        #expect(try mountPoints(under: machine.directory).isEmpty)
        #expect(processes(rootedAt: machine.root).isEmpty)
        #expect(kill(machine.sshdProcessID, 0) != 0, "sshd is still running")
        #expect(!FileManager.default.fileExists(atPath: machine.directory))
        #expect(sessionEnded.wait(timeout: .now() + 20) == .success, "the SSH client did not notice the shutdown")
        let status = sessionStatus.withLock { $0 }
        #expect(status != nil && status != 0, "the SSH session ended with the machine")
        #expect(throws: TestEnvironmentError.self) { try machine.run("true") }
        try machine.shutdown()  // idempotent
    }

    @Test("A machine abandoned by a crashed test is removed by the next sweep")
    func staleMachineIsRemoved() throws {
        let machine = try CleanMachine.start()
        machine.abandonWithoutCleanup()
        #expect(kill(machine.sshdProcessID, 0) == 0, "abandoning stopped the machine")
        #expect(try !mountPoints(under: machine.directory).isEmpty)

        _ = try CleanMachine.cleanUpStaleMachines()

        #expect(try mountPoints(under: machine.directory).isEmpty)
        #expect(processes(rootedAt: machine.root).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: machine.directory))
    }

    @Test("apt-get installs a package from Debian inside a machine")
    func aptGetInstall() throws {
        let machine = try CleanMachine.start()
        defer { try? machine.shutdown() }
        try machine.run("apt-get -q -o DPkg::Lock::Timeout=600 -o APT::Update::Error-Mode=any update").checked("apt-get update")
        try machine.run("apt-get -q -y -o DPkg::Lock::Timeout=600 install hello").checked("apt-get install hello")
        let result = try machine.ssh("hello")
        #expect(result.stdout == "Hello, world!\n", "\(result.outputTail())")
    }

    @Test("A .deb pushed into the test repository installs in a machine with apt-get")
    func debFromTestRepository() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let deb = try buildDeb(in: directory, package: "fab-e2e-hello", version: "1.0.0")
        let repository = try AptRepository.start()
        defer { try? repository.stop() }
        try repository.include(debAt: deb)
        #expect(try repository.packages() == ["fab-e2e-hello 1.0.0"])
        #expect(repository.sourcesListLine == "deb [trusted=yes] http://127.0.0.1:\(repository.port) fab main")

        let machine = try CleanMachine.start()
        defer { try? machine.shutdown() }
        try machine.run("echo \(TestShell.quote(repository.sourcesListLine)) > /etc/apt/sources.list.d/fab.list").checked()
        try machine.run("apt-get -q -o DPkg::Lock::Timeout=600 -o APT::Update::Error-Mode=any update").checked("apt-get update")
        try machine.run("apt-get -q -y -o DPkg::Lock::Timeout=600 install fab-e2e-hello").checked("install fab-e2e-hello")
        let result = try machine.ssh("fab-e2e-hello; dpkg-query -W -f '${Version}' fab-e2e-hello")
        #expect(result.stdout == "hello from fab-e2e-hello 1.0.0\n1.0.0", "\(result.outputTail())")

        try repository.stop()
        #expect(!FileManager.default.fileExists(atPath: repository.workDirectory))
        #expect(!(try TestShell.run("curl", ["-fsS", "-o", "/dev/null", repository.url + "/dists/fab/Release"]).succeeded))
    }

    @Test("A machine with reprepro is a push target: a .deb pushed over SSH installs on another machine")
    func machineAsPushTarget() throws {
        let target = try CleanMachine.start(.init(extraPackages: ["reprepro"]))
        defer { try? target.shutdown() }
        try target.run("install -d -o deploy -g deploy /srv/apt").checked()
        // The host serves the machine's repository directory; the machine's user runs reprepro.
        let repository = try AptRepository.start(directory: target.root + "/srv/apt")
        defer { try? repository.stop() }
        try target.run("chown -R deploy: /srv/apt").checked("hand the repository to deploy")

        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let deb = try buildDeb(in: directory, package: "fab-e2e-pushed", version: "2.0")
        try TestShell.run("scp", ["-F", "/dev/null", "-i", target.privateKeyPath, "-o", "BatchMode=yes",
                                  "-o", "UserKnownHostsFile=\(target.knownHostsPath)", "-o", "StrictHostKeyChecking=yes",
                                  "-P", String(target.port), deb, "\(target.user)@\(target.host):/tmp/pushed.deb"]).checked("copy the .deb")
        try target.ssh("reprepro -b /srv/apt includedeb fab /tmp/pushed.deb").checked("push with reprepro")
        #expect(try repository.packages() == ["fab-e2e-pushed 2.0"])

        let server = try CleanMachine.start()
        defer { try? server.shutdown() }
        try server.run("echo \(TestShell.quote(repository.sourcesListLine)) > /etc/apt/sources.list.d/fab.list").checked()
        try server.run("apt-get -q -o APT::Update::Error-Mode=any update && apt-get -q -y install fab-e2e-pushed").checked("install fab-e2e-pushed")
        #expect(try server.ssh("fab-e2e-pushed").stdout == "hello from fab-e2e-pushed 2.0\n")
    }

    @Test("pip in a machine reaches PyPI through the host's proxy and CA, as the deploy user")
    func pipReachesPyPI() throws {
        let machine = try CleanMachine.start(.init(extraPackages: ["python3-venv"]))
        defer { try? machine.shutdown() }
        let result = try machine.ssh("""
            python3 -m venv /tmp/venv && /tmp/venv/bin/pip install -q six && /tmp/venv/bin/python -c 'import six; print("six", six.__version__)'
            """)
        #expect(result.status == 0, "\(result.outputTail())")
        #expect(result.stdout.hasPrefix("six "), "\(result.outputTail())")
    }

    // MARK: - Helpers

    /// Mount points at or below `directory`, as findmnt reports them.
    private func mountPoints(under directory: String) throws -> [String] {
        let result = try TestShell.run("findmnt", ["-rn", "-o", "TARGET"]).checked("list mounts")
        return result.stdout.split(separator: "\n").map(String.init)
            .filter { $0 == directory || $0.hasPrefix(directory + "/") }
    }

    /// Processes whose root directory is `root` (those chrooted into a machine).
    private func processes(rootedAt root: String) -> [String] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.filter { entry in
            guard Int32(entry) != nil,
                  let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(entry)/root") else { return false }
            return target == root || target.hasPrefix(root + "/")
        }
    }

    private func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "/fab-clean-machine-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Builds a small arch-all package with dpkg-deb whose one program prints its name and version.
    private func buildDeb(in directory: String, package: String, version: String) throws -> String {
        let tree = directory + "/tree"
        try FileManager.default.createDirectory(atPath: tree + "/DEBIAN", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: tree + "/usr/bin", withIntermediateDirectories: true)
        try """
            Package: \(package)
            Version: \(version)
            Section: misc
            Priority: optional
            Architecture: all
            Maintainer: fab tests <fab-tests@example.invalid>
            Description: fab end-to-end test package

            """.write(toFile: tree + "/DEBIAN/control", atomically: true, encoding: .utf8)
        let program = tree + "/usr/bin/" + package
        try "#!/bin/sh\necho hello from \(package) \(version)\n".write(toFile: program, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: program)
        let deb = directory + "/\(package)_\(version)_all.deb"
        try TestShell.run("dpkg-deb", ["--root-owner-group", "-Zgzip", "--build", tree, deb]).checked("build \(deb)")
        return deb
    }
}
#endif
