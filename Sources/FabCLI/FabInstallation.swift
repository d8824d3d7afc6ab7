import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Where the running `fab` keeps what fabfiles compile against: its Swift modules and the module maps
/// of the C libraries they import.
///
/// Found relative to the executable (`/proc/self/exe`), so every way of running `fab` works:
/// - an installed prefix (`scripts/install.sh PREFIX`): `PREFIX/bin/fab`, `PREFIX/lib/fab/Modules`,
///   `PREFIX/lib/fab/include/<CModule>/module.modulemap`;
/// - a SwiftPM build folder (`swift run fab`, `.build/release/fab`): `<bin>/Modules` next to the
///   executable, and the module maps in the package's `Sources/` folder;
/// - `FAB_LIB_DIR=DIR`, a folder laid out like `PREFIX/lib/fab`, overrides both.
///
/// The fabfile scanner, `fab-scan`, sits next to the `Modules` folder: `PREFIX/lib/fab/fab-scan`, or
/// `<bin>/fab-scan` in a build folder (``scannerPath()``). It is looked for only when a fabfile is compiled.
public struct FabInstallation: Sendable, Equatable {
    /// The running executable.
    public var executablePath: String
    /// The folder with fab's `.swiftmodule` files, passed to the compiler with `-I`.
    public var modulesDirectory: String
    /// The `module.modulemap` files of the C libraries fab's modules import.
    public var moduleMapPaths: [String]
    /// A string that changes whenever the executable or its modules change (paths, sizes, modification
    /// times); part of every plugin's cache key, because a plugin is bound to the exact fab it was built for.
    public var identity: String

    /// An installation from its parts (tests; ``current(environment:)`` finds the real one).
    public init(executablePath: String, modulesDirectory: String, moduleMapPaths: [String], identity: String) {
        self.executablePath = executablePath
        self.modulesDirectory = modulesDirectory
        self.moduleMapPaths = moduleMapPaths
        self.identity = identity
    }

    /// The installation of the running executable.
    /// - Throws: ``FabCLIError`` (`installationIncomplete`) when the modules or module maps are missing.
    public static func current(environment: [String: String] = ProcessInfo.processInfo.environment) throws(FabCLIError) -> FabInstallation {
        let executable = executablePath()
        let binDirectory = (executable as NSString).deletingLastPathComponent
        let installedLib = ((binDirectory as NSString).deletingLastPathComponent as NSString)
            .appendingPathComponent("lib/fab")
        let buildModules = (binDirectory as NSString).appendingPathComponent("Modules")

        let modules: String
        let moduleMaps: [String]
        if let libDirectory = environment["FAB_LIB_DIR"], !libDirectory.isEmpty {
            modules = (libDirectory as NSString).appendingPathComponent("Modules")
            moduleMaps = moduleMapFiles(under: (libDirectory as NSString).appendingPathComponent("include"))
            guard isDirectory(modules) else {
                throw FabCLIError(.installationIncomplete,
                                  "FAB_LIB_DIR is \(libDirectory), which has no Modules folder; point it at a folder laid out like PREFIX/lib/fab, or unset it.")
            }
        } else if isDirectory((installedLib as NSString).appendingPathComponent("Modules")) {
            modules = (installedLib as NSString).appendingPathComponent("Modules")
            moduleMaps = moduleMapFiles(under: (installedLib as NSString).appendingPathComponent("include"))
        } else if isDirectory(buildModules) {
            modules = buildModules
            moduleMaps = moduleMapFiles(under: packageSourcesDirectory)
        } else {
            throw FabCLIError(.installationIncomplete,
                              "fab cannot find the Swift modules fabfiles compile against (looked in \(installedLib)/Modules and \(buildModules)); install fab with scripts/install.sh PREFIX, or set FAB_LIB_DIR.")
        }
        guard FileManager.default.fileExists(atPath: (modules as NSString).appendingPathComponent("FabCore.swiftmodule")) else {
            throw FabCLIError(.installationIncomplete,
                              "\(modules) has no FabCore.swiftmodule; rebuild fab (swift build) or reinstall it with scripts/install.sh.")
        }
        return FabInstallation(executablePath: executable, modulesDirectory: modules, moduleMapPaths: moduleMaps,
                               identity: identity(executable: executable, modules: modules, moduleMaps: moduleMaps))
    }

    /// The fabfile scanner helper: `fab-scan` in the folder that holds ``modulesDirectory`` (`PREFIX/lib/fab`,
    /// `FAB_LIB_DIR`, or the build folder), else next to the executable.
    /// - Throws: ``FabCLIError`` (`installationIncomplete`) when neither has it.
    public func scannerPath() throws(FabCLIError) -> String {
        try FabfileScanner.locateHelper(candidates: [
            (modulesDirectory as NSString).deletingLastPathComponent,
            (executablePath as NSString).deletingLastPathComponent,
        ])
    }

    /// The package's `Sources` folder, known when fab runs from its build folder.
    static let packageSourcesDirectory: String = {
        // This file is <package>/Sources/FabCLI/FabInstallation.swift.
        let file = #filePath as NSString
        return (file.deletingLastPathComponent as NSString).deletingLastPathComponent
    }()

    /// The running executable's path, with symbolic links resolved.
    static func executablePath() -> String {
        #if os(Linux)
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            return path
        }
        #endif
        let argument0 = CommandLine.arguments.first ?? "fab"
        return FabfileLocation.absolute(argument0, relativeTo: FileManager.default.currentDirectoryPath)
    }

    /// Every `<dir>/<name>/module.modulemap` directly under `directory`.
    static func moduleMapFiles(under directory: String) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [] }
        return names.sorted().map { (directory as NSString).appendingPathComponent("\($0)/module.modulemap") }
            .filter(isFile)
    }

    static func identity(executable: String, modules: String, moduleMaps: [String]) -> String {
        var lines = ["exe \(executable) \(fileStamp(executable))"]
        let names = (try? FileManager.default.contentsOfDirectory(atPath: modules)) ?? []
        for name in names.sorted() where name.hasSuffix(".swiftmodule") {
            let path = (modules as NSString).appendingPathComponent(name)
            lines.append("module \(path) \(fileStamp(path))")
        }
        for map in moduleMaps {
            lines.append("modulemap \(map) \(fileStamp(map))")
        }
        return lines.joined(separator: "\n")
    }

    /// `size:mtime-seconds.nanoseconds:inode` of a file, or `missing`.
    static func fileStamp(_ path: String) -> String {
        var info = stat()
        guard stat(path, &info) == 0 else { return "missing" }
        return "\(info.st_size):\(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec):\(info.st_ino)"
    }

    static func isDirectory(_ path: String) -> Bool {
        var directory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &directory) && directory.boolValue
    }

    static func isFile(_ path: String) -> Bool {
        var directory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &directory) && !directory.boolValue
    }
}
