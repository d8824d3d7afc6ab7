import FabfileModel
import Foundation
import Synchronization

/// The Swift compiler that builds fabfile plugins, and its version.
///
/// The compiler is `$SWIFTC` (a path, or a name looked up on `PATH`), else `swiftc` on `PATH`. Its
/// `--version` output feeds `#if compiler(...)` when a fabfile is scanned; it is remembered in the cache
/// under the compiler's path, size, modification time and inode. A cached plugin never needs the compiler.
public struct SwiftCompiler: Sendable, Equatable {
    /// The compiler executable, absolute.
    public var path: String
    /// What `swiftc --version` prints.
    public var version: String

    /// A compiler from its parts (``locate(environment:cache:)`` finds the real one).
    public init(path: String, version: String) {
        self.path = path
        self.version = version
    }

    /// Finds the compiler and its version.
    /// - Throws: ``FabCLIError`` (`compilerUnavailable`) when there is none or it cannot be run.
    public static func locate(environment: [String: String], cache: FabCache) throws(FabCLIError) -> SwiftCompiler {
        let requested = environment["SWIFTC"].flatMap { $0.isEmpty ? nil : $0 }
        guard let path = find(requested ?? "swiftc", searchPath: environment["PATH"] ?? "/usr/bin:/bin") else {
            if let requested {
                throw FabCLIError(.compilerUnavailable,
                                  "SWIFTC is \(requested), which is not an executable file; point it at the Swift compiler (swiftc), or unset it.")
            }
            throw FabCLIError(.compilerUnavailable,
                              "fab needs the Swift compiler (swiftc) to build the fabfile, and found none on PATH; install Swift and put its bin folder on PATH, or set SWIFTC to the compiler's path.")
        }
        let resolved = (path as NSString).resolvingSymlinksInPath
        let stamp = Digest.sha256(Array("swiftc \(path) \(resolved) \(FabInstallation.fileStamp(resolved))".utf8))
        let record = (cache.compilersDirectory as NSString).appendingPathComponent(stamp)
        if let data = FileManager.default.contents(atPath: record), let version = String(data: data, encoding: .utf8),
           !version.isEmpty {
            return SwiftCompiler(path: path, version: version)
        }
        let version = try queryVersion(path)
        try cache.writeAtomically(version, to: record)
        return SwiftCompiler(path: path, version: version)
    }

    /// Runs `swiftc --version`.
    static func queryVersion(_ path: String) throws(FabCLIError) -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["--version"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
        } catch {
            throw FabCLIError(.compilerUnavailable,
                              "fab cannot run the Swift compiler \(path) (\(error.localizedDescription)); check that it is executable, or set SWIFTC to another compiler.")
        }
        let (data, timedOut) = collect(process, output: output, deadline: 30)
        let version = String(decoding: data, as: UTF8.self).trimmingWhitespace()
        guard !timedOut, process.terminationStatus == 0, !version.isEmpty else {
            throw FabCLIError(.compilerUnavailable,
                              "\(path) --version failed (exit status \(process.terminationStatus)); check the Swift installation, or set SWIFTC to another compiler.")
        }
        return version
    }

    /// Reads what a started `process` writes to `output` until it exits, and waits for it. A process
    /// still running `deadline` seconds after the call is sent SIGTERM, then SIGKILL 5 s later, and
    /// `timedOut` is true: the compiler never gets to hang a run.
    static func collect(_ process: Process, output: Pipe, deadline: Double) -> (data: Data, timedOut: Bool) {
        let expired = Mutex(false)
        let timer = DispatchSource.makeTimerSource(queue: .global())
        timer.schedule(deadline: .now() + deadline, repeating: 5)
        timer.setEventHandler {
            guard process.isRunning else { return }
            let first = expired.withLock { was in defer { was = true }; return !was }
            if first { process.terminate() } else { kill(process.processIdentifier, SIGKILL) }
        }
        timer.resume()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        timer.cancel()
        return (data, expired.withLock { $0 })
    }

    /// An executable named `name` (or at the path `name`), searched on `searchPath` when it has no slash.
    static func find(_ name: String, searchPath: String) -> String? {
        if name.contains("/") {
            let path = FabfileLocation.absolute(name, relativeTo: FileManager.default.currentDirectoryPath)
            return FileManager.default.isExecutableFile(atPath: path) ? path : nil
        }
        for directory in searchPath.split(separator: ":") where !directory.isEmpty {
            let candidate = (String(directory) as NSString).appendingPathComponent(name)
            if FabInstallation.isFile(candidate), FileManager.default.isExecutableFile(atPath: candidate) {
                return candidate
            }
        }
        return nil
    }
}
