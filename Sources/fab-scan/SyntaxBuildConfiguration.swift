import FabfileModel
import Foundation
import SwiftIfConfig
import SwiftSyntax

/// The configuration fab sends, answering SwiftIfConfig's questions as the compiler does for a fabfile.
///
/// `hasFeature` knows the features Swift 6 mode turns on; `hasAttribute` knows the declaration attributes
/// of the Swift 6 compilers. Both are the compiler's lists as of Swift 6.3, written down here. The platform
/// answers are this executable's own platform, which is fab's: they are built and installed together.
struct SyntaxBuildConfiguration: BuildConfiguration {
    /// What fab sent.
    var base: FabfileBuildConfiguration

    init(_ base: FabfileBuildConfiguration) {
        self.base = base
    }

    func isCustomConditionSet(name: String) -> Bool { base.customConditions.contains(name) }

    func hasFeature(name: String) -> Bool { Self.swift6Features.contains(name) }

    func hasAttribute(name: String) -> Bool { Self.attributes.contains(name) }

    func canImport(importPath: [(TokenSyntax, String)], version: CanImportVersion) -> Bool {
        // `canImport(A.B)` asks for a submodule; the top-level module decides, as for the compiler.
        guard let module = importPath.first?.1 else { return false }
        if base.clangModules.contains(module) { return true }
        return base.moduleDirectories.contains { directory in
            ["swiftmodule", "swiftinterface"].contains { suffix in
                FileManager.default.fileExists(atPath: (directory as NSString).appendingPathComponent("\(module).\(suffix)"))
            }
        }
    }

    func isActiveTargetOS(name: String) -> Bool {
        #if os(Linux)
        name == "Linux"
        #elseif os(macOS)
        name == "macOS" || name == "OSX"
        #else
        false
        #endif
    }

    func isActiveTargetArchitecture(name: String) -> Bool {
        #if arch(x86_64)
        name == "x86_64"
        #elseif arch(arm64)
        name == "arm64"
        #else
        false
        #endif
    }

    func isActiveTargetEnvironment(name: String) -> Bool { false }

    func isActiveTargetRuntime(name: String) -> Bool { name == "_Native" }

    func isActiveTargetPointerAuthentication(name: String) -> Bool { name == "_none" }

    func isActiveTargetObjectFormat(name: String) -> Bool {
        #if os(Linux)
        name == "ELF"
        #else
        name == "MachO"
        #endif
    }

    var targetPointerBitWidth: Int { MemoryLayout<Int>.size * 8 }

    var targetAtomicBitWidths: [Int] { [8, 16, 32, 64, 128] }

    var endianness: Endianness { 1.littleEndian == 1 ? .little : .big }

    var compilerVersion: VersionTuple { VersionTuple(components: base.compilerVersion) }

    var languageVersion: VersionTuple { VersionTuple(components: base.languageVersion) }

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
