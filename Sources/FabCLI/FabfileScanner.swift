/// Finds a fabfile's tasks and role definitions without compiling it.
///
/// A task is a top-level function that is not `private` or `fileprivate`, whose first parameter
/// has the type `Fab`, and that returns nothing (`Void`; `Never` too). A function that returns a
/// value is a helper that other code calls for its result, never a task:
///
/// ```swift
/// /// Build the package on the build VM.
/// /// - Hosts: buildvm
/// /// - Parameter branch: the branch to build
/// func deb(_ fab: Fab, branch: String? = nil, fast: Bool = false) async throws { ... }
///
/// // Helpers: private, or returning a value.
/// private func restart(_ fab: Fab) async throws { ... }
/// func release(_ fab: Fab) async throws -> String { ... }
/// ```
///
/// The scanner reads declarations, not expressions: the compiler checks everything it generates from
/// them, so it only needs to find functions, their doc comments, parameters and effects, and a top-level
/// `let roledefs`. Functions inside types, extensions, closures and other functions are skipped.
public enum FabfileScanner {
    /// What a fabfile declares.
    public struct Result: Sendable, Equatable {
        /// The tasks, in file order and then source order.
        public var tasks: [ScannedTask]
        /// Where the top-level `roledefs` is declared, if the fabfile has one.
        public var roledefs: SourceLocation?
        /// The modules the fabfile imports, in order, each once; the generated registration code
        /// imports them too, so it can name the parameter types they declare.
        public var imports: [String]

        /// A result from its parts.
        public init(tasks: [ScannedTask] = [], roledefs: SourceLocation? = nil, imports: [String] = []) {
            self.tasks = tasks
            self.roledefs = roledefs
            self.imports = imports
        }
    }

    /// Scans all files of a fabfile.
    /// - Throws: ``FabCLIError`` (`fabfileInvalid`) when a task cannot be understood or is declared twice.
    public static func scan(_ sources: [FabfileSource]) throws(FabCLIError) -> Result {
        var result = Result()
        for source in sources {
            let fileResult = try scan(source)
            for task in fileResult.tasks {
                if let other = result.tasks.first(where: { $0.name == task.name }) {
                    throw FabCLIError(.fabfileInvalid,
                                      "task '\(task.name)' is declared twice (also at \(other.path):\(other.line)); rename one of them, or make the one that is not a task private.",
                                      path: task.path, line: task.line)
                }
                result.tasks.append(task)
            }
            if let roledefs = fileResult.roledefs {
                if let other = result.roledefs {
                    throw FabCLIError(.fabfileInvalid,
                                      "roledefs is declared twice (also at \(other)); keep one.",
                                      path: roledefs.path, line: roledefs.line)
                }
                result.roledefs = roledefs
            }
            for module in fileResult.imports where !result.imports.contains(module) {
                result.imports.append(module)
            }
        }
        return result
    }

    /// Scans one source file.
    /// - Throws: ``FabCLIError`` (`fabfileInvalid`) when a task cannot be understood.
    public static func scan(_ source: FabfileSource) throws(FabCLIError) -> Result {
        let tokens: [SwiftToken]
        do {
            tokens = try SwiftLexer.tokenize(source.text)
        } catch {
            throw FabCLIError(.fabfileInvalid, "fab cannot read this file: \(error.message); fix it and run fab again.",
                              path: source.path, line: error.line)
        }
        var reader = DeclarationReader(source: source, tokens: tokens)
        return try reader.read()
    }
}

/// Walks a file's tokens at the top level, collecting doc comments, attributes and modifiers for
/// the declaration that follows them.
private struct DeclarationReader {
    let source: FabfileSource
    let tokens: [SwiftToken]
    var index = 0

    /// Keywords that may precede `func`, `let` or `var` in a top-level declaration.
    static let modifiers: Set<String> = [
        "private", "fileprivate", "internal", "public", "package", "open", "nonisolated", "final",
        "static", "dynamic", "override", "required", "convenience", "mutating", "nonmutating",
        "prefix", "postfix", "infix", "indirect", "lazy", "weak", "unowned", "distributed", "consuming", "borrowing",
    ]

    /// Declaration kinds in `import kind Module.Name`.
    static let importKinds: Set<String> = ["typealias", "struct", "class", "enum", "protocol", "let", "var", "func"]

    init(source: FabfileSource, tokens: [SwiftToken]) {
        self.source = source
        // Ordinary comments never matter to declarations; doc comments do.
        self.tokens = tokens.filter { $0.kind != .comment }
    }

