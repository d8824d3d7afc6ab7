import Foundation
import SwiftIfConfig
import SwiftSyntax

/// The build configuration a fabfile is compiled with, so ``FabfileScanner`` reads `#if` as the compiler does.
///
/// It mirrors the `swiftc` command ``PluginBuilder`` runs: the platform fab itself was built for
/// (`os(Linux)`, `arch(x86_64)`, 64-bit, little-endian), Swift 6 language mode, the compiler's own version,
/// no `-D` conditions, and `canImport` answered from the folders the compiler searches (fab's modules, the
/// toolchain's modules) and the C modules whose module maps it is given.
///
/// `hasFeature` knows the features Swift 6 mode turns on; `hasAttribute` knows the declaration attributes
/// of the Swift 6 compilers. Both are the compiler's lists as of Swift 6.3, written down here.
public struct FabfileBuildConfiguration: BuildConfiguration, Sendable {
    /// Folders searched for `NAME.swiftmodule` (or `.swiftinterface`) by `canImport(NAME)`.
    public var moduleDirectories: [String]
    /// Names of C modules from the module maps the compile is given (`CLibSSH2`).
    public var clangModules: Set<String>
    /// The compiler's version, `compiler(>=...)`.
    public var compilerVersion: VersionTuple
    /// The language mode, `swift(>=...)`: fabfiles compile with `-swift-version 6`.
    public var languageVersion: VersionTuple
    /// Conditions set with `-D`: none for fabfiles.
    public var customConditions: Set<String>

    /// A configuration from its parts.
    public init(moduleDirectories: [String], clangModules: Set<String> = [], compilerVersion: VersionTuple,
                languageVersion: VersionTuple = VersionTuple(6), customConditions: Set<String> = []) {
        self.moduleDirectories = moduleDirectories
        self.clangModules = clangModules
        self.compilerVersion = compilerVersion
        self.languageVersion = languageVersion
        self.customConditions = customConditions
    }

    /// The configuration used when no compiler is at hand (tests): this platform, the compiler fab was built
    /// with, and no module that `canImport` finds.
    public static let fallback = FabfileBuildConfiguration(moduleDirectories: [], compilerVersion: builtWithCompiler)

    /// The configuration for compiling against `installation` with `compiler`.
    public init(installation: FabInstallation, compiler: SwiftCompiler) {
        // <toolchain>/usr/bin/swiftc → <toolchain>/usr/lib/swift/linux holds Foundation, Glibc, Dispatch...
        let binary = (compiler.path as NSString).resolvingSymlinksInPath
        let toolchainLib = ((binary as NSString).deletingLastPathComponent as NSString)
            .appendingPathComponent("../lib/swift/\(Self.platformDirectory)")
        self.init(moduleDirectories: [installation.modulesDirectory, (toolchainLib as NSString).standardizingPath],
                  clangModules: Set(installation.moduleMapPaths.map {
                      (($0 as NSString).deletingLastPathComponent as NSString).lastPathComponent
                  }),
                  compilerVersion: Self.version(fromCompilerOutput: compiler.version) ?? Self.builtWithCompiler)
    }

    /// `6.3.1` from `swiftc --version` output (`Swift version 6.3.1 (swift-6.3.1-RELEASE)`), or nil.
    public static func version(fromCompilerOutput output: String) -> VersionTuple? {
        guard let range = output.range(of: "Swift version ") else { return nil }
        let number = output[range.upperBound...].prefix { $0.isNumber || $0 == "." }
        return VersionTuple(parsing: String(number))
    }

    /// The compiler fab itself was built with: the fallback when `--version` says nothing readable.
    static var builtWithCompiler: VersionTuple {
        #if compiler(>=6.3)
        VersionTuple(6, 3)
        #elseif compiler(>=6.2)
        VersionTuple(6, 2)
        #elseif compiler(>=6.1)
        VersionTuple(6, 1)
        #else
        VersionTuple(6, 0)
        #endif
    }

    static var platformDirectory: String {
        #if os(Linux)
        "linux"
        #else
        "macosx"
        #endif
    }

    public func isCustomConditionSet(name: String) -> Bool { customConditions.contains(name) }

    public func hasFeature(name: String) -> Bool { Self.swift6Features.contains(name) }

    public func hasAttribute(name: String) -> Bool { Self.attributes.contains(name) }

    public func canImport(importPath: [(TokenSyntax, String)], version: CanImportVersion) -> Bool {
        // `canImport(A.B)` asks for a submodule; the top-level module decides, as for the compiler.
        guard let module = importPath.first?.1 else { return false }
        if clangModules.contains(module) { return true }
        return moduleDirectories.contains { directory in
            ["swiftmodule", "swiftinterface"].contains { suffix in
                FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent("\(module).\(suffix)"))
            }
        }
    }

    public func isActiveTargetOS(name: String) -> Bool {
        #if os(Linux)
        name == "Linux"
        #elseif os(macOS)
        name == "macOS" || name == "OSX"
        #else
        false
        #endif
    }

    public func isActiveTargetArchitecture(name: String) -> Bool {
        #if arch(x86_64)
        name == "x86_64"
        #elseif arch(arm64)
        name == "arm64"
        #else
        false
        #endif
    }

    public func isActiveTargetEnvironment(name: String) -> Bool { false }

    public func isActiveTargetRuntime(name: String) -> Bool { name == "_Native" }

    public func isActiveTargetPointerAuthentication(name: String) -> Bool { name == "_none" }

    public func isActiveTargetObjectFormat(name: String) -> Bool {
        #if os(Linux)
        name == "ELF"
        #else
        name == "MachO"
        #endif
    }

    public var targetPointerBitWidth: Int { MemoryLayout<Int>.size * 8 }

    public var targetAtomicBitWidths: [Int] { [8, 16, 32, 64, 128] }

    public var endianness: Endianness { 1.littleEndian == 1 ? .little : .big }

    /// Upcoming features that Swift 6 language mode turns on.
    static let swift6Features: Set<String> = [
        "ConciseMagicFile", "ForwardTrailingClosures", "StrictConcurrency", "BareSlashRegexLiterals",
        "DeprecateApplicationMain", "ImportObjcForwardDeclarations", "DisableOutwardActorInference",
        "IsolatedDefaultValues", "GlobalConcurrency", "InferSendableFromCaptures", "RegionBasedIsolation",
        "DynamicActorIsolation", "NonfrozenEnumExhaustivity", "GlobalActorIsolatedTypesUsability",
    ]

    /// Declaration and type attributes the Swift 6 compilers know.
    static let attributes: Set<String> = [
        "available", "discardableResult", "MainActor", "Sendable", "escaping", "autoclosure", "inlinable",
        "usableFromInline", "frozen", "objc", "nonobjc", "main", "propertyWrapper", "resultBuilder",
        "dynamicMemberLookup", "dynamicCallable", "testable", "unchecked", "preconcurrency", "globalActor",
        "backDeployed", "warn_unqualified_access", "retroactive", "TaskLocal", "attached", "freestanding",
        "inline", "_spi", "_exported", "_implementationOnly", "_cdecl", "_silgen_name", "isolated",
        "nonisolated", "concurrent", "execution", "abi", "lifetime", "export", "specialized",
    ]
}
