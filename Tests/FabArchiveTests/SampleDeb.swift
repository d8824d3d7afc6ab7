import FabArchive
import Foundation
import Testing

/// Builds a small but complete .deb with the real `dpkg-deb`: maintainer scripts, a conffile,
/// md5sums, a symlink, a hard link and a file owned by nobody:nogroup.
enum SampleDeb {
    /// The control paragraph, written to DEBIAN/control with ``ControlParagraph/rendered``.
    static let control = ControlParagraph([
        "Package": "fab-sample",
        "Version": "1.2.3-1",
        "Architecture": "amd64",
        "Maintainer": "Fab Tests <fab@example.org>",
        "Installed-Size": "12",
        "Depends": "libc6 (>= 2.34), python3 (>= 3.11) | python3.11, adduser",
        "Section": "python",
        "Priority": "optional",
        "Description": "sample application for fab\nIt has a long description.\n.\nWith a second paragraph\n  and a verbatim line.",
    ])

    /// Regular files of the data tree (path, contents, mode).
    static let files: [(path: String, contents: String, mode: Int)] = [
        ("etc/fab-sample/app.conf", "debug = false\n", 0o644),
        ("opt/fab-sample/bin/app", "#!/bin/sh\nexec python3 -m sample \"$@\"\n", 0o755),
        ("opt/fab-sample/lib/sample.py", String(repeating: "print('hello from fab')\n", count: 400), 0o644),
        ("opt/fab-sample/data/owned-by-nobody.txt", "not root's\n", 0o640),
        ("usr/share/doc/fab-sample/copyright", "Public domain.\n", 0o644),
        ("opt/fab-sample/lib/python3.11/site-packages/a_rather_long_package_name/with/deeply/nested/modules/beyond/one/hundred/bytes.py",
         "# a path longer than ustar's 100-byte name field\n", 0o644),
        ("usr/share/doc/fab-sample/café notes.txt", "a non-ASCII name with a space\n", 0o644),
    ]

    /// Builds the package with `dpkg-deb -Z<compression> --build` in `directory` and returns its path.
    static func build(in directory: URL, compression: String,
                      sourceLocation: SourceLocation = #_sourceLocation) throws -> URL {
        let root = directory.appendingPathComponent("root-\(compression)")
        for file in files {
            try writeFile(root.appendingPathComponent(file.path), file.contents, mode: file.mode)
        }
        let lib = root.appendingPathComponent("opt/fab-sample/lib")
        try FileManager.default.linkItem(at: lib.appendingPathComponent("sample.py"),
                                         to: lib.appendingPathComponent("sample-copy.py"))
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("opt/fab-sample/current").path,
                                                   withDestinationPath: "lib")
        try runChecked("chown", ["nobody:nogroup", root.appendingPathComponent("opt/fab-sample/data/owned-by-nobody.txt").path])

        let debian = root.appendingPathComponent("DEBIAN")
        try writeFile(debian.appendingPathComponent("control"), control.rendered)
        try writeFile(debian.appendingPathComponent("conffiles"), "/etc/fab-sample/app.conf\n")
        try writeFile(debian.appendingPathComponent("postinst"), "#!/bin/sh\nset -e\nadduser --system fab-sample || true\n", mode: 0o755)
        try writeFile(debian.appendingPathComponent("prerm"), "#!/bin/sh\nset -e\n", mode: 0o755)
        let md5sums = try runChecked("/bin/sh", ["-c", "find . -type f ! -path './DEBIAN/*' -printf '%P\\0' | sort -z | xargs -0 md5sum"],
                                     in: root)
        try writeFile(debian.appendingPathComponent("md5sums"), md5sums)

        let deb = directory.appendingPathComponent("fab-sample_1.2.3-1_amd64.\(compression).deb")
        try runChecked("dpkg-deb", ["-Z\(compression)", "--build", root.path, deb.path], sourceLocation: sourceLocation)
        return deb
    }
}
