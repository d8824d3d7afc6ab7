import FabArchive
import FabCore
import Foundation

/// The gates a built package passes before it may be published, and the verdict they leave.
extension Deployment {
    /// fab's part of the package's lintian overrides: the layout's (install root, directories and
    /// links), then the tags the fabfile accepts.
    func fabLintOverrides(package: String) -> String {
        LintOverrides.forLayout(package: package, installRoot: installRoot,
                                directories: Array(settings.layout.directories.values), links: Array(settings.layout.links.keys))
            + LintOverrides.accepted(package: package, accept: settings.lint.accept)
    }

    /// Writes the package's lintian overrides into the staging tree on the build host: fab's, then the
    /// project's `debian/PACKAGE.lintian-overrides` (or `debian/lintian-overrides`) from `sourceDirectory`.
    /// - Parameter package: the package's name (the app's, or another member of its family).
    func installLintOverrides(on build: Fab, stagingDirectory: String, sourceDirectory: String, package: String? = nil) async throws {
        let package = package ?? packageName
        let destination = stagingDirectory + "/usr/share/lintian/overrides/" + package
        try await build.hide(.running) {
            try await build.run(LintOverrides.installCommand(package: package, sourceDirectory: sourceDirectory, destination: destination),
                                stdin: fabLintOverrides(package: package))
        }
    }

    /// What the build knows when its .deb is made, for the gates and the manifest.
    struct BuiltPackage: Sendable {
        var remotePath: String
        var remoteSHA256: String
        var fileName: String
        var version: String
        var architecture: String
        var branch: String
        var commit: String
        var auditedFiles: Int
        /// The package's name; nil for the app's (``packageName``).
        var package: String? = nil
        /// The gates it passed on the build host; nil for the relocation audit of ``auditedFiles`` files.
        var buildGates: [ArtifactManifest.Gate]? = nil
        /// Put before the names of the gates' step timings (`venv/` for the virtualenv package).
        var timingPrefix = ""
        /// Whether everything else in the build directory may go while lintian works: not when more
        /// packages of a family are still to be built there.
        var lastInBuildDirectory = true
        /// In a family (``FamilyGates``): lintian starts on it at once, in a process of its own,
        /// instead of with the family's other packages once all are built (the big virtualenv
        /// package, whose lintian then overlaps the rest of the build).
        var lintsAlone = false
    }

    /// Fetches the .deb into ``artifactDirectory`` while lintian checks it on the build host, and
    /// keeps it only when every gate passed: then it gets its ``ArtifactManifest``; a package that
    /// fails lintian is moved to `rejected/` with a manifest saying why, and the build fails.
    ///
    /// Inside ``buildFamily(branch:version:parts:dependsOnConfig:push:)`` the verdict waits for the
    /// whole family (``FamilyGates``): the package is fetched and verified now, lintian checks it with
    /// the family's other packages, and the returned path is the fetched file's temporary name until
    /// the family's verdict places it.
    /// - Returns: the local path of the .deb.
    /// - Throws: ``FabError`` when a gate fails or the file name is taken; errors of the transfer.
    func fetchThroughGates(_ built: BuiltPackage, timings: inout BuildTimings, mark: inout ContinuousClock.Instant) async throws -> String {
        let build = fab.on(settings.buildHost)
        let remoteDirectory = (built.remotePath as NSString).deletingLastPathComponent
        let gates = built.buildGates ?? [ArtifactManifest.Gate(name: "relocation audit", passed: true, tool: "fab",
                                                               detail: "no packaged file names the build directory (\(built.auditedFiles) files scanned)")]
        if !dryRun, let family = fab.state[Self.familyGatesKey] {
            return try await deferGates(built, gates: gates, to: family, timings: &timings, mark: &mark)
        }
        if settings.lint.enabled {
            try await build.hide(.running) { try await build.run(LintCommands.start(deb: built.remotePath, directory: remoteDirectory)) }
        }
        do {
            return try await judge(built, gates: gates, timings: &timings, mark: &mark)
        } catch {
            if settings.lint.enabled {
                // A failure before lintian finished: do not leave it working on the build host.
                _ = try? await build.hide([.running, .stdout, .stderr]) { try await build.run(LintCommands.stop(directory: remoteDirectory), warnOnly: true) }
            }
            throw error
        }
    }

