/// What fab asks its scanner helper, `fab-scan`: the fabfile's files and the configuration they are
/// compiled with. fab writes it as JSON to the helper's standard input.
public struct FabfileScanRequest: Sendable, Equatable, Codable {
    /// The fabfile's files with their text, as fab read them (the text fab hashed for the cache key).
    public var sources: [FabfileSource]
    /// What `#if` conditions are evaluated against.
    public var configuration: FabfileBuildConfiguration

    /// A request from its parts.
    public init(sources: [FabfileSource], configuration: FabfileBuildConfiguration) {
        self.sources = sources
        self.configuration = configuration
    }
}

/// What a fabfile declares: its tasks, its `roledefs` and its imports.
public struct FabfileScanResult: Sendable, Equatable, Codable {
    /// The tasks, in file order and then source order.
    public var tasks: [ScannedTask]
    /// Where the top-level `roledefs` is declared, if the fabfile has one.
    public var roledefs: SourceLocation?
    /// The modules the fabfile imports, in order, each once; the generated registration code
    /// imports them too, so it can name the parameter types they declare.
    public var imports: [String]

    /// A result from its parts.
    public init(tasks: [ScannedTask] = [], roledefs: SourceLocation? = nil, imports: [String] = []) {
        self.tasks = tasks
        self.roledefs = roledefs
        self.imports = imports
    }
}

/// Why the scanner rejected a fabfile: a sentence about a place in the fabfile's own files.
public struct FabfileScanProblem: Error, Sendable, Equatable, Codable {
    /// What is wrong and what to do, in one sentence.
    public var message: String
    /// The file the problem is in.
    public var path: String
    /// The 1-based line in ``path``.
    public var line: Int

    /// A problem from its parts.
    public init(_ message: String, path: String, line: Int) {
        self.message = message
        self.path = path
        self.line = line
    }
}

/// What `fab-scan` writes as JSON to its standard output: the scan's result, or the problem that stopped it.
///
/// A rejected fabfile is an answer, not a failure: the helper exits 0 either way. It exits non-zero only
/// when it cannot read the request.
public enum FabfileScanReply: Sendable, Equatable, Codable {
    /// The fabfile was read.
    case scanned(FabfileScanResult)
    /// The fabfile declares something fab cannot turn into a task.
    case rejected(FabfileScanProblem)
}
