import FabSSH
import FabTestSupport
import Foundation
import Testing
@testable import FabCore

/// A clock the test moves by hand.
final class ManualClock: @unchecked Sendable {
    // Set by the test, read by the meter on the same thread.
    private let lock = NSLock()
    private var seconds = 100.0
    var now: @Sendable () -> Double { { self.lock.withLock { self.seconds } } }
    func set(_ value: Double) { lock.withLock { seconds = 100 + value } }
}

@Suite("Transfer progress")
struct TransferMeterTests {
    @Test("in a pipe: a line when a quarter is passed and at least 5 s went by since the last, then the result")
    func pipeLines() {
        let captured = CapturedOutput()
        let sink = captured.sink
        let clock = ManualClock()
        let meter = TransferMeter(output: sink, host: "h1", verb: "put", name: "/tmp/big.bin", visible: .all, now: clock.now)
        let reports: [(Double, Int64)] = [(0, 0), (1, 30), (6, 55), (7, 80), (12, 90), (13, 100)]
        for (time, done) in reports {
            clock.set(time)
            meter.report(TransferProgress(path: "/tmp/big.bin", bytesDone: done, totalBytes: 100))
        }
        meter.finish(succeeded: true)
        let lines = captured.value.split(separator: "\n").map(String.init)
        #expect(lines == [
            "[h1] put: big.bin 50% (55 B of 100 B, 9 B/s, 0:05 left)",
            "[h1] put: big.bin 75% (90 B of 100 B, 7 B/s, 0:02 left)",
            "[h1] put big.bin: 100 B in 13.0 s (7 B/s)",
        ])
    }

    @Test("in a pipe a transfer over in under 5 s prints no progress at all")
    func quickTransferIsQuiet() {
        let captured = CapturedOutput()
        let clock = ManualClock()
        let meter = TransferMeter(output: captured.sink, host: "h1", verb: "get", name: "/srv/a.deb", visible: .all, now: clock.now)
        for step in 0...4 {
            clock.set(Double(step) * 0.5)
            meter.report(TransferProgress(path: "/srv/a.deb", bytesDone: Int64(step * 25), totalBytes: 100))
        }
        meter.finish(succeeded: true)
        #expect(captured.value.isEmpty, "\(captured.value)")
    }

    @Test("on a terminal: one bar per host at the bottom, other output above them, results replacing the bars")
    func terminalBars() {
        let captured = CapturedOutput()
        let sink = OutputSink(live: true, columns: 100, write: { captured.append($0) })
        let clock = ManualClock()
        let first = TransferMeter(output: sink, host: "h1", verb: "put", name: "app.tar", visible: .all, now: clock.now)
        let second = TransferMeter(output: sink, host: "h2", verb: "put", name: "app.tar", visible: .all, now: clock.now)
        clock.set(0.3)
        first.report(TransferProgress(path: "/srv/app.tar", bytesDone: 512 << 10, totalBytes: 2 << 20))
        second.report(TransferProgress(path: "/srv/app.tar", bytesDone: 1 << 20, totalBytes: 2 << 20))
        sink.line("h1", .stdout, "hello", visible: .all)
        clock.set(0.5)
        first.report(TransferProgress(path: "/srv/app.tar", bytesDone: 1536 << 10, totalBytes: 2 << 20))
        let during = TerminalScreen(captured.value).lines
        #expect(during == [
            "[h1] out: hello",
            "[h1] put app.tar [######################--------]  75%  1.5 MiB/2.0 MiB  3.0 MiB/s, 0:01 left",
            "[h2] put app.tar [###############---------------]  50%  1.0 MiB/2.0 MiB  3.3 MiB/s, 0:01 left",
        ], "\(during)")
        clock.set(1)
        first.report(TransferProgress(path: "/srv/app.tar", bytesDone: 2 << 20, totalBytes: 2 << 20))
        first.finish(succeeded: true)
        second.report(TransferProgress(path: "/srv/app.tar", bytesDone: 2 << 20, totalBytes: 2 << 20))
        second.finish(succeeded: true)
        let after = TerminalScreen(captured.value).lines
        #expect(after == [
            "[h1] out: hello",
            "[h1] put app.tar: 2.0 MiB in 1.0 s (2.0 MiB/s)",
            "[h2] put app.tar: 2.0 MiB in 1.0 s (2.0 MiB/s)",
        ], "\(after)")
    }
}
