/// A task function found in a fabfile by the scanner (`fab-scan`): everything needed to register and call it.
public struct ScannedTask: Sendable, Equatable, Codable {
    /// One parameter after the `Fab` context.
    public struct Parameter: Sendable, Equatable, Codable {
        /// The argument label used in calls, or nil for `_`.
        public var label: String?
        /// The parameter's name inside the function, which is also its name on the command line.
        public var name: String
        /// The type as written (`String?`).
        public var typeName: String
        /// The default value expression as written, or nil.
        public var defaultValue: String?
        /// The line the parameter is declared on.
        public var line: Int

        /// A parameter from its parts.
        public init(label: String?, name: String, typeName: String, defaultValue: String? = nil, line: Int) {
            self.label = label
            self.name = name
            self.typeName = typeName
            self.defaultValue = defaultValue
            self.line = line
        }
    }

    /// The task's name: the function name without backticks.
    public var name: String
    /// The function name as written, to call it (`` `default` ``).
    public var functionName: String
    /// The file the function is declared in.
    public var path: String
    /// The line of the `func` keyword.
    public var line: Int
    /// The argument label of the `Fab` parameter, or nil for `_`.
    public var contextLabel: String?
    /// The parameters after the `Fab` context, in order.
    public var parameters: [Parameter]
    /// What the doc comment says.
    public var documentation: TaskDocumentation
    /// Whether the function is `async`.
    public var isAsync: Bool
    /// Whether the function `throws`.
    public var isThrowing: Bool
    /// Whether the function is isolated to a global actor (`@MainActor`), so calls need `await`.
    public var isActorIsolated: Bool

    /// A task from its parts.
    public init(name: String, functionName: String, path: String, line: Int, contextLabel: String?,
                parameters: [Parameter], documentation: TaskDocumentation,
                isAsync: Bool, isThrowing: Bool, isActorIsolated: Bool) {
        self.name = name
        self.functionName = functionName
        self.path = path
        self.line = line
        self.contextLabel = contextLabel
        self.parameters = parameters
        self.documentation = documentation
        self.isAsync = isAsync
        self.isThrowing = isThrowing
        self.isActorIsolated = isActorIsolated
    }
}
