/// One Deb822 paragraph: the fields of a package's `control` file, of one `apt-cache show` record,
/// or of one stanza of `debian/control`.
///
/// Fields keep their order and their spelling; lookup ignores case (`paragraph["depends"]`).
/// A value is stored as its logical text: the first line as written after the colon (trimmed),
/// then each continuation line without its one leading space, joined by `"\n"`. So a
/// `Description` value is the synopsis, then the extended lines, with a lone `.` for each blank
/// line, exactly as Debian policy writes them. ``rendered`` turns a paragraph back into control text.
public struct ControlParagraph: Sendable, Equatable, CustomStringConvertible {
    /// One field: its name as written and its value.
    public struct Field: Sendable, Equatable {
        /// The field name as written (`Package`, `Pre-Depends`).
        public var name: String
        /// The value, with continuation lines separated by `"\n"` and without their leading space.
        public var value: String

        /// Makes a field.
        public init(name: String, value: String) {
            self.name = name
            self.value = value
        }
    }

    /// The fields in order.
    public private(set) var fields: [Field]

    /// Makes a paragraph from fields, in order.
    ///
    /// - Parameter fields: The fields; a later field replaces an earlier one of the same name (ignoring case).
    public init(fields: [Field] = []) {
        self.fields = []
        for field in fields { self[field.name] = field.value }
    }

    /// Makes a paragraph from name/value pairs, in order (`["Package": "x"]` keeps literal order).
    public init(_ pairs: KeyValuePairs<String, String>) {
        self.init(fields: pairs.map { Field(name: $0.key, value: $0.value) })
    }

    /// The value of a field, looked up ignoring case; setting nil removes the field.
    ///
    /// Setting a field that exists replaces its value in place (keeping its position and spelling);
    /// setting a new field appends it.
    public subscript(name: String) -> String? {
        get { index(of: name).map { fields[$0].value } }
        set {
            if let position = index(of: name) {
                if let newValue { fields[position].value = newValue } else { fields.remove(at: position) }
            } else if let newValue {
                fields.append(Field(name: name, value: newValue))
            }
        }
    }

    /// Whether a field is present, ignoring case.
    public func contains(_ name: String) -> Bool { index(of: name) != nil }

    /// The field names in order, as written.
    public var names: [String] { fields.map(\.name) }

    /// Whether the paragraph has no fields.
    public var isEmpty: Bool { fields.isEmpty }

    /// The `Package` field.
    public var package: String? { self["Package"] }
    /// The `Version` field.
    public var version: String? { self["Version"] }
    /// The `Architecture` field.
    public var architecture: String? { self["Architecture"] }

    /// The first line of `Description`: the synopsis.
    public var synopsis: String? {
        guard let value = self["Description"] else { return nil }
        return String(value.split(maxSplits: 1, omittingEmptySubsequences: false, whereSeparator: Self.isLineBreak)[0])
    }

    /// The extended description as plain text: continuation lines with each lone `.` turned into an empty line.
    public var extendedDescription: String? {
        guard let value = self["Description"] else { return nil }
        let lines = value.split(omittingEmptySubsequences: false, whereSeparator: Self.isLineBreak).dropFirst()
        if lines.isEmpty { return nil }
        return lines.map { $0 == "." ? "" : String($0) }.joined(separator: "\n")
    }

    /// The `Depends` field as a list of alternatives: each inner array holds relations one of which
    /// must hold (`[["libc6 (>= 2.34)"], ["python3", "python3-minimal"]]`). Empty when absent.
    public var depends: [[String]] { relations("Depends") }

    /// A relationship field (`Depends`, `Pre-Depends`, `Recommends`, `Conflicts`, `Breaks`, ...)
    /// parsed into alternatives.
    ///
    /// Relations are split on `,` then `|`; whitespace around each is trimmed and inner runs of
    /// whitespace (including line breaks) become one space. Empty relations are dropped.
    /// - Parameter name: The field to parse, ignoring case.
    /// - Returns: The alternatives in order; empty when the field is absent.
    public func relations(_ name: String) -> [[String]] {
        guard let value = self[name] else { return [] }
        return Self.parseRelations(value)
    }

    /// Parses a relationship value (`"a (>= 1), b | c"`) into alternatives (`[["a (>= 1)"], ["b", "c"]]`).
    public static func parseRelations(_ value: String) -> [[String]] {
        value.split(separator: ",").compactMap { group in
            let alternatives = group.split(separator: "|").map { relation in
                relation.split(whereSeparator: \.isWhitespace)
                    .joined(separator: " ")
            }.filter { !$0.isEmpty }
            return alternatives.isEmpty ? nil : alternatives
        }
    }

