import Enrollment
import Foundation

public enum CLIExit {
    public static let done: Int32 = 0
    public static let refused: Int32 = 1
    public static let badInput: Int32 = 2
    public static let environment: Int32 = 3
}

/// Output: results on stdout, one line per error on stderr.
public enum Terminal {
    static func error(_ message: String, hint: String?) {
        var line = "enroll: error: \(message)"
        if let hint { line += " (\(hint))" }
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// Exactly one JSON object on stdout, keys sorted.
    static func json(_ object: [String: Any?]) {
        let compact = object.compactMapValues { $0 }
        let data = (try? JSONSerialization.data(withJSONObject: compact, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        FileHandle.standardOutput.write(data + Data("\n".utf8))
    }

    public static func line(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    static var isTerminal: Bool { isatty(STDOUT_FILENO) == 1 }
}

/// A failure the command line reports with a defined exit code.
public struct CLIFailure: Error {
    var code: String
    var message: String
    var exitCode: Int32
    var json: Bool = false

    public init(code: String, message: String, exitCode: Int32, json: Bool = false) {
        self.code = code
        self.message = message
        self.exitCode = exitCode
        self.json = json
    }

    static func input(_ error: InputError) -> CLIFailure {
        CLIFailure(code: error.code, message: error.message, exitCode: CLIExit.badInput)
    }

    static func store(_ error: StoreError) -> CLIFailure {
        CLIFailure(code: error.code, message: error.message, exitCode: CLIExit.environment)
    }

    static func rejection(_ rejection: EnrollmentRejection) -> CLIFailure {
        CLIFailure(code: rejection.code, message: rejection.message, exitCode: rejection.isBadInput ? CLIExit.badInput : CLIExit.refused)
    }

    public static func usage(_ message: String) -> CLIFailure {
        CLIFailure(code: "usage", message: message, exitCode: CLIExit.badInput)
    }

    func report() -> Int32 {
        if json { Terminal.json(["error": code, "message": message]) }
        Terminal.error(message, hint: nil)
        return exitCode
    }
}
