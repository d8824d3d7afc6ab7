import Foundation

/// A value one host of a task recorded with ``Fab/record(_:as:)``.
public struct HostValue<Value: Sendable>: Sendable {
    /// The host that recorded it; nil for a task that runs on no host.
    public var host: String?
    /// What it recorded.
    public var value: Value
}

/// One run of one task across its hosts, as ``TaskRunner`` runs it: what the hosts record, and the
/// closing steps that run once, after the task has ended on every host.
///
/// fab runs a task once per host, in parallel with `-P`. A report about the whole fleet (a table of
/// installed versions, say) needs every host's answer: each host records its part with
/// ``Fab/record(_:as:)`` and asks for a closing step with ``Fab/afterAllHosts(_:_:)``; the runner runs
/// that step once, after the last host, failed hosts included, with everything recorded.
///
/// ```swift
/// let kernels = StateKey<String>("kernels")
/// func kernel(_ fab: Fab) async throws {
///     fab.record(try await fab.run("uname -r").stdout, as: kernels)
///     try fab.afterAllHosts("kernels") { fab, run in
///         fab.sayBlock(run.values(kernels).map { "\($0.host ?? "-"): \($0.value)" }.joined(separator: "\n"))
///     }
/// }
/// ```
///
/// A final class shared by the task's hosts, which run concurrently: every access holds the lock.
public final class TaskRun: @unchecked Sendable {
    /// The task's name.
    public let task: String
    /// The hosts the task runs on, in the order the run lists them (nil for a task on no host).
    public let hosts: [String?]

    /// A closing step: runs once after every host, with a context on no host and this run.
    public typealias ClosingStep = @Sendable (Fab, TaskRun) async throws -> Void

    private let lock = NSLock()
    private var recorded: [String: [(host: String?, value: any Sendable)]] = [:]
    private var closing: [(id: String, body: ClosingStep)] = []
    private var ended: [HostOutcome] = []

    /// The run the current task belongs to; set by ``TaskRunner`` around each task's hosts.
    @TaskLocal static var current: TaskRun?

    /// A run of `task` on `hosts`.
    public init(task: String, hosts: [String?]) {
        self.task = task
        self.hosts = hosts
    }

    /// Every value recorded under `key`, in the order of ``hosts`` (values of one host in the order
    /// recorded; hosts outside the list last).
    public func values<Value>(_ key: StateKey<Value>) -> [HostValue<Value>] {
        let entries = lock.withLock { recorded[key.name] ?? [] }
        let order = Dictionary(hosts.enumerated().map { ($0.element ?? "", $0.offset) }, uniquingKeysWith: { first, _ in first })
        return entries.enumerated()
            .sorted { (order[$0.element.host ?? ""] ?? Int.max, $0.offset) < (order[$1.element.host ?? ""] ?? Int.max, $1.offset) }
            .compactMap { entry in (entry.element.value as? Value).map { HostValue(host: entry.element.host, value: $0) } }
    }

    /// How the task went on each host that ran it, in order; complete when the closing steps run.
    public var outcomes: [HostOutcome] { lock.withLock { ended } }

    func record(_ value: any Sendable, key: String, host: String?) {
        lock.withLock { recorded[key, default: []].append((host, value)) }
    }

    /// Adds a closing step unless one with `id` is there already; true when added.
    @discardableResult
    func addClosingStep(_ id: String, _ body: @escaping ClosingStep) -> Bool {
        lock.withLock {
            guard !closing.contains(where: { $0.id == id }) else { return false }
            closing.append((id, body))
            return true
        }
    }

    /// Takes the hosts' outcomes and returns the closing steps, in the order they were added.
    func end(with outcomes: [HostOutcome]) -> [(id: String, body: ClosingStep)] {
        lock.withLock {
            ended = outcomes
            defer { closing = [] }
            return closing
        }
    }
}

extension Fab {
    /// The run of the task this context belongs to, or nil outside a run of ``TaskRunner`` (a task
    /// body called directly).
    public var taskRun: TaskRun? { TaskRun.current }

    /// Records `value` as this host's part of a report that a closing step (``afterAllHosts(_:_:)``)
    /// assembles once the task has ended on every host.
    /// - Throws: ``FabError`` `.invalidArgument` outside a run of ``TaskRunner``, which has no closing step.
    public func record<Value: Sendable>(_ value: Value, as key: StateKey<Value>) throws {
        try requireTaskRun("record").record(value, key: key.name, host: host)
    }

    /// Runs `body` once, after the current task has ended on every one of its hosts (in parallel or
    /// serial, succeeded or failed), with a context on no host and the task's ``TaskRun``: the
    /// values hosts recorded with ``record(_:as:)`` and each host's outcome. Every host may ask; the
    /// first step registered under `id` runs, later ones with the same `id` are ignored. A step that
    /// throws fails the task (its failure is reported like a host's). Interrupted runs (Ctrl-C) skip it.
    /// - Throws: ``FabError`` `.invalidArgument` outside a run of ``TaskRunner``.
    public func afterAllHosts(_ id: String, _ body: @escaping TaskRun.ClosingStep) throws {
        try requireTaskRun("afterAllHosts").addClosingStep(id, body)
    }

    /// Prints a block of lines (a table, a report) in one piece and without `[host]` labels: lines
    /// from hosts running in parallel never come between its lines. `--hide user` hides it, as it
    /// hides ``say(_:)``.
    public func sayBlock(_ text: String) {
        runtime.output.block(text, .user)
    }

    private func requireTaskRun(_ operation: String) throws -> TaskRun {
        guard let run = TaskRun.current else {
            throw FabError(.invalidArgument, "fab.\(operation) works in a task that fab runs on its hosts (TaskRunner), and this code runs outside one; call it from a task, or assemble the results yourself.")
        }
        return run
    }
}
