import ArgumentParser
import Enrollment
import Foundation

/// `enroll replay FILE…`: runs fixtures with the test suite's runner.
struct ReplayCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Replay fixture files (given/when/then scenarios and recorded journals); report pass or fail per file.",
        discussion: """
            A directory is searched for *.json scenarios and *.jsonl recorded journals (see Fixtures/README.md). \
            Files are reported in the order given, a directory's sorted by path; a file named twice runs once. \
            No database is read or written. Exit 0 when every file passes, 1 when any fails, \
            2 when a file is missing or not a fixture.
            """)

    @Flag(name: .long, help: "Print one JSON object per file instead of text.")
    var json = false

    @Argument(help: ArgumentHelp("Fixture files or directories.", valueName: "file"))
    var files: [String]

    func validate() throws {
        if files.isEmpty { throw ValidationError("name at least one fixture file or directory, e.g. `enroll replay Fixtures/`") }
    }

    func run() throws {
        let paths: [String]
        do {
            paths = try FixtureRunner.discover(files)
        } catch {
            throw CLIFailure(code: error.code, message: error.description, exitCode: CLIExit.badInput, json: json)
        }
        if paths.isEmpty { throw CLIFailure(code: "no_fixtures", message: "no *.json or *.jsonl fixture under \(files.joined(separator: ", "))", exitCode: CLIExit.badInput, json: json) }
        var failed = 0, malformed = 0
        for path in paths {
            do {
                let result = try FixtureRunner.run(path: path)
                if !result.passed { failed += 1 }
                if json {
                    Terminal.json(["file": path, "passed": result.passed, "summary": result.summary, "failures": result.failures])
                } else {
                    Terminal.line("\(result.passed ? "PASS" : "FAIL") \(Terminal.visible(path)) (\(result.summary))")
                    for failure in result.failures {
                        // Each line of a difference indented and escaped: a value a fixture holds can start no
                        // line of its own (a forged PASS) nor drive the terminal.
                        Terminal.line(failure.split(separator: "\n", omittingEmptySubsequences: false).map { "    " + Terminal.visible(String($0)) }.joined(separator: "\n"))
                    }
                }
            } catch {
                malformed += 1
                if json {
                    // As everywhere in this command line: `error` the machine code, `message` the text.
                    Terminal.json(["file": path, "passed": false, "error": error.code, "message": error.description])
                } else {
                    Terminal.line("ERROR \(Terminal.visible(path)): \(Terminal.visible(error.reason))")
                }
            }
        }
        let passed = paths.count - failed - malformed
        if !json {
            Terminal.line("\(passed) passed, \(failed) failed\(malformed > 0 ? ", \(malformed) not fixtures" : "") of \(paths.count) file\(paths.count == 1 ? "" : "s").")
        }
        if malformed > 0 { throw ExitCode(CLIExit.badInput) }
        if failed > 0 { throw ExitCode(CLIExit.refused) }
    }
}
