@testable import FabArchive
import Foundation
import Testing

@Suite("Reading .deb packages")
struct DebPackageTests {
    /// One line of `dpkg-deb -c`, split into what a user compares.
    struct ListedEntry: Equatable, CustomStringConvertible {
        var mode: String
        var owner: String
        var size: Int64
        var path: String
        var linkTarget: String?
        var description: String { "\(mode) \(owner) \(size) \(path)\(linkTarget.map { " -> \($0)" } ?? "")" }
    }

    static func parseListing(_ text: String) -> [ListedEntry] {
        text.split(separator: "\n").map { line in
            let parts = line.split(separator: " ", maxSplits: 5, omittingEmptySubsequences: true)
            let rest = String(parts[5])
            var path = rest
            var target: String?
            if let range = rest.range(of: " -> ") {
                path = String(rest[..<range.lowerBound]); target = String(rest[range.upperBound...])
            } else if let range = rest.range(of: " link to ") {
                path = String(rest[..<range.lowerBound]); target = String(rest[range.upperBound...])
            }
            return ListedEntry(mode: String(parts[0]), owner: String(parts[1]), size: Int64(parts[2]) ?? -1,
                               path: path, linkTarget: target)
        }
    }

    @Test("reads control, scripts, conffiles and data like dpkg-deb does", arguments: ["xz", "gzip", "zstd", "none"])
    func readsPackage(compression: String) throws {
        try withTemporaryDirectory { directory in
            let debURL = try SampleDeb.build(in: directory, compression: compression)
            let deb = try DebPackage(path: debURL.path, listEntries: true)

            let suffix = compression == "none" ? "" : ".\(["xz": "xz", "gzip": "gz", "zstd": "zst"][compression] ?? "")"
            #expect(deb.formatVersion == "2.0")
            #expect(deb.dataMemberName == "data.tar\(suffix)")
            #expect(deb.controlMemberName.hasPrefix("control.tar"))

            // Control fields: what dpkg-deb -f prints, parsed, and the paragraph we wrote.
            let dpkgFields = try ControlParagraph.parse(try runChecked("dpkg-deb", ["-f", debURL.path]))
            #expect(deb.control == dpkgFields)
            #expect(deb.control == SampleDeb.control)
            #expect(deb.control["Description"] == (try runChecked("dpkg-deb", ["-f", debURL.path, "Description"]))
                .split(separator: "\n").map { $0.hasPrefix(" ") ? String($0.dropFirst()) : String($0) }.joined(separator: "\n"))
            #expect(deb.control.depends == [["libc6 (>= 2.34)"], ["python3 (>= 3.11)", "python3.11"], ["adduser"]])

            #expect(deb.maintainerScripts == ["postinst", "prerm"])
            #expect(deb.conffiles == ["/etc/fab-sample/app.conf"])
            #expect(deb.hasMD5Sums)
            #expect(Set(deb.controlFiles) == ["control", "conffiles", "md5sums", "postinst", "prerm"])

            // The data listing against dpkg-deb -c, entry by entry.
            let listed = Self.parseListing(try runChecked("dpkg-deb", ["-c", debURL.path]))
            let ours = try #require(deb.entries).map { entry in
                ListedEntry(mode: entry.modeDescription, owner: "\(entry.owner)/\(entry.group)", size: entry.size,
                            path: entry.path, linkTarget: entry.symlinkTarget ?? entry.hardlinkTarget)
            }
            #expect(ours == listed)

            let regular = listed.filter { $0.mode.hasPrefix("-") }
            #expect(deb.fileCount == regular.count)
            #expect(deb.fileCount == SampleDeb.files.count)
            #expect(deb.totalDataSize == regular.reduce(0) { $0 + $1.size })
            let attributes = try FileManager.default.attributesOfItem(atPath: debURL.path)
            #expect(deb.fileSize == (attributes[.size] as? NSNumber)?.int64Value)

