/// The build configuration a fabfile is compiled with, so the scanner reads `#if` as the compiler does.
///
/// fab fills it from the `swiftc` command it runs (see `FabCLI`'s `PluginBuilder`) and sends it to
/// `fab-scan`, which answers the conditions the compiler answers from the command line: `compiler(>=...)`,
/// `swift(>=...)`, `-D` conditions, and `canImport` from the folders the compiler searches (fab's modules,
/// the toolchain's modules) and the C modules whose module maps it is given. The platform conditions
/// (`os(Linux)`, `arch(x86_64)`, 64-bit, little-endian) are the platform fab and `fab-scan` were built for.
public struct FabfileBuildConfiguration: Sendable, Equatable, Codable {
    /// Folders searched for `NAME.swiftmodule` (or `.swiftinterface`) by `canImport(NAME)`.
    public var moduleDirectories: [String]
    /// Names of C modules from the module maps the compile is given (`CLibSSH2`).
    public var clangModules: Set<String>
    /// The compiler's version, `compiler(>=...)`: `[6, 3, 1]`.
    public var compilerVersion: [Int]
    /// The language mode, `swift(>=...)`: fabfiles compile with `-swift-version 6`.
    public var languageVersion: [Int]
    /// Conditions set with `-D`: none for fabfiles.
    public var customConditions: Set<String>

    /// A configuration from its parts.
    public init(moduleDirectories: [String], clangModules: Set<String> = [], compilerVersion: [Int],
                languageVersion: [Int] = [6], customConditions: Set<String> = []) {
        self.moduleDirectories = moduleDirectories
        self.clangModules = clangModules
        self.compilerVersion = compilerVersion
        self.languageVersion = languageVersion
        self.customConditions = customConditions
    }

    /// The configuration used when no compiler is at hand (tests): this platform, the compiler fab was built
    /// with, and no module that `canImport` finds.
    public static let fallback = FabfileBuildConfiguration(moduleDirectories: [], compilerVersion: builtWithCompiler)

    /// `[6, 3, 1]` from `swiftc --version` output (`Swift version 6.3.1 (swift-6.3.1-RELEASE)`), or nil.
    public static func version(fromCompilerOutput output: String) -> [Int]? {
        guard let range = output.firstRange(of: "Swift version ") else { return nil }
        let number = output[range.upperBound...].prefix { $0.isNumber || $0 == "." }
        let components = number.split(separator: ".", omittingEmptySubsequences: false).map { Int($0) }
        guard !components.isEmpty, components.count <= 5, !components.contains(nil) else { return nil }
        return components.compactMap { $0 }
    }

    /// The compiler fab itself was built with: the fallback when `--version` says nothing readable.
    public static var builtWithCompiler: [Int] {
        #if compiler(>=6.3)
        [6, 3]
        #elseif compiler(>=6.2)
        [6, 2]
        #elseif compiler(>=6.1)
        [6, 1]
        #else
        [6, 0]
        #endif
    }
}
