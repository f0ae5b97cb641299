import ArgumentParser
import Enrollment
import EnrollCommandLine
import Foundation

/// `enroll-server`: the executable behind `enroll serve`, apart from `enroll` so that the HTTP
/// stack's code is loaded only by the server (BENCHMARKS.md, "`enroll status` as a process").
/// `enroll serve ARGS` becomes `enroll-server serve ARGS`; run directly, `serve` may be left out.
/// The root is named `enroll` so that usage lines and errors read as they do under `enroll serve`.
struct EnrollServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enroll",
        abstract: "The HTTP face of enroll: `enroll serve` runs this executable.",
        version: EnrollmentVersion.description,
        subcommands: [ServeCommand.self],
        defaultSubcommand: ServeCommand.self)
}

@main
enum Main {
    static func main() async {
        exit(await CommandLineRunner.run(Array(CommandLine.arguments.dropFirst()), root: EnrollServer.self))
    }
}
