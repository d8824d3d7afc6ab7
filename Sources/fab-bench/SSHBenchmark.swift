import FabSSH
import FabTestSupport
import Foundation

/// `fab-bench ssh`: fab's SSH layer against the OpenSSH client, same machine, same run, same servers.
struct SSHBenchmark {
    let options: BenchOptions
    let fixture: BenchFixture
    var report = BenchReport()

    static let ssh = "/usr/bin/ssh"
    static let scp = "/usr/bin/scp"

    init(options: BenchOptions, fixture: BenchFixture) {
        self.options = options
        self.fixture = fixture
    }

    /// Runs every scenario and returns the filled-in report.
    mutating func run() async throws -> BenchReport {
        if options.scenarios.contains(1) { try await connectAndRun() }
        if options.scenarios.contains(2) { try await sequentialCommands() }
        if options.scenarios.contains(3) { try await fanOut() }
        if options.scenarios.contains(4) { try await transfers() }
        report.notes.append("OpenSSH is pinned to what libssh2 1.10 negotiates (\(BenchFixture.kex), \(BenchFixture.cipher), \(BenchFixture.mac)); "
            + "every OpenSSH figure includes starting the ssh/scp process, which a user pays on every call.")
        report.notes.append("Times are medians; 'speed' is the inverse ratio (throughput or operations per second). "
            + "MB/s is 10^6 bytes per second; transfer times include connect and login on both sides.")
        return report
    }

    // MARK: Scenario 1: connect + auth + `true`

    mutating func connectAndRun() async throws {
        let count = options.connectRepetitions
        progress("1/4 connect+auth+`true`, \(count) times each")
        let target = fixture.main.target(alias: "main")
        _ = try await fabConnectRun(target)
        _ = try sshTimed(["main", "true"])
        var fab: [Double] = [], openSSH: [Double] = [], defaults: [Double] = [], processStart: [Double] = []
        for _ in 0..<count {
            fab.append(try await fabConnectRun(target))
            openSSH.append(try sshTimed(["main", "true"]))
            defaults.append(try sshTimed(["main-defaults", "true"]))
            processStart.append(try ClientProcess.timed(Self.ssh, ["-V"], log: fixture.logPath))
        }
        report.rows.append(BenchRow(scenario: "1. connect+auth+`true` (median of \(count))", openSSHTool: "ssh -F cfg host true",
                                    measure: .seconds(fab: median(fab), openSSH: median(openSSH)), target: .none))
        report.rows.append(BenchRow(scenario: "   same, ssh with its default algorithms", openSSHTool: "ssh (sntrup761, chacha20)",
                                    measure: .seconds(fab: median(fab), openSSH: median(defaults)), target: .none))
        report.notes.append("Scenario 1: starting an ssh process that does nothing (`ssh -V`) takes \(BenchReport.milliseconds(median(processStart))) of OpenSSH's \(BenchReport.milliseconds(median(openSSH))); "
            + "fab's figure excludes starting fab itself (paid once per run, not per connection).")
    }

    /// Connects, runs `true`, closes; returns the seconds taken.
    func fabConnectRun(_ target: SSHTarget) async throws -> Double {
        let start = Clock.now()
        let session = try await SSHSession.connect(to: target)
        let result = try await session.execute("true")
        await session.close()
        let elapsed = Clock.now() - start
        guard result.succeeded else { throw BenchFailure("`true` failed on \(target.alias) over fab: \(result.stderr)") }
        return elapsed
    }

    func sshTimed(_ arguments: [String]) throws -> Double {
        try ClientProcess.timed(Self.ssh, ["-F", fixture.configPath] + arguments, log: fixture.logPath)
    }

    // MARK: Scenario 2: sequential commands over one connection

    mutating func sequentialCommands() async throws {
        let count = options.sequentialCommands
        progress("2/4 \(count) sequential commands over one connection")
        let session = try await SSHSession.connect(to: fixture.main.target(alias: "main"))
        var fab: [Double] = []
        for index in 0..<(count + 3) {
            let start = Clock.now()
            let result = try await session.execute("true")
            let elapsed = Clock.now() - start
            guard result.succeeded else { throw BenchFailure("`true` failed over fab: \(result.stderr)") }
            if index >= 3 { fab.append(elapsed) } // the first three warm up
        }
        await session.close()

        let mux = ["-o", "ControlPath=\(fixture.controlPath)"]
        let masterStart = try sshTimed(mux + ["-o", "ControlMaster=yes", "-o", "ControlPersist=60", "main", "true"])
        defer { _ = try? sshTimed(mux + ["-O", "exit", "main"]) }
        _ = try sshTimed(mux + ["-O", "check", "main"])
        var openSSH: [Double] = []
        for index in 0..<(count + 3) {
            let elapsed = try sshTimed(mux + ["main", "true"])
            if index >= 3 { openSSH.append(elapsed) }
        }
        let mean = { (samples: [Double]) in samples.reduce(0, +) / Double(samples.count) }
        report.rows.append(BenchRow(scenario: "2. \(count) commands on one connection, per command", openSSHTool: "ssh + ControlMaster",
                                    measure: .seconds(fab: median(fab), openSSH: median(openSSH)), target: .timeAtMost(1.2)))
        report.notes.append("Scenario 2: mean per command fab \(BenchReport.milliseconds(mean(fab))), ssh+ControlMaster \(BenchReport.milliseconds(mean(openSSH))); "
            + "starting the ControlMaster (not counted) took \(BenchReport.milliseconds(masterStart)).")
    }

