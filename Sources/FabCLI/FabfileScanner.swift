import FabProcess
import FabfileModel
import Foundation

/// Finds a fabfile's tasks and role definitions without compiling it, by running fab's scanner helper.
///
/// A task is a top-level function that is not `private` or `fileprivate`, whose first parameter has the
/// type `Fab`, and that returns nothing. The helper, `fab-scan`, reads the files with the compiler's own
/// parser (swift-syntax) and evaluates `#if` with the compiler's rules against the configuration the
/// fabfile is compiled with, so it sees the declarations the compiler sees.
///
/// The parser is a separate executable, not part of `fab`, because `fab` exports every symbol it links
/// (fabfile plugins resolve fab's API from the executable): linked in, swift-syntax quintupled the
/// executable and the symbols the dynamic linker processes on every start. `fab` runs the helper only when
/// it compiles a fabfile; a run that finds its plugin in the cache never looks for it.
///
/// The request goes to the helper's standard input as JSON (``FabfileScanRequest``, with the text fab
/// read and hashed for the cache key), and the reply comes back as JSON on its standard output
/// (``FabfileScanReply``).
public enum FabfileScanner {
    /// What a fabfile declares.
    public typealias Result = FabfileScanResult

    /// The helper's file name.
    public static let helperName = "fab-scan"

    /// Seconds the helper may take before it is stopped (it takes milliseconds).
    static let deadline: Double = 60

    /// Scans all files of a fabfile.
    /// - Parameters:
    ///   - configuration: what `#if` conditions are evaluated against.
    ///   - helper: the `fab-scan` executable; nil finds it next to the running executable.
    /// - Throws: ``FabCLIError``: `fabfileInvalid` (naming the file and line) when a task cannot be
    ///   understood or is declared twice; `installationIncomplete` when the helper is missing, fails, or
    ///   answers in a form this fab cannot read.
    public static func scan(_ sources: [FabfileSource], configuration: FabfileBuildConfiguration = .fallback,
                            helper: String? = nil) throws(FabCLIError) -> Result {
        let executable: String
        if let helper { executable = helper } else { executable = try defaultHelper() }
        let request: Data
        do {
            request = try JSONEncoder().encode(FabfileScanRequest(sources: sources, configuration: configuration))
        } catch {
            throw FabCLIError(.fabfileInvalid, "fab cannot encode the fabfile for its scanner (\(error)); check that the files are UTF-8 text.")
        }
        let output = try run(executable, input: request)
        let reply: FabfileScanReply
        do {
            reply = try JSONDecoder().decode(FabfileScanReply.self, from: output)
        } catch {
            throw FabCLIError(.installationIncomplete,
                              "fab's scanner \(executable) answered in a form this fab cannot read, so it belongs to another fab; reinstall fab with scripts/install.sh PREFIX (it installs both), or rebuild it with swift build.")
        }
        switch reply {
        case .scanned(let result):
            return result
        case .rejected(let problem):
            throw FabCLIError(.fabfileInvalid, problem.message, path: problem.path, line: problem.line)
        }
    }

    /// Scans one source file.
    /// - Throws: ``FabCLIError`` as ``scan(_:configuration:helper:)-([FabfileSource],_,_)`` does.
    public static func scan(_ source: FabfileSource, configuration: FabfileBuildConfiguration = .fallback,
                            helper: String? = nil) throws(FabCLIError) -> Result {
        try scan([source], configuration: configuration, helper: helper)
    }

    /// The helper next to the running executable.
    private static func defaultHelper() throws(FabCLIError) -> String {
        try locateHelper(candidates: [(FabInstallation.executablePath() as NSString).deletingLastPathComponent])
    }

    /// The first `fab-scan` executable in `candidates` (folders), in order.
    /// - Throws: ``FabCLIError`` (`installationIncomplete`) when none has one.
    public static func locateHelper(candidates: [String]) throws(FabCLIError) -> String {
        var folders: [String] = []
        for folder in candidates where !folders.contains(folder) { folders.append(folder) }
        let paths = folders.map { ($0 as NSString).appendingPathComponent(helperName) }
        if let found = paths.first(where: { FabInstallation.isFile($0) && access($0, X_OK) == 0 }) {
            return found
        }
        throw FabCLIError(.installationIncomplete,
                          "fab cannot find its fabfile scanner \(helperName) (looked for \(paths.joined(separator: " and "))), which it needs to compile a fabfile; reinstall fab with scripts/install.sh PREFIX, or rebuild it with swift build.")
    }

    /// Runs the helper with `input` on its standard input and returns its standard output.
    private static func run(_ helper: String, input: Data) throws(FabCLIError) -> Data {
        let output: ProcessRunner.Output
        do {
            output = try ProcessRunner.run(executable: helper, input: Array(input), standardError: .capture,
                                           deadline: .seconds(deadline))
        } catch let error as ProcessError where error.code == .timedOut {
            throw FabCLIError(.installationIncomplete,
                              "fab's fabfile scanner \(helper) was still running after \(Int(deadline)) s and was stopped; check the machine's load, and run fab again.")
        } catch {
            throw FabCLIError(.installationIncomplete,
                              "fab cannot run its fabfile scanner \(helper) (\(error)); reinstall fab with scripts/install.sh PREFIX, or rebuild it with swift build.")
        }
        guard output.termination.succeeded else {
            let said = output.stderr.split(separator: "\n").last.map { String($0).trimmingWhitespace() } ?? ""
            let shown = said.count > 300 ? String(said.prefix(300)) + "..." : said
            throw FabCLIError(.installationIncomplete,
                              "fab's fabfile scanner \(helper) failed (\(output.termination)\(shown.isEmpty ? "" : ": " + shown)); reinstall fab with scripts/install.sh PREFIX, or rebuild it with swift build.")
        }
        return Data(output.standardOutput)
    }
}
