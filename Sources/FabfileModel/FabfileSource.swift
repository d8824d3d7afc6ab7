/// One Swift source file of a fabfile, with its contents.
public struct FabfileSource: Sendable, Equatable, Codable {
    /// The file's absolute path; compiler diagnostics and generated code refer to it.
    public var path: String
    /// The file's text.
    public var text: String

    /// A source file from its path and text.
    public init(path: String, text: String) {
        self.path = path
        self.text = text
    }
}
