import Foundation

/// A Debian package version (`[epoch:]upstream[-revision]`), parsed and ordered exactly as dpkg does.
///
/// Ordering follows `dpkg --compare-versions` (dpkg's `verrevcmp`): epochs compare as numbers; then the
/// upstream parts, then the revisions, each compared as alternating runs of non-digits and digits.
/// In a non-digit run, `~` sorts before everything (even the end of the string), then the end of the
/// string, then letters, then every other character. Digit runs compare as numbers, so `1.10 > 1.9`
/// and `1.0 == 1.00`.
///
/// Equality is dpkg's: `1.0`, `0:1.0` and `1.00` are equal, as `dpkg --compare-versions 1.0 eq 1.00` says.
/// The original spelling is kept in ``description``.
public struct DebianVersion: Sendable, Comparable, CustomStringConvertible {
    /// The epoch, 0 when the version has none.
    public let epoch: Int
    /// The upstream version: starts with a digit; letters, digits and `.+~-:` (a `-` only when there is a
    /// revision, a `:` only when there is an epoch).
    public let upstream: String
    /// The Debian revision, empty when the version has none: letters, digits and `.+~`.
    public let revision: String
    /// The version as it was written.
    public let description: String

    /// Parses a version string the way dpkg does, but strictly: what dpkg only warns about (an upstream
    /// part not starting with a digit, a character dpkg does not allow) is an error here, because
    /// fab writes these versions into packages.
    ///
    /// - Parameter string: A version such as `42`, `1:2.30-1` or `1.0~rc1-2+deb12u1`. Surrounding
    ///   white space is ignored, as dpkg ignores it.
    /// - Throws: ``DebianVersionError`` saying what is wrong with the string.
    public init(_ string: String) throws(DebianVersionError) {
        let text = string.trimmingCharacters(in: .whitespacesAndNewlines)
        func fail(_ code: DebianVersionError.Code, _ reason: String) -> DebianVersionError {
            DebianVersionError(code: code, version: string, reason: reason)
        }
        guard !text.isEmpty else { throw fail(.empty, "the version is empty") }
        guard !text.unicodeScalars.contains(where: { $0.properties.isWhitespace }) else {
            throw fail(.invalidCharacter, "a version cannot contain white space")
        }
        var rest = Substring(text)
        var epoch = 0
        if let colon = rest.firstIndex(of: ":") {
            let digits = rest[..<colon]
            guard !digits.isEmpty else { throw fail(.invalidEpoch, "the epoch before ':' is empty") }
            guard digits.allSatisfy(\.isASCIIDigit) else {
                throw fail(.invalidEpoch, "the epoch '\(digits)' is not a number")
            }
            guard let value = Int32(digits) else {
                throw fail(.invalidEpoch, "the epoch '\(digits)' is too big (dpkg's limit is \(Int32.max))")
            }
            epoch = Int(value)
            rest = rest[rest.index(after: colon)...]
        }
        var revision = Substring("")
        if let hyphen = rest.lastIndex(of: "-") {
            revision = rest[rest.index(after: hyphen)...]
            rest = rest[..<hyphen]
            guard !revision.isEmpty else { throw fail(.invalidRevision, "the revision after the last '-' is empty") }
        }
        guard let first = rest.first else { throw fail(.invalidUpstream, "the upstream version is empty") }
        guard first.isASCIIDigit else {
            throw fail(.invalidUpstream, "the upstream version must start with a digit, not '\(first)'")
        }
        if let bad = rest.first(where: { !($0.isASCIIAlphanumeric || ".+~-:".contains($0)) }) {
            throw fail(.invalidCharacter, "the upstream version cannot contain '\(bad)' (allowed: letters, digits and . + ~ - :)")
        }
        if let bad = revision.first(where: { !($0.isASCIIAlphanumeric || ".+~".contains($0)) }) {
            throw fail(.invalidCharacter, "the revision cannot contain '\(bad)' (allowed: letters, digits and . + ~)")
        }
        self.epoch = epoch
        self.upstream = String(rest)
        self.revision = String(revision)
        self.description = text
    }

    /// Compares two versions as `dpkg --compare-versions` does.
    /// - Returns: A negative number when `a` sorts before `b`, 0 when they are equal, a positive number after.
    public static func compare(_ a: DebianVersion, _ b: DebianVersion) -> Int {
        if a.epoch != b.epoch { return a.epoch < b.epoch ? -1 : 1 }
        let upstream = compareParts(Array(a.upstream.utf8), Array(b.upstream.utf8))
        if upstream != 0 { return upstream }
        return compareParts(Array(a.revision.utf8), Array(b.revision.utf8))
    }

    /// Whether `a` sorts before `b`, as `dpkg --compare-versions a lt b`.
    public static func < (a: DebianVersion, b: DebianVersion) -> Bool { compare(a, b) < 0 }

    /// Whether dpkg considers the versions equal (`1.0 == 1.00 == 0:1.0 == 1.0-0`), as `dpkg --compare-versions a eq b`.
    public static func == (a: DebianVersion, b: DebianVersion) -> Bool { compare(a, b) == 0 }

