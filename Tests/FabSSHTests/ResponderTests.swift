@testable import FabSSH
import FabTestSupport
import Foundation
import Testing

/// Matching responders' patterns on a byte stream, across read boundaries, and scrubbing them.
@Suite("Responder scanning")
struct ResponderScannerTests {
    static let prompt = Array("[p:1] password: ".utf8)
    static let marker = Array("\u{1E}go:1".utf8)
    static let answer = Array("s3cret".utf8)

    /// Feeds `stream` in pieces of `size` bytes; the prompt answers `answer` and scrubs its echo.
    static func scan(_ stream: String, pieces size: Int) -> (output: String, matches: [Int]) {
        var scanner = ResponderScanner(patterns: [prompt, marker], finishing: [1])
        var matches: [Int] = []
        var output: [UInt8] = []
        let bytes = Array(stream.utf8)
        var start = 0
        while start < bytes.count {
            let end = min(bytes.count, start + size)
            output += scanner.feed(bytes[start..<end]) { number in
                matches.append(number)
                return number == 0 ? [answer + [13, 10], answer + [10], [13, 10], [10]] : [[13, 10], [10]]
            }
            start = end
        }
        output += scanner.flush()
        return (String(decoding: output, as: UTF8.self), matches)
    }

    @Test("prompt, echo and marker are removed however the stream is split",
          arguments: [
            ("[p:1] password: \u{1E}go:1\nhello\n", "hello\n", [0, 1]),
            ("[p:1] password: s3cret\r\n\u{1E}go:1\r\nhello\r\n", "hello\r\n", [0, 1]),
            ("[p:1] password: \r\n\u{1E}go:1\r\nout\r\n", "out\r\n", [0, 1]),
            ("before [p:1] password: \u{1E}go:1\nafter", "before after", [0, 1]),
            ("\u{1E}go:1\n[p:1] password: s3cret\n", "[p:1] password: s3cret\n", [1]),
            ("[p:1] pass no prompt\n", "[p:1] pass no prompt\n", []),
            ("tail [p:1] pass", "tail [p:1] pass", []),
            ("[p:1] password: [p:1] password: ", "", [0, 0]),
            ("[p:1] password: s3c", "", [0]),
          ])
    func scrubs(stream: String, expected: String, matches: [Int]) {
        for size in [1, 2, 3, 5, 7, 64] {
            let result = Self.scan(stream, pieces: size)
            #expect(result.output == expected, "pieces of \(size)")
            #expect(result.matches == matches, "pieces of \(size)")
        }
    }

    @Test("without scrubbing the pattern stays in the output; after the start marker nothing is watched")
    func keepsUnscrubbed() {
        var scanner = ResponderScanner(patterns: [Self.prompt, Self.marker], finishing: [1])
        var seen = 0
        let text = Array("x[p:1] password: y\u{1E}go:1z[p:1] password: ".utf8)
        let output = scanner.feed(text[...]) { _ in seen += 1; return nil }
        #expect(String(decoding: output, as: UTF8.self) == String(decoding: text, as: UTF8.self))
        #expect(seen == 2)
        #expect(scanner.finished)
    }
}

/// Responders on a real command over SSH: answers, scrubbing, held input, refusal.
@Suite("Responders over SSH", .serialized)
struct ResponderSessionTests {
    static let responders: [Responder] = [.answer("Secret? ", with: Secret("s3 'x'")), .start(marker: "\u{1E}go")]

    @Test("a prompt on stderr is answered once and scrubbed; stdin waits for the start marker, even when stdout came first")
    func answerThenStart() async throws {
        let server = try SSHServer()
        let session = try await SSHSession.connect(to: server.target())
        // stdout output arrives before the prompt: watching stderr must not end because of it.
        let script = "echo early; sleep 0.3; printf 'Secret? ' >&2; IFS= read -r answer; printf '\\036go\\n' >&2; echo \"answer=$answer\"; cat; echo late >&2"
        let result = try await session.execute(script, options: ExecOptions(stdin: Array("input\n".utf8), timeout: 10,
                                                                             responders: Self.responders))
        #expect(result.stdout == "early\nanswer=s3 'x'\ninput\n")
        #expect(result.stderr == "late\n")
        #expect(result.responderMatches == [1, 1])
        await session.close()
    }

    @Test("a prompt asked again is not answered again: the command is stopped with .promptRepeated")
    func repeated() async throws {
        let server = try SSHServer()
        let session = try await SSHSession.connect(to: server.target())
        let script = "printf 'Secret? ' >&2; read -r a; printf 'Secret? ' >&2; read -r b; sleep 30"
        let started = ContinuousClock.now
        let error = await #expect(throws: SSHError.self) {
            try await session.execute(script, options: ExecOptions(timeout: 20, responders: Self.responders))
        }
        #expect(error?.code == .promptRepeated)
        #expect(ContinuousClock.now - started < .seconds(10))
        #expect(try await session.execute("echo still usable").stdout == "still usable\n")
        await session.close()
    }
}
