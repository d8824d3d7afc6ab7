import FabArchive
import FabProcess
import Foundation
import Testing

@Suite("Writing tar streams")
struct TarWriterTests {
    struct SinkFailure: Error, Equatable {}

    /// Collects a stream in memory and remembers the largest chunk the sink was handed.
    final class Collector {
        var bytes = Data()
        var calls = 0
        var largestChunk = 0
        func sink(_ buffer: UnsafeRawBufferPointer) {
            bytes.append(contentsOf: buffer)
            calls += 1
            largestChunk = max(largestChunk, buffer.count)
        }
    }

    static func extract(_ archive: URL, into directory: URL, gzip: Bool = false) throws {
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        try runChecked("tar", [gzip ? "-xzf" : "-xf", archive.path, "-C", directory.path])
    }

    @Test("files, directories and symlinks come out of GNU tar with their contents, modes and times")
    func roundTripThroughTar() throws {
        try withTemporaryDirectory { directory in
            let collector = Collector()
            let writer = try TarWriter(sink: collector.sink)
            try writer.addDirectory(path: "app", mode: 0o750, mtime: 1_700_000_000)
            try writer.addDirectory(path: "app/bin/")
            try writer.addFile(path: "app/bin/run", contents: "#!/bin/sh\necho run\n", mode: 0o755, mtime: 1_600_000_000)
            try writer.addFile(path: "app/secret.conf", contents: Array("token=1\n".utf8), mode: 0o600)
            try writer.addFile(path: "app/empty", contents: [UInt8]())
            try writer.addFile(path: "app/suid", contents: "x", mode: 0o4755)
            try writer.addSymlink(path: "app/current", target: "bin/run")
            try writer.addSymlink(path: "app/abs", target: "/etc/hostname")
            try writer.finish()
            try writer.finish() // a second finish does nothing

            let archive = directory.appendingPathComponent("out.tar")
            try collector.bytes.write(to: archive)
            #expect(collector.bytes.count % 512 == 0)
            let out = directory.appendingPathComponent("out")
            try Self.extract(archive, into: out)

            let app = out.appendingPathComponent("app")
            #expect(try String(contentsOf: app.appendingPathComponent("bin/run"), encoding: .utf8) == "#!/bin/sh\necho run\n")
            #expect(try String(contentsOf: app.appendingPathComponent("secret.conf"), encoding: .utf8) == "token=1\n")
            #expect(try Data(contentsOf: app.appendingPathComponent("empty")).isEmpty)
            #expect(try permissions(of: app) == 0o750)
            #expect(try permissions(of: app.appendingPathComponent("bin")) == 0o755)
            #expect(try permissions(of: app.appendingPathComponent("bin/run")) == 0o755)
            #expect(try permissions(of: app.appendingPathComponent("secret.conf")) == 0o600)
            #expect(try permissions(of: app.appendingPathComponent("empty")) == 0o644)
            #expect(try permissions(of: app.appendingPathComponent("suid")) == 0o4755)
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: app.appendingPathComponent("current").path) == "bin/run")
            #expect(try FileManager.default.destinationOfSymbolicLink(atPath: app.appendingPathComponent("abs").path) == "/etc/hostname")
            let runDate = try FileManager.default.attributesOfItem(atPath: app.appendingPathComponent("bin/run").path)[.modificationDate] as? Date
            #expect(runDate?.timeIntervalSince1970 == 1_600_000_000)

