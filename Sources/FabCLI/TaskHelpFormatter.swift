import FabCore

/// Renders task lists (`fab -l`) and task details (`fab -d TASK`) as text.
public enum TaskHelpFormatter {
    /// The task list: one line per task with its summary.
    public static func list(_ registry: FabfileRegistry, fabfilePath: String) -> String {
        guard !registry.tasks.isEmpty else {
            return """
            The fabfile \(fabfilePath) has no tasks. A task is a top-level function whose first parameter is a Fab
            and that returns nothing (private functions and functions that return a value are helpers):

                /// Say hello.
                func hello(_ fab: Fab, name: String = "world") async throws { ... }

            """
        }
        let width = registry.tasks.map(\.name.count).max() ?? 0
        var out = "Available tasks:\n\n"
        for task in registry.tasks {
            let name = task.name.padding(to: width)
            out += task.summary.isEmpty ? "    \(task.name)\n" : "    \(name)    \(task.summary)\n"
        }
        if !registry.roledefs.isEmpty {
            out += "\nRoles:\n\n"
            let roleWidth = registry.roledefs.keys.map(\.count).max() ?? 0
            for role in registry.roledefs.keys.sorted() {
                out += "    \(role.padding(to: roleWidth))    \(registry.roledefs[role, default: []].joined(separator: ", "))\n"
            }
        }
        out += "\nRun one with fab TASK; fab -d TASK shows its help and parameters.\n"
        out += "Tasks are the fabfile's top-level functions that take a Fab first and return nothing; private functions and functions that return a value are helpers.\n"
        return out
    }

    /// A task's full help: description, hosts and roles, parameters and how to pass them.
    public static func details(_ task: TaskDefinition) -> String {
        var out = "Task \(task.name)\n"
        if !task.help.isEmpty {
            out += "\n" + task.help.split(separator: "\n", omittingEmptySubsequences: false)
                .map { $0.isEmpty ? "" : "    \($0)" }.joined(separator: "\n") + "\n"
        }
        if !task.hosts.isEmpty || !task.roles.isEmpty {
            out += "\n"
            if !task.hosts.isEmpty { out += "Hosts: \(task.hosts.joined(separator: ", "))\n" }
            if !task.roles.isEmpty { out += "Roles: \(task.roles.joined(separator: ", "))\n" }
            out += "(these win over -H and -R; \(task.name):hosts=H1;H2 or \(task.name):roles=R runs it elsewhere)\n"
        }
        if task.parameters.isEmpty {
            out += "\nParameters: none\n\nUsage: fab \(task.name)\n"
            return out
        }
        out += "\nParameters:\n" + parameterTable(task.parameters)
        out += "\nUsage: " + usage(task, fabricStyle: true) + "\n"
        out += "       " + usage(task, fabricStyle: false) + "\n"
        if task.parameters.contains(where: { isBool($0) }) {
            out += "\nBool values: yes/no, true/false, on/off, 1/0; --NAME alone means yes, --no-NAME means no.\n"
        }
        return out
    }

    /// The parameters, one per line: name, type, required or default, help.
    public static func parameterTable(_ parameters: [TaskParameter]) -> String {
        let rows = parameters.map { parameter -> [String] in
            let need = parameter.needsValue
                ? "required"
                : parameter.defaultValue.map { "default: \($0)" } ?? "optional"
            return [parameter.name, parameter.typeName, need, parameter.help]
        }
        var widths = [0, 0, 0]
        for row in rows {
            for column in 0..<3 { widths[column] = max(widths[column], row[column].count) }
        }
        var out = ""
        for row in rows {
            var line = "    " + row[0].padding(to: widths[0]) + "  " + row[1].padding(to: widths[1]) + "  "
            line += row[3].isEmpty ? row[2] : row[2].padding(to: widths[2]) + "  " + row[3]
            out += line + "\n"
        }
        return out
    }

    /// `fab deb:count=VALUE[,branch=VALUE]` or `fab deb --count VALUE [--branch VALUE]`.
    static func usage(_ task: TaskDefinition, fabricStyle: Bool) -> String {
        let required = task.parameters.filter(\.needsValue)
        let optional = task.parameters.filter { !$0.needsValue }
        if fabricStyle {
            let pairs = { (parameters: [TaskParameter]) in
                parameters.map { "\($0.name)=\(isBool($0) ? "yes" : placeholder($0))" }.joined(separator: ",")
            }
            var text = "fab \(task.name):" + pairs(required)
            if !optional.isEmpty { text += "[" + (required.isEmpty ? "" : ",") + pairs(optional) + "]" }
            return text
        }
        var text = "fab \(task.name)"
        for parameter in required { text += " --\(parameter.name) \(placeholder(parameter))" }
        for parameter in optional {
            text += isBool(parameter) ? " [--\(parameter.name)]" : " [--\(parameter.name) \(placeholder(parameter))]"
        }
        return text
    }

    /// `VALUE`, or `N` for numbers.
    static func placeholder(_ parameter: TaskParameter) -> String {
        switch RegistrationGenerator.valueType(of: parameter.typeName).base {
        case "Int", "Swift.Int", "Double", "Swift.Double": return "N"
        default: return "VALUE"
        }
    }

    static func isBool(_ parameter: TaskParameter) -> Bool {
        let base = RegistrationGenerator.valueType(of: parameter.typeName).base
        return base == "Bool" || base == "Swift.Bool"
    }
}

extension TaskParameter {
    /// Whether the command line must give a value: no default, and not optional (`T?`, `T!`, `Optional<T>`).
    var needsValue: Bool {
        defaultValue == nil && !RegistrationGenerator.valueType(of: typeName).isOptional
    }
}

extension String {
    /// The string padded with spaces to at least `width` characters.
    func padding(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }
}
