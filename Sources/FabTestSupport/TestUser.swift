import Foundation

/// An ordinary local account that tests log in as (root's shell start-up is slow on these
/// machines, and nothing should need root). Created on first use; requires running as root.
public struct TestUser: Sendable {
    public let name: String
    public let home: String

    private static let lock = NSLock()

    /// The default test account, `fabtest`, which logs in by key only.
    public static func standard() throws -> TestUser { try named("fabtest") }

    /// Creates the account if needed, with `shell` as its login shell (the shell sshd runs commands
    /// with). With a password, password logins work too; without one the password field is `*`
    /// (sshd with UsePAM no refuses accounts locked with `!`).
    public static func named(_ name: String, password: String? = nil, shell: String = "/bin/bash") throws -> TestUser {
        try lock.withLock {
            if let entry = getpwnam(name) {
                if String(cString: entry.pointee.pw_shell) != shell {
                    _ = try TestShell.run("/usr/sbin/usermod", ["--shell", shell, name]).checked()
                }
            } else {
                _ = try TestShell.run("/usr/sbin/useradd", ["--create-home", "--shell", shell, name]).checked()
            }
            if let password {
                _ = try TestShell.run("/usr/sbin/chpasswd", [], input: "\(name):\(password)\n").checked()
            } else {
                _ = try TestShell.run("/usr/sbin/usermod", ["-p", "*", name]).checked()
            }
            guard let entry = getpwnam(name) else { throw TestEnvironmentError(.machineStartFailed, "useradd did not create the test user \(name).") }
            return TestUser(name: name, home: String(cString: entry.pointee.pw_dir))
        }
    }
}
