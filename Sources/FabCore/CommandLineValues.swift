/// Values given on fab's command line with `--set KEY=VALUE[,KEY=VALUE]` (Fabric 1's `--set`), for tasks
/// to read: `fab.values["release"]`, or typed, `try fab.values.value("workers", as: Int.self)`.
///
/// Keys are names (a letter or `_`, then letters, digits, `_`, `.` or `-`); values are data, never run or
/// interpolated by fab: quote a value with ``Fab/quote(_:)`` before putting it into a command.
public struct CommandLineValues: Sendable, Equatable {
    /// Every value, by key.
    public let all: [String: String]

    /// Values by key.
    /// - Parameter all: the values; their keys should satisfy ``isValidKey(_:)`` (the command line checks).
    public init(_ all: [String: String] = [:]) {
        self.all = all
    }

    /// The text given for `key`, or nil when the command line did not set it.
    public subscript(key: String) -> String? { all[key] }

    /// The value of `key` parsed as `T` (`String`, `Int`, `Double`, `Bool`, or any ``TaskArgumentValue``),
    /// or nil when the command line did not set it.
    /// - Throws: ``FabError`` (`.invalidArgument`) when the text is not a valid `T`.
    public func value<T: TaskArgumentValue>(_ key: String, as type: T.Type) throws(FabError) -> T? {
        guard let text = all[key] else { return nil }
        guard let value = T(taskArgument: text) else {
            throw FabError(.invalidArgument,
                           "--set \(key)=\(text): '\(text)' is not a valid \(T.self); give --set \(key)= a \(T.self) value.")
        }
        return value
    }

    /// The value of `key` parsed as `T`, or `defaultValue` when the command line did not set it.
    /// - Throws: ``FabError`` (`.invalidArgument`) when the text is not a valid `T`.
    public func value<T: TaskArgumentValue>(_ key: String, default defaultValue: T) throws(FabError) -> T {
        try value(key, as: T.self) ?? defaultValue
    }

    /// Whether `key` can name a value: a letter or `_`, then ASCII letters, digits, `_`, `.` or `-`.
    public static func isValidKey(_ key: String) -> Bool {
        guard let first = key.unicodeScalars.first, first.isASCII,
              first.properties.isAlphabetic || first == "_" else { return false }
        return key.unicodeScalars.allSatisfy { scalar in
            scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "_.-".unicodeScalars.contains(scalar))
        }
    }
}

extension Fab {
    /// The values given on the command line with `--set KEY=VALUE`; see ``CommandLineValues``.
    public var values: CommandLineValues { runtime.values }
}
