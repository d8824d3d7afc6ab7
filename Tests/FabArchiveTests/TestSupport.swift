import Foundation
import Testing

/// The result of running a command to completion.
struct CommandOutput {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a program with arguments (no shell) and waits; stdout and stderr are captured.
@discardableResult
func runCommand(_ executable: String, _ arguments: [String], in directory: URL? = nil) throws -> CommandOutput {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable.hasPrefix("/") ? executable : "/usr/bin/env")
    process.arguments = executable.hasPrefix("/") ? arguments : [executable] + arguments
    if let directory { process.currentDirectoryURL = directory }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Read both pipes before waiting so a chatty command cannot block on a full pipe.
    let errBox = ResultBox<Data>()
    let group = DispatchGroup()
    let errHandle = err.fileHandleForReading
    group.enter()
    DispatchQueue.global().async {
        errBox.set(errHandle.readDataToEndOfFile())
        group.leave()
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    group.wait()
    let errData = errBox.get() ?? Data()
    return CommandOutput(status: process.terminationStatus,
                         stdout: String(decoding: outData, as: UTF8.self),
                         stderr: String(decoding: errData, as: UTF8.self))
}

/// Runs a command and requires exit status 0, returning its stdout.
@discardableResult
func runChecked(_ executable: String, _ arguments: [String], in directory: URL? = nil,
                sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
    let result = try runCommand(executable, arguments, in: directory)
    try #require(result.status == 0, "\(executable) \(arguments.joined(separator: " ")) failed: \(result.stderr)",
                 sourceLocation: sourceLocation)
    return result.stdout
}

/// One value handed from one thread to another; the lock makes the hand-over safe.
final class ResultBox<T: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T?
    func set(_ newValue: T) { lock.withLock { value = newValue } }
    func get() -> T? { lock.withLock { value } }
}

/// A fresh directory under the system's temporary directory, removed when the body returns.
func withTemporaryDirectory<T>(_ body: (URL) throws -> T) throws -> T {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("fab-archive-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: url) }
    return try body(url)
}

/// Writes text to a file, creating parent directories, and sets its permissions.
func writeFile(_ url: URL, _ text: String, mode: Int = 0o644) throws {
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try Data(text.utf8).write(to: url)
    try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: url.path)
}

/// The permission bits of a file (not following a final symlink).
func permissions(of url: URL) throws -> Int {
    let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
    return try #require(attributes[.posixPermissions] as? Int)
}
