import Foundation

/// A minimal terminal, for asserting what a person would see: what stays on screen after text
/// with carriage returns, newlines, erase-to-end-of-line (`ESC[K`) and cursor-up (`ESC[nA`);
/// colour sequences are dropped.
public struct TerminalScreen: Sendable {
    /// The screen's rows, top to bottom, without trailing blanks.
    public private(set) var lines: [String] = []

    /// The screen after `text` was written to an empty terminal.
    public init(_ text: String) {
        var rows: [[Character]] = [[]]
        var row = 0, column = 0
        var scalars = Array(Self.stripColour(text).unicodeScalars)[...]
        while let scalar = scalars.popFirst() {
            switch scalar {
            case "\r": column = 0
            case "\n":
                row += 1
                column = 0
                if row == rows.count { rows.append([]) }
            case "\u{1B}":
                guard scalars.first == "[" else { continue }
                scalars.removeFirst()
                var digits = ""
                while let next = scalars.first, ("0"..."9").contains(next) { digits.unicodeScalars.append(next); scalars.removeFirst() }
                guard let command = scalars.popFirst() else { break }
                if command == "K" {
                    if column < rows[row].count { rows[row].removeSubrange(column...) }
                } else if command == "A" {
                    row = max(0, row - (Int(digits) ?? 1))
                }
            default:
                while rows[row].count < column { rows[row].append(" ") }
                if column < rows[row].count { rows[row][column] = Character(scalar) } else { rows[row].append(Character(scalar)) }
                column += 1
            }
        }
        lines = rows.map { String($0) }
        while lines.last?.isEmpty == true { lines.removeLast() }
    }

    /// The text without SGR (colour) sequences.
    public static func stripColour(_ text: String) -> String {
        text.replacingOccurrences(of: "\u{1B}\\[[0-9;]*m", with: "", options: .regularExpression)
    }
}
