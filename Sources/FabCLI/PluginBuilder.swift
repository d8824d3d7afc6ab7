import FabProcess
import FabfileModel
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Compiles a fabfile into a plugin (a shared library) once, and finds it in the cache afterwards.
///
/// The plugin is named after a SHA-256 of everything that shapes it: the fabfile's paths and contents,
/// fab's version, the identity of the fab executable and its modules, and the compiler flags. An unchanged
/// fabfile is never recompiled; any change produces a new name. The compiler is not part of the name: only
/// the compiler fab's modules were built with can read them, so the modules' identity already fixes it. A
/// cached plugin therefore loads without the Swift toolchain or the C libraries' -dev headers; the compiler
/// is looked up only when a compile is needed. Building:
///
/// 1. scan the sources for tasks (``FabfileScanner``, which runs the `fab-scan` helper) and generate the registration file
///    (``RegistrationGenerator``);
/// 2. `swiftc -emit-library -parse-as-library -module-name Fabfile -swift-version 6` the fabfile's files and
///    the registration file, with `-I` fab's modules and the C libraries' module maps, but without linking
///    fab's modules (``PluginLoader`` explains why);
/// 3. write the library under a temporary name and rename it into place.
///
/// The compiler's diagnostics go to fab's standard error naming the fabfile's own files and lines, quoting its
/// own lines and nothing of fab's (``CompilerDiagnostics``); when they say a C header is missing, the error
/// names the Debian package to install instead.
public struct PluginBuilder: Sendable {
    /// Where compiler output goes.
    public enum Diagnostics: Sendable {
        /// To fab's standard error.
        case standardError
        /// Nowhere (shell completion must not print).
        case discard
    }

    /// A plugin ready to load.
    public struct Plugin: Sendable, Equatable {
        /// The shared library.
        public var path: String
        /// Whether this run compiled it (false: it came from the cache).
        public var compiled: Bool
        /// The seconds spent compiling, or 0.
        public var compileSeconds: Double
        /// The compiler that built it in this run, or nil when it came from the cache.
        public var compiler: SwiftCompiler?
    }

    /// fab's modules and module maps, and its identity.
    public var installation: FabInstallation
    /// Finds the compiler; called only when a plugin must be compiled.
    public var locateCompiler: @Sendable () throws(FabCLIError) -> SwiftCompiler
    /// Where plugins go.
    public var cache: FabCache
    /// fab's version (``FabVersion/current``).
    public var fabVersion: String

    /// A builder; see the properties for the parameters.
    public init(installation: FabInstallation, cache: FabCache, fabVersion: String,
                locateCompiler: @escaping @Sendable () throws(FabCLIError) -> SwiftCompiler) {
        self.installation = installation
        self.locateCompiler = locateCompiler
        self.cache = cache
        self.fabVersion = fabVersion
    }

    /// Bumped whenever generated code or compiler flags change shape, so old plugins are not reused.
    static let generatorVersion = "2"

    /// The plugin for a fabfile, from the cache or freshly compiled.
    /// - Parameters:
    ///   - rebuild: compile even when the cache has the plugin.
    ///   - willCompile: called just before compiling starts.
    /// - Throws: ``FabCLIError``: `fabfileInvalid` when the scanner rejects a task, `compileFailed` when the
    ///   compiler does (its diagnostics were shown), `compilerUnavailable`, `cacheUnavailable`.
    public func plugin(for location: FabfileLocation, sources: [FabfileSource], rebuild: Bool = false,
                       diagnostics: Diagnostics = .standardError,
                       willCompile: () -> Void = {}) throws(FabCLIError) -> Plugin {
        let path = pluginPath(for: location, key: cacheKey(sources: sources))
        if !rebuild, FabInstallation.isFile(path) {
            return Plugin(path: path, compiled: false, compileSeconds: 0, compiler: nil)
        }
        let compiler = try locateCompiler()
        willCompile()
        let started = DispatchTime.now().uptimeNanoseconds
        try compile(location: location, sources: sources, to: path, with: compiler, diagnostics: diagnostics)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
        removeStalePlugins(of: location)
        return Plugin(path: path, compiled: true, compileSeconds: seconds, compiler: compiler)
    }

