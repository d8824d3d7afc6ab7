import Foundation

// fab-bench: benchmarks that print figures and ratios against the tool a user would otherwise use.

let arguments = Array(CommandLine.arguments.dropFirst())
let topUsage = """
    usage: fab-bench BENCHMARK [options]

    benchmarks:
      ssh    fab's SSH layer against the OpenSSH client (fab-bench ssh --help)
      cli    the fab command against Fabric 3: warm fab -l, cold compile, 20-host fan-out (fab-bench cli --help)
      deb    fab deb of an example (whois, thumbs, django) on a clean loopback build VM, cold and warm (fab-bench deb --help)
    """

/// Prints a usage problem and exits with status 2 (0 when help was asked for).
func usageExit(_ message: String?, usage: String) -> Never {
    if let message { FileHandle.standardError.write(Data("fab-bench: \(message)\n".utf8)) }
    print(usage)
    exit(message == nil ? 0 : 2)
}

switch arguments.first {
case "ssh":
    exit(await runSSHBenchmark(Array(arguments.dropFirst())))
case "cli":
    exit(runCLIBenchmark(Array(arguments.dropFirst())))
case "deb":
    do {
        exit(try await runDebBenchmark(Array(arguments.dropFirst())))
    } catch {
        FileHandle.standardError.write(Data("fab-bench deb: \(error)\n".utf8))
        exit(1)
    }
case "-h", "--help":
    usageExit(nil, usage: topUsage)
case let other?:
    usageExit("unknown benchmark '\(other)'.", usage: topUsage)
case nil:
    usageExit("name a benchmark.", usage: topUsage)
}

/// Fails unless running as root (the benchmarks create the test user and start sshd instances).
func requireRoot() -> Bool {
    guard getuid() == 0 else {
        FileHandle.standardError.write(Data("fab-bench: run as root: it creates the ordinary test user and starts sshd instances on loopback.\n".utf8))
        return false
    }
    return true
}

/// `fab-bench ssh`: returns the exit status.
func runSSHBenchmark(_ arguments: [String]) async -> Int32 {
    let options: BenchOptions
    do {
        options = try BenchOptions.parse(arguments)
    } catch let error as BenchUsageError {
        usageExit(error.message, usage: BenchOptions.usage)
    } catch {
        usageExit("\(error)", usage: BenchOptions.usage)
    }
    guard requireRoot() else { return 1 }
    do {
        let fixture = try BenchFixture(fanOutHosts: options.scenarios.contains(3) ? options.fanOutHosts : 0, progress: progress)
        defer { fixture.tearDown() }
        var benchmark = SSHBenchmark(options: options, fixture: fixture)
        let start = Clock.now()
        let load = LoadAverage.now()
        let report = try await benchmark.run()
        print("")
        print(report.render())
        print("\n(\(arguments.contains("--quick") ? "quick " : "")run took \(Int((Clock.now() - start).rounded())) s; "
              + "load average \(load) at the start, \(LoadAverage.now()) at the end, on \(ProcessInfo.processInfo.activeProcessorCount) cores)")
        return 0
    } catch {
        FileHandle.standardError.write(Data("fab-bench: \(error)\n".utf8))
        return 1
    }
}

/// `fab-bench cli`: returns the exit status.
func runCLIBenchmark(_ arguments: [String]) -> Int32 {
    let usage = """
        usage: fab-bench cli [--quick] [--fab PATH] [--baseline PATH] [--hosts N] [--repeat N]

        Times the fab command next to Fabric 3 (installed with pip into /var/cache/fab-bench on
        first use): fab -l with a warm plugin cache, the first run with a cold cache (compiling
        Fabfiles/example), and one command on N sshd hosts in parallel (fab -P against Fabric's
        ThreadingGroup).

          --quick          5 hosts and 5 repetitions
          --fab PATH       the fab binary (default: next to fab-bench)
          --baseline PATH  another fab binary (such as main's release build) to time next to it,
                           warm fab -l and cold compile, interleaved in the same run
          --hosts N        sshd instances in the fan-out (default 20)
          --repeat N       repetitions of fab -l (default 20)
        """
    var hosts = 20, repetitions = 20
    var fabPath: String?
    var baselinePath: String?
    var remaining = arguments[...]
    while let argument = remaining.popFirst() {
        switch argument {
        case "--quick": hosts = 5; repetitions = 5
        case "--fab": fabPath = remaining.popFirst()
        case "--baseline": baselinePath = remaining.popFirst()
        case "--hosts", "--repeat":
            guard let value = remaining.popFirst().flatMap(Int.init), (1...200).contains(value) else {
                usageExit("\(argument) takes a whole number from 1 to 200.", usage: usage)
            }
            if argument == "--hosts" { hosts = value } else { repetitions = value }
        case "-h", "--help": usageExit(nil, usage: usage)
        default: usageExit("unknown argument '\(argument)'.", usage: usage)
        }
    }
    guard requireRoot() else { return 1 }
    let files = FileManager.default
    let binDirectory = ((try? files.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]) as NSString
    let checkout = ((binDirectory.deletingLastPathComponent as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
    let fab = fabPath ?? binDirectory.deletingLastPathComponent + "/fab"
    guard files.isExecutableFile(atPath: fab) else {
        FileHandle.standardError.write(Data("fab-bench cli: no fab binary at \(fab); build it (swift build -c release) or give --fab PATH.\n".utf8))
        return 1
    }
    if let baselinePath, !files.isExecutableFile(atPath: baselinePath) {
        FileHandle.standardError.write(Data("fab-bench cli: no fab binary at \(baselinePath); give --baseline the path of another fab build.\n".utf8))
        return 1
    }
    let example = [files.currentDirectoryPath, checkout].map { $0 + "/Fabfiles/example/fabfile.swift" }.first(where: files.fileExists(atPath:))
    guard let example else {
        FileHandle.standardError.write(Data("fab-bench cli: cannot find Fabfiles/example/fabfile.swift; run from the checkout.\n".utf8))
        return 1
    }
    do {
        let fixture = try BenchFixture(fanOutHosts: hosts, progress: progress)
        defer { fixture.tearDown() }
        let start = Clock.now()
        let (rows, comparisons) = try CLIBenchmark(repetitions: repetitions, fixture: fixture, fabBinary: fab,
                                                   exampleFabfile: example, baselineBinary: baselinePath).run(progress: progress)
        print("")
        print(CLIBenchmark.render(rows))
        if let baselinePath {
            print("")
            print(CLIBenchmark.renderBaseline(comparisons, baseline: baselinePath))
        }
        print("\n(times are medians; run took \(Int((Clock.now() - start).rounded())) s; load average \(LoadAverage.now()) "
              + "at the end, on \(ProcessInfo.processInfo.activeProcessorCount) cores)")
        return 0
    } catch {
        FileHandle.standardError.write(Data("fab-bench cli: \(error)\n".utf8))
        return 1
    }
}

/// The 1-minute load average, to judge how noisy a run's figures are.
enum LoadAverage {
    static func now() -> String {
        let text = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?"
        return String(text.split(separator: " ").first ?? "?")
    }
}