            // Owners are root/root, by name and by number.
            let listing = try runChecked("tar", ["-tvf", archive.path])
            #expect(listing.split(separator: "\n").count == 8)
            #expect(listing.split(separator: "\n").allSatisfy { $0.contains(" root/root ") })
            let numeric = try runChecked("tar", ["--numeric-owner", "-tvf", archive.path])
            #expect(numeric.split(separator: "\n").allSatisfy { $0.contains(" 0/0 ") })
            #expect(listing.contains("app/current -> bin/run"))
        }
    }

    @Test("a local file is streamed with its own mode and time, or an explicit mode")
    func localFile() throws {
        try withTemporaryDirectory { directory in
            let source = directory.appendingPathComponent("tool.sh")
            try writeFile(source, "#!/bin/sh\necho tool\n", mode: 0o750)
            try FileManager.default.setAttributes([.modificationDate: Date(timeIntervalSince1970: 1_500_000_000)], ofItemAtPath: source.path)
            let collector = Collector()
            let writer = try TarWriter(sink: collector.sink)
            try writer.addFile(path: "own-mode", fromLocalFile: source.path)
            try writer.addFile(path: "explicit-mode", fromLocalFile: source.path, mode: 0o640)
            try writer.finish()
            let archive = directory.appendingPathComponent("out.tar")
            try collector.bytes.write(to: archive)
            let out = directory.appendingPathComponent("out")
            try Self.extract(archive, into: out)
            #expect(try Data(contentsOf: out.appendingPathComponent("own-mode")) == Data(contentsOf: source))
            #expect(try permissions(of: out.appendingPathComponent("own-mode")) == 0o750)
            #expect(try permissions(of: out.appendingPathComponent("explicit-mode")) == 0o640)
            let date = try FileManager.default.attributesOfItem(atPath: out.appendingPathComponent("own-mode").path)[.modificationDate] as? Date
            #expect(date?.timeIntervalSince1970 == 1_500_000_000)

            let missing = try #require(throws: ArchiveError.self) {
                try writer.addFile(path: "x", fromLocalFile: directory.appendingPathComponent("nope").path)
            }
            #expect(missing.code == .cannotOpen)
        }
    }

    @Test("a gzip stream is read by tar -z, and a higher level compresses better")
    func gzip() throws {
        try withTemporaryDirectory { directory in
            let text = String(repeating: "def handler(request):\n    return ok\n", count: 4000)
            var sizes: [Int] = []
            for compression in [TarWriter.Compression.gzip(level: 1), .gzip, .gzip(level: 9)] {
                let collector = Collector()
                let writer = try TarWriter(compression: compression, sink: collector.sink)
                try writer.addDirectory(path: "src")
                try writer.addFile(path: "src/views.py", contents: text)
                try writer.finish()
                #expect(collector.bytes.prefix(2) == Data([0x1f, 0x8b]))
                sizes.append(collector.bytes.count)

                let archive = directory.appendingPathComponent("out-\(sizes.count).tar.gz")
                try collector.bytes.write(to: archive)
                let out = directory.appendingPathComponent("out-\(sizes.count)")
                try Self.extract(archive, into: out, gzip: true)
                #expect(try String(contentsOf: out.appendingPathComponent("src/views.py"), encoding: .utf8) == text)
            }
            #expect(sizes[2] <= sizes[0])
            #expect(sizes.allSatisfy { $0 < text.utf8.count / 10 })
        }
    }

    @Test("long and non-ASCII paths use pax headers; strict ustar refuses what it cannot hold")
    func paths() throws {
        try withTemporaryDirectory { directory in
            let long = (0..<12).map { "directory-\($0)" }.joined(separator: "/") + "/module_with_a_long_name.py"
            let unicode = "static/café/naïve-ß.txt"
            #expect(long.utf8.count > 100)
            let collector = Collector()
            let writer = try TarWriter(sink: collector.sink)
            try writer.addFile(path: long, contents: "long")
            try writer.addFile(path: unicode, contents: "unicode")
            try writer.finish()
            let archive = directory.appendingPathComponent("out.tar")
            try collector.bytes.write(to: archive)
            let out = directory.appendingPathComponent("out")
            try Self.extract(archive, into: out)
            #expect(try String(contentsOf: out.appendingPathComponent(long), encoding: .utf8) == "long")
            #expect(try String(contentsOf: out.appendingPathComponent(unicode), encoding: .utf8) == "unicode")

            let ustar = try TarWriter(format: .ustar, name: "ustar test stream") { _ in }
            let tooLong = String(repeating: "x", count: 300)
            let error = try #require(throws: ArchiveError.self) { try ustar.addFile(path: tooLong, contents: "x") }
            #expect(error.code == .writeFailed)
            #expect(error.description.hasPrefix("ustar test stream failed: libarchive could not write the header of \(tooLong)"))
            #expect(error.libraryMessage != nil)
        }
    }

    @Test("a 50 MB file is streamed in bounded chunks straight into tar -x")
    func largeFileStreamed() throws {
        try withTemporaryDirectory { directory in
            // Generate the file in 1 MiB pieces so the test itself never holds 50 MB either.
            let source = directory.appendingPathComponent("big.bin")
            try #require(FileManager.default.createFile(atPath: source.path, contents: nil))
            let handle = try FileHandle(forWritingTo: source)
            var piece = [UInt8](repeating: 0, count: 1 << 20)
            for index in 0..<50 {
                for offset in stride(from: 0, to: piece.count, by: 4096) { piece[offset] = UInt8(truncatingIfNeeded: index &+ offset >> 12) }
                try handle.write(contentsOf: piece)
            }
            try handle.close()

            let out = directory.appendingPathComponent("out")
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
            let tar = try ChildProcess.spawn(executable: "tar", arguments: ["-xf", "-", "-C", out.path], standardInput: .pipe)
            let stdin = FileHandle(fileDescriptor: try #require(tar.standardInput), closeOnDealloc: false)

            var largestChunk = 0
            var total = 0
            let writer = try TarWriter { buffer in
                largestChunk = max(largestChunk, buffer.count)
                total += buffer.count
                try stdin.write(contentsOf: Data(buffer))
            }
            try writer.addFile(path: "payload/big.bin", fromLocalFile: source.path)
            try writer.finish()
            tar.closePipe(stdin.fileDescriptor)

            #expect(try tar.wait(deadline: .seconds(120)).succeeded)
            #expect(total > 50 << 20)
            #expect(largestChunk <= 1 << 20, "the sink was handed \(largestChunk) bytes at once")
            let extracted = out.appendingPathComponent("payload/big.bin").path
            let expected = try runChecked("sha256sum", [source.path]).prefix(64)
            #expect(try FileDigest.sha256(path: extracted) == String(expected))
        }
    }

    @Test("an error thrown by the sink comes back unchanged and stops the writer")
    func sinkFailure() throws {
        var received = 0
        let writer = try TarWriter(name: "stream to web1") { buffer in
            received += buffer.count
            if received > 30_000 { throw SinkFailure() }
        }
        let payload = [UInt8](repeating: 7, count: 100_000)
        #expect(throws: SinkFailure.self) { try writer.addFile(path: "a", contents: payload) }
        let after = try #require(throws: ArchiveError.self) { try writer.addFile(path: "b", contents: "b") }
        #expect(after.code == .invalidArgument)
        #expect(after.description == "b cannot be added to stream to web1: the writer is stopped after an earlier failure.")
        let finish = try #require(throws: ArchiveError.self) { try writer.finish() }
        #expect(finish.code == .writeFailed)
    }

    @Test("misuse is refused with a sentence, and an abandoned writer writes nothing more")
    func misuse() throws {
        let collector = Collector()
        do {
            let writer = try TarWriter(sink: collector.sink)
            let empty = try #require(throws: ArchiveError.self) { try writer.addFile(path: "", contents: "x") }
            #expect(empty.code == .invalidArgument)
            let noTarget = try #require(throws: ArchiveError.self) { try writer.addSymlink(path: "l", target: "") }
            #expect(noTarget.code == .invalidArgument)
            try writer.addFile(path: "small", contents: "x")
            #expect(collector.calls == 0) // still inside libarchive's block
        }
        #expect(collector.calls == 0, "an abandoned stream must not receive an end-of-archive marker")

        let finished = try TarWriter(sink: collector.sink)
        try finished.finish()
        let late = try #require(throws: ArchiveError.self) { try finished.addDirectory(path: "d") }
        #expect(late.description == "d cannot be added to the tar stream: the writer is already finished.")
    }

    @Test("another owner can be recorded")
    func customOwner() throws {
        try withTemporaryDirectory { directory in
            let collector = Collector()
            let writer = try TarWriter(owner: .init(uid: 1234, gid: 2345, user: "deploy", group: "www"), sink: collector.sink)
            try writer.addFile(path: "f", contents: "x")
            try writer.finish()
            let archive = directory.appendingPathComponent("out.tar")
            try collector.bytes.write(to: archive)
            #expect(try runChecked("tar", ["-tvf", archive.path]).contains(" deploy/www "))
            #expect(try runChecked("tar", ["--numeric-owner", "-tvf", archive.path]).contains(" 1234/2345 "))
        }
    }
}
