import Enrollment
import Foundation
import Synchronization

public enum CLIExit {
    public static let done: Int32 = 0
    public static let refused: Int32 = 1
    public static let badInput: Int32 = 2
    public static let environment: Int32 = 3
}

/// Output: results on stdout, one line per error on stderr.
public enum Terminal {
    static func error(_ message: String, hint: String?) {
        diagnostic("error", message, hint: hint)
    }

    /// One line on stderr about something the command goes on despite: it still runs and
    /// exits as it would have.
    public static func warning(_ message: String, hint: String?) {
        diagnostic("warning", message, hint: hint)
    }

    /// One line on stderr telling what the command did beside its result (a file it created).
    public static func note(_ message: String) {
        diagnostic("note", message, hint: nil)
    }

    private static func diagnostic(_ kind: String, _ message: String, hint: String?) {
        var line = "enroll: \(kind): \(bounded(message))"
        if let hint { line += " (\(hint))" }
        emit(Array((visible(line) + "\n").utf8), to: STDERR_FILENO)
    }

    /// `line` with its control characters escaped (`\n`, `\u001b`, as ``TextField`` shows
    /// stored values; combining marks kept, as a path from macOS has them): a path or value it
    /// echoes (`--db $'x\nenroll: note: …'`) must neither break the one line in two, which a
    /// reader would take for a second message, nor drive the terminal with escape sequences.
    static func visible(_ line: String) -> String { TextField.escaped(line, marks: false) }

    /// `message` with each run of more than ``longestWord`` characters without a space (a path,
    /// a value echoed back as it was typed) cut to its first 60 and last 20 characters around
    /// "…": a 100 KB argument must not make a 100 KB error line in a log. Real paths and names
    /// are far shorter; what a message says after the value (its remedy) is kept.
    static func bounded(_ message: String) -> String {
        guard message.utf8.count > longestWord else { return message }
        return message.split(separator: " ", omittingEmptySubsequences: false).map { word in
            word.count > longestWord ? word.prefix(60) + "…" + word.suffix(20) : word
        }.joined(separator: " ")
    }

    static let longestWord = 300

    /// One line on stderr as it is (progress of long work).
    static func diagnosticLine(_ text: String) {
        emit(Array((text + "\n").utf8), to: STDERR_FILENO)
    }

    /// Exactly one JSON object on stdout, keys sorted.
    public static func json(_ object: [String: Any?]) {
        let compact = object.compactMapValues { $0 }
        let data = (try? JSONSerialization.data(withJSONObject: compact, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        emit(Array(data) + [UInt8(ascii: "\n")], to: STDOUT_FILENO)
    }

    public static func line(_ text: String) {
        emit(Array((text + "\n").utf8), to: STDOUT_FILENO)
    }

    /// Writes every byte with write(2), unbuffered as `FileHandle` is, without setting up
    /// `FileHandle` on first use (a tenth of a millisecond of `enroll status`), and without
    /// trapping on an error as `FileHandle.write` does. A failed write to stdout (a full disk, an
    /// I/O error) is remembered and reported when the command ends (``outputFailure``): output
    /// that was lost is never a silent success.
    static func emit(_ bytes: [UInt8], to descriptor: Int32) {
        let failure = bytes.withUnsafeBytes { writeAll($0, to: descriptor) }
        // A line for a reader that went away is dropped quietly (the command's own result
        // stands); a long output stops at once (``OutputBuffer``, ``readerGone()``).
        if failure != 0 && failure != EPIPE && descriptor == STDOUT_FILENO {
            _ = stdoutFailure.compareExchange(expected: 0, desired: failure, ordering: .relaxed)
        }
    }

    /// Writes every byte of `bytes` to `descriptor`; 0, or the `errno` of the write that failed
    /// (EPIPE when the reader went away: each caller decides).
    static func writeAll(_ bytes: UnsafeRawBufferPointer, to descriptor: Int32) -> Int32 {
        guard let start = bytes.baseAddress else { return 0 }
        var offset = 0
        while offset < bytes.count {
            let written = write(descriptor, start + offset, bytes.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                return errno
            }
            offset += written
        }
        return 0
    }

    /// The reader of a long output went away (`enroll audit | head`): the command ends at once
    /// and quietly, as SIGPIPE ends it where that signal has its default action, also where it
    /// is ignored (a systemd service, a parent that ignores it), rather than write the rest into
    /// the closed pipe and then report success.
    static func readerGone() -> Never {
        signal(SIGPIPE, SIG_DFL)
        raise(SIGPIPE)
        exit(128 + SIGPIPE)
    }

    /// Why a file operation failed, in the system's words ("No space left on device") rather
    /// than Foundation's ("The operation could not be completed … error 512").
    static func reason(_ error: any Error) -> String {
        let posix = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError ?? (error as NSError)
        if posix.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(posix.code)))
        }
        return error.localizedDescription
    }

    /// The `errno` of the first write to stdout that failed (0: none).
    private static let stdoutFailure = Atomic<Int32>(0)

    /// What to report, once the command has run, if some of its output could not be written;
    /// `readOnly`: the command (or help) changes nothing, so the line does not say it was carried out.
    static func outputFailure(readOnly: Bool = false) -> CLIFailure? {
        let failure = stdoutFailure.load(ordering: .relaxed)
        return failure == 0 ? nil : .output(errno: failure, to: nil, readOnly: readOnly)
    }

    static var isTerminal: Bool { isatty(STDOUT_FILENO) == 1 }

    /// The width in columns of the terminal stdout is, or `nil` when stdout is not a terminal
    /// (or does not say).
    static var columns: Int? {
        var size = winsize()
        guard isTerminal, ioctl(STDOUT_FILENO, UInt(TIOCGWINSZ), &size) == 0, size.ws_col > 0 else { return nil }
        return Int(size.ws_col)
    }
}

