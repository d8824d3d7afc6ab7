import FabCore

/// Runs each task of a request once, in order, with a context bound to no host; stops at the first failure.
///
/// A stand-in until FabCore's runner, which fans tasks out over hosts, is ready.
public struct LocalTaskExecutor: TaskExecuting {
    /// Where task failures are reported.
    public var console: Console
    /// Makes the context a task runs with.
    public var makeContext: @Sendable (TaskInvocation) throws -> Fab

    /// - Parameters:
    ///   - makeContext: makes each task's context; nil for a context bound to no host.
    public init(console: Console = .standard, makeContext: (@Sendable (TaskInvocation) throws -> Fab)? = nil) {
        self.console = console
        self.makeContext = makeContext ?? { _ in try PlaceholderFab.make() }
    }

    /// Runs the tasks one after another; returns ``ExitStatus/success``, or the status for the first failure.
    public func execute(_ request: RunRequest, registry: FabfileRegistry) async -> Int32 {
        let options = request.options
        if !options.hosts.isEmpty || !options.roles.isEmpty || options.parallel || options.dryRun {
            console.note("this fab runs each task once on this machine; -H, -R, -P and --dry-run take effect with the host runner.")
        }
        for invocation in request.invocations {
            guard let task = registry.task(named: invocation.taskName) else {
                let error = TaskCommandLine.unknownTask(invocation.taskName, tasks: registry.tasks)
                console.error(error.description)
                return ExitStatus.forError(error)
            }
            do {
                try await task.body(try makeContext(invocation), invocation.arguments)
            } catch let error as TaskArgumentError {
                console.error(error.description)
                return ExitStatus.forError(error)
            } catch {
                console.error("task '\(task.name)' failed: \(error)")
                return ExitStatus.forError(error)
            }
        }
        return ExitStatus.success
    }
}
