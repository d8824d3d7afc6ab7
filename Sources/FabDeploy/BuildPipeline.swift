import FabCore
import Foundation

/// The named steps ``Deployment/buildDeb()`` runs, in order, as debhelper's sequence of `dh_*`
/// commands: a fabfile can insert its own step before or after a named one, replace one, or remove one.
///
/// The steps of ``Deployment/pipeline`` are, in order, ``BuildPipeline/defaultNames``:
/// `code` (stage the code, the layout's directories and links; sub-app, LESS and CSS steps),
/// `venv` (create the virtualenv), `pip` (requirements and the project; compilemessages and
/// collectstatic), `strip` (ELF symbols), `relocate` (rewrite build paths, then audit),
/// `shlibdeps` (architecture and Depends from the tree), `debian-files` (systemd units, copyright,
/// changelog, lintian overrides, modes), `control` (Installed-Size, conffiles, the format's metadata),
/// `pack` (dpkg-deb), `gates` (fetch, verify, lintian, the manifest), `cleanup` (the build directory).
/// Each step's time is in the build's step timings under its name.
///
/// ```swift
/// var deploy = try await Deployment(fab, app: "whois")
/// try deploy.pipeline.insert(.init("smoke test") { state in
///     try await state.build.run("\(state.build.quote(state.virtualenv + "/bin/python")) -c 'import whoisd'")
/// }, after: "pip")
/// try deploy.pipeline.remove("strip")
/// try await deploy.prepareApp()
/// try await deploy.buildDeb()
/// ```
public struct BuildPipeline: Sendable {
    /// One named step: what it does to the build's ``BuildState``.
    public struct Step: Sendable {
        /// The step's name, unique in its pipeline; its time is reported under it.
        public let name: String
        let body: @Sendable (inout BuildState) async throws -> Void

        /// A step called `name` that runs `body` on the build host through the state's ``BuildState/build``.
        public init(_ name: String, _ body: @escaping @Sendable (inout BuildState) async throws -> Void) {
            self.name = name
            self.body = body
        }
    }

    /// The steps in the order they run.
    public private(set) var steps: [Step]

    /// The names of the steps, in order.
    public var names: [String] { steps.map(\.name) }

    /// The names of the single-package build's steps.
    public static let defaultNames = ["code", "venv", "pip", "strip", "relocate", "shlibdeps", "debian-files",
                                      "control", "pack", "gates", "cleanup"]

    /// A pipeline of `steps`.
    /// - Throws: ``FabError`` `.invalidArgument` when two steps share a name or a name is empty.
    public init(_ steps: [Step]) throws {
        self.steps = []
        for step in steps { try append(step) }
    }

    /// A pipeline of steps whose names are known to be distinct (the kit's own).
    init(unchecked steps: [Step]) {
        self.steps = steps
    }

    /// Adds `step` at the end.
    /// - Throws: ``FabError`` `.invalidArgument` when the name is empty or taken.
    public mutating func append(_ step: Step) throws {
        try checkNew(step.name)
        steps.append(step)
    }

    /// Adds `step` right after the step called `name`.
    /// - Throws: ``FabError`` `.invalidArgument` when there is no such step, or the new name is empty or taken.
    public mutating func insert(_ step: Step, after name: String) throws {
        let index = try position(of: name)
        try checkNew(step.name)
        steps.insert(step, at: index + 1)
    }

    /// Adds `step` right before the step called `name`.
    /// - Throws: ``FabError`` `.invalidArgument` when there is no such step, or the new name is empty or taken.
    public mutating func insert(_ step: Step, before name: String) throws {
        let index = try position(of: name)
        try checkNew(step.name)
        steps.insert(step, at: index)
    }

    /// Puts `step` in the place of the step called `name` (it may keep the name).
    /// - Throws: ``FabError`` `.invalidArgument` when there is no such step, or the new name is taken by another step.
    public mutating func replace(_ name: String, with step: Step) throws {
        let index = try position(of: name)
        if step.name != name { try checkNew(step.name) }
        steps[index] = step
    }

    /// Removes the step called `name`.
    /// - Throws: ``FabError`` `.invalidArgument` when there is no such step.
    public mutating func remove(_ name: String) throws {
        steps.remove(at: try position(of: name))
    }