            let entries = try #require(deb.entries)
            let nobody = try #require(entries.first { $0.path == "./opt/fab-sample/data/owned-by-nobody.txt" })
            #expect(nobody.owner == "nobody" && nobody.group == "nogroup" && nobody.uid == 65534 && nobody.mode == 0o640)
            let link = try #require(entries.first { $0.path == "./opt/fab-sample/current" })
            #expect(link.kind == .symlink && link.symlinkTarget == "lib")
            let app = try #require(entries.first { $0.path == "./opt/fab-sample/bin/app" })
            #expect(app.kind == .regular && app.mode == 0o755)
            let hardlink = try #require(entries.first { $0.kind == .hardlink })
            #expect(hardlink.hardlinkTarget.map { ["./opt/fab-sample/lib/sample.py", "./opt/fab-sample/lib/sample-copy.py"].contains($0) } == true)
            #expect(hardlink.hardlinkTarget != hardlink.path)
        }
    }

    @Test("without listEntries the summary is the same and no listing is kept")
    func summaryOnly() throws {
        try withTemporaryDirectory { directory in
            let debURL = try SampleDeb.build(in: directory, compression: "xz")
            let summary = try DebPackage(path: debURL.path)
            let full = try DebPackage(path: debURL.path, listEntries: true)
            #expect(summary.entries == nil)
            #expect(summary.fileCount == full.fileCount && summary.totalDataSize == full.totalDataSize)
        }
    }

    /// Up to three .debs apt has downloaded on this machine, if any.
    static let cachedDebs: [String] = {
        let cache = "/var/cache/apt/archives"
        let names = (try? FileManager.default.contentsOfDirectory(atPath: cache)) ?? []
        return names.filter { $0.hasSuffix(".deb") }.sorted().prefix(3).map { "\(cache)/\($0)" }
    }()

    @Test("packages from Debian in apt's cache read back like dpkg-deb reads them",
          .enabled(if: !cachedDebs.isEmpty, "apt's cache holds no .deb files"))
    func readsCachedDebs() throws {
        for path in Self.cachedDebs {
            let deb = try DebPackage(path: path)
            let package = try runChecked("dpkg-deb", ["-f", path, "Package"]).trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(deb.control.package == package)
            let listing = try runChecked("dpkg-deb", ["-c", path])
            #expect(deb.fileCount == listing.split(separator: "\n").filter { $0.hasPrefix("-") }.count)
        }
    }

    @Test("a truncated package is reported as truncated, naming the file", arguments: [0.97, 0.5, 0.2])
    func truncated(fraction: Double) throws {
        try withTemporaryDirectory { directory in
            let debURL = try SampleDeb.build(in: directory, compression: "xz")
            let bytes = try Data(contentsOf: debURL)
            let cut = directory.appendingPathComponent("cut.deb")
            try bytes.prefix(Int(Double(bytes.count) * fraction)).write(to: cut)
            let error = try #require(throws: ArchiveError.self) { try DebPackage(path: cut.path) }
            #expect(error.code == .truncated, "\(error)")
            #expect(error.path == cut.path)
            #expect(error.description.hasPrefix("\(cut.path) is truncated"), "\(error)")
        }
    }

    @Test("a package cut exactly after its control member lacks its data member")
    func cutAtMemberBoundary() throws {
        try withTemporaryDirectory { directory in
            let debURL = try SampleDeb.build(in: directory, compression: "gzip")
            let cut = directory.appendingPathComponent("nodata.deb")
            try runChecked("cp", [debURL.path, cut.path])
            try runChecked("ar", ["d", cut.path, "data.tar.gz"])
            let error = try #require(throws: ArchiveError.self) { try DebPackage(path: cut.path) }
            #expect(error.code == .missingMember)
            #expect(error.description == "\(cut.path) is incomplete: it has no data.tar member (the file may be truncated).")
        }
    }

    @Test("random bytes are not a Debian package")
    func randomFile() throws {
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent("random.deb")
            var generator = SystemRandomNumberGenerator()
            try Data((0..<8192).map { _ in UInt8.random(in: 0...255, using: &generator) }).write(to: url)
            let error = try #require(throws: ArchiveError.self) { try DebPackage(path: url.path) }
            #expect(error.code == .notDebianPackage)
            #expect(error.description.hasPrefix("\(url.path) is not a Debian package: it is not an ar archive"), "\(error)")
            #expect(error.libraryMessage != nil)
        }
    }

    @Test("an ar archive whose first member is not debian-binary is refused with its name")
    func wrongFirstMember() throws {
        try withTemporaryDirectory { directory in
            try writeFile(directory.appendingPathComponent("foo"), "hello\n")
            let url = directory.appendingPathComponent("x.deb")
            try runChecked("ar", ["rc", url.path, "foo"], in: directory)
            let error = try #require(throws: ArchiveError.self) { try DebPackage(path: url.path) }
            #expect(error.code == .notDebianPackage)
            #expect(error.description == "\(url.path) is not a Debian package: its first member is 'foo', not 'debian-binary'.")
        }
    }

    @Test("a future format version is refused")
    func futureVersion() throws {
        try withTemporaryDirectory { directory in
            try writeFile(directory.appendingPathComponent("debian-binary"), "3.0\n")
            let url = directory.appendingPathComponent("future.deb")
            try runChecked("ar", ["rc", url.path, "debian-binary"], in: directory)
            let error = try #require(throws: ArchiveError.self) { try DebPackage(path: url.path) }
            #expect(error.code == .unsupportedFormatVersion)
            #expect(error.description.contains("'3.0'"))
        }
    }

    @Test("an empty file, a missing file and a directory give distinct errors")
    func notFiles() throws {
        try withTemporaryDirectory { directory in
            let empty = directory.appendingPathComponent("empty.deb")
            try Data().write(to: empty)
            let emptyError = try #require(throws: ArchiveError.self) { try DebPackage(path: empty.path) }
            #expect(emptyError.code == .notDebianPackage)
            #expect(emptyError.description == "\(empty.path) is not a Debian package: the file is empty.")

            let missing = directory.appendingPathComponent("missing.deb").path
            let missingError = try #require(throws: ArchiveError.self) { try DebPackage(path: missing) }
            #expect(missingError.code == .cannotOpen)
            #expect(missingError.systemErrno == ENOENT)
            #expect(missingError.description == "\(missing) cannot be opened: No such file or directory.")

            let directoryError = try #require(throws: ArchiveError.self) { try DebPackage(path: directory.path) }
            #expect(directoryError.code == .cannotOpen)
            #expect(directoryError.description.contains("it is a directory"))
        }
    }

    @Test("corrupted compressed data is reported as damaged")
    func corrupted() throws {
        try withTemporaryDirectory { directory in
            let debURL = try SampleDeb.build(in: directory, compression: "gzip")
            var bytes = try Data(contentsOf: debURL)
            // Overwrite the middle of data.tar.gz (the last member) with garbage, keeping the length.
            let start = bytes.count - bytes.count / 3
            for index in start..<(start + 64) { bytes[index] = 0x55 }
            let bad = directory.appendingPathComponent("bad.deb")
            try bytes.write(to: bad)
            let error = try #require(throws: ArchiveError.self) { try DebPackage(path: bad.path) }
            #expect(error.code == .damaged, "\(error)")
            #expect(error.description.hasPrefix("\(bad.path) is damaged"), "\(error)")
        }
    }

    @Test("modeDescription matches ls for special bits")
    func modeDescriptions() {
        let cases: [(DebPackage.Entry.Kind, UInt32, String)] = [
            (.regular, 0o4755, "-rwsr-xr-x"), (.regular, 0o2644, "-rw-r-Sr--"),
            (.directory, 0o1777, "drwxrwxrwt"), (.symlink, 0o777, "lrwxrwxrwx"), (.directory, 0o1754, "drwxr-xr-T"),
        ]
        for (kind, mode, expected) in cases {
            let entry = DebPackage.Entry(path: "x", kind: kind, size: 0, mode: mode, owner: "root", group: "root")
            #expect(entry.modeDescription == expected)
        }
    }
}
