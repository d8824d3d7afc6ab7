import FabProcess
import FabSSH
import FabTestSupport
import Foundation

/// Runs a shell script locally and returns its stdout; throws with its output when it fails.
@discardableResult
func sh(_ script: String) throws -> String {
    try TestShell.run("/bin/sh", ["-c", script]).checked().stdout
}

/// Starts a local program in the background; it is killed when the returned value is released.
func background(_ executable: String, _ arguments: [String]) throws -> ChildProcess {
    try ChildProcess.spawn(executable: executable, arguments: arguments)
}

/// The password of the `fabpass` test user (a space and a quote, to catch quoting mistakes).
let testPassword = "pa ss'word"

/// An sshd that accepts password and keyboard-interactive logins of the `fabpass` user, and a
/// target for it that offers no key, so only those methods can succeed.
func passwordServer() throws -> (server: SSHServer, target: SSHTarget) {
    let user = try TestUser.named("fabpass", password: testPassword)
    var options = SSHServer.Options()
    options.passwordAuthentication = true
    options.extraConfig = ["UsePAM yes"]
    let server = try SSHServer(user: user, options: options)
    var target = server.target()
    target.identityFiles = []
    return (server, target)
}

/// Answers password and keyboard-interactive requests with ``testPassword``.
func answerPassword(_ request: SecretRequest) -> Secret? {
    switch request {
    case .password, .keyboardInteractive: Secret(testPassword)
    default: nil
    }
}