    /// Renders a relationship list (the inverse of ``parseRelations(_:)``): `a (>= 1), b | c`.
    public static func renderRelations(_ relations: [[String]]) -> String {
        relations.map { $0.joined(separator: " | ") }.joined(separator: ", ")
    }

    /// The paragraph as control text, one field per line with continuation lines indented by one
    /// space (a blank continuation line is written as ` .`), ending with a newline.
    public var rendered: String {
        var out = ""
        for field in fields {
            let lines = field.value.split(omittingEmptySubsequences: false, whereSeparator: Self.isLineBreak)
            let first = lines.first.map(String.init) ?? ""
            out += first.isEmpty ? "\(field.name):" : "\(field.name): \(first)"
            out += "\n"
            for line in lines.dropFirst() {
                let trimmed = line.drop(while: { $0 == " " || $0 == "\t" })
                out += trimmed.isEmpty ? " .\n" : " \(line)\n"
            }
        }
        return out
    }

    /// The rendered control text (``rendered``).
    public var description: String { rendered }

    /// Parses exactly one paragraph; blank lines before and after it are allowed.
    ///
    /// - Parameters:
    ///   - text: Control text.
    ///   - source: The file or command the text came from, named in errors.
    /// - Throws: ``ArchiveError`` with code `.invalidControl` when a line is neither a field nor a
    ///   continuation, a continuation comes before any field, a field appears twice, the text holds
    ///   no fields, or it holds more than one paragraph.
    public static func parse(_ text: String, source: String? = nil) throws -> ControlParagraph {
        let paragraphs = try parseAll(text, source: source)
        let subject = source ?? "The control text"
        guard let first = paragraphs.first else {
            throw ArchiveError(.invalidControl, path: source, description: "\(subject) holds no control fields")
        }
        guard paragraphs.count == 1 else {
            throw ArchiveError(.invalidControl, path: source,
                               description: "\(subject) holds \(paragraphs.count) paragraphs where one was expected")
        }
        return first
    }

    /// Parses every paragraph of a Deb822 text (such as `apt-cache show` output), in order.
    ///
    /// Paragraphs are separated by one or more blank (or whitespace-only) lines. Lines starting
    /// with `#` are comments and skipped. A trailing `\r` on a line is ignored.
    /// - Parameters:
    ///   - text: Control text.
    ///   - source: The file or command the text came from, named in errors.
    /// - Returns: The paragraphs; empty when the text holds no fields.
    /// - Throws: ``ArchiveError`` with code `.invalidControl` when a line is neither a field nor a
    ///   continuation, a continuation comes before a paragraph's first field, or a field appears
    ///   twice in one paragraph.
    public static func parseAll(_ text: String, source: String? = nil) throws -> [ControlParagraph] {
        var paragraphs: [ControlParagraph] = []
        var current = ControlParagraph()
        var lineNumber = 0
        let subject = source ?? "The control text"

        func fail(_ problem: String) -> ArchiveError {
            ArchiveError(.invalidControl, path: source, description: "\(subject) is not valid control data: line \(lineNumber) \(problem)")
        }

        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: Self.isLineBreak) {
            lineNumber += 1
            let line = rawLine.last == "\r" ? rawLine.dropLast() : rawLine
            if line.allSatisfy({ $0 == " " || $0 == "\t" }) {
                if !current.isEmpty { paragraphs.append(current) }
                current = ControlParagraph()
                continue
            }
            if line.first == "#" { continue }
            if line.first == " " || line.first == "\t" {
                guard !current.fields.isEmpty else {
                    throw fail("is a continuation line with no field before it")
                }
                current.fields[current.fields.count - 1].value += "\n" + line.dropFirst()
                continue
            }
            guard let colon = line.firstIndex(of: ":") else {
                throw fail("has no ':' (\"\(line.prefix(60))\")")
            }
            let name = String(line[..<colon])
            guard !name.isEmpty, name.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != ":" }), name.first != "-" else {
                throw fail("has an invalid field name '\(name)'")
            }
            guard !current.contains(name) else {
                throw fail("repeats the field '\(name)'")
            }
            let value = line[line.index(after: colon)...].drop(while: { $0 == " " || $0 == "\t" })
            var trimmed = Substring(value)
            while let last = trimmed.last, last == " " || last == "\t" { trimmed.removeLast() }
            current.fields.append(Field(name: name, value: String(trimmed)))
        }
        if !current.isEmpty { paragraphs.append(current) }
        return paragraphs
    }

    /// A line break: `\n`, or `\r\n` (one `Character` in Swift, so splitting on `"\n"` alone misses it).
    private static func isLineBreak(_ character: Character) -> Bool {
        character == "\n" || character == "\r\n"
    }

    private func index(of name: String) -> Int? {
        let wanted = name.lowercased()
        return fields.firstIndex { $0.name.count == name.count && $0.name.lowercased() == wanted }
    }
}
