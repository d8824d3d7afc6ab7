// fab-scan: fab's fabfile scanner, run by `fab` only when it compiles a fabfile.
//
// It reads a `FabfileScanRequest` as JSON on standard input and writes a `FabfileScanReply` as JSON to
// standard output: the tasks it found, or the problem (a sentence, a file and a line) that stopped it;
// both exit 0. It exits 64 when the request cannot be read. The parser (swift-syntax) lives here rather
// than in `fab`, which exports every symbol it links for fabfile plugins and so would carry all of it
// into every start.
import FabfileModel
import Foundation

let arguments = CommandLine.arguments.dropFirst()
if !arguments.isEmpty || isatty(STDIN_FILENO) == 1 {
    FileHandle.standardError.write(Data("""
        usage: fab-scan < REQUEST.json
        fab runs this helper when it compiles a fabfile: it reads the fabfile's files and build configuration
        as JSON on standard input and writes the tasks it finds as JSON to standard output.

        """.utf8))
    exit(64)
}

let request: FabfileScanRequest
do {
    request = try JSONDecoder().decode(FabfileScanRequest.self, from: FileHandle.standardInput.readDataToEndOfFile())
} catch {
    FileHandle.standardError.write(Data("fab-scan: the request on standard input is not one this fab-scan reads (\(error)); install fab and fab-scan together.\n".utf8))
    exit(64)
}

let reply: FabfileScanReply
do {
    reply = .scanned(try FabfileScanner.scan(request.sources, configuration: SyntaxBuildConfiguration(request.configuration)))
} catch {
    reply = .rejected(error)
}
let encoder = JSONEncoder()
encoder.outputFormatting = .sortedKeys
do {
    FileHandle.standardOutput.write(try encoder.encode(reply))
} catch {
    FileHandle.standardError.write(Data("fab-scan: cannot encode the reply (\(error)).\n".utf8))
    exit(70)
}
exit(0)
