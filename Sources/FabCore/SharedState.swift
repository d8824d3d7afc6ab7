import Foundation

/// A typed key for values tasks share during one `fab` run (a build number computed by one
/// task and used by the next).
public struct StateKey<Value: Sendable>: Sendable {
    public let name: String
    public init(_ name: String) { self.name = name }
}

/// Per-run shared state: one store for the whole `fab` invocation, across tasks and hosts.
public final class SharedState: @unchecked Sendable {
    // Tasks on several hosts may read and write concurrently; every access holds the lock.
    private let lock = NSLock()
    private var values: [String: any Sendable] = [:]

    public init() {}

    /// The value stored under `key`, or nil.
    public subscript<Value>(key: StateKey<Value>) -> Value? {
        get { lock.withLock { values[key.name] as? Value } }
        set { lock.withLock { values[key.name] = newValue } }
    }

    /// Returns the stored value, or computes, stores and returns it (once, even if hosts race).
    public func value<Value>(for key: StateKey<Value>, orCompute compute: () async throws -> Value) async rethrows -> Value {
        if let existing = self[key] { return existing }
        let computed = try await compute()
        return lock.withLock {
            if let existing = values[key.name] as? Value { return existing }
            values[key.name] = computed
            return computed
        }
    }
}
