import FabSSH
import Foundation

/// The sudo password of one run: asked for only when a sudo prompt appears, at most once per
/// run, kept in memory only.
///
/// `@unchecked Sendable`: its mutable state (`password`) is only touched under `lock`. The lock
/// is held while the secret provider asks, so hosts prompting at once in a parallel run ask the
/// user once and the others wait for that answer (on their session queues, not Swift's pool).
final class SudoPasswords: @unchecked Sendable {
    /// Random per run, so a prompt or marker that fab watches for cannot be guessed in advance.
    let token: String
    private let secrets: SecretProvider
    private let lock = NSLock()
    private var password: Secret?

    init(secrets: @escaping SecretProvider) {
        self.secrets = secrets
        var generator = SystemRandomNumberGenerator()
        token = (0..<2).map { _ in String(generator.next() as UInt64, radix: 16) }.joined()
    }

    /// The password, asking the secret provider the first time.
    /// - Throws: ``FabError`` `.sudoPassword` when the provider has none (no terminal, no password file).
    func password(for host: String) throws -> Secret {
        try lock.withLock {
            if let password { return password }
            guard let answer = secrets(.sudoPassword(host: host)) else {
                throw FabError(.sudoPassword, "sudo on \(host) needs a password and there is no terminal: give --sudo-password-file (0600) or FAB_SUDO_PASSWORD_FILE, or allow NOPASSWD.")
            }
            password = answer
            return answer
        }
    }

    /// Forgets a password sudo refused, so the next sudo asks again.
    func forget() { lock.withLock { password = nil } }
}

/// One sudo command as fab sends it: `sudo -S -p PROMPT`, answered only when PROMPT appears.
///
/// The command under sudo first prints a start marker on stderr: once it appears, sudo is
/// satisfied, the command's own stdin is sent, and nothing the command prints can trigger the
/// password (a command printing the prompt text gets nothing). Prompt, marker and the newline
/// sudo prints after reading the password are removed from output and results.
struct SudoExchange {
    /// `[fab-sudo:TOKEN] password: `, unique per run.
    let prompt: String
    /// Record separator, `fab-sudo-started:TOKEN`: printed under sudo before the command runs.
    let marker: String
    /// The command line sent to the host.
    let line: String
    /// Watches for the prompt (answer once, scrubbed) and the marker (start the command's input).
    let responders: [Responder]

    /// - Parameters:
    ///   - body: the composed command (cd, exports, prefixes, command).
    ///   - user: the user to run as.
    ///   - shell: the shell that runs `body` (`/bin/sh -c` by default).
    init(body: String, user: String, shell: String?, host: String, passwords: SudoPasswords) {
        prompt = "[fab-sudo:\(passwords.token)] password: "
        marker = "\u{1E}fab-sudo-started:\(passwords.token)"
        let printMarker = "printf \(ShellQuoting.quote("\\036fab-sudo-started:\(passwords.token)\\n")) >&2"
        let inner = "\(printMarker); exec \(shell ?? "/bin/sh -c") \(ShellQuoting.quote(body))"
        line = "sudo -S -p \(ShellQuoting.quote(prompt)) -H -u \(ShellQuoting.quote(user)) -- /bin/sh -c \(ShellQuoting.quote(inner))"
        responders = [
            .answer(prompt, limit: 1) { try passwords.password(for: host) },
            .start(marker: marker),
        ]
    }

    /// Whether sudo asked, was answered, and gave up on the password without running the command
    /// (sudoers allowing one try; with more, the repeated prompt stops the command). Other refusals
    /// after a good password (a command sudoers does not allow) stay command failures with sudo's words.
    static func refused(_ result: ExecResult) -> Bool {
        result.responderMatches.count == 2 && result.responderMatches[0] > 0 && result.responderMatches[1] == 0
            && !result.succeeded && (result.stderr + result.stdout).contains("incorrect password attempt")
    }
}
