#if os(Linux)
import FabTestSupport
import Foundation
import Glibc

// fab-bench deb: the packaging benchmark. It starts a clean Debian build VM on loopback
// (FabTestSupport's CleanMachine, as fab-testbed does), runs the real `fab` binary on an example
// (whois by default; `--example thumbs` for the uWSGI/Pillow/psycopg2 app, `--example django`) twice, cold (a fresh VM: no apt lists, no build dependencies, empty pip cache) and warm
// (the same VM again), and prints where the time goes per step from the summary line that
// Deployment.buildDeb() prints ("step timings: apt 1.7 s, ...; total 40.2 s").
//
//   fab-bench deb [--example whois|thumbs|django] [--fab PATH] [--fabfile PATH] [--warm-runs N]

/// What `fab-bench deb` prints for one `fab deb` run.
struct DebRun {
    var label: String
    var wall: Double
    /// The kit's steps, in order, in seconds; empty when the fab binary prints no step timings.
    var steps: [(name: String, seconds: Double)]
    var kitTotal: Double?
}

/// The steps of a `step timings: NAME X.Y s, NAME X.Y s; total X.Y s` line in fab's output.
func parseStepTimings(_ output: String) -> (steps: [(name: String, seconds: Double)], total: Double?) {
    guard let line = output.split(whereSeparator: \.isNewline).last(where: { $0.contains("step timings: ") }),
          let range = line.range(of: "step timings: ") else { return ([], nil) }
    let body = line[range.upperBound...]
    let parts = body.split(separator: ";", maxSplits: 1)
    var steps: [(String, Double)] = []
    for item in parts.first?.split(separator: ",") ?? [] {
        let words = item.split(separator: " ")
        guard words.count >= 3, words.last == "s", let seconds = Double(words[words.count - 2]) else { continue }
        steps.append((words.dropLast(2).joined(separator: " "), seconds))
    }
    var total: Double?
    if parts.count > 1 {
        let words = parts[1].split(separator: " ")
        if words.count >= 3, words[0] == "total" { total = Double(words[1]) }
    }
    return (steps, total)
}

private func debUsage() -> String {
    """
    usage: fab-bench deb [--example NAME] [--fab PATH] [--fabfile PATH] [--warm-runs N]
      Times `fab deb` of an example on a clean loopback build VM: once cold (fresh VM, empty pip
      cache), then N times warm (same VM; default 1). Needs root, debootstrap (cached), Debian's
      archive and PyPI.
      --example NAME   the example under Fabfiles/: whois (default), thumbs or django
      --fab PATH       the fab binary (default: next to fab-bench, else .build/release/fab)
      --fabfile PATH   the fabfile (default: Fabfiles/NAME/fabfile.swift of this checkout)
    """
}

