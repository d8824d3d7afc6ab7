import FabArchive
import Foundation
import Testing

@Suite("SHA-256 and MD5 digests")
struct FileDigestTests {
    @Test("known vectors for bytes")
    func vectors() throws {
        #expect(try FileDigest.sha256(bytes: Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(try FileDigest.sha256(bytes: [UInt8]()) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(try FileDigest.md5(bytes: "abc".utf8) == "900150983cd24fb0d6963f7d28e17f72")
        #expect(try FileDigest.md5(bytes: [UInt8]()) == "d41d8cd98f00b204e9800998ecf8427e")
        // A sequence without contiguous storage takes the copying path.
        #expect(try FileDigest.sha256(bytes: "abc".utf8.lazy.map { $0 }) == (try FileDigest.sha256(bytes: Array("abc".utf8))))
    }

    @Test("file digests match sha256sum and md5sum", arguments: [0, 1, 255 * 1024 + 17, 3 * 1024 * 1024 + 5])
    func files(size: Int) throws {
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent("data.bin")
            var generator = SystemRandomNumberGenerator()
            try Data((0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) }).write(to: url)
            let sha = try runChecked("sha256sum", [url.path]).split(separator: " ").first.map(String.init)
            let md5 = try runChecked("md5sum", [url.path]).split(separator: " ").first.map(String.init)
            #expect(try FileDigest.sha256(path: url.path) == sha)
            #expect(try FileDigest.md5(path: url.path) == md5)
        }
    }

    @Test("a missing file is reported with its path")
    func missing() throws {
        let error = try #require(throws: ArchiveError.self) { try FileDigest.sha256(path: "/nonexistent/fab/file") }
        #expect(error.code == .cannotOpen)
        #expect(error.description == "/nonexistent/fab/file cannot be opened: No such file or directory.")
    }
}
