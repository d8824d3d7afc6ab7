import FabSSH
import Foundation

/// Where and how tasks run: the command line's hosts and roles, serial or parallel.
public struct RunnerOptions: Sendable {
    /// Hosts from `-H`, for tasks that declare no hosts or roles of their own.
    public var hosts: [String]
    /// Roles from `-R`; their hosts join `hosts`.
    public var roles: [String]
    /// Hosts from `-x`: removed from every task's final host list.
    public var excludedHosts: [String]
    /// Run each task on its hosts in parallel (`-P`).
    public var parallel: Bool
    /// How many hosts at once in parallel mode (`-z`).
    public var poolSize: Int

    /// Options from their parts.
    /// - Parameters:
    ///   - hosts: `-H`'s hosts.
    ///   - roles: `-R`'s roles.
    ///   - excludedHosts: `-x`'s hosts, taken out of every task's host list.
    ///   - parallel: `-P`.
    ///   - poolSize: `-z`; at least 1.
    public init(hosts: [String] = [], roles: [String] = [], excludedHosts: [String] = [],
                parallel: Bool = false, poolSize: Int = 10) {
        self.hosts = hosts
        self.roles = roles
        self.excludedHosts = excludedHosts
        self.parallel = parallel
        self.poolSize = max(1, poolSize)
    }
}

/// One task to run, with its arguments and the hosts and roles given to it on the command line
/// (`deploy:hosts=a;b,roles=web`), which win over every other host list.
public struct TaskCall: Sendable {
    /// The task.
    public var task: TaskDefinition
    /// Its arguments.
    public var arguments: TaskArguments
    /// Hosts given to this invocation only.
    public var hosts: [String]
    /// Roles given to this invocation only.
    public var roles: [String]

    /// A call from its parts; without hosts or roles, the task's own or the command line's apply.
    public init(task: TaskDefinition, arguments: TaskArguments, hosts: [String] = [], roles: [String] = []) {
        self.task = task
        self.arguments = arguments
        self.hosts = hosts
        self.roles = roles
    }
}

/// How one task went on one host.
public struct HostOutcome: Sendable {
    public var task: String
    /// The host, or nil for a task that ran on no host.
    public var host: String?
    /// Why it failed; nil when it succeeded.
    public var failure: String?
    /// The failure was a malformed task argument (a usage error, not a failed task).
    public var isArgumentError = false
    public var succeeded: Bool { failure == nil }
}

/// Runs tasks in order across their hosts, Fabric-style, and reports per host.
///
/// A task's hosts come, as in Fabric 1, from the first of these that names any: the invocation's own
/// `task:hosts=a;b,roles=r`, then the task's `- Hosts:`/`- Roles:`, then `-H`/`-R`. Within one source,
/// hosts and the hosts of roles are merged. Then `-x` removes hosts; with none left, it runs once with no host. In serial mode the first failure
/// stops the run; in parallel mode the other hosts finish first. Then the closing steps the task's hosts
/// asked for (``Fab/afterAllHosts(_:_:)``) run once each. Tasks after a failed one do not run.
public struct TaskRunner: Sendable {
    public let runtime: FabRuntime
    public let options: RunnerOptions

    public init(runtime: FabRuntime, options: RunnerOptions) {
        self.runtime = runtime
        self.options = options
    }

    /// The hosts `task` runs on, deduplicated in order; `[nil]` for a hostless task.
    /// - Throws: ``FabError`` `.unknownRole` for a role the fabfile does not define.
    public func hosts(for task: TaskDefinition) throws -> [String?] {
        try hosts(for: TaskCall(task: task, arguments: TaskArguments(taskName: task.name, values: [:])))
    }

    /// Where a host list comes from (see ``TaskRunner``).
    public enum HostSource: Sendable, Equatable {
        /// `task:hosts=...,roles=...` on the command line.
        case invocation
        /// The task's doc comment (`- Hosts:`, `- Roles:`).
        case task
        /// `-H` and `-R`.
        case commandLine
        /// Nowhere: the task runs once, with no host.
        case none
    }

    /// Which source gives `call` its hosts.
    public func hostSource(for call: TaskCall) -> HostSource {
        if !call.hosts.isEmpty || !call.roles.isEmpty { return .invocation }
        if !call.task.hosts.isEmpty || !call.task.roles.isEmpty { return .task }
        if !options.hosts.isEmpty || !options.roles.isEmpty { return .commandLine }
        return .none
    }

    /// The hosts `call` runs on, deduplicated in order, without `-x`'s; `[nil]` for a hostless task, and
    /// `[]` when `-x` excluded every one of its hosts (it then does not run).
    /// - Throws: ``FabError`` `.unknownRole` for a role the fabfile does not define.
    public func hosts(for call: TaskCall) throws -> [String?] {
        var hosts: [String]
        let roles: [String]
        switch hostSource(for: call) {
        case .invocation: (hosts, roles) = (call.hosts, call.roles)
        case .task: (hosts, roles) = (call.task.hosts, call.task.roles)
        case .commandLine: (hosts, roles) = (options.hosts, options.roles)
        case .none: (hosts, roles) = ([], [])
        }
        for role in roles {
            guard let members = runtime.roledefs[role] else {
                let known = runtime.roledefs.keys.sorted()
                throw FabError(.unknownRole, "role '\(role)' is not defined in the fabfile\(known.isEmpty ? " (it defines no roles: add `let roledefs: [String: [String]] = [...]`)" : "; it defines: \(known.joined(separator: ", "))").")
            }
            hosts += members
        }
        if hosts.isEmpty { return [nil] }
        var seen = Set(options.excludedHosts)
        return hosts.filter { seen.insert($0).inserted }
    }

