import FabCore
import Foundation
import Testing
@testable import FabCLI

/// What a task saw, written from the task and read after the run.
private final class Seen: @unchecked Sendable {
    // Written once by the task, read after execute returns.
    private let lock = NSLock()
    private var values: [Bool] = []
    func append(_ value: Bool) { lock.withLock { values.append(value) } }
    var all: [Bool] { lock.withLock { values } }
}

@Suite("--show debug reaches the runtime")
struct DebugOutputTests {
    /// `--show debug` sets FabRuntime.debug for tasks (the deploy kit prints every dpkg-shlibdeps warning
    /// then); without it, debug is off.
    @Test(arguments: [false, true])
    func showDebugSetsRuntimeDebug(debug: Bool) async throws {
        try #require(ProcessInfo.processInfo.environment["FAB_DEBUG"] == nil, "FAB_DEBUG is set in the test environment")
        let seen = Seen()
        let registry = FabfileRegistry()
        registry.add(TaskDefinition(name: "probe", summary: "", help: "", parameters: []) { fab, _ in seen.append(fab.runtime.debug) })
        var options = RunOptions()
        let config = FileManager.default.temporaryDirectory.appendingPathComponent("fab-debug-\(UUID().uuidString)").path
        try "".write(toFile: config, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: config) }
        options.sshConfigFile = config
        if debug { options.shownOutput.insert(.debug) }
        let executor = HostTaskExecutor(console: Console { _, _ in }, output: OutputSink(write: { _ in }))
        let status = await executor.execute(RunRequest(invocations: [TaskInvocation(taskName: "probe")], options: options), registry: registry)
        #expect(status == 0)
        #expect(seen.all == [debug])
    }
}
