import FabTestSupport
import Foundation

/// `fab-bench cli`: the `fab` command next to Fabric 3 on the same machine, in the same run.
///
/// 1. `fab -l` with a warm plugin cache, against Fabric's `fab -l` (target: at most 15 ms).
/// 2. The first run with a cold cache (compiling the example fabfile, and building clang's module cache for
///    Foundation and the C libraries once per cache folder; target: at most 2 s), and a compile after an
///    edit (the module cache warm).
/// 3. One remote command on 20 sshd hosts in parallel: `fab -P` against Fabric's
///    `ThreadingGroup` (target: at least 3x faster than Fabric).
///
/// With a baseline (another build of fab, such as main's), 1 and 2 also run it, interleaved with this
/// fab in the same run, and ``renderBaseline(_:baseline:)`` shows both with the ratio.
///
/// fab runs are started directly (posix_spawn, no shell in between). Fabric is installed with pip into a
/// virtualenv under /var/cache/fab-bench on first use.
struct CLIBenchmark {
    let repetitions: Int
    let fixture: BenchFixture
    let fabBinary: String
    let exampleFabfile: String
    /// Another fab executable to time next to this one, or nil.
    var baselineBinary: String? = nil

    /// This fab's and the baseline's medians for the warm `fab -l` and the cold compile.
    struct Comparison {
        var scenario: String
        var fab: Double
        var baseline: Double
        var target: String
    }

    /// A row of the results: scenario, fab's time, Fabric's time, the target and whether it was met.
    struct Row {
        var scenario: String
        var fab: Double
        var fabric: Double?
        var target: String
        var met: Bool
    }

