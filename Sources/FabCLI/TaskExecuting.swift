import FabCore

/// Runs the tasks of a ``RunRequest``: the seam between the command line and the executor.
///
/// ``HostTaskExecutor`` runs them on their hosts; tests may put another executor behind it.
public protocol TaskExecuting: Sendable {
    /// Runs the request's tasks in order and returns the exit status (see ``ExitStatus``).
    func execute(_ request: RunRequest, registry: FabfileRegistry) async -> Int32
}
