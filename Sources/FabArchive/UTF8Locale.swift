#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs `body` with the calling thread's character-type locale set to C.UTF-8, then restores it.
///
/// libarchive converts paths between UTF-8 and "the current locale's" encoding. In a process that
/// never called `setlocale` (the usual case: the C locale, ASCII), libarchive 3.6 cannot convert a
/// non-ASCII path and its pax writer then crashes on a NULL path (libarchive issue #2233). The
/// switch is per thread (`uselocale`), never process-wide, and lasts only for the synchronous
/// libarchive calls inside `body`.
func withUTF8CharacterType<T>(_ body: () throws -> T) rethrows -> T {
    #if canImport(Glibc) || canImport(Musl) || canImport(Darwin)
    guard let locale = UTF8Locale.shared.locale else { return try body() }
    let previous = uselocale(locale)
    defer { uselocale(previous) }
    #endif
    return try body()
}

/// The process's one C.UTF-8 `locale_t`, created on first use and kept for the life of the process.
private final class UTF8Locale: @unchecked Sendable {
    // @unchecked: `locale` is set once in init and never changed; a locale object created by
    // `newlocale` may be installed on any number of threads at once.
    static let shared = UTF8Locale()

    let locale: locale_t?

    private init() {
        #if canImport(Darwin)
        locale = newlocale(LC_CTYPE_MASK, "UTF-8", nil) ?? newlocale(LC_CTYPE_MASK, "en_US.UTF-8", nil)
        #else
        locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", nil)
        #endif
    }
}
