import FabCore
#if canImport(Glibc)
import Glibc
#endif

/// Loads a compiled fabfile plugin into the running `fab` and asks it for its tasks.
///
/// The plugin is not linked against fab's modules: its references to FabCore (and to any other module
/// of fab it imports) are undefined symbols that the dynamic linker resolves against the `fab`
/// executable, which exports them (it is linked with `--export-dynamic`). So there is exactly one copy
/// of every FabCore type, global and protocol conformance in the process. The plugin is never
/// unloaded: task closures point into its code.
public enum PluginLoader {
    /// The C signature of ``PluginABI/registerSymbol``: it receives an unretained ``FabfileRegistry``
    /// (`Unmanaged.passUnretained(registry).toOpaque()`) and returns 0 after filling it.
    public typealias RegisterFunction = @convention(c) (UnsafeMutableRawPointer) -> Int32

    /// Loads the plugin at `path` and returns the registry it filled.
    /// - Throws: ``FabCLIError`` (`pluginLoadFailed`) when the library cannot be loaded (for example a
    ///   symbol it needs is missing from this fab), lacks the register function, or reports failure.
    public static func load(_ path: String) throws(FabCLIError) -> FabfileRegistry {
        guard let handle = dlopen(path, RTLD_NOW | RTLD_LOCAL) else {
            let reason = dlerror().map { String(cString: $0) } ?? "unknown error"
            throw FabCLIError(.pluginLoadFailed,
                              "fab cannot load the compiled fabfile \(path) (\(reason)); this happens when fab's executable and its modules do not match, so rebuild or reinstall fab, then run it again.")
        }
        guard let symbol = dlsym(handle, PluginABI.registerSymbol) else {
            throw FabCLIError(.pluginLoadFailed,
                              "the compiled fabfile \(path) does not export \(PluginABI.registerSymbol); run fab again with --rebuild.")
        }
        let register = unsafeBitCast(symbol, to: RegisterFunction.self)
        let registry = FabfileRegistry()
        let status = withExtendedLifetime(registry) {
            register(Unmanaged.passUnretained(registry).toOpaque())
        }
        guard status == 0 else {
            throw FabCLIError(.pluginLoadFailed,
                              "the compiled fabfile \(path) failed to register its tasks (status \(status)); run fab again with --rebuild.")
        }
        return registry
    }
}
