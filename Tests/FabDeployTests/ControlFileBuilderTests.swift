import Foundation
import Testing
@testable import FabDeploy

private func sample() -> ControlFileBuilder {
    var control = ControlFileBuilder(package: "fab-hello", version: "42", architecture: "all",
                                     maintainer: "Fab Tests <fab-tests@example.com>",
                                     synopsis: "example package built by fab's tests")
    control.installedSize = 12
    control.runDepends = ["libpq5"]
    control.shlibsDepends = ["shlibs:Depends=libc6 (>= 2.34), libpq5 (>= 12~)"]
    control.pythonVersion = "3.11"
    control.homepage = "https://example.com/fab"
    control.branch = "main"
    control.commit = "1a2b3c4"
    return control
}

@Suite("ControlFileBuilder")
struct ControlFileBuilderTests {
    @Test func rendersFieldsInDpkgOrder() throws {
        #expect(try sample().build() == """
            Package: fab-hello
            Version: 42
            Architecture: all
            Maintainer: Fab Tests <fab-tests@example.com>
            Installed-Size: 12
            Depends: libc6 (>= 2.34), libpq5 (>= 12~), python3.11
            Section: misc
            Priority: optional
            Homepage: https://example.com/fab
            Description: example package built by fab's tests
             Automated build. Branch: main Commit: 1a2b3c4

            """)
    }

    /// A config package's relations and a virtualenv package's input key, in dpkg's order; bad ones named.
    @Test func relationFieldsAndExtraFields() throws {
        var control = ControlFileBuilder(package: "vrmd-whois-config-prod", version: "3", architecture: "all",
                                         maintainer: "A B <a@b.example>", synopsis: "x")
        control.provides = ["whois-config"]
        control.conflicts = ["whois-config", "whois-config"]
        control.replaces = ["whois-config (<< 2)"]
        control.extraFields = ["Fab-Venv-Key": "abc123", "Fab-Build": "7"]
        #expect(try control.build() == """
            Package: vrmd-whois-config-prod
            Version: 3
            Architecture: all
            Maintainer: A B <a@b.example>
            Conflicts: whois-config
            Replaces: whois-config (<< 2)
            Provides: whois-config
            Section: misc
            Priority: optional
            Fab-Build: 7
            Fab-Venv-Key: abc123
            Description: x
             Automated build.

            """)
        var bad = control
        bad.provides = ["a | b"]
        #expect(throws: ControlFileError.self) { try bad.build() }
        bad = control
        bad.extraFields = ["Depends": "x"]
        #expect((try? bad.build()) == nil)
        bad.extraFields = ["Fab-Key": "a\nb"]
        do { _ = try bad.build(); Issue.record("a line break in an extra field was accepted") } catch {
            #expect(error.code == .newlineInField && error.field == "Fab-Key")
        }
        bad.extraFields = [:]
        bad.replaces = ["Bad_Name"]
        do { _ = try bad.build(); Issue.record("a bad relation was accepted") } catch {
            #expect(error.description == "The Replaces relation 'Bad_Name' is not valid: 'Bad_Name' is not a valid package name.")
        }
    }

    @Test func optionalFieldsAreLeftOut() throws {
        let control = ControlFileBuilder(package: "ab", version: "1:2.0-1", architecture: "amd64",
                                         maintainer: "A B <a@b.example>", synopsis: "x")
        #expect(try control.build() == """
            Package: ab
            Version: 1:2.0-1
            Architecture: amd64
            Maintainer: A B <a@b.example>
            Section: misc
            Priority: optional
            Description: x
             Automated build.

            """)
    }

    @Test(arguments: [
        ("package", "a", ControlFileError.Code.invalidPackageName, "at least two characters"),
        ("package", "Fab-hello", .invalidPackageName, "lowercase"),
        ("package", "fab_hello", .invalidPackageName, "cannot contain '_'"),
        ("package", "-fab", .invalidPackageName, "start with a letter or a digit"),
        ("package", "fab\nhello", .invalidPackageName, "cannot contain"),
        ("version", "v42", .invalidVersion, "must start with a digit"),
        ("version", "42\nPackage: evil", .invalidVersion, "white space"),
        ("architecture", "any", .invalidArchitecture, "dpkg --print-architecture"),
        ("architecture", "AMD64", .invalidArchitecture, "'AMD64'"),
        ("maintainer", "ops@example.com", .invalidMaintainer, "Full Name <address@example.com>"),
        ("maintainer", "Ops <ops>", .invalidMaintainer, "Full Name"),
        ("maintainer", "Ops <ops@example.com>\nX", .newlineInField, "line break"),
        ("synopsis", "", .invalidDescription, "empty"),
        ("synopsis", String(repeating: "x", count: 81), .invalidDescription, "81 characters"),
        ("synopsis", "two\nlines", .newlineInField, "Description field cannot contain a line break"),
        ("section", "Misc", .invalidField, "section 'Misc'"),
        ("priority", "high", .invalidField, "optional"),
    ] as [(String, String, ControlFileError.Code, String)])
    func rejectsInvalidFields(field: String, value: String, code: ControlFileError.Code, phrase: String) {
        var control = sample()
        switch field {
        case "package": control.package = value
        case "version": control.version = value
        case "architecture": control.architecture = value
        case "maintainer": control.maintainer = value
        case "synopsis": control.synopsis = value
        case "section": control.section = value
        case "priority": control.priority = value
        default: Issue.record("no field \(field)")
        }
        let error = #expect(throws: ControlFileError.self) { try control.build() }
        #expect(error?.code == code, "\(value.debugDescription): \(error?.message ?? "")")
        #expect(error?.message.contains(phrase) == true, "\(error?.message ?? "") lacks \(phrase)")
    }

    @Test func rejectsInvalidOptionalFields() {
        var control = sample()
        control.homepage = "example.com"
        #expect(throws: ControlFileError.self) { try control.build() }
        control = sample()
        control.commit = "1a2b 3c4"
        #expect((try? control.build()) == nil)
        control = sample()
        control.branch = "main\nDepends: evil"
        let error = #expect(throws: ControlFileError.self) { try control.build() }
        #expect(error?.code == .newlineInField)
        control = sample()
        control.installedSize = -1
        #expect(throws: ControlFileError.self) { try control.build() }
    }

    @Test(arguments: [
        (["libpq5", "libpq5"], [], nil, ["libpq5"]),
        (["libpq5"], ["libpq5 (>= 12~), libc6 (>= 2.34)"], "3.11", ["libpq5 (>= 12~)", "libc6 (>= 2.34)", "python3.11"]),
        ([], ["libc6 (>= 2.17)", "libc6 (>= 2.34)", "libc6 (>= 2.28)"], nil, ["libc6 (>= 2.34)"]),
        (["supervisor | systemd", "systemd"], [], nil, ["systemd"]),
        (["python3 (>=3.11),python3(<< 3.12)"], [], nil, ["python3 (>= 3.11)", "python3 (<< 3.12)"]),
        (["libfoo:amd64", "libfoo"], [], nil, ["libfoo:amd64", "libfoo"]),
        (["aa | bb", "bb | aa", "aa | bb"], [], nil, ["aa | bb", "bb | aa"]),
        (["libssl3 (>= 3.0.0), libssl3 (>= 3.0.00)"], [], nil, ["libssl3 (>= 3.0.0)"]),
        ([" , libpq5 ,"], ["shlibs:Depends="], nil, ["libpq5"]),
    ] as [([String], [String], String?, [String])])
    func mergesDepends(run: [String], shlibs: [String], python: String?, expected: [String]) throws {
        var control = sample()
        control.runDepends = run
        control.shlibsDepends = shlibs
        control.pythonVersion = python
        #expect(try control.mergedDepends() == expected)
    }

    @Test(arguments: ["libpq5 (~> 1)", "libpq5 (>= )", "Libpq5", "libpq5 [amd64]", "libpq5 <!nocheck>", "libpq5 (>= 1.0", "libpq5:", "libpq5 |"])
    func rejectsInvalidRelations(relation: String) {
        var control = sample()
        control.runDepends = [relation]
        let error = #expect(throws: ControlFileError.self) { try control.mergedDepends() }
        #expect(error?.code == .invalidRelation)
        #expect(error?.message.contains(relation.split(separator: ",").first.map(String.init) ?? relation) == true)
    }

    @Test func rejectsABadPythonVersion() {
        var control = sample()
        control.pythonVersion = "3"
        #expect(throws: ControlFileError.self) { try control.mergedDepends() }
    }

    @Test func conffiles() throws {
        #expect(try ControlFileBuilder.conffiles(["/etc/vrmd-whois/whoisd.conf", "/etc/supervisor/conf.d/vrmd-whois.conf"])
            == "/etc/vrmd-whois/whoisd.conf\n/etc/supervisor/conf.d/vrmd-whois.conf\n")
        #expect(try ControlFileBuilder.conffiles([]) == "")
        #expect(throws: ControlFileError.self) { try ControlFileBuilder.conffiles(["etc/x.conf"]) }
        #expect(throws: ControlFileError.self) { try ControlFileBuilder.conffiles(["/etc/a b.conf"]) }
    }

    /// A tree with files of awkward sizes, a hard link, a symlink, an empty file and a DEBIAN directory.
    private func makeTree(_ tmp: TemporaryDirectory, at root: String) throws {
        for (name, size) in [("usr/share/x/zero", 0), ("usr/share/x/one", 1), ("usr/share/x/kib", 1024),
                             ("usr/share/x/kib1", 1025), ("usr/share/y/big", 5000), ("DEBIAN/postinst", 30)] {
            try tmp.write(root + "/" + name, Data(repeating: 65, count: size))
        }
        try FileManager.default.linkItem(atPath: tmp.path + "/" + root + "/usr/share/x/kib1", toPath: tmp.path + "/" + root + "/usr/share/y/hard")
        try FileManager.default.createSymbolicLink(atPath: tmp.path + "/" + root + "/usr/share/y/link",
                                                   withDestinationPath: String(repeating: "z", count: 1500))
        try FileManager.default.createDirectory(atPath: tmp.path + "/" + root + "/var/empty", withIntermediateDirectories: true)
    }

    @Test(.enabled(if: haveTool("/usr/bin/dpkg-gencontrol")))
    func installedSizeMatchesDpkgGencontrol() throws {
        let tmp = try TemporaryDirectory("isize")
        defer { tmp.remove() }
        try makeTree(tmp, at: "debian/fab-hello")
        try tmp.write("debian/control", "Source: fab-hello\nMaintainer: Fab Tests <fab-tests@example.com>\n\nPackage: fab-hello\nArchitecture: all\nDescription: test\n test\n")
        try tmp.write("debian/changelog", "fab-hello (42) unstable; urgency=medium\n\n  * Test.\n\n -- Fab Tests <fab-tests@example.com>  Sat, 21 Nov 2026 12:00:00 +0000\n")
        let generated = try mustRun(["/usr/bin/dpkg-gencontrol", "-pfab-hello", "-Pdebian/fab-hello", "-O"], directory: tmp.path).stdout
        let line = try #require(generated.split(separator: "\n").first { $0.hasPrefix("Installed-Size: ") })
        let dpkgSize = try #require(Int(line.dropFirst("Installed-Size: ".count)))

        let local = try ControlFileBuilder.installedSize(ofDirectory: URL(fileURLWithPath: tmp.path + "/debian/fab-hello"))
        #expect(local == dpkgSize)
        // 8 directories, files 0+1+1+2+5 KiB (the hard link once), DEBIAN/postinst 1 KiB, the symlink 2 KiB.
        #expect(local == 8 + 9 + 1 + 2)

        let command = ControlFileBuilder.installedSizeCommand(directory: tmp.path + "/debian/fab-hello")
        let listing = try mustRun(["/bin/sh", "-c", command]).stdout
        #expect(try ControlFileBuilder.installedSize(parsingFindOutput: listing) == dpkgSize)
    }

    @Test func installedSizeCommandQuotesTheDirectory() throws {
        #expect(ControlFileBuilder.installedSizeCommand(directory: "/tmp/it's here") == #"find '/tmp/it'\''s here' -printf '%y %D:%i %n %s\n'"#)
        #expect(throws: ControlFileError.self) { try ControlFileBuilder.installedSize(parsingFindOutput: "f 1:2 1\n") }
        #expect(try ControlFileBuilder.installedSize(parsingFindOutput: "d 1:1 3 4096\nf 1:2 2 2049\nf 1:2 2 2049\nl 1:3 1 4\n") == 1 + 3 + 1)
    }

    /// The real tools accept what the builder writes: dpkg-deb builds the package and reads the fields back,
    /// and lintian reports no error or warning for a tiny package that is otherwise policy-compliant.
    @Test(.enabled(if: haveTool("/usr/bin/dpkg-deb")))
    func dpkgDebAndLintianAcceptTheControlFile() throws {
        let tmp = try TemporaryDirectory("deb")
        defer { tmp.remove() }
        try tmp.write("pkg/usr/share/fab-hello/hello.txt", "hello\n")
        try tmp.write("pkg/usr/share/doc/fab-hello/copyright", "Copyright: 2026 Fab Tests\nLicense: MIT\n")
        try tmp.write("changelog", "fab-hello (42) unstable; urgency=medium\n\n  * Automated build.\n\n -- Fab Tests <fab-tests@example.com>  Sat, 21 Nov 2026 12:00:00 +0000\n")
        try mustRun(["/bin/sh", "-c", "gzip -9n < changelog > pkg/usr/share/doc/fab-hello/changelog.gz"], directory: tmp.path)
        for dir in ["pkg", "pkg/usr", "pkg/usr/share", "pkg/usr/share/doc", "pkg/usr/share/doc/fab-hello", "pkg/usr/share/fab-hello"] {
            try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: tmp.path + "/" + dir)
        }
        var control = sample()
        control.runDepends = []
        control.shlibsDepends = []
        control.installedSize = try ControlFileBuilder.installedSize(ofDirectory: URL(fileURLWithPath: tmp.path + "/pkg"))
        try tmp.write("pkg/DEBIAN/control", try control.build())

        try mustRun(["/usr/bin/dpkg-deb", "--root-owner-group", "-Zxz", "--build", "pkg", "fab-hello.deb"], directory: tmp.path)
        let info = try mustRun(["/usr/bin/dpkg-deb", "-I", "fab-hello.deb"], directory: tmp.path).stdout
        #expect(info.contains(" Description: example package built by fab's tests\n  Automated build. Branch: main Commit: 1a2b3c4\n"))
        for (field, value) in [("Package", "fab-hello"), ("Version", "42"), ("Architecture", "all"), ("Depends", "python3.11"),
                               ("Section", "misc"), ("Priority", "optional"), ("Installed-Size", "\(control.installedSize ?? -1)")] {
            #expect(try mustRun(["/usr/bin/dpkg-deb", "-f", "fab-hello.deb", field], directory: tmp.path).stdout == value + "\n")
        }

        guard haveTool("/usr/bin/lintian") else { return }
        let lintian = try runProcess(["/usr/bin/lintian", "--pedantic", "fab-hello.deb"], directory: tmp.path)
        let complaints = lintian.stdout.split(separator: "\n").filter { $0.hasPrefix("E:") || $0.hasPrefix("W:") }
        #expect(complaints.isEmpty, "lintian: \(complaints.joined(separator: "\n"))")
        #expect(lintian.status == 0)
    }
}
