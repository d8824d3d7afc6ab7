import FabArchive
import Foundation
import Testing

@Suite("Deb822 control paragraphs")
struct ControlParagraphTests {
    static let sample = """
        Package: fab-sample
        Version: 1.2.3-1
        Architecture: amd64
        Pre-Depends: dpkg (>= 1.19)
        Depends: libc6 (>= 2.34),
          python3 (>= 3.11)|python3.11 ,
         adduser
        Description: sample application for fab
         It has a long description.
         .
         With a second paragraph
           and a verbatim line.

        """

    @Test("parses fields in order, with case-insensitive lookup and continuation lines")
    func parses() throws {
        let paragraph = try ControlParagraph.parse(Self.sample)
        #expect(paragraph.names == ["Package", "Version", "Architecture", "Pre-Depends", "Depends", "Description"])
        #expect(paragraph["package"] == "fab-sample")
        #expect(paragraph["VERSION"] == "1.2.3-1")
        #expect(paragraph.package == "fab-sample" && paragraph.architecture == "amd64")
        #expect(paragraph["Missing"] == nil)
        #expect(paragraph["Description"] == "sample application for fab\nIt has a long description.\n.\nWith a second paragraph\n  and a verbatim line.")
        #expect(paragraph.synopsis == "sample application for fab")
        #expect(paragraph.extendedDescription == "It has a long description.\n\nWith a second paragraph\n  and a verbatim line.")
    }

    @Test("Depends and other relation fields become lists of alternatives")
    func relations() throws {
        let paragraph = try ControlParagraph.parse(Self.sample)
        #expect(paragraph.depends == [["libc6 (>= 2.34)"], ["python3 (>= 3.11)", "python3.11"], ["adduser"]])
        #expect(paragraph.relations("pre-depends") == [["dpkg (>= 1.19)"]])
        #expect(paragraph.relations("Recommends") == [])
        #expect(ControlParagraph.parseRelations("a,, b |  c  (<< 2) ,") == [["a"], ["b", "c (<< 2)"]])
        #expect(ControlParagraph.renderRelations(paragraph.depends) == "libc6 (>= 2.34), python3 (>= 3.11) | python3.11, adduser")
    }

    @Test("rendering gives control text that parses back to the same paragraph")
    func roundTrip() throws {
        let paragraph = try ControlParagraph.parse(Self.sample)
        let text = paragraph.rendered
        #expect(text.hasSuffix("\n") && !text.contains("\n\n"))
        #expect(text.contains("Description: sample application for fab\n It has a long description.\n .\n With a second paragraph\n   and a verbatim line.\n"))
        #expect(try ControlParagraph.parse(text) == paragraph)
        #expect(paragraph.description == text)
    }

    @Test("a blank line inside a value is rendered as ' .' and a first-line-empty value keeps its shape")
    func renderingEdgeCases() throws {
        var paragraph = ControlParagraph()
        paragraph["Package"] = "x"
        paragraph["Description"] = "short\nfirst\n\nsecond"
        paragraph["Conffiles"] = "\n/etc/x.conf 0123"
        #expect(paragraph.rendered == "Package: x\nDescription: short\n first\n .\n second\nConffiles:\n /etc/x.conf 0123\n")
        let back = try ControlParagraph.parse(paragraph.rendered)
        #expect(back["Conffiles"] == "\n/etc/x.conf 0123")
        #expect(back.extendedDescription == "first\n\nsecond")
    }

    @Test("setting keeps position and spelling; setting nil removes")
    func editing() throws {
        var paragraph = try ControlParagraph.parse("Package: a\nVersion: 1\nSection: misc\n")
        paragraph["version"] = "2"
        paragraph["Priority"] = "optional"
        paragraph["SECTION"] = nil
        #expect(paragraph.rendered == "Package: a\nVersion: 2\nPriority: optional\n")
        #expect(paragraph.contains("priority") && !paragraph.contains("Section"))
        let built = ControlParagraph(["Package": "b", "package": "c"])
        #expect(built.fields == [.init(name: "Package", value: "c")])
    }

    @Test("several paragraphs, as apt-cache show prints them")
    func parseAll() throws {
        let text = "Package: a\nVersion: 1\n\n\nPackage: a\nVersion: 2\nDescription: two\n more\n\n  \nPackage: b\r\nVersion: 3\r\n"
        let paragraphs = try ControlParagraph.parseAll(text)
        #expect(paragraphs.map(\.version) == ["1", "2", "3"])
        #expect(paragraphs.map(\.package) == ["a", "a", "b"])
        #expect(paragraphs[1]["Description"] == "two\nmore")
        #expect(try ControlParagraph.parseAll("\n\n").isEmpty)
        #expect(throws: ArchiveError.self) { try ControlParagraph.parse(text) }
    }

    @Test("this machine's dpkg status file parses into one paragraph per package",
          .enabled(if: FileManager.default.fileExists(atPath: "/var/lib/dpkg/status")))
    func dpkgStatus() throws {
        let text = try String(contentsOfFile: "/var/lib/dpkg/status", encoding: .utf8)
        let paragraphs = try ControlParagraph.parseAll(text, source: "/var/lib/dpkg/status")
        let packageLines = text.split(separator: "\n").filter { $0.hasPrefix("Package: ") }.count
        #expect(paragraphs.count == packageLines)
        #expect(paragraphs.allSatisfy { $0.package != nil && $0["Status"] != nil })
        let dpkg = try #require(paragraphs.first { $0.package == "dpkg" })
        let version = try runChecked("dpkg-query", ["-W", "-f", "${Version}", "dpkg"])
        #expect(dpkg.version == version)
        // Every paragraph renders to text that parses back the same.
        for paragraph in paragraphs {
            #expect(try ControlParagraph.parse(paragraph.rendered) == paragraph)
        }
    }

    @Test("malformed text is refused with the line number and source", arguments: [
        (" continued\nPackage: a\n", "line 1 is a continuation line with no field before it"),
        ("Package: a\nno colon here\n", "line 2 has no ':'"),
        ("Package: a\npackage: b\n", "line 2 repeats the field 'package'"),
        ("Package: a\n: value\n", "line 2 has an invalid field name ''"),
        ("Package: a\nBad Name: x\n", "line 2 has an invalid field name 'Bad Name'"),
    ])
    func malformed(text: String, problem: String) throws {
        let error = try #require(throws: ArchiveError.self) { try ControlParagraph.parseAll(text, source: "debian/control") }
        #expect(error.code == .invalidControl)
        #expect(error.path == "debian/control")
        #expect(error.description.hasPrefix("debian/control is not valid control data: \(problem)"), "\(error)")
    }

    @Test("parse requires exactly one paragraph")
    func exactlyOne() throws {
        let empty = try #require(throws: ArchiveError.self) { try ControlParagraph.parse("\n") }
        #expect(empty.description == "The control text holds no control fields.")
        let two = try #require(throws: ArchiveError.self) { try ControlParagraph.parse("A: 1\n\nB: 2\n", source: "x") }
        #expect(two.description == "x holds 2 paragraphs where one was expected.")
    }
}
