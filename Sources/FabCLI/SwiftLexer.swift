/// One token of Swift source, as far as the fabfile scanner needs to tell tokens apart.
///
/// The lexer knows comments, string literals (including multi-line, raw and interpolated ones) and
/// brackets well enough to find declarations; it does not try to understand expressions.
struct SwiftToken: Sendable, Equatable {
    enum Kind: Sendable, Equatable {
        /// An identifier or keyword, possibly in backticks (`` `default` ``), or a number.
        case word
        /// `@name`: an attribute.
        case attribute
        /// `#name`: a compiler directive or macro (`#if`, `#endif`, `#file`).
        case pound
        /// A string or regex literal, delimiters included.
        case literal
        /// A `//` or `/* */` comment that is not documentation.
        case comment
        /// A `///` line.
        case docLine
        /// A `/** */` block.
        case docBlock
        /// `->` or `...`, or any other single punctuation or operator character.
        case punctuation
    }

    var kind: Kind
    /// The token's text as written.
    var text: String
    /// UTF-8 offsets of the token in the source: `start..<end`.
    var start: Int
    var end: Int
    /// The 1-based line the token starts on.
    var line: Int
}

/// Splits Swift source into ``SwiftToken``s, skipping whitespace.
struct SwiftLexer {
    /// Why the source could not be split into tokens.
    struct Failure: Error, Sendable, Equatable {
        var line: Int
        var message: String
    }

    private let bytes: [UInt8]
    private var index = 0
    private var line = 1

    init(_ source: String) {
        bytes = Array(source.utf8)
    }

    /// All tokens of the source, in order.
    /// - Throws: ``Failure`` for an unterminated string literal or block comment.
    static func tokenize(_ source: String) throws(Failure) -> [SwiftToken] {
        var lexer = SwiftLexer(source)
        return try lexer.run()
    }

    /// The source text between two UTF-8 offsets.
    static func text(_ source: String, from start: Int, to end: Int) -> String {
        let utf8 = source.utf8
        let lower = utf8.index(utf8.startIndex, offsetBy: start)
        let upper = utf8.index(lower, offsetBy: end - start)
        return String(decoding: utf8[lower..<upper], as: UTF8.self)
    }

