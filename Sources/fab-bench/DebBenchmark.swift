#if os(Linux)
import FabTestSupport
import Foundation
import Glibc

// fab-bench deb: the issue's packaging benchmark. It copies an example (whois by default; `--example
// thumbs` for the uWSGI/Pillow/psycopg2 app, `--example django`) into a git repository of its own,
// starts a clean Debian build VM on loopback (FabTestSupport's CleanMachine, as fab-testbed does) and
// runs the real `fab` binary on it:
//   cold      a fresh VM: no apt lists, no build dependencies, empty pip/uv caches;
//   warm      the same VM again, the same commit, another artifact directory (so nothing is reused
//             from the cold build's packages: the caches and the build host are warm);
//   app-only  after a commit that changes app code only, into the warm build's artifact directory
//             (what the kit reuses there, it reuses);
//   identical whether the cold and warm builds (one commit, one version) gave the same bytes, every
//             package compared with cmp.
// Then dh-virtualenv builds the same app on a fresh VM of the same kind, cold and warm (DebPeer.swift).
// It prints where the time goes per step, from the summary line Deployment.buildDeb() prints
// ("step timings: apt 1.7 s, ...; total 40.2 s"), the ratios, and last:
//   fab-bench deb: cold C s, warm W s, app-only A s, identical yes|no, dh-virtualenv cold D s warm E s

/// What `fab-bench deb` prints for one `fab deb` run.
struct DebRun {
    var label: String
    var wall: Double
    /// The kit's steps, in order, in seconds; empty when the fab binary prints no step timings.
    var steps: [(name: String, seconds: Double)]
    var kitTotal: Double?
    /// The artifact directory the run fetched its packages to.
    var artifacts: String
}

/// The runs of one installer on one build VM.
struct DebSeries {
    /// `default` (the fabfile's own installer) or the `FAB_INSTALLER` value the runs had.
    var installer: String
    var runs: [DebRun]
    var identical: Bool
    /// What differed, when not identical.
    var differences: [String]

