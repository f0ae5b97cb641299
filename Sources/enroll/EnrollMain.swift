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
        // truncated after a removal) go to stderr: stdout carries the command's output, which
        // may be JSON. swift-log's default handler would write them to stdout.
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = .notice
            return handler
        }
        exit(CommandLineRunner.run(Array(CommandLine.arguments.dropFirst())))
    }
}
#endif
