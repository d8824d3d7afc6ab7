import FabProcess
import Foundation
import Testing

/// The result of running a command to completion.
struct CommandOutput {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs a program (a path, or a name on PATH) with arguments (no shell) and waits, at most 5 minutes;
/// stdout and stderr are captured.
@discardableResult
func runCommand(_ executable: String, _ arguments: [String], in directory: URL? = nil) throws -> CommandOutput {
    let output = try ProcessRunner.run(executable: executable, arguments: arguments, directory: directory?.path,
                                       captureLimit: 256 << 20, deadline: .seconds(300))
    return CommandOutput(status: output.termination.status, stdout: output.stdout, stderr: output.stderr)
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
