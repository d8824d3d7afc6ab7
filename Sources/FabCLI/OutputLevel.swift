import FabfileModel

/// A kind of output that `--hide` and `--show` turn off and on, named as in Fabric.
public enum OutputLevel: String, Sendable, CaseIterable, Comparable {
    /// Status messages: connections opened and closed, "Done."
    case status
    /// Failure messages that stop a run.
    case aborts
    /// Warnings, such as a command that failed under `--warn-only`.
    case warnings
    /// The `[host] run: command` line before each command.
    case running
    /// Commands' standard output.
    case stdout
    /// Commands' standard error.
    case stderr
    /// Messages a fabfile prints on purpose.
    case user
    /// Detail for diagnosing fab itself (hidden unless shown).
    case debug

    /// The levels shown when neither `--hide` nor `--show` mentions them: all but ``debug``.
    public static let shownByDefault: Set<OutputLevel> = Set(allCases).subtracting([.debug])

    /// Group names `--hide`/`--show` accept besides the levels, and what they stand for.
    public static let groups: [String: Set<OutputLevel>] = [
        "output": [.stdout, .stderr],
        "commands": [.running, .stdout],
        "everything": Set(allCases).subtracting([.debug]),
    ]

    /// Parses a comma-separated list of levels and group names.
    /// - Returns: the levels, or nil and the first unknown name.
    public static func parseList(_ text: String) -> Result<Set<OutputLevel>, UnknownLevel> {
        var levels: Set<OutputLevel> = []
        for name in text.split(separator: ",").map({ String($0).trimmingWhitespace().lowercased() }) where !name.isEmpty {
            if let level = OutputLevel(rawValue: name) {
                levels.insert(level)
            } else if let group = groups[name] {
                levels.formUnion(group)
            } else {
                return .failure(UnknownLevel(name: name))
            }
        }
        return .success(levels)
    }

    /// A name in `--hide`/`--show` that is neither a level nor a group.
    public struct UnknownLevel: Error, Sendable {
        /// The name as given.
        public var name: String
    }

    /// Every name `--hide`/`--show` accept, for help and error messages.
    public static var allNames: [String] { allCases.map(\.rawValue) + groups.keys.sorted() }

    /// Orders levels as ``allCases`` lists them.
    public static func < (lhs: OutputLevel, rhs: OutputLevel) -> Bool {
        (allCases.firstIndex(of: lhs) ?? 0) < (allCases.firstIndex(of: rhs) ?? 0)
    }
}
