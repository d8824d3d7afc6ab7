#if os(Linux)
import Foundation
import Glibc
import Synchronization
import Testing
import FabTestSupport

/// END-TO-END, SLOW (two cold builds, about 3 to 6 minutes): the whois example, built from one commit
/// with the `fab` binary on two fresh build hosts (each a clean Debian machine with its own sshd: no
/// Python, no apt lists, no pip cache, so pip compiles psycopg2's extension on each), gives the same
/// bytes. When it does not, the failure shows diffoscope's report.
///
/// Needs root, overlayfs, debootstrap, git, Debian's archive and PyPI, and diffoscope for the report.
@Suite("Whois rebuilt byte for byte on fresh build hosts", .timeLimit(.minutes(30)))
struct ReproducibleWhoisTests {
    init() throws {
        try #require(getuid() == 0, "Clean machines need root (chroot, mounts); run the tests as root.")
    }

    @Test("two cold builds of one commit on two fresh build hosts are identical")
    func twoFreshBuildHostsBuildTheSameBytes() throws {
        let fab = try #require(WhoisEndToEndTests.fabBinary, "the fab executable was not built next to the tests; set FAB_BINARY")
        let work = NSTemporaryDirectory() + "/fab-whois-repro-" + UUID().uuidString.prefix(8)
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: work) }
        let fabfile = WhoisEndToEndTests.repositoryRoot + "/Fabfiles/whois/fabfile.swift"

        let hosts = try (0..<2).map { _ in try CleanMachine.start(.init(passwordlessSudo: true)) }
        defer { for host in hosts { try? host.shutdown() } }
        // No repository host: `repo` is port 1 on loopback, which refuses connections, so the build
        // only warns that it cannot list the repository's versions (the version is given).
        let results = Mutex<[Int: Swift.Result<(TestShell.Result, Duration), any Error>]>([:])
        DispatchQueue.concurrentPerform(iterations: hosts.count) { index in
            let directory = "\(work)/build\(index)"
            do {
                try FileManager.default.createDirectory(atPath: directory + "/debs", withIntermediateDirectories: true)
                try (hosts[index].sshConfigSnippet(alias: "buildvm") + "Host repo\n    HostName 127.0.0.1\n    Port 1\n")
                    .write(toFile: directory + "/ssh_config", atomically: true, encoding: .utf8)
                var environment = ProcessInfo.processInfo.environment
                environment["FAB_ARTIFACT_DIR"] = directory + "/debs"
                let started = ContinuousClock.now
                let result = try TestShell.run(fab, ["-F", directory + "/ssh_config", "-f", fabfile, "deb:version=1"],
                                               environment: environment, timeout: .seconds(1500))
                let duration = ContinuousClock.now - started
                results.withLock { $0[index] = .success((result, duration)) }
            } catch {
                results.withLock { $0[index] = .failure(error) }
            }
        }
        var debs: [String] = []
        for index in hosts.indices {
            let (result, duration) = try #require(results.withLock { $0[index] }).get()
            print("fab deb on fresh build host \(index + 1): status \(result.status) in \(duration)")
            for line in result.stdout.split(separator: "\n") where line.contains("step timings") { print("  " + line) }
            try #require(result.status == 0, "fab deb on fresh build host \(index + 1) failed:\n\(result.outputTail(lines: 60))")
            debs.append("\(work)/build\(index)/debs/vrmd-whois_1_amd64.deb")
        }
        let first = try Data(contentsOf: URL(fileURLWithPath: debs[0])), second = try Data(contentsOf: URL(fileURLWithPath: debs[1]))
        // A Bool, not `first == second` inside #expect: on a mismatch Swift Testing would compute the
        // difference of two 20 MB collections byte by byte (it does not finish).
        let identical = first == second
        #expect(identical, "two cold builds of one commit on two fresh build hosts differ:\n\(Self.diffoscope(debs[0], debs[1]))")
        // The package has native code (psycopg2 compiled by pip), so the identity covers a compiled extension.
        let contents = try TestShell.run("dpkg-deb", ["-c", debs[0]]).checked("list the package").stdout
        #expect(contents.contains("psycopg2/_psycopg.cpython-"), "no psycopg2 extension in:\n\(contents.prefix(2000))")
    }

    /// diffoscope's report on two files, capped at `limit` characters, or why there is none.
    static func diffoscope(_ first: String, _ second: String, limit: Int = 8000) -> String {
        guard let result = try? TestShell.run("diffoscope", ["--text", "-", "--no-progress", first, second], timeout: .seconds(600)),
              result.status != 127 else {
            return "(diffoscope did not run; apt-get install diffoscope)"
        }
        let text = result.stdout + result.stderr
        return text.count > limit ? String(text.prefix(limit)) + "\n[... \(text.count - limit) more characters]" : text
    }
}
#endif
