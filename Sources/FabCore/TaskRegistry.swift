/// The contract between `fab` and a compiled fabfile plugin.
///
/// `fab` generates a registration file next to the fabfile's own sources; the plugin exports
/// `fab_plugin_register_v1`, which fills a ``FabfileRegistry`` with the fabfile's tasks and role
/// definitions. The version suffix changes whenever this contract does.
public enum PluginABI {
    /// The symbol a plugin exports; bump the suffix when ``FabfileRegistry`` changes shape.
    public static let registerSymbol = "fab_plugin_register_v1"
}

/// One declared parameter of a task, as written in the fabfile.
public struct TaskParameter: Sendable, Equatable {
    /// The parameter's label (`branch` in `func deb(_ fab: Fab, branch: String? = nil)`).
    public var name: String
    /// The Swift type as written (`String?`, `Int`, `Bool`).
    public var typeName: String
    /// The default value expression as written, or nil when the parameter is required.
    public var defaultValue: String?
    /// Help from the task's `- Parameter name:` doc comment line.
    public var help: String

    public init(name: String, typeName: String, defaultValue: String? = nil, help: String = "") {
        self.name = name
        self.typeName = typeName
        self.defaultValue = defaultValue
        self.help = help
    }

    /// Whether the caller must give a value.
    public var isRequired: Bool { defaultValue == nil && !typeName.hasSuffix("?") }
}

/// A task: a function of the fabfile that `fab` can run by name.
public struct TaskDefinition: Sendable {
    public var name: String
    /// The first line of the task's doc comment.
    public var summary: String
    /// The whole doc comment.
    public var help: String
    public var parameters: [TaskParameter]
    /// Hosts the task runs on when the command line names none (`- Hosts:` in its doc comment).
    public var hosts: [String]
    /// Roles the task runs on when the command line names none (`- Roles:` in its doc comment).
    public var roles: [String]
    /// Runs the task once, with a context bound to one host (or to no host).
    public var body: @Sendable (Fab, TaskArguments) async throws -> Void

    public init(name: String, summary: String, help: String, parameters: [TaskParameter],
                hosts: [String] = [], roles: [String] = [],
                body: @escaping @Sendable (Fab, TaskArguments) async throws -> Void) {
        self.name = name
        self.summary = summary
        self.help = help
        self.parameters = parameters
        self.hosts = hosts
        self.roles = roles
        self.body = body
    }
}

/// What a loaded fabfile declares: its tasks, in source order, and its role definitions.
public final class FabfileRegistry: @unchecked Sendable {
    // Filled once, synchronously, by the plugin's register function before anything reads it.
    public private(set) var tasks: [TaskDefinition] = []
    public private(set) var roledefs: [String: [String]] = [:]

    public init() {}

    /// Adds a task; called by the generated registration code.
    public func add(_ task: TaskDefinition) { tasks.append(task) }

    /// Sets the fabfile's role definitions (a top-level `let roledefs: [String: [String]]`).
    public func setRoledefs(_ roledefs: [String: [String]]) { self.roledefs = roledefs }

    /// The task with this name, if the fabfile has one.
    public func task(named name: String) -> TaskDefinition? { tasks.first { $0.name == name } }
}

/// A value a task parameter can take from the command line.
public protocol TaskArgumentValue: Sendable {
    /// Parses the command-line text, or returns nil when it is not a valid value of this type.
    init?(taskArgument: String)
}

extension String: TaskArgumentValue {
    public init?(taskArgument: String) { self = taskArgument }
}
extension Int: TaskArgumentValue {
    public init?(taskArgument: String) { self.init(taskArgument) }
}
extension Double: TaskArgumentValue {
    public init?(taskArgument: String) { self.init(taskArgument) }
}
extension Bool: TaskArgumentValue {
    /// Accepts Fabric's spellings: yes/no, true/false, on/off, 1/0 (any case).
    public init?(taskArgument: String) {
        switch taskArgument.lowercased() {
        case "yes", "y", "true", "t", "on", "1": self = true
        case "no", "n", "false", "f", "off", "0": self = false
        default: return nil
        }
    }
}

/// The arguments given to one task on the command line, by parameter name.
public struct TaskArguments: Sendable {
    public var values: [String: String]
    /// The task the arguments are for, named in errors.
    public var taskName: String

    public init(taskName: String, values: [String: String]) {
        self.taskName = taskName
        self.values = values
    }

    /// The parsed value of a parameter, or nil when the command line did not give it.
    /// - Throws: ``TaskArgumentError`` when the text is not a valid `T`.
    public func value<T: TaskArgumentValue>(_ name: String, as type: T.Type) throws -> T? {
        guard let text = values[name] else { return nil }
        guard let value = T(taskArgument: text) else {
            throw TaskArgumentError(task: taskName, parameter: name,
                                    message: "'\(text)' is not a valid \(T.self)")
        }
        return value
    }

    /// The parsed value of a required parameter.
    /// - Throws: ``TaskArgumentError`` when it is missing or not a valid `T`.
    public func required<T: TaskArgumentValue>(_ name: String, as type: T.Type) throws -> T {
        guard let value = try value(name, as: type) else {
            throw TaskArgumentError(task: taskName, parameter: name,
                                    message: "is required: give it as \(taskName):\(name)=VALUE or \(taskName) --\(name) VALUE")
        }
        return value
    }
}

/// A task argument that is missing or malformed; raised before the task runs.
public struct TaskArgumentError: Error, CustomStringConvertible, Sendable {
    public var task: String
    public var parameter: String
    public var message: String
    public var description: String { "task '\(task)': parameter '\(parameter)' \(message)." }
}
