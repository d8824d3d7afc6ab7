import FabfileModel
import SwiftIfConfig
import SwiftParser
import SwiftSyntax

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
/// The scanner parses each file with the compiler's own parser (SwiftParser) and evaluates `#if` with the
/// compiler's rules (SwiftIfConfig) against the configuration the fabfile is compiled with, so it sees the
/// declarations the compiler sees: a task inside `#if os(macOS)` does not exist on Linux. It reads
/// declarations, not expressions: the compiler checks everything generated from them, so it only needs
/// functions, their doc comments, parameters and effects, the imports, and a top-level `let roledefs`.
/// Functions inside types, extensions, closures and other functions are skipped.
///
/// Everything it rejects is reported against the fabfile's own file and line, before any code is generated.
/// `fab` runs it in this helper executable only when it compiles a fabfile (see `main.swift`), so the
/// parser is not part of `fab` itself.
enum FabfileScanner {
    /// Scans all files of a fabfile.
    /// - Parameter configuration: what `#if` conditions are evaluated against.
    /// - Throws: ``FabfileScanProblem`` when a task cannot be understood or is declared twice.
    static func scan(_ sources: [FabfileSource],
                     configuration: SyntaxBuildConfiguration) throws(FabfileScanProblem) -> FabfileScanResult {
        var result = FabfileScanResult()
        for source in sources {
            var reader = DeclarationReader(source: source, configuration: configuration)
            let fileResult = try reader.read()
            for task in fileResult.tasks {
                if let other = result.tasks.first(where: { $0.name == task.name }) {
                    throw FabfileScanProblem("task '\(task.name)' is declared twice (also at \(other.path):\(other.line)); rename one of them, or make the one that is not a task private.",
                                             path: task.path, line: task.line)
                }
                result.tasks.append(task)
            }
            if let roledefs = fileResult.roledefs {
                if let other = result.roledefs {
                    throw FabfileScanProblem("roledefs is declared twice (also at \(other)); keep one.",
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
}

/// Reads one file's syntax tree at the top level, descending only into the active clauses of `#if`.
private struct DeclarationReader {
    let source: FabfileSource
    let configuration: SyntaxBuildConfiguration
    let tree: SourceFileSyntax
    let converter: SourceLocationConverter
    var result = FabfileScanResult()

    init(source: FabfileSource, configuration: SyntaxBuildConfiguration) {
        self.source = source
        self.configuration = configuration
        tree = Parser.parse(source: source.text)
        converter = SourceLocationConverter(fileName: source.path, tree: tree)
    }

    mutating func read() throws(FabfileScanProblem) -> FabfileScanResult {
        try checkLexicalErrors()
        try read(tree.statements)
        return result
    }

    /// Reports what makes the rest of the file unreadable (an unclosed string or comment) at its line.
    func checkLexicalErrors() throws(FabfileScanProblem) {
        // Other lexical errors are the compiler's to report: they leave the declarations readable.
        for token in tree.tokens(viewMode: .sourceAccurate) {
            if let diagnostic = token.tokenDiagnostic, diagnostic.kind == .unterminatedBlockComment {
                let position = token.position.advanced(by: Int(diagnostic.byteOffset))
                throw FabfileScanProblem("this /* comment is never closed; fix it and run fab again.",
                                         path: source.path, line: converter.location(for: position).line)
            }
        }
        for literal in StringLiterals.find(in: tree) where literal.closingQuote.presence == .missing {
            throw invalid("this string literal is never closed; fix it and run fab again.", at: literal)
        }
    }

    mutating func read(_ items: CodeBlockItemListSyntax) throws(FabfileScanProblem) {
        for item in items {
            guard case .decl(let declaration) = item.item else { continue }
            if let function = declaration.as(FunctionDeclSyntax.self) {
                if let task = try readFunction(function) { result.tasks.append(task) }
            } else if let conditional = declaration.as(IfConfigDeclSyntax.self) {
                // Only the clause the compiler compiles exists; the others may name other platforms' APIs.
                if case .statements(let active)? = conditional.activeClause(in: configuration).clause?.elements {
                    try read(active)
                }
            } else if let importDeclaration = declaration.as(ImportDeclSyntax.self) {
                if let module = importDeclaration.path.first?.name.text, !result.imports.contains(module) {
                    result.imports.append(module)
                }
            } else if let variable = declaration.as(VariableDeclSyntax.self) {
                try readVariable(variable)
            }
        }
    }

    mutating func readVariable(_ variable: VariableDeclSyntax) throws(FabfileScanProblem) {
        let names = variable.bindings.compactMap { $0.pattern.as(IdentifierPatternSyntax.self)?.identifier.text }
        guard names.contains("roledefs") else { return }
        if let hidden = variable.modifiers.first(where: { ["private", "fileprivate"].contains($0.name.text) }) {
            throw invalid("roledefs is \(hidden.name.text), so fab cannot read it; remove that modifier.",
                          at: variable.bindingSpecifier)
        }
        result.roledefs = SourceLocation(path: source.path, line: line(of: variable.bindingSpecifier))
    }

    /// The task a function declares, or nil when it is not a task.
    func readFunction(_ function: FunctionDeclSyntax) throws(FabfileScanProblem) -> ScannedTask? {
        // An operator function is never a task.
        guard case .identifier = function.name.tokenKind else { return nil }
        let signature = function.signature
        let parameters = signature.parameterClause.parameters
        guard let context = parameters.first, Self.isFabType(Self.text(context.type)) else { return nil }
        if function.modifiers.contains(where: { ["private", "fileprivate"].contains($0.name.text) }) { return nil }
        // A function called for its result is a helper: a task's result would have nowhere to go.
        if let returnType = signature.returnClause?.type,
           !["Void", "Swift.Void", "()", "Never", "Swift.Never"].contains(Self.text(returnType)) {
            return nil
        }

        let functionName = function.name.text
        let name = Self.unquoted(functionName)
        if function.genericParameterClause != nil {
            throw invalid("task '\(name)' is generic, and fab cannot choose its type arguments from the command line; remove the generic parameters, or make it private if it is a helper.",
                          at: function.funcKeyword)
        }
        var taskParameters: [ScannedTask.Parameter] = []
        for parameter in parameters.dropFirst() {
            taskParameters.append(try readParameter(parameter, task: name))
        }
        if signature.parameterClause.hasError {
            throw invalid("fab cannot read this parameter of task '\(name)'; write it as `name: Type` or `name: Type = default`.",
                          at: signature.parameterClause)
        }
        let effects = signature.effectSpecifiers
        let isolated = function.attributes.contains { element in
            guard case .attribute(let attribute) = element else { return false }
            return Self.text(attribute.attributeName).hasSuffix("Actor")
        }
        return ScannedTask(
            name: name, functionName: functionName, path: source.path, line: line(of: function.funcKeyword),
            contextLabel: context.firstName.text == "_" ? nil : context.firstName.text,
            parameters: taskParameters,
            documentation: TaskDocumentation(parsing: Self.documentationText(function.leadingTrivia)),
            isAsync: effects?.asyncSpecifier != nil, isThrowing: effects?.throwsClause != nil,
            isActorIsolated: isolated)
    }

    /// One parameter after the `Fab` context, checked against what a command line can provide.
    func readParameter(_ parameter: FunctionParameterSyntax, task: String) throws(FabfileScanProblem) -> ScannedTask.Parameter {
        guard !parameter.hasError, parameter.firstName.presence == .present,
              parameter.colon.presence == .present else {
            throw invalid("fab cannot read this parameter of task '\(task)'; write it as `name: Type` or `name: Type = default`.",
                          at: parameter)
        }
        let name = Self.unquoted((parameter.secondName ?? parameter.firstName).text)
        let typeName = Self.text(parameter.type)
        if let problem = Self.problem(with: parameter.type, isVariadic: parameter.ellipsis != nil) {
            throw invalid("parameter '\(name)' of task '\(task)' \(problem); task parameters are values fab reads from the command line: \(Self.supportedTypes).",
                          at: parameter)
        }
        return ScannedTask.Parameter(label: parameter.firstName.text == "_" ? nil : parameter.firstName.text,
                                     name: name, typeName: typeName,
                                     defaultValue: parameter.defaultValue.map { $0.value.trimmedDescription },
                                     line: line(of: parameter))
    }

    /// The types a task parameter may have, as error messages list them.
    static let supportedTypes = "String, Int, Double, Bool, their optionals (String?), or a type of your own conforming to TaskArgumentValue"

    /// Why a parameter of this type cannot come from the command line, or nil when it may.
    ///
    /// Named types (`String`, `Int?`, `Mode`, `Dictionary<String, Int>`) pass: whether a type conforms to
    /// `TaskArgumentValue` is the compiler's to check, and it reports that at the parameter's line.
    static func problem(with type: TypeSyntax, isVariadic: Bool) -> String? {
        if isVariadic { return "is variadic" }
        if let attributed = type.as(AttributedTypeSyntax.self) {
            if attributed.specifiers.contains(where: { Self.text($0) == "inout" }) { return "is inout" }
            if attributed.baseType.is(FunctionTypeSyntax.self) { return "is a function" }
            return "has an attribute (\(Self.text(type)))"
        }
        var base = type
        if let optional = type.as(OptionalTypeSyntax.self) {
            base = optional.wrappedType
        } else if let optional = type.as(ImplicitlyUnwrappedOptionalTypeSyntax.self) {
            base = optional.wrappedType
        } else if let generic = type.as(IdentifierTypeSyntax.self), ["Optional"].contains(generic.name.text),
                  let argument = generic.genericArgumentClause?.arguments.first, case .type(let wrapped) = argument.argument {
            base = wrapped
        }
        if base.is(FunctionTypeSyntax.self) { return "is a function" }
        if base.is(IdentifierTypeSyntax.self) || base.is(MemberTypeSyntax.self) { return nil }
        if base.is(OptionalTypeSyntax.self) || base.is(ImplicitlyUnwrappedOptionalTypeSyntax.self) {
            return "is an optional of an optional (\(Self.text(type)))"
        }
        if base.is(ArrayTypeSyntax.self) { return "is an array (\(Self.text(type)))" }
        if base.is(DictionaryTypeSyntax.self) { return "is a dictionary (\(Self.text(type)))" }
        if base.is(TupleTypeSyntax.self) { return "is a tuple (\(Self.text(type)))" }
        return "has the type \(Self.text(type))"
    }

    func line(of node: some SyntaxProtocol) -> Int {
        node.startLocation(converter: converter, afterLeadingTrivia: true).line
    }

    func invalid(_ message: String, at node: some SyntaxProtocol) -> FabfileScanProblem {
        FabfileScanProblem(message, path: source.path, line: line(of: node))
    }

    /// A node's source text without surrounding trivia, with whitespace runs collapsed to one space.
    static func text(_ node: some SyntaxProtocol) -> String {
        node.trimmedDescription
            .split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" || $0 == "\r" }).joined(separator: " ")
    }

    static func unquoted(_ name: String) -> String {
        name.hasPrefix("`") && name.hasSuffix("`") && name.count > 1 ? String(name.dropFirst().dropLast()) : name
    }

    static func isFabType(_ typeName: String) -> Bool {
        typeName == "Fab" || typeName == "FabCore.Fab"
    }

    /// The text of the doc comment directly above a declaration, without its `///` or `/** */` markers, dedented.
    ///
    /// `///` lines form one comment only when they are on consecutive lines; a `/** */` block replaces what
    /// came before it; ordinary comments in between do not count.
    static func documentationText(_ trivia: Trivia) -> String {
        var lines: [Substring] = []
        var lastWasDocLine = false
        var newlinesSinceDocLine = 0
        for piece in trivia {
            switch piece {
            case .docLineComment(let text):
                if !lastWasDocLine || newlinesSinceDocLine != 1 { lines = [] }
                var line = Substring(text).dropFirst(3)
                if line.hasSuffix("\r") { line = line.dropLast() }
                lines.append(line)
                lastWasDocLine = true
                newlinesSinceDocLine = 0
            case .docBlockComment(let text):
                lines = blockLines(text)
                lastWasDocLine = false
            case .newlines(let count), .carriageReturnLineFeeds(let count), .carriageReturns(let count):
                newlinesSinceDocLine += count
            default:
                break
            }
        }
        let isBlank = { (line: Substring) in line.allSatisfy { $0 == " " || $0 == "\t" } }
        let indent = lines.filter { !isBlank($0) }
            .map { $0.prefix { $0 == " " || $0 == "\t" }.count }
            .min() ?? 0
        return lines.map { isBlank($0) ? "" : String($0.dropFirst(indent)) }.joined(separator: "\n")
    }

    /// The lines of a `/** */` comment without its markers and the ` * ` decoration of continuation lines.
    static func blockLines(_ text: String) -> [Substring] {
        var body = Substring(text.dropFirst(3).dropLast(2).filter { $0 != "\r" })
        if body.hasSuffix("*") { body = body.dropLast() }
        let lines = body.split(separator: "\n", omittingEmptySubsequences: false)
        let continuation = lines.dropFirst().filter { !$0.allSatisfy { $0 == " " || $0 == "\t" } }
        guard !continuation.isEmpty,
              continuation.allSatisfy({ $0.drop { $0 == " " || $0 == "\t" }.hasPrefix("*") }) else { return lines }
        return [lines[0]] + lines.dropFirst().map { line in
            let rest = line.drop { $0 == " " || $0 == "\t" }
            return rest.hasPrefix("*") ? rest.dropFirst() : rest
        }
    }
}

/// Every string literal in a tree, to find one left open.
private final class StringLiterals: SyntaxVisitor {
    var found: [StringLiteralExprSyntax] = []

    static func find(in tree: SourceFileSyntax) -> [StringLiteralExprSyntax] {
        let visitor = StringLiterals(viewMode: .sourceAccurate)
        visitor.walk(tree)
        return visitor.found
    }

    override func visit(_ node: StringLiteralExprSyntax) -> SyntaxVisitorContinueKind {
        found.append(node)
        return .visitChildren
    }
}
