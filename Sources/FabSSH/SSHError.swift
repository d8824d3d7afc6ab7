import CLibSSH2

/// An SSH failure: which host, which operation, libssh2's own message, and what to do.
public struct SSHError: Error, CustomStringConvertible, Sendable {
    /// What kind of failure this is. Extensible: new codes can be added without breaking callers.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        public static let resolve = Code("resolve")
        public static let connect = Code("connect")
        public static let connectTimeout = Code("connect-timeout")
        public static let handshake = Code("handshake")
        public static let hostKeyUnknown = Code("host-key-unknown")
        public static let hostKeyChanged = Code("host-key-changed")
        public static let hostKeyRevoked = Code("host-key-revoked")
        public static let authentication = Code("authentication")
        public static let rsaKeyRefused = Code("rsa-key-refused")
        public static let keyFile = Code("key-file")
        public static let channel = Code("channel")
        public static let timeout = Code("timeout")
        public static let connectionLost = Code("connection-lost")
        public static let cancelled = Code("cancelled")
        public static let sftp = Code("sftp")
        public static let localFile = Code("local-file")
        public static let config = Code("config")
        public static let proxyJump = Code("proxy-jump")
    }

    public var code: Code
    /// The host as the user named it (alias or address).
    public var host: String
    /// What fab was doing: "connect", "authenticate", "run 'uname -a'", "put /etc/x".
    public var operation: String
    /// The path involved, for file operations.
    public var path: String?
    /// libssh2's own message, or the system's, when there is one.
    public var underlying: String?
    /// One sentence on what went wrong and what to do.
    public var message: String

    public init(_ code: Code, host: String, operation: String, path: String? = nil,
                underlying: String? = nil, message: String) {
        self.code = code
        self.host = host
        self.operation = operation
        self.path = path
        self.underlying = underlying
        self.message = message
    }

    public var description: String {
        var text = "[\(host)] \(operation) failed: \(message)"
        if let underlying, !underlying.isEmpty, !message.contains(underlying) { text += " (libssh2: \(underlying))" }
        return text
    }
}

extension SSHError {
    /// An error carrying libssh2's last error message for `session`.
    static func libssh2(_ code: Code, session: OpaquePointer?, host: String, operation: String,
                        path: String? = nil, message: String) -> SSHError {
        SSHError(code, host: host, operation: operation, path: path,
                 underlying: session.map(lastErrorMessage), message: message)
    }

    /// libssh2's message for the last error on `session`.
    static func lastErrorMessage(_ session: OpaquePointer) -> String {
        var messagePointer: UnsafeMutablePointer<CChar>?
        var length: Int32 = 0
        let code = libssh2_session_last_error(session, &messagePointer, &length, 0)
        guard let messagePointer, length > 0 else { return "error \(code)" }
        let text = String(decoding: UnsafeRawBufferPointer(start: messagePointer, count: Int(length)), as: UTF8.self)
        return "\(text) (\(code))"
    }
}
