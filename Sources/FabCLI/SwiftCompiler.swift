import FabProcess
import FabfileModel
import Foundation

/// The Swift compiler that builds fabfile plugins, and its version.
///
/// The compiler is `$SWIFTC` (a path, or a name looked up on `PATH`), else `swiftc` on `PATH`. Its
/// `--version` output feeds `#if compiler(...)` and `#if swift(...)` when a fabfile is scanned, so it is
/// asked only for fabfiles that may use them (``withVersion(cache:)``: running `swiftc --version` is 0.2 to
/// 0.4 s of a first compile); it is remembered in the cache under the compiler's path, size, modification
/// time and inode. A cached plugin never needs the compiler.
public struct SwiftCompiler: Sendable, Equatable {
    /// The compiler executable, absolute.
    public var path: String
    /// What `swiftc --version` prints, or nil when it was not asked.
    public var version: String?

    /// A compiler from its parts (``locate(environment:cache:)`` finds the real one).
    public init(path: String, version: String? = nil) {
        self.path = path
        self.version = version
    }

    /// Finds the compiler (without asking its version).
    /// - Throws: ``FabCLIError`` (`compilerUnavailable`) when there is none.
    public static func locate(environment: [String: String]) throws(FabCLIError) -> SwiftCompiler {
        let requested = environment["SWIFTC"].flatMap { $0.isEmpty ? nil : $0 }
        guard let path = ChildProcess.locate(requested ?? "swiftc", searchPath: environment["PATH"] ?? "/bin:/usr/bin") else {
            if let requested {
                throw FabCLIError(.compilerUnavailable,
                                  "SWIFTC is \(requested), which is not an executable file; point it at the Swift compiler (swiftc), or unset it.")
            }
            throw FabCLIError(.compilerUnavailable,
                              "fab needs the Swift compiler (swiftc) to build the fabfile, and found none on PATH; install Swift and put its bin folder on PATH, or set SWIFTC to the compiler's path.")
        }
        return SwiftCompiler(path: path)
    }

    /// This compiler with its version, from the cache's record or `swiftc --version`.
    /// - Throws: ``FabCLIError`` (`compilerUnavailable`) when the compiler cannot be run.
    public func withVersion(cache: FabCache) throws(FabCLIError) -> SwiftCompiler {
        if version != nil { return self }
        let resolved = (path as NSString).resolvingSymlinksInPath
        let stamp = Digest.sha256(Array("swiftc \(path) \(resolved) \(FabInstallation.fileStamp(resolved))".utf8))
        let record = (cache.compilersDirectory as NSString).appendingPathComponent(stamp)
        if let data = FileManager.default.contents(atPath: record), let version = String(data: data, encoding: .utf8),
           !version.isEmpty {
            return SwiftCompiler(path: path, version: version)
        }
        let version = try Self.queryVersion(path)
        try cache.writeAtomically(version, to: record)
        return SwiftCompiler(path: path, version: version)
    }

    /// Whether `text` may test the compiler's version: `compiler`, `swift` or `_compiler_version`
    /// followed by `(` (spaces allowed between). A false yes only costs asking the version; `#if`
    /// conditions cannot spell these any other way.
    static func mayTestVersion(_ text: String) -> Bool {
        for word in ["compiler", "swift", "_compiler_version"] {
            var rest = text[...]
            while let range = rest.range(of: word) {
                if rest[range.upperBound...].drop(while: { $0 == " " || $0 == "\t" || $0.isNewline }).first == "(" {
                    return true
                }
                rest = rest[range.upperBound...]
            }
        }
        return false
    }

    /// Runs `swiftc --version`, at most 30 s.
    static func queryVersion(_ path: String) throws(FabCLIError) -> String {
        let output: ProcessRunner.Output
        do {
            output = try ProcessRunner.run(executable: path, arguments: ["--version"], standardError: .discard,
                                           deadline: .seconds(30))
        } catch let error as ProcessError where error.code == .timedOut {
            throw FabCLIError(.compilerUnavailable,
                              "\(path) --version did not answer within 30 s and was stopped; check the Swift installation and the machine's load, or set SWIFTC to another compiler.")
        } catch {
            throw FabCLIError(.compilerUnavailable,
                              "fab cannot run the Swift compiler \(path) (\(error)); check that it is executable, or set SWIFTC to another compiler.")
        }
        let version = output.stdout.trimmingWhitespace()
        guard output.termination.succeeded, !version.isEmpty else {
            throw FabCLIError(.compilerUnavailable,
                              "\(path) --version failed (\(output.termination)); check the Swift installation, or set SWIFTC to another compiler.")
        }
        return version
    }
}