    func run(progress: (String) -> Void) throws -> (rows: [Row], baseline: [Comparison]) {
        let fabricBin = try Self.installFabric(progress: progress)
        let work = fixture.scratch.path + "/cli"
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        try Self.fabricFabfile.write(toFile: work + "/fabfile.py", atomically: true, encoding: .utf8)
        let cache = work + "/cache"
        var environment = ProcessInfo.processInfo.environment
        environment["XDG_CACHE_HOME"] = cache
        environment["FAB_CACHE_DIR"] = nil
        let log = work + "/fab-stderr.log"
        let list = ["-f", exampleFabfile, "-l"]
        var rows: [Row] = []
        var comparisons: [Comparison] = []

        progress("cold compile of \(exampleFabfile)")
        var cold: [Double] = [], coldBaseline: [Double] = []
        for index in 0..<max(1, repetitions / 5) {
            var fresh = environment
            fresh["XDG_CACHE_HOME"] = work + "/cold-\(index)"
            cold.append(try ClientProcess.timed(fabBinary, list, log: log, environment: fresh))
            if let baselineBinary {
                fresh["XDG_CACHE_HOME"] = work + "/cold-baseline-\(index)"
                coldBaseline.append(try ClientProcess.timed(baselineBinary, list, log: log, environment: fresh))
            }
        }
        rows.append(Row(scenario: "first run, cold cache (compile)", fab: median(cold), fabric: nil,
                        target: "<= 2 s", met: median(cold) <= 2))

        // A fabfile edited since its last run: the plugin is compiled again, clang's module cache (built
        // once per cache folder and toolchain by the first run above) is warm.
        progress("compile after an edit, \(max(1, repetitions / 5)) runs each")
        let edited = work + "/edited/fabfile.swift"
        try FileManager.default.createDirectory(atPath: work + "/edited", withIntermediateDirectories: true)
        let exampleText = try String(contentsOfFile: exampleFabfile, encoding: .utf8)
        var editedEnvironment = environment, editedBaselineEnvironment = environment
        editedEnvironment["XDG_CACHE_HOME"] = work + "/cold-0"
        editedBaselineEnvironment["XDG_CACHE_HOME"] = work + "/cold-baseline-0"
        var recompile: [Double] = [], recompileBaseline: [Double] = []
        for index in 0..<max(1, repetitions / 5) {
            try (exampleText + "\n// edit \(index)\n").write(toFile: edited, atomically: true, encoding: .utf8)
            recompile.append(try ClientProcess.timed(fabBinary, ["-f", edited, "-l"], log: log, environment: editedEnvironment))
            if let baselineBinary {
                recompileBaseline.append(try ClientProcess.timed(baselineBinary, ["-f", edited, "-l"], log: log,
                                                                 environment: editedBaselineEnvironment))
            }
        }
        rows.append(Row(scenario: "compile after an edit", fab: median(recompile), fabric: nil,
                        target: "<= 2 s", met: median(recompile) <= 2))

        progress("warm fab -l, \(repetitions) runs each")
        var baselineEnvironment = environment
        baselineEnvironment["XDG_CACHE_HOME"] = work + "/cache-baseline"
        _ = try ClientProcess.timed(fabBinary, list, log: log, environment: environment)
        if let baselineBinary { _ = try ClientProcess.timed(baselineBinary, list, log: log, environment: baselineEnvironment) }
        var warm: [Double] = [], warmBaseline: [Double] = []
        for _ in 0..<repetitions {
            warm.append(try ClientProcess.timed(fabBinary, list, log: log, environment: environment))
            if let baselineBinary {
                warmBaseline.append(try ClientProcess.timed(baselineBinary, list, log: log, environment: baselineEnvironment))
            }
        }
        let fabricList = try (0..<repetitions).map { _ in try timed([fabricBin + "/fab", "-l"], in: work, environment: environment) }
        rows.append(Row(scenario: "fab -l, warm", fab: median(warm), fabric: median(fabricList),
                        target: "<= 15 ms", met: median(warm) <= 0.015))
        if baselineBinary != nil {
            comparisons = [
                Comparison(scenario: "fab -l, warm", fab: median(warm), baseline: median(warmBaseline), target: "<= 15 ms"),
                Comparison(scenario: "first run, cold cache (compile)", fab: median(cold), baseline: median(coldBaseline),
                           target: "<= 2 s"),
                Comparison(scenario: "compile after an edit", fab: median(recompile), baseline: median(recompileBaseline),
                           target: "<= 2 s"),
            ]
        }

        let hosts = fixture.fanOut.indices.map { "fan\($0)" }
        progress("one command on \(hosts.count) hosts in parallel, \(max(3, repetitions / 4)) runs each")
        let script = work + "/fanout.py"
        try Self.fabricFanOut.write(toFile: script, atomically: true, encoding: .utf8)
        var fabRuns: [Double] = [], fabricRuns: [Double] = []
        var fabCPU: [Double] = [], fabricCPU: [Double] = []
        for _ in 0..<max(3, repetitions / 4) {
            var cpu = ChildCPU()
            fabRuns.append(try timed([fabBinary, "-f", exampleFabfile, "-F", fixture.configPath, "-H", hosts.joined(separator: ","),
                                      "-P", "-z", String(hosts.count), "--hide", "running,stdout,status", "uptime"],
                                     in: work, environment: environment))
            fabCPU.append(cpu.lap())
            fabricRuns.append(try timed([fabricBin + "/python", script, fixture.configPath] + hosts, in: work, environment: environment))
            fabricCPU.append(cpu.lap())
        }
        let fanOutFab = median(fabRuns), fanOutFabric = median(fabricRuns)
        rows.append(Row(scenario: "uptime on \(hosts.count) hosts, parallel", fab: fanOutFab, fabric: fanOutFabric,
                        target: ">= 3x faster", met: fanOutFabric / fanOutFab >= 3))
        // The servers run on this machine's cores too; the client's own CPU time is what grows with
        // the host count when the servers are elsewhere.
        rows.append(Row(scenario: "   client CPU time for it", fab: median(fabCPU), fabric: median(fabricCPU),
                        target: "-", met: true))
        return (rows, comparisons)
    }

    /// Prints the rows as a table with ratios.
    static func render(_ rows: [Row]) -> String {
        var lines = ["Scenario                              fab        Fabric 3   Fabric/fab  Target         Result"]
        for row in rows {
            let fabric = row.fabric.map { BenchReport.milliseconds($0) } ?? "-"
            let ratio = row.fabric.map { String(format: "%.1fx", $0 / row.fab) } ?? "-"
            lines.append(row.scenario.padding(toLength: 38, withPad: " ", startingAt: 0)
                         + BenchReport.milliseconds(row.fab).padding(toLength: 11, withPad: " ", startingAt: 0)
                         + fabric.padding(toLength: 11, withPad: " ", startingAt: 0)
                         + ratio.padding(toLength: 12, withPad: " ", startingAt: 0)
                         + row.target.padding(toLength: 15, withPad: " ", startingAt: 0)
                         + (row.target == "-" ? "-" : row.met ? "met" : "NOT MET"))
        }
        return lines.joined(separator: "\n")
    }

