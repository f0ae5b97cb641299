import ArgumentParser
import Enrollment
import Foundation

/// `enroll keys …`: the master key file.
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Manage the master key file that wraps each user's data key.",
        subcommands: [RotateKeyCommand.self, KeyHistoryCommand.self])

    /// `enroll keys` alone names no action: a usage error (exit 2), not the help's exit 0 that
    /// a script would read as done.
    func run() throws {
        throw CLIFailure.usage("`enroll keys` needs a subcommand: rotate or history (run `enroll keys rotate --help`)")
    }
}

/// `enroll keys rotate --new-key-file PATH`.
struct RotateKeyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate",
        abstract: "Re-wrap every data key under a new master key written to a new file; the journal is not touched.",
        discussion: """
            The new key is written to --new-key-file (mode 0600; an existing file is never \
            overwritten), then all data keys are re-wrapped under it in one transaction. From \
            then on only the new file opens the database: pass it with --key-file (or \
            ENROLL_KEY_FILE) and destroy the old one. Backups of the database taken before the \
            rotation still need the old key. The rotation is recorded, with its time and \
            --actor, in the database's key history (`enroll keys history`).
            """)

    @OptionGroup var global: CommandOptions<ManagesKeys>

    @Option(name: .customLong("new-key-file"), help: ArgumentHelp("Where to write the new master key (must not exist yet).", valueName: "path"))
    var newKeyFile: String

    @Option(name: .long, help: ArgumentHelp("Who rotates, recorded in the key history (default: the account running the command).", valueName: "name"))
    var actor: String?

    func validate() throws {
        if newKeyFile.isEmpty { throw ValidationError("--new-key-file must not be empty; pass the path the new key file is to be written to") }
        // The same file by another name too (a link to it, a link to its directory): the advice
        // that an existing NEW may be a killed rotation's must never point at the key in force.
        if URL(fileURLWithPath: newKeyFile).standardizedFileURL == URL(fileURLWithPath: global.keyFilePath).standardizedFileURL
            || OutputFile.sameFile(newKeyFile, global.keyFilePath) {
            throw ValidationError("--new-key-file must differ from the current key file (\(global.keyFilePath) is that file); pass a new path")
        }
        try global.refuseKeyFileAmongDatabaseFiles(newKeyFile, option: "--new-key-file")
        if let actor {
            do {
                _ = try Validation.actor(actor)
            } catch {
                guard case .invalidActor(let reason) = error else { throw CodedValidation.error(error) }
                throw CodedValidation.error(error, message: "invalid actor: \(reason); use 1 to 256 bytes of printable UTF-8 without '/' or '\\', or leave out --actor to record the account running the command")
            }
        }
    }

    func run() throws {
        let result = try global.reporting {
            let database = try EnrollmentDatabase(
                path: global.databasePath,
                options: DatabaseOptions(busyTimeout: try global.limits.busyTimeoutSeconds(), create: false))
            // A database with no master key yet (imported, or no secret ever issued) has nothing
            // sealed: no key file to restore, nothing to rotate. A key file that exists at the
            // path given is then another database's (the one the copy was exported from, beside
            // it as ./enrollment.key): rotating would adopt it, and the advice to destroy it
            // afterwards would lose every secret of that database.
            if !(try database.read { db in try KeyRing.databaseHasKey(db) }) {
                let other = FileManager.default.fileExists(atPath: global.keyFilePath)
                    ? "; the key file \(TextField.shellPath(TextField.absolutePath(global.keyFilePath))) was left as it is (nothing in this database is sealed under it: it may be another database's, or waiting for the first secret)"
                    : ""
                throw global.failure(CLIFailure(
                    code: "nothing_to_rotate",
                    message: "\(global.databasePath) has no master key yet (nothing in it is sealed: it was imported, or no secret was ever issued), so there is nothing to rotate\(other); the first command that issues a secret creates its key file (--key-file, else ./enrollment.key), and nothing was written",
                    exitCode: CLIExit.refused))
            }
            let current = try KeyRing.load(keyFile: global.keyFilePath, create: false)
            // Progress lines on long work (hundreds of thousands of users), and an interruption
            // that says what it left: before the commit, the old key in force and NEW removed
            // (it opens nothing); during it, NEW kept, as it may be the key in force.
            var progress: ProgressLine?
            defer { InterruptionCleanup.done() }
            return try KeyRotation.rotate(
                database: database, current: current, newKeyFile: newKeyFile, actor: actor ?? Self.accountName(), at: global.clock.now()
            ) { stage in
                switch stage {
                case .keyWritten:
                    InterruptionCleanup.removeOnSignal(
                        [newKeyFile],
                        saying: "nothing was rotated: the old key \(global.keyFilePath) is still in force, and \(newKeyFile), which opened nothing, was removed; run the same command again",
                        json: global.json)
                case .rewrapping(let done, let total):
                    if progress == nil { progress = ProgressLine(doing: "re-wrapping", total: Int64(total), unit: "data keys") }
                    if done > 0 { progress?.advance() }
                case .committing:
                    InterruptionCleanup.removeOnSignal(
                        [],
                        saying: "the rotation was being committed: run `enroll keys history\(StoreError.databaseArgument(global.databasePath))` to see whether it took (then pass --key-file \(TextField.shellPath(newKeyFile))); if not, the old key is still in force and \(newKeyFile) opens nothing",
                        json: global.json)
                }
            }
        }
        // Destroying a link leaves the old key where it points, still opening every backup.
        let linkedOldKey = FileManager.symbolicLinkTarget(global.keyFilePath).map { _ in " (it is a link: destroy the file it leads to, \(TextField.shellPath(URL(fileURLWithPath: global.keyFilePath).resolvingSymlinksInPath().path)), as well)" } ?? ""
        if global.json {
            Terminal.json(["rewrapped": result.rewrapped, "newKeyFile": result.newKeyFile, "oldKeyFile": global.keyFilePath])
        } else {
            Terminal.line("""
                Re-wrapped \(result.rewrapped) data key\(result.rewrapped == 1 ? "" : "s") under the new master key in \(Terminal.visible(result.newKeyFile)).
                From now on pass --key-file \(TextField.shellPath(result.newKeyFile)) (or set ENROLL_KEY_FILE); \(TextField.shellPath(TextField.absolutePath(global.keyFilePath))) no longer opens this database: destroy it\(linkedOldKey).
                """)
        }
    }
}