    mutating func read() throws(FabCLIError) -> FabfileScanner.Result {
        var result = FabfileScanner.Result()
        var doc: [SwiftToken] = []
        var attributes: [String] = []
        var modifiers: [String] = []

        func reset() {
            doc = []
            attributes = []
            modifiers = []
        }

        while index < tokens.count {
            let token = tokens[index]
            switch token.kind {
            case .docLine:
                // Only `///` lines directly above one another form one comment.
                if !attributes.isEmpty || !modifiers.isEmpty { reset() }
                if let last = doc.last, last.kind != .docLine || last.line != token.line - 1 { doc = [] }
                doc.append(token)
                index += 1
            case .docBlock:
                reset()
                doc = [token]
                index += 1
            case .attribute:
                attributes.append(token.text)
                index += 1
                // `@available(macOS 13, *)`: the arguments follow the name directly.
                if index < tokens.count, tokens[index].text == "(", tokens[index].start == token.end {
                    index = skipBalanced(from: index)
                }
            case .word where Self.modifiers.contains(token.text):
                modifiers.append(token.text)
                index += 1
                // `private(set)`
                if index < tokens.count, tokens[index].text == "(" { index = skipBalanced(from: index) }
            case .word where token.text == "func":
                if let task = try readFunction(doc: doc, attributes: attributes, modifiers: modifiers) {
                    result.tasks.append(task)
                }
                reset()
            case .word where token.text == "import":
                index += 1
                // `import struct Module.Type` names a declaration kind first.
                if index < tokens.count, Self.importKinds.contains(tokens[index].text) { index += 1 }
                if index < tokens.count, tokens[index].kind == .word, !result.imports.contains(tokens[index].text) {
                    result.imports.append(tokens[index].text)
                }
                reset()
            case .word where token.text == "let" || token.text == "var":
                if index + 1 < tokens.count, tokens[index + 1].text == "roledefs" {
                    if modifiers.contains("private") || modifiers.contains("fileprivate") {
                        throw FabCLIError(.fabfileInvalid,
                                          "roledefs is \(modifiers.contains("private") ? "private" : "fileprivate"), so fab cannot read it; remove that modifier.",
                                          path: source.path, line: token.line)
                    }
                    result.roledefs = SourceLocation(path: source.path, line: token.line)
                }
                index += 1
                reset()
            case .punctuation where token.text == "{" || token.text == "(" || token.text == "[":
                // A type, extension, closure or call body: nothing inside is top-level.
                index = skipBalanced(from: index)
                reset()
            default:
                index += 1
                reset()
            }
        }
        return result
    }

    /// The index after the bracket that closes the one at `start`, or the end of the tokens.
    func skipBalanced(from start: Int) -> Int {
        var depth = 0
        var position = start
        while position < tokens.count {
            switch tokens[position].text {
            case "(", "[", "{": depth += 1
            case ")", "]", "}": depth -= 1
            default: break
            }
            position += 1
            if depth == 0 { return position }
        }
        return position
    }

