import FabCore
import Foundation

/// Builds a virtualenv in the staged tree on the build host: creates it with the build interpreter,
/// installs into it with its ``Installer`` (through the persistent cache and the configured indexes), strips its
/// native code as dh_strip does, and relocates it from the staged path to the install path, with the
/// audit that no packaged file still names the build directory.
struct VirtualenvBuilder: Sendable {
    /// The deployment whose settings (interpreter, indexes, pip upgrade) and output are used.
    let deployment: Deployment
    /// The build host.
    let build: Fab
    /// The staged virtualenv's path on the build host.
    let venv: String
    /// The installer's commands (pip or uv, with their caches and the indexes).
    let installer: InstallerCommands

    var settings: Deployment.Settings { deployment.settings }

    /// The interpreter's `major.minor`; under `--dry-run`, before the interpreter exists, a stand-in
    /// from its name.
    func pythonVersion() async throws -> String {
        try await deployment.read(build, DeploymentCommands.pythonVersion(settings.python),
                                  planned: Self.plannedPythonVersion(settings.python))
    }

    /// Installs uv on the build host when it is the installer and that version is not there yet, then
    /// creates the virtualenv (with pip, upgrading pip and wheel in it when ``Deployment/Settings/upgradePip``).
    func create() async throws {
        try await build.step("virtualenv") {
            try await build.run(installer.prepare)
            for command in installer.createVirtualenv(venv: venv) { try await build.run(command) }
        }
    }

    /// Runs `pip install ARGUMENTS` or `uv pip install ARGUMENTS` in the virtualenv (nothing when
    /// `arguments` is empty).
    func install(_ arguments: [String]) async throws {
        guard !arguments.isEmpty else { return }
        try await build.step("\(installer.installer.tool.rawValue) install") {
            try await build.run(installer.install(venv: venv, arguments: arguments))
        }
    }

    /// The ELF files under `directory` (the interpreter the virtualenv links is not one of them).
    func elfFiles(under directory: String) async throws -> [String] {
        let output = try await deployment.read(build, DeploymentCommands.listELFFiles(under: directory, python: settings.python), planned: "")
        return output.split(whereSeparator: \.isNewline).map(String.init)
    }

    /// Removes the symbols of `files`, as dh_strip does: they are no use on a server, and native
    /// extensions pip compiled keep its temporary paths in them.
    func strip(_ files: [String]) async throws {
        guard !files.isEmpty else { return }
        try await build.run(DeploymentCommands.strip(files: files))
    }

    /// Rewrites every path under `buildRoot` to `finalRoot` (scripts, `.pth` files, RECORD, ELF search
    /// paths), recompiles byte-code, and audits that no file still names `buildRoot`.
    /// - Returns: how many files the audit scanned (0 under `--dry-run`).
    /// - Throws: ``RelocationError`` when the audit finds the build path, or relocation fails.
    func relocate(buildRoot: String, finalRoot: String) async throws -> Int {
        let started = ContinuousClock.now
        let relocation = try Relocation(buildRoot: buildRoot, finalRoot: finalRoot, python: settings.python)
        let relocated = try await build.hide([.stdout]) {
            try await build.run(relocation.command, warnOnly: true, stdin: relocation.script)
        }
        if deployment.dryRun {
            deployment.say(settings.buildHost, "dry run: relocation from \(buildRoot) to \(finalRoot) and its audit run on the built tree")
            return 0
        }
        let report = try relocation.report(exitStatus: relocated.exitStatus, standardOutput: relocated.stdout, standardError: relocated.stderr)
        deployment.say(settings.buildHost, "relocation: \(report.totalRewritten) files rewritten, \(report.elfSearchPathsFixed) ELF search paths fixed, \(report.elfStripped) stripped, \(report.bytecodeCompiled) byte-code files compiled, \(report.recordEntriesUpdated) RECORD hashes updated; audit passed (\(report.filesScanned) files scanned) in \(Deployment.seconds(since: started))")
        return report.filesScanned
    }

    /// The version a dry run assumes for an interpreter it cannot run yet: `3.11` for `.../python3.11`, else `3`.
    static func plannedPythonVersion(_ python: String) -> String {
        let name = (python as NSString).lastPathComponent
        return name.hasPrefix("python") && name.count > 6 ? String(name.dropFirst(6)) : "3"
    }
}
