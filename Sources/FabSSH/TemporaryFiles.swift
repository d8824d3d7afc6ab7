import CLibSSH2
import Foundation

/// The names fab gives the temporary files and directories it makes on hosts, and how it tells
/// its own abandoned ones from everything else.
///
/// A temporary name embeds the machine and process that made it: `.NAME.fab-MACHINE-PID-RANDOM`
/// beside an upload's target, `fab-put-MACHINE-PID-XXXXXXXXXX` for a sudo upload's staging
/// directory, where MACHINE is 8 hex digits derived from this machine's `/etc/machine-id` (or its
/// host name). Every failure fab sees removes its own temporary at once; what a killed fab leaves
/// behind is removed by the next upload into the same directory when it is recognisably stale:
/// made on this machine by a process that no longer runs, or (made anywhere) not written for
/// ``TemporaryNames/abandonedAfter`` seconds by the host's clock (a staging directory:
/// ``TemporaryNames/stagingAbandonedAfter``). Files of other names, and other
/// accounts' files, are never touched.
public enum TemporaryNames {
    /// Seconds without a write after which any fab upload temporary counts as abandoned (1 hour):
    /// a live upload writes to it continuously.
    public static let abandonedAfter: Int64 = 3600

    /// The same for a sudo upload's staging directory made on another machine (1 day): the
    /// directory's own time does not change while the file inside it is written.
    public static let stagingAbandonedAfter: Int64 = 86_400

    /// This machine and process, as embedded in names: `MACHINE-PID`.
    public static var owner: String { "\(machine)-\(getpid())" }

