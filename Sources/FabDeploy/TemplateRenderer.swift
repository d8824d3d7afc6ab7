import FabCore
import Foundation
import Stencil

/// Renders config templates with Stencil, strictly: where Stencil renders an undefined variable as
/// nothing, fab refuses the template, naming it, the line and the variable.
///
/// Before rendering, the template's tags are read the way Stencil's lexer reads them (`{{ }}`,
/// `{% %}`, `{# #}`), and every name an expression uses is checked against the variables (and the
/// loop variables of the `for` blocks around it). Tags that read other files (`include`, `extends`,
/// `block`) or the clock (`now`, which would make two builds of one commit differ) are refused.
/// Values are data: Stencil inserts a value as it is and never renders it again, and no HTML
/// escaping applies.
enum TemplateRenderer {
    /// A rendered template, and whether it used a secret variable.
    struct Rendered: Sendable {
        var text: String
        var usedSecret: Bool
        /// The variables it used, in the order of first use.
        var used: [String]
    }

    /// Tags a config template may use; the others are refused with the reason.
    static let refusedTags: [String: String] = [
        "include": "it reads another file; list every file of the package as its own template",
        "extends": "it reads another file; list every file of the package as its own template",
        "block": "template inheritance reads other files; list every file of the package as its own template",
        "now": "it renders the build's clock, so two builds of one commit would differ; pass the date as a variable",
    ]

    /// Renders `template` with the `variables` (all of them visible).
    /// - Parameters:
    ///   - name: how messages name the template (`template etc/nginx.conf.stencil of vrmd-whois-config-staging`).
    ///   - laterNames: names that exist but are not visible here (variables defined after a derived
    ///     one), for a message that says so.
    /// - Throws: ``FabError`` `.template` naming the template, the line and the variable when it uses
    ///   an undefined one, a refused tag, or has a syntax error.
    static func render(_ template: String, named name: String, with variables: ResolvedVariables,
                       laterNames: Set<String> = []) throws -> Rendered {
        let visible = Set(variables.names)
        let used = try check(template, named: name, defined: visible, laterNames: laterNames)
        let context: [String: Any] = variables.values
        let text: String
        do {
            text = try Environment().renderTemplate(string: template, context: context)
        } catch {
            throw FabError(.template, "\(name) cannot be rendered: \(error); fix the template.")
        }
        return Rendered(text: text, usedSecret: used.contains(where: variables.isSecret), used: used)
    }

    /// A tag of the template and the line it starts on.
    struct Tag: Equatable {
        enum Kind: Equatable { case variable, block, comment }
        var kind: Kind
        /// What is between the delimiters, as Stencil reads it (trim marks removed, lines joined).
        var contents: String
        var line: Int
    }