extension RotateKeyCommand {
    /// The account running the command (the effective user), for the key history: its name
    /// when an actor may be that name, else `uid N`.
    static func accountName() -> String {
        let name = FileManager.accountName(geteuid())
        return (try? Validation.actor(name)) ?? "uid \(geteuid())"
    }
}

/// `enroll keys history`: when the master key was made and each rotation, for an auditor.
struct KeyHistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Show when the database's master key was made and each rotation: time, key ids, data keys re-wrapped, who.",
        discussion: """
            Keys are named by their public id (the first 32 hex digits of HMAC-SHA256(key, \
            "enroll key id"), which the database stores), never by the key. No key file is \
            needed. A database upgraded from a version that kept no key history starts with the \
            key that was in force then ("in force at the upgrade", with no time).
            """)

    @OptionGroup var global: ReadOptions

    func run() throws {
        let entries = try global.reporting {
            try KeyHistory.entries(in: try global.openExisting())
        }
        if global.json {
            for entry in entries {
                var object: [String: Any] = ["action": entry.action.rawValue, "keyId": entry.keyId]
                if let time = entry.recordedAt { object["time"] = Timestamps.iso8601(time) }
                if let previous = entry.previousKeyId { object["previousKeyId"] = previous }
                if let count = entry.rewrapped { object["rewrapped"] = count }
                if let actor = entry.actor { object["actor"] = actor }
                Terminal.json(object)
            }
            return
        }
        guard !entries.isEmpty else {
            Terminal.line("No master key yet: no secret has been sealed in \(Terminal.visible(global.databasePath)) (or it is an imported copy).")
            return
        }
        for entry in entries {
            let time = entry.recordedAt.map(Timestamps.iso8601) ?? "(before the key history)"
            switch entry.action {
            case .created:
                Terminal.line("\(time)  created  key \(entry.keyId), with the first secret sealed")
            case .found:
                Terminal.line("\(time)  in force at the upgrade  key \(entry.keyId)")
            case .rotated:
                let count = entry.rewrapped ?? 0
                Terminal.line("\(time)  rotated  key \(entry.keyId) replaced \(entry.previousKeyId ?? "?"), \(count) data key\(count == 1 ? "" : "s") re-wrapped, by \(TextField.quoted(entry.actor ?? "?"))")
            }
        }
    }
}
