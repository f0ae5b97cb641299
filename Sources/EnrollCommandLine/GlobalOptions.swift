import ArgumentParser
import Enrollment
import Foundation

/// Which of the shared options a command shows in its help. Commands that only read (status,
/// history, audit, activity, export, verify, keys history) hide those that concern writing: the
/// key file, the durability of commits, the lock's limits. They still accept them, so a script
/// that passes the same options to every command keeps working.
public protocol CommandKind: Sendable {
    static var writes: Bool { get }
    /// Opens secrets or keys with the key file (default: ``writes``).
    static var usesKey: Bool { get }
    /// Decides commands, under the lock's limits (default: ``writes``).
    static var decides: Bool { get }
}

extension CommandKind {
    public static var usesKey: Bool { writes }
    public static var decides: Bool { writes }
}

/// Commands that append to the journal (and `serve`).
public enum Writes: CommandKind {
    public static let writes = true
}

/// Commands that only read.
public enum Reads: CommandKind {
    public static let writes = false
}

/// `import`: writes a journal, but decides nothing and opens no secret (exports hold no data
/// keys).
public enum Loads: CommandKind {
    public static let writes = true
    public static let usesKey = false
    public static let decides = false
}

/// `keys rotate`: re-wraps data keys under the key file, and decides nothing.
public enum ManagesKeys: CommandKind {
    public static let writes = true
    public static let decides = false
}

public typealias GlobalOptions = CommandOptions<Writes>
public typealias ReadOptions = CommandOptions<Reads>

