import FabSSH
import Foundation

/// Where and how tasks run: the command line's hosts and roles, serial or parallel.
public struct RunnerOptions: Sendable {
    /// Hosts from `-H`; they replace every task's own hosts.
    public var hosts: [String]
    /// Roles from `-R`; their hosts join `hosts`.
    public var roles: [String]
    /// Run each task on its hosts in parallel (`-P`).
    public var parallel: Bool
    /// How many hosts at once in parallel mode (`-z`).
    public var poolSize: Int

    public init(hosts: [String] = [], roles: [String] = [], parallel: Bool = false, poolSize: Int = 10) {
        self.hosts = hosts
        self.roles = roles
        self.parallel = parallel
        self.poolSize = max(1, poolSize)
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
/// A task's hosts come from the command line (`-H`, `-R`), else from the task's own
/// `- Hosts:`/`- Roles:`; with none, it runs once with no host. In serial mode the first failure
/// stops the run; in parallel mode the other hosts finish first. Tasks after a failed one do not run.
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
        let fromCommandLine = !options.hosts.isEmpty || !options.roles.isEmpty
        let roles = fromCommandLine ? options.roles : task.roles
        var hosts = fromCommandLine ? options.hosts : task.hosts
        for role in roles {
            guard let members = runtime.roledefs[role] else {
                let known = runtime.roledefs.keys.sorted()
                throw FabError(.unknownRole, "role '\(role)' is not defined in the fabfile\(known.isEmpty ? " (it defines no roles: add `let roledefs: [String: [String]] = [...]`)" : "; it defines: \(known.joined(separator: ", "))").")
            }
            hosts += members
        }
        var seen = Set<String>()
        let unique = hosts.filter { seen.insert($0).inserted }
        return unique.isEmpty ? [nil] : unique
    }

    /// Runs the invocations in order and returns every host's outcome.
    public func run(_ invocations: [(task: TaskDefinition, arguments: TaskArguments)]) async -> [HostOutcome] {
        var outcomes: [HostOutcome] = []
        for invocation in invocations {
            let hosts: [String?]
            do {
                hosts = try self.hosts(for: invocation.task)
            } catch {
                runtime.output.error("\(error)")
                outcomes.append(HostOutcome(task: invocation.task.name, host: nil, failure: "\(error)"))
                break
            }
            let results = options.parallel && hosts.count > 1
                ? await runParallel(invocation.task, invocation.arguments, on: hosts)
                : await runSerial(invocation.task, invocation.arguments, on: hosts)
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