    var cold: DebRun { runs[0] }
    var warm: DebRun? { runs.dropFirst().filter { $0.label.hasPrefix("warm") }.min(by: { $0.wall < $1.wall }) }
    var appOnly: DebRun? { runs.last(where: { $0.label == "app-only" }) }
    /// The installer the step timings name (`uv` or `pip`), else the label.
    var tool: String {
        let names = runs.first?.steps.map(\.name) ?? []
        return ["uv", "pip"].first(where: { tool in names.contains { $0 == tool || $0.hasPrefix(tool + "+") } }) ?? installer
    }
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

/// Compares the packages of two artifact directories byte for byte: the same file names, the same bytes.
func compareArtifacts(_ first: String, _ second: String) -> (identical: Bool, differences: [String]) {
    let files = FileManager.default
    func debs(_ directory: String) -> [String] {
        ((try? files.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".deb") }.sorted()
    }
    let left = debs(first), right = debs(second)
    guard !left.isEmpty else { return (false, ["no packages in \(first)"]) }
    var differences: [String] = []
    for name in Set(left).symmetricDifference(right).sorted() { differences.append("\(name) only in one build") }
    for name in left where right.contains(name) {
        let a = files.contents(atPath: first + "/" + name), b = files.contents(atPath: second + "/" + name)
        if a == nil || a != b { differences.append("\(name) differs") }
    }
    return (differences.isEmpty, differences)
}

private func debUsage() -> String {
    """
    usage: fab-bench deb [--example NAME] [--fab PATH] [--fabfile PATH] [--warm-runs N]
                         [--installer LIST] [--no-peer]
      Times `fab deb` of an example on a clean loopback build VM: cold (fresh VM, empty caches), warm
      (same VM, same commit; N times, default 1, the fastest counts), app-only (after a commit that
      changes app code only), whether cold and warm gave identical bytes; then dh-virtualenv on the
      same app, cold and warm, on a fresh VM of the same kind. Needs root, debootstrap (cached),
      Debian's archive and PyPI. The last line:
        fab-bench deb: cold C s, warm W s, app-only A s, identical yes|no, dh-virtualenv cold D s warm E s
      --example NAME    the example under Fabfiles/: whois (default), thumbs or django
      --fab PATH        the fab binary (default: next to fab-bench, else .build/release/fab)
      --fabfile PATH    the fabfile (default: Fabfiles/NAME/fabfile.swift of this checkout); its folder is the project
      --installer LIST  comma-separated: default (the fabfile's own), pip, uv or uv==VERSION, each on a
                        fresh VM (FAB_INSTALLER); the last line reports the first (default: default)
      --no-peer         skip dh-virtualenv (the last line then says n/a)
    """
}

/// Runs `fab-bench deb`; returns the process exit status.
func runDebBenchmark(_ arguments: [String]) async throws -> Int32 {
    var fabPath: String?
    var fabfilePath: String?
    var warmRuns = 1
    var example = "whois"
    var installers = ["default"]
    var peer = true
    var iterator = arguments.makeIterator()
    func fail(_ message: String) -> Int32 {
        FileHandle.standardError.write(Data("fab-bench deb: \(message)\n".utf8))
        return 2
    }
    while let argument = iterator.next() {
        switch argument {
        case "--fab": fabPath = iterator.next()
        case "--fabfile": fabfilePath = iterator.next()
        case "--no-peer": peer = false
        case "--example":
            guard let value = iterator.next(), !value.isEmpty, !value.contains("/") else {
                return fail("--example needs the name of a folder under Fabfiles/, such as thumbs.")
            }
            example = value
        case "--warm-runs":
            guard let value = iterator.next().flatMap(Int.init), value >= 1 else { return fail("--warm-runs needs a number of at least 1.") }
            warmRuns = value
        case "--installer":
            let list = (iterator.next() ?? "").split(separator: ",").map(String.init)
            guard !list.isEmpty, list.allSatisfy({ $0 == "default" || $0 == "pip" || $0 == "uv" || $0.hasPrefix("uv==") }) else {
                return fail("--installer takes a comma-separated list of default, pip, uv or uv==VERSION, such as uv,pip.")
            }
            installers = list
        case "-h", "--help": print(debUsage()); return 0
        default:
            print(debUsage())
            return fail("unknown argument '\(argument)'.")
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

    // The project: the example's files (as git has them) in a repository of its own, so the app-only
    // change is a commit there and the checkout stays untouched.
    let exampleDirectory = (fabfile as NSString).deletingLastPathComponent
    let project = work + "/project"
    try files.createDirectory(atPath: project, withIntermediateDirectories: true)
    let q = TestShell.quote
    let tracked = try TestShell.shell("cd \(q(exampleDirectory)) && git ls-files -z . 2>/dev/null | xargs -0 -r cp --parents -t \(q(project))")
    if !tracked.succeeded || ((try? files.contentsOfDirectory(atPath: project)) ?? []).isEmpty {
        try shell("cp -a \(q(exampleDirectory))/. \(q(project))/ && rm -rf \(q(project + "/.git"))")
    }
    let git = "git -c user.name=fab-bench -c user.email=fab-bench@example.invalid -c commit.gpgsign=false"
    try shell("cd \(q(project)) && git init -q -b main . && git add -A && \(git) commit -q -m 'fab-bench: the example'")
    let firstCommit = try shell("git -C \(q(project)) rev-parse HEAD").trimmingCharacters(in: .whitespacesAndNewlines)
    let projectFabfile = project + "/" + (fabfile as NSString).lastPathComponent
    progress("compiling the fabfile (untimed)...")
    _ = try TestShell.run(fab, ["-f", projectFabfile, "-l"], timeout: .seconds(1200)).checked("fab -l (compiling the fabfile)")

    var changes = 0
    /// Appends a comment to the first tracked Python file outside debian/ and commits it: app code only.
    func changeAppCode() throws {
        let listed = try shell("cd \(q(project)) && git ls-files '*.py' | grep -v '^debian/' | LC_ALL=C sort | head -1")
        let file = listed.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !file.isEmpty else { throw BenchFailure("the example has no Python file to change for the app-only build.") }
        changes += 1
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: project + "/" + file))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("\n# fab-bench: app-only change \(changes)\n".utf8))
        try handle.close()
        try shell("cd \(q(project)) && git add -A && \(git) commit -q -m 'fab-bench: app-only change \(changes)'")
    }

