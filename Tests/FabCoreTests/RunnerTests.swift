import FabCore
import FabSSH
import FabTestSupport
import Foundation
import Testing

/// Running tasks across hosts: host selection, serial and parallel, failures and the summary.
@Suite("Task runner", .serialized)
struct RunnerTests {
    func task(_ name: String, hosts: [String] = [], roles: [String] = [],
              _ body: @escaping @Sendable (Fab) async throws -> Void) -> TaskDefinition {
        TaskDefinition(name: name, summary: "", help: "", parameters: [], hosts: hosts, roles: roles) { fab, _ in try await body(fab) }
    }

    @Test("Fabric 1's precedence: the invocation's hosts, then the task's, then -H/-R; roles expand; -x last; unknown roles are named")
    func hostSelection() throws {
        let runtime = makeRuntime([:], output: CapturedOutput(), roledefs: ["web": ["w1", "w2"], "db": ["d1"]])
        let own = task("t", hosts: ["a"], roles: ["db"]) { _ in }
        let bare = task("bare") { _ in }
        let arguments = TaskArguments(taskName: "t", values: [:])
        let global = RunnerOptions(hosts: ["x"], roles: ["web"])
        #expect(try TaskRunner(runtime: runtime, options: RunnerOptions()).hosts(for: own) == ["a", "d1"])
        #expect(try TaskRunner(runtime: runtime, options: global).hosts(for: own) == ["a", "d1"])
        #expect(try TaskRunner(runtime: runtime, options: global).hosts(for: bare) == ["x", "w1", "w2"])
        #expect(try TaskRunner(runtime: runtime, options: global)
            .hosts(for: TaskCall(task: own, arguments: arguments, hosts: ["i", "w1"], roles: ["web"])) == ["i", "w1", "w2"])
        #expect(TaskRunner(runtime: runtime, options: global).hostSource(for: TaskCall(task: bare, arguments: arguments, roles: ["db"])) == .invocation)
        let excluding = RunnerOptions(hosts: ["x"], roles: ["web"], excludedHosts: ["w1", "d1"])
        #expect(try TaskRunner(runtime: runtime, options: excluding).hosts(for: bare) == ["x", "w2"])
        #expect(try TaskRunner(runtime: runtime, options: excluding).hosts(for: own) == ["a"])
        #expect(try TaskRunner(runtime: runtime, options: RunnerOptions(excludedHosts: ["a", "d1"])).hosts(for: own) == [])
        #expect(try TaskRunner(runtime: runtime, options: RunnerOptions(excludedHosts: ["a"])).hosts(for: bare) == [nil])
        #expect(try TaskRunner(runtime: runtime, options: RunnerOptions()).hosts(for: task("none") { _ in }) == [nil])
        let error = #expect(throws: FabError.self) { try TaskRunner(runtime: runtime, options: RunnerOptions(roles: ["cache"])).hosts(for: bare) }
        #expect(error?.message.contains("db, web") == true)
    }

    @Test("parallel on three hosts with one failing: the others finish, the summary names the failure, later tasks do not run")
    func parallelWithFailure() async throws {
        let servers = try ["h1": SSHServer(), "h2": SSHServer(), "h3": SSHServer()]
        let output = CapturedOutput()
        let runtime = makeRuntime(servers, output: output)
        let runner = TaskRunner(runtime: runtime, options: RunnerOptions(hosts: ["h1", "h2", "h3"], parallel: true))
        let events = EventLog()
        let deploy = task("deploy") { fab in
            events.add("start")
            defer { events.add("end") }
            try await fab.run(fab.host == "h2" ? "sleep 1; echo failing; exit 7" : "sleep 1; echo fine")
        }
        let after = task("after") { fab in try await fab.run("echo after") }
        let outcomes = await runner.run([(deploy, TaskArguments(taskName: "deploy", values: [:])),
                                         (after, TaskArguments(taskName: "after", values: [:]))])
        #expect(outcomes.map(\.host) == ["h1", "h2", "h3"])
        #expect(outcomes.map(\.succeeded) == [true, false, true])
        #expect(outcomes[1].failure?.contains("exited with status 7") == true)
        // In parallel, every host starts before any finishes.
        #expect(events.value == ["start", "start", "start", "end", "end", "end"])
        #expect(!output.value.contains("echo after"))
        runner.printSummary(outcomes)
        #expect(output.value.contains("deploy on h2: FAILED"))
        #expect(output.value.contains("deploy on h1: ok"))
        // Lines from parallel hosts are whole lines, each with its own prefix.
        for line in output.value.split(separator: "\n") where line.hasPrefix("[") {
            #expect(line.hasPrefix("[h1]") || line.hasPrefix("[h2]") || line.hasPrefix("[h3]"))
        }
    }

    @Test("serial runs stop at the first failing host; shared state carries values between tasks")
    func serialAndState() async throws {
        let servers = try ["s1": SSHServer(), "s2": SSHServer()]
        let runtime = makeRuntime(servers, output: CapturedOutput())
        let key = StateKey<Int>("build")
        let first = task("first") { fab in fab.state[key] = 41 }
        let second = task("second", hosts: ["s1", "s2"]) { fab in
            let value = fab.state[key] ?? 0
            try await fab.run("test \(value) -eq 41 && test \(fab.quote(fab.host ?? "")) != s1")
        }
        let outcomes = await TaskRunner(runtime: runtime, options: RunnerOptions()).run([
            (first, TaskArguments(taskName: "first", values: [:])), (second, TaskArguments(taskName: "second", values: [:])),
        ])
        #expect(outcomes.map(\.task) == ["first", "second"])
        #expect(outcomes.last?.host == "s1")
        #expect(outcomes.last?.succeeded == false)
    }
}

/// Records events from concurrent tasks in order.
final class EventLog: @unchecked Sendable {
    // Appended from concurrent host tasks; read after they finish.
    private let lock = NSLock()
    private var events: [String] = []
    func add(_ event: String) { lock.withLock { events.append(event) } }
    var value: [String] { lock.withLock { events } }
}
