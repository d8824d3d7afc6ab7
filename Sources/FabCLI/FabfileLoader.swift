import FabCore
import Foundation

/// Finds a fabfile's compiled plugin (compiling it if needed), loads it, and returns its tasks.
public struct FabfileLoader: Sendable {
    /// A loaded fabfile.
    public struct Loaded: Sendable {
        /// Where the fabfile is.
        public var location: FabfileLocation
        /// Its tasks and role definitions.
        public var registry: FabfileRegistry
        /// The compiled plugin they came from.
        public var plugin: PluginBuilder.Plugin
    }

    /// The environment (`SWIFTC`, `PATH`, cache variables, `FAB_LIB_DIR`).
    public var environment: [String: String]
    /// Where notes go.
    public var console: Console
    /// Whether to report compile and cache decisions on standard error.
    public var debug: Bool
    /// Whether to say "compiling" before a compile (worth it on a terminal, noise elsewhere).
    public var announceCompiles: Bool

    /// A loader; see the properties for the parameters.
    public init(environment: [String: String], console: Console, debug: Bool, announceCompiles: Bool) {
        self.environment = environment
        self.console = console
        self.debug = debug
        self.announceCompiles = announceCompiles
    }

    /// Loads the fabfile at `location`.
    /// - Throws: ``FabCLIError`` from finding fab's modules and the compiler, scanning, compiling or loading.
    public func load(_ location: FabfileLocation, rebuild: Bool = false,
                     diagnostics: PluginBuilder.Diagnostics = .standardError) throws(FabCLIError) -> Loaded {
        let started = DispatchTime.now().uptimeNanoseconds
        let sources = try location.readSources()
        let cache = FabCache(environment: environment)
        let installation = try FabInstallation.current(environment: environment)
        // The compiler is looked up only for a compile: a cached fabfile runs without the toolchain.
        let environment = environment
        let builder = PluginBuilder(installation: installation, cache: cache, fabVersion: FabVersion.current) {
            () throws(FabCLIError) -> SwiftCompiler in
            try SwiftCompiler.locate(environment: environment)
        }
        let plugin = try builder.plugin(for: location, sources: sources, rebuild: rebuild, diagnostics: diagnostics) {
            if announceCompiles { console.note("compiling \(location.path)") }
        }
        let registry: FabfileRegistry
        do {
            registry = try PluginLoader.load(plugin.path)
        } catch {
            // Do not keep a plugin this fab cannot use: the next run compiles afresh.
            try? FileManager.default.removeItem(atPath: plugin.path)
            throw error
        }
        if debug {
            let total = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e6
            if let compiler = plugin.compiler {
                console.note("compiling against \(installation.modulesDirectory) with \(compiler.path)")
                console.note("compiled \(location.path) in \(Self.format(plugin.compileSeconds * 1000)) ms: \(plugin.path)")
            } else {
                console.note("cached \(location.path): \(plugin.path)")
            }
            console.note("loaded \(registry.tasks.count) task\(registry.tasks.count == 1 ? "" : "s") in \(Self.format(total)) ms")
        }
        return Loaded(location: location, registry: registry, plugin: plugin)
    }

    static func format(_ milliseconds: Double) -> String {
        String(Int(milliseconds.rounded()))
    }
}
