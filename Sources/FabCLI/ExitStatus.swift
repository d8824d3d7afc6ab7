import FabCore

/// fab's exit statuses, and the one place that maps errors to them.
///
/// The numbers follow BSD `sysexits.h` where one fits, so scripts can tell a broken command line
/// from a failed task.
public enum ExitStatus {
    /// Every task succeeded (or nothing needed running: `-l`, `-d`, `--help`).
    public static let success: Int32 = 0
    /// A task failed.
    public static let taskFailed: Int32 = 1
    /// The command line or a task's arguments are wrong (`EX_USAGE`, also ArgumentParser's).
    public static let usage: Int32 = 64
    /// The fabfile does not compile, or its tasks cannot be understood (`EX_DATAERR`).
    public static let fabfileInvalid: Int32 = 65
    /// There is no fabfile (`EX_NOINPUT`).
    public static let fabfileNotFound: Int32 = 66
    /// The Swift compiler or fab's own modules are missing (`EX_UNAVAILABLE`).
    public static let unavailable: Int32 = 69
    /// The compiled fabfile cannot be loaded (`EX_SOFTWARE`).
    public static let pluginFailed: Int32 = 70
    /// The cache folder cannot be written (`EX_CANTCREAT`).
    public static let cacheUnavailable: Int32 = 73

    /// The exit status for an error that ends a run.
    public static func forError(_ error: any Error) -> Int32 {
        switch error {
        case let error as FabCLIError:
            switch error.code {
            case .fabfileNotFound: return fabfileNotFound
            case .fabfileInvalid, .compileFailed: return fabfileInvalid
            case .compilerUnavailable, .installationIncomplete: return unavailable
            case .pluginLoadFailed: return pluginFailed
            case .cacheUnavailable: return cacheUnavailable
            case .unknownTask, .invalidTaskArgument, .invalidOption: return usage
            default: return taskFailed
            }
        case is TaskArgumentError:
            return usage
        default:
            return taskFailed
        }
    }
}