/// A failure the command line reports with a defined exit code.
public struct CLIFailure: Error {
    var code: String
    var message: String
    var exitCode: Int32
    var json: Bool = false
    /// A refusal by the domain ends with its machine code, as `confirm` always printed it
    /// (`… (not_enrolled)`), whichever command refused.
    var showsCode = false

    public init(code: String, message: String, exitCode: Int32, json: Bool = false, showsCode: Bool = false) {
        self.code = code
        self.message = message
        self.exitCode = exitCode
        self.json = json
        self.showsCode = showsCode
    }

    static func input(_ error: InputError) -> CLIFailure {
        var failure = CLIFailure(code: error.code, message: error.commandLineMessage, exitCode: CLIExit.badInput)
        // A command id's refusal is about what the caller sent before, not the text it typed now:
        // its line ends with the code a script tells them apart by, as a domain refusal's does.
        switch error {
        case .commandIdReused, .commandIdArgumentsDiffer, .commandIdSpent: failure.showsCode = true
        default: break
        }
        return failure
    }

    static func store(_ error: StoreError) -> CLIFailure {
        CLIFailure(code: error.code, message: error.message, exitCode: CLIExit.environment)
    }

    /// Output that could not be written: to stdout (`target` nil), after the command itself was
    /// carried out (`readOnly`: a command that changes nothing, or help); or to the file `target`.
    static func output(errno failure: Int32, to target: String?, readOnly: Bool = false) -> CLIFailure {
        let reason = String(cString: strerror(failure))
        // Room is the remedy only when the disk is full; a closed stdout (`>&-`) or a device
        // that refuses needs the output sent somewhere that takes it.
        let full = failure == ENOSPC || failure == EDQUOT
        let remedy = full ? "make room or send the output elsewhere" : "send the output somewhere that can be written (a file, a pipe, the terminal)"
        let message = if let target {
            "cannot write \(target) (\(reason)); \(full ? "make room or " : "")pass --output with a writable path"
        } else if readOnly {
            "could not write the output (\(reason)); nothing was changed: \(remedy)"
        } else {
            "could not write the output (\(reason)); the command itself was carried out: \(remedy)"
        }
        return CLIFailure(code: "output_unwritable", message: message, exitCode: CLIExit.environment)
    }

    /// `lockedUntil`: confirming is locked until then, so advice to get a new secret waits for it.
    /// `pendingExpiresAt`: when the secret awaiting its code expires, if known.
    /// `user`: the user id the command named, which the message names.
    static func rejection(
        _ rejection: EnrollmentRejection, lockedUntil: UnixTime? = nil, pendingExpiresAt: UnixTime? = nil, user: String? = nil
    ) -> CLIFailure {
        CLIFailure(
            code: rejection.code, message: rejection.message(lockedUntil: lockedUntil, pendingExpiresAt: pendingExpiresAt, user: user),
            exitCode: rejection.isBadInput ? CLIExit.badInput : CLIExit.refused, showsCode: true)
    }

