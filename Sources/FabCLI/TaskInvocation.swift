import FabCore

/// One task named on the command line, with the arguments given to it.
public struct TaskInvocation: Sendable, Equatable {
    /// The task's name.
    public var taskName: String
    /// The arguments, by parameter name, as text; the task's body parses them.
    public var arguments: TaskArguments

    /// An invocation of a task with argument texts by parameter name.
    public init(taskName: String, values: [String: String] = [:]) {
        self.taskName = taskName
        self.arguments = TaskArguments(taskName: taskName, values: values)
    }

    /// Same task, same argument texts.
    public static func == (lhs: TaskInvocation, rhs: TaskInvocation) -> Bool {
        lhs.taskName == rhs.taskName && lhs.arguments.taskName == rhs.arguments.taskName
            && lhs.arguments.values == rhs.arguments.values
    }
}