    /// Whether a step called `name` is in the pipeline.
    public func contains(_ name: String) -> Bool { steps.contains { $0.name == name } }

    private func position(of name: String) throws -> Int {
        guard let index = steps.firstIndex(where: { $0.name == name }) else {
            throw FabError(.invalidArgument, "the build pipeline has no step '\(name)' (its steps: \(names.joined(separator: ", "))); name one of those.")
        }
        return index
    }

    private func checkNew(_ name: String) throws {
        guard !name.trimmingCharacters(in: .whitespaces).isEmpty, !name.contains(where: \.isNewline) else {
            throw FabError(.invalidArgument, "a build step needs a one-line, non-empty name.")
        }
        if contains(name) {
            throw FabError(.invalidArgument, "the build pipeline already has a step '\(name)'; give the new step another name, or replace that one.")
        }
    }

    /// Runs the steps in order on `state`; each step's time goes into the state's timings under its
    /// name (a step that records its own timings, as `pip` and `gates` do, keeps them).
    func run(_ state: inout BuildState) async throws {
        for step in steps {
            // A step past `pack` (or a fabfile's own) may need what apt-get still installs in the background.
            try await state.deployment.awaitBackgroundApt(before: step.name, &state)
            let before = state.mark
            try await step.body(&state)
            if state.mark == before { state.mark = state.timings.add(state.timingPrefix + step.name, since: before) }
        }
    }
}

/// A build in progress, as the pipeline's steps see and change it: the build host, the staged
/// paths, and the ``PackageSpec`` that the `control` and `pack` steps write.
public struct BuildState: Sendable {
    /// The deployment being built.
    public let deployment: Deployment
    /// The build host.
    public let build: Fab
    /// The version being built.
    public var version: String { package.version }
    /// This build's directory on the build host (removed after the build unless kept).
    public let buildDirectory: String
    /// The project's committed tree on the build host.
    public let sourceDirectory: String
    /// The staged tree: what the package installs, under this directory.
    public let stagingDirectory: String
    /// The install root (on servers), such as `/vrmd/whois`.
    public let installRoot: String
    /// The staged install root (``stagingDirectory`` + ``installRoot``).
    public let stagedRoot: String
    /// The staged virtualenv.
    public let virtualenv: String
    /// The staged code directory, or nil when the package ships no code.
    public let codeDirectory: String?
    /// Where `requirements.txt` and the project are read: the staged code, or the source tree when
    /// the package ships no code.
    public let appDirectory: String
    /// pip's cache on the build host.
    public let pipCache: String
    /// The package being built; steps add to it (Depends, fields), `control` and `pack` write it.
    public var package: PackageSpec
    /// The format that writes and packs the package.
    public var format: any PackageFormat
    /// The virtualenv's Python `major.minor`, once the `venv` step ran.
    public var pythonVersion: String?
    /// The staged ELF files, once the `strip` step listed them.
    public var elfFiles: [String] = []
    /// How many files the relocation audit scanned.
    public var auditedFiles = 0
    /// The package file on the build host, once `pack` ran.
    public var remotePackage: String?
    /// The fetched package in the artifact directory, once `gates` passed it.
    public var artifact: String?

    /// Paths outside the package that another package it depends on provides (the virtualenv, for
    /// the app package of a family): links and `#!` lines into them add no dependency of their own.
    public var providedPaths: [String] = []

    /// What `prepareApp` resolved.
    let prepared: Deployment.PreparedBuild
    /// Put before each step's name in the timings (`venv/` for the virtualenv package of a family).
    var timingPrefix = ""
    /// Whether no other package is built in the build directory after this one (the gates may then
    /// clear it while lintian works).
    var lastInBuildDirectory = true
    /// In a family: lintian starts on the package at once, alone (see ``Deployment/BuiltPackage/lintsAlone``).
    var lintsAlone = false
    /// The SHA-256 of ``remotePackage``.
    var remoteSHA256 = ""
    /// When the virtualenv step started, for the "virtualenv ready" line.
    var virtualenvStarted = ContinuousClock.now
    /// The step timings so far, and the end of the last timed step.
    var timings: BuildTimings
    var mark: ContinuousClock.Instant
}
