import FabCore
import FabSSH
import Foundation

/// The ordered variables a config package's templates are rendered with, as Buildout users write them:
/// a later variable may use earlier ones, and one variable can feed several files.
///
/// ```swift
/// var variables = TemplateVariables()
/// variables.value("port", 8471)                            // data: lands as written
/// variables.derived("bind", "127.0.0.1:{{ port }}")        // a template over the variables before it
/// variables.secret("db_password", Secret(readPasswordFromVault()))   // shown as *** in every plan and log
/// ```
///
/// A ``Definition/value(_:)`` or ``Definition/secret(_:)`` is data: quotes, `$()`, newlines and
/// `{{` land in the rendered file byte for byte. Only a ``Definition/derived(_:)`` variable is a
/// template, written by the fabfile's author; a derived variable that uses a secret is secret too.
public struct TemplateVariables: Sendable {
    /// How a variable gets its value.
    public enum Definition: Sendable {
        /// A literal value.
        case value(String)
        /// A Stencil template over the variables defined before this one.
        case derived(String)
        /// A literal value that plans and logs show as `***`.
        case secret(Secret)
    }

    /// One variable, in the order it was defined.
    public struct Variable: Sendable {
        /// Its name: letters, digits and `_`, not starting with a digit.
        public var name: String
        /// How it gets its value.
        public var definition: Definition
    }

    /// The variables in definition order.
    public private(set) var variables: [Variable] = []

    /// No variables; add them in order with ``value(_:_:)``, ``derived(_:_:)`` and ``secret(_:_:)``.
    public init() {}

    /// Defines `name` as the literal `value` (its `description`: `8471` for an Int).
    public mutating func value(_ name: String, _ value: some CustomStringConvertible) {
        variables.append(Variable(name: name, definition: .value(value.description)))
    }

    /// Defines `name` as a Stencil template over the variables defined before it (`"127.0.0.1:{{ port }}"`).
    public mutating func derived(_ name: String, _ template: String) {
        variables.append(Variable(name: name, definition: .derived(template)))
    }

    /// Defines `name` as a secret literal: it lands in the rendered files, but every plan and log shows `***`.
    public mutating func secret(_ name: String, _ value: Secret) {
        variables.append(Variable(name: name, definition: .secret(value)))
    }

    /// Defines `name` as a secret literal given as a string (a fabfile need not import FabSSH for ``Secret``).
    public mutating func secret(_ name: String, _ value: String) {
        secret(name, Secret(value))
    }

    /// Words that cannot name a variable: Stencil's operators and literals, and the loop variable.
    static let reservedNames: Set<String> = ["and", "or", "not", "in", "if", "else", "true", "false", "forloop", "reversed", "where"]

    /// Checks every name: an identifier (`[A-Za-z_][A-Za-z0-9_]*`) that is not reserved and not defined twice.
    /// - Throws: ``FabError`` `.invalidArgument` naming the first bad name.
    public func validateNames(package: String) throws {
        var seen = Set<String>()
        for variable in variables {
            let name = variable.name
            guard Self.isIdentifier(name) else {
                throw FabError(.invalidArgument, "the variable name '\(Self.printable(name))' of \(package) is not usable in a template; use letters, digits and _ (not starting with a digit), such as listen_port.")
            }
            guard !Self.reservedNames.contains(name) else {
                throw FabError(.invalidArgument, "the variable name '\(name)' of \(package) is a word Stencil templates reserve; choose another name.")
            }
            guard seen.insert(name).inserted else {
                throw FabError(.invalidArgument, "the variable '\(name)' of \(package) is defined twice; define it once (a later variable can use it).")
            }
        }
    }

    /// Resolves every variable in order: a derived one is rendered with the values before it, and may
    /// use only those.
    /// - Throws: ``FabError`` `.invalidArgument` for a bad name, `.template` for a derived variable that
    ///   uses an undefined or later variable, or that Stencil cannot render.
    func resolve(package: String) throws -> ResolvedVariables {
        try validateNames(package: package)
        var resolved = ResolvedVariables()
        for variable in variables {
            switch variable.definition {
            case let .value(text):
                resolved.append(variable.name, text, secret: false)
            case let .secret(secret):
                resolved.append(variable.name, secret.withRevealed { $0 }, secret: true)
            case let .derived(template):
                let rendered = try TemplateRenderer.render(template, named: "the variable '\(variable.name)' of \(package)",
                                                           with: resolved, laterNames: Set(variables.map(\.name)))
                resolved.append(variable.name, rendered.text, secret: rendered.usedSecret)
            }
        }
        return resolved
    }

    /// The variables as a plan shows them, in order: `port = 8471`, `bind = 127.0.0.1:{{ port }} -> 127.0.0.1:8471`,
    /// `db_password = ***` (a derived variable that uses a secret shows its template only).
    /// - Throws: as ``resolve(package:)``.
    public func describe(package: String) throws -> [String] {
        let resolved = try resolve(package: package)
        return variables.map { variable in
            let value = resolved.shown(variable.name)
            if case let .derived(template) = variable.definition {
                return "\(variable.name) = \(Self.printable(template))" + (resolved.isSecret(variable.name) ? " (uses a secret)" : " -> \(value)")
            }
            return "\(variable.name) = \(value)"
        }
    }

    static func isIdentifier(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first.isASCII,
              first == "_" || first.properties.isAlphabetic else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCII && ($0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0)) }
    }

    /// A value with line breaks and control characters escaped, for messages and plans.
    static func printable(_ value: String) -> String {
        String(value.debugDescription.dropFirst().dropLast())
    }
}

/// The variables' values after resolution, in order, with which are secret.
struct ResolvedVariables: Sendable {
    private(set) var names: [String] = []
    private(set) var values: [String: String] = [:]
    private(set) var secrets: Set<String> = []

    mutating func append(_ name: String, _ value: String, secret: Bool) {
        names.append(name)
        values[name] = value
        if secret { secrets.insert(name) }
    }

    func isSecret(_ name: String) -> Bool { secrets.contains(name) }

    /// The value as a plan or log may show it: `***` for a secret, escaped otherwise.
    func shown(_ name: String) -> String {
        isSecret(name) ? "***" : TemplateVariables.printable(values[name] ?? "")
    }
}
