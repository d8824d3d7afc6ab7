import FabCore
import FabfileModel

/// Parses the task part of a command line: task names with their arguments, in either syntax.
///
/// ```
/// fab deploy:main,fast=yes push                 Fabric style: positional values, then NAME=VALUE
/// fab deploy --branch main --fast push          option style: --NAME VALUE, --NAME=VALUE, --flag, --no-flag
/// fab greet:name=Smith\,\ Jr                    a backslash escapes , = : and itself
/// fab greet:,Jr                                 an empty positional value is a value ("")
/// fab 'deploy:main,hosts=web1;web2,roles=db'    this invocation's own hosts and roles (Fabric 1)
/// ```
///
/// In the colon syntax `host`, `hosts`, `role` and `roles` are not parameters: as in Fabric 1 they give the
/// invocation its own host list, `;`-separated, which wins over the task's own hosts and over `-H`/`-R`.
///
/// Option names may be written as declared (`dryRun`), in kebab case (`dry-run`) or snake case (`dry_run`).
/// A `Bool` option without a value means yes. Everything is checked before anything runs: unknown tasks
/// and parameters, missing required arguments, and values that are not valid `String`, `Int`, `Double` or
/// `Bool` values (other ``TaskArgumentValue`` types are checked by the task's body, before its function runs).
public enum TaskCommandLine {
    /// What the task words ask for.
    public struct Parsed: Sendable, Equatable {
        /// The tasks to run, in order.
        public var invocations: [TaskInvocation]
        /// A task whose help was asked for with `TASK --help`.
        public var helpTask: String?

        /// A result from its parts.
        public init(invocations: [TaskInvocation] = [], helpTask: String? = nil) {
            self.invocations = invocations
            self.helpTask = helpTask
        }
    }

    /// Parses and checks the words after the global options.
    /// - Parameters:
    ///   - words: the command-line words from the first task name on.
    ///   - tasks: the fabfile's tasks.
    ///   - globalOptions: spellings of global options, to explain that they go before the first task.
    /// - Throws: ``FabCLIError`` (`unknownTask`, `invalidTaskArgument`) describing the first problem.
    public static func parse(_ words: [String], tasks: [TaskDefinition],
                             globalOptions: Set<String> = []) throws(FabCLIError) -> Parsed {
        var parsed = Parsed()
        var current: (task: TaskDefinition, values: [String: String])?
        var hostList: (hosts: [String], roles: [String]) = ([], [])
        var index = 0

        func finish() {
            if let current {
                parsed.invocations.append(TaskInvocation(taskName: current.task.name, values: current.values,
                                                         hosts: hostList.hosts, roles: hostList.roles))
            }
            current = nil
            hostList = ([], [])
        }

        while index < words.count {
            let word = words[index]
            index += 1
            if word.hasPrefix("-"), word != "-" {
                guard var active = current else {
                    throw FabCLIError(.invalidTaskArgument,
                                      "\(word) is not an option of fab; global options go before the first task (see fab --help), and task options after their task.")
                }
                if word == "--help" || word == "-h" {
                    parsed.helpTask = active.task.name
                    return parsed
                }
                guard word.hasPrefix("--"), word.count > 2 else {
                    let hint = globalOptions.contains(word) ? " \(word) is a global option: put it before the first task." : ""
                    throw FabCLIError(.invalidTaskArgument,
                                      "task '\(active.task.name)' got \(word), but task options are written --NAME VALUE.\(hint)\n"
                                        + parameterSummary(active.task))
                }
                let body = word.dropFirst(2)
                let spelled: String
                var inline: String?
                if let equals = body.firstIndex(of: "=") {
                    spelled = String(body[..<equals])
                    inline = String(body[body.index(after: equals)...])
                } else {
                    spelled = String(body)
                }
                var parameter = resolve(spelled, in: active.task.parameters)
                var value: String
                if parameter == nil, spelled.hasPrefix("no-"), inline == nil,
                   let negated = resolve(String(spelled.dropFirst(3)), in: active.task.parameters),
                   TaskHelpFormatter.isBool(negated) {
                    parameter = negated
                    value = "false"
                } else if let found = parameter {
                    if let inline {
                        value = inline
                    } else if TaskHelpFormatter.isBool(found) {
                        value = "true"
                    } else if index < words.count {
                        value = words[index]
                        index += 1
                    } else {
                        throw FabCLIError(.invalidTaskArgument,
                                          "task '\(active.task.name)': --\(spelled) needs a value (--\(spelled) \(TaskHelpFormatter.placeholder(found)) or --\(spelled)=\(TaskHelpFormatter.placeholder(found))).\n"
                                            + parameterSummary(active.task))
                    }
                } else {
                    throw unknownParameter(spelled, word: word, task: active.task, globalOptions: globalOptions)
                }
                guard let parameter else { continue }
                try assign(value, to: parameter, in: &active)
                current = active
                continue
            }

            finish()
            let (name, arguments) = splitTaskWord(word)
            guard let task = tasks.first(where: { $0.name == name }) else {
                throw unknownTask(name, tasks: tasks)
            }
            var active = (task: task, values: [String: String]())
            var position = 0
            for argument in arguments {
                if let key = argument.key, let kind = HostListKey(rawValue: key) {
                    try addHostList(argument.value, kind: kind, word: word, task: task, to: &hostList)
                } else if let key = argument.key {
                    guard let parameter = resolve(key, in: task.parameters) else {
                        throw unknownParameter(key, word: "\(key)=", task: task, globalOptions: [])
                    }
                    try assign(argument.value, to: parameter, in: &active)
                } else {
                    guard position < task.parameters.count else {
                        throw FabCLIError(.invalidTaskArgument,
                                          "task '\(task.name)' takes \(task.parameters.count) parameter\(task.parameters.count == 1 ? "" : "s"), but \(word) gives it more values.\n"
                                            + parameterSummary(task))
                    }
                    try assign(argument.value, to: task.parameters[position], in: &active)
                    position += 1
                }
            }
            current = active
        }
        finish()

        for invocation in parsed.invocations {
            guard let task = tasks.first(where: { $0.name == invocation.taskName }) else { continue }
            for parameter in task.parameters where parameter.needsValue && invocation.arguments.values[parameter.name] == nil {
                throw FabCLIError(.invalidTaskArgument,
                                  "task '\(task.name)' needs a value for '\(parameter.name)' (\(parameter.typeName)); give it as \(task.name):\(parameter.name)=\(TaskHelpFormatter.placeholder(parameter)) or \(task.name) --\(parameter.name) \(TaskHelpFormatter.placeholder(parameter)).\n"
                                    + parameterSummary(task))
            }
        }
        return parsed
    }

