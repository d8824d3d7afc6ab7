import FabfileModel

/// Reads host lists as written after `-H` and `--gateway`.
enum HostList {
    /// `["a,b", "c"]` → `["a", "b", "c"]`, trimmed, in order, each once.
    static func split(_ values: [String]) -> [String] {
        var out: [String] = []
        for value in values {
            for part in value.split(separator: ",", omittingEmptySubsequences: false) {
                let host = String(part).trimmingWhitespace()
                if !out.contains(host) { out.append(host) }
            }
        }
        return out
    }

    /// What is wrong with `[user@]host[:port]`, or nil.
    static func problem(with spec: String) -> String? {
        if spec.isEmpty { return "a host name is empty; separate hosts with single commas" }
        var rest = Substring(spec)
        if let at = rest.lastIndex(of: "@") {
            if at == rest.startIndex { return "the user name before @ is empty" }
            rest = rest[rest.index(after: at)...]
        }
        if rest.isEmpty { return "the host name after @ is empty" }
        var port: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { return "an IPv6 address in [ ] is not closed" }
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return "expected :PORT after the ] of an IPv6 address" }
                port = after.dropFirst()
            }
        } else if rest.filter({ $0 == ":" }).count == 1, let colon = rest.firstIndex(of: ":") {
            if colon == rest.startIndex { return "the host name before :PORT is empty" }
            port = rest[rest.index(after: colon)...]
        }
        if let port {
            guard let number = Int(port), (1...65535).contains(number) else {
                return "the port '\(port)' is not a number from 1 to 65535"
            }
        }
        return nil
    }
}
