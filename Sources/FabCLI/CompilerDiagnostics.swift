import FabfileModel

/// Rewrites the compiler's diagnostics (`-diagnostic-style=llvm`) so a user sees only their own files.
///
/// Generated registration code carries `#sourceLocation`, so its errors already name the fabfile's line,
/// but the compiler still quotes the generated text under them and adds notes pointing into fab's own
/// sources (`note: where 'T' = 'Mode'`). This quotes the fabfile's real line instead and drops the notes
/// and warnings about files that are not the fabfile's.
enum CompilerDiagnostics {
    /// One diagnostic: its `path:line:col: kind: message` line and the lines quoted under it.
    struct Block {
        var header: String
        /// `: error: message`, the header after the location.
        var message: Substring
        var path: String
        var line: Int
        var isError: Bool
        var body: [Substring]
    }

    /// The compiler's output with diagnostics about fab's files replaced or dropped.
    /// - Parameter sources: the fabfile's files, by path.
    static func rewrite(_ output: String, sources: [FabfileSource]) -> String {
        let files = Dictionary(sources.map { ($0.path, $0.text) }, uniquingKeysWith: { first, _ in first })
        var out: [Substring] = []
        var block: Block?

        func flush() {
            guard let current = block else { return }
            block = nil
            let (path, line) = (current.path, current.line)
            if let text = files[path] {
                out.append(Substring(current.header))
                let real = text.split(separator: "\n", omittingEmptySubsequences: false)
                let quoted = line >= 1 && line <= real.count ? real[line - 1] : nil
                if let quoted, current.body.first == quoted {
                    out += current.body
                } else if let quoted {
                    // The compiler quoted generated code: show the user's line, without the generated code's
                    // column or a caret into it.
                    out[out.count - 1] = Substring("\(path):\(line)\(current.message)")
                    out.append(quoted)
                }
            } else if current.isError {
                // An error in a file that is not the fabfile's: keep it, it is all there is to go on.
                out.append(Substring(current.header))
                out += current.body
            }
        }

        for line in output.split(separator: "\n", omittingEmptySubsequences: false) {
            if let parsed = header(line) {
                flush()
                block = parsed
            } else if block != nil {
                block?.body.append(line)
            } else {
                out.append(line)
            }
        }
        flush()
        let text = out.joined(separator: "\n")
        return text.isEmpty || text.hasSuffix("\n") ? text : text + "\n"
    }

    /// `path:line:col: error: message` parsed, or nil for any other line.
    static func header(_ line: Substring) -> Block? {
        for kind in ["error", "warning", "note", "remark"] {
            guard let marker = line.range(of: ": \(kind): ") else { continue }
            let location = line[..<marker.lowerBound].split(separator: ":", omittingEmptySubsequences: false)
            guard location.count >= 3, let lineNumber = Int(location[location.count - 2]),
                  Int(location[location.count - 1]) != nil else { continue }
            let path = location.dropLast(2).joined(separator: ":")
            return Block(header: String(line), message: line[marker.lowerBound...], path: path, line: lineNumber,
                         isError: kind == "error", body: [])
        }
        return nil
    }
}
