import EnrollCommandLine
import Foundation

// `enroll`: the command line (Sources/EnrollCommandLine). `enroll serve` runs the sibling
// executable `enroll-server`, so this one links no HTTP code and starts quickly.
#if !FUZZING  // the fuzz build's entry point is libFuzzer's (see Fuzzing.swift, Tools/fuzz.sh)
@main
enum Main {
    static func main() {
        exit(CommandLineRunner.run(Array(CommandLine.arguments.dropFirst())))
    }
}
#endif
