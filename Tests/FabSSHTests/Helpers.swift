import FabTestSupport
import Foundation

/// Runs a shell script locally and returns its stdout; throws with its output when it fails.
@discardableResult
func sh(_ script: String) throws -> String {
    try TestShell.run("/bin/sh", ["-c", script]).checked().stdout
}

/// Starts a local program in the background; it is killed when the returned value is released.
func background(_ executable: String, _ arguments: [String]) throws -> ChildProcess {
    try ChildProcess(executable, arguments)
}
