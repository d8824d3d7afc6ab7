import FabProcess
import Foundation
import Testing
@testable import FabCLI

/// Runs the built `fab` executable on a copy of a fixture, with its own cache folder.
struct FabProcess {
    /// What one run of fab did.
    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
        var seconds: Double
    }

    /// The project folder the fixture was copied to; fab runs here.
    let directory: URL
    /// The cache folder ($XDG_CACHE_HOME), shared by all tests so the compiler's module cache stays warm;
    /// each fixture copy has its own plugins in it, told apart by the fabfile's path.
    var cacheHome: URL { Self.sharedCacheHome }
    /// The file fixture tasks append to ($FAB_TEST_LOG).
    let log: URL
    private let root: URL

    /// Copies `Fixtures/<fixture>` to a new temporary folder, dropping `.fixture` from file names.
    init(fixture: String) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent("fabcli-\(UUID().uuidString)")
        directory = root.appendingPathComponent("project")
        log = root.appendingPathComponent("log.txt")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try Self.copyFixture(Self.fixturesDirectory.appendingPathComponent(fixture), to: directory)
    }

    /// Deletes the temporary folder.
    func remove() {
        try? FileManager.default.removeItem(at: root)
    }

    /// `fabcli-test-cache` in the build folder, with the plugins of earlier runs removed.
    static let sharedCacheHome: URL = {
        let base = binary.map { URL(fileURLWithPath: $0).deletingLastPathComponent() }
            ?? FileManager.default.temporaryDirectory
        let home = base.appendingPathComponent("fabcli-test-cache")
        try? FileManager.default.removeItem(at: home.appendingPathComponent("fab/plugins"))
        return home
    }()

    /// The fixtures folder next to this file.
    static let fixturesDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("Fixtures")

    private static func copyFixture(_ source: URL, to destination: URL) throws {
        let manager = FileManager.default
        for name in try manager.contentsOfDirectory(atPath: source.path) {
            let from = source.appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            _ = manager.fileExists(atPath: from.path, isDirectory: &isDirectory)
            let targetName = name.hasSuffix(".fixture") ? String(name.dropLast(".fixture".count)) : name
            let to = destination.appendingPathComponent(targetName)
            if isDirectory.boolValue {
                try manager.createDirectory(at: to, withIntermediateDirectories: true)
                try copyFixture(from, to: to)
            } else {
                try manager.copyItem(at: from, to: to)
            }
        }
    }

    /// The `fab` executable built with these tests: next to the test bundle in the build folder, so it
    /// works with any `--scratch-path`; `FAB_BINARY` overrides.
    static let binary: String? = {
        if let explicit = ProcessInfo.processInfo.environment["FAB_BINARY"] { return explicit }
        var candidates: [URL] = []
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            var directory = URL(fileURLWithPath: exe).deletingLastPathComponent()
            // The runner may be inside a bundle folder (…/debug/fabPackageTests.xctest/…).
            for _ in 0..<4 {
                candidates.append(directory.appendingPathComponent("fab"))
                directory.deleteLastPathComponent()
            }
        }
        candidates.append(Bundle.main.bundleURL.deletingLastPathComponent().appendingPathComponent("fab"))
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }?.path
    }()

    /// How long one fab run may take (a cold fabfile compile takes up to a minute on a loaded machine).
    static let deadline = Deadline.seconds(600)

    /// Runs fab (or another fab executable) with arguments in the project folder (or `subdirectory` of it).
    /// - Throws: ``ProcessError`` when it cannot start or runs past ``deadline``.
    func run(_ arguments: [String], in subdirectory: String? = nil, executable: String? = nil,
             environment extra: [String: String] = [:]) throws -> Output {
        let binary = try #require(executable ?? Self.binary,
                                  "no fab executable next to the test bundle; build it (swift build) or set FAB_BINARY")
        var environment = ProcessInfo.processInfo.environment
        environment["XDG_CACHE_HOME"] = cacheHome.path
        environment["FAB_TEST_LOG"] = log.path
        for name in ["FAB_CACHE_DIR", "FAB_DEBUG", "FAB_LIB_DIR"] { environment[name] = nil }
        environment.merge(extra) { $1 }

        let started = Date()
        let output = try ProcessRunner.run(executable: binary, arguments: arguments, environment: .exactly(environment),
                                           directory: (subdirectory.map { directory.appendingPathComponent($0) } ?? directory).path,
                                           captureLimit: 64 << 20, deadline: Self.deadline)
        return Output(status: output.termination.status, stdout: output.stdout, stderr: output.stderr,
                      seconds: Date().timeIntervalSince(started))
    }

    /// The lines the fixture's tasks logged.
    var logLines: [String] {
        ((try? String(contentsOf: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// The files in the cache's plugin folder that belong to this copy's fabfile.
    var plugins: [URL] {
        let folder = cacheHome.appendingPathComponent("fab/plugins")
        guard let location = try? FabfileLocation.locate(explicitPath: nil, from: directory.path) else { return [] }
        let prefix = PluginBuilder.pathPrefix(location) + "-"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.filter { $0.hasPrefix(prefix) }.sorted().map { folder.appendingPathComponent($0) }
    }
}
