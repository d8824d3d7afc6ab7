import FabArchive
import FabCore
import Foundation

/// Everything a virtualenv package is made from, hashed into its input key (the `Fab-Venv-Key`
/// control field): when the key is unchanged, fab reuses the package it finds with that key instead of
/// building and uploading it again.
///
/// The key covers what changes the virtualenv's bytes or behaviour: the requirements file's content,
/// the interpreter (`python -VV`, which names its build), the installed versions of the build
/// dependencies (headers and compilers that native extensions are built against), the architecture,
/// the install paths and the relocation program, the installer and its version, the indexes, and
/// whether pip is upgraded. It does not cover the index's contents: a requirement that is not pinned
/// can resolve to a newer release with the same key, so pin everything (`pip freeze`) for reuse to be
/// exact.
public struct VirtualenvInputs: Sendable, Equatable {
    /// The content of the project's `requirements.txt` on the built commit (empty when there is none).
    public var requirements: String
    /// The build interpreter's `python -VV`.
    public var interpreter: String
    /// `name=version` of every build dependency installed on the build host, sorted (`name=missing`
    /// for one that is not).
    public var buildPackages: [String]
    /// The build host's dpkg architecture.
    public var architecture: String
    /// The virtualenv's install path on servers.
    public var installPath: String
    /// A digest of the relocation program, so a change in how fab relocates rebuilds.
    public var relocation: String
    /// The installer and its version, such as `pip 23.0.1 (ensurepip)`.
    public var installer: String
    /// The index URL and the extra ones, in order (empty for pip's configuration).
    public var indexURLs: [String]
    /// Whether pip is upgraded in the new virtualenv.
    public var upgradePip: Bool

    /// The inputs one line each, `name: value`, in a fixed order: what the key hashes.
    public var canonicalText: String {
        var lines = [
            "fab-venv-key: 1",
            "interpreter: \(interpreter)",
            "architecture: \(architecture)",
            "install-path: \(installPath)",
            "relocation: \(relocation)",
            "installer: \(installer)",
            "upgrade-pip: \(upgradePip)",
            "index-urls: \(indexURLs.joined(separator: " "))",
        ]
        lines += buildPackages.map { "build-package: \($0)" }
        lines.append("requirements-sha256: \((try? FileDigest.sha256(bytes: Array(requirements.utf8))) ?? "")")
        return lines.joined(separator: "\n") + "\n"
    }

    /// The input key: the SHA-256 of ``canonicalText``, in hex.
    public var key: String {
        (try? FileDigest.sha256(bytes: Array(canonicalText.utf8))) ?? ""
    }

    /// The command that prints what the build host contributes, one item a line: `python -VV`, the
    /// architecture, the bundled pip's version, then `name=version` for each of `packages`.
    static func probeCommand(python: String, packages: [String]) -> String {
        let q = LocalShell.quote
        let names = packages.map(q).joined(separator: " ")
        return "\(q(python)) -VV 2>&1 | tr '\\n' ' '; echo; dpkg --print-architecture; "
            + "\(q(python)) -c 'import ensurepip; print(ensurepip.version())' 2>/dev/null || echo none; "
            + "for p in \(names); do v=$(dpkg-query -W -f '${Status} ${Version}' \"$p\" 2>/dev/null | sed -n 's/^install ok installed //p'); printf '%s=%s\\n' \"$p\" \"${v:-missing}\"; done"
    }

    /// Parses ``probeCommand(python:packages:)``'s output.
    /// - Throws: ``FabError`` `.aborted` when it has fewer than three lines.
    static func parseProbe(_ output: String) throws -> (interpreter: String, architecture: String, ensurepip: String, packages: [String]) {
        let lines = output.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
        guard lines.count >= 3 else {
            throw FabError(.aborted, "the build host's interpreter probe printed \(lines.count) lines instead of at least 3 ('\(output.prefix(200))'); check that the build interpreter runs there.")
        }
        return (lines[0], lines[1], lines[2], Array(lines.dropFirst(3)).sorted())
    }
}