    /// One `fab deb` on the VM behind `config`.
    func fabDeb(_ label: String, config: String, installer: String, version: Int, artifacts: String) throws -> DebRun {
        var environment = ProcessInfo.processInfo.environment
        environment["FAB_ARTIFACT_DIR"] = artifacts
        if installer != "default" { environment["FAB_INSTALLER"] = installer } else { environment["FAB_INSTALLER"] = nil }
        progress("\(installer) \(label): fab deb ...")
        let start = clock.now
        let result = try TestShell.run(fab, ["-F", config, "-f", projectFabfile, "deb:version=\(version)"], environment: environment, timeout: .seconds(1800))
        let wall = seconds(clock.now - start)
        guard result.status == 0 else {
            throw BenchFailure("the \(installer) \(label) fab deb failed (status \(result.status)):\n\(result.outputTail(lines: 40))")
        }
        let parsed = parseStepTimings(result.stdout)
        progress(String(format: "%@ %@: %.1f s", installer, label, wall))
        return DebRun(label: label, wall: wall, steps: parsed.steps, kitTotal: parsed.total, artifacts: artifacts)
    }

    var series: [DebSeries] = []
    for installer in installers {
        progress("\(installer): starting a clean build VM (the first start builds the cached Debian base)...")
        let started = clock.now
        let machine = try CleanMachine.start(.init(passwordlessSudo: true))
        defer { try? machine.shutdown() }
        progress(String(format: "build VM at %@:%d in %.1f s", machine.host, machine.port, seconds(clock.now - started)))
        let config = work + "/ssh_config-\(series.count)"
        try machine.sshConfigSnippet(alias: "buildvm").write(toFile: config, atomically: true, encoding: .utf8)
        let base = work + "/debs-\(series.count)"
        var runs = [try fabDeb("cold", config: config, installer: installer, version: 1, artifacts: base + "-cold")]
        for index in 1...warmRuns {
            let label = warmRuns == 1 ? "warm" : "warm \(index)"
            runs.append(try fabDeb(label, config: config, installer: installer, version: 1, artifacts: base + "-warm\(index)"))
        }
        let same = compareArtifacts(runs[0].artifacts, runs[1].artifacts)
        try changeAppCode()
        runs.append(try fabDeb("app-only", config: config, installer: installer, version: 2, artifacts: runs[runs.count - 1].artifacts))
        series.append(DebSeries(installer: installer, runs: runs, identical: same.identical, differences: same.differences))
        try? machine.shutdown()
    }

    // dh-virtualenv on the same app, on a fresh VM of the same kind.
    var peerCold: DhVirtualenvPeer.Build?, peerWarm: DhVirtualenvPeer.Build?
    let profile = ExampleProfile.shipped(fabfilePath == nil ? example : (exampleDirectory as NSString).lastPathComponent)
    if peer, let profile {
        // The peer builds the commit the fab series started from (no app-only change).
        let dh = DhVirtualenvPeer(profile: profile, project: project, work: work)
        let source = try dh.prepareSource(commit: firstCommit)
        progress("dh-virtualenv: starting a clean build VM...")
        let machine = try CleanMachine.start(.init(passwordlessSudo: true))
        defer { try? machine.shutdown() }
        progress("dh-virtualenv cold: apt-get, dpkg-buildpackage ...")
        peerCold = try dh.build(on: machine, source: source, label: "cold", installDependencies: true)
        progress(String(format: "dh-virtualenv cold: %.1f s", peerCold?.seconds ?? 0))
        progress("dh-virtualenv warm: dpkg-buildpackage ...")
        peerWarm = try dh.build(on: machine, source: source, label: "warm", installDependencies: false)
        progress(String(format: "dh-virtualenv warm: %.1f s", peerWarm?.seconds ?? 0))
    } else if peer {
        progress("dh-virtualenv skipped: fab-bench knows the settings of the shipped examples only (whois, thumbs, django)")
    }

