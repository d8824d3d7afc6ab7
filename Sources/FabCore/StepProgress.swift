import Foundation

/// The live state of one ``Fab/step(_:heartbeat:_:)``: its name, when it started and the last line
/// its commands printed, shown as a live row on a terminal or as heartbeat lines in a log.
final class StepProgress: @unchecked Sendable {
    // Fed from session queues (output lines) and the ticker task; the state is only touched under `lock`.
    private let lock = NSLock()
    private let output: OutputSink
    private let host: String
    private let name: String
    private let heartbeat: Double
    private let visible: OutputGroups
    private let now: @Sendable () -> Double
    private let started: Double
    private var lastLine: String?
    private var lastDrawn: Double = 0
    private var lastBeat: Double
    private var finished = false

    /// - Parameters:
    ///   - heartbeat: seconds between two "still running" lines when not on a terminal.
    ///   - now: a monotonic clock in seconds (tests pass their own).
    init(output: OutputSink, host: String, name: String, heartbeat: Double, visible: OutputGroups,
         now: @escaping @Sendable () -> Double = { ProcessInfo.processInfo.systemUptime }) {
        self.output = output
        self.host = host
        self.name = name
        self.heartbeat = heartbeat
        self.visible = visible
        self.now = now
        started = now()
        lastBeat = started
    }

    /// How often the ticker should call ``tick()``.
    var tickInterval: Double { output.live ? 0.5 : max(heartbeat, 0.1) }

    /// Notes a complete line the step's commands printed, shown or hidden (of a line drawn with
    /// carriage returns, its last frame).
    func saw(_ line: String) {
        let frame = OutputSink.lastFrame(line).trimmingCharacters(in: .whitespaces)
        guard !frame.isEmpty else { return }
        lock.withLock {
            lastLine = frame
            if output.live, now() - lastDrawn >= 0.1 { draw() }
        }
    }

    /// Redraws the live row, or prints a heartbeat line when one is due.
    func tick() {
        lock.withLock {
            guard !finished else { return }
            let time = now()
            if output.live {
                draw()
            } else if time - lastBeat >= heartbeat - 0.05 {
                lastBeat = time
                let last = lastLine.map { " (last: \(Self.shortened($0, to: 100)))" } ?? ""
                output.line(host, .status, "\(name): still running after \(Self.seconds(time - started))\(last)", visible: visible)
            }
        }
    }

    /// Ends the step: its row is replaced by the result line (for a step that failed or took a
    /// second or more; a quicker one leaves no line).
    func finish(failed: Bool) {
        lock.withLock {
            finished = true
            if output.live { output.endProgress(host, key: key) }
            let seconds = now() - started
            guard failed || seconds >= 1 else { return }
            let elapsed = Self.seconds(seconds)
            output.line(host, .status, failed ? "\(name): failed after \(elapsed)" : "\(name): done in \(elapsed)", visible: visible)
        }
    }

    private var key: String { "step \(name)" }

    /// The row: `pip install (12.3 s): Downloading Django-4.2.tar.gz`, kept to the terminal's width.
    private func draw() {
        guard !finished else { return }
        lastDrawn = now()
        var text = "\(name) (\(Self.seconds(lastDrawn - started)))"
        if let lastLine {
            let room = output.width - 1 - (host.count + 3) - text.count - 2
            if room > 8 { text += ": " + Self.shortened(lastLine, to: room) }
        }
        output.progress(host, key: key, text, visible: visible)
    }

    private static func shortened(_ text: String, to length: Int) -> String {
        text.count > length ? String(text.prefix(max(0, length - 1))) + "…" : text
    }

    static func seconds(_ value: Double) -> String { String(format: "%.1f s", value) }
}

extension Fab {
    /// Runs `body` as a named step that a person can follow while it runs: on a terminal, a live
    /// row `[host] name (12.3 s): last output line` below other output, replaced by
    /// `[host] name: done in 13.1 s` (or `failed after`) when it ends; in a log, a line every
    /// `heartbeat` seconds while it runs (`name: still running after 10.0 s (last: ...)`) and the
    /// result line. A step that succeeds in under a second leaves no result line. The last output
    /// line is the last complete one, hidden with ``hide(_:_:)`` or not. Part of the `status` output group.
    /// - Parameters:
    ///   - name: what the step does (`pip install`, `lintian`).
    ///   - heartbeat: seconds between "still running" lines when output is not a terminal.
    /// - Throws: what `body` throws, after printing that the step failed.
    @discardableResult
    public func step<T>(_ name: String, heartbeat: Double = 10, _ body: () async throws -> T) async rethrows -> T {
        var settings = Settings.current
        let progress = StepProgress(output: runtime.output, host: label, name: name, heartbeat: heartbeat,
                                    visible: settings.visible)
        settings.steps.append(progress)
        let interval = progress.tickInterval
        // Ends when the step does (cancelled below), so its sleep needs no other deadline.
        let ticker = Task {
            while !Task.isCancelled {
                try? await Task.sleep(nanoseconds: UInt64(interval * 1_000_000_000))
                if Task.isCancelled { break }
                progress.tick()
            }
        }
        do {
            let value = try await Settings.$current.withValue(settings) { try await body() }
            ticker.cancel()
            progress.finish(failed: false)
            return value
        } catch {
            ticker.cancel()
            progress.finish(failed: true)
            throw error
        }
    }
}