    /// This fab next to the baseline fab, with the ratio.
    static func renderBaseline(_ comparisons: [Comparison], baseline: String) -> String {
        var lines = ["Scenario                              this fab   baseline   baseline/this  Target     Result",]
        for row in comparisons {
            lines.append(row.scenario.padding(toLength: 38, withPad: " ", startingAt: 0)
                         + BenchReport.milliseconds(row.fab).padding(toLength: 11, withPad: " ", startingAt: 0)
                         + BenchReport.milliseconds(row.baseline).padding(toLength: 11, withPad: " ", startingAt: 0)
                         + String(format: "%.2fx", row.baseline / row.fab).padding(toLength: 15, withPad: " ", startingAt: 0)
                         + row.target.padding(toLength: 11, withPad: " ", startingAt: 0)
                         + (Self.meets(row.fab, row.target) ? "met" : "NOT MET"))
        }
        lines.append("(baseline: \(baseline))")
        return lines.joined(separator: "\n")
    }

    /// Whether a time in seconds meets a target written as `<= 15 ms` or `<= 2 s`.
    static func meets(_ seconds: Double, _ target: String) -> Bool {
        let parts = target.split(separator: " ")
        guard parts.count == 3, let limit = Double(parts[1]) else { return false }
        return seconds <= (parts[2] == "ms" ? limit / 1000 : limit)
    }

    /// CPU time (user + system) used by waited-for child processes, measured between laps.
    struct ChildCPU {
        private var last = Self.total()

        /// The children's CPU seconds since the previous lap (or creation).
        mutating func lap() -> Double {
            let now = Self.total()
            defer { last = now }
            return now - last
        }

        private static func total() -> Double {
            var usage = rusage()
            getrusage(RUSAGE_CHILDREN.rawValue, &usage)
            return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec)
                + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        }
    }

    /// Runs a command to completion (output discarded) and returns its wall time in seconds.
    private func timed(_ argv: [String], in directory: String, environment: [String: String]) throws -> Double {
        let start = Clock.now()
        let result = try TestShell.run("/bin/sh", ["-c", "cd \(TestShell.quote(directory)) && exec " + argv.map(TestShell.quote).joined(separator: " ")],
                                       environment: environment)
        let elapsed = Clock.now() - start
        guard result.succeeded else {
            throw BenchFailure("\(argv.joined(separator: " ")) failed (status \(result.status)):\n\(result.outputTail())")
        }
        return elapsed
    }

    /// The Fabric 3 virtualenv's bin directory, creating it with pip when missing.
    static func installFabric(progress: (String) -> Void) throws -> String {
        let venv = "/var/cache/fab-bench/fabric-venv"
        if FileManager.default.isExecutableFile(atPath: venv + "/bin/fab") { return venv + "/bin" }
        progress("installing Fabric 3 into \(venv) (pip)")
        let result = try TestShell.run("/bin/sh", ["-c", "mkdir -p /var/cache/fab-bench && /usr/bin/python3 -m venv \(venv) && \(venv)/bin/pip install -q fabric"])
        guard result.succeeded else { throw BenchFailure("could not install Fabric with pip:\n\(result.outputTail())") }
        return venv + "/bin"
    }

    /// A Fabric fabfile with as many tasks as the example, for `fab -l`.
    static let fabricFabfile = """
        from fabric import task

        @task
        def uptime(c):
            \"\"\"Show how long each host has been up.\"\"\"
            c.run("uptime")

        @task
        def deploy(c, branch="main", restart=True):
            \"\"\"Deploy a release of the site to the web servers.\"\"\"
            c.run("true")

        @task
        def logs(c):
            \"\"\"Fetch each web server's access log.\"\"\"
            c.get("/var/log/site/access.log")

        @task
        def flush_caches(c):
            \"\"\"Ask before dropping the database's caches.\"\"\"
            c.run("true")

        """

    /// Fabric's parallel way: a ThreadingGroup over the hosts, reading the same ssh_config.
    static let fabricFanOut = """
        import sys
        from fabric import Config, Connection, ThreadingGroup
        # One Config per connection: connections sharing one Config also share its connect_kwargs,
        # so each would offer every host's IdentityFile and sshd would stop at MaxAuthTries.
        # Paramiko ignores the config's IdentitiesOnly and IdentityAgent none: say so explicitly.
        group = ThreadingGroup.from_connections([
            Connection(host, config=Config(runtime_ssh_path=sys.argv[1]),
                       connect_kwargs={"look_for_keys": False, "allow_agent": False})
            for host in sys.argv[2:]])
        results = group.run("uptime", hide=True)
        sys.exit(0 if all(r.ok for r in results.values()) else 1)

        """
}
