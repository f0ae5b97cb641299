import EnrollCommandLine
import Enrollment
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
        LoggingSystem.bootstrap { _ in
            DiagnosticLogHandler { level, text in level >= .warning ? Terminal.warning(text, hint: nil) : Terminal.note(text) }
        }
        exit(CommandLineRunner.run(Array(CommandLine.arguments.dropFirst())))
    }
}
#endif
