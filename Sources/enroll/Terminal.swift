import Enrollment
import Foundation

enum CLIExit {
    static let done: Int32 = 0
    static let refused: Int32 = 1
    static let badInput: Int32 = 2
    static let environment: Int32 = 3
}

/// Output: results on stdout, one line per error on stderr.
enum Terminal {
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

    static func line(_ text: String) {
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }

    static var isTerminal: Bool { isatty(STDOUT_FILENO) == 1 }
}

/// A failure the command line reports with a defined exit code.
struct CLIFailure: Error {
    var code: String
    var message: String
    var exitCode: Int32
    var json: Bool = false

    static func input(_ error: InputError) -> CLIFailure {
        CLIFailure(code: error.code, message: error.message, exitCode: CLIExit.badInput)
    }

    static func store(_ error: StoreError) -> CLIFailure {
        CLIFailure(code: error.code, message: error.message, exitCode: CLIExit.environment)
    }

    static func rejection(_ rejection: EnrollmentRejection) -> CLIFailure {
        CLIFailure(code: rejection.code, message: rejection.message, exitCode: rejection.isBadInput ? CLIExit.badInput : CLIExit.refused)
    }

    static func usage(_ message: String) -> CLIFailure {
        CLIFailure(code: "usage", message: message, exitCode: CLIExit.badInput)
    }

    func report() -> Int32 {
        if json { Terminal.json(["error": code, "message": message]) }
        Terminal.error(message, hint: nil)
        return exitCode
    }
}
