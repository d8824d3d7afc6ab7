import FabCore
import Foundation

/// dpkg-shlibdeps's warnings, summarised: wheels that bundle their own libraries (`PKG.libs/`) give
/// dozens of them ("binaries to analyze should already be installed in their package's directory",
/// "$ORIGIN is used in RPATH of ..."), which say nothing about the package's dependencies. The build
/// prints one line with the count and the commonest kinds; the full text is printed at the debug
/// level (`fab --show debug`, or `FAB_DEBUG=1`) and kept in the build directory's `shlibdeps.log`
/// (which stays on the build host with ``Deployment/Settings/keepBuildDirectory``).
public struct ShlibdepsWarnings: Sendable, Equatable {
    /// Each warning's text, without the `dpkg-shlibdeps: warning: ` prefix, in order.
    public var lines: [String]

    /// The warnings in dpkg-shlibdeps's standard error; its other lines (errors) are not warnings.
    public init(standardError: String) {
        let prefix = "dpkg-shlibdeps: warning: "
        lines = standardError.split(whereSeparator: \.isNewline).filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
    }

    /// A warning with its paths replaced by `…`, so warnings that differ only in the file they name group together.
    static func kind(_ line: String) -> String {
        line.split(separator: " ", omittingEmptySubsequences: false)
            .map { $0.contains("/") ? "…" : String($0) }.joined(separator: " ")
    }

    /// The kinds of warning, commonest first (ties in order of first appearance), with their counts.
    public var kinds: [(kind: String, count: Int)] {
        var counts: [String: Int] = [:], order: [String] = []
        for line in lines {
            let kind = Self.kind(line)
            if counts[kind] == nil { order.append(kind) }
            counts[kind, default: 0] += 1
        }
        return order.enumerated().sorted { (counts[$0.element, default: 0], -$0.offset) > (counts[$1.element, default: 0], -$1.offset) }
            .map { ($0.element, counts[$0.element] ?? 0) }
    }

    /// The one line the build prints, or nil without warnings:
    /// `dpkg-shlibdeps: 86 warnings (80 × binaries to analyze ...; 6 × $ORIGIN is used ...); ...`.
    public var summary: String? {
        guard !lines.isEmpty else { return nil }
        let shown = kinds.prefix(2).map { "\($0.count) × \($0.kind.count > 90 ? $0.kind.prefix(89) + "…" : Substring($0.kind))" }
        let more = kinds.count > 2 ? "; \(kinds.count - 2) more kind(s)" : ""
        return "dpkg-shlibdeps: \(lines.count) warning(s) (\(shown.joined(separator: "; "))\(more)); `fab --show debug` prints them all"
    }
}

extension Deployment {
    /// Prints the one-line summary of `warnings`, every warning too at the debug level, and keeps
    /// their full text in `log` on the build host.
    func reportShlibdepsWarnings(_ warnings: ShlibdepsWarnings, log: String, on build: Fab) async throws {
        guard let summary = warnings.summary else { return }
        say(settings.buildHost, summary + (settings.keepBuildDirectory ? " (and \(log) holds them)" : ""))
        if fab.runtime.debug {
            for line in warnings.lines { say(settings.buildHost, "dpkg-shlibdeps: warning: " + line) }
        }
        try await build.hide([.running]) {
            try await build.run("cat > \(build.quote(log))", stdin: warnings.lines.map { "dpkg-shlibdeps: warning: " + $0 }.joined(separator: "\n") + "\n")
        }
    }
}