    /// The SHA-256 naming a plugin built from these sources by this fab.
    public func cacheKey(sources: [FabfileSource]) -> String {
        var fields = ["fab-plugin", fabVersion, Self.generatorVersion, installation.identity, compilerArguments(sources: [], registration: "", output: "").joined(separator: " ")]
        for source in sources {
            fields += [source.path, String(source.text.utf8.count), source.text]
        }
        // Each field is length-prefixed, so no two different field lists hash the same bytes.
        return Digest.sha256(fields.flatMap { Array("\($0.utf8.count):".utf8) + Array($0.utf8) })
    }

    /// `<plugins>/<hash of the fabfile's path>-<key>.so`: the prefix groups one fabfile's plugins.
    func pluginPath(for location: FabfileLocation, key: String) -> String {
        let name = "\(Self.pathPrefix(location))-\(key.prefix(32)).so"
        return (cache.pluginsDirectory as NSString).appendingPathComponent(name)
    }

    static func pathPrefix(_ location: FabfileLocation) -> String {
        String(Digest.sha256(Array(location.path.utf8)).prefix(16))
    }

    /// The compiler's arguments, without the executable.
    func compilerArguments(sources: [String], registration: String, output: String) -> [String] {
        var arguments = [
            "-emit-library", "-parse-as-library", "-module-name", "Fabfile", "-swift-version", "6", "-Onone",
            "-diagnostic-style=llvm",
            "-I", installation.modulesDirectory,
            "-module-cache-path", cache.moduleCacheDirectory,
        ]
        for map in installation.moduleMapPaths {
            arguments += ["-Xcc", "-fmodule-map-file=\(map)"]
        }
        arguments += sources
        if !registration.isEmpty { arguments.append(registration) }
        if !output.isEmpty { arguments += ["-o", output] }
        return arguments
    }

    /// Seconds a fabfile's compile may take before the compiler is stopped (a cold compile takes 1 to 6 s).
    static let compileDeadline: Double = 600

    private func compile(location: FabfileLocation, sources: [FabfileSource], to path: String,
                         with compiler: SwiftCompiler, diagnostics: Diagnostics) throws(FabCLIError) {
        let compiler = try sources.contains { SwiftCompiler.mayTestVersion($0.text) } ? compiler.withVersion(cache: cache) : compiler
        let scan = try FabfileScanner.scan(
            sources, configuration: FabfileBuildConfiguration(installation: installation, compiler: compiler),
            helper: installation.scannerPath())
        try cache.ensure(cache.pluginsDirectory)
        try cache.ensure(cache.buildsDirectory)
        let buildDirectory = FabCache.temporaryName(
            for: (cache.buildsDirectory as NSString).appendingPathComponent((path as NSString).lastPathComponent))
        try cache.ensure(buildDirectory)
        defer { try? FileManager.default.removeItem(atPath: buildDirectory) }

        let registration = (buildDirectory as NSString).appendingPathComponent(RegistrationGenerator.fileName)
        do {
            try Data(RegistrationGenerator.source(for: scan).utf8).write(to: URL(fileURLWithPath: registration))
        } catch {
            throw FabCLIError(.cacheUnavailable,
                              "fab cannot write \(registration) (\(error.localizedDescription)); make the cache folder writable, or set FAB_CACHE_DIR to a writable folder.")
        }
        let temporary = FabCache.temporaryName(for: path)
        // Diagnostics are held until the compiler exits, to tell a missing C header from an error in the fabfile.
        var output = try runCompiler(compiler, sources: sources, registration: registration, output: temporary,
                                     in: buildDirectory, location: location)
        if !output.termination.succeeded, Self.isStaleModuleCache(String(decoding: output.standardOutput, as: UTF8.self)) {
            // clang's module cache was written under another path (a moved or copied cache folder) or is
            // damaged: it is only a cache, so it is rebuilt rather than blamed on the fabfile.
            try? FileManager.default.removeItem(atPath: cache.moduleCacheDirectory)
            output = try runCompiler(compiler, sources: sources, registration: registration, output: temporary,
                                     in: buildDirectory, location: location)
        }
        let messages = output.standardOutput
        guard output.termination.succeeded else {
            unlink(temporary)
            let text = String(decoding: messages, as: UTF8.self)
            if let missing = MissingHeader.find(in: text) {
                throw FabCLIError(.compilerUnavailable, missing.message)
            }
            if text.allSatisfy(\.isWhitespace) {
                throw FabCLIError(.compilerUnavailable,
                                  "the Swift compiler \(compiler.path) failed (\(output.termination)) without saying why; check the Swift installation, or set SWIFTC to another compiler.")
            }
            if case .standardError = diagnostics {
                FileHandle.standardError.write(Data(CompilerDiagnostics.rewrite(text, sources: sources).utf8))
            }
            throw FabCLIError(.compileFailed,
                              "the fabfile did not compile; fix the errors the compiler reported above and run fab again.",
                              path: location.path)
        }
        if case .standardError = diagnostics, !messages.isEmpty {
            let text = String(decoding: messages, as: UTF8.self)
            FileHandle.standardError.write(Data(CompilerDiagnostics.rewrite(text, sources: sources).utf8))
        }
        try cache.moveIntoPlace(temporary, path)
    }