    /// The Fabric 1 names that give one invocation its own host list, in the colon syntax only.
    enum HostListKey: String {
        case host, hosts, role, roles
    }

    /// Adds `a;b;c` to the invocation's hosts or roles after checking each name.
    private static func addHostList(_ value: String, kind: HostListKey, word: String, task: TaskDefinition,
                                    to list: inout (hosts: [String], roles: [String])) throws(FabCLIError) {
        let names = value.split(separator: ";", omittingEmptySubsequences: false).map { String($0).trimmingWhitespace() }
        for name in names {
            switch kind {
            case .host, .hosts:
                if let problem = HostList.problem(with: name) {
                    throw FabCLIError(.invalidTaskArgument,
                                      "\(word): \(kind.rawValue)=\(value): \(problem); separate hosts with ';' (and quote the word, so the shell keeps the ';').")
                }
                if !list.hosts.contains(name) { list.hosts.append(name) }
            case .role, .roles:
                if name.isEmpty {
                    throw FabCLIError(.invalidTaskArgument,
                                      "\(word): \(kind.rawValue)= takes role names separated by ';', without empty names.")
                }
                if !list.roles.contains(name) { list.roles.append(name) }
            }
        }
    }

    /// Records a value for a parameter after checking it parses.
    private static func assign(_ value: String, to parameter: TaskParameter,
                               in active: inout (task: TaskDefinition, values: [String: String])) throws(FabCLIError) {
        if active.values[parameter.name] != nil {
            throw FabCLIError(.invalidTaskArgument,
                              "task '\(active.task.name)' got '\(parameter.name)' twice; give each parameter once.\n"
                                + parameterSummary(active.task))
        }
        if let problem = problem(with: value, for: parameter) {
            throw FabCLIError(.invalidTaskArgument,
                              "task '\(active.task.name)': '\(value)' is not a valid value for '\(parameter.name)' (\(parameter.typeName)); \(problem).\n"
                                + parameterSummary(active.task))
        }
        active.values[parameter.name] = value
    }

    /// Why a value does not parse as the parameter's type, or nil when it does (or fab cannot tell).
    static func problem(with value: String, for parameter: TaskParameter) -> String? {
        switch RegistrationGenerator.valueType(of: parameter.typeName).base {
        case "Int", "Swift.Int":
            return Int(taskArgument: value) == nil ? "give a whole number such as 3" : nil
        case "Double", "Swift.Double":
            return Double(taskArgument: value) == nil ? "give a number such as 2.5" : nil
        case "Bool", "Swift.Bool":
            return Bool(taskArgument: value) == nil ? "give yes or no (or true/false, on/off, 1/0)" : nil
        default:
            return nil
        }
    }

