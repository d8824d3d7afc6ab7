// swift-tools-version: 6.0
import PackageDescription

/// One settings array for every Swift target: Swift 6 language mode (strict concurrency).
let swiftSettings: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
]

let package = Package(
    name: "fab",
    platforms: [.macOS(.v13)],
    products: [
        .executable(name: "fab", targets: ["fab"]),
        .executable(name: "fab-scan", targets: ["fab-scan"]),
        .executable(name: "fab-bench", targets: ["fab-bench"]),
        .library(name: "FabSSH", targets: ["FabSSH"]),
        .library(name: "FabCore", targets: ["FabCore"]),
        .library(name: "FabDeploy", targets: ["FabDeploy"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/stencilproject/Stencil", from: "0.15.1"),
        // The fabfile scanner (fab-scan) parses with the compiler's parser and evaluates #if with its rules.
        .package(url: "https://github.com/swiftlang/swift-syntax", from: "603.0.1"),
    ],
    targets: [
        // C libraries from Debian, found through pkg-config.
        .systemLibrary(name: "CLibSSH2", pkgConfig: "libssh2", providers: [.apt(["libssh2-1-dev"])]),
        // Headers only: libarchive is opened on first use (see its shim.h), so no pkg-config and no -larchive.
        .systemLibrary(name: "CLibArchive", providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),

        // Starting programs: posix_spawn in their own process group, pipes pumped without deadlock, deadlines.
        .target(name: "FabProcess", swiftSettings: swiftSettings),
        // SSH sessions, channels, SFTP, known_hosts, ssh_config, authentication. Knows nothing about tasks.
        .target(name: "FabSSH", dependencies: ["CLibSSH2", "CCrypto", "FabProcess"], swiftSettings: swiftSettings),
        // ar/tar archives: reading .deb files, writing tar streams.
        .target(name: "FabArchive", dependencies: ["CLibArchive", "CCrypto"], swiftSettings: swiftSettings),
        // What fabfiles program against: connections, run/sudo/local, scopes, transfers, file helpers, hosts.
        .target(name: "FabCore", dependencies: [
            "FabSSH", "FabArchive", "FabProcess",
            .product(name: "Stencil", package: "Stencil"),
        ], swiftSettings: swiftSettings),
        // The deploy kit: virtualenv builds into .debs on a build VM, and publishing them.
        .target(name: "FabDeploy", dependencies: [
            "FabCore", "FabArchive", "FabProcess", .product(name: "Stencil", package: "Stencil"),
        ], swiftSettings: swiftSettings),
        // What a fabfile declares (tasks, parameters, doc comments), as fab-scan reports it to fab in JSON.
        .target(name: "FabfileModel", swiftSettings: swiftSettings),
        // The command line: arguments, fabfile discovery, plugin compilation and loading, output.
        .target(name: "FabCLI", dependencies: [
            "FabCore", "FabDeploy", "FabProcess", "FabfileModel", "CCrypto",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], swiftSettings: swiftSettings),
        .executableTarget(name: "fab", dependencies: ["FabCLI"], swiftSettings: swiftSettings,
                          // Fabfile plugins resolve fab's API symbols from this executable when loaded.
                          linkerSettings: [.unsafeFlags(["-Xlinker", "--export-dynamic", "-Xlinker", "--no-gc-sections"])]),
        // The fabfile scanner, run by fab only to compile a fabfile: swift-syntax stays out of fab itself.
        .executableTarget(name: "fab-scan", dependencies: [
            "FabfileModel",
            .product(name: "SwiftParser", package: "swift-syntax"),
            .product(name: "SwiftIfConfig", package: "swift-syntax"),
        ], swiftSettings: swiftSettings),
        .executableTarget(name: "fab-bench", dependencies: ["FabCore", "FabTestSupport", "FabProcess"], swiftSettings: swiftSettings),
        // Starts clean build/repository machines on loopback for the demo and for trying fabfiles by hand.
        .executableTarget(name: "fab-testbed", dependencies: ["FabTestSupport"], swiftSettings: swiftSettings),

        // Real sshd instances on loopback, temporary directories, clean machines for tests.
        .target(name: "FabTestSupport", dependencies: ["FabSSH", "FabProcess"], swiftSettings: swiftSettings),

        .testTarget(name: "FabProcessTests", dependencies: ["FabProcess"], swiftSettings: swiftSettings),
        .testTarget(name: "FabSSHTests", dependencies: ["FabSSH", "FabTestSupport", "FabProcess"], swiftSettings: swiftSettings),
        .testTarget(name: "FabArchiveTests", dependencies: ["FabArchive", "FabTestSupport", "FabProcess"], swiftSettings: swiftSettings),
        .testTarget(name: "FabCoreTests", dependencies: ["FabCore", "FabTestSupport", "FabProcess"], swiftSettings: swiftSettings),
        .testTarget(name: "FabDeployTests", dependencies: ["FabDeploy", "FabTestSupport", "FabProcess"], swiftSettings: swiftSettings),
        .testTarget(name: "FabCLITests", dependencies: [
            "FabCLI", "FabfileModel", "FabTestSupport", "FabProcess",
        ], exclude: ["Fixtures"], swiftSettings: swiftSettings),
        .testTarget(name: "EndToEndTests", dependencies: ["FabTestSupport"], swiftSettings: swiftSettings),
    ]
)
