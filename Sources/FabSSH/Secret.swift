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