    // The tables: one row a step, one column a run.
    func cell(_ value: Double?) -> String {
        let text = value.map { String(format: "%.1f s", $0) } ?? "-"
        return String(repeating: " ", count: max(0, 10 - text.count)) + text
    }
    let name = fabfilePath == nil ? "the \(example) example" : fabfile
    for one in series {
        var names: [String] = []
        for run in one.runs { for step in run.steps where !names.contains(step.name) { names.append(step.name) } }
        let width = max(20, (names.map(\.count).max() ?? 0) + 2)
        func pad(_ text: String) -> String { text.padding(toLength: width, withPad: " ", startingAt: 0) }
        print("\nfab deb of \(name) with \(one.installer == "default" ? "the fabfile's installer (\(one.tool))" : one.installer) on a clean loopback build VM (\(fab))")
        print(pad("step") + one.runs.map { String(repeating: " ", count: max(0, 10 - $0.label.count)) + $0.label }.joined())
        for name in names {
            print(pad(name) + one.runs.map { run in cell(run.steps.first(where: { $0.name == name })?.seconds) }.joined())
        }
        print(pad("kit total") + one.runs.map { cell($0.kitTotal) }.joined())
        print(pad("fab start, fabfile") + one.runs.map { run in cell(run.kitTotal.map { run.wall - $0 }) }.joined())
        print(pad("wall clock") + one.runs.map { cell($0.wall) }.joined())
        if one.runs.allSatisfy({ $0.steps.isEmpty }) {
            print("(this fab prints no step timings; only wall-clock times are shown)")
        }
        print("identical bytes (cold and warm, one commit): \(one.identical ? "yes" : "no (" + one.differences.joined(separator: "; ") + ")")")
    }
    print("")
    if series.count > 1 {
        for one in series {
            print(String(format: "%@: cold %.1f s, warm %.1f s, app-only %.1f s", one.installer, one.cold.wall, one.warm?.wall ?? .nan, one.appOnly?.wall ?? .nan))
        }
        let byWarm = series.sorted { ($0.warm?.wall ?? .infinity) < ($1.warm?.wall ?? .infinity) }
        if let fast = byWarm.first, let slow = byWarm.last, let a = fast.warm?.wall, let b = slow.warm?.wall {
            print(String(format: "warm: %@ is %.2fx as fast as %@; cold: %@ %.1f s, %@ %.1f s", fast.installer, b / a, slow.installer,
                         fast.installer, fast.cold.wall, slow.installer, slow.cold.wall))
        }
    }
    let primary = series[0]
    let cold = primary.cold.wall, warm = primary.warm?.wall ?? .nan, appOnly = primary.appOnly?.wall ?? .nan
    print(String(format: "targets: app-only warm build %.1f s (target 5 s: %@), cold build %.1f s (target 30 s: %@)",
                 appOnly, appOnly <= 5 ? "met" : "MISSED", cold, cold <= 30 ? "met" : "MISSED"))
    let peerText: String
    if let peerCold, let peerWarm {
        print(String(format: "dh-virtualenv / fab (%@): cold %.1f s / %.1f s = %.2fx, warm %.1f s / %.1f s = %.2fx, warm / fab app-only %.1f s = %.2fx",
                     primary.tool, peerCold.seconds, cold, peerCold.seconds / cold, peerWarm.seconds, warm, peerWarm.seconds / warm,
                     appOnly, peerWarm.seconds / appOnly))
        let fabBytes = primary.runs[1].artifacts
        let fabSize = ((try? files.contentsOfDirectory(atPath: fabBytes)) ?? []).filter { $0.hasSuffix(".deb") }
            .compactMap { (try? files.attributesOfItem(atPath: fabBytes + "/" + $0)[.size] as? Int) ?? nil }.reduce(0, +)
        print(String(format: "package sizes: dh-virtualenv %.1f MiB (xz), fab %.1f MiB", Double(peerWarm.debBytes) / 1048576, Double(fabSize) / 1048576))
        peerText = String(format: "dh-virtualenv cold %.1f s warm %.1f s", peerCold.seconds, peerWarm.seconds)
    } else {
        peerText = "dh-virtualenv cold n/a s warm n/a s"
    }
    print(String(format: "fab-bench deb: cold %.1f s, warm %.1f s, app-only %.1f s, identical %@, %@",
                 cold, warm, appOnly, primary.identical ? "yes" : "no", peerText))
    return 0
}
#else
func runDebBenchmark(_ arguments: [String]) async throws -> Int32 {
    print("fab-bench deb needs Linux (clean machines are chroots with overlayfs).")
    return 1
}
#endif