    /// Reads a `func` declaration at `index` and moves past its body.
    /// - Returns: the task, or nil when the function is not a task.
    mutating func readFunction(doc: [SwiftToken], attributes: [String], modifiers: [String]) throws(FabCLIError) -> ScannedTask? {
        let funcToken = tokens[index]
        index += 1
        guard index < tokens.count, tokens[index].kind == .word else {
            // An operator function: never a task.
            skipRestOfFunction()
            return nil
        }
        let functionName = tokens[index].text
        let name = functionName.hasPrefix("`") ? String(functionName.dropFirst().dropLast()) : functionName
        index += 1

        var isGeneric = false
        if index < tokens.count, tokens[index].text == "<" {
            isGeneric = true
            index = skipAngles(from: index)
        }
        guard index < tokens.count, tokens[index].text == "(" else {
            skipRestOfFunction()
            return nil
        }
        let parametersEnd = skipBalanced(from: index)
        let parameterTokens = Array(tokens[(index + 1)..<max(index + 1, parametersEnd - 1)])
        index = parametersEnd

        // Effects, return type, where clause, then the body.
        var isAsync = false
        var isThrowing = false
        effects: while index < tokens.count {
            switch tokens[index].text {
            case "async", "reasync":
                isAsync = true
                index += 1
            case "throws", "rethrows":
                isThrowing = true
                index += 1
                if index < tokens.count, tokens[index].text == "(" { index = skipBalanced(from: index) }
            default:
                break effects
            }
        }
        var returnsValue = false
        if index < tokens.count, tokens[index].text == "->" {
            let start = index + 1
            var end = start
            while end < tokens.count, tokens[end].text != "{", tokens[end].text != "where" {
                end = ["(", "["].contains(tokens[end].text) ? skipBalanced(from: end) : end + 1
            }
            if end > start {
                let returnType = Self.collapseWhitespace(text(from: tokens[start], to: tokens[end - 1]))
                returnsValue = !["Void", "Swift.Void", "()", "Never", "Swift.Never"].contains(returnType)
            }
            index = end
        }
        skipRestOfFunction()

        let segments = Self.splitParameters(parameterTokens)
        guard let first = segments.first, let context = parseParameter(first), Self.isFabType(context.typeName) else {
            return nil
        }
        if modifiers.contains("private") || modifiers.contains("fileprivate") { return nil }
        // A function called for its result is a helper: a task's result would have nowhere to go.
        if returnsValue { return nil }

        let location = (path: source.path, line: funcToken.line)
        if isGeneric {
            throw FabCLIError(.fabfileInvalid,
                              "task '\(name)' is generic, and fab cannot choose its type arguments from the command line; remove the generic parameters, or make it private if it is a helper.",
                              path: location.path, line: location.line)
        }
        var parameters: [ScannedTask.Parameter] = []
        for segment in segments.dropFirst() {
            guard let parameter = parseParameter(segment) else {
                throw FabCLIError(.fabfileInvalid,
                                  "fab cannot read this parameter of task '\(name)'; write it as `name: Type` or `name: Type = default`.",
                                  path: location.path, line: segment.first?.line ?? location.line)
            }
            try check(parameter, task: name)
            parameters.append(parameter)
        }
        return ScannedTask(
            name: name, functionName: functionName, path: source.path, line: funcToken.line,
            contextLabel: context.label, parameters: parameters,
            documentation: TaskDocumentation(parsing: Self.documentationText(doc)),
            isAsync: isAsync, isThrowing: isThrowing,
            isActorIsolated: attributes.contains { $0 == "@MainActor" || $0.hasSuffix("Actor") })
    }

    /// Moves past the return type, `where` clause and body of a function whose effects were read.
    mutating func skipRestOfFunction() {
        while index < tokens.count {
            let text = tokens[index].text
            if text == "{" {
                index = skipBalanced(from: index)
                return
            }
            if text == "(" || text == "[" {
                index = skipBalanced(from: index)
                continue
            }
            // A function without a body (it would not compile at the top level) ends at the next declaration.
            if tokens[index].kind == .word, text == "func" || text == "let" || text == "var" || text == "struct"
                || text == "class" || text == "enum" || text == "extension" || text == "actor" || text == "protocol" {
                return
            }
            index += 1
        }
    }

    /// The index after the `>` that closes the `<` at `start`.
    func skipAngles(from start: Int) -> Int {
        var depth = 0
        var position = start
        while position < tokens.count {
            switch tokens[position].text {
            case "<": depth += 1
            case ">": depth -= 1
            case "(", "[", "{":
                position = skipBalanced(from: position)
                continue
            default: break
            }
            position += 1
            if depth == 0 { return position }
        }
        return position
    }

    /// Splits the tokens between a function's parentheses at the commas between parameters.
    ///
    /// Commas inside brackets do not count, nor commas inside `<...>` of a type (`Dictionary<String, Int>`);
    /// after a parameter's `=` angle brackets are comparison operators and are not counted.
    static func splitParameters(_ tokens: [SwiftToken]) -> [[SwiftToken]] {
        var segments: [[SwiftToken]] = []
        var current: [SwiftToken] = []
        var depth = 0
        var angles = 0
        var inDefault = false
        for token in tokens {
            switch token.text {
            case "(", "[", "{": depth += 1
            case ")", "]", "}": depth -= 1
            case "<" where !inDefault: angles += 1
            case ">" where !inDefault: angles = max(0, angles - 1)
            case "=" where depth == 0 && angles == 0: inDefault = true
            case "," where depth == 0 && angles == 0:
                segments.append(current)
                current = []
                inDefault = false
                continue
            default: break
            }
            current.append(token)
        }
        if !current.isEmpty { segments.append(current) }
        return segments
    }

