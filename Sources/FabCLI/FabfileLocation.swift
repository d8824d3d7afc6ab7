import FabfileModel
import Foundation

/// Where a fabfile is: a single `fabfile.swift`, or a `Fabfiles/` folder whose `.swift` files
/// compile together.
///
/// Discovery works the way Fabric's does: the current directory and then each parent is searched for
/// `fabfile.swift`, then for a `Fabfiles/` folder holding `.swift` files; `-f PATH` names a file or a
/// folder instead.
public struct FabfileLocation: Sendable, Equatable {
    /// The fabfile's name in a project directory.
    public static let fileName = "fabfile.swift"
    /// The name of a folder of fabfile sources in a project directory.
    public static let folderName = "Fabfiles"

    /// The fabfile or folder, as an absolute path.
    public var path: String
    /// The Swift files to compile, as absolute paths in name order.
    public var sourcePaths: [String]

    /// A location from its parts (``locate(explicitPath:from:)`` finds one).
    public init(path: String, sourcePaths: [String]) {
        self.path = path
        self.sourcePaths = sourcePaths
    }

    /// Finds the fabfile.
    /// - Parameters:
    ///   - explicitPath: the `-f` argument, if given; relative paths start at `directory`.
    ///   - directory: where the search starts (the current directory).
    /// - Throws: ``FabCLIError`` (`fabfileNotFound`) when there is no fabfile, or `-f` names nothing usable.
    public static func locate(explicitPath: String?, from directory: String) throws(FabCLIError) -> FabfileLocation {
        let start = absolute(directory, relativeTo: "/")
        if let explicitPath {
            return try locateExplicit(absolute(explicitPath, relativeTo: start))
        }
        var current = start
        while true {
            if let found = fabfile(in: current) { return found }
            let parent = (current as NSString).deletingLastPathComponent
            if parent == current || parent.isEmpty { break }
            current = parent
        }
        throw FabCLIError(.fabfileNotFound,
                          "fab found no \(fileName) or \(folderName)/ folder in \(start) or any folder above it; create one there, or name it with -f PATH.")
    }

    /// Reads the source files.
    /// - Throws: ``FabCLIError`` (`fabfileInvalid`) when one cannot be read as UTF-8 text.
    public func readSources() throws(FabCLIError) -> [FabfileSource] {
        var sources: [FabfileSource] = []
        for path in sourcePaths {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw FabCLIError(.fabfileInvalid, "fab cannot read this file; check that it exists and is readable.", path: path)
            }
            guard let text = String(data: data, encoding: .utf8) else {
                throw FabCLIError(.fabfileInvalid, "this file is not UTF-8 text; save it as UTF-8.", path: path)
            }
            sources.append(FabfileSource(path: path, text: text))
        }
        return sources
    }

    /// `fabfile.swift` or a `Fabfiles/` folder with Swift files, directly in `directory`.
    private static func fabfile(in directory: String) -> FabfileLocation? {
        let file = (directory as NSString).appendingPathComponent(fileName)
        if isFile(file) { return FabfileLocation(path: file, sourcePaths: [file]) }
        let folder = (directory as NSString).appendingPathComponent(folderName)
        let sources = swiftFiles(in: folder)
        if !sources.isEmpty { return FabfileLocation(path: folder, sourcePaths: sources) }
        return nil
    }

    private static func locateExplicit(_ path: String) throws(FabCLIError) -> FabfileLocation {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw FabCLIError(.fabfileNotFound, "-f names \(path), which does not exist; give the path of a fabfile or of a folder of fabfile sources.")
        }
        if !isDirectory.boolValue { return FabfileLocation(path: path, sourcePaths: [path]) }
        // A project directory, or a folder of fabfile sources itself.
        if let found = fabfile(in: path) { return found }
        let sources = swiftFiles(in: path)
        if !sources.isEmpty { return FabfileLocation(path: path, sourcePaths: sources) }
        throw FabCLIError(.fabfileNotFound,
                          "-f names the folder \(path), which holds no \(fileName), no \(folderName)/ folder and no .swift files; give the path of a fabfile or of a folder of fabfile sources.")
    }

    /// The `.swift` files directly inside a folder (not in subfolders), sorted by name.
    private static func swiftFiles(in folder: String) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return [] }
        return names.filter { $0.hasSuffix(".swift") && !$0.hasPrefix(".") }
            .sorted()
            .map { (folder as NSString).appendingPathComponent($0) }
            .filter(isFile)
    }

    private static func isFile(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
    }

    /// `path` made absolute and free of `.` and `..` components.
    static func absolute(_ path: String, relativeTo base: String) -> String {
        let joined = path.hasPrefix("/") ? path : (base as NSString).appendingPathComponent(path)
        return (joined as NSString).standardizingPath
    }
}