    private mutating func run() throws(Failure) -> [SwiftToken] {
        var tokens: [SwiftToken] = []
        // A shebang line is not Swift.
        if peek(0) == UInt8(ascii: "#"), peek(1) == UInt8(ascii: "!") { skipToEndOfLine() }
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\n") {
                line += 1
                index += 1
                continue
            }
            if byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r") {
                index += 1
                continue
            }
            let start = index
            let startLine = line
            let kind = try scanToken()
            tokens.append(SwiftToken(kind: kind, text: String(decoding: bytes[start..<index], as: UTF8.self),
                                     start: start, end: index, line: startLine))
        }
        return tokens
    }

    private func peek(_ offset: Int) -> UInt8? {
        let position = index + offset
        return position < bytes.count ? bytes[position] : nil
    }

    private mutating func skipToEndOfLine() {
        while index < bytes.count, bytes[index] != UInt8(ascii: "\n") { index += 1 }
    }

    /// Scans one token starting at `index` and returns its kind; `index` ends after it.
    private mutating func scanToken() throws(Failure) -> SwiftToken.Kind {
        let byte = bytes[index]
        switch byte {
        case UInt8(ascii: "/") where peek(1) == UInt8(ascii: "/"):
            let isDoc = peek(2) == UInt8(ascii: "/") && peek(3) != UInt8(ascii: "/")
            skipToEndOfLine()
            return isDoc ? .docLine : .comment
        case UInt8(ascii: "/") where peek(1) == UInt8(ascii: "*"):
            let isDoc = peek(2) == UInt8(ascii: "*") && peek(3) != UInt8(ascii: "*") && peek(3) != UInt8(ascii: "/")
            try skipBlockComment()
            return isDoc ? .docBlock : .comment
        case UInt8(ascii: "\""):
            try skipStringLiteral(hashes: 0)
            return .literal
        case UInt8(ascii: "#"):
            var hashes = 0
            while peek(hashes) == UInt8(ascii: "#") { hashes += 1 }
            if peek(hashes) == UInt8(ascii: "\"") {
                index += hashes
                try skipStringLiteral(hashes: hashes)
                return .literal
            }
            if peek(hashes) == UInt8(ascii: "/") {
                index += hashes
                try skipRegexLiteral(hashes: hashes)
                return .literal
            }
            index += 1
            skipIdentifierCharacters()
            return .pound
        case UInt8(ascii: "@"):
            index += 1
            skipIdentifierCharacters()
            return .attribute
        case UInt8(ascii: "`"):
            index += 1
            while index < bytes.count, bytes[index] != UInt8(ascii: "`"), bytes[index] != UInt8(ascii: "\n") {
                index += 1
            }
            if index < bytes.count, bytes[index] == UInt8(ascii: "`") { index += 1 }
            return .word
        case UInt8(ascii: "-") where peek(1) == UInt8(ascii: ">"):
            index += 2
            return .punctuation
        case UInt8(ascii: ".") where peek(1) == UInt8(ascii: ".") && peek(2) == UInt8(ascii: "."):
            index += 3
            return .punctuation
        default:
            if Self.isIdentifierCharacter(byte) {
                skipIdentifierCharacters()
                return .word
            }
            index += 1
            return .punctuation
        }
    }

    /// Letters, digits, `_`, `$` and every non-ASCII byte (Swift identifiers may use Unicode letters).
    private static func isIdentifierCharacter(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "$"):
            return true
        default:
            return byte >= 0x80
        }
    }

    private mutating func skipIdentifierCharacters() {
        while index < bytes.count, Self.isIdentifierCharacter(bytes[index]) { index += 1 }
    }

    /// Skips a `/* */` comment; Swift block comments nest.
    private mutating func skipBlockComment() throws(Failure) {
        let startLine = line
        var depth = 0
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "/"), peek(1) == UInt8(ascii: "*") {
                depth += 1
                index += 2
            } else if bytes[index] == UInt8(ascii: "*"), peek(1) == UInt8(ascii: "/") {
                depth -= 1
                index += 2
                if depth == 0 { return }
            } else {
                if bytes[index] == UInt8(ascii: "\n") { line += 1 }
                index += 1
            }
        }
        throw Failure(line: startLine, message: "this /* comment is never closed with */")
    }

    /// Skips a string literal whose opening quote is at `index`, `hashes` `#` signs after the `#`s
    /// of a raw string. Handles `"""` multi-line strings and `\(...)` interpolations, which may hold
    /// further strings.
    private mutating func skipStringLiteral(hashes: Int) throws(Failure) {
        let startLine = line
        let multiline = peek(1) == UInt8(ascii: "\"") && peek(2) == UInt8(ascii: "\"")
        index += multiline ? 3 : 1
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\n") {
                if !multiline { break }
                line += 1
                index += 1
                continue
            }
            if byte == UInt8(ascii: "\\"), hashesFollow(hashes, at: index + 1) {
                index += 1 + hashes
                if index < bytes.count, bytes[index] == UInt8(ascii: "(") {
                    try skipInterpolation()
                } else if index < bytes.count {
                    if bytes[index] == UInt8(ascii: "\n") { line += 1 }
                    index += 1
                }
                continue
            }
            if byte == UInt8(ascii: "\"") {
                let quotes = multiline ? 3 : 1
                var closing = true
                for offset in 0..<quotes where peek(offset) != UInt8(ascii: "\"") { closing = false }
                if closing, hashesFollow(hashes, at: index + quotes) {
                    index += quotes + hashes
                    return
                }
            }
            index += 1
        }
        throw Failure(line: startLine, message: "this string literal is never closed")
    }

    private func hashesFollow(_ count: Int, at position: Int) -> Bool {
        for offset in 0..<count {
            guard position + offset < bytes.count, bytes[position + offset] == UInt8(ascii: "#") else { return false }
        }
        return true
    }

    /// Skips `( ... )` of a string interpolation, whose contents are Swift code.
    private mutating func skipInterpolation() throws(Failure) {
        let startLine = line
        var depth = 0
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "("):
                depth += 1
                index += 1
            case UInt8(ascii: ")"):
                depth -= 1
                index += 1
                if depth == 0 { return }
            case UInt8(ascii: "\""):
                try skipStringLiteral(hashes: 0)
            case UInt8(ascii: "#") where peek(1) == UInt8(ascii: "\"") || peek(1) == UInt8(ascii: "#"):
                var count = 0
                while peek(count) == UInt8(ascii: "#") { count += 1 }
                if peek(count) == UInt8(ascii: "\"") {
                    index += count
                    try skipStringLiteral(hashes: count)
                } else {
                    index += count
                }
            case UInt8(ascii: "/") where peek(1) == UInt8(ascii: "*"):
                try skipBlockComment()
            case UInt8(ascii: "\n"):
                line += 1
                index += 1
            default:
                index += 1
            }
        }
        throw Failure(line: startLine, message: "this string interpolation \\( is never closed")
    }

    /// Skips an extended regex literal `#/ ... /#` (the `#`s have been consumed).
    private mutating func skipRegexLiteral(hashes: Int) throws(Failure) {
        let startLine = line
        index += 1
        while index < bytes.count {
            if bytes[index] == UInt8(ascii: "\\") {
                index += 2
                continue
            }
            if bytes[index] == UInt8(ascii: "/"), hashesFollow(hashes, at: index + 1) {
                index += 1 + hashes
                return
            }
            if bytes[index] == UInt8(ascii: "\n") { line += 1 }
            index += 1
        }
        throw Failure(line: startLine, message: "this regex literal is never closed")
    }
}
