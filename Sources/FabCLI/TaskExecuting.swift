import FabCore

/// Runs the tasks of a ``RunRequest``: the seam between the command line and the executor.
///
/// ``LocalTaskExecutor`` runs each task once, without hosts; FabCore's runner (hosts, roles,
/// parallelism) will take its place behind this protocol.
public protocol TaskExecuting: Sendable {
    /// Runs the request's tasks in order and returns the exit status (see ``ExitStatus``).
    func execute(_ request: RunRequest, registry: FabfileRegistry) async -> Int32
}
