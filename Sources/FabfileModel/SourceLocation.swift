/// A line in a fabfile source file.
public struct SourceLocation: Sendable, Equatable, Codable, CustomStringConvertible {
    /// The file's path.
    public var path: String
    /// The 1-based line.
    public var line: Int

    /// A location from a path and a line.
    public init(path: String, line: Int) {
        self.path = path
        self.line = line
    }

    /// `path:line`, the form compilers and editors use.
    public var description: String { "\(path):\(line)" }
}
