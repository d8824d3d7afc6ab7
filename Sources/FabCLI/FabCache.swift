import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// fab's cache folder: compiled fabfile plugins, the compiler's module cache, and the version string of
/// each Swift compiler seen (so a warm start never runs the compiler).
///
/// The folder is `$FAB_CACHE_DIR`, else `$XDG_CACHE_HOME/fab`, else `~/.cache/fab`. Every file is
/// written under a temporary name and renamed into place, so concurrent `fab` runs never see half
/// a file.
public struct FabCache: Sendable, Equatable {
    /// The cache folder.
    public var directory: String

    /// The cache in a given folder.
    public init(directory: String) {
        self.directory = directory
    }

    /// The cache folder for this environment.
    public init(environment: [String: String]) {
        if let explicit = environment["FAB_CACHE_DIR"], !explicit.isEmpty {
            directory = explicit
        } else if let xdg = environment["XDG_CACHE_HOME"], xdg.hasPrefix("/") {
            directory = (xdg as NSString).appendingPathComponent("fab")
        } else {
            let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
            directory = (home as NSString).appendingPathComponent(".cache/fab")
        }
    }

    /// Compiled plugins.
    public var pluginsDirectory: String { subdirectory("plugins") }
    /// The compiler's module cache, shared by all plugin builds.
    public var moduleCacheDirectory: String { subdirectory("ModuleCache") }
    /// Version strings of Swift compilers, by compiler identity.
    var compilersDirectory: String { subdirectory("compilers") }
    /// Scratch folders of builds in progress.
    var buildsDirectory: String { subdirectory("builds") }

    private func subdirectory(_ name: String) -> String {
        (directory as NSString).appendingPathComponent(name)
    }

    /// Creates a folder of the cache if it is missing.
    /// - Throws: ``FabCLIError`` (`cacheUnavailable`) when it cannot be created.
    func ensure(_ path: String) throws(FabCLIError) {
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            throw FabCLIError(.cacheUnavailable,
                              "fab cannot create its cache folder \(path) (\(error.localizedDescription)); make it writable, or set FAB_CACHE_DIR to a writable folder.")
        }
    }

    /// Writes a file under a temporary name and renames it into place.
    /// - Throws: ``FabCLIError`` (`cacheUnavailable`) when it cannot be written.
    func writeAtomically(_ text: String, to path: String) throws(FabCLIError) {
        try ensure((path as NSString).deletingLastPathComponent)
        let temporary = Self.temporaryName(for: path)
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: temporary))
        } catch {
            throw FabCLIError(.cacheUnavailable,
                              "fab cannot write \(temporary) (\(error.localizedDescription)); make the cache folder writable, or set FAB_CACHE_DIR to a writable folder.")
        }
        try moveIntoPlace(temporary, path)
    }

    /// Renames a finished file onto its final name, atomically.
    /// - Throws: ``FabCLIError`` (`cacheUnavailable`) when the rename fails.
    func moveIntoPlace(_ temporary: String, _ path: String) throws(FabCLIError) {
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            unlink(temporary)
            throw FabCLIError(.cacheUnavailable,
                              "fab cannot move \(temporary) to \(path) (\(reason)); make the cache folder writable, or set FAB_CACHE_DIR to a writable folder.")
        }
    }

    /// A name next to `path` that no other process uses: `<path>.tmp-<pid>-<random>`.
    static func temporaryName(for path: String) -> String {
        "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    }
}
