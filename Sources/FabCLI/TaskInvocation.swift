import FabCore

/// One task named on the command line, with the arguments given to it.
public struct TaskInvocation: Sendable, Equatable {
    /// The task's name.
    public var taskName: String
    /// The arguments, by parameter name, as text; the task's body parses them.
    public var arguments: TaskArguments
    /// Hosts given to this invocation only (`task:hosts=a;b`); they win over the task's own and `-H`.
    public var hosts: [String]
    /// Roles given to this invocation only (`task:roles=web;db`); merged with ``hosts``.
    public var roles: [String]

    /// An invocation of a task with argument texts by parameter name, and its own hosts and roles.
    public init(taskName: String, values: [String: String] = [:], hosts: [String] = [], roles: [String] = []) {
        self.taskName = taskName
        self.arguments = TaskArguments(taskName: taskName, values: values)
        self.hosts = hosts
        self.roles = roles
    }

    /// Same task, same argument texts, same hosts and roles.
    public static func == (lhs: TaskInvocation, rhs: TaskInvocation) -> Bool {
        lhs.taskName == rhs.taskName && lhs.arguments.taskName == rhs.arguments.taskName
            && lhs.arguments.values == rhs.arguments.values && lhs.hosts == rhs.hosts && lhs.roles == rhs.roles
    }
}
