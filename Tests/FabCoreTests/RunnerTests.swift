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

    @Test("afterAllHosts: one closing step after every parallel host, failed ones included, with the recorded values in host order; its block is printed whole and --hide user hides it")
    func closingStepAfterAllHosts() async throws {
        let servers = try ["h1": SSHServer(), "h2": SSHServer(), "h3": SSHServer()]
        let key = StateKey<String>("uname")
        let events = EventLog()
        let report = task("report") { fab in
            // h3 answers last, so the recorded order is not the host order.
            let answer = try await fab.run(fab.host == "h3" ? "echo three" : fab.host == "h2" ? "sleep 0.5; exit 3" : "sleep 1; echo one")
            try fab.record(answer.output, as: key)
            try fab.afterAllHosts("table") { fab, run in
                events.add("closing")
                let failed = run.outcomes.filter { !$0.succeeded }.compactMap(\.host)
                fab.sayBlock((run.values(key).map { "\($0.host ?? "-") \($0.value)" } + ["failed: \(failed.joined(separator: ","))"]).joined(separator: "\n"))
            }
            events.add("host")
        }
        let later = task("later") { _ in events.add("later") }
        let output = CapturedOutput()
        var runner = TaskRunner(runtime: makeRuntime(servers, output: output), options: RunnerOptions(hosts: ["h1", "h2", "h3"], parallel: true))
        let outcomes = await runner.run([(report, TaskArguments(taskName: "report", values: [:])), (later, TaskArguments(taskName: "later", values: [:]))])
        // h2 failed before registering; h1 and h3 registered the same step, which ran once, after both.
        #expect(events.value == ["host", "host", "closing"])
        #expect(outcomes.map(\.host) == ["h1", "h2", "h3"])
        #expect(output.value.contains("h1 one\nh3 three\nfailed: h2\n"), "\(output.value)")

        // Hidden with --hide user; a step that throws fails the task after its hosts.
        let hiddenOutput = CapturedOutput()
        let pool = makeRuntime(servers, output: hiddenOutput).pool
        runner = TaskRunner(runtime: FabRuntime(pool: pool, output: OutputSink(hidden: .user, write: { hiddenOutput.append($0) })),
                            options: RunnerOptions(hosts: ["h1", "h3"], parallel: true))
        let failing = task("failing") { fab in
            try fab.record(fab.host ?? "", as: key)
            try fab.afterAllHosts("check") { fab, run in
                fab.sayBlock("not shown")
                throw FabError(.aborted, "saw \(run.values(key).map(\.value).joined(separator: " and "))")
            }
        }
        let closingFailed = await runner.run([(failing, TaskArguments(taskName: "failing", values: [:]))])
        #expect(closingFailed.map(\.succeeded) == [true, true, false])
        #expect(closingFailed.last?.failure == "saw h1 and h3")
        #expect(!hiddenOutput.value.contains("not shown"))
        #expect(hiddenOutput.value.contains("task 'failing' failed after its hosts (check): saw h1 and h3"), "\(hiddenOutput.value)")

        // Outside a runner there is nothing to close: refused with a sentence.
        let alone = Fab(host: nil, runtime: makeRuntime([:], output: CapturedOutput()))
        let error = #expect(throws: FabError.self) { try alone.afterAllHosts("x") { _, _ in } }
        #expect(error?.message.contains("outside") == true)
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