    /// Runs the invocations in order and returns every host's outcome.
    public func run(_ invocations: [(task: TaskDefinition, arguments: TaskArguments)]) async -> [HostOutcome] {
        await run(invocations.map { TaskCall(task: $0.task, arguments: $0.arguments) })
    }

    /// Runs the calls in order and returns every host's outcome.
    public func run(_ invocations: [TaskCall]) async -> [HostOutcome] {
        var outcomes: [HostOutcome] = []
        for invocation in invocations {
            let hosts: [String?]
            do {
                hosts = try self.hosts(for: invocation)
            } catch {
                runtime.output.error("\(error)")
                outcomes.append(HostOutcome(task: invocation.task.name, host: nil, failure: "\(error)"))
                break
            }
            if hosts.isEmpty {
                runtime.output.plain("Skipping task '\(invocation.task.name)': -x excludes every one of its hosts.")
                continue
            }
            let run = TaskRun(task: invocation.task.name, hosts: hosts)
            let results = await TaskRun.$current.withValue(run) {
                let ran = options.parallel && hosts.count > 1
                    ? await runParallel(invocation.task, invocation.arguments, on: hosts)
                    : await runSerial(invocation.task, invocation.arguments, on: hosts)
                return ran + (await close(run, after: ran))
            }
            outcomes += results
            if results.contains(where: { !$0.succeeded }) || Task.isCancelled { break }
        }
        return outcomes
    }

    private func runOne(_ task: TaskDefinition, _ arguments: TaskArguments, on host: String?) async -> HostOutcome {
        if let host { runtime.output.line(host, .status, "Executing task '\(task.name)'") }
        do {
            try await task.body(Fab(host: host, runtime: runtime), arguments)
            return HostOutcome(task: task.name, host: host, failure: nil)
        } catch {
            let message = "\(error)"
            runtime.output.error("task '\(task.name)' failed\(host.map { " on \($0)" } ?? ""): \(message)")
            return HostOutcome(task: task.name, host: host, failure: message, isArgumentError: error is TaskArgumentError)
        }
    }

    /// Runs the closing steps hosts registered with ``Fab/afterAllHosts(_:_:)``, once each, in order;
    /// returns the outcomes of those that failed (none runs once the run is interrupted).
    private func close(_ run: TaskRun, after outcomes: [HostOutcome]) async -> [HostOutcome] {
        var failed: [HostOutcome] = []
        for step in run.end(with: outcomes) where !Task.isCancelled {
            do {
                try await step.body(Fab(host: nil, runtime: runtime), run)
            } catch {
                let message = "\(error)"
                runtime.output.error("task '\(run.task)' failed after its hosts (\(step.id)): \(message)")
                failed.append(HostOutcome(task: run.task, host: nil, failure: message))
            }
        }
        return failed
    }

    private func runSerial(_ task: TaskDefinition, _ arguments: TaskArguments, on hosts: [String?]) async -> [HostOutcome] {
        var outcomes: [HostOutcome] = []
        for host in hosts {
            let outcome = await runOne(task, arguments, on: host)
            outcomes.append(outcome)
            if !outcome.succeeded || Task.isCancelled { break }
        }
        return outcomes
    }

    private func runParallel(_ task: TaskDefinition, _ arguments: TaskArguments, on hosts: [String?]) async -> [HostOutcome] {
        await withTaskGroup(of: (Int, HostOutcome).self) { group in
            var next = 0
            var outcomes = [HostOutcome?](repeating: nil, count: hosts.count)
            func start() {
                let index = next
                next += 1
                group.addTask { (index, await runOne(task, arguments, on: hosts[index])) }
            }
            while next < min(options.poolSize, hosts.count) { start() }
            for await (index, outcome) in group {
                outcomes[index] = outcome
                if next < hosts.count { start() }
            }
            return outcomes.compactMap { $0 }
        }
    }

    /// Prints Fabric's closing summary: which hosts succeeded and which failed, per task.
    public func printSummary(_ outcomes: [HostOutcome]) {
        let failed = outcomes.filter { !$0.succeeded }
        let hosted = outcomes.filter { $0.host != nil }
        if !hosted.isEmpty && (hosted.count > 1 || !failed.isEmpty) {
            runtime.output.plain("")
            for outcome in outcomes {
                let state = outcome.succeeded ? "ok" : "FAILED"
                runtime.output.plain("  \(outcome.task) on \(outcome.host ?? "no host"): \(state)")
            }
        }
        runtime.output.plain(failed.isEmpty ? "\nDone." : "\nFailed: \(failed.count) of \(outcomes.count) task runs did not succeed.")
    }
}