    public static func usage(_ message: String) -> CLIFailure {
        CLIFailure(code: "usage", message: message, exitCode: CLIExit.badInput)
    }

    /// The same failure, reported as one JSON object on stdout when `json` (`--json`).
    public func reported(asJSON json: Bool) -> CLIFailure {
        var failure = self
        failure.json = failure.json || json
        return failure
    }

    /// The first outcome of a repeated `--command-id`: said so, since what it said then (attempts
    /// left, a lock) may no longer hold (`"replayed": true` in JSON).
    var replayed = false

    mutating func replayed(commandId: String) {
        replayed = true
        message = Self.repeatedRefusal(commandId: commandId, message: message)
    }

    static func repeatedRefusal(commandId: String, message: String) -> String {
        "command id '\(TextField.escaped(commandId))' was handled before, and refused then: \(message); nothing was done now"
    }

    func report() -> Int32 {
        if json { Terminal.json(["error": code, "message": Terminal.bounded(message), "replayed": replayed ? true : nil]) }
        Terminal.error(message, hint: showsCode ? code : nil)
        return exitCode
    }
}

/// Progress of long work on stderr, as `rebuild-projections` prints it into a pipe: a line every
/// five seconds (the first after five seconds, so short work prints none), counting events of a
/// known total (or, without one, as far as they go). Checks the clock once per 1 024 events.
/// `ENROLL_PROGRESS_SECONDS` (0-3600) changes the interval; 0 prints a line per 1 024 events.
final class ProgressLine {
    private let doing: String
    private let total: Int64?
    /// What is counted: "events", "data keys".
    private let unit: String
    private let interval: Duration
    private var done: Int64 = 0
    private var last = ContinuousClock.now
    /// Whether a line was printed: the work was long, and its next stage is worth a line too.
    private var printed = false

    init(doing: String, total: Int64?, unit: String = "events") {
        self.doing = doing
        self.total = total
        self.unit = unit
        interval = .seconds(Self.intervalSeconds())
    }

    static let defaultSeconds = 5

    /// The interval ENROLL_PROGRESS_SECONDS asks for; one it cannot be gets a warning and the default.
    static func intervalSeconds() -> Int {
        guard let text = Environment["ENROLL_PROGRESS_SECONDS"] else { return defaultSeconds }
        if let seconds = Int(text), (0...3600).contains(seconds) { return seconds }
        Terminal.warning(
            "ENROLL_PROGRESS_SECONDS is \"\(text.prefix(40))\", not a whole number of seconds from 0 to 3600; progress lines come every \(defaultSeconds) seconds",
            hint: nil)
        return defaultSeconds
    }

    func advance() {
        done += 1
        guard done & 1_023 == 0 else { return }
        report(done)
    }

    /// For work that goes through the journal in order but handles only some of it (`audit`
    /// with a filter): how far it has come is the position of the event it has reached.
    func reach(_ position: Int64) {
        calls += 1
        guard calls & 1_023 == 0 else { return }
        report(position)
    }

    private var calls: Int64 = 0

    /// A line, when the interval has passed since the last: `count` of the total.
    private func report(_ count: Int64) {
        guard ContinuousClock.now - last >= interval else { return }
        last = ContinuousClock.now
        printed = true
        guard let total else { return Terminal.diagnosticLine("enroll: \(doing): \(count) \(unit) so far") }
        let percent = total > 0 ? " (\(min(100, count * 100 / total))%)" : ""
        Terminal.diagnosticLine("enroll: \(doing): \(count) of \(total) \(unit)\(percent)")
    }

    /// A line for the stage that follows, printed only when progress was shown (long work).
    func stage(_ text: String) {
        if printed { Terminal.diagnosticLine("enroll: \(doing): \(text)") }
    }
}

extension InputError {
    /// The message with what to type in this command line's terms: the library's says what
    /// value to use, this one which option takes it.
    var commandLineMessage: String {
        switch self {
        case .invalidActor(let reason):
            "invalid actor: \(reason); use 1 to 256 bytes of printable UTF-8 without '/' or '\\', or leave out --actor to record the user as the actor"
        case .invalidDigits(let digits): "digits must be 6, 7 or 8, not \(digits); pass --digits 6, 7 or 8"
        case .invalidPeriod(let period): "period must be between 1 and 3600 seconds, not \(period); pass --period 30 (the common choice)"
        case .invalidAlgorithm(let name): "unsupported algorithm '\(name)'; pass --algorithm SHA1, SHA256 or SHA512"
        default: message
        }
    }
}