    /// Reads `[label] name: Type [= default]`, or nil when the tokens do not have that shape.
    func parseParameter(_ tokens: [SwiftToken]) -> ScannedTask.Parameter? {
        guard let colon = tokens.firstIndex(where: { $0.text == ":" }) else { return nil }
        let names = tokens[..<colon]
        guard names.allSatisfy({ $0.kind == .word }), names.count == 1 || names.count == 2 else { return nil }
        guard let firstName = names.first, let lastName = names.last else { return nil }
        let label: String? = firstName.text == "_" ? nil : firstName.text
        let name = lastName.text.hasPrefix("`") ? String(lastName.text.dropFirst().dropLast()) : lastName.text

        var typeEnd = tokens.count
        var angles = 0
        var depth = 0
        for position in (colon + 1)..<tokens.count {
            switch tokens[position].text {
            case "(", "[", "{": depth += 1
            case ")", "]", "}": depth -= 1
            case "<": angles += 1
            case ">": angles -= 1
            default: break
            }
            if tokens[position].text == "=", depth == 0, angles == 0 {
                typeEnd = position
                break
            }
        }
        guard typeEnd > colon + 1 else { return nil }
        let typeName = Self.collapseWhitespace(text(from: tokens[colon + 1], to: tokens[typeEnd - 1]))
        var defaultValue: String?
        if typeEnd < tokens.count {
            guard typeEnd + 1 < tokens.count else { return nil }
            defaultValue = text(from: tokens[typeEnd + 1], to: tokens[tokens.count - 1])
        }
        return ScannedTask.Parameter(label: label, name: name, typeName: typeName, defaultValue: defaultValue,
                                     line: tokens[0].line)
    }

    /// Rejects parameter kinds that a command line cannot provide.
    func check(_ parameter: ScannedTask.Parameter, task: String) throws(FabCLIError) {
        let type = parameter.typeName
        let problem: String?
        if type.hasPrefix("inout ") {
            problem = "is inout"
        } else if type.hasSuffix("...") {
            problem = "is variadic"
        } else if type.contains("->") {
            problem = "is a function"
        } else if type.hasPrefix("@") {
            problem = "has an attribute"
        } else {
            problem = nil
        }
        if let problem {
            throw FabCLIError(.fabfileInvalid,
                              "parameter '\(parameter.name)' of task '\(task)' \(problem); task parameters are values fab reads from the command line (String, Int, Double, Bool, their optionals, or a type conforming to TaskArgumentValue).",
                              path: source.path, line: parameter.line)
        }
    }

    /// The source text from the start of one token to the end of another.
    func text(from first: SwiftToken, to last: SwiftToken) -> String {
        SwiftLexer.text(source.text, from: first.start, to: last.end)
    }

    static func collapseWhitespace(_ text: String) -> String {
        text.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }).joined(separator: " ")
    }

    static func isFabType(_ typeName: String) -> Bool {
        typeName == "Fab" || typeName == "FabCore.Fab"
    }

    /// The text of a doc comment without its `///` or `/** */` markers, dedented.
    static func documentationText(_ tokens: [SwiftToken]) -> String {
        var lines: [Substring] = []
        for token in tokens {
            if token.kind == .docLine {
                var line = token.text.dropFirst(3)
                if line.hasSuffix("\r") { line = line.dropLast() }
                lines.append(line)
            } else {
                var body = Substring(token.text.dropFirst(3).dropLast(2).filter { $0 != "\r" })
                if body.hasSuffix("*") { body = body.dropLast() }
                var blockLines = body.split(separator: "\n", omittingEmptySubsequences: false)
                // ` * ` in front of every continuation line is decoration.
                let continuation = blockLines.dropFirst().filter { !$0.allSatisfy { $0 == " " || $0 == "\t" } }
                if !continuation.isEmpty, continuation.allSatisfy({ $0.drop { $0 == " " || $0 == "\t" }.hasPrefix("*") }) {
                    blockLines = [blockLines[0]] + blockLines.dropFirst().map { line in
                        let rest = line.drop { $0 == " " || $0 == "\t" }
                        return rest.hasPrefix("*") ? rest.dropFirst() : rest
                    }
                }
                lines += blockLines
            }
        }
        let isBlank = { (line: Substring) in line.allSatisfy { $0 == " " || $0 == "\t" } }
        let indent = lines.filter { !isBlank($0) }
            .map { $0.prefix { $0 == " " || $0 == "\t" }.count }
            .min() ?? 0
        return lines.map { isBlank($0) ? "" : String($0.dropFirst(indent)) }.joined(separator: "\n")
    }
}
