import FabCore
import FabSSH
import FabTestSupport
import Foundation

/// Collects everything an OutputSink prints, for assertions.
final class CapturedOutput: @unchecked Sendable {
    // Appended from session queues, read after operations finish.
    private let lock = NSLock()
    private var text = ""
    var sink: OutputSink { OutputSink(write: { line in self.lock.withLock { self.text += line } }) }
    var value: String { lock.withLock { text } }
    func append(_ more: String) { lock.withLock { text += more } }
}

/// A runtime whose hosts are test sshd servers, by name.
func makeRuntime(_ servers: [String: SSHServer], output: CapturedOutput, dryRun: Bool = false,
                 answers: [String: String] = [:], roledefs: [String: [String]] = [:],
                 secrets: @escaping SecretProvider = { _ in nil }) -> FabRuntime {
    let targets = servers.mapValues { $0.target() }
    let pool = ConnectionPool(resolver: { host in
        guard var target = targets[host] else { throw FabError(.noHost, "unknown test host \(host)") }
        target.alias = host
        return target
    }, secrets: secrets)
    return FabRuntime(pool: pool, output: output.sink, dryRun: dryRun, answers: answers, roledefs: roledefs)
}

@discardableResult
func sh(_ script: String) throws -> String {
    try TestShell.run("/bin/sh", ["-c", script]).checked().stdout
}
