import FabArchive
import FabCore
import Foundation

/// The gates of a family's packages, judged together when the last one is built.
///
/// Inside ``Deployment/buildFamily(branch:version:parts:dependsOnConfig:push:)`` each package is
/// fetched and checked (SHA-256, read-back) as soon as it is packed, and kept under a temporary name;
/// lintian checks the packages on the build host: the big virtualenv package in a process of its own
/// started as soon as it is packed (so it overlaps the rest of the build), the others in one process
/// once all are built (lintian's start-up, about 2 s of CPU and most of its time on a small package,
/// is then paid once for them). Then the verdict is
/// the family's: when every package passed every gate, each is kept with its ``ArtifactManifest``;
/// when one failed, none is: every package built in the call goes to `rejected/`, the others with a
/// failed `family` gate naming the one that failed, so no part of that build can be pushed, now or
/// later. Reused packages (found by their key) are not judged again.
final class FamilyGates: @unchecked Sendable {
    /// A package fetched and verified, waiting for lintian and the family's verdict.
    struct Pending: Sendable {
        var built: Deployment.BuiltPackage
        /// The gates it passed so far (its build's, the transfer's SHA-256, the read-back).
        var gates: [ArtifactManifest.Gate]
        /// The fetched file, under a temporary name in the artifact directory.
        var temporary: String
        var sha256: String
        var fileSize: Int64
    }

    /// One lintian process on the build host: its directory (links to its packages, lintian's output
    /// files), the packages it checks, and how far it is.
    struct LintJob: Sendable {
        enum State: Sendable {
            /// Not started: ``Deployment/judgeFamily(_:buildDirectory:timings:)`` starts it on its packages.
            case waiting
            /// Started before its packages existed (``LintCommands/prestart(directory:)``): it is fed
            /// their list when they are built (a job of its own) or at the verdict (the shared job).
            case prestarted
            /// Checking its packages.
            case running
        }
        var directory: String
        var packages: [String]
        var state: State
        /// The package a prestarted job of its own is for.
        var reservedFor: String?
    }

    /// What ``deferGates(_:gates:to:timings:mark:)`` does with a package's lint job now.
    enum LintAction: Sendable {
        /// Nothing yet: the shared job is started or fed at the verdict.
        case later
        /// Start a lintian on it.
        case start
        /// Feed it to the lintian prestarted for it.
        case feed
    }

    // The family's packages are built one after another, but a part may hand its context to other
    // tasks: every access holds the lock.
    private let lock = NSLock()
    private var pendingPackages: [Pending] = []
    private var jobs: [LintJob] = []
    private var sharedJob: Int?

    /// Where the lint jobs' directories go on the build host: `FAMILY_BUILD_DIRECTORY/lint`.
    let root: String

    init(root: String) {
        self.root = root
    }

    /// The packages waiting for the verdict, in the order they were built.
    var pending: [Pending] { lock.withLock { pendingPackages } }

    /// The lint jobs, in the order they were made.
    var lintJobs: [LintJob] { lock.withLock { jobs } }

    func add(_ pending: Pending) {
        lock.withLock { pendingPackages.append(pending) }
    }

    /// The lint job `package` goes to: when it lints alone, the job prestarted for it (fed now) or a
    /// new one (started now); else the shared one, started or fed by the verdict.
    /// - Returns: the job's directory, and what the caller does with it now.
    func assign(_ package: String, alone: Bool) -> (directory: String, action: LintAction) {
        lock.withLock {
            let index: Int, action: LintAction
            if alone, let reserved = jobs.firstIndex(where: { $0.reservedFor == package && $0.state == .prestarted && $0.packages.isEmpty }) {
                index = reserved
                action = .feed
                jobs[index].state = .running
            } else if !alone, let shared = sharedJob {
                index = shared
                action = .later
            } else {
                index = jobs.count
                jobs.append(LintJob(directory: root + "/\(index)", packages: [], state: alone ? .running : .waiting))
                if !alone { sharedJob = index }
                action = alone ? .start : .later
            }
            jobs[index].packages.append(package)
            return (jobs[index].directory, action)
        }
    }

    /// Makes a job to prestart before its packages exist: the shared one (`package` nil), or one of
    /// its own for `package`; returns its directory.
    func makePrestartedJob(for package: String?) -> String {
        lock.withLock {
            if package == nil, let shared = sharedJob { return jobs[shared].directory }
            jobs.append(LintJob(directory: root + "/\(jobs.count)", packages: [], state: .prestarted, reservedFor: package))
            if package == nil { sharedJob = jobs.count - 1 }
            return jobs[jobs.count - 1].directory
        }
    }

