import FabSSH
import Foundation

/// Shows one `put` or `get` as it goes, through the output sink.
///
/// On a terminal: a bar of its own at the bottom of the screen, labelled `[host]`, with bytes,
/// percent, rate and time left, redrawn at most ten times a second and replaced by a result line
/// when the transfer ends (a transfer over within a fifth of a second draws nothing). Elsewhere
/// (a pipe, a CI log): a line when the transfer passes 25, 50 or 75 %, at most one every
/// `interval` seconds, and a result line at the end when any line was printed or it took that long.
final class TransferMeter: @unchecked Sendable {
    // Reports come from the session's queue, or from several stream threads (serialised by
    // FabSSH's tally); the state below is only touched under `lock`.
    private let lock = NSLock()
    private let output: OutputSink
    private let host: String
    private let verb: String
    private let key: String
    private let name: String
    private let tree: Bool
    private let visible: OutputGroups
    private let interval: Double
    private let now: @Sendable () -> Double
    private let started: Double
    private var lastLine: Double
    private var lastDrawn: Double?
    private var printedLine = false
    private var lastQuarter = 0
    private var currentPath = ""
    private var currentDone: Int64 = 0
    private var currentTotal: Int64 = 0
    private var finishedBytes: Int64 = 0

    /// - Parameters:
    ///   - verb: `put` or `get`.
    ///   - name: the file or tree as shown.
    ///   - tree: a directory tree, whose bar names the file being sent (else it names `name`).
    ///   - interval: the fewest seconds between two progress lines when not on a terminal.
    ///   - now: a monotonic clock in seconds (tests pass their own).
    init(output: OutputSink, host: String, verb: String, name: String, tree: Bool = false, visible: OutputGroups = Settings.current.visible,
         interval: Double = 5, now: @escaping @Sendable () -> Double = { ProcessInfo.processInfo.systemUptime }) {
        self.output = output
        self.host = host
        self.verb = verb
        self.key = "\(verb) \((name as NSString).lastPathComponent)"
        self.name = name
        self.tree = tree
        self.visible = visible
        self.interval = interval
        self.now = now
        started = now()
        lastLine = started
    }

    /// The handler to give FabSSH's transfer.
    var handler: TransferProgressHandler { { progress in self.report(progress) } }

    /// Takes one progress report.
    func report(_ progress: TransferProgress) {
        lock.withLock {
            if progress.path != currentPath {
                finishedBytes += currentDone
                currentPath = progress.path
                lastQuarter = 0
            }
            currentDone = progress.bytesDone
            currentTotal = progress.totalBytes
            let time = now()
            if output.live {
                let due = lastDrawn.map { time - $0 >= 0.1 } ?? (time - started >= 0.2)
                guard due else { return }
                lastDrawn = time
                output.progress(host, key: key, bar(time: time), visible: visible)
            } else {
                guard progress.totalBytes > 0 else { return }
                let quarter = Int(progress.bytesDone * 4 / progress.totalBytes)
                guard quarter > lastQuarter, quarter < 4, time - lastLine >= interval else { return }
                lastQuarter = quarter
                lastLine = time
                printedLine = true
                output.line(host, .status, "\(verb): \(shownName(progress.path)) \(quarter * 25)% (\(Self.size(progress.bytesDone)) of \(Self.size(progress.totalBytes)), \(rateText(time: time)))", visible: visible)
            }
        }
    }

    /// Ends the transfer: removes its bar and prints its result line when it was shown at all.
    func finish(succeeded: Bool) {
        lock.withLock {
            let time = now()
            let drawn = lastDrawn != nil
            if output.live { output.endProgress(host, key: key) }
            guard succeeded, drawn || printedLine || (!output.live && time - started >= interval) else { return }
            let bytes = finishedBytes + currentDone
            let seconds = time - started
            output.line(host, .status, "\(key): \(Self.size(bytes)) in \(String(format: "%.1f", seconds)) s (\(Self.size(Int64(Double(bytes) / max(seconds, 0.001))))/s)", visible: visible)
        }
    }

    /// One row: `put app.tar [#######-------]  45%  28.8 MiB/64.0 MiB  110.2 MiB/s, 0:01 left`.
    private func bar(time: Double) -> String {
        let percent = currentTotal > 0 ? Int(currentDone * 100 / currentTotal) : 100
        let tail = String(format: " %3d%%  ", percent) + "\(Self.size(currentDone))/\(Self.size(currentTotal))  \(rateText(time: time))"
        let whole = shownName(currentPath)
        let shownName = whole.count > 24 ? String(whole.prefix(23)) + "…" : whole
        let head = "\(verb) \(shownName) ["
        let room = output.width - 1 - (host.count + 3) - head.count - 1 - tail.count
        let width = min(30, room)
        guard width >= 5 else { return "\(verb) \(shownName)\(tail)" }
        let filled = currentTotal > 0 ? Int(Int64(width) * currentDone / currentTotal) : width
        return head + String(repeating: "#", count: filled) + String(repeating: "-", count: width - filled) + "]" + tail
    }

    /// `110.2 MiB/s, 0:01 left`: the rate over the whole transfer so far, and the current file's time left.
    private func rateText(time: Double) -> String {
        let seconds = max(time - started, 0.001)
        let rate = Double(finishedBytes + currentDone) / seconds
        var text = "\(Self.size(Int64(rate)))/s"
        if rate > 0, currentTotal > currentDone {
            let left = Int((Double(currentTotal - currentDone) / rate).rounded(.up))
            text += String(format: ", %d:%02d left", left / 60, left % 60)
        }
        return text
    }

    /// The file's name as shown: the transfer's for a file, the current file's in a tree.
    private func shownName(_ path: String) -> String { ((tree ? path : name) as NSString).lastPathComponent }

    /// Bytes in B, KiB, MiB or GiB, one decimal.
    static func size(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f", value) + " " + units[unit]
    }
}
