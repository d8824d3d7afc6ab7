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

/// Password-less sudo for the `fabcorpus` test account, for as long as any test holds it.
///
/// Reference-counted because Swift Testing may release one test's suite instance after it has made
/// the next one: a plain remove in `deinit` could take the rights away from the running test.
enum CorpusSudo {
    // Touched from suite initialisers and deinitialisers: guarded by the lock.
    private static let lock = NSLock()
    nonisolated(unsafe) private static var holders = 0
    /// One file per test process, so test runs in other checkouts on the same machine, which
    /// write and remove their own, never take this one's rights away.
    static let path = "/etc/sudoers.d/fabcorpus-\(getpid())"

    /// Grants the rights (writing the sudoers file on first use).
    static func acquire() throws {
        try lock.withLock {
            if holders == 0 {
                try "fabcorpus ALL=(ALL) NOPASSWD: ALL\n".write(toFile: path, atomically: true, encoding: .utf8)
                chmod(path, 0o440)
            }
            holders += 1
        }
    }

    /// Gives them back; the last holder removes the sudoers file.
    static func release() {
        lock.withLock {
            holders -= 1
            if holders == 0 { try? FileManager.default.removeItem(atPath: path) }
        }
    }
}