    /// The parameter a command-line name refers to: exact, or kebab case or snake case for camel case.
    static func resolve(_ spelled: String, in parameters: [TaskParameter]) -> TaskParameter? {
        if let exact = parameters.first(where: { $0.name == spelled }) { return exact }
        let wanted = kebabCase(spelled)
        return parameters.first { kebabCase($0.name) == wanted }
    }

    /// `dryRun` → `dry-run`; `dry_run` → `dry-run`; `maxURLCount` → `max-url-count`.
    static func kebabCase(_ name: String) -> String {
        let characters = Array(name)
        var out = ""
        for (index, character) in characters.enumerated() {
            if character == "_" || character == "-" {
                if !out.isEmpty, out.last != "-" { out += "-" }
                continue
            }
            if character.isUppercase, index > 0, out.last != "-" {
                let previous = characters[index - 1]
                let next = index + 1 < characters.count ? characters[index + 1] : nil
                if previous.isLowercase || previous.isNumber || (previous.isUppercase && next?.isLowercase == true) {
                    out += "-"
                }
            }
            out += character.lowercased()
        }
        return out
    }

    /// `name:a,b=c` → (`name`, [(nil, "a"), ("b", "c")]), with backslash escapes removed; `name:,x` → (`name`, [(nil, ""), (nil, "x")]).
    static func splitTaskWord(_ word: String) -> (name: String, arguments: [(key: String?, value: String)]) {
        var name = ""
        var rest: Substring = ""
        var escaped = false
        for (offset, character) in word.enumerated() {
            if escaped {
                name.append(character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == ":" {
                rest = word.dropFirst(offset + 1)
                break
            } else {
                name.append(character)
            }
        }
        var arguments: [(key: String?, value: String)] = []
        var key: String?
        var text = ""
        escaped = false
        // Every comma-separated piece is an argument, empty ones too (`task:,,x` gives "", "", "x",
        // as in Fabric); only a bare `task:` gives none.
        func endArgument() {
            if !rest.isEmpty { arguments.append((key, text)) }
            key = nil
            text = ""
        }
        for character in rest {
            if escaped {
                text.append(character)
                escaped = false
            } else if character == "\\" {
                escaped = true
            } else if character == "," {
                endArgument()
            } else if character == "=", key == nil {
                key = text
                text = ""
            } else {
                text.append(character)
            }
        }
        if escaped { text.append("\\") }
        endArgument()
        return (name, arguments)
    }

    static func unknownTask(_ name: String, tasks: [TaskDefinition]) -> FabCLIError {
        if tasks.isEmpty {
            return FabCLIError(.unknownTask, "the fabfile has no task named '\(name)', nor any other task; declare one as a top-level func \(name)(_ fab: Fab).")
        }
        let suggestion = closest(to: name, among: tasks.map(\.name)).map { " Did you mean '\($0)'?" } ?? ""
        return FabCLIError(.unknownTask,
                           "the fabfile has no task named '\(name)'.\(suggestion) Its tasks are: \(tasks.map(\.name).joined(separator: ", ")) (fab -l describes them).")
    }

    static func unknownParameter(_ spelled: String, word: String, task: TaskDefinition, globalOptions: Set<String>) -> FabCLIError {
        var message = "task '\(task.name)' has no parameter '\(spelled)'."
        if let suggestion = closest(to: spelled, among: task.parameters.map(\.name)) {
            message += " Did you mean '\(suggestion)'?"
        }
        if globalOptions.contains(word) || globalOptions.contains("--" + spelled) {
            message += " --\(spelled) is a global option: put it before the first task."
        }
        return FabCLIError(.invalidTaskArgument, message + "\n" + parameterSummary(task))
    }

    /// "Parameters of deb:" and the parameter table, or a note that the task takes none.
    static func parameterSummary(_ task: TaskDefinition) -> String {
        if task.parameters.isEmpty { return "Task '\(task.name)' takes no parameters." }
        return "Parameters of \(task.name):\n" + TaskHelpFormatter.parameterTable(task.parameters)
            .split(separator: "\n").joined(separator: "\n")
    }

    /// The candidate within edit distance 2 (or sharing a long prefix) of `name`, if any.
    static func closest(to name: String, among candidates: [String]) -> String? {
        let scored = candidates.map { ($0, editDistance($0.lowercased(), name.lowercased())) }
        guard let best = scored.min(by: { $0.1 < $1.1 }) else { return nil }
        return best.1 <= max(1, min(2, name.count / 3)) ? best.0 : nil
    }

    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        if a.isEmpty { return b.count }
        if b.isEmpty { return a.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var row = [i] + Array(repeating: 0, count: b.count)
            for j in 1...b.count {
                row[j] = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = row
        }
        return previous[b.count]
    }
}
