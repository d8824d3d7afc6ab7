import FabSSH
import FabTestSupport
import Foundation
import Testing

/// SFTP transfers against a real sshd.
@Suite("File transfers", .serialized)
struct TransferTests {
    let server: SSHServer
    let local: URL
    init() throws {
        server = try SSHServer()
        local = try TemporaryDirectory.make(prefix: "fab-transfer")
    }

    /// A fresh remote directory the test user owns.
    func remoteDirectory(_ session: SSHSession) async throws -> String {
        let path = "/tmp/fab-transfer-\(UUID().uuidString.prefix(8))"
        #expect(try await session.execute("mkdir -p \(path)").succeeded)
        return path
    }

    @Test("put and get of a 256 MiB file keep every byte, with progress up to the total")
    func bigFile() async throws {
        let session = try await SSHSession.connect(to: server.target())
        let remote = try await remoteDirectory(session)
        let source = local.path + "/big.bin"
        try sh("head -c 268435456 /dev/urandom > \(source)")
        let expected = try sh("sha256sum < \(source)")
        let last = ProgressBox()
        try await session.put(source, to: remote + "/big.bin", progress: { last.set($0) })
        #expect(last.value?.bytesDone == 268_435_456)
        #expect(last.value?.totalBytes == 268_435_456)
        #expect(try await session.execute("sha256sum < \(remote)/big.bin").stdout == expected)
        let back = local.path + "/back.bin"
        try await session.get(remote + "/big.bin", to: back)
        #expect(try sh("sha256sum < \(back)") == expected)
        _ = try await session.execute("rm -rf \(remote)")
    }

    @Test("modes are kept or set, and an existing file is replaced")
    func modes() async throws {
        let session = try await SSHSession.connect(to: server.target())
        let remote = try await remoteDirectory(session)
        let script = local.path + "/run.sh"
        try "#!/bin/sh\necho hi\n".write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o750)
        try await session.put(script, to: remote + "/run.sh")
        #expect(try await session.stat(remote + "/run.sh")?.mode == 0o750)
        try "#!/bin/sh\necho replaced\n".write(toFile: script, atomically: true, encoding: .utf8)
        try await session.put(script, to: remote + "/run.sh", mode: 0o700)
        #expect(try await session.stat(remote + "/run.sh")?.mode == 0o700)
        #expect(try await session.execute("\(remote)/run.sh").stdout == "replaced\n")
        let back = local.path + "/run-back.sh"
        try await session.get(remote + "/run.sh", to: back)
        let mode = try FileManager.default.attributesOfItem(atPath: back)[.posixPermissions] as? Int
        #expect(mode == 0o700)
    }

    @Test("directory trees go up and come back with files, modes and symlinks")
    func trees() async throws {
        let session = try await SSHSession.connect(to: server.target())
        let remote = try await remoteDirectory(session)
        let tree = local.path + "/tree"
        try sh("""
            mkdir -p \(tree)/a/b/c \(tree)/empty && echo one > \(tree)/a/one.txt && echo two > \(tree)/a/b/two.txt \
            && head -c 100000 /dev/urandom > \(tree)/a/b/c/blob && chmod 600 \(tree)/a/one.txt && ln -s b/two.txt \(tree)/a/link
            """)
        try await session.putDirectory(tree, to: remote + "/tree")
        let listing = try await session.execute("cd \(remote)/tree && find . | sort && stat -c '%a' a/one.txt && readlink a/link")
        #expect(listing.stdout == "\n.\n./a\n./a/b\n./a/b/c\n./a/b/c/blob\n./a/b/two.txt\n./a/link\n./a/one.txt\n./empty\n600\nb/two.txt\n".dropFirst().description)
        let back = local.path + "/tree-back"
        try await session.getDirectory(remote + "/tree", to: back)
        #expect(try sh("cd \(tree) && find . -type f -exec sha256sum {} + | sort") == (try sh("cd \(back) && find . -type f -exec sha256sum {} + | sort")))
        #expect(try sh("readlink \(back)/a/link") == "b/two.txt\n")
    }

    @Test("an interrupted upload leaves nothing under the final name, and the old file intact")
    func atomicPut() async throws {
        let session = try await SSHSession.connect(to: server.target())
        let remote = try await remoteDirectory(session)
        _ = try await session.execute("echo old > \(remote)/target")
        let source = local.path + "/interrupted.bin"
        try sh("head -c 67108864 /dev/zero > \(source)")
        let task = Task {
            try await session.put(source, to: remote + "/target", progress: { progress in
                if progress.bytesDone > 8 << 20 { withUnsafeCurrentTask { $0?.cancel() } }
            })
        }
        try await Task.sleep(for: .milliseconds(20))
        task.cancel()
        await #expect(throws: SSHError.self) { try await task.value }
        let after = try await session.execute("cat \(remote)/target; ls -A \(remote)")
        #expect(after.stdout == "old\ntarget\n")
    }

    @Test("a file split over three connections arrives whole both ways, with progress summing to the total")
    func parallelStreams() async throws {
        let session = try await SSHSession.connect(to: server.target())
        let remote = try await remoteDirectory(session)
        let size = 10 * 1_048_576 + 12_345
        let source = local.path + "/split.bin"
        try sh("head -c \(size) /dev/urandom > \(source) && chmod 640 \(source)")
        let expected = try sh("sha256sum < \(source)")
        let logins = server.log.components(separatedBy: "Accepted publickey").count
        let last = ProgressBox()
        try await session.put(source, to: remote + "/split.bin", streams: .fixed(3), progress: { last.set($0) })
        #expect(last.value?.bytesDone == Int64(size))
        #expect(last.value?.totalBytes == Int64(size))
        #expect(try await session.execute("sha256sum < \(remote)/split.bin; stat -c %a \(remote)/split.bin; ls -A \(remote)").stdout
                == expected + "640\nsplit.bin\n")
        let back = local.path + "/split-back.bin"
        try await session.get(remote + "/split.bin", to: back, streams: .fixed(3), progress: { last.set($0) })
        #expect(last.value?.bytesDone == Int64(size))
        #expect(try sh("sha256sum < \(back); stat -c %a \(back); ls -A \(local.path) | grep -c fab- || true") == expected + "640\n0\n")
        // Two extra logins for each transfer.
        try await Task.sleep(for: .milliseconds(200))
        #expect(server.log.components(separatedBy: "Accepted publickey").count - logins == 4)
        _ = try await session.execute("rm -rf \(remote)")
    }

    @Test("an interrupted parallel upload leaves nothing under the final name, nor a temporary file")
    func atomicParallelPut() async throws {
        let session = try await SSHSession.connect(to: server.target())
        let remote = try await remoteDirectory(session)
        _ = try await session.execute("echo old > \(remote)/target")
        let source = local.path + "/interrupted-parallel.bin"
        try sh("head -c 134217728 /dev/zero > \(source)")
        let task = Task {
            try await session.put(source, to: remote + "/target", streams: .fixed(2), progress: { progress in
                if progress.bytesDone > 16 << 20 { withUnsafeCurrentTask { $0?.cancel() } }
            })
        }
        try await Task.sleep(for: .milliseconds(50))
        task.cancel()
        await #expect(throws: SSHError.self) { try await task.value }
        let after = try await session.execute("cat \(remote)/target; ls -A \(remote)")
        #expect(after.stdout == "old\ntarget\n")
    }

    @Test("extra connections log in with the password the first one was given, without asking again")
    func parallelStreamsReuseThePassword() async throws {
        let (passwordServer, target) = try passwordServer()
        let asked = Counter()
        let session = try await SSHSession.connect(to: target) { request in
            asked.increment()
            return answerPassword(request)
        }
        let askedToLogIn = asked.value
        let source = local.path + "/password.bin"
        try sh("head -c 3000000 /dev/urandom > \(source)")
        try await session.put(source, to: "/tmp/fab-password-streams.bin", streams: .fixed(2))
        #expect(try await session.execute("sha256sum < /tmp/fab-password-streams.bin && rm /tmp/fab-password-streams.bin").stdout
                == (try sh("sha256sum < \(source)")))
        #expect(askedToLogIn > 0)
        #expect(asked.value == askedToLogIn)
        try await Task.sleep(for: .milliseconds(200))
        #expect(passwordServer.log.components(separatedBy: "Accepted ").count - 1 == 2)
    }

    @Test("a missing remote file and an unwritable target are clear errors")
    func errors() async throws {
        let session = try await SSHSession.connect(to: server.target())
        let missing = await #expect(throws: SSHError.self) { try await session.get("/nonexistent/file", to: local.path + "/x") }
        #expect(missing?.message.contains("does not exist") == true)
        let file = local.path + "/small"
        try "x".write(toFile: file, atomically: true, encoding: .utf8)
        let denied = await #expect(throws: SSHError.self) { try await session.put(file, to: "/root/forbidden") }
        #expect(denied?.message.contains("permission denied") == true)
        #expect(!FileManager.default.fileExists(atPath: local.path + "/x"))
    }
}

