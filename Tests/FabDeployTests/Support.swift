import FabProcess
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

/// Runs a program (a path, or a name on PATH) to completion, at most 15 minutes (dpkg-deb with xz,
/// lintian and pip are the slow ones).
@discardableResult
func runProcess(_ argv: [String], stdin: String? = nil, directory: String? = nil,
                environment: [String: String]? = nil) throws -> ProcessOutput {
    guard let executable = argv.first else { throw TestSetupError(description: "runProcess needs a program to run") }
    let output: ProcessRunner.Output
    do {
        output = try ProcessRunner.run(executable: executable, arguments: Array(argv.dropFirst()),
                                       environment: environment.map(Environment.exactly) ?? .inherit, directory: directory,
                                       input: Array((stdin ?? "").utf8), captureLimit: 64 << 20, deadline: .seconds(900))
    } catch {
        throw TestSetupError(description: "\(error)")
    }
    return ProcessOutput(status: output.termination.status, stdout: output.stdout, stderr: output.stderr)
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

/// Writes a pure-Python wheel `hello-1.0` with `files` (path in the wheel -> text) besides its
/// METADATA, WHEEL and RECORD into `directory`, and returns its path.
func makeHelloWheel(in directory: String, files: [String: String]) throws -> String {
    let program = #"""
import base64, hashlib, json, sys, zipfile
path = sys.argv[1] + "/hello-1.0-py3-none-any.whl"
files = {
    "hello-1.0.dist-info/METADATA": "Metadata-Version: 2.1\nName: hello\nVersion: 1.0\n",
    "hello-1.0.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: fab-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
}
files.update(json.loads(sys.argv[2]))
record = []
with zipfile.ZipFile(path, "w") as z:
    for name, text in sorted(files.items()):
        data = text.encode()
        z.writestr(name, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append("%s,sha256=%s,%d" % (name, digest, len(data)))
    record.append("hello-1.0.dist-info/RECORD,,")
    z.writestr("hello-1.0.dist-info/RECORD", "\n".join(record) + "\n")
print(path)
"""#
    let json = String(decoding: try JSONSerialization.data(withJSONObject: files, options: [.sortedKeys]), as: UTF8.self)
    return try mustRun([debianPython, "-c", program, directory, json]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
}
