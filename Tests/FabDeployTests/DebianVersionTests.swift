import Foundation
import Testing
@testable import FabDeploy

/// (a, b, how a compares to b: -1, 0 or 1). Cases from dpkg's own test suite and Debian practice.
private let comparisons: [(String, String, Int)] = [
    ("1.0", "1.0", 0),
    ("1.0", "1.00", 0),
    ("00001", "1", 0),
    ("0:1.0", "1.0", 0),
    ("1.0-0", "1.0", 0),
    ("0-pre", "0-pre", 0),
    ("1.0", "1.1", -1),
    ("1.9", "1.10", -1),
    ("9", "20260101", -1),
    ("9223372036854775807", "9223372036854775808", -1),
    ("1.2.3", "1.2.3.0", -1),
    ("1.0~rc1", "1.0", -1),
    ("1.0~", "1.0", -1),
    ("1.0~~", "1.0~", -1),
    ("1.0~~", "1.0~~a", -1),
    ("1.0~", "1.0+", -1),
    ("1.0", "1.0a", -1),
    ("1.0a", "1.0.", -1),
    ("1A", "1a", -1),
    ("1.0", "1.0+b1", -1),
    ("1.0+", "1.0", 1),
    ("1.0-1", "1.0-1+deb12u1", -1),
    ("1.0-1~bpo12+1", "1.0-1", -1),
    ("1.0~rc1-1", "1.0-1", -1),
    ("1:1.0-1", "1:1.0-2", -1),
    ("1:0.9", "2.0", 1),
    ("2:1", "10:0", -1),
    ("7.6p2-4", "7.6-0", 1),
    ("1.0.3-3", "1.0-1", 1),
    ("1.3", "1.2.2-2", 1),
    ("0-pre", "0-pree", -1),
    ("1.1.6r2-2", "1.1.6r-1", 1),
    ("2.6b2-1", "2.6b-2", 1),
    ("98.1p5-1", "98.1-pre2-b6-2", -1),
    ("0.4a6-2", "0.4-1", 1),
    ("1:3.0.5-2", "1:3.0.5.1", -1),
    ("10.3", "10-2", 1),
    ("1.0-1-2", "1.0-1-10", -1),
    ("2:1:3", "2:1:2", 1),
    ("3.11.2-6+deb12u6", "3.11.2-6", 1),
]

@Suite("DebianVersion")
struct DebianVersionTests {
    @Test(arguments: comparisons)
    func comparesLikeDpkg(a: String, b: String, expected: Int) throws {
        let va = try DebianVersion(a), vb = try DebianVersion(b)
        let sign = DebianVersion.compare(va, vb).signum()
        #expect(sign == expected, "\(a) vs \(b)")
        #expect(DebianVersion.compare(vb, va).signum() == -expected)
        #expect((va < vb) == (expected < 0))
        #expect((va == vb) == (expected == 0))
    }

    /// The table itself is checked against the real dpkg, so a wrong expectation cannot hide a wrong implementation.
    @Test(.enabled(if: haveTool("/usr/bin/dpkg")), arguments: comparisons)
    func tableAgreesWithDpkg(a: String, b: String, expected: Int) throws {
        let op = expected < 0 ? "lt" : expected == 0 ? "eq" : "gt"
        let result = try runProcess(["/usr/bin/dpkg", "--compare-versions", a, op, b])
        #expect(result.status == 0, "dpkg --compare-versions \(a) \(op) \(b) is false: \(result.stderr)")
    }

    @Test(arguments: [
        ("1.0", 0, "1.0", ""),
        ("1:2.30-1", 1, "2.30", "1"),
        ("1.0-1-2", 0, "1.0-1", "2"),
        ("2:1:3", 2, "1:3", ""),
        (" 42 ", 0, "42", ""),
        ("1.0~rc1-2+deb12u1", 0, "1.0~rc1", "2+deb12u1"),
    ])
    func parsesParts(text: String, epoch: Int, upstream: String, revision: String) throws {
        let version = try DebianVersion(text)
        #expect(version.epoch == epoch)
        #expect(version.upstream == upstream)
        #expect(version.revision == revision)
        #expect(version.description == text.trimmingCharacters(in: .whitespaces))
    }

    @Test(arguments: [
        ("", DebianVersionError.Code.empty),
        ("   ", .empty),
        ("1 0", .invalidCharacter),
        ("a1", .invalidUpstream),
        ("~1", .invalidUpstream),
        (":1", .invalidEpoch),
        ("a:1", .invalidEpoch),
        ("-1:1", .invalidEpoch),
        ("99999999999:1", .invalidEpoch),
        ("1:", .invalidUpstream),
        ("-1", .invalidUpstream),
        ("1.0-", .invalidRevision),
        ("1.0-1-", .invalidRevision),
        ("1.0_1", .invalidCharacter),
        ("1:1.0-1:2", .invalidCharacter),
        ("1.0-é", .invalidCharacter),
    ])
    func rejects(text: String, code: DebianVersionError.Code) {
        let error = #expect(throws: DebianVersionError.self) { try DebianVersion(text) }
        #expect(error?.code == code, "\(text.debugDescription): \(error?.description ?? "")")
        #expect(error?.description.hasPrefix("The version '\(text)' cannot be used: ") == true)
    }

    /// dpkg refuses (exit status 2) the versions this type refuses as errors.
    @Test(.enabled(if: haveTool("/usr/bin/dpkg")), arguments: ["1:", "-1", "1.0-", ":1", "a:1", "99999999999:1"])
    func dpkgAlsoRefuses(text: String) throws {
        #expect(try runProcess(["/usr/bin/dpkg", "--compare-versions", text, "eq", "1"]).status == 2)
    }

    @Test(arguments: [
        ([String](), 1),
        (["1", "2", "10"], 11),
        (["41", "42.1", "42~rc1-2", " ", "7"], 43),
        (["20260101"], 20260102),
        (["0"], 1),
        (["3-1", "3-2"], 4),
    ])
    func nextBuildNumber(versions: [String], expected: Int) throws {
        let next = try DebianVersion.nextBuildNumber(from: versions)
        #expect(next == expected)
        for version in versions where !version.trimmingCharacters(in: .whitespaces).isEmpty {
            #expect(try DebianVersion(String(next)) > DebianVersion(version))
        }
    }

    @Test(arguments: [
        (["5", "1:3"], DebianVersionError.Code.epochInBuildNumbers),
        (["5", "abc"], .invalidUpstream),
        (["99999999999999999999"], .buildNumberTooBig),
    ])
    func nextBuildNumberRefuses(versions: [String], code: DebianVersionError.Code) {
        let error = #expect(throws: DebianVersionError.self) { try DebianVersion.nextBuildNumber(from: versions) }
        #expect(error?.code == code)
    }

    @Test func sortsLikeDpkg() throws {
        let sorted = try ["1.0", "1.0~rc1", "1:0.1", "1.0+b1", "1.0-1", "0.9", "1.0~~"].map(DebianVersion.init).sorted()
        #expect(sorted.map(\.description) == ["0.9", "1.0~~", "1.0~rc1", "1.0", "1.0-1", "1.0+b1", "1:0.1"])
    }
}
