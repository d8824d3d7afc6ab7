/// What a task's doc comment says, split into the parts `fab` uses.
///
/// ```swift
/// /// Build the package on the build VM.
/// ///
/// /// Longer help.
/// /// - Hosts: buildvm
/// /// - Roles: web
/// /// - Parameter branch: the branch to build
/// ```
///
/// `- Parameters:` followed by indented `- name: help` items works as well. The `Hosts`, `Roles` and
/// parameter lines are taken out of ``help``; other callouts (`- Note:`) stay in it.
public struct TaskDocumentation: Sendable, Equatable, Codable {
    /// The first line of the description.
    public var summary: String
    /// The description: the doc comment without the `Hosts`, `Roles` and parameter lines.
    public var help: String
    /// Hosts from `- Hosts:` lines, in order.
    public var hosts: [String]
    /// Roles from `- Roles:` lines, in order.
    public var roles: [String]
    /// Help for each parameter, by parameter name.
    public var parameterHelp: [String: String]

    /// Documentation from its parts.
    public init(summary: String = "", help: String = "", hosts: [String] = [], roles: [String] = [],
                parameterHelp: [String: String] = [:]) {
        self.summary = summary
        self.help = help
        self.hosts = hosts
        self.roles = roles
        self.parameterHelp = parameterHelp
    }

    /// Parses doc comment text whose comment markers (`///`, `/** */`) are already removed.
    public init(parsing text: String) {
        self.init()
        /// The callout that indented continuation lines belong to.
        enum Callout { case none, hosts, roles, parameter(String) }
        var prose: [Substring] = []
        var callout = Callout.none
        var calloutIndent = 0
        // The indentation of a `- Parameters:` line whose items are being read.
        var parameterListIndent: Int?

        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            let indent = line.prefix { $0 == " " || $0 == "\t" }.count
            let trimmed = line.drop { $0 == " " || $0 == "\t" }

            if let item = Self.listItem(trimmed), let (key, value) = Self.keyValue(item) {
                if let listIndent = parameterListIndent, indent > listIndent {
                    parameterHelp[key] = value
                    callout = .parameter(key)
                    calloutIndent = indent
                    continue
                }
                parameterListIndent = nil
                let lowered = key.lowercased()
                var recognized = true
                if lowered == "hosts" || lowered == "host" {
                    hosts += Self.names(value)
                    callout = .hosts
                } else if lowered == "roles" || lowered == "role" {
                    roles += Self.names(value)
                    callout = .roles
                } else if lowered == "parameters", value.isEmpty {
                    parameterListIndent = indent
                    callout = .none
                } else if lowered.hasPrefix("parameter ") {
                    let name = String(key.dropFirst("parameter ".count)).trimmingWhitespace()
                    parameterHelp[name] = value
                    callout = .parameter(name)
                } else {
                    recognized = false
                }
                if recognized {
                    calloutIndent = indent
                    continue
                }
            } else if !trimmed.isEmpty, indent > calloutIndent {
                switch callout {
                case .hosts:
                    hosts += Self.names(String(trimmed))
                    continue
                case .roles:
                    roles += Self.names(String(trimmed))
                    continue
                case .parameter(let name):
                    let previous = parameterHelp[name, default: ""]
                    parameterHelp[name] = previous.isEmpty ? String(trimmed) : previous + " " + trimmed
                    continue
                case .none:
                    break
                }
            }
            callout = .none
            parameterListIndent = nil
            prose.append(line)
        }

        let lines = Self.trimBlankLines(prose)
        summary = lines.first.map { String($0).trimmingWhitespace() } ?? ""
        help = lines.map { String($0) }.joined(separator: "\n")
    }

    /// `- text`, `* text` or `+ text` → `text`.
    private static func listItem(_ line: Substring) -> Substring? {
        guard let first = line.first, first == "-" || first == "*" || first == "+" else { return nil }
        let rest = line.dropFirst()
        guard rest.first == " " || rest.first == "\t" else { return nil }
        return rest.drop { $0 == " " || $0 == "\t" }
    }

    /// `key: value` → (key, value), both trimmed.
    private static func keyValue(_ item: Substring) -> (String, String)? {
        guard let colon = item.firstIndex(of: ":") else { return nil }
        let key = String(item[..<colon]).trimmingWhitespace()
        guard !key.isEmpty, !key.contains("`") else { return nil }
        return (key, String(item[item.index(after: colon)...]).trimmingWhitespace())
    }

    /// `web1, web2 web3` → `["web1", "web2", "web3"]`.
    private static func names(_ value: String) -> [String] {
        value.split { $0 == "," || $0 == " " || $0 == "\t" }.map(String.init)
    }

    private static func trimBlankLines(_ lines: [Substring]) -> [Substring] {
        var lines = lines
        while let first = lines.first, first.allSatisfy({ $0 == " " || $0 == "\t" }) { lines.removeFirst() }
        while let last = lines.last, last.allSatisfy({ $0 == " " || $0 == "\t" }) { lines.removeLast() }
        return lines
    }
}

extension String {
    /// The string without leading and trailing spaces, tabs and newlines.
    package func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == "\r" }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else {
            return ""
        }
        return String(self[first...last])
    }
}