    /// The build number that follows the given versions: the highest leading integer of their upstream
    /// parts, plus one, or 1 when there are none.
    ///
    /// fab numbers builds `1`, `2`, `3`...; this reads the versions already published (from the
    /// repository or the build VM) and returns the next number. A version that is not a plain integer
    /// counts by the integer its upstream part starts with (`42.1` and `42~rc1-2` count as 42), so a
    /// hand-made hotfix version does not stop the count. Empty strings are skipped.
    ///
    /// - Parameter versions: Version strings, in any order.
    /// - Returns: The next build number; the plain version `"\(number)"` sorts after every given version.
    /// - Throws: ``DebianVersionError`` when a string is not a valid version, when a number is too big,
    ///   or when a version has a non-zero epoch: a build number without an epoch would sort below it, so
    ///   the packages would never be upgraded.
    public static func nextBuildNumber(from versions: [String]) throws(DebianVersionError) -> Int {
        var highest = 0
        var parsed: [DebianVersion] = []
        for string in versions where !string.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            let version = try DebianVersion(string)
            guard version.epoch == 0 else {
                throw DebianVersionError(code: .epochInBuildNumbers, version: string,
                                         reason: "it has the epoch \(version.epoch), and a plain build number would sort below it; remove it from the repository or give fab versions with that epoch")
            }
            let digits = version.upstream.prefix(while: \.isASCIIDigit)
            guard let number = Int(digits), number < Int.max else {
                throw DebianVersionError(code: .buildNumberTooBig, version: string,
                                         reason: "its leading number \(digits) is too big for a build number")
            }
            highest = max(highest, number)
            parsed.append(version)
        }
        let next = highest + 1
        // Cannot fail for epoch-0 versions whose leading integer is at most `highest`; checked all the same,
        // because a wrong answer here would publish a package apt never installs.
        if let plain = try? DebianVersion(String(next)), let above = parsed.first(where: { $0 >= plain }) {
            throw DebianVersionError(code: .buildNumberTooBig, version: above.description,
                                     reason: "it sorts at or above the next build number \(next)")
        }
        return next
    }

    /// dpkg's `order()`: the weight of one byte of a non-digit run (0 is the end of the string).
    private static func order(_ c: UInt8?) -> Int {
        guard let c else { return 0 }
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return 0
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"): return Int(c)
        case UInt8(ascii: "~"): return -1
        default: return Int(c) + 256
        }
    }

    /// dpkg's `verrevcmp()`.
    private static func compareParts(_ a: [UInt8], _ b: [UInt8]) -> Int {
        func isDigit(_ c: UInt8?) -> Bool { c.map { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") } ?? false }
        var i = 0, j = 0
        func at(_ s: [UInt8], _ k: Int) -> UInt8? { k < s.count ? s[k] : nil }
        while i < a.count || j < b.count {
            while (i < a.count && !isDigit(a[i])) || (j < b.count && !isDigit(b[j])) {
                let ac = order(at(a, i)), bc = order(at(b, j))
                if ac != bc { return ac - bc }
                i += 1
                j += 1
            }
            while at(a, i) == UInt8(ascii: "0") { i += 1 }
            while at(b, j) == UInt8(ascii: "0") { j += 1 }
            var firstDifference = 0
            while isDigit(at(a, i)) && isDigit(at(b, j)) {
                if firstDifference == 0 { firstDifference = Int(a[i]) - Int(b[j]) }
                i += 1
                j += 1
            }
            if isDigit(at(a, i)) { return 1 }
            if isDigit(at(b, j)) { return -1 }
            if firstDifference != 0 { return firstDifference }
        }
        return 0
    }
}

/// A version string that fab cannot use, with the reason.
public struct DebianVersionError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What kind of problem it is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        let name: String
        /// The code's name.
        public var description: String { name }
        /// The version string is empty.
        public static let empty = Code(name: "empty")
        /// The epoch is empty, not a number, or too big.
        public static let invalidEpoch = Code(name: "invalidEpoch")
        /// The upstream part is empty or does not start with a digit.
        public static let invalidUpstream = Code(name: "invalidUpstream")
        /// The revision after the last `-` is empty.
        public static let invalidRevision = Code(name: "invalidRevision")
        /// A character dpkg does not allow in that part.
        public static let invalidCharacter = Code(name: "invalidCharacter")
        /// A version with an epoch among the versions a build number is computed from.
        public static let epochInBuildNumbers = Code(name: "epochInBuildNumbers")
        /// A build number that does not fit in an `Int`, or does not sort above the versions given.
        public static let buildNumberTooBig = Code(name: "buildNumberTooBig")
    }

    /// What kind of problem it is.
    public let code: Code
    /// The version string as given.
    public let version: String
    /// Why it cannot be used, as a clause.
    public let reason: String

    /// The sentence to show the user.
    public var description: String { "The version '\(version)' cannot be used: \(reason)." }
}

fileprivate extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
    var isASCIIAlphanumeric: Bool { isASCII && (isLetter || isNumber) }
}