    // MARK: Scenario 3: fan-out

    mutating func fanOut() async throws {
        let hosts = fixture.fanOut.count
        let repetitions = options.fanOutRepetitions
        progress("3/4 one command on \(hosts) hosts at once, \(repetitions) times each")
        let targets = fixture.fanOut.enumerated().map { index, server in server.target(alias: "fan\(index)") }
        let aliases = targets.map(\.alias)
        _ = try await fabFanOut(targets)
        _ = try sshFanOut(aliases)
        var fab: [Double] = [], openSSH: [Double] = []
        for _ in 0..<repetitions {
            fab.append(try await fabFanOut(targets))
            openSSH.append(try sshFanOut(aliases))
        }
        report.rows.append(BenchRow(scenario: "3. `true` on \(hosts) hosts in parallel, wall time", openSSHTool: "\(hosts) ssh processes at once",
                                    measure: .seconds(fab: median(fab), openSSH: median(openSSH)), target: .timeAtMost(1.0)))
    }

    /// Connects to every target concurrently and runs `true` on each; returns the wall time.
    func fabFanOut(_ targets: [SSHTarget]) async throws -> Double {
        let start = Clock.now()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for target in targets {
                group.addTask {
                    let session = try await SSHSession.connect(to: target)
                    let result = try await session.execute("true")
                    await session.close()
                    guard result.succeeded else { throw BenchFailure("`true` failed on \(target.alias) over fab: \(result.stderr)") }
                }
            }
            try await group.waitForAll()
        }
        return Clock.now() - start
    }

    /// Starts one `ssh alias true` per alias at once (like `xargs -P`), waits for all; returns the wall time.
    func sshFanOut(_ aliases: [String]) throws -> Double {
        let start = Clock.now()
        let processes = try aliases.map {
            try ClientProcess.start(Self.ssh, ["-F", fixture.configPath, $0, "true"], log: fixture.logPath)
        }
        var firstFailure: Error?
        for process in processes {
            do { try process.wait(log: fixture.logPath) } catch { firstFailure = firstFailure ?? error }
        }
        if let firstFailure { throw firstFailure }
        return Clock.now() - start
    }

    // MARK: Scenario 4: put and get of one large file

    mutating func transfers() async throws {
        let bytes = options.transferMiB << 20
        let repetitions = options.transferRepetitions
        progress("4/4 put and get of \(options.transferMiB) MiB, \(repetitions) times each (fab, scp, scp -O)")
        let local = fixture.scratch.path
        let remote = fixture.remoteScratch
        let source = local + "/source.bin"
        try shell("head -c \(bytes) /dev/urandom > \(source) && chmod 644 \(source)")
        let expected = try checksum(localPath: source)
        let target = fixture.main.target(alias: "main")
        let checker = try await SSHSession.connect(to: target)
        defer { Task { [checker] in await checker.close() } }
        let cipherOptions = ["-c", BenchFixture.cipher, "-o", "MACs=\(BenchFixture.mac)"]

        // The file every get reads, placed (and checked) once.
        let getSource = remote + "/get-source.bin"
        try await checker.put(source, to: getSource)
        try await verifyRemote(getSource, expected: expected, checker: checker, what: "the get source")

        var fabPut: [Double] = [], scpPut: [Double] = [], legacyPut: [Double] = []
        var fabGet: [Double] = [], scpGet: [Double] = [], legacyGet: [Double] = []
        for _ in 0..<repetitions {
            let putTarget = remote + "/put.bin"
            fabPut.append(try await timedTransfer(remove: putTarget, checker: checker) {
                let session = try await SSHSession.connect(to: target)
                try await session.put(source, to: putTarget)
                await session.close()
            })
            try await verifyRemote(putTarget, expected: expected, checker: checker, what: "fab put")
            scpPut.append(try await timedTransfer(remove: putTarget, checker: checker) {
                try ClientProcess.timed(Self.scp, ["-F", fixture.configPath, "-q"] + cipherOptions + [source, "main:" + putTarget],
                                        log: fixture.logPath)
            })
            try await verifyRemote(putTarget, expected: expected, checker: checker, what: "scp put")
            legacyPut.append(try await timedTransfer(remove: putTarget, checker: checker) {
                try ClientProcess.timed(Self.scp, ["-F", fixture.configPath, "-q", "-O"] + cipherOptions + [source, "main:" + putTarget],
                                        log: fixture.logPath)
            })
            try await verifyRemote(putTarget, expected: expected, checker: checker, what: "scp -O put")

            let getTarget = local + "/get.bin"
            fabGet.append(try await timedTransfer(removeLocal: getTarget) {
                let session = try await SSHSession.connect(to: target)
                try await session.get(getSource, to: getTarget)
                await session.close()
            })
            try verifyLocal(getTarget, expected: expected, what: "fab get")
            scpGet.append(try await timedTransfer(removeLocal: getTarget) {
                try ClientProcess.timed(Self.scp, ["-F", fixture.configPath, "-q"] + cipherOptions + ["main:" + getSource, getTarget],
                                        log: fixture.logPath)
            })
            try verifyLocal(getTarget, expected: expected, what: "scp get")
            legacyGet.append(try await timedTransfer(removeLocal: getTarget) {
                try ClientProcess.timed(Self.scp, ["-F", fixture.configPath, "-q", "-O"] + cipherOptions + ["main:" + getSource, getTarget],
                                        log: fixture.logPath)
            })
            try verifyLocal(getTarget, expected: expected, what: "scp -O get")
        }
        let size = "\(options.transferMiB) MiB"
        let times = repetitions > 1 ? " (median of \(repetitions))" : ""
        report.rows.append(BenchRow(scenario: "4. put \(size)\(times)", openSSHTool: "scp (SFTP protocol)",
                                    measure: .transfer(bytes: bytes, fab: median(fabPut), openSSH: median(scpPut)), target: .speedAtLeast(0.9)))
        report.rows.append(BenchRow(scenario: "   put, against legacy scp", openSSHTool: "scp -O (SCP protocol)",
                                    measure: .transfer(bytes: bytes, fab: median(fabPut), openSSH: median(legacyPut)), target: .none))
        report.rows.append(BenchRow(scenario: "4. get \(size)\(times)", openSSHTool: "scp (SFTP protocol)",
                                    measure: .transfer(bytes: bytes, fab: median(fabGet), openSSH: median(scpGet)), target: .speedAtLeast(0.9)))
        report.rows.append(BenchRow(scenario: "   get, against legacy scp", openSSHTool: "scp -O (SCP protocol)",
                                    measure: .transfer(bytes: bytes, fab: median(fabGet), openSSH: median(legacyGet)), target: .none))
        report.notes.append("Scenario 4: every transfer's SHA-256 was checked against the source after it finished (\(6 * repetitions) checks, all equal).")
    }

    /// Removes the remote target and flushes dirty pages (untimed), then times `body`.
    func timedTransfer(remove remotePath: String, checker: SSHSession, _ body: () async throws -> Void) async throws -> Double {
        _ = try await checker.execute("rm -f \(ShellQuoting.quote(remotePath)) && sync")
        let start = Clock.now()
        try await body()
        return Clock.now() - start
    }

    func timedTransfer(removeLocal localPath: String, _ body: () async throws -> Void) async throws -> Double {
        try? FileManager.default.removeItem(atPath: localPath)
        sync()
        let start = Clock.now()
        try await body()
        return Clock.now() - start
    }

    func checksum(localPath: String) throws -> String {
        String(try shell("sha256sum < \(localPath)").prefix(64))
    }

    func verifyLocal(_ path: String, expected: String, what: String) throws {
        let actual = try checksum(localPath: path)
        guard actual == expected else { throw BenchFailure("\(what) produced a file whose SHA-256 is \(actual), not \(expected).") }
    }

    func verifyRemote(_ path: String, expected: String, checker: SSHSession, what: String) async throws {
        let result = try await checker.execute("sha256sum < \(ShellQuoting.quote(path))")
        let actual = String(result.stdout.prefix(64))
        guard result.succeeded, actual == expected else {
            throw BenchFailure("\(what) produced a remote file whose SHA-256 is \(actual), not \(expected).")
        }
    }
}

/// Reports what the benchmark is doing, on stderr (the table goes to stdout).
func progress(_ message: String) {
    FileHandle.standardError.write(Data("fab-bench: \(message)\n".utf8))
}
