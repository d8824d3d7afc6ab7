#if canImport(Glibc)
import Glibc
#endif

/// fab's own output: everything the command line prints goes through here.
///
/// Normal output goes to standard output; errors and status notes to standard error, so `fab -l`
/// can be piped. Tests substitute a sink.
public struct Console: Sendable {
    /// Where text goes.
    public enum Stream: Sendable { case output, error }

    private let sink: @Sendable (Stream, String) -> Void

    /// A console writing to a sink instead of the process's streams.
    public init(sink: @escaping @Sendable (Stream, String) -> Void) {
        self.sink = sink
    }

    /// The process's standard output and standard error.
    public static let standard = Console { stream, text in
        // Tasks print through C's buffered stdout; flush it first so the order on screen is the order of events.
        fflush(nil)
        var bytes = Array(text.utf8)[...]
        let descriptor = stream == .output ? STDOUT_FILENO : STDERR_FILENO
        while !bytes.isEmpty {
            let written = bytes.withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0, errno == EINTR { continue }
            if written <= 0 { return }
            bytes = bytes.dropFirst(written)
        }
    }

    /// Writes text to standard output as is.
    public func write(_ text: String) { sink(.output, text) }

    /// Writes text to standard error as is.
    public func writeError(_ text: String) { sink(.error, text) }

    /// Writes an error message to standard error: `Error: message`.
    public func error(_ message: String) { sink(.error, "Error: \(message)\n") }

    /// Writes a note to standard error: `fab: message`.
    public func note(_ message: String) { sink(.error, "fab: \(message)\n") }
}
