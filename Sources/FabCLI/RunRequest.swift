/// Everything a `fab` command line asks for: the tasks to run, in order, and the global options.
public struct RunRequest: Sendable, Equatable {
    /// The tasks, in command-line order (a task named twice runs twice).
    public var invocations: [TaskInvocation]
    /// The global options.
    public var options: RunOptions

    /// A request from its parts.
    public init(invocations: [TaskInvocation], options: RunOptions) {
        self.invocations = invocations
        self.options = options
    }
}
