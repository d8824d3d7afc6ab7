#if os(Linux)
import FabTestSupport
import Foundation
import Glibc

// fab-bench deb: the issue's packaging benchmark. It copies an example (whois by default, built as
// the package family of Fabfiles/whois/family/fabfile.swift; `--example thumbs` for the
// uWSGI/Pillow/psycopg2 app and `--example django`, each one package) into a git repository of its
// own, starts a clean Debian build VM on loopback (FabTestSupport's CleanMachine, as fab-testbed
// does) and runs the real `fab` binary on it:
//   cold      a fresh VM: no apt lists, no build dependencies, empty pip/uv caches (the whole family);
//   warm      the same VM again, the same commit, another artifact directory (so nothing is reused
//             from the cold build's packages: the caches and the build host are warm);
//   app-only  after a commit that changes app code only, into the warm build's artifact directory
//             (what the kit reuses there, it reuses: for a family, the venv and config packages must
//             be reused and only the app and the packages that pin it built, or the benchmark fails);
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
    /// A family's members as fab reported them (`PKG VERSION: built` or `... reused from ...`); empty
    /// for a one-package fabfile.
    var members: [RunMember] = []
}

/// One package of a family build, as fab's summary names it.
struct RunMember: Equatable {
    var package: String
    var version: String
    /// Whether it was reused (found by its key) rather than built in the run.
    var reused: Bool
    /// Where a reused package came from, as fab says it; empty when built.
    var source: String
}

/// The members of a family build from the lines `buildFamily` prints after its step timings:
/// `[localhost] PKG VERSION: built`, `... reused from DIRECTORY` or `... reused from the repository`.
func parseMembers(_ output: String) -> [RunMember] {
    var members: [RunMember] = []
    for raw in output.split(whereSeparator: \.isNewline) {
        var line = Substring(raw)
        if line.hasPrefix("["), let close = line.range(of: "] ") { line = line[close.upperBound...] }
        let halves = line.split(separator: ":", maxSplits: 1)
        guard halves.count == 2 else { continue }
        let words = halves[0].split(separator: " ")
        let state = halves[1].trimmingCharacters(in: .whitespaces)
        guard words.count == 2, state == "built" || state.hasPrefix("reused from ") else { continue }
        members.append(RunMember(package: String(words[0]), version: String(words[1]), reused: state != "built",
                                 source: state == "built" ? "" : String(state.dropFirst("reused from ".count))))
    }
    return members
}

