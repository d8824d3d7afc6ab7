import Foundation

/// A password, passphrase or token: it prints as `***` in descriptions, logs and dumps.
///
/// The text is only reachable through ``withRevealed(_:)``, which keeps the places that
/// handle the real value few and easy to find.
public struct Secret: Sendable, CustomStringConvertible, CustomDebugStringConvertible, ExpressibleByStringLiteral {
    private let value: String

    /// Wraps a secret value.
    public init(_ value: String) { self.value = value }
    public init(stringLiteral value: String) { self.value = value }

    /// Runs `body` with the secret's text.
    public func withRevealed<T>(_ body: (String) throws -> T) rethrows -> T { try body(value) }

    public var description: String { "***" }
    public var debugDescription: String { "Secret(***)" }
}

/// What a connection may need to ask the user for, lazily, only when the server requires it.
public enum SecretRequest: Sendable, Equatable, CustomStringConvertible {
    /// The passphrase of an encrypted private key file.
    case keyPassphrase(path: String)
    /// The login password of `user@host`.
    case password(user: String, host: String)
    /// A keyboard-interactive prompt shown by the server.
    case keyboardInteractive(user: String, host: String, prompt: String)
    /// The password `sudo` asks for on `host` (asked once per run, kept in memory only).
    case sudoPassword(host: String)

    public var description: String {
        switch self {
        case .keyPassphrase(let path): "Enter passphrase for key '\(path)': "
        case .password(let user, let host): "\(user)@\(host)'s password: "
        case .keyboardInteractive(let user, let host, let prompt): "(\(user)@\(host)) \(prompt)"
        case .sudoPassword(let host): "[\(host)] sudo password: "
        }
    }
}

/// Answers ``SecretRequest``s (for example by prompting on the terminal); nil means "none".
public typealias SecretProvider = @Sendable (SecretRequest) -> Secret?

/// Remembers what a ``SecretProvider`` answered, to answer the same requests again without asking.
/// `@unchecked Sendable`: its one piece of mutable state, `answers`, is only touched under `lock`
/// (written on the connecting session's queue, read by later connections on theirs).
final class SecretRecorder: @unchecked Sendable {
    private let upstream: SecretProvider
    private let lock = NSLock()
    private var answers: [(SecretRequest, Secret)] = []

    init(_ upstream: @escaping SecretProvider) { self.upstream = upstream }

    /// Asks `upstream` and remembers its answer.
    var provider: SecretProvider {
        { [self] request in
            let answer = upstream(request)
            if let answer { lock.withLock { answers.append((request, answer)) } }
            return answer
        }
    }

    /// Answers only what was answered before; never asks.
    var replay: SecretProvider {
        { [self] request in lock.withLock { answers.last(where: { $0.0 == request })?.1 } }
    }
}