/// Runs `fab-bench deb`; returns the process exit status.
func runDebBenchmark(_ arguments: [String]) async throws -> Int32 {
    var fabPath: String?
    var fabfilePath: String?
    var warmRuns = 1
    var example = "whois"
    var iterator = arguments.makeIterator()
    while let argument = iterator.next() {
        switch argument {
        case "--fab": fabPath = iterator.next()
        case "--fabfile": fabfilePath = iterator.next()
        case "--example":
            guard let value = iterator.next(), !value.isEmpty, !value.contains("/") else {
                FileHandle.standardError.write(Data("fab-bench deb: --example needs the name of a folder under Fabfiles/, such as thumbs.\n".utf8))
                return 2
            }
            example = value
        case "--warm-runs":
            guard let value = iterator.next().flatMap(Int.init), value >= 1 else {
                FileHandle.standardError.write(Data("fab-bench deb: --warm-runs needs a number of at least 1.\n".utf8))
                return 2
            }
            warmRuns = value
        case "-h", "--help": print(debUsage()); return 0
        default:
            FileHandle.standardError.write(Data("fab-bench deb: unknown argument '\(argument)'.\n".utf8))
            print(debUsage())
            return 2
        }
    }
    guard getuid() == 0 else {
        FileHandle.standardError.write(Data("fab-bench deb: run as root: the build VM is a chroot with mounts.\n".utf8))
        return 1
    }
    let files = FileManager.default
    let binDirectory = ((try? files.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]) as NSString
    let fab = fabPath ?? [binDirectory.deletingLastPathComponent + "/fab", files.currentDirectoryPath + "/.build/release/fab"]
        .first(where: files.isExecutableFile(atPath:))
    guard let fab, files.isExecutableFile(atPath: fab) else {
        FileHandle.standardError.write(Data("fab-bench deb: no fab binary next to fab-bench or in .build/release; build it (swift build -c release --product fab) or give --fab PATH.\n".utf8))
        return 1
    }
    // The checkout: the current directory, else the one fab-bench was built in (.build/release/..).
    let checkoutCandidates = [files.currentDirectoryPath,
                              ((binDirectory.deletingLastPathComponent as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent]
    let fabfile = fabfilePath ?? checkoutCandidates.map { $0 + "/Fabfiles/\(example)/fabfile.swift" }.first(where: files.fileExists(atPath:))
    guard let fabfile, files.fileExists(atPath: fabfile) else {
        FileHandle.standardError.write(Data("fab-bench deb: cannot find Fabfiles/\(example)/fabfile.swift; run from the checkout or give --fabfile PATH.\n".utf8))
        return 1
    }

    let work = NSTemporaryDirectory() + "fab-bench-deb-" + UUID().uuidString.prefix(8)
    try files.createDirectory(atPath: work, withIntermediateDirectories: true)
    defer { try? files.removeItem(atPath: work) }
    let clock = ContinuousClock()
    func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
    func progress(_ text: String) { FileHandle.standardError.write(Data("fab-bench deb: \(text)\n".utf8)) }

    progress("starting a clean build VM (the first start builds the cached Debian base)...")
    let started = clock.now
    let machine = try CleanMachine.start(.init(passwordlessSudo: true))
    defer { try? machine.shutdown() }
    progress(String(format: "build VM at %@:%d in %.1f s", machine.host, machine.port, seconds(clock.now - started)))
    let config = work + "/ssh_config"
    try machine.sshConfigSnippet(alias: "buildvm").write(toFile: config, atomically: true, encoding: .utf8)

    var runs: [DebRun] = []
    for index in 0...warmRuns {
        let label = index == 0 ? "cold" : (warmRuns == 1 ? "warm" : "warm \(index)")
        var environment = ProcessInfo.processInfo.environment
        environment["FAB_ARTIFACT_DIR"] = work + "/debs-\(index)"
        progress("\(label): fab deb ...")
        let start = clock.now
        let result = try TestShell.run(fab, ["-F", config, "-f", fabfile, "deb"], environment: environment, timeout: .seconds(1800))
        let wall = seconds(clock.now - start)
        guard result.status == 0 else {
            FileHandle.standardError.write(Data("fab-bench deb: the \(label) fab deb failed (status \(result.status)):\n\(result.outputTail(lines: 40))\n".utf8))
            return 1
        }
        let parsed = parseStepTimings(result.stdout)
        runs.append(DebRun(label: label, wall: wall, steps: parsed.steps, kitTotal: parsed.total))
        progress(String(format: "%@: %.1f s", label, wall))
    }

    // The table: one row a step, one column a run.
    var names: [String] = []
    for run in runs { for step in run.steps where !names.contains(step.name) { names.append(step.name) } }
    let width = max(20, (names.map(\.count).max() ?? 0) + 2)
    func pad(_ text: String) -> String { text.padding(toLength: width, withPad: " ", startingAt: 0) }
    func cell(_ value: Double?) -> String {
        let text = value.map { String(format: "%.1f s", $0) } ?? "-"
        return String(repeating: " ", count: max(0, 10 - text.count)) + text
    }
    let name = fabfilePath == nil ? "the \(example) example" : fabfile
    print("\nfab deb of \(name) on a clean loopback build VM (\(fab))")
    print(pad("step") + runs.map { String(repeating: " ", count: max(0, 10 - $0.label.count)) + $0.label }.joined())
    for name in names {
        print(pad(name) + runs.map { run in cell(run.steps.first(where: { $0.name == name })?.seconds) }.joined())
    }
    print(pad("kit total") + runs.map { cell($0.kitTotal) }.joined())
    print(pad("fab start, fabfile") + runs.map { run in cell(run.kitTotal.map { run.wall - $0 }) }.joined())
    print(pad("wall clock") + runs.map { cell($0.wall) }.joined())
    if runs.allSatisfy({ $0.steps.isEmpty }) {
        print("(this fab prints no step timings; only wall-clock times are shown)")
    }
    let target = 30.0
    let warm = runs.dropFirst().map(\.wall).min()
    print("")
    print("reference: the seed's own pipeline reports 30 s to 2.5 min per build; target: a warm build under \(Int(target)) s")
    if let warm {
        print(String(format: "warm build: %.1f s, %@ the %.0f s target (%.2fx of it); cold build: %.1f s",
                     warm, warm < target ? "under" : "OVER", target, warm / target, runs[0].wall))
    }
    return 0
}
#else
func runDebBenchmark(_ arguments: [String]) async throws -> Int32 {
    print("fab-bench deb needs Linux (clean machines are chroots with overlayfs).")
    return 1
}
#endif