/// Options every subcommand but `replay` (which reads no database) takes.
public struct CommandOptions<Kind: CommandKind>: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The enrollment database (env ENROLL_DB; default ./enrollment.sqlite).", valueName: "path"))
    var db: String?

    @Option(name: .customLong("key-file"), help: ArgumentHelp(
        Kind.decides ? "The master key file, created with mode 0600 on first use (env ENROLL_KEY_FILE; default ./enrollment.key)."
            : "The master key file in force (env ENROLL_KEY_FILE; default ./enrollment.key).",
        valueName: "path", visibility: Kind.usesKey ? .default : .hidden))
    var keyFile: String?

    @Flag(name: .long, help: ArgumentHelp(Kind.writes
        ? "Print exactly one JSON object on stdout."
        : "Print JSON on stdout: one object, or one per line where the command lists entries (JSON Lines)."))
    var json = false

    @Option(name: .long, help: ArgumentHelp(
        "SQLite synchronous setting for commits: FULL (fsync every commit) or NORMAL.",
        valueName: "FULL|NORMAL", visibility: Kind.writes ? .default : .hidden))
    var durability: String = "FULL"

    @OptionGroup(title: "Limits", visibility: Kind.writes ? .default : .hidden) var limits: LimitOptions<Kind>

    public init() {}

    /// `--json`: one JSON object on stdout instead of text.
    public var printsJSON: Bool { json }

    /// `--db`, else `ENROLL_DB`, else the default, as given: what ``validate()`` checks.
    private var givenDatabasePath: String {
        db ?? Environment["ENROLL_DB"] ?? "./enrollment.sqlite"
    }

    /// The database as SQLite finds it (``DatabasePath/resolved(_:)``): every check, message and
    /// side file of a command is about the file it opens.
    var databasePath: String {
        DatabasePath.resolved(givenDatabasePath)
    }

    var keyFilePath: String {
        keyFile ?? Environment["ENROLL_KEY_FILE"] ?? "./enrollment.key"
    }

    /// ` --db PATH --key-file PATH` for a command this one suggests, naming the files it uses
    /// where they are not the defaults: copied without them, the suggestion would act on
    /// ./enrollment.sqlite, another journal.
    var fileArguments: String {
        let keyFile = keyFilePath == "./enrollment.key" || keyFilePath == "enrollment.key"
            ? "" : " --key-file \(TextField.shellPath(keyFilePath))"
        return StoreError.databaseArgument(databasePath) + keyFile
    }

    /// The files an `--output` must never replace: the database with its companions, and the key file.
    var protectedFiles: [ProtectedFile] {
        databaseFiles + [ProtectedFile(path: keyFilePath, role: "the key file")]
    }

    /// The database and the files SQLite keeps beside it, which it writes, truncates and deletes.
    var databaseFiles: [ProtectedFile] {
        [
            ProtectedFile(path: databasePath, role: "the enrollment database"),
            ProtectedFile(path: databasePath + "-wal", role: "the database's write-ahead log"),
            ProtectedFile(path: databasePath + "-shm", role: "the database's shared-memory file"),
            ProtectedFile(path: databasePath + "-journal", role: "the database's rollback journal"),
        ]
    }

    /// Refuses a key file (`option` names where it came from) that is the database or one of the
    /// files SQLite keeps beside it, by name or through a symbolic link: SQLite would overwrite
    /// or delete it (a `-journal` it takes for a hot journal and removes on the next open), and
    /// with it the only key that opens the secrets.
    func refuseKeyFileAmongDatabaseFiles(_ path: String, option: String) throws {
        let linked = FileManager.symbolicLinkTarget(path).map { $0.hasPrefix("/") ? $0 : URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent($0).path }
        let named = [path] + (linked.map { [$0] } ?? [])
        guard let clash = databaseFiles.first(where: { file in named.contains { OutputFile.sameFile($0, file.path) } }) else { return }
        throw ValidationError("\(option) \(path) is \(clash.role) (\(clash.path)), which SQLite overwrites or deletes, and the key with it; keep the key in a file of its own, not one of the database's")
    }

    public func validate() throws {
        guard Durability(rawValue: durability.uppercased()) != nil else {
            throw ValidationError("--durability must be FULL or NORMAL, not '\(durability)'")
        }
        // As given: `x.sqlite/..` names a directory, whatever it resolves to.
        if let problem = StoreError.databasePathProblem(givenDatabasePath, option: db) { throw ValidationError(problem) }
        // A command that reads opens no key file: an empty ENROLL_KEY_FILE concerns it not.
        if Kind.usesKey && keyFilePath.isEmpty {
            throw ValidationError(keyFile == nil ? "ENROLL_KEY_FILE is set but empty; set it to the key file's path, or unset it for ./enrollment.key" : "--key-file must not be empty")
        }
        // Nor a key file among the database's files, which it never reads or writes (and which
        // `enroll status`'s quick read, parsing no options, could not refuse alike); a command
        // that writes (import) still refuses one, lest a later command take it for its key.
        if (Kind.usesKey || Kind.writes) && !keyFilePath.isEmpty {
            try refuseKeyFileAmongDatabaseFiles(keyFilePath, option: keyFile == nil && Environment["ENROLL_KEY_FILE"] != nil ? "ENROLL_KEY_FILE" : "the key file")
        }
        do { _ = try Self.fixedNow() } catch { throw CodedValidation.error(error) }
    }

    /// The clock: the system's, unless ENROLL_NOW (Unix seconds) fixes it for tests and replays.
    public var clock: any EnrollmentClock { Self.clock }

    static var clock: any EnrollmentClock {
        if let seconds = try? fixedNow() { return FixedClock(seconds) }
        return SystemClock()
    }

    /// The latest ENROLL_NOW may name: a secret issued then still has its whole life (10
    /// minutes) before 9999-12-31T23:59:59Z, the last time RFC 3339 can write and an event may
    /// carry. A later clock would issue a secret that expires in the second it is shown, or
    /// sooner than the policy says. (Lock ends past that time are cut to it, as the decider does.)
    static var latestFixedNow: Int64 { 253_402_300_799 - EnrollmentPolicy.default.pendingLifetime }

    /// ENROLL_NOW as Unix seconds; `nil` when it is not set. A value that is not a whole number
    /// of seconds from 0 to ``latestFixedNow`` is refused (``validate()``): silently falling back
    /// to the system clock would record events at a time the operator did not ask for.
    static func fixedNow() throws(InputError) -> Int64? {
        guard let text = Environment["ENROLL_NOW"] else { return nil }
        // Digits only: Int64 would also take "+5", which reads like "five seconds from now".
        guard !text.isEmpty, text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
              let seconds = Int64(text), (0...latestFixedNow).contains(seconds)
        else {
            throw .notANumber(option: "ENROLL_NOW", value: text, expected: "Unix seconds (a whole number from 0 to \(latestFixedNow))")
        }
        return seconds
    }

    /// Opens the engine. `create` is true only for commands that may start a new database;
    /// `concurrentReads` (the server) adds a pool of reader connections beside the writer, and
    /// opens the files by their absolute paths, so that its log, read later and elsewhere, names
    /// them whatever directory it was started in.
    public func service(create: Bool, requireKey: Bool = true, concurrentReads: Bool = false) throws -> EnrollmentService {
        let options = DatabaseOptions(
            durability: Durability(rawValue: durability.uppercased()) ?? .full, busyTimeout: try limits.busyTimeoutSeconds(), create: create,
            concurrentReads: concurrentReads)
        func named(_ path: String) -> String { concurrentReads ? TextField.absolutePath(path) : path }
        let service = try EnrollmentService.open(
            databasePath: named(databasePath), keyFilePath: named(keyFilePath), options: options, clock: clock,
            policy: try limits.policy(), requireKey: requireKey)
        if let exposure = KeyRing.exposure(ofKeyFile: keyFilePath) {
            Terminal.warning(exposure.problem, hint: exposure.fix)
        }
        // A command that may start a database says what it made once it is done (`request`);
        // any other that made a key file (for a database with none yet, such as an imported
        // copy) says so at once, whether the command then goes on or is refused.
        if !create, service.created.keyFile { noteCreated(service.created) }
        return service
    }

    func failure(_ failure: CLIFailure) -> CLIFailure {
        var failure = failure
        failure.json = json
        failure.message = naming(failure.message)
        return failure
    }

    /// Says on stderr which files the command created (``EnrollmentService/created``): a
    /// mistyped `--db` makes a new, empty database, and a new key file is the one thing that
    /// opens every secret.
    func noteCreated(_ created: (database: Bool, keyFile: Bool)) {
        let (database, keyFile) = created
        let backUp = "back the key file up, apart from the database: no secret in it can be opened without it"
        if database && keyFile {
            Terminal.note("created a new enrollment database \(TextField.shellPath(databasePath)) and its master key file \(TextField.shellPath(keyFilePath)); \(backUp)")
        } else if database {
            Terminal.note("created a new enrollment database \(TextField.shellPath(databasePath)), its secrets sealed by the key file \(TextField.shellPath(keyFilePath)) (if you meant an existing database, check --db or ENROLL_DB)")
        } else if keyFile {
            Terminal.note("created the master key file \(TextField.shellPath(keyFilePath)) for \(TextField.shellPath(databasePath)); \(backUp)")
        }
    }

    /// `outcome`'s refusal as a failure; its advice waits for the end of a lock still running,
    /// and names the command that follows it as it would be typed here.
    /// `saying`: the command's own words for the refusal, in place of the library's and advice.
    func refusal(_ rejection: EnrollmentRejection, of outcome: CommandOutcome, saying: String? = nil) -> CLIFailure {
        var refused = CLIFailure.rejection(rejection, lockedUntil: outcome.lockedUntil(at: clock.now()), pendingExpiresAt: outcome.pendingExpiresAt, user: outcome.user)
        refused.message = saying ?? refused.message + advice(for: rejection, user: outcome.user, state: outcome.state)
        if outcome.replayed { refused.replayed(commandId: outcome.commandId) }
        return failure(refused)
    }

    /// ` (`enroll request … USER`)` after a refusal whose remedy is another command (the
    /// library's messages name none), or nothing. `state`: the user's, as the refusal left it.
    func advice(for rejection: EnrollmentRejection, user: String, state: AuthenticatorState) -> String {
        let advised: String? = switch rejection {
        case .notEnrolled, .nothingToReplace: suggested("request", user: user)
        // Remove discards a first secret awaiting its code; beside an active authenticator it
        // would delete that, which is no remedy.
        case .nothingToCancel: state.pending.map { $0.isReplacement } == false ? suggested("remove", user: user) : nil
        case .secretUnavailable:
            "`enroll verify\(StoreError.databaseArgument(databasePath))` checks the journal; " + suggested("remove", user: user) + ", then " + suggested("request", user: user)
        case .replacementExpired:
            suggested("reveal", user: user) + " shows the active QR code again; " + suggested("regenerate", user: user) + " makes a new one"
        default: nil
        }
        return advised.map { " (\($0))" } ?? ""
    }

    /// `enroll COMMAND` as this command suggests it, to be copied as printed: `command` (its
    /// options among it), this command's --db and --key-file (``fileArguments``), the user
    /// (after `--` when it starts with '-', so nothing after it is read as an option), then
    /// `rest` (arguments such as ` CODE`). `opensSecrets` false: a command that reads no secret
    /// (`history`) is given the database alone, not a key file's path it has no use for.
    func suggested(_ command: String, user: String, then rest: String = "", opensSecrets: Bool = true) -> String {
        Self.suggested(command, files: opensSecrets ? fileArguments : StoreError.databaseArgument(databasePath), user: user, then: rest)
    }

    static func suggested(_ command: String, files: String, user: String, then rest: String = "") -> String {
        "`enroll \(command)\(files) \(user.hasPrefix("-") ? "-- " : "")\(TextField.shellWord(user))\(rest)`"
    }

    /// Runs `body`, turning engine errors into reported failures (JSON on stdout with --json).
    public func reporting<T>(_ body: () throws -> T) throws -> T {
        try Self.reporting(json: json, database: databasePath, body)
    }

    /// `message` with each "`rebuild-projections " and "`enroll verify`" it suggests given this
    /// command's `--db` (``StoreError/naming(_:database:)``).
    func naming(_ message: String) -> String { StoreError.naming(message, database: databasePath) }

    /// `database`: the database the command was given, named in a hint to rebuild a projection.
    static func reporting<T>(json: Bool, database: String? = nil, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as InputError {
            var failure = CLIFailure.input(error)
            failure.json = json
            throw failure
        } catch let error as StoreError {
            var failure = CLIFailure.store(error)
            failure.json = json
            if let database { failure.message = StoreError.naming(failure.message, database: database) }
            throw failure
        }
    }
}

