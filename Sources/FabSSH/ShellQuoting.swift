/// The one function that makes a value safe to interpolate into a POSIX shell command.
public enum ShellQuoting {
    /// Quotes `value` as one shell word: bare when it contains only safe characters,
    /// otherwise in single quotes with embedded single quotes written as `'\''`.
    /// Safe against spaces, quotes, `;`, `$()`, backticks, globs and newlines.
    public static func quote(_ value: String) -> String {
        if !value.isEmpty && value.utf8.allSatisfy(isSafe) { return value }
        return "'" + value.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// Quotes each argument and joins them with spaces: a command line that runs exactly `arguments`.
    public static func join(_ arguments: [String]) -> String {
        arguments.map(quote).joined(separator: " ")
    }

    private static func isSafe(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
             UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        case UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "/"),
             UInt8(ascii: ":"), UInt8(ascii: "@"), UInt8(ascii: "%"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: "="):
            return true
        default:
            return false
        }
    }
}
