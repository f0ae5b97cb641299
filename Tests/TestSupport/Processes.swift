import Foundation
import Testing

/// Runs real processes for end-to-end tests: the built `enroll` binary (and other products of
/// this package), and the independent tools the tests cross-check against.
public enum Processes {
    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
        public var stdoutData: Data
    }

    /// The directory holding this package's built products (next to the test bundle).
    public static let productsDirectory: URL = {
        let candidates = [
            Bundle.main.executableURL?.deletingLastPathComponent(),
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
            Bundle.allBundles.first { $0.bundlePath.hasSuffix(".xctest") }?.bundleURL.deletingLastPathComponent(),
        ].compactMap { $0 }
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate.appendingPathComponent("enroll").path) {
            return candidate
        }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".build/debug")
    }()

    /// The path of a product of this package, e.g. `enroll` or `rebuild-projections`.
    public static func product(_ name: String) throws -> String {
        let path = productsDirectory.appendingPathComponent(name).path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            Issue.record("\(name) is not built at \(path); run `swift build` first")
            throw CancellationError()
        }
        return path
    }

    /// The path of a system tool, failing the test (not skipping it) when it is missing.
    public static func tool(_ name: String, package: String) throws -> String {
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        Issue.record("\(name) is missing; install it with `apt-get install \(package)` (Tools/install-deps.sh does)")
        throw CancellationError()
    }

    /// Writing to a process that has closed its standard input fails with EPIPE rather than
    /// killing the test runner with SIGPIPE.
    private static let brokenPipesAreErrors: Void = { signal(SIGPIPE, SIG_IGN) }()

    /// Runs `executable` to completion, feeding `input` on stdin.
    @discardableResult
    public static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:], input: Data? = nil, directory: URL? = nil) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        // enroll's and rebuild-projections' progress lines come by the wall clock (the first after
        // five seconds of work), so on a busy machine a slow import would add lines to a stderr a
        // test reads: none unless the test asks for them (ENROLL_PROGRESS_SECONDS 0 or more).
        env["ENROLL_PROGRESS_SECONDS"] = "3600"
        env.merge(environment) { $1 }
        process.environment = env
        if let directory { process.currentDirectoryURL = directory }
        let out = Pipe(), err = Pipe(), inPipe = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = inPipe
        _ = brokenPipesAreErrors
        try process.run()
        // A process may stop reading before the end of its input (and exit): the rest is dropped.
        if let input { try? inPipe.fileHandleForWriting.write(contentsOf: input) }
        try inPipe.fileHandleForWriting.close()
        // Read both pipes concurrently so a chatty process never blocks on a full pipe.
        let group = DispatchGroup()
        nonisolated(unsafe) var errData = Data()
        group.enter()
        DispatchQueue.global().async {
            errData = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self), stdoutData: outData)
    }
}

extension Processes {
    /// A tool run that must succeed.
    public struct Failed: Error, CustomStringConvertible {
        public let command: String
        public let status: Int32
        public let standardError: String
        public var description: String { "`\(command)` exited \(status): \(standardError)" }

        public init(command: String, status: Int32, standardError: String) {
            self.command = command
            self.status = status
            self.standardError = standardError
        }
    }

    /// The standard output of `executable ARGUMENTS`, which must exit 0 (else ``Failed``, with
    /// its standard error).
    public static func output(_ executable: String, _ arguments: [String]) throws -> String {
        let result = try run(executable, arguments)
        guard result.status == 0 else {
            throw Failed(command: ([executable] + arguments).joined(separator: " "), status: result.status, standardError: result.stderr)
        }
        return result.stdout
    }
}

/// SplitMix64 (Steele, Lea, Flood 2014): a tiny deterministic generator, so that random test
/// data is the same on every run and a failure can be reproduced from its seed.
public struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in 0..<bound.
    public mutating func next(upTo bound: Int) -> Int { Int(next() % UInt64(bound)) }
}
