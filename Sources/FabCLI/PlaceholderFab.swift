import FabCore
#if canImport(Glibc)
import Glibc
#endif

/// Makes the `Fab` that ``LocalTaskExecutor`` passes to tasks, until FabCore gives `Fab` a public initializer.
///
/// Temporary: FabCore's `Fab` is still an empty placeholder class whose implicit `init()` is internal, so
/// no other module can write `Fab()`. This allocates an instance the way that `init()` would, through the
/// Swift runtime, and refuses as soon as `Fab` gains stored properties (they would be left uninitialized).
/// Delete this file and call the real initializer once FabCore has one.
enum PlaceholderFab {
    /// A fresh `Fab`.
    /// - Throws: ``FabCLIError`` when `Fab` has stored properties and so needs its real initializer.
    static func make() throws(FabCLIError) -> Fab {
        let metadata = unsafeBitCast(Fab.self as AnyClass, to: UnsafeRawPointer.self)
        // Swift class metadata without Objective-C interop: kind, superclass, flags (UInt32),
        // instance address point (UInt32), then the instance size (UInt32) and alignment mask (UInt16).
        let instanceSize = metadata.load(fromByteOffset: 24, as: UInt32.self)
        let alignMask = metadata.load(fromByteOffset: 28, as: UInt16.self)
        let headerSize = UInt32(2 * MemoryLayout<Int>.size)
        guard instanceSize == headerSize else {
            throw FabCLIError(.pluginLoadFailed,
                              "FabCore's Fab now has stored properties, so fab must create it with its initializer; update LocalTaskExecutor to call it.")
        }
        // The Swift runtime's allocator for class instances; it returns the object retained once.
        guard let allocate = dlsym(nil, "swift_allocObject") else {
            throw FabCLIError(.pluginLoadFailed, "the Swift runtime has no swift_allocObject; give FabCore's Fab a public initializer.")
        }
        typealias Allocate = @convention(c) (UnsafeRawPointer, Int, Int) -> UnsafeMutableRawPointer
        let object = unsafeBitCast(allocate, to: Allocate.self)(metadata, Int(instanceSize), Int(alignMask))
        return Unmanaged<Fab>.fromOpaque(object).takeRetainedValue()
    }
}
