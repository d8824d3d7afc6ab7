import ArgumentParser

/// `--keepalive SECONDS[:COUNT]`: how often fab checks that a silent server is still there, and after how
/// many unanswered checks it gives up (ssh_config's `ServerAliveInterval` and `ServerAliveCountMax`).
/// `0` turns keepalives off; the default is 15 s and 3 checks, so a stopped server is reported within 45 s.
public struct KeepaliveSetting: Sendable, Equatable, ExpressibleByArgument {
    /// Seconds of silence before a keepalive is sent; 0 for none.
    public var interval: Int
    /// Unanswered keepalives before the connection is declared dead; nil keeps ssh_config's or the default.
    public var count: Int?

    /// Makes a setting from its parts.
    public init(interval: Int, count: Int? = nil) {
        self.interval = interval
        self.count = count
    }

    /// Parses `SECONDS` or `SECONDS:COUNT`; nil (an argument error) for anything else.
    public init?(argument: String) {
        let parts = argument.split(separator: ":", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count),
              let interval = Int(parts[0]), interval >= 0, interval <= 86_400 else { return nil }
        var count: Int?
        if parts.count == 2 {
            guard let value = Int(parts[1]), value >= 1, value <= 1000 else { return nil }
            count = value
        }
        self.init(interval: interval, count: count)
    }
}