    /// Runs the compiler on the fabfile and the registration file, at most ``compileDeadline`` seconds.
    private func runCompiler(_ compiler: SwiftCompiler, sources: [FabfileSource], registration: String, output temporary: String,
                             in buildDirectory: String, location: FabfileLocation) throws(FabCLIError) -> ProcessRunner.Output {
        do {
            return try ProcessRunner.run(
                executable: compiler.path,
                arguments: compilerArguments(sources: sources.map(\.path), registration: registration, output: temporary),
                directory: buildDirectory, standardError: .mergeIntoOutput, deadline: .seconds(Self.compileDeadline))
        } catch let error as ProcessError where error.code == .timedOut {
            unlink(temporary)
            throw FabCLIError(.compileFailed,
                              "the Swift compiler was still compiling the fabfile after \(Int(Self.compileDeadline)) s and was stopped; check the machine's load and memory, and run fab again.",
                              path: location.path)
        } catch {
            throw FabCLIError(.compilerUnavailable,
                              "fab cannot run the Swift compiler \(compiler.path) (\(error)); check the Swift installation, or set SWIFTC to another compiler.")
        }
    }

    /// Whether compiler output says clang's module cache cannot be used: written under another path, or damaged.
    static func isStaleModuleCache(_ output: String) -> Bool {
        ["was compiled with module cache path", "malformed or corrupted AST file", "is not a valid precompiled module file"]
            .contains { output.contains($0) }
    }

    /// Deletes older plugins of the same fabfile, leaving recent ones that another fab run may be loading,
    /// and what interrupted builds left behind.
    private func removeStalePlugins(of location: FabfileLocation) {
        let prefix = Self.pathPrefix(location) + "-"
        removeFiles(in: cache.pluginsDirectory, olderThan: 600) { $0.hasPrefix(prefix) }
        removeFiles(in: cache.pluginsDirectory, olderThan: 3600) { $0.contains(".tmp-") }
        removeFiles(in: cache.buildsDirectory, olderThan: 3600) { _ in true }
    }

    private func removeFiles(in directory: String, olderThan seconds: Double, where matches: (String) -> Bool) {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        let cutoff = Date().addingTimeInterval(-seconds)
        for name in names where matches(name) {
            let path = (directory as NSString).appendingPathComponent(name)
            guard let modified = (try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date,
                  modified < cutoff else { continue }
            try? FileManager.default.removeItem(atPath: path)
        }
    }
}
