import CSignals
import Enrollment
import Foundation

/// Ctrl-C, SIGTERM or SIGHUP removes the files a command builds aside under names nothing else
/// knows (an import's new database, an export's or a QR code's `FILE.partial-PID`), says what
/// the interruption left, and then ends the process as the signal says; only an uncatchable end
/// (SIGKILL) leaves the files. Each call names the files and the message of the command now
/// running (one per process). The handler is C's (Sources/CSignals): one in Swift could
/// allocate, which a signal handler must not. A signal the process was started with ignored
/// (`nohup`) stays ignored.
enum InterruptionCleanup {
    /// `message` goes to stderr as `enroll: interrupted; MESSAGE`, and with `json` also to
    /// stdout as `{"error":"interrupted","message":…}`, as every other failure.
    static func removeOnSignal(_ files: [String], saying message: String, json: Bool = false) {
        let copies = files.map { strdup($0) }
        defer { for copy in copies { free(copy) } }
        let paths = copies.map { UnsafePointer($0) }
        let text = "interrupted; " + message
        let stdout = json ? JSONValue.object(["error": .string("interrupted"), "message": .string(text)]).canonicalString + "\n" : nil
        // One line, however odd the paths it names (``Terminal/visible(_:)``).
        let line = "enroll: " + Terminal.visible(text) + "\n"
        let installed = paths.withUnsafeBufferPointer { enroll_remove_on_signal($0.baseAddress, Int32($0.count), stdout, line) }
        precondition(installed == 0, "at most 8 files, and memory for their names")
    }

    /// The work is done (its file placed, its transaction committed): the message would no
    /// longer be true, and the signals end the process as they did before.
    static func done() { enroll_default_on_signal() }
}
