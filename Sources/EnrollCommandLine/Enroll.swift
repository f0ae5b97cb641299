import ArgumentParser
import Enrollment
import CSignals
import Foundation
import Synchronization

/// `enroll`: enroll authenticator apps (TOTP) from the terminal.
struct Enroll: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enroll",
        abstract: "Enroll authenticator apps (TOTP multi-factor sign-in), event by event.",
        discussion: """
            Every command is recorded in an SQLite journal (--db); secrets are sealed under a key \
            file (--key-file). Exit codes: 0 done, 1 refused by the rules (wrong code, not \
            enrolled, expired, locked…), 2 bad input or usage, 3 storage, key or environment failure.
            """,
        version: EnrollmentVersion.description,
        subcommands: [
            RequestCommand.self, ConfirmCommand.self, RevealCommand.self, RegenerateCommand.self,
            CancelCommand.self, RemoveCommand.self, StatusCommand.self,
            HistoryCommand.self, AuditCommand.self, ExportCommand.self, ImportCommand.self, VerifyCommand.self, ReplayCommand.self, ActivityCommand.self,
            KeysCommand.self,
            ServeLauncher.self,
        ])
}

/// A command that only reads, the ones that take ``ReadOptions`` (status, history, audit, activity,
/// export, verify, keys history): output it could not write is reported without saying the command
/// was carried out, as there was nothing to carry out. The requirement keeps a command that takes
/// other options out of this list; a new command that takes ``ReadOptions`` is added to it.
protocol ReadOnlyCommand {
    var global: ReadOptions { get }
}

extension StatusCommand: ReadOnlyCommand {}
extension HistoryCommand: ReadOnlyCommand {}
extension AuditCommand: ReadOnlyCommand {}
extension ActivityCommand: ReadOnlyCommand {}
extension ExportCommand: ReadOnlyCommand {}
extension VerifyCommand: ReadOnlyCommand {}
extension KeyHistoryCommand: ReadOnlyCommand {}

/// Runs a command line for the `enroll` executable (root ``Enroll``) and for `enroll-server`
/// (a root holding only `serve`), so both report errors and exit codes the same way.
public enum CommandLineRunner {
    /// Parses and runs one `enroll` command line, mapping every failure to the documented exit
    /// codes. Synchronous on purpose: every `enroll` subcommand is a `ParsableCommand`, so a
    /// one-shot command never starts the concurrency runtime's threads (the async one, `serve`,
    /// runs in `enroll-server`).
    public static func run(_ arguments: [String]) -> Int32 {
        _ = enroll_keep_memory_private()
        enroll_fail_writes_past_size_limit()
        if let status = StatusFastPath.report(arguments) {
            do {
                try status.show()
                return finished(root: Enroll.self, readOnly: true)
            } catch {
                return report(error, root: Enroll.self)
            }
        }
        switch parse(arguments, root: Enroll.self) {
        case .exit(let code):
            return code
        case .command(var command):
            // An async subcommand's synchronous `run()` would only print its help (debug builds check).
            assert(!(command is any AsyncParsableCommand), "enroll's main is synchronous: async commands belong in enroll-server")
            do {
                try command.run()
                return finished(root: Enroll.self, readOnly: command is any ReadOnlyCommand)
            } catch {
                return report(error, root: Enroll.self)
            }
        }
    }

    /// Parses `arguments` with `root` and runs the command, awaiting it if it is asynchronous.
    public static func run<Root: ParsableCommand>(_ arguments: [String], root: Root.Type) async -> Int32 {
        _ = enroll_keep_memory_private()
        enroll_fail_writes_past_size_limit()
        switch parse(arguments, root: root) {
        case .exit(let code):
            return code
        case .command(let command):
            do {
                if var asyncCommand = command as? any AsyncParsableCommand {
                    try await asyncCommand.run()
                } else {
                    var syncCommand = command
                    try syncCommand.run()
                }
                return finished(root: root, readOnly: command is any ReadOnlyCommand)
            } catch {
                return report(error, root: root)
            }
        }
    }

    /// A command that ran: done, unless some of its output could not be written.
    static func finished<Root: ParsableCommand>(root: Root.Type, readOnly: Bool) -> Int32 {
        guard let failure = Terminal.outputFailure(readOnly: readOnly) else { return CLIExit.done }
        return report(failure, root: root)
    }

    enum Parsed {
        case command(any ParsableCommand)
        /// Help was printed (0), or the command line was refused (2).
        case exit(Int32)
    }

