/// Something the command line could not do: find or build the fabfile, or understand the arguments.
///
/// The description is one sentence saying what is wrong and what to do, prefixed with `path:line:`
/// when the problem is at a place in the fabfile (so editors and terminals can jump there).
public struct FabCLIError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is; ``ExitStatus`` maps codes to exit statuses.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's name.
        public var rawValue: String
        /// A code with this name; other modules may define their own.
        public init(_ rawValue: String) { self.rawValue = rawValue }
        /// The code's name.
        public var description: String { rawValue }

        /// No `fabfile.swift` or `Fabfiles/` was found, or `-f` names nothing usable.
        public static let fabfileNotFound = Code("fabfileNotFound")
        /// The fabfile could not be read, or its tasks could not be understood.
        public static let fabfileInvalid = Code("fabfileInvalid")
        /// The Swift compiler rejected the fabfile; its diagnostics were shown.
        public static let compileFailed = Code("compileFailed")
        /// No Swift compiler was found, or it could not be run.
        public static let compilerUnavailable = Code("compilerUnavailable")
        /// fab's own Swift modules (needed to compile fabfiles) are missing.
        public static let installationIncomplete = Code("installationIncomplete")
        /// The cache directory could not be created or written.
        public static let cacheUnavailable = Code("cacheUnavailable")
        /// The compiled fabfile could not be loaded.
        public static let pluginLoadFailed = Code("pluginLoadFailed")
        /// The command line names a task the fabfile does not have.
        public static let unknownTask = Code("unknownTask")
        /// The command line gives a task an argument it does not take, or a malformed or missing one.
        public static let invalidTaskArgument = Code("invalidTaskArgument")
        /// A global option has an invalid value.
        public static let invalidOption = Code("invalidOption")
    }

    /// What kind of failure this is.
    public var code: Code
    /// The sentence describing the problem and what to do.
    public var message: String
    /// The file the problem is in, if any.
    public var path: String?
    /// The 1-based line in ``path``, if known.
    public var line: Int?

    /// An error with a code, a sentence, and optionally the place in the fabfile it is about.
    public init(_ code: Code, _ message: String, path: String? = nil, line: Int? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.line = line
    }

    /// `path:line: message`, `path: message`, or the message alone.
    public var description: String {
        switch (path, line) {
        case let (path?, line?): return "\(path):\(line): \(message)"
        case let (path?, nil): return "\(path): \(message)"
        default: return message
        }
    }
}
