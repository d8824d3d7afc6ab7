import FabSSH
import Foundation

/// Runs local commands with `/bin/bash -c`, capturing and streaming stdout and stderr apart.
///
/// Uses posix_spawn and poll rather than Foundation's `Process`, which on Linux stalls when a
/// child (ssh, sshd) closes its inherited descriptors.
enum LocalProcess {
    struct Outcome {
        var status: Int32
        var signal: String?
        var stdout: String
        var stderr: String
    }

    /// Runs `command` in `directory` with extra `environment`, feeding `stdin`.
    static func run(_ command: String, directory: String?, environment: [String: String], stdin: [UInt8]?,
                    captureLimit: Int = 8 << 20, started: (pid_t) -> Void = { _ in },
                    onLine: OutputLineHandler?) throws -> Outcome {
        var outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0], inPipe: [Int32] = [0, 0]
        guard pipe(&outPipe) == 0, pipe(&errPipe) == 0, pipe(&inPipe) == 0 else {
            throw FabError(.localFile, "could not create pipes for a local command: \(String(cString: strerror(errno))).")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        for fd in [inPipe[0], inPipe[1], outPipe[0], outPipe[1], errPipe[0], errPipe[1]] {
            posix_spawn_file_actions_addclose(&actions, fd)
        }
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        let script = directory.map { "cd \(ShellQuoting.quote($0)) && \(command)" } ?? command
        let argv = (["/bin/bash", "-c", script] as [String]).map { strdup($0) } + [nil]
        defer {
            envp.forEach { free($0) }
            argv.forEach { free($0) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, "/bin/bash", &actions, nil, argv, envp)
        close(inPipe[0]); close(outPipe[1]); close(errPipe[1])
        guard rc == 0 else {
            close(inPipe[1]); close(outPipe[0]); close(errPipe[0])
            throw FabError(.localFile, "could not start /bin/bash for a local command: \(String(cString: strerror(rc))).")
        }
        started(pid)
        // Feed stdin from its own thread so a command that writes before reading cannot deadlock.
        let input = stdin ?? []
        let writer = inPipe[1]
        let fed = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            var offset = 0
            while offset < input.count {
                let n = input.withUnsafeBytes { write(writer, $0.baseAddress! + offset, $0.count - offset) }
                if n <= 0 { if errno == EINTR { continue } else { break } }
                offset += n
            }
            close(writer)
            fed.signal()
        }
        var stdout = TailBuffer(limit: captureLimit), stderr = TailBuffer(limit: captureLimit)
        var outLines = OutputLineSplitter(), errLines = OutputLineSplitter()
        var open = [outPipe[0], errPipe[0]]
        var buffer = [UInt8](repeating: 0, count: 65536)
        while !open.isEmpty {
            var descriptors = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            if poll(&descriptors, nfds_t(descriptors.count), -1) < 0 { if errno == EINTR { continue } else { break } }
            for descriptor in descriptors where descriptor.revents != 0 {
                let n = buffer.withUnsafeMutableBytes { read(descriptor.fd, $0.baseAddress, $0.count) }
                if n <= 0 {
                    if n < 0 && errno == EINTR { continue }
                    open.removeAll { $0 == descriptor.fd }
                    close(descriptor.fd)
                    continue
                }
                let chunk = buffer[0..<n]
                if descriptor.fd == outPipe[0] {
                    stdout.append(chunk)
                    for line in outLines.feed(chunk) { onLine?(.stdout, line) }
                } else {
                    stderr.append(chunk)
                    for line in errLines.feed(chunk) { onLine?(.stderr, line) }
                }
            }
        }
        if let line = outLines.finish() { onLine?(.stdout, line) }
        if let line = errLines.finish() { onLine?(.stderr, line) }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        fed.wait()
        let signalled = (status & 0x7f) != 0 && (status & 0x7f) != 0x7f
        let exit = signalled ? 128 + (status & 0x7f) : (status >> 8) & 0xff
        return Outcome(status: exit, signal: signalled ? signalName(status & 0x7f) : nil,
                       stdout: stdout.text, stderr: stderr.text)
    }

    private static func signalName(_ number: Int32) -> String {
        switch number {
        case SIGTERM: "TERM"
        case SIGKILL: "KILL"
        case SIGINT: "INT"
        case SIGHUP: "HUP"
        case SIGSEGV: "SEGV"
        case SIGPIPE: "PIPE"
        default: "\(number)"
        }
    }
}
