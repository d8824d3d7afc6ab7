import Foundation
import Testing

/// What a finished process printed and returned.
struct ProcessOutput {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// A failure of the test machinery itself (a program that cannot be started).
struct TestSetupError: Error, CustomStringConvertible {
    var description: String
}

/// Runs a program to completion. Output goes through files, so a chatty program cannot fill a pipe and hang.
@discardableResult
func runProcess(_ argv: [String], stdin: String? = nil, directory: String? = nil,
                environment: [String: String]? = nil) throws -> ProcessOutput {
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("fabdeploy-proc-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: scratch) }
    let outURL = scratch.appendingPathComponent("out"), errURL = scratch.appendingPathComponent("err")
    let inURL = scratch.appendingPathComponent("in")
    try Data().write(to: outURL)
    try Data().write(to: errURL)
    try Data((stdin ?? "").utf8).write(to: inURL)

    let process = Process()
    process.executableURL = URL(fileURLWithPath: argv[0].hasPrefix("/") ? argv[0] : "/usr/bin/env")
    process.arguments = argv[0].hasPrefix("/") ? Array(argv.dropFirst()) : argv
    if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
    if let environment { process.environment = environment }
    let outHandle = try FileHandle(forWritingTo: outURL), errHandle = try FileHandle(forWritingTo: errURL)
    let inHandle = try FileHandle(forReadingFrom: inURL)
    process.standardOutput = outHandle
    process.standardError = errHandle
    process.standardInput = inHandle
    do {
        try process.run()
    } catch {
        throw TestSetupError(description: "cannot start \(argv.joined(separator: " ")): \(error)")
    }
    process.waitUntilExit()
    try outHandle.close()
    try errHandle.close()
    try inHandle.close()
    return ProcessOutput(status: process.terminationStatus,
                         stdout: String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
                         stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
}

/// Runs a program and fails the test (with its output) when it exits non-zero.
@discardableResult
func mustRun(_ argv: [String], stdin: String? = nil, directory: String? = nil,
             environment: [String: String]? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws -> ProcessOutput {
    let result = try runProcess(argv, stdin: stdin, directory: directory, environment: environment)
    if result.status != 0 {
        Issue.record("\(argv.joined(separator: " ")) exited \(result.status)\nstdout: \(result.stdout.suffix(3000))\nstderr: \(result.stderr.suffix(3000))",
                     sourceLocation: sourceLocation)
        throw TestSetupError(description: "\(argv[0]) failed")
    }
    return result
}

/// A fresh directory under /tmp (a real path: no symlinks in it), removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init(_ label: String) throws {
        path = "/tmp/fabdeploy-\(label)-\(UUID().uuidString.prefix(8).lowercased())"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }

    func write(_ relative: String, _ text: String, mode: Int? = nil) throws {
        try write(relative, Data(text.utf8), mode: mode)
    }

    func write(_ relative: String, _ data: Data, mode: Int? = nil) throws {
        let url = URL(fileURLWithPath: path).appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: url)
        if let mode { try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: url.path) }
    }
}

/// Whether an executable exists at the path.
func haveTool(_ path: String) -> Bool { FileManager.default.isExecutableFile(atPath: path) }

/// The first path of `names` found on the PATH, or nil.
func which(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    return path.split(separator: ":").map { "\($0)/\(name)" }.first(where: haveTool)
}

/// Debian's interpreter, which the kit builds virtualenvs with.
let debianPython = "/usr/bin/python3"
