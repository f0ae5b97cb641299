import Foundation
import Testing

/// Runs real processes for end-to-end tests: the built `enroll` binary (and other products of
/// this package), and the independent tools the tests cross-check against.
enum Processes {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        var stdoutData: Data
    }

    /// The directory holding this package's built products (next to the test bundle).
    static let productsDirectory: URL = {
        let candidates = [
            Bundle.main.executableURL?.deletingLastPathComponent(),
            URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
            Bundle.allBundles.first { $0.bundlePath.hasSuffix(".xctest") }?.bundleURL.deletingLastPathComponent(),
        ].compactMap { $0 }
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate.appendingPathComponent("enroll").path) {
            return candidate
        }
        return URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent(".build/debug")
    }()

    /// The path of a product of this package, e.g. `enroll` or `rebuild-projections`.
    static func product(_ name: String) throws -> String {
        let path = productsDirectory.appendingPathComponent(name).path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            Issue.record("\(name) is not built at \(path); run `swift build` first")
            throw CancellationError()
        }
        return path
    }

    /// The path of a system tool, failing the test (not skipping it) when it is missing.
    static func tool(_ name: String, package: String) throws -> String {
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(directory)/\(name)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        Issue.record("\(name) is missing; install it with `apt-get install \(package)` (Tools/install-deps.sh does)")
        throw CancellationError()
    }

    /// Runs `executable` to completion, feeding `input` on stdin.
    @discardableResult
    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:], input: Data? = nil, directory: URL? = nil) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.merge(environment) { $1 }
        process.environment = env
        if let directory { process.currentDirectoryURL = directory }
        let out = Pipe(), err = Pipe(), inPipe = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = inPipe
        try process.run()
        if let input { inPipe.fileHandleForWriting.write(input) }
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

/// A temporary directory with an enrollment database and key file, removed afterwards.
final class Workspace {
    let directory: URL
    var database: String { directory.appendingPathComponent("enrollment.sqlite").path }
    var keyFile: String { directory.appendingPathComponent("enrollment.key").path }

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("enroll-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    /// Runs `enroll ARGS --db … --key-file …` in this workspace.
    @discardableResult
    func enroll(_ arguments: [String], environment: [String: String] = [:]) throws -> Processes.Result {
        var env = environment
        env["ENROLL_DB"] = database
        env["ENROLL_KEY_FILE"] = keyFile
        return try Processes.run(try Processes.product("enroll"), arguments, environment: env, directory: directory)
    }

    /// `enroll … --json`, decoded.
    func enrollJSON(_ arguments: [String], environment: [String: String] = [:]) throws -> (Processes.Result, [String: Any]) {
        let result = try enroll(arguments + ["--json"], environment: environment)
        let object = (try? JSONSerialization.jsonObject(with: result.stdoutData)) as? [String: Any] ?? [:]
        return (result, object)
    }

    /// The bytes of the database files (main, -wal, -shm), to prove a command changed nothing.
    func databaseBytes() -> [String: Data] {
        var files: [String: Data] = [:]
        for suffix in ["", "-wal", "-shm"] {
            if let data = FileManager.default.contents(atPath: database + suffix) { files[suffix] = data }
        }
        return files
    }
}

/// What an authenticator app would show: computed by the independent `oathtool`.
enum Oathtool {
    static func code(base32Secret: String, at time: Int64? = nil, algorithm: String = "SHA1", digits: Int = 6, period: Int = 30) throws -> String {
        let tool = try Processes.tool("oathtool", package: "oathtool")
        var arguments = ["--totp=\(algorithm)", "--digits=\(digits)", "--time-step-size=\(period)s", "--base32"]
        if let time { arguments.append("--now=@\(time)") }
        arguments.append(base32Secret)
        let result = try Processes.run(tool, arguments)
        #expect(result.status == 0, "oathtool failed: \(result.stderr)")
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

/// The `secret` parameter of an otpauth:// URI.
func secretParameter(of uri: String) -> String? {
    URLComponents(string: uri)?.queryItems?.first { $0.name == "secret" }?.value
}
