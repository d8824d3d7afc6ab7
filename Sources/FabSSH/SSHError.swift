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
        /// The server accepted TCP connections but kept closing them during the handshake (sshd's `MaxStartups`).
        public static let throttled = Code("throttled")
        /// A command line is longer than one SSH exec request carries.
        public static let commandTooLong = Code("command-too-long")
        /// A prompt a ``Responder`` answers appeared again: the answer was refused.
        public static let promptRepeated = Code("prompt-repeated")
        /// A prompt a ``Responder`` answers appeared after the command's input was closed.
        public static let promptUnanswerable = Code("prompt-unanswerable")

        // ssh_config files (``SSHConfig``); `path` and `line` say where.
        /// A keyword has a value that is not valid for it (a bad port, time, flag, ProxyJump...).
        public static let invalidValue = Code("invalid-value")
        /// A keyword fab reads has no value.
        public static let missingArgument = Code("missing-argument")
        /// A keyword fab reads has more values than it takes.
        public static let extraArgument = Code("extra-argument")
        /// A quote is not closed.
        public static let invalidQuotes = Code("invalid-quotes")
        /// A `Match` line is malformed (missing criterion argument, `all` combined with others, an unknown criterion).
        public static let invalidMatch = Code("invalid-match")
        /// A keyword OpenSSH does not know, not covered by `IgnoreUnknown`.
        public static let unknownKeyword = Code("unknown-keyword")
        /// A `Match exec` command could not be run (or used an unknown `%` token).
        public static let matchExec = Code("match-exec")
        /// `Include` directives nest deeper than OpenSSH allows (16).
        public static let includeTooDeep = Code("include-too-deep")
        /// A configuration file exists but cannot be read.
        public static let unreadableFile = Code("unreadable-file")
        /// A configuration file is writable by others or owned by another user, which OpenSSH refuses.
        public static let insecurePermissions = Code("insecure-permissions")

        // known_hosts files and host keys (``KnownHosts``, ``HostKey``).
        /// A key blob or public key line is malformed or of an unsupported type.
        public static let invalidKey = Code("invalid-key")
        /// A host name cannot be written to known_hosts (empty, whitespace, a pattern character) or the port is out of range.
        public static let invalidHost = Code("invalid-host")
        /// The known_hosts file or its directory cannot be created or written.
        public static let writeFailed = Code("write-failed")
    }

    public var code: Code
    /// The host as the user named it (alias or address).
    public var host: String
    /// What fab was doing: "connect", "authenticate", "run 'uname -a'", "put /etc/x".
    public var operation: String
    /// The path involved, for file operations and configuration files.
    public var path: String?
    /// The 1-based line of `path` the problem is on, for configuration files.
    public var line: Int?
    /// libssh2's own message, or the system's, when there is one.
    public var underlying: String?
    /// One sentence on what went wrong and what to do.
    public var message: String

    public init(_ code: Code, host: String, operation: String, path: String? = nil, line: Int? = nil,
                underlying: String? = nil, message: String) {
        self.code = code
        self.host = host
        self.operation = operation
        self.path = path
        self.line = line
        self.underlying = underlying
        self.message = message
    }

    public var description: String {
        var text = host.isEmpty ? "" : "[\(host)] "
        switch (path, line) {
        case let (path?, line?): text += "\(path):\(line): \(message)"
        case (nil, _) where host.isEmpty: text += message
        default: text += "\(operation) failed: \(message)"
        }
        if let underlying, !underlying.isEmpty, !message.contains(underlying) {
            text += host.isEmpty ? " (\(underlying))" : " (libssh2: \(underlying))"
        }
        return text
    }

    /// A problem in an ssh_config file (or a `-J`/ProxyJump text when `file` is nil).
    static func config(_ code: Code, file: String?, line: Int?, message: String) -> SSHError {
        SSHError(code, host: "", operation: "read \(file ?? "ssh_config")", path: file, line: line, message: message)
    }

    /// A problem with a host key or a known_hosts file, with the system's reason for a failed call.
    static func knownHosts(_ code: Code, path: String?, errno: Int32? = nil, message: String) -> SSHError {
        SSHError(code, host: "", operation: "update \(path ?? "known_hosts")", path: path,
                 underlying: errno.map { String(cString: strerror($0)) }, message: message)
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
