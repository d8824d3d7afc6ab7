import CLibArchive

extension DebPackage {
    /// One entry of a package's data tar, as `dpkg-deb -c` lists it.
    public struct Entry: Sendable, Equatable {
        /// What an entry is.
        public enum Kind: Sendable, Equatable {
            /// A regular file.
            case regular
            /// A directory.
            case directory
            /// A symbolic link (see ``Entry/symlinkTarget``).
            case symlink
            /// A hard link to an earlier entry (see ``Entry/hardlinkTarget``).
            case hardlink
            /// A character device.
            case characterDevice
            /// A block device.
            case blockDevice
            /// A named pipe.
            case fifo
            /// A socket.
            case socket
        }

        /// The path as stored in the archive (normally `./usr/bin/tool`; directories end with `/`).
        public var path: String
        /// What the entry is.
        public var kind: Kind
        /// The size of the file's contents in bytes (0 for anything but a regular file).
        public var size: Int64
        /// The permission bits, including set-uid, set-gid and sticky (`0o4755`).
        public var mode: UInt32
        /// The owner's user name, or the numeric uid as text when the archive has no name.
        public var owner: String
        /// The group name, or the numeric gid as text when the archive has no name.
        public var group: String
        /// The numeric user id.
        public var uid: Int64
        /// The numeric group id.
        public var gid: Int64
        /// The modification time in seconds since the epoch.
        public var modificationTime: Int64
        /// The target of a symbolic link; nil for other kinds.
        public var symlinkTarget: String?
        /// The earlier entry a hard link points to; nil for other kinds.
        public var hardlinkTarget: String?

        /// Makes an entry.
        public init(path: String, kind: Kind, size: Int64, mode: UInt32, owner: String, group: String,
                    uid: Int64 = 0, gid: Int64 = 0, modificationTime: Int64 = 0,
                    symlinkTarget: String? = nil, hardlinkTarget: String? = nil) {
            self.path = path
            self.kind = kind
            self.size = size
            self.mode = mode
            self.owner = owner
            self.group = group
            self.uid = uid
            self.gid = gid
            self.modificationTime = modificationTime
            self.symlinkTarget = symlinkTarget
            self.hardlinkTarget = hardlinkTarget
        }

        /// The mode in `ls -l` form (`drwxr-xr-x`, `-rwsr-xr-x`, `lrwxrwxrwx`), as `dpkg-deb -c` prints it.
        public var modeDescription: String {
            let typeCharacter: Character = switch kind {
            case .regular: "-"
            case .hardlink: "h"
            case .directory: "d"
            case .symlink: "l"
            case .characterDevice: "c"
            case .blockDevice: "b"
            case .fifo: "p"
            case .socket: "s"
            }
            var out = String(typeCharacter)
            let triplets: [(read: UInt32, write: UInt32, exec: UInt32, special: UInt32, setChar: Character)] = [
                (0o400, 0o200, 0o100, 0o4000, "s"), (0o040, 0o020, 0o010, 0o2000, "s"), (0o004, 0o002, 0o001, 0o1000, "t"),
            ]
            for bits in triplets {
                out.append(mode & bits.read != 0 ? "r" : "-")
                out.append(mode & bits.write != 0 ? "w" : "-")
                let exec = mode & bits.exec != 0
                if mode & bits.special != 0 {
                    out.append(exec ? bits.setChar : Character(bits.setChar.uppercased()))
                } else {
                    out.append(exec ? "x" : "-")
                }
            }
            return out
        }

        /// Reads the current libarchive entry.
        init(libarchiveEntry entry: OpaquePointer) {
            let hardlink = LibArchive.api.archive_entry_hardlink(entry).map { String(cString: $0) }
            let symlink = LibArchive.api.archive_entry_symlink(entry).map { String(cString: $0) }
            let kind: Kind
            if hardlink != nil {
                kind = .hardlink
            } else {
                kind = switch UInt32(LibArchive.api.archive_entry_filetype(entry)) {
                case EntryFileType.directory: .directory
                case EntryFileType.symlink: .symlink
                case EntryFileType.characterDevice: .characterDevice
                case EntryFileType.blockDevice: .blockDevice
                case EntryFileType.fifo: .fifo
                case EntryFileType.socket: .socket
                default: .regular
                }
            }
            let uid = Int64(LibArchive.api.archive_entry_uid(entry))
            let gid = Int64(LibArchive.api.archive_entry_gid(entry))
            self.init(
                path: LibArchive.api.archive_entry_pathname(entry).map { String(cString: $0) } ?? "",
                kind: kind,
                size: kind == .regular ? Int64(LibArchive.api.archive_entry_size(entry)) : 0,
                mode: UInt32(LibArchive.api.archive_entry_perm(entry)) & 0o7777,
                owner: LibArchive.api.archive_entry_uname(entry).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? String(uid),
                group: LibArchive.api.archive_entry_gname(entry).map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 } ?? String(gid),
                uid: uid, gid: gid,
                modificationTime: Int64(LibArchive.api.archive_entry_mtime(entry)),
                symlinkTarget: kind == .symlink ? symlink : nil,
                hardlinkTarget: hardlink)
        }
    }
}
