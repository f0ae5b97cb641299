import EnrollCommandLine
import Foundation
import Logging

// `enroll`: the command line (Sources/EnrollCommandLine). `enroll serve` runs the sibling
// executable `enroll-server`, so this one links no HTTP code and starts quickly.
#if !FUZZING  // the fuzz build's entry point is libFuzzer's (see FuzzerEntryPoints.swift, Tools/fuzz.sh)
@main
enum Main {
    static func main() {
        // The engine's log lines (notices only, e.g. a write-ahead log that could not be
        // truncated after a removal, or a schema upgrade) go to stderr: stdout carries the
        // command's output, which may be JSON. swift-log's default handler would write them to
        // stdout, and as a server's log lines.
        LoggingSystem.bootstrap { _ in DiagnosticLogHandler() }
        exit(CommandLineRunner.run(Array(CommandLine.arguments.dropFirst())))
    }
}
#endif

/// The engine's notices as the command line's own lines on stderr: `enroll: note: …` (a warning
/// or worse: `enroll: warning: …`), the log's metadata in parentheses after the message.
struct DiagnosticLogHandler: LogHandler {
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .notice

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        var text = "\(event.message)"
        if !all.isEmpty { text += " (" + all.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + ")" }
        if event.level >= .warning { Terminal.warning(text, hint: nil) } else { Terminal.note(text) }
    }
}
