import ArgumentParser
import Enrollment
import Foundation

/// `enroll keys …`: the master key file.
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Manage the master key file that wraps each user's data key.",
        subcommands: [RotateKeyCommand.self])

    /// `enroll keys` alone names no action: a usage error (exit 2), not the help's exit 0 that
    /// a script would read as done.
    func run() throws {
        throw CLIFailure.usage("`enroll keys` needs a subcommand: rotate (run `enroll keys rotate --help`)")
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
            rotation still need the old key.
            """)

    @OptionGroup var global: GlobalOptions

    @Option(name: .customLong("new-key-file"), help: ArgumentHelp("Where to write the new master key (must not exist yet).", valueName: "path"))
    var newKeyFile: String

    func validate() throws {
        if newKeyFile.isEmpty { throw ValidationError("--new-key-file must not be empty; pass the path the new key file is to be written to") }
        if URL(fileURLWithPath: newKeyFile).standardizedFileURL == URL(fileURLWithPath: global.keyFilePath).standardizedFileURL {
            throw ValidationError("--new-key-file must differ from the current key file; pass a new path")
        }
        try global.refuseKeyFileAmongDatabaseFiles(newKeyFile, option: "--new-key-file")
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
            if !(try database.writer.read { db in try KeyRing.databaseHasKey(db) }) {
                let other = FileManager.default.fileExists(atPath: global.keyFilePath)
                    ? "; \(global.keyFilePath) is not its key (it may open another database: it was left as it is)"
                    : ""
                throw global.failure(CLIFailure(
                    code: "nothing_to_rotate",
                    message: "\(global.databasePath) has no master key yet (nothing in it is sealed: it was imported, or no secret was ever issued), so there is nothing to rotate\(other); the first command that issues a secret creates its key file (--key-file, else ./enrollment.key), and nothing was written",
                    exitCode: CLIExit.refused))
            }
            let current = try KeyRing.load(keyFile: global.keyFilePath, create: false)
            return try KeyRotation.rotate(database: database, current: current, newKeyFile: newKeyFile)
        }
        // Destroying a link leaves the old key where it points, still opening every backup.
        let linkedOldKey = OutputFile.linkTarget(global.keyFilePath).map { _ in " (it is a link: destroy the file it leads to, \(TextField.shellPath(URL(fileURLWithPath: global.keyFilePath).resolvingSymlinksInPath().path)), as well)" } ?? ""
        if global.json {
            Terminal.json(["rewrapped": result.rewrapped, "newKeyFile": result.newKeyFile, "oldKeyFile": global.keyFilePath])
        } else {
            Terminal.line("""
                Re-wrapped \(result.rewrapped) data key\(result.rewrapped == 1 ? "" : "s") under the new master key in \(result.newKeyFile).
                From now on pass --key-file \(TextField.shellPath(result.newKeyFile)) (or set ENROLL_KEY_FILE); \(global.keyFilePath) no longer opens this database: destroy it\(linkedOldKey).
                """)
        }
    }
}
