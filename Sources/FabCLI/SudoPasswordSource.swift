import FabCore
import FabSSH
import Foundation

/// Where a run's sudo password comes from when no one is at a terminal (CI): a file only the
/// user can read (`--sudo-password-file`, or `FAB_SUDO_PASSWORD_FILE`), or a descriptor fab
/// inherits (`--sudo-password-fd`). Never the command line, where the process list shows it.
enum SudoPasswordSource {
    /// The environment variable naming a password file when no option gives one.
    static let environmentVariable = "FAB_SUDO_PASSWORD_FILE"
    /// More than any password; a bigger file or stream is refused, not truncated.
    static let maxBytes = 4096

    /// Reads the password the options (or the environment) point to; nil when they point nowhere.
    /// - Throws: ``FabCLIError`` `.invalidOption` when the file is readable by others, owned by
    ///   someone else, not a regular file, unreadable, empty or more than one line.
    static func load(file: String?, descriptor: Int32?, environment: [String: String]) throws -> Secret? {
        if let descriptor {
            return try read(descriptor, name: "--sudo-password-fd \(descriptor)", closing: true)
        }
        let name: String
        let path: String
        if let file {
            (name, path) = ("--sudo-password-file \(file)", file)
        } else if let file = environment[environmentVariable], !file.isEmpty {
            (name, path) = ("\(environmentVariable) (\(file))", file)
        } else {
            return nil
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)
        guard fd >= 0 else {
            throw invalid("\(name) cannot be opened (\(String(cString: strerror(errno)))); give a file that holds the sudo password.")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw invalid("\(name) is not a regular file; put the sudo password in a file with mode 0600.")
        }
        guard info.st_uid == geteuid() else {
            throw invalid("\(name) is owned by uid \(info.st_uid), not by you (uid \(geteuid())); keep the sudo password in a file you own with mode 0600.")
        }
        let mode = info.st_mode & 0o777
        guard mode & 0o077 == 0 else {
            throw invalid("\(name) has mode \(String(mode, radix: 8)), so others may read the sudo password; run chmod 600 on it.")
        }
        return try read(fd, name: name, closing: false)
    }

    /// Reads a password from `fd`: one line, a final newline ignored.
    private static func read(_ fd: Int32, name: String, closing: Bool) throws -> Secret {
        defer { if closing { close(fd) } }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1024)
        defer {
            for index in bytes.indices { bytes[index] = 0 }
            for index in buffer.indices { buffer[index] = 0 }
        }
        while bytes.count <= maxBytes {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n == 0 { break }
            if n < 0 {
                if errno == EINTR { continue }
                throw invalid("\(name) cannot be read (\(String(cString: strerror(errno)))); give an open descriptor or a readable file.")
            }
            bytes += buffer[0..<n]
        }
        guard bytes.count <= maxBytes else {
            throw invalid("\(name) holds more than \(maxBytes) bytes; it must hold only the sudo password.")
        }
        if bytes.last == UInt8(ascii: "\n") { bytes.removeLast() }
        if bytes.last == UInt8(ascii: "\r") { bytes.removeLast() }
        guard !bytes.isEmpty else { throw invalid("\(name) is empty; it must hold the sudo password.") }
        guard !bytes.contains(UInt8(ascii: "\n")) else {
            throw invalid("\(name) holds more than one line; it must hold only the sudo password.")
        }
        return Secret(String(decoding: bytes, as: UTF8.self))
    }

    private static func invalid(_ message: String) -> FabCLIError { FabCLIError(.invalidOption, message) }
}