    /// 8 hex digits naming this machine (FNV-1a of `/etc/machine-id`, or of the host name).
    public static let machine: String = {
        var text = (try? String(contentsOfFile: "/etc/machine-id", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        if text.isEmpty { text = ProcessInfo.processInfo.hostName }
        var hash: UInt32 = 2_166_136_261
        for byte in text.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        return String(format: "%08x", hash)
    }()

    /// The longest file name (in bytes) a common Linux file system accepts.
    static let nameMax = 255

    /// A name beside `path`, in the same directory, that no other transfer uses:
    /// `.NAME.fab-MACHINE-PID-RANDOM`, with NAME shortened (at a character boundary) when the whole
    /// would exceed 255 bytes.
    public static func beside(_ path: String) -> String {
        let directory = (path as NSString).deletingLastPathComponent
        let suffix = ".fab-\(owner)-\(String(format: "%08x", UInt32.random(in: 0...UInt32.max)))"
        var name = (path as NSString).lastPathComponent
        while 1 + name.utf8.count + suffix.utf8.count > nameMax, !name.isEmpty { name.removeLast() }
        return (directory.isEmpty ? "" : directory + "/") + "." + name + suffix
    }

    /// The prefix of a sudo upload's staging directory made by this process (`mktemp -d PREFIX` + `XXXXXXXXXX`).
    public static var stagingPrefix: String { "fab-put-\(owner)-" }

    private static let besidePattern = try? NSRegularExpression(
        pattern: #"^\..*\.fab-([0-9a-f]{8})-([0-9]+)-[0-9a-f]{8}$"#, options: [.dotMatchesLineSeparators])
    private static let stagingPattern = try? NSRegularExpression(pattern: #"^fab-put-([0-9a-f]{8})-([0-9]+)-[A-Za-z0-9]{10}$"#)

    /// What a name says about the fab process that made it, or nil when it is not a fab temporary
    /// of the given kind (`.beside` file or sudo staging directory).
    static func maker(of name: String, staging: Bool) -> (machine: String, pid: Int32)? {
        guard let regex = staging ? stagingPattern : besidePattern,
              let match = regex.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)),
              let machineRange = Range(match.range(at: 1), in: name), let pidRange = Range(match.range(at: 2), in: name),
              let pid = Int32(name[pidRange]) else { return nil }
        return (String(name[machineRange]), pid)
    }

    /// Whether a fab temporary named `name`, last written at `modified`, is abandoned, judged
    /// against `now` on the same (the host's) clock (`Int64.min`: unknown, `modified == Int64.max`: unknown).
    static func isAbandoned(_ name: String, staging: Bool, modified: Int64, now: Int64) -> Bool {
        guard let maker = maker(of: name, staging: staging) else { return false }
        if now != Int64.min, modified != Int64.max, now - modified >= (staging ? stagingAbandonedAfter : abandonedAfter) { return true }
        guard maker.machine == machine, maker.pid != getpid(), maker.pid > 0 else { return false }
        return kill(maker.pid, 0) != 0 && errno == ESRCH
    }
}

extension TemporaryNames {
    /// Removes the abandoned download temporaries in the local `directory` (a `get` that was
    /// killed) owned by the same account as `own`, the caller's fresh temporary there, judged like
    /// upload temporaries. Best effort.
    static func sweepLocal(in directory: String, own: String) {
        let path = directory.isEmpty ? "." : directory
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else { return }
        guard let mine = localStat(path + "/" + own) else { return }
        for name in names where name.hasPrefix(".") && name != own {
            guard maker(of: name, staging: false) != nil, let info = localStat(path + "/" + name), info.st_uid == mine.st_uid,
                  isAbandoned(name, staging: false, modified: Int64(info.st_mtim.tv_sec), now: Int64(mine.st_mtim.tv_sec)) else { continue }
            unlink(path + "/" + name)
        }
    }
}

extension SSHSession {
    /// Removes the sudo staging directories in `/tmp` that a killed fab left (see ``TemporaryNames``),
    /// judging ages against `own`, the staging directory this upload has just made. Best effort.
    public func sweepAbandonedStaging(own: String) async {
        _ = try? await core.perform { core in core.sweepAbandonedTemporaries(in: "/tmp", own: own, staging: true) }
    }
}

extension SessionCore {
    /// Removes the abandoned fab temporaries in `directory` (see ``TemporaryNames``): upload
    /// temporaries (`staging: false`, removed over SFTP) or sudo staging directories (`staging: true`,
    /// removed with `rm -rf`) owned by the same account as `own`, the name of the caller's fresh
    /// temporary there, whose time also stands for the host's clock. Best effort: a failure to
    /// list or remove is ignored.
    func sweepAbandonedTemporaries(in directory: String, own: String, staging: Bool) {
        guard let handle = try? sftpOpen(directory.isEmpty ? "." : directory, flags: 0, mode: 0, directory: true,
                                         operation: "list \(directory)") else { return }
        var entries: [(name: String, modified: Int64, owner: UInt?)] = []
        var now = Int64.min
        var ownOwner: UInt?
        var name = [CChar](repeating: 0, count: 4096)
        while true {
            var attributes = LIBSSH2_SFTP_ATTRIBUTES()
            let count = fab_libssh2_sftp_readdir(handle, &name, name.count, &attributes)
            if count == LIBSSH2_ERROR_EAGAIN {
                if (try? wait(deadline: fab_monotonic_seconds() + 30, cancel: nil, operation: "list \(directory)")) == nil { break }
                continue
            }
            if count <= 0 { break }
            let entry = String(decoding: name[0..<Int(count)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            let modified = attributes.flags & UInt(LIBSSH2_SFTP_ATTR_ACMODTIME) != 0 ? Int64(attributes.mtime) : Int64.max
            let owner = attributes.flags & UInt(LIBSSH2_SFTP_ATTR_UIDGID) != 0 ? attributes.uid : nil
            if entry == own { now = modified; ownOwner = owner }
            if entry.hasPrefix(staging ? "fab-put-" : ".") { entries.append((entry, modified, owner)) }
        }
        sftpClose(handle)
        let prefix = directory.isEmpty ? "" : directory.hasSuffix("/") ? directory : directory + "/"
        // Only what the login user owns (as its own fresh temporary is): never another account's files.
        guard let ownOwner else { return }
        let abandoned = entries.filter {
            $0.name != own && $0.owner == ownOwner
                && TemporaryNames.isAbandoned($0.name, staging: staging, modified: $0.modified, now: now)
        }.map { prefix + $0.name }
        guard !abandoned.isEmpty else { return }
        if staging {
            _ = try? execute("rm -rf -- " + ShellQuoting.join(abandoned), options: ExecOptions(timeout: 60),
                             onLine: nil, cancel: CancellationFlag())
        } else {
            for path in abandoned { try? removeRemote(path) }
        }
    }
}