    /// The template's tags, found as Stencil's lexer finds them: `{` followed by `{`, `%` or `#`
    /// opens a tag, which ends at the first `}}`, `%}` or `#}` respectively.
    /// - Throws: ``FabError`` `.template` for a tag that is never closed (Stencil would silently drop
    ///   the rest of the file).
    static func tags(of template: String, named name: String) throws -> [Tag] {
        let scalars = Array(template.unicodeScalars)
        var tags: [Tag] = []
        var index = 0, line = 1
        while index < scalars.count {
            let scalar = scalars[index]
            guard scalar == "{", index + 1 < scalars.count, ["{", "%", "#"].contains(scalars[index + 1]) else {
                if scalar == "\n" { line += 1 }
                index += 1
                continue
            }
            let opener = scalars[index + 1]
            let closer: Unicode.Scalar = opener == "{" ? "}" : opener
            // Stencil scans from the tag's first character: `{%}` is a (empty) tag.
            var end: Int?
            var probe = index
            while probe + 1 < scalars.count {
                if scalars[probe] == closer && scalars[probe + 1] == "}" && probe > index { end = probe + 1; break }
                probe += 1
            }
            guard let end else {
                throw FabError(.template, "\(name) line \(line): a tag opened with '{\(opener)' is never closed with '\(closer)}'; close it (Stencil would drop the rest of the file).")
            }
            let raw = String(String.UnicodeScalarView(scalars[index...end]))
            var inner = raw.count >= 4 ? String(raw.dropFirst(2).dropLast(2)) : ""
            if opener == "%" {
                if inner.hasPrefix("-") || inner.hasPrefix("+") || inner.hasPrefix("~") { inner.removeFirst() }
                if inner.hasSuffix("-") || inner.hasSuffix("+") || inner.hasSuffix("~") { inner.removeLast() }
            }
            let contents = inner.components(separatedBy: "\n").filter { !$0.isEmpty }
                .map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: " ")
            tags.append(Tag(kind: opener == "{" ? .variable : opener == "%" ? .block : .comment, contents: contents, line: line))
            line += scalars[index...end].filter { $0 == "\n" }.count
            index = end + 1
        }
        return tags
    }

    /// Checks every name the template's expressions use; returns the variables it uses in order.
    /// - Throws: ``FabError`` `.template` naming the template, line and name.
    static func check(_ template: String, named name: String, defined: Set<String>, laterNames: Set<String>) throws -> [String] {
        var scopes: [Set<String>] = []
        var used: [String] = []
        func require(_ expression: String, line: Int) throws {
            for word in identifiers(in: expression) {
                if scopes.contains(where: { $0.contains(word) }) { continue }
                guard defined.contains(word) else {
                    let known = defined.sorted()
                    let later = laterNames.contains(word) && !defined.contains(word)
                    throw FabError(.template, "\(name) line \(line) uses the variable '\(word)', which \(later ? "is defined only after it; define '\(word)' earlier" : "is not defined (defined: \(known.isEmpty ? "none" : known.joined(separator: ", "))); define it or fix the name").")
                }
                if !used.contains(word) { used.append(word) }
            }
        }
        for tag in try tags(of: template, named: name) {
            switch tag.kind {
            case .comment:
                continue
            case .variable:
                try require(tag.contents, line: tag.line)
            case .block:
                let words = splitOutsideQuotes(tag.contents)
                guard let keyword = words.first else { continue }
                let rest = words.dropFirst().joined(separator: " ")
                if let why = refusedTags[keyword] {
                    throw FabError(.template, "\(name) line \(tag.line) uses {% \(keyword) %}, which config templates do not allow: \(why).")
                }
                switch keyword {
                case "if", "elif", "ifnot":
                    try require(rest, line: tag.line)
                case "for":
                    // for a[, b] in EXPRESSION [reversed] [where CONDITION]
                    guard let inIndex = words.firstIndex(of: "in") else { continue }
                    let loopNames = words[1..<inIndex].joined(separator: " ").split(separator: ",")
                        .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
                    let after = Array(words[(inIndex + 1)...])
                    let whereIndex = after.firstIndex(of: "where")
                    try require(after[..<(whereIndex ?? after.count)].joined(separator: " "), line: tag.line)
                    scopes.append(Set(loopNames + ["forloop"]))
                    if let whereIndex { try require(after[(whereIndex + 1)...].joined(separator: " "), line: tag.line) }
                case "endfor":
                    if !scopes.isEmpty { scopes.removeLast() }
                case "filter":
                    // Filter names (each after a `|`) and their arguments, which are expressions.
                    try require("|" + rest, line: tag.line)
                default:
                    continue
                }
            }
        }
        return used
    }

    /// Stencil's words and literals that are not variable names.
    static let keywords: Set<String> = ["and", "or", "not", "in", "if", "else", "true", "false", "reversed", "where", "nil"]

    /// The root names (before the first `.`) an expression uses: words outside string literals that are
    /// not numbers, keywords or filter names (the word after `|`).
    static func identifiers(in expression: String) -> [String] {
        var names: [String] = []
        var word = ""
        var afterPipe = false
        var quote: Character?
        func flush() {
            defer { word = "" }
            guard !word.isEmpty else { return }
            let wasFilter = afterPipe
            afterPipe = false
            if wasFilter { return }
            // A range `a...b` names two expressions.
            for part in word.components(separatedBy: "...") where !part.isEmpty {
                let root = String(part.split(separator: ".", omittingEmptySubsequences: false).first ?? "")
                guard let first = root.first, !first.isNumber, first != "-", !keywords.contains(root) else { continue }
                if !names.contains(root) { names.append(root) }
            }
        }
        for character in expression {
            if let open = quote {
                if character == open { quote = nil }
                continue
            }
            if character == "'" || character == "\"" {
                flush()
                quote = character
                continue
            }
            if character.isLetter || character.isNumber || character == "_" || character == "." || (character == "-" && word.isEmpty) {
                word.append(character)
                continue
            }
            flush()
            if character == "|" { afterPipe = true }
            else if !character.isWhitespace { afterPipe = false }
        }
        flush()
        return names
    }

    /// Splits on blanks outside quotes (as Stencil's `smartSplit` does for a tag's words).
    static func splitOutsideQuotes(_ text: String) -> [String] {
        var words: [String] = []
        var current = ""
        var quote: Character?
        for character in text {
            if let open = quote {
                current.append(character)
                if character == open { quote = nil }
            } else if character == "'" || character == "\"" {
                quote = character
                current.append(character)
            } else if character.isWhitespace {
                if !current.isEmpty { words.append(current); current = "" }
            } else {
                current.append(character)
            }
        }
        if !current.isEmpty { words.append(current) }
        return words
    }
}
