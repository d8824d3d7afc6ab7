/// A C header the compiler could not find while building a fabfile, and the Debian package that provides it.
///
/// fab's modules import libssh2, libarchive and OpenSSL through module maps whose shim headers include the
/// libraries' own headers, so compiling any fabfile needs their -dev packages. Without them the compiler
/// reports `'libssh2.h' file not found` from inside fab's module map, which says nothing about the fabfile.
struct MissingHeader: Sendable, Equatable {
    /// The header as the compiler names it (`libssh2.h`, `openssl/evp.h`).
    var header: String
    /// The Debian package that provides it, when it is one of the libraries fab's modules use.
    var package: String?

    /// The headers of the C libraries fab's modules import, by the package that provides them.
    static let packages: [(package: String, matches: @Sendable (String) -> Bool)] = [
        ("libssh2-1-dev", { $0.hasPrefix("libssh2") }),
        ("libarchive-dev", { $0 == "archive.h" || $0 == "archive_entry.h" }),
        ("libssl-dev", { $0.hasPrefix("openssl/") }),
    ]

    /// The first missing header in a compiler's output (`error: 'libssh2.h' file not found`), or nil.
    static func find(in compilerOutput: String) -> MissingHeader? {
        for line in compilerOutput.split(separator: "\n") {
            guard let end = line.range(of: "' file not found") else { continue }
            let before = line[..<end.lowerBound]
            guard let start = before.lastIndex(of: "'") else { continue }
            let header = String(before[before.index(after: start)...])
            let package = packages.first { $0.matches(header) }?.package
            return MissingHeader(header: header, package: package)
        }
        return nil
    }

    /// One sentence saying what is missing and what to install.
    var message: String {
        if let package {
            return "compiling the fabfile needs the C header \(header), which is not installed; install it with `apt-get install \(package)` and run fab again (a fabfile already compiled runs without it)."
        }
        return "compiling the fabfile needs the C header \(header), which is not installed; install the package that provides it (`apt-file search \(header)` names it) and run fab again."
    }
}