    /// Fetches the built package to `temporary` and checks it: the build host's SHA-256, and the
    /// package read back names what was built.
    /// - Returns: the local SHA-256, the package as read back, and the gates it passed.
    /// - Throws: ``FabError`` when a check fails (nothing is kept then: the caller removes `temporary`).
    func fetchAndVerify(_ built: BuiltPackage, to temporary: String) async throws -> (sha256: String, package: DebPackage, gates: [ArtifactManifest.Gate]) {
        let build = fab.on(settings.buildHost)
        try FileManager.default.createDirectory(atPath: artifactDirectory, withIntermediateDirectories: true)
        _ = try await build.get(built.remotePath, temporary)
        let localHash = try FileDigest.sha256(path: temporary)
        guard localHash == built.remoteSHA256 else {
            throw FabError(.aborted, "the fetched \(built.fileName) has SHA-256 \(localHash) but the build host's copy has \(built.remoteSHA256); the transfer was corrupted and nothing was kept, run the build again.")
        }
        let package = try DebPackage(path: temporary)
        let packageName = built.package ?? self.packageName
        guard package.control.package == packageName, package.control.version == built.version,
              package.control.architecture == built.architecture else {
            throw FabError(.aborted, "the fetched \(built.fileName) reads back as \(package.control.package ?? "?") \(package.control.version ?? "?") \(package.control.architecture ?? "?"), not what was built; nothing was kept, run the build again.")
        }
        return (localHash, package, [
            .init(name: "transfer sha256", passed: true, tool: "sha256sum", detail: "the fetched file has the build host's SHA-256"),
            .init(name: "package readback", passed: true, tool: "fab", detail: "\(package.fileCount) files, \(package.totalDataSize) bytes unpacked"),
        ])
    }