/// The USER argument of commands that only read one user's records (status, history).
struct UserArgument: ParsableArguments {
    @Argument(help: ArgumentHelp("The user id, as recorded (byte for byte; one that starts with '-' goes after `--`).", valueName: "user"))
    var user: String

    func validate() throws {
        do { _ = try Validation.recordedUser(user) } catch { throw CodedValidation.error(error) }
    }
}

/// Options shared by the commands that address one user's authenticator.
struct UserCommandOptions: ParsableArguments {
    @Argument(help: ArgumentHelp("The user whose authenticator this is (1-256 bytes of printable UTF-8; no '/' or '\\', no space at either end).", valueName: "user"))
    var user: String

    @Option(name: .long, help: ArgumentHelp("Who acts, recorded in the journal (default: the user).", valueName: "name"))
    var actor: String?

    @Option(name: .customLong("command-id"), help: ArgumentHelp("An id that makes the command idempotent: repeating it returns the first outcome (a secret shown again is recorded as a reveal).", valueName: "id"))
    var commandId: String?

    @Option(name: .customLong("correlation-id"), help: ArgumentHelp("An id tying the command to something outside the journal (a ticket, a request), recorded with its events and shown by history and audit.", valueName: "id"))
    var correlationId: String?

    func validate() throws {
        // A space at either end: the service decides, as it depends on the command
        // (``Validation/recordedUser(_:)``).
        do {
            _ = try Validation.recordedUser(user)
            if let commandId { _ = try Validation.commandId(commandId) }
            if let correlationId { _ = try Validation.correlationId(correlationId) }
            if let actor { _ = try Validation.actor(actor) }
        } catch {
            throw CodedValidation.error(error)
        }
    }

    /// `json`: a secret this command issues is printed as text (the otpauth URI in the object),
    /// so a repeat of it is recorded as the secret shown as text.
    func envelope(_ command: EnrollmentCommand, json: Bool = false) -> CommandEnvelope {
        var envelope = CommandEnvelope(commandId: commandId, user: user, actor: actor, correlationId: correlationId, command: command, retryable: commandId != nil)
        if json { envelope.showsSecretAs = .text }
        return envelope
    }
}
