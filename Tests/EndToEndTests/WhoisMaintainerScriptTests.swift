#if os(Linux)
import Foundation
import Glibc
import Testing
@_spi(Testing) import FabTestSupport

/// whois's maintainer scripts (`Fabfiles/whois/debian/postinst` and `prerm`) run as dpkg runs them,
/// in a clean machine where nothing supervises services, around a stand-in whoisd (the real one needs
/// the virtualenv's Twisted) reached through a symlink as in a family (`VENV/bin/whoisd` ->
/// `project/bin/whoisd`): postinst starts it in the background, prerm stops it, and postinst refuses
/// to go on when another vrmd-whois already answers on the configured port.
///
/// Clean machines share this host's network, so a server on one may answer for another: in the
/// whois end-to-end test, web1's whoisd (0.0.0.0:4343) once answered every question asked of web2,
/// whose own whoisd never ran. A postinst that takes any vrmd-whois answer for its own server hides
/// that, and hid a server that died on a taken port.
///
/// Needs root, overlayfs, debootstrap and Debian's archive (python3 is installed in the machine).
@Suite("whois's postinst and prerm in a clean machine", .timeLimit(.minutes(10)))
struct WhoisMaintainerScriptTests {
    init() throws {
        try #require(getuid() == 0, "Clean machines need root (chroot, mounts); run the tests as root.")
    }

    /// `Fabfiles/whois` in the checkout these tests belong to.
    static let whoisProject = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent().path + "/Fabfiles/whois"

    /// Stands in for whoisd: whoisd's own settings, the same listening socket options as Twisted
    /// (SO_REUSEADDR), and an answer naming the generation the process started with.
    static let standIn = """
        #!/vrmd/whois/venv/bin/python
        import socket

        from whoisd import config

        settings = config.load(config.parser("whoisd stand-in").parse_args())
        with open("/vrmd/whois/generation", encoding="utf-8") as f:
            generation = f.read().strip()
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((settings.bind, settings.port))
        server.listen(8)
        while True:
            connection, _ = server.accept()
            with connection:
                connection.recv(1024)
                connection.sendall(("% vrmd-whois " + generation + ": stand-in\\n").encode())

        """