    static func parse<Root: ParsableCommand>(_ arguments: [String], root: Root.Type) -> Parsed {
        var arguments = arguments
        if arguments.first == "help" {
            // `help TOPIC…`: the words before the first option. What follows (`help status
            // --json`, `help --db x`) is no topic, and help has no options: the help is shown.
            let topic = arguments.dropFirst().prefix { !$0.hasPrefix("-") }
            if let unknown = unknownHelpTopic(topic, root: root) {
                let message = "there is no command '\(Validation.excerpt(unknown))' to show help for"
                if wantsJSON(arguments) { Terminal.json(["error": "usage", "message": message]) }
                Terminal.error(message, hint: "run `enroll help` for the list of commands")
                return .exit(CLIExit.badInput)
            }
            arguments = ["help"] + topic
        }
        // A word with a leading '-' that is no option: a user id such as `-hx` (`--` must come
        // before it), read by the parser as options.
        let options = arguments.prefix { $0 != "--" }
        let dashed = options.firstIndex { $0.count > 1 && $0.hasPrefix("-") && !$0.hasPrefix("--") && !$0.dropFirst().allSatisfy(\.isNumber) }
        do {
            let command = try root.parseAsRoot(arguments)
            // `enroll remove -hx` is `-h -x` to the parser, which answers with its help command:
            // help, exit 0 and nothing removed, which a script would take for success. Help asked
            // for by name is shown.
            if let dashed, String(describing: type(of: command)) == "HelpCommand", arguments.first != "help",
               !options.contains(where: { ["-h", "-help", "--help"].contains($0) }) {
                return .exit(refuseDashed(arguments, at: dashed, readAs: "options ('-h' asks for help)"))
            }
            return .command(command)
        } catch {
            if root.exitCode(for: error) == .success {
                // Help: output like any other, so help into a full disk is exit 3 too.
                Terminal.line(root.fullMessage(for: error))
                return .exit(Terminal.outputFailure(readOnly: true)?.report() ?? CLIExit.done)
            }
            var message = root.message(for: error).split(separator: "\n").first.map(String.init) ?? "invalid usage"
            // `confirm alice -123456`: the parser reads a value with a leading '-' as an option and
            // reports the code as missing. Say what is wrong with the code instead.
            if message.hasPrefix("Missing expected argument '<code>'"),
               let negative = arguments.first(where: { $0.count > 1 && $0.hasPrefix("-") && $0.dropFirst().allSatisfy(\.isNumber) }) {
                let refusal = InputError.invalidCode("'\(negative.prefix(20))' starts with '-'")
                return .exit(CLIFailure(code: refusal.code, message: refusal.message, exitCode: CLIExit.badInput, json: wantsJSON(arguments)).report())
            }
            // `enroll request -bob`: the parser says the user id (an argument, not an option) is missing.
            if message.hasPrefix("Missing expected argument '<"), let dashed {
                return .exit(refuseDashed(arguments, at: dashed, readAs: "an option"))
            }
            // `enroll --db x status bob`: options belong to the command, after its name.
            if let first = arguments.first, first.hasPrefix("-"), let command = arguments.first(where: { word in
                root.configuration.subcommands.contains { $0._commandName == word }
            }) {
                let moved = "options go after the command's name: `enroll \(command) … \(first.prefix(40)) …`"
                if wantsJSON(arguments) { Terminal.json(["error": "usage", "message": moved]) }
                Terminal.error(moved, hint: "see `enroll \(command) --help`")
                return .exit(CLIExit.badInput)
            }
            // `enroll confim bob 123456`: the parser only says "3 unexpected arguments".
            // `enroll keys hist`: the same one level down.
            let path = walk(arguments, root: root), parent = path.last ?? root
            if path.count < arguments.count, case let word = arguments[path.count], !word.hasPrefix("-"), !parent.configuration.subcommands.isEmpty {
                let names = parent.configuration.subcommands.map { $0._commandName } + (path.isEmpty ? ["help"] : [])
                let prefix = path.map { $0._commandName + " " }.joined()
                // A name begun (`hist`; `re` begins five: all named), else one a typo or two away (`stauts`).
                var nearest = word.count >= 2 ? names.filter { $0.hasPrefix(word) } : []
                if nearest.isEmpty, let closest = names.min(by: { editDistance(word, $0) < editDistance(word, $1) }), editDistance(word, closest) <= 2 {
                    nearest = [closest]
                }
                let suggestion = switch nearest.count {
                case 0: ""
                case 1: "; did you mean '\(prefix)\(nearest[0])'?"
                default: "; did you mean one of " + nearest.map { "'\(prefix)\($0)'" }.joined(separator: ", ") + "?"
                }
                let unknown = "there is no command '\(prefix)\(Validation.excerpt(word))'\(suggestion)"
                if wantsJSON(arguments) { Terminal.json(["error": "usage", "message": unknown]) }
                Terminal.error(unknown, hint: "run `enroll \(prefix)--help` for the list of commands")
                return .exit(CLIExit.badInput)
            }
            // `--db -dash/x.sqlite`: the parser takes the value for an option and says the value is
            // missing. Say how to give a value that starts with '-'.
            // (Not for an option that follows, `--db --json`: that value is more likely missing.)
            if message.hasPrefix("Missing value for '-"), let name = message.split(separator: "'").dropFirst().first?.split(separator: " ").first,
               let index = arguments.firstIndex(of: String(name)), index + 1 < arguments.count,
               case let value = arguments[index + 1], value.hasPrefix("-"), !value.hasPrefix("--"), value.count > 2,
               let long = name.hasPrefix("--") ? String(name) : longName(of: String(name), in: command(arguments, root: root)) {
                // Only a long name takes '=' (`-o=x` would be read as the value "=x").
                message += "; a value that starts with '-' goes after '=': \(long)=\(Validation.excerpt(value))"
            }
            // `enroll confirm lee 123 456`: a code typed with its space, unquoted, is two words.
            if message.hasPrefix("Unexpected argument") || message.contains(" unexpected arguments: "),
               path.map({ $0._commandName }) == ["confirm"],
               // The words after `confirm` up to the first option (whose value is no part of the code).
               case let words = arguments.drop(while: { $0 != "confirm" }).dropFirst().prefix(while: { !$0.hasPrefix("-") }), words.count >= 3,
               words.dropFirst().allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy { (0x30...0x39).contains($0) } }) {
                message += "; a code typed with spaces goes in quotes: `enroll confirm \(TextField.shellWord(words.first ?? "")) \"\(words.dropFirst().joined(separator: " "))\"`"
            }
            // `--format gif`: the parser's "The value 'gif' is invalid for '--format <format>'.
            // Please provide one of 'terminal', … or 'png'.", in the words of the other refusals.
            if let match = message.firstMatch(of: /^The value '(.*)' is invalid for '(-[^ ']+)[^']*'\. Please provide one of (.*)\.$/) {
                let choices = match.3.replacingOccurrences(of: "'", with: "")
                message = "\(match.2) '\(Validation.excerpt(String(match.1)))' is not one of \(choices); use one of them"
            }
            // With --json, a command line that cannot run still answers with one JSON object, with
            // the code of the input refused while it was read (`invalid_digits`), else `usage`.
            if wantsJSON(arguments) { Terminal.json(["error": CodedValidation.code(for: message), "message": Terminal.bounded(message)]) }
            Terminal.error(message, hint: "see `\(commandPath(arguments, root: root)) --help`")
            return .exit(CLIExit.badInput)
        }
    }

    /// Refuses a command line whose word at `index`, with a leading '-', was `readAs` options
    /// where it may be meant as a user id (exit 2), showing where `--` goes.
    static func refuseDashed(_ arguments: [String], at index: Int, readAs: String) -> Int32 {
        let word = arguments[index]
        let rest = arguments[(index + 1)...]
        let example = (["enroll"] + arguments[..<index].map(TextField.shellWord) + ["--", TextField.shellWord(String(word.prefix(40)))]
            + (rest.contains { $0.hasPrefix("-") } ? ["…"] : rest.map(TextField.shellWord))).joined(separator: " ")
        let message = "'\(Validation.excerpt(word))' was read as \(readAs), not as a user id"
        let hint = "a user id that starts with '-' goes after `--`, which ends the options: `\(example)`"
        if wantsJSON(arguments) { Terminal.json(["error": "usage", "message": "\(message); \(hint)"]) }
        Terminal.error(message, hint: hint)
        return CLIExit.badInput
    }

    /// `enroll` and the commands `arguments` starts with (`enroll keys rotate`): whose help a
    /// usage error points to.
    static func commandPath(_ arguments: [String], root: any ParsableCommand.Type) -> String {
        (["enroll"] + walk(arguments, root: root).map { $0._commandName }).joined(separator: " ")
    }

    /// The (sub)command `arguments` name, as ``commandPath(_:root:)`` finds it.
    static func command(_ arguments: [String], root: any ParsableCommand.Type) -> any ParsableCommand.Type {
        walk(arguments, root: root).last ?? root
    }

    /// The subcommands the leading words of `arguments` name, outermost first.
    private static func walk(_ arguments: [String], root: any ParsableCommand.Type) -> [any ParsableCommand.Type] {
        var command = root, path: [any ParsableCommand.Type] = []
        for word in arguments {
            guard let next = command.configuration.subcommands.first(where: { $0._commandName == word || $0.configuration.aliases.contains(word) }) else { break }
            path.append(next)
            command = next
        }
        return path
    }

    /// The long name of `command`'s short option `short` (`-o` → `--output`), read from its help.
    static func longName(of short: String, in command: any ParsableCommand.Type) -> String? {
        for line in command.helpMessage(columns: 10_000).split(separator: "\n") {
            let words = line.split(separator: " ")
            if words.first == "\(short)," , let long = words.dropFirst().first, long.hasPrefix("--") { return String(long) }
        }
        return nil
    }

    /// Levenshtein distance, for suggesting the command a typo meant.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a.lowercased().utf8.prefix(64)), b = Array(b.utf8)
        var previous = Array(0...b.count)
        for (i, x) in a.enumerated() {
            var current = [i + 1]
            for (j, y) in b.enumerated() {
                current.append(min(previous[j + 1] + 1, current[j] + 1, previous[j] + (x == y ? 0 : 1)))
            }
            previous = current
        }
        return previous[b.count]
    }

    /// Whether the command line asks for JSON (`--json` before any `--`).
    static func wantsJSON(_ arguments: [String]) -> Bool {
        arguments.prefix { $0 != "--" }.contains("--json")
    }

    /// The first word of `help WORD…` that names no subcommand at its place (swift-argument-parser
    /// shows the root's help for it, with exit 0, as if the question had been answered).
    /// Options (`help status --help`) are left to the parser.
    static func unknownHelpTopic(_ words: ArraySlice<String>, root: any ParsableCommand.Type) -> String? {
        var command = root
        for word in words where !word.hasPrefix("-") {
            // `help help`: the parser's own help command, which no configuration lists.
            if word == "help" && command == root { return nil }
            let subcommands = command.configuration.subcommands
            guard let next = subcommands.first(where: { $0._commandName == word || $0.configuration.aliases.contains(word) }) else {
                return word
            }
            command = next
        }
        return nil
    }

    /// Reports a command's failure and returns its exit code.
    static func report<Root: ParsableCommand>(_ error: any Error, root: Root.Type) -> Int32 {
        switch error {
        case let failure as CLIFailure:
            return failure.report()
        case let error as InputError:
            return CLIFailure.input(error).report()
        case let error as StoreError:
            return CLIFailure.store(error).report()
        case let error as ValidationError:
            Terminal.error(error.message, hint: nil)
            return CLIExit.badInput
        case let error as ExitCode:
            return error.rawValue
        default:
            // Help and version requests, and argument-parser errors raised while running.
            if root.exitCode(for: error) == .success {
                Terminal.line(root.fullMessage(for: error))
                return Terminal.outputFailure(readOnly: true)?.report() ?? CLIExit.done
            }
            Terminal.error(root.message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)", hint: nil)
            return CLIExit.environment
        }
    }
}

/// The code of input refused while the command line is read (a `validate()`): swift-argument-
/// parser reports it as a `ValidationError`, which carries only its message, so the code is
/// kept here for `--json`'s `error` (`invalid_digits`, `anchor_malformed`; else `usage`).
enum CodedValidation {
    private static let last = Mutex<(code: String, message: String)?>(nil)

    /// The refusal as the parser takes it, its code kept.
    static func error(_ refusal: some EnrollmentError, message: String? = nil) -> ValidationError {
        let message = message ?? (refusal as? InputError)?.commandLineMessage ?? refusal.message
        last.withLock { $0 = (refusal.code, message) }
        return ValidationError(message)
    }

    /// The code kept for the refusal whose message (its first line, as the parser prints it)
    /// is `message`, or `usage`.
    static func code(for message: String) -> String {
        last.withLock { kept in
            kept.flatMap { kept in
                let first = kept.message.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? kept.message
                return message.hasSuffix(first) ? kept.code : nil
            }
        } ?? "usage"
    }
}
