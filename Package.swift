// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "authenticator-enrollment",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Enrollment", targets: ["Enrollment"]),
        .executable(name: "enroll", targets: ["enroll"]),
        .executable(name: "enroll-server", targets: ["enroll-server"]),
        .executable(name: "rebuild-projections", targets: ["rebuild-projections"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        // The HTTP server (issue 6): Hummingbird 2 and JWT verification.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/vapor/jwt-kit", from: "5.7.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        // Already under Hummingbird; named for the channel handlers the server adds
        // (MalformedRequestHandler: a JSON 400 for requests the HTTP parser cannot read;
        // HTTP10Close: an HTTP/1.0 connection closes after its answer).
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
    ],
    targets: [
        // OpenSSL 3's libcrypto (headers from Debian's libssl-dev), loaded on first use instead of
        // linked: a command that needs no cryptography (`enroll status`) does not pay for mapping
        // and relocating it (Sources/COpenSSL/include/COpenSSL.h). Only libcrypto: nothing here
        // speaks TLS.
        .target(name: "COpenSSL"),
        // What Ctrl-C, SIGTERM or SIGHUP does, in C: a signal handler must not allocate.
        .target(name: "CSignals"),
        // System libraries, found with pkg-config (Debian: libqrencode-dev).
        .systemLibrary(name: "CQRencode", pkgConfig: "libqrencode", providers: [.apt(["libqrencode-dev"])]),
        // SQLite's process-wide settings (sqlite3_config is variadic: Swift needs a C wrapper).
        .systemLibrary(name: "CSQLiteConfig", providers: [.apt(["libsqlite3-dev"])]),

        // HMAC, SHA-256, AES-256-GCM and RAND_bytes over OpenSSL 3.
        .target(name: "CryptoPrimitives", dependencies: ["COpenSSL"]),
        // RFC 4226 HOTP, RFC 6238 TOTP, RFC 4648 Base32 and otpauth:// key URIs.
        .target(name: "OneTimePassword", dependencies: ["CryptoPrimitives"]),
        // QR codes from libqrencode, drawn for terminals, SVG and PNG.
        .target(name: "QRCode", dependencies: ["CQRencode"]),
        // The engine: decider, journal, projections, command handler.
        .target(
            name: "Enrollment",
            dependencies: [
                "CryptoPrimitives", "OneTimePassword", "CSQLiteConfig",
                .product(name: "GRDB", package: "GRDB.swift"),
                // The SQLite C API, for the rebuild's journal scan (EventJournal+Scan.swift).
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The My Account–compatible HTTP API and the Authenticator App page (Hummingbird 2).
        .target(
            name: "EnrollmentServer",
            dependencies: [
                "Enrollment", "OneTimePassword", "QRCode", "CryptoPrimitives",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
            ]),
        // The command line's subcommands, shared by the two executables below.
        .target(
            name: "EnrollCommandLine",
            dependencies: [
                "Enrollment", "OneTimePassword", "QRCode", "CryptoPrimitives", "CSignals",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        // `enroll`: no HTTP code, so that a one-shot command starts fast; `enroll serve` execs
        // `enroll-server` beside it. Release builds link the Swift runtime and Foundation
        // statically: relocating their shared libraries was most of a short command's time
        // (BENCHMARKS.md, "`enroll status` as a process").
        .executableTarget(
            name: "enroll",
            dependencies: ["EnrollCommandLine", "Enrollment", .product(name: "Logging", package: "swift-log")],
            swiftSettings: [.unsafeFlags(["-static-stdlib"], .when(platforms: [.linux], configuration: .release))],
            linkerSettings: [.unsafeFlags(["-static-stdlib"], .when(platforms: [.linux], configuration: .release))]),
        // `enroll serve`: the HTTP server. Linked as `enroll` is, so that the three installed
        // together run on a machine without the Swift toolchain (README, "Building and installing").
        .executableTarget(
            name: "enroll-server",
            dependencies: [
                "EnrollCommandLine", "Enrollment", "EnrollmentServer", "CryptoPrimitives",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: [.unsafeFlags(["-static-stdlib"], .when(platforms: [.linux], configuration: .release))],
            linkerSettings: [.unsafeFlags(["-static-stdlib"], .when(platforms: [.linux], configuration: .release))]),
        // Rebuilds projections from the journal (shadow table, resumable, swapped in one transaction).
        .executableTarget(
            name: "rebuild-projections",
            dependencies: [
                "Enrollment", "CSignals",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tools/rebuild-projections",
            swiftSettings: [.unsafeFlags(["-static-stdlib"], .when(platforms: [.linux], configuration: .release))],
            linkerSettings: [.unsafeFlags(["-static-stdlib"], .when(platforms: [.linux], configuration: .release))]),

        // The benchmark (issue 5): engine figures beside their raw SQLite, OpenSSL and Python
        // peers in one run. Built in release by Tools/benchmark.sh; `--smoke` runs it in seconds.
        .executableTarget(
            name: "benchmark",
            dependencies: [
                "Enrollment", "OneTimePassword", "CryptoPrimitives",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
            ],
            path: "Tools/benchmark"),

        // What the test targets share: running real processes (the built products and the
        // independent tools they cross-check against) and a seeded random generator.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        // Links libcrypto itself: its tests compare the HMACs with OpenSSL's one-shot HMAC().
        .testTarget(
            name: "OneTimePasswordTests", dependencies: ["OneTimePassword", "CryptoPrimitives", "TestSupport"],
            linkerSettings: [.linkedLibrary("crypto")]),
        .testTarget(name: "QRCodeTests", dependencies: ["QRCode", "TestSupport"]),
        .testTarget(
            name: "EnrollmentServerTests",
            dependencies: [
                "EnrollmentServer", "Enrollment", "OneTimePassword", "QRCode", "TestSupport",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "JWTKit", package: "jwt-kit"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(name: "EnrollmentTests", dependencies: ["Enrollment", "OneTimePassword", "CryptoPrimitives", "QRCode", "TestSupport"]),
    ]
)
