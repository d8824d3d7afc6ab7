import Foundation

/// Strings that break naive shell, sed, regex and argument handling, for tests that check a value
/// arrives byte-exact (or is refused with an error) wherever fab interpolates it.
///
/// Every payload that could run a command tries to create the file ``marker(in:)`` names (each
/// string mentions `MARKER`, replaced by a path in a directory the test chooses), so a test proves
/// nothing ran by checking that file never appears.
public enum HostileStrings {
    /// The placeholder in ``templates`` replaced by the marker path.
    public static let placeholder = "MARKER"

    /// The marker file a test checks never appears: `DIRECTORY/pwned`.
    public static func marker(in directory: String) -> String { directory + "/pwned" }

    /// The corpus with the marker path filled in; see ``templates``.
    public static func corpus(marker: String) -> [String] {
        templates.map { $0.replacingOccurrences(of: placeholder, with: marker) }
    }

    /// One name per line of the corpus: its index and a printable hint, for test output.
    public static func label(_ index: Int, _ value: String) -> String {
        let printable = value.unicodeScalars.prefix(40).map { scalar in
            scalar.value >= 0x20 && scalar.value < 0x7f ? String(scalar) : "\\u{\(String(scalar.value, radix: 16))}"
        }.joined()
        return "#\(index) \(printable)\(value.unicodeScalars.count > 40 ? "…(\(value.utf8.count) bytes)" : "")"
    }

    /// The corpus, with `MARKER` where a payload names its marker file. No NUL byte (see ``withNUL``).
    public static let templates: [String] = [
        // Shell quoting and command syntax.
        "'; touch MARKER; echo '",
        "\"; touch MARKER; echo \"",
        "$(touch MARKER)",
        "`touch MARKER`",
        "x; touch MARKER",
        "x && touch MARKER",
        "x || touch MARKER",
        "x | touch MARKER",
        "x & touch MARKER &",
        "x\ntouch MARKER\n",
        "x\rtouch MARKER\r",
        "\r\n",
        "> MARKER",
        "x >MARKER <MARKER 2>MARKER",
        "$((1+1))${IFS}touch${IFS}MARKER",
        "${IFS}",
        "$HOME $USER $$ $? $! $0 $1 $@ $*",
        "\\",
        "\\'\\\"\\$\\`\\\\",
        "a\\\nb",
        "'",
        "''",
        "\"",
        "'\\''",
        "<(touch MARKER)",
        "{touch,MARKER}",
        "!!; !-1; ^a^b",
        "#not a comment",
        // Options and paths.
        "-",
        "--",
        "-P",
        "-rf",
        "--help",
        // test(1)'s own operators, as a whole argument.
        "!",
        "(",
        "-a",
        "=",
        "-e touch MARKER",
        "~",
        "~root",
        "~/x",
        "*",
        "?[a-z]*{a,b}",
        "..",
        "./../x",
        " leading and trailing spaces ",
        "\t\ttabs\t",
        // sed, Perl and regex metacharacters, and GNU sed's command execution.
        "/e touch MARKER",
        "x/;e touch MARKER;s/",
        "s/x/y/e",
        "1e touch MARKER",
        "&\\1\\0\\n",
        ".*^$[](){}|+?",
        "(?{ system('touch MARKER') })",
        "@{[ system('touch MARKER') ]}",
        "%s%n%x%%",
        // Unicode: combining marks, right-to-left override, zero-width, emoji, non-ASCII letters.
        "cafe\u{301} e\u{301}\u{302}\u{303}",
        "user\u{202E}txt.exe",
        "\u{200B}\u{200D}\u{FEFF}",
        "日本語 ﾃｽﾄ Ελληνικά",
        "👩‍👩‍👧 🏳️‍🌈",
        "\u{2028}\u{2029}\u{85}",
        // Terminal control: escape sequences, bell, backspace, DEL, other C0 controls.
        "\u{1B}[31mred\u{1B}[0m\u{1B}]0;title\u{07}",
        "\u{1B}[2J\u{1B}[H\u{08}\u{7F}",
        "\u{01}\u{02}\u{03}\u{04}\u{1A}\u{1C}",
        // Shell-identifier look-alikes (valid for the shell only when they match [A-Za-z_][A-Za-z0-9_]*).
        "A=B",
        "PATH",
        "A;touch MARKER",
        "9LIVES",
        // Long: 40,000 bytes of mixed quoting trouble (longer than one SSH command line may be).
        String(repeating: "'\"$(touch MARKER)`x`\\ ", count: 1_400),
    ]

    /// A string with a NUL byte: no command-line argument, file name or environment value can hold
    /// one, so fab must refuse it (it must never be cut short silently).
    public static let withNUL = "before\0; touch MARKER"
}
