import Foundation

/// What a row is compared on.
enum Measure: Sendable {
    /// A duration in seconds; lower is better.
    case seconds(fab: Double, openSSH: Double)
    /// A transfer: bytes and seconds on each side; higher throughput is better.
    case transfer(bytes: Int, fab: Double, openSSH: Double)

    /// fab's time over OpenSSH's.
    var timeRatio: Double {
        switch self {
        case let .seconds(fab, openSSH), let .transfer(_, fab, openSSH): return fab / openSSH
        }
    }
    /// fab's throughput (or rate) over OpenSSH's: the inverse of ``timeRatio``.
    var speedRatio: Double { 1 / timeRatio }
}

/// What a row must reach.
enum Target: Sendable {
    /// Shown for reference; nothing to meet.
    case none
    /// fab's time at most this many times OpenSSH's.
    case timeAtMost(Double)
    /// fab's throughput at least this many times OpenSSH's.
    case speedAtLeast(Double)

    var text: String {
        switch self {
        case .none: return "-"
        case let .timeAtMost(limit): return "time <= \(format(limit))x"
        case let .speedAtLeast(limit): return "MB/s >= \(format(limit))x"
        }
    }

    func isMet(by measure: Measure) -> Bool? {
        switch self {
        case .none: return nil
        case let .timeAtMost(limit): return measure.timeRatio <= limit
        case let .speedAtLeast(limit): return measure.speedRatio >= limit
        }
    }

    private func format(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) + ".0" : String(value)
    }
}

/// One line of the results table.
struct BenchRow: Sendable {
    var scenario: String
    /// What the OpenSSH side ran.
    var openSSHTool: String
    var measure: Measure
    var target: Target
}

/// Renders the results as a fixed-width table, plus notes.
struct BenchReport {
    var rows: [BenchRow] = []
    var notes: [String] = []

    func render() -> String {
        let header = ["Scenario", "fab", "OpenSSH", "(OpenSSH tool)", "fab/OpenSSH time", "fab/OpenSSH speed", "Target", "Result"]
        var table = [header]
        for row in rows {
            let (fab, openSSH) = Self.values(row.measure)
            let met = row.target.isMet(by: row.measure).map { $0 ? "met" : "NOT MET" } ?? "-"
            table.append([row.scenario, fab, openSSH, row.openSSHTool,
                          String(format: "%.2fx", row.measure.timeRatio), String(format: "%.2fx", row.measure.speedRatio),
                          row.target.text, met])
        }
        let widths = header.indices.map { column in table.map { $0[column].count }.max() ?? 0 }
        let rightAligned: Set<Int> = [1, 2, 4, 5]
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { column, cell in
                let pad = String(repeating: " ", count: widths[column] - cell.count)
                return rightAligned.contains(column) ? pad + cell : cell + pad
            }.joined(separator: "  ").trimmingTrailingSpaces()
        }
        var output = [line(header), widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ")]
        output += table.dropFirst().map(line)
        if !notes.isEmpty {
            output.append("")
            output += notes.map { "* " + $0 }
        }
        return output.joined(separator: "\n")
    }

    private static func values(_ measure: Measure) -> (String, String) {
        switch measure {
        case let .seconds(fab, openSSH):
            return (milliseconds(fab), milliseconds(openSSH))
        case let .transfer(bytes, fab, openSSH):
            return (megabytesPerSecond(bytes, fab), megabytesPerSecond(bytes, openSSH))
        }
    }

    static func milliseconds(_ seconds: Double) -> String {
        seconds < 0.01 ? String(format: "%.2f ms", seconds * 1000) : String(format: "%.1f ms", seconds * 1000)
    }

    static func megabytesPerSecond(_ bytes: Int, _ seconds: Double) -> String {
        String(format: "%.0f MB/s", Double(bytes) / seconds / 1e6)
    }
}

extension String {
    func trimmingTrailingSpaces() -> String {
        var copy = self
        while copy.last == " " { copy.removeLast() }
        return copy
    }
}

/// The median of some samples (the mean of the middle two for an even count).
func median(_ samples: [Double]) -> Double {
    let sorted = samples.sorted()
    guard !sorted.isEmpty else { return .nan }
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}