    /// A temporary name in the artifact directory for a fetched `fileName` not yet judged.
    func temporaryArtifact(_ fileName: String) -> String {
        artifactDirectory + "/.\(fileName).fab-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// ``fetchThroughGates(_:timings:mark:)`` once lintian is running.
    private func judge(_ built: BuiltPackage, gates: [ArtifactManifest.Gate], timings: inout BuildTimings,
                       mark: inout ContinuousClock.Instant) async throws -> String {
        let build = fab.on(settings.buildHost)
        let remoteDirectory = (built.remotePath as NSString).deletingLastPathComponent
        let temporary = temporaryArtifact(built.fileName)
        defer { try? FileManager.default.removeItem(atPath: temporary) }
        let fetched = try await fetchAndVerify(built, to: temporary)
        var gates = gates + fetched.gates
        mark = timings.add(built.timingPrefix + "fetch+verify", since: mark)

        var report: LintReport?
        if settings.lint.enabled {
            if !settings.keepBuildDirectory && built.lastInBuildDirectory {
                // lintian reads only the .deb: the staging tree and the sources go while it works, so
                // the cleanup after the verdict is quick.
                try await build.hide(.running) { try await build.run(LintCommands.removeAllBut(deb: built.remotePath)) }
                mark = timings.add(built.timingPrefix + "early cleanup", since: mark)
            }
            let found = try await build.step("lintian") { try await waitForLint(on: build, directory: remoteDirectory) }
            report = found
            mark = timings.add(built.timingPrefix + "lintian (wait)", since: mark)
            printFailures(of: found)
            gates.append(lintGate(found))
        } else {
            gates.append(.init(name: "lintian", passed: true, tool: nil, detail: "skipped: lint.enabled is false in the fabfile"))
        }
        return try keep(built, temporary: temporary, sha256: fetched.sha256, fileSize: fetched.package.fileSize, gates: gates, report: report)
    }

    /// Prints the lintian hints of `report` that fail the build (and, failing on errors, its warnings).
    func printFailures(of report: LintReport) {
        let failures = report.failures(at: settings.lint.failOn)
        let out = fab.runtime.output
        for line in failures.prefix(40) { out.plain("  lintian \(line)") }
        if failures.count > 40 { out.plain("  lintian ... and \(failures.count - 40) more") }
        if settings.lint.failOn == .error {
            for line in report.warnings.prefix(15) { out.plain("  lintian \(line)") }
        }
    }

    /// The lintian gate of `report` under ``Settings/lint``.
    func lintGate(_ report: LintReport) -> ArtifactManifest.Gate {
        let failures = report.failures(at: settings.lint.failOn)
        let tags = LintReport.tags(of: failures)
        return .init(name: "lintian", passed: failures.isEmpty, tool: "lintian \(report.lintianVersion)",
                     detail: failures.isEmpty
                         ? "\(report.errors.count) errors, \(report.warnings.count) warnings (fails on \(settings.lint.failOn.rawValue)s)"
                         : "\(Self.count(failures.count, settings.lint.failOn == .error ? "error" : "error or warning", plural: settings.lint.failOn == .error ? "errors" : "errors and warnings")): \(tags.prefix(8).joined(separator: ", "))\(tags.count > 8 ? ", ..." : "")")
    }

    /// The manifest of a fetched package with these gates.
    func artifactManifest(_ built: BuiltPackage, sha256: String, fileSize: Int64, gates: [ArtifactManifest.Gate], report: LintReport?) -> ArtifactManifest {
        ArtifactManifest(package: built.package ?? packageName, version: built.version, architecture: built.architecture,
                         fileName: built.fileName, sha256: sha256, size: fileSize,
                         verdict: gates.allSatisfy(\.passed) ? .passed : .rejected, gates: gates,
                         branch: built.branch, commit: built.commit, buildHost: settings.buildHost,
                         recordedAt: ArtifactManifest.now(), lintian: report)
    }

    /// Keeps the fetched `temporary` in the artifact directory with its manifest when every gate
    /// passed; otherwise moves it to `rejected/` and throws.
    /// - Returns: the kept package's path.
    /// - Throws: ``FabError`` naming the gate that failed, or when the file name is taken.
    func keep(_ built: BuiltPackage, temporary: String, sha256: String, fileSize: Int64, gates: [ArtifactManifest.Gate],
                      report: LintReport?) throws -> String {
        let manifest = artifactManifest(built, sha256: sha256, fileSize: fileSize, gates: gates, report: report)
        if let failed = manifest.failedGate {
            let rejected = try LocalArtifacts.reject(temporary, named: built.fileName, in: artifactDirectory, manifest: manifest)
            let accept = settings.lint.failOn == .error ? "" : " or set lint.failOn = .error"
            throw FabError(.aborted, "the \(failed.name) gate rejected \(built.fileName) (\(failed.detail)); it was moved to \(rejected) and cannot be pushed. Fix the package, or accept a tag in the fabfile with lint.accept[\"TAG\"] = \"reason\"\(accept), then build again.")
        }
        let final = artifactDirectory + "/" + built.fileName
        try LocalArtifacts.place(temporary, at: final)
        try manifest.write(besides: final)
        try describe(final)
        if let report { say(settings.buildHost, report.summary) }
        say("localhost", "\(built.fileName) passed \(gates.map(\.name).joined(separator: ", ")); verdict in \((ArtifactManifest.path(for: final) as NSString).lastPathComponent)")
        return final
    }

    /// `1 error`, `3 errors`.
    static func count(_ number: Int, _ singular: String, plural: String) -> String {
        "\(number) \(number == 1 ? singular : plural)"
    }

    /// Waits for the lintian started on the build host and reads its findings.
    /// - Throws: ``FabError`` when it does not finish within ``LintPolicy/timeoutSeconds`` or cannot run.
    private func waitForLint(on build: Fab, directory: String) async throws -> LintReport {
        let (version, seconds, output) = try await lintOutput(on: build, directory: directory)
        return LintReport.parse(output, version: version, seconds: seconds)
    }

    /// Waits for the lintian started in `directory` on the build host and returns its version, the
    /// seconds it ran and its output.
    /// - Throws: ``FabError`` when it does not finish within ``LintPolicy/timeoutSeconds`` or cannot run.
    func lintOutput(on build: Fab, directory: String) async throws -> (version: String, seconds: Double?, output: String) {
        let result: CommandResult
        do {
            result = try await build.hide([.running, .stdout, .stderr]) {
                try await build.run(LintCommands.wait(directory: directory), warnOnly: true, timeout: settings.lint.timeoutSeconds)
            }
        } catch {
            _ = try? await build.hide([.running, .stdout, .stderr]) { try await build.run(LintCommands.stop(directory: directory), warnOnly: true) }
            throw FabError(.aborted, "[\(settings.buildHost)] lintian did not finish (lint.timeoutSeconds is \(Int(settings.lint.timeoutSeconds))): \(error); nothing was kept. Raise the timeout or check the build host.")
        }
        let (version, seconds, output) = LintCommands.split(result.stdout)
        guard result.succeeded else {
            let tail = output.split(whereSeparator: \.isNewline).suffix(3).joined(separator: " ")
            throw FabError(.aborted, "[\(settings.buildHost)] lintian could not check the package (exit status \(result.exitStatus): \(tail)); nothing was kept. Check that lintian is installed there (the kit installs it with the build dependencies).")
        }
        return (version, seconds, output)
    }
}
