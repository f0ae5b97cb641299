import ArgumentParser
import Enrollment
import Foundation

/// `enroll`: enroll authenticator apps (TOTP) from the terminal.
struct Enroll: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enroll",
        abstract: "Enroll authenticator apps (TOTP multi-factor sign-in), event by event.",
        discussion: """
            Every command is recorded in an SQLite journal (--db); secrets are sealed under a key \
            file (--key-file). Exit codes: 0 done, 1 refused by the rules (wrong code, not \
            enrolled, expired, locked…), 2 bad input or usage, 3 storage, key or environment failure.
            """,
        subcommands: [
            RequestCommand.self, ConfirmCommand.self, RevealCommand.self, RegenerateCommand.self,
            RemoveCommand.self, StatusCommand.self,
            HistoryCommand.self, AuditCommand.self, ExportCommand.self, ImportCommand.self, VerifyCommand.self, ReplayCommand.self, ActivityCommand.self,
            KeysCommand.self,
            ServeCommand.self,
        ])
}

#if !FUZZING  // the fuzz build's entry point is libFuzzer's (see Fuzzing.swift, Tools/fuzz.sh)
@main
enum Main {
    static func main() async {
        let code = await CommandLineRunner.run(Array(CommandLine.arguments.dropFirst()))
        exit(code)
    }
}
#endif

enum CommandLineRunner {
    /// Parses and runs one command line, mapping every failure to the documented exit codes.
    static func run(_ arguments: [String]) async -> Int32 {
        let command: any ParsableCommand
        do {
            command = try Enroll.parseAsRoot(arguments)
        } catch {
            let exitCode = Enroll.exitCode(for: error)
            if exitCode == .success {
                print(Enroll.fullMessage(for: error))
                return 0
            }
            Terminal.error(Enroll.message(for: error).split(separator: "\n").first.map(String.init) ?? "invalid usage", hint: "see `enroll --help`")
            return CLIExit.badInput
        }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                var syncCommand = command
                try syncCommand.run()
            }
            return 0
        } catch let failure as CLIFailure {
            return failure.report()
        } catch let error as InputError {
            return CLIFailure.input(error).report()
        } catch let error as StoreError {
            return CLIFailure.store(error).report()
        } catch let error as ValidationError {
            Terminal.error(error.message, hint: nil)
            return CLIExit.badInput
        } catch let error as ExitCode {
            return error.rawValue
        } catch {
            // Help and version requests, and argument-parser errors raised while running.
            if Enroll.exitCode(for: error) == .success {
                print(Enroll.fullMessage(for: error))
                return 0
            }
            Terminal.error(Enroll.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)", hint: nil)
            return CLIExit.environment
        }
    }
}