    /// Turns a job whose prestart found no lintian into one the verdict starts (the shared job), or
    /// one nothing uses (a package's own: that package gets a job started when it is built).
    func dropPrestartedJob(_ directory: String) {
        lock.withLock {
            guard let index = jobs.firstIndex(where: { $0.directory == directory }), jobs[index].state == .prestarted else { return }
            jobs[index].state = .waiting
            jobs[index].reservedFor = nil
        }
    }

    func markRunning(_ directory: String) {
        lock.withLock {
            for index in jobs.indices where jobs[index].directory == directory { jobs[index].state = .running }
        }
    }
}

extension Deployment {
    /// The family's gates while ``buildFamily(branch:version:parts:dependsOnConfig:push:)`` runs.
    static let familyGatesKey = StateKey<FamilyGates>("fab-deploy.family-gates")
    /// The family's step timings while it is built: a part's package adds its steps under `parts/`.
    static let familyTimingsKey = StateKey<TimingsBox>("fab-deploy.family-timings")

    /// ``fetchThroughGates(_:timings:mark:)`` inside a family: links the package into its lint job's
    /// directory (starting the job when the package lints alone), fetches and verifies it, and leaves
    /// it waiting for the family's verdict.
    /// - Returns: the fetched file's temporary path (``judgeFamily(_:timings:)`` places it).
    func deferGates(_ built: BuiltPackage, gates: [ArtifactManifest.Gate], to family: FamilyGates,
                    timings: inout BuildTimings, mark: inout ContinuousClock.Instant) async throws -> String {
        let build = fab.on(settings.buildHost)
        let q = build.quote
        if settings.lint.enabled {
            let (directory, action) = family.assign(built.package ?? packageName, alone: built.lintsAlone)
            let link = directory + "/" + built.fileName
            // A hard link (the family's build directories share a file system); a copy where one cannot be made.
            var command = "mkdir -p \(q(directory)) && { ln -f \(q(built.remotePath)) \(q(link)) 2>/dev/null || cp \(q(built.remotePath)) \(q(link)); }"
            switch action {
            case .later: break
            case .start: command += " && " + LintCommands.start(debs: [link], directory: directory)
            case .feed: command += " && " + LintCommands.feed(debs: [link], directory: directory)
            }
            try await build.hide(.running) { try await build.run(command) }
        }
        let temporary = temporaryArtifact(built.fileName)
        do {
            let fetched = try await fetchAndVerify(built, to: temporary)
            family.add(.init(built: built, gates: gates + fetched.gates, temporary: temporary, sha256: fetched.sha256,
                             fileSize: fetched.package.fileSize))
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw error
        }
        mark = timings.add(built.timingPrefix + "fetch+verify", since: mark)
        return temporary
    }

