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
        emit(Array((line + "\n").utf8), to: STDERR_FILENO)
    }

    /// Exactly one JSON object on stdout, keys sorted.
    static func json(_ object: [String: Any?]) {
        let compact = object.compactMapValues { $0 }
        let data = (try? JSONSerialization.data(withJSONObject: compact, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        emit(Array(data) + [UInt8(ascii: "\n")], to: STDOUT_FILENO)
    }

    public static func line(_ text: String) {
        emit(Array((text + "\n").utf8), to: STDOUT_FILENO)
    }

    /// Writes every byte with write(2), unbuffered as `FileHandle` is, without setting up
    /// `FileHandle` on first use (a tenth of a millisecond of `enroll status`). A reader that went
    /// away (EPIPE) ends the output quietly, where `FileHandle.write` would trap.
    static func emit(_ bytes: [UInt8], to descriptor: Int32) {
        bytes.withUnsafeBufferPointer { buffer in
            guard let start = buffer.baseAddress else { return }
            var offset = 0
            while offset < buffer.count {
                let written = write(descriptor, start + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return
                }
                offset += written
            }
        }
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
