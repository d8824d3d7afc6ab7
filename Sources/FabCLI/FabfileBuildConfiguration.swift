import FabfileModel
import Foundation

extension FabfileBuildConfiguration {
    /// The configuration for compiling against `installation` with `compiler`: the `swiftc` command
    /// ``PluginBuilder`` runs (Swift 6 mode, no `-D` conditions), the compiler's own version (when asked; else the one fab was built with), and
    /// `canImport` answered from fab's modules, the toolchain's modules and fab's C module maps.
    public init(installation: FabInstallation, compiler: SwiftCompiler) {
        // <toolchain>/usr/bin/swiftc → <toolchain>/usr/lib/swift/linux holds Foundation, Glibc, Dispatch...
        let binary = (compiler.path as NSString).resolvingSymlinksInPath
        let toolchainLib = ((binary as NSString).deletingLastPathComponent as NSString)
            .appendingPathComponent("../lib/swift/\(Self.platformDirectory)")
        self.init(moduleDirectories: [installation.modulesDirectory, (toolchainLib as NSString).standardizingPath],
                  clangModules: Set(installation.moduleMapPaths.map {
                      (($0 as NSString).deletingLastPathComponent as NSString).lastPathComponent
                  }),
                  compilerVersion: compiler.version.flatMap(Self.version(fromCompilerOutput:)) ?? Self.builtWithCompiler)
    }

    static var platformDirectory: String {
        #if os(Linux)
        "linux"
        #else
        "macosx"
        #endif
    }
}
