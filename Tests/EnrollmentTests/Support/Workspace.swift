import Foundation
import Testing
import TestSupport

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
    func enroll(_ arguments: [String], environment: [String: String] = [:], input: Data? = nil) throws -> Processes.Result {
        var env = environment
        env["ENROLL_DB"] = database
        env["ENROLL_KEY_FILE"] = keyFile
        return try Processes.run(try Processes.product("enroll"), arguments, environment: env, input: input, directory: directory)
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