    @Test("postinst starts the server, prerm stops it, the next postinst starts the new one; with another vrmd-whois on the port, postinst fails and starts nothing")
    func startStopAndPortTaken() throws {
        let machine = try CleanMachine.start(.init(extraPackages: ["python3"]))
        defer { try? machine.shutdown() }
        let port = try Int(TestShell.run("/usr/bin/python3", ["-c", "import socket; s = socket.socket(); s.bind(('0.0.0.0', 0)); print(s.getsockname()[1])"])
            .checked("find a free port").stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
        try #require(port > 0)

        // whoisd's settings and client (the postinst asks with them), the stand-in, the config, the scripts.
        let root = machine.root
        let files = FileManager.default
        let modules = root + "/usr/local/lib/python3.11/dist-packages/whoisd"
        for directory in [modules, root + "/vrmd/whois/venv/bin", root + "/vrmd/whois/project/bin", root + "/etc/vrmd-whois"] {
            try files.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        for module in ["__init__.py", "config.py", "client.py"] {
            try files.copyItem(atPath: Self.whoisProject + "/whoisd/" + module, toPath: modules + "/" + module)
        }
        try files.createSymbolicLink(atPath: root + "/vrmd/whois/venv/bin/python", withDestinationPath: "/usr/bin/python3")
        try Self.standIn.write(toFile: root + "/vrmd/whois/project/bin/whoisd", atomically: true, encoding: .utf8)
        try files.setAttributes([.posixPermissions: 0o755], ofItemAtPath: root + "/vrmd/whois/project/bin/whoisd")
        try files.createSymbolicLink(atPath: root + "/vrmd/whois/venv/bin/whoisd", withDestinationPath: "../../project/bin/whoisd")
        try "1\n".write(toFile: root + "/vrmd/whois/generation", atomically: true, encoding: .utf8)
        try "[whoisd]\nbind = 0.0.0.0\nport = \(port)\n".write(toFile: root + "/etc/vrmd-whois/whoisd.conf", atomically: true, encoding: .utf8)
        for script in ["postinst", "prerm"] {
            try files.copyItem(atPath: Self.whoisProject + "/debian/" + script, toPath: root + "/tmp/" + script)
        }
        func ask() throws -> TestShell.Result {
            try machine.run("PYTHONDONTWRITEBYTECODE=1 /vrmd/whois/venv/bin/python -m whoisd.client --config /etc/vrmd-whois/whoisd.conf")
        }

        // A first install: postinst starts the server, and the process in its pidfile holds the port.
        let installed = try machine.run("/tmp/postinst configure")
        try #require(installed.status == 0, "postinst configure failed:\n\(installed.outputTail())")
        #expect(try ask().stdout.hasPrefix("% vrmd-whois 1: stand-in"))
        #expect(try Self.pidfileProcessListens(on: machine, port: port), "the process in /run/vrmd-whois/whoisd.pid does not hold port \(port)")

        // An upgrade: the old prerm stops the server through the symlink's target, the new postinst
        // starts the new code.
        try machine.run("/tmp/prerm upgrade 2").checked("prerm upgrade")
        #expect(try machine.run("start-stop-daemon --status --pidfile /run/vrmd-whois/whoisd.pid").status != 0, "prerm left the server running")
        #expect(try ask().status == 1, "something still answers on port \(port) after prerm")
        try "2\n".write(toFile: root + "/vrmd/whois/generation", atomically: true, encoding: .utf8)
        let upgraded = try machine.run("/tmp/postinst configure 1")
        try #require(upgraded.status == 0, "postinst configure 1 failed:\n\(upgraded.outputTail())")
        #expect(try ask().stdout.hasPrefix("% vrmd-whois 2: stand-in"))
        #expect(try Self.pidfileProcessListens(on: machine, port: port))

        // Another vrmd-whois on the port (started by hand: no pidfile names it): postinst fails
        // before it starts anything, and says why.
        try machine.run("/tmp/prerm upgrade 3").checked("prerm upgrade")
        // (shutdown stops it with every other process of the machine)
        try machine.run("/vrmd/whois/venv/bin/whoisd --config /etc/vrmd-whois/whoisd.conf < /dev/null > /dev/null 2>&1 &")
            .checked("start a stray server")
        try machine.run("for i in $(seq 40); do PYTHONDONTWRITEBYTECODE=1 /vrmd/whois/venv/bin/python -m whoisd.client --quiet --config /etc/vrmd-whois/whoisd.conf && exit 0; sleep 0.25; done; exit 1")
            .checked("wait for the stray server")
        let refused = try machine.run("/tmp/postinst configure 2")
        #expect(refused.status == 1, "postinst passed while another vrmd-whois held port \(port):\n\(refused.outputTail())")
        #expect(refused.stderr.contains("another vrmd-whois already answers on the port set in /etc/vrmd-whois/whoisd.conf"), "\(refused.outputTail())")
        #expect(try machine.run("start-stop-daemon --status --pidfile /run/vrmd-whois/whoisd.pid").status != 0, "postinst started a server anyway")
    }

    /// Whether the process named by `/run/vrmd-whois/whoisd.pid` on `machine` holds the listening
    /// TCP socket of `port` (clean machines share this host's network, so an answer on a machine's
    /// address may come from another machine's server).
    static func pidfileProcessListens(on machine: CleanMachine, port: Int) throws -> Bool {
        let command = "pid=$(cat /run/vrmd-whois/whoisd.pid) && inode=$(awk '$2 ~ /:\(String(format: "%04X", port))$/ && $4 == \"0A\" {print $10}' /proc/net/tcp)"
            + " && [ -n \"$inode\" ] && ls -l /proc/$pid/fd | grep -q \"socket:\\[$inode\\]\""
        return try machine.run(command).status == 0
    }
}
#endif