    /// The family's verdict: starts the shared lint job (and, unless ``Settings/keepBuildDirectory``,
    /// empties the build directory but for the lint jobs while lintian works), waits for every job,
    /// and keeps every waiting package when all passed every gate; otherwise moves every one to
    /// `rejected/` and throws.
    /// - Returns: each kept package's final path by its temporary path.
    /// - Throws: ``FabError`` naming the package and gate that failed, when any did (nothing of the
    ///   family's build is kept then), or when lintian cannot run or does not finish.
    func judgeFamily(_ family: FamilyGates, buildDirectory: String, timings: TimingsBox) async throws -> [String: String] {
        let pending = family.pending
        guard !pending.isEmpty else { return [:] }
        let build = fab.on(settings.buildHost)
        let q = build.quote
        var mark = ContinuousClock.now
        var reports: [String: LintReport] = [:]
        if settings.lint.enabled {
            var commands: [String] = []
            for job in family.lintJobs where job.state != .running {
                let debs = pending.filter { job.packages.contains($0.built.package ?? packageName) }.map { job.directory + "/" + $0.built.fileName }
                if debs.isEmpty {
                    if job.state == .prestarted { commands.append(LintCommands.stop(directory: job.directory)) }
                    continue
                }
                commands.append(job.state == .prestarted ? LintCommands.feed(debs: debs, directory: job.directory)
                                                         : LintCommands.start(debs: debs, directory: job.directory))
                family.markRunning(job.directory)
            }
            if !settings.keepBuildDirectory {
                // lintian reads only the links in lint/: the rest goes while it works.
                commands.append("find \(q(buildDirectory)) -mindepth 1 -maxdepth 1 ! -name \(q((family.root as NSString).lastPathComponent)) -exec rm -rf -- {} +")
            }
            if !commands.isEmpty {
                try await build.hide(.running) { try await build.run(commands.map { "( \($0) )" }.joined(separator: " && ")) }
            }
            mark = timings.value.add("lintian start", since: mark)
            for job in family.lintJobs where !job.packages.isEmpty {
                let (version, seconds, output) = try await build.step("lintian") { try await lintOutput(on: build, directory: job.directory) }
                for package in job.packages {
                    reports[package] = LintReport.parse(output, version: version, seconds: seconds, package: package, packages: job.packages)
                }
            }
            mark = timings.value.add("lintian (wait)", since: mark)
        }

        var judged: [(pending: FamilyGates.Pending, gates: [ArtifactManifest.Gate], report: LintReport?)] = []
        for one in pending {
            let report = reports[one.built.package ?? packageName]
            let lint: ArtifactManifest.Gate
            if settings.lint.enabled {
                guard let report else {
                    throw FabError(.aborted, "\(one.built.fileName) was not checked by lintian in this family build; nothing was kept, run the build again.")
                }
                lint = lintGate(report)
            } else {
                lint = .init(name: "lintian", passed: true, tool: nil, detail: "skipped: lint.enabled is false in the fabfile")
            }
            judged.append((one, one.gates + [lint], report))
        }
        defer { timings.value.add("verdict", since: mark) }

        let failed = judged.filter { !$0.gates.allSatisfy(\.passed) }
        guard !failed.isEmpty else {
            for one in judged where FileManager.default.fileExists(atPath: artifactDirectory + "/" + one.pending.built.fileName) {
                throw FabError(.aborted, "\(artifactDirectory)/\(one.pending.built.fileName) already exists and fab never replaces a built package; this family's build was discarded. Build again (the next build number accounts for it), or give another version.")
            }
            var placed: [String: String] = [:]
            for one in judged {
                placed[one.pending.temporary] = try keep(one.pending.built, temporary: one.pending.temporary, sha256: one.pending.sha256,
                                                      fileSize: one.pending.fileSize, gates: one.gates, report: one.report)
            }
            return placed
        }

        for one in failed { if let report = one.report { printFailures(of: report) } }
        let names = failed.map { $0.pending.built.package ?? packageName }
        var first: (name: String, gate: ArtifactManifest.Gate)?
        for one in judged {
            var gates = one.gates
            let own = gates.first { !$0.passed }
            if own == nil {
                gates.append(.init(name: "family", passed: false, tool: "fab",
                                   detail: "not kept: \(names.joined(separator: ", ")) of the same family build failed a gate, so no package of that build may be published"))
            }
            let manifest = artifactManifest(one.pending.built, sha256: one.pending.sha256, fileSize: one.pending.fileSize, gates: gates, report: one.report)
            _ = try LocalArtifacts.reject(one.pending.temporary, named: one.pending.built.fileName, in: artifactDirectory, manifest: manifest)
            if let own, first == nil { first = (one.pending.built.fileName, own) }
        }
        let others = judged.count - 1
        let accept = settings.lint.failOn == .error ? "" : " or set lint.failOn = .error"
        let gate = first.map { "the \($0.gate.name) gate rejected \($0.name) (\($0.gate.detail))" } ?? "a gate rejected \(names.joined(separator: ", "))"
        throw FabError(.aborted, "\(gate); it\(others > 0 ? " and the \(others) other package\(others == 1 ? "" : "s") built with it" : "") were moved to \(artifactDirectory)/\(LocalArtifacts.rejectedFolder) and cannot be pushed. Fix the package, or accept a tag in the fabfile with lint.accept[\"TAG\"] = \"reason\"\(accept), then build again.")
    }

    /// After a failed family build: stops the lint jobs still running and removes the fetched files
    /// waiting for a verdict (the rejected ones were moved already).
    /// Starts a lintian now, before its packages exist, so that its start-up (perl, its profile, its
    /// checks compiled: about 2 s of CPU) overlaps the build (``LintCommands/prestart(directory:)``):
    /// the family's shared job (`package` nil), whose list the verdict feeds, or a job of its own for
    /// `package`, fed when that package is built. Without lintian on the build host yet, its packages
    /// get a lintian as usual.
    func prestartLint(_ family: FamilyGates, for package: String? = nil) async throws {
        // Not while apt-get still installs lintian in the background (BuildHost.swift): its packages get a lintian after it.
        guard settings.lint.enabled, fab.state[Self.backgroundAptKey] == nil else { return }
        let build = fab.on(settings.buildHost)
        let directory = family.makePrestartedJob(for: package)
        let result = try await build.hide([.running, .stdout]) { try await build.run(LintCommands.prestart(directory: directory)) }
        if !result.stdout.contains("prestarted") { family.dropPrestartedJob(directory) }
    }

    func abandonFamilyGates(_ family: FamilyGates) async {
        let build = fab.on(settings.buildHost)
        for job in family.lintJobs where job.state != .waiting {
            _ = try? await build.hide([.running, .stdout, .stderr]) { try await build.run(LintCommands.stop(directory: job.directory), warnOnly: true) }
        }
        for one in family.pending { try? FileManager.default.removeItem(atPath: one.temporary) }
    }
}