/// Records the last progress report.
final class ProgressBox: @unchecked Sendable {
    // Set from the session's queue, read after the transfer.
    private let lock = NSLock()
    private var stored: TransferProgress?
    func set(_ value: TransferProgress) { lock.withLock { stored = value } }
    var value: TransferProgress? { lock.withLock { stored } }
}

/// Counts calls from any thread.
final class Counter: @unchecked Sendable {
    // Incremented from the connecting session's queue, read after the connection.
    private let lock = NSLock()
    private var count = 0
    func increment() { lock.withLock { count += 1 } }
    var value: Int { lock.withLock { count } }
}

/// How a file is split over parallel streams.
@Suite("Transfer streams")
struct TransferStreamsTests {
    static let mib: Int64 = 1 << 20
    static let cases: [(size: Int64, count: Int, expected: [Range<Int64>])] = [
        (0, 4, [0..<0]),
        (1, 4, [0..<1]),
        (3 * mib, 2, [0..<2 * mib, 2 * mib..<3 * mib]),
        (3 * mib + 5, 3, [0..<2 * mib, 2 * mib..<3 * mib, 3 * mib..<3 * mib + 5]),
        (256 * mib, 2, [0..<128 * mib, 128 * mib..<256 * mib]),
    ]

    @Test("ranges cover the file exactly, in whole MiB blocks but the last", arguments: cases)
    func ranges(_ example: (size: Int64, count: Int, expected: [Range<Int64>])) {
        #expect(TransferStreams.fixed(example.count).ranges(size: example.size) == example.expected)
    }

    @Test("small files use one stream; large ones one per core, at most four")
    func automatic() {
        #expect(TransferStreams.automatic(size: TransferStreams.automaticThreshold - 1).count == 1)
        let cores = ProcessInfo.processInfo.activeProcessorCount
        #expect(TransferStreams.automatic(size: TransferStreams.automaticThreshold).count == min(4, cores))
        #expect(TransferStreams.fixed(0).count == 1)
    }
}