/// Why an app-only family build is not what the issue asks for (the virtualenv package `APP-venv`
/// and the config packages `APP-config-ENV` reused, the app `APP` built), or nil when it is (or the
/// run built one package, not a family).
func appOnlyProblem(_ members: [RunMember]) -> String? {
    guard !members.isEmpty else { return nil }
    guard let venv = members.first(where: { $0.package.hasSuffix("-venv") }) else { return "no virtualenv package (NAME-venv) in the family" }
    let app = String(venv.package.dropLast("-venv".count))
    var problems: [String] = []
    for member in members {
        let reusable = member.package == venv.package || member.package.hasPrefix(app + "-config-")
        if reusable && !member.reused { problems.append("\(member.package) \(member.version) was built, not reused") }
        if member.package == app && member.reused { problems.append("the app \(app) was not built") }
    }
    if !members.contains(where: { $0.package == app }) { problems.append("no app package \(app) in the family") }
    return problems.isEmpty ? nil : problems.joined(separator: "; ")
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
    /// The fastest app-only run of the benchmarked fab.
    var appOnly: DebRun? { runs.filter { $0.label.hasPrefix("app-only") }.min(by: { $0.wall < $1.wall }) }
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
    usage: fab-bench deb [--example NAME] [--single] [--fab PATH] [--fabfile PATH] [--warm-runs N]
                         [--app-only-runs N] [--compare-fab LIST] [--installer LIST] [--logs DIR] [--no-peer]
      Times `fab deb` of an example on a clean loopback build VM: cold (fresh VM, empty caches), warm
      (same VM, same commit; N times, default 1, the fastest counts), app-only (after a commit that
      changes app code only: a family must reuse its venv and config packages), whether cold and
      warm gave identical bytes (every package); then dh-virtualenv on the
      same app, cold and warm, on a fresh VM of the same kind. Needs root, debootstrap (cached),
      Debian's archive and PyPI. The last line:
        fab-bench deb: cold C s, warm W s, app-only A s, identical yes|no, dh-virtualenv cold D s warm E s
      --example NAME    the example under Fabfiles/: whois (default: its package family,
                        Fabfiles/whois/family/fabfile.swift), thumbs or django (one package each)
      --single          build the example's one-package fabfile (Fabfiles/NAME/fabfile.swift) even
                        when it has a family/ fabfile
      --fab PATH        the fab binary (default: next to fab-bench, else .build/release/fab)
      --fabfile PATH    the fabfile (default: Fabfiles/NAME/family/fabfile.swift, else
                        Fabfiles/NAME/fabfile.swift, of this checkout); its folder is the project,
                        or the folder above when the fabfile sits in a folder called family
      --app-only-runs N app-only builds, each after its own commit (default 1; the fastest counts)
      --compare-fab LIST comma-separated other fab binaries (an installed prefix's bin/fab, such as one
                        built before a change): each app-only round runs each of them too, on the same
                        VM, in turn with the benchmarked fab, so a change is compared under one load;
                        their runs are shown in the table, never in the last line
      --installer LIST  comma-separated: default (the fabfile's own), pip, uv or uv==VERSION, each on a
                        fresh VM (FAB_INSTALLER); the last line reports the first (default: default)
      --logs DIR        keep each fab run's output in DIR (INSTALLER-LABEL.log)
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
    var single = false
    var appOnlyRuns = 1
    var compareFabs: [String] = []
    var logs: String?
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
        case "--single": single = true
        case "--logs":
            guard let value = iterator.next(), !value.isEmpty else { return fail("--logs needs a directory.") }
            logs = value
        case "--app-only-runs":
            guard let value = iterator.next().flatMap(Int.init), value >= 1 else { return fail("--app-only-runs needs a number of at least 1.") }
            appOnlyRuns = value
        case "--compare-fab":
            let list = (iterator.next() ?? "").split(separator: ",").map(String.init)
            guard !list.isEmpty, list.allSatisfy({ FileManager.default.isExecutableFile(atPath: $0) }) else {
                return fail("--compare-fab takes a comma-separated list of fab executables, such as /tmp/fab-before/bin/fab.")
            }
            compareFabs = list
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
    let candidates = (single ? [] : ["/Fabfiles/\(example)/family/fabfile.swift"]) + ["/Fabfiles/\(example)/fabfile.swift"]
    let fabfile = fabfilePath ?? checkoutCandidates.flatMap { root in candidates.map { root + $0 } }.first(where: files.fileExists(atPath:))
    guard let fabfile, files.fileExists(atPath: fabfile) else {
        FileHandle.standardError.write(Data("fab-bench deb: cannot find Fabfiles/\(example)/fabfile.swift; run from the checkout or give --fabfile PATH.\n".utf8))
        return 1
    }
    // A family's fabfile sits in the project's family/ folder (Fabfiles/whois/family/fabfile.swift).
    let fabfileDirectory = (fabfile as NSString).deletingLastPathComponent
    let isFamily = (fabfileDirectory as NSString).lastPathComponent == "family"

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
    let exampleDirectory = isFamily ? (fabfileDirectory as NSString).deletingLastPathComponent : fabfileDirectory
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
    let projectFabfile = project + (isFamily ? "/family/" : "/") + (fabfile as NSString).lastPathComponent
    progress("compiling the fabfile (untimed)...")
    for binary in [fab] + compareFabs {
        _ = try TestShell.run(binary, ["-f", projectFabfile, "-l"], timeout: .seconds(1200)).checked("\(binary) -l (compiling the fabfile)")
    }
    /// A short name for a compared fab: its installed prefix's folder (`/tmp/fab-before/bin/fab` -> `fab-before`).
    func shortName(_ binary: String) -> String {
        let bin = (binary as NSString).deletingLastPathComponent
        return ((bin as NSString).lastPathComponent == "bin" ? ((bin as NSString).deletingLastPathComponent as NSString).lastPathComponent
            : (bin as NSString).lastPathComponent)
    }

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
    func fabDeb(_ label: String, config: String, installer: String, version: Int, artifacts: String, binary: String? = nil) throws -> DebRun {
        var environment = ProcessInfo.processInfo.environment
        environment["FAB_ARTIFACT_DIR"] = artifacts
        if installer != "default" { environment["FAB_INSTALLER"] = installer } else { environment["FAB_INSTALLER"] = nil }
        progress("\(installer) \(label): fab deb ...")
        let start = clock.now
        let result = try TestShell.run(binary ?? fab, ["-F", config, "-f", projectFabfile, "deb:version=\(version)"], environment: environment, timeout: .seconds(1800))
        let wall = seconds(clock.now - start)
        if let logs {
            try files.createDirectory(atPath: logs, withIntermediateDirectories: true)
            let name = "\(installer)-\(label)".replacingOccurrences(of: " ", with: "-").replacingOccurrences(of: "/", with: "_")
            try (result.stdout + (result.stderr.isEmpty ? "" : "\n--- stderr ---\n" + result.stderr))
                .write(toFile: logs + "/" + name + ".log", atomically: true, encoding: .utf8)
        }
        guard result.status == 0 else {
            throw BenchFailure("the \(installer) \(label) fab deb failed (status \(result.status)):\n\(result.outputTail(lines: 40))")
        }
        let parsed = parseStepTimings(result.stdout)
        let members = parseMembers(result.stdout)
        progress(String(format: "%@ %@: %.1f s", installer, label, wall)
                 + (members.isEmpty ? "" : " (" + members.map { "\($0.package) \($0.version) \($0.reused ? "reused" : "built")" }.joined(separator: ", ") + ")"))
        return DebRun(label: label, wall: wall, steps: parsed.steps, kitTotal: parsed.total, artifacts: artifacts, members: members)
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
        var version = 1
        for round in 1...appOnlyRuns {
            let suffix = appOnlyRuns == 1 ? "" : " \(round)"
            for binary in compareFabs + [fab] {
                try changeAppCode()
                version += 1
                let label = binary == fab && !compareFabs.contains(fab) ? "app-only" + suffix : shortName(binary) + suffix
                let appOnly = try fabDeb(label, config: config, installer: installer, version: version, artifacts: runs[warmRuns].artifacts,
                                         binary: binary)
                if let problem = appOnlyProblem(appOnly.members) {
                    throw BenchFailure("the \(label) build of the family did not reuse what it should: \(problem).")
                }
                runs.append(appOnly)
            }
        }
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
    // Each column as wide as its longest label (at least 10), with a space before it.
    var column = 10
    func cell(_ value: Double?) -> String {
        let text = value.map { String(format: "%.1f s", $0) } ?? "-"
        return String(repeating: " ", count: max(0, column - text.count)) + text
    }
    let name = fabfilePath == nil ? "the \(example) example" : fabfile
    for one in series {
        var names: [String] = []
        for run in one.runs { for step in run.steps where !names.contains(step.name) { names.append(step.name) } }
        let width = max(20, (names.map(\.count).max() ?? 0) + 2)
        func pad(_ text: String) -> String { text.padding(toLength: width, withPad: " ", startingAt: 0) }
        print("\nfab deb of \(name) with \(one.installer == "default" ? "the fabfile's installer (\(one.tool))" : one.installer) on a clean loopback build VM (\(fab))")
        column = max(10, (one.runs.map(\.label.count).max() ?? 0) + 1)
        print(pad("step") + one.runs.map { String(repeating: " ", count: max(0, column - $0.label.count)) + $0.label }.joined())
        for name in names {
            print(pad(name) + one.runs.map { run in cell(run.steps.first(where: { $0.name == name })?.seconds) }.joined())
        }
        print(pad("kit total") + one.runs.map { cell($0.kitTotal) }.joined())
        print(pad("fab start, fabfile") + one.runs.map { run in cell(run.kitTotal.map { run.wall - $0 }) }.joined())
        print(pad("wall clock") + one.runs.map { cell($0.wall) }.joined())
        if one.runs.allSatisfy({ $0.steps.isEmpty }) {
            print("(this fab prints no step timings; only wall-clock times are shown)")
        }
        for run in one.runs where !run.members.isEmpty {
            let built = run.members.filter { !$0.reused }.map { "\($0.package) \($0.version)" }
            let reused = run.members.filter(\.reused).map { "\($0.package) \($0.version)" }
            print("\(run.label): built \(built.isEmpty ? "nothing" : built.joined(separator: ", "))"
                  + (reused.isEmpty ? "" : "; reused \(reused.joined(separator: ", "))"))
        }
        let compared = ((try? files.contentsOfDirectory(atPath: one.cold.artifacts)) ?? []).filter { $0.hasSuffix(".deb") }.count
        print("identical bytes (cold and warm, one commit, \(compared) package\(compared == 1 ? "" : "s")): \(one.identical ? "yes" : "no (" + one.differences.joined(separator: "; ") + ")")")
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
