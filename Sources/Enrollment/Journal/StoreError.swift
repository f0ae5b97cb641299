import Foundation
import GRDB

/// Failures of storage, keys or the environment (the command line's exit code 3). Each message
/// names the file or setting at fault and what to do.
public enum StoreError: Error, Sendable, Hashable {
    case databaseMissing(String)
    case notADatabase(String)
    /// The database path names a device, a pipe or a socket (`kind`, as ``FileKind`` says it).
    case notAFile(path: String, kind: String)
    /// An empty file another account owns where a new database would be made: that account could
    /// read and replace the journal made in it.
    case notOwned(path: String, owner: String)
    /// An SQLite database of something else: tables, but no enrollment schema.
    case notAnEnrollmentDatabase(path: String, tables: [String])
    case unreadable(String)
    /// The database path names a directory, not a file.
    case isDirectory(String)
    /// The directory that would hold a new database does not exist (SQLite creates files, not directories).
    case directoryMissing(String)
    /// The database path is a symbolic link that leads, through others, back to itself.
    case linkLoop(String)
    /// What would be the database's directory is a file (`--db notes.txt/enrollment.sqlite`).
    case directoryIsAFile(String)
    case newerSchema(path: String, migrations: [String])
    case readOnly(String)
    /// A read-only location holding the database with a write-ahead log of committed
    /// transactions but no shared-memory file, which SQLite must create to read the log.
    case readOnlyWithLog(String)
    /// A database this account may read in a directory it may not write: SQLite must create the
    /// shared-memory file (`-shm`) beside a write-ahead-log database even to read it.
    case directoryNotWritable(String)
    /// The database is writable, but the write-ahead log or shared-memory file beside it
    /// (`files`) belongs to `owner` and this account may not write it: a read as that account,
    /// while no other process had the database open, created them and could not remove them.
    case sideFilesNotWritable(path: String, files: [String], owner: String)
    case diskFull(String)
    /// Reading or writing the database failed with an I/O error while its disk is not full (a
    /// failing or detached volume, a quota or file size limit): `what` is SQLite's words.
    case ioError(path: String, what: String)
    /// The disk filled up while `rebuild-projections` folded a projection: the batches committed
    /// before stay in its shadow table, up to `position`, and the next run resumes from there.
    case diskFullDuringRebuild(path: String, name: String, position: Int64)
    case busy(path: String, seconds: Double)
    /// The path no longer names the file this process opened (deleted, or another file moved
    /// over it): nothing more is written until the process is restarted.
    case databaseMoved(String)
    case corrupt(String)
    /// One of the journal's own tables (not a projection's, which a rebuild makes again) was
    /// dropped outside enroll.
    case missingTable(path: String, table: String)
    case keyFileMissing(String)
    case keyFileMalformed(path: String, reason: String)
    /// The key file exists but this process may not read it (its owner or mode).
    case keyFileUnreadable(path: String, reason: String)
    /// The key file's path cannot name a file (a component that is not a directory, a name too long).
    case keyFilePathUnusable(path: String, reason: String)
    case keyFileMismatch(String)
    /// The key file holds a key this database had before: `keys rotate` replaced it at `rotatedAt`.
    case keyFileRetired(path: String, rotatedAt: Int64)
    /// The key file a running process read its key from now holds another key: the process goes
    /// on with the key it read, but a restart with that file would be refused.
    case keyFileReplaced(String)
    /// A user's data key that does not open under the right key file: its row was modified.
    case damagedDataKey(user: String)
    /// A `key_history` row edited into something no command writes.
    case damagedKeyHistory(path: String, row: Int64)
    case keyFileUnwritable(path: String, reason: String)
    /// No key file can be made at `path` whatever the directory allows: what is in its place or
    /// the name itself is the problem. `reason` says what, and what to do.
    case keyFilePlaceUnusable(path: String, reason: String)
    /// Key rotation never overwrites an existing file.
    case keyFileExists(String)
    /// OpenSSL failed to compute a MAC under the master key (`what`: which one). Nothing derived
    /// from the key is used in its place, so nothing is written (fail closed).
    case keyDerivationFailed(what: String)
    case staleProjection(name: String, stored: Int, code: Int)
    /// No checkpoint for the projection and no event in the journal: the database is being
    /// created by another process, which sets the projections up after the journal's tables.
    case projectionNotSetUp(name: String)
    /// The projection's checkpoint is not at the journal's head: appends did not keep it up to
    /// date (another version of enroll wrote them), or the journal lost events after it.
    case laggingProjection(name: String, position: Int64, head: Int64)
    /// A projection stored by a newer release (a higher schema version than this code's).
    case newerProjection(name: String, stored: Int, code: Int)
    /// A projection's table is missing or lacks a column this code reads or writes (dropped or
    /// altered outside enroll), while its checkpoint says it is current. `problem` follows "its
    /// table": "is missing", "lacks the column x" (``ProjectionTable``).
    case damagedProjection(name: String, problem: String)
    /// A rebuild's new table cannot take the old one's place: another table has a foreign key
    /// to it, or names a column the new one no longer has. The swap was rolled back.
    case projectionUnwritable(name: String, reason: String)
    /// `rebuild-projections` would rebuild a newer release's projection down to this code's version.
    case rebuildWouldDowngrade(name: String, stored: Int, code: Int)
    /// An interrupted rebuild by a newer release left its shadow table (`NAME_rebuild`).
    case shadowOfNewerVersion(name: String, stored: Int, code: Int)
    /// Another process moved this projection's rebuild checkpoint under us.
    case rebuildInProgress(name: String)
    /// The lock file that tells whether a rebuild runs exists but cannot be opened (its owner
    /// or mode): without it two runs could take the same shadow table.
    case rebuildLockUnusable(path: String, reason: String)
    case undecodableEvent(position: Int64, type: String, reason: String)
    /// The journal holds what no append writes (a position at the end of the integers, a
    /// stream whose versions skip): `detail` says what.
    case journalDamaged(String)
    /// Optimistic concurrency: another writer appended to the stream first.
    case conflict(stream: String, expected: Int64, actual: Int64)
    case tooManyConflicts(stream: String, attempts: Int)
    /// The system gave no random bytes for a new secret.
    case randomnessUnavailable(String)
    /// The ``SecretSource`` given to the service made a secret of another length than asked.
    case secretSourceInvalid(given: Int, asked: Int)
    /// The ``EnrollmentClock`` given to the service told a time no event may carry (before
    /// 1970 or after 9999: milliseconds taken for seconds, say): nothing is decided or written.
    case clockOutOfRange(Int64)
    /// The database was closed (``EnrollmentDatabase/close()``, ``EnrollmentService/close()``)
    /// before this call.
    case closed(String)
    /// ``EnrollmentDatabase/close()`` called from inside a call on the same database (a callback
    /// of `handle`, `forEach`, a rebuild or an import): it would wait for itself forever.
    case closedFromInside(String)
    /// A call on a database opened with a single connection made from inside another call on it
    /// (a callback): SQLite's connection serves one call at a time, and GRDB would stop the process.
    case reentrantCall(String)
    case sqlite(String)

    public var code: String {
        switch self {
        case .databaseMissing: "database_missing"
        case .notADatabase, .notAFile: "not_a_database"
        case .notOwned: "database_not_owned"
        case .notAnEnrollmentDatabase: "not_an_enrollment_database"
        case .unreadable: "database_unreadable"
        case .isDirectory: "database_is_directory"
        case .directoryMissing: "database_directory_missing"
        case .linkLoop: "database_link_loop"
        case .directoryIsAFile: "database_directory_is_a_file"
        case .newerSchema: "newer_schema"
        case .readOnly, .readOnlyWithLog, .directoryNotWritable, .sideFilesNotWritable: "read_only"
        case .diskFull, .diskFullDuringRebuild: "disk_full"
        case .ioError: "io_error"
        case .busy: "database_busy"
        case .databaseMoved: "database_moved"
        case .corrupt, .missingTable: "database_corrupt"
        case .keyFileMissing: "key_file_missing"
        case .keyFileMalformed: "key_file_malformed"
        case .keyFileUnreadable, .keyFilePathUnusable: "key_file_unreadable"
        case .damagedDataKey: "data_key_damaged"
        case .damagedKeyHistory: "key_history_damaged"
        case .keyFileMismatch, .keyFileRetired: "key_file_mismatch"
        case .keyFileReplaced: "key_file_replaced"
        case .keyFileUnwritable, .keyFilePlaceUnusable: "key_file_unwritable"
        case .keyFileExists: "key_file_exists"
        case .keyDerivationFailed: "key_derivation_failed"
        case .staleProjection: "stale_projection"
        case .projectionNotSetUp: "database_being_created"
        case .laggingProjection: "lagging_projection"
        case .newerProjection, .rebuildWouldDowngrade, .shadowOfNewerVersion: "newer_projection"
        case .damagedProjection: "damaged_projection"
        case .projectionUnwritable: "projection_unwritable"
        case .rebuildInProgress: "rebuild_in_progress"
        case .rebuildLockUnusable: "rebuild_lock_unusable"
        case .journalDamaged: "journal_damaged"
        case .undecodableEvent: "undecodable_event"
        case .conflict: "conflict"
        case .tooManyConflicts: "too_many_conflicts"
        case .randomnessUnavailable: "no_randomness"
        case .secretSourceInvalid: "secret_source_invalid"
        case .clockOutOfRange: "clock_out_of_range"
        case .closed: "database_closed"
        case .closedFromInside: "close_inside_call"
        case .reentrantCall: "reentrant_call"
        case .sqlite: "storage_error"
        }
    }

    public var message: String {
        switch self {
        case .databaseMissing(let path):
            "no enrollment database at \(path); run `enroll request USER` to create one, or pass --db PATH"
        case .notAFile(let path, let kind):
            "\(path) is \(kind), not a database file; pass --db with the path of an enrollment database, or of a new file"
        case .notOwned(let path, let owner):
            "\(path) is an empty file that belongs to another account, \(owner), which could read and replace the enrollment database made in it; delete it (or have its owner delete it) and run the command again, or pass --db with the path of a new file"
        case .notADatabase(let path):
            "\(path) is not an SQLite database; pass --db with the path of an enrollment database"
        case .notAnEnrollmentDatabase(let path, let tables):
            "\(path) is an SQLite database of something else (it holds \(tables.count == 1 ? "the table" : "the tables") \(tables.prefix(5).joined(separator: ", "))\(tables.count > 5 ? ", …" : "")), not an enrollment journal, and is left as it is; pass --db with the path of an enrollment database or of a new file"
        case .unreadable(let path) where !FileManager.default.fileExists(atPath: path):
            "cannot create \(path): no file can be made in its directory (such as /proc or /sys); give a path in a directory on a disk"
        case .unreadable(let path):
            "cannot read \(path); check the file's permissions"
        case .newerSchema(let path, let migrations):
            "\(path) was written by a newer version of enroll (schema \(migrations.joined(separator: ", "))); upgrade enroll to use it"
        case .isDirectory(let path):
            "\(path) is a directory, not a database file; pass --db with a file path, such as \((path as NSString).appendingPathComponent("enrollment.sqlite"))"
        case .directoryMissing(let path):
            "the directory \(Self.directory(of: EnrollmentDatabase.fileToCreate(path))) that would hold \(FileManager.placedName(path)) does not exist; create it first, or pass --db with a path in an existing directory"
        case .linkLoop(let path):
            "\(path) cannot be reached: its symbolic links lead around in a loop; fix or remove the link, or pass --db with another path"
        case .directoryIsAFile(let path):
            "\(Self.directory(of: path)) is a file, not a directory, so it cannot hold \(path); pass --db with a path in a directory"
        case .readOnly(let path):
            "cannot write to \(path) (read-only file or directory); make it and its directory writable, or pass --db with a writable path"
        case .directoryNotWritable(let path):
            "cannot open \(path): this account may not create files in \(Self.directory(of: path)), and SQLite must create \(path)-shm there even to read the database (and \(path)-wal to write to it); run the command as an account that may write to that directory, or, to read, copy \(path) to a directory you can write and pass --db with the copy"
        case .sideFilesNotWritable(let path, let files, let owner):
            Self.sideFilesMessage(path: path, files: files, owner: owner)
        case .readOnlyWithLog(let path):
            "cannot read \(path) where it is: \(path)-wal beside it holds committed transactions, and reading them needs SQLite to create \(path)-shm, which this read-only location does not allow; copy \(path) and \(path)-wal to a writable directory and read the copy"
        case .ioError(let path, let what):
            "reading or writing \(path) failed (\(what)) and its disk is not full: the disk or volume may be failing or detached, or a quota or file size limit was reached; check it (dmesg, mount, quota), then run the command again (the transaction that met the error was rolled back)"
        case .diskFull(let path):
            "the disk holding \(path) is full; free some space and run the command again (nothing was written)"
        case .diskFullDuringRebuild(let path, let name, let position):
            "the disk holding \(path) is full; the \(name) rebuild's progress up to position \(position) is kept (in the table \(name)_rebuild): free some space and run `rebuild-projections --projection \(name)` again to resume from there"
        case .busy(let path, let seconds):
            "\(path) stayed locked by another writer for more than \(seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)) s (the busy timeout); try again, pass a longer --busy-timeout, or look for a stuck process"
        case .databaseMoved(let path):
            "\(path) was deleted or replaced by another file while this process had it open, so nothing was written (it would have gone to the old file); restart the process to use the file now at \(path) (to restore a backup under running servers, use sqlite3's `.restore`, which they pick up)"
        case .corrupt(let path):
            "\(path) is damaged or truncated; restore it from a backup, or rebuild it with `enroll import` from an export"
        case .damagedKeyHistory(let path, let row):
            "the key history of \(path) has a damaged row (id \(row)): it was edited outside enroll; restore the database from a backup to read it whole"
        case .missingTable(let path, let table):
            "\(path) lacks its table \(table) (dropped outside enroll); restore the database from a backup, or rebuild it with `enroll import` from an export"
        case .keyFileMissing(let path):
            "the key file \(path) is missing but the database holds secrets sealed under a key; restore the key file or pass --key-file PATH"
        case .keyFileMalformed(let path, let reason):
            "the key file \(path) is malformed (\(reason)); it must hold one base64 line of 32 random bytes — restore the right file or pass --key-file PATH"
        case .keyFileUnreadable(let path, let reason):
            "cannot read the key file \(path) (\(reason)); let the account this runs as read it (the owner and mode of the file and of its directories, such as `chown` to that account and `chmod 600`): the file itself need not be replaced"
        case .keyFilePathUnusable(let path, let reason):
            "no key file can be at \(path) (\(reason)); pass --key-file with the path of the key file"
        case .damagedDataKey(let user):
            "the data key of \(TextField.quoted(user)) does not open under this key file, which is the database's own: its row in data_keys was modified; restore the database from a backup (until then \(TextField.quoted(user))'s secrets cannot be read)"
        case .keyFileRetired(let path, let rotatedAt):
            "the key file \(path) holds a key this database no longer uses: `enroll keys rotate` replaced it at \(Timestamps.iso8601(rotatedAt)); pass --key-file with the key file that rotation wrote (`enroll keys history` names the key in force)"
        case .keyFileMismatch(let path):
            "the key file \(path) is not the key this database was sealed with; pass --key-file with the right key file"
        case .keyFileReplaced(let path):
            "the key file \(path) now holds another key than the one this process read from it at its start; the process goes on with the key it read, but a restart with that file would be refused (key_file_mismatch): put this database's key file back at \(path) before restarting"
        case .keyFileExists(let path):
            "\(path) already exists and rotation never overwrites a key file; pass --new-key-file with a path that does not exist yet (one left by a rotation that was killed: `enroll keys history` shows whether that rotation was committed, and if it was not, the file opens nothing)"
        case .keyDerivationFailed(let what):
            "OpenSSL could not compute \(what) (HMAC-SHA256 under the master key) and nothing was written; check the OpenSSL 3 installation (libssl3, its configuration in OPENSSL_CONF) and run the command again"
        case .keyFileUnwritable(let path, let reason) where reason.hasSuffix(String(cString: strerror(ENOSPC))) || reason.hasSuffix(String(cString: strerror(EDQUOT))):
            "cannot create the key file \(path) (\(reason)); free space on its disk, or give a path on another disk where no file exists yet"
        case .keyFileUnwritable(let path, let reason) where reason.hasSuffix(String(cString: strerror(EIO))):
            "cannot create the key file \(path) (\(reason)); the disk reported an I/O error: check it (dmesg), or give a path on another disk where no file exists yet"
        case .keyFilePlaceUnusable(let path, let reason):
            "cannot create the key file \(path): \(reason)"
        case .keyFileUnwritable(let path, let reason):
            "cannot create the key file \(path) (\(reason)); make its directory writable, or give a path in a writable directory where no file exists yet"
        case .staleProjection(let name, 0, _):
            "the \(name) projection has no checkpoint (it is missing); run `rebuild-projections --projection \(name)` to fold it from the journal"
        case .projectionNotSetUp(let name):
            "the database is still being created by another enroll process (its journal is empty and the \(name) projection not set up yet); try again in a moment (if this persists, the command creating it was stopped or failed, as on a full disk: `rebuild-projections --all` finishes the set-up)"
        case .staleProjection(let name, let stored, let code):
            "the \(name) projection is at schema version \(stored) but this code needs version \(code); run `rebuild-projections --projection \(name)` first"
        case .laggingProjection(let name, let position, let head) where position < head:
            "the \(name) projection has folded the journal up to position \(position) but it holds \(head) events (appends did not keep it up to date, e.g. another version of enroll's); run `rebuild-projections --projection \(name)`"
        case .laggingProjection(let name, let position, let head):
            "the \(name) projection has folded the journal up to position \(position) but the journal ends at \(head): events are missing; run `enroll verify`, restore the journal, then `rebuild-projections --projection \(name)`"
        case .newerProjection(let name, let stored, let code):
            "the \(name) projection was written by a newer version of enroll (schema version \(stored); this code knows version \(code)); upgrade enroll to use it"
        case .damagedProjection(let name, let problem):
            "the \(name) projection's table \(problem) (changed outside enroll); run `rebuild-projections --projection \(name)` to fold it again from the journal"
        case .projectionUnwritable(let name, let reason):
"the rebuilt \(name) projection cannot be swapped in: \(reason); then run rebuild-projections again (nothing was swapped: the old table is still in use, and the rebuild resumes)"
        case .rebuildWouldDowngrade(let name, let stored, let code):
            "the \(name) projection was written by a newer version of enroll (schema version \(stored); this code builds version \(code)); upgrade rebuild-projections, or pass --allow-downgrade to rebuild it down to version \(code) (the newer version's readers will then refuse it)"
        case .shadowOfNewerVersion(let name, let stored, let code):
            "an interrupted rebuild by a newer version of enroll left the \(name) projection's shadow table \(name)_rebuild (schema version \(stored); this code builds version \(code)); upgrade rebuild-projections, or pass --allow-downgrade to discard it and rebuild version \(code)"
        case .rebuildInProgress(let name):
            "another rebuild-projections is rebuilding the \(name) projection; let it finish (or stop it), then run `rebuild-projections --status`"
        case .rebuildLockUnusable(let path, let reason):
            "cannot open the rebuild lock file \(path) (\(reason)), so whether another rebuild-projections is running cannot be told; give the file to the account that runs the rebuilds (`chown`), or delete it while no rebuild runs"
        case .undecodableEvent(let position, let type, let reason):
            // The type as stored, which whoever edited the row chose: its control characters
            // replaced and its length cut (``Validation/excerpt(_:)``), so that it can neither
            // drive a terminal, nor start a forged line in a log, nor fill one.
            // Not "restore the journal" alone: a row a newer release wrote would be lost with it.
            "the event at position \(position) (\(Validation.excerpt(type))) cannot be read: \(reason); if `enroll verify` finds the chain intact, a newer enroll wrote it (upgrade, and keep the journal), else it was edited (restore a backup)"
        case .journalDamaged(let detail):
            "\(detail): the journal was modified; run `enroll verify`, and restore it from a backup or an export"
        case .conflict(let stream, let expected, let actual):
            "stream \(stream) moved from version \(expected) to \(actual) during the command; run it again"
        case .tooManyConflicts(let stream, let attempts):
            "stream \(stream) kept changing under \(attempts) attempts; run the command again"
        case .randomnessUnavailable(let reason):
            "no random bytes for a new secret (\(reason)); check the system's random source, then try again"
        case .secretSourceInvalid(let given, let asked):
            "the secret source gave \(given) bytes where \(asked) were asked for; fix the SecretSource given to the service"
        case .clockOutOfRange(let now):
            "the clock gave \(now), which is not a Unix time in seconds between 1970 and 9999 (milliseconds?); fix the EnrollmentClock given to the service (nothing was written)"
        case .closed(let path):
            "the database \(path) was closed by this process; open it again (EnrollmentService.open) to go on"
        case .closedFromInside(let path):
            "close() was called on the database \(path) from inside a call on it (a callback of handle, forEach, a rebuild or an import), which would wait for itself; close it once that call has returned (nothing was closed)"
        case .reentrantCall(let path):
            "the database \(path) was called from inside another call on it (a callback of handle, forEach or an import), which its single connection cannot serve; make the call once the outer one has returned, or open it with DatabaseOptions(concurrentReads: true) to read from a callback (nothing was done)"
        case .sqlite(let message):
            "storage error: \(message)"
        }
    }

    /// The tables of the journal itself, which only a backup or an export can give back.
    static let journalTables: Set<String> = ["events", "commands", "data_keys", "projection_checkpoints", "key_check", "key_history", "grdb_migrations"]

    /// Maps an SQLite failure to what the user can act on. `busyTimeout` is how long the
    /// connection waited for the write lock, reported when SQLite gave up waiting.
    public init(_ error: any Error, path: String, busyTimeout: Double = 0) {
        if let error = error as? StoreError { self = error; return }
        guard let error = error as? DatabaseError else { self = .sqlite(String(describing: error)); return }
        // A full disk surfaces as SQLITE_FULL only for some writes; creating the -shm or -wal
        // file fails with an I/O or can't-open error instead. Asking the file system tells them apart.
        if [.SQLITE_FULL, .SQLITE_IOERR, .SQLITE_CANTOPEN].contains(error.resultCode) && FileManager.isFullDisk(path) {
            self = .diskFull(path)
            return
        }
        // Only on a failure: telling a dropped or altered projection table apart costs the
        // commands nothing (their checkpoint check cannot see it).
        if error.resultCode == .SQLITE_ERROR, let (name, problem) = ProjectionTable.damaged(bySQLiteMessage: error.message ?? "", path: path) {
            self = .damagedProjection(name: name, problem: problem)
            return
        }
        if error.resultCode == .SQLITE_ERROR, let message = error.message, message.hasPrefix("no such table: ") {
            let table = String(message.dropFirst("no such table: ".count))
            if Self.journalTables.contains(table.hasPrefix("main.") ? String(table.dropFirst(5)) : table) {
                self = .missingTable(path: path, table: table)
                return
            }
        }
        switch error.resultCode {
        case .SQLITE_NOTADB: self = .notADatabase(path)
        case .SQLITE_CORRUPT: self = .corrupt(path)
        case .SQLITE_READONLY: self = FileManager.sideFilesNotWritable(path) ?? .readOnly(path)
        // SQLite says only that it cannot open the file; the file system says why.
        case .SQLITE_CANTOPEN where FileManager.isDirectory(path): self = .isDirectory(path)
        case .SQLITE_CANTOPEN where FileManager.isLinkLoop(path): self = .linkLoop(path)
        case .SQLITE_CANTOPEN where FileManager.isMissing(Self.directory(of: EnrollmentDatabase.fileToCreate(path))): self = .directoryMissing(path)
        case .SQLITE_CANTOPEN where FileManager.isFile(Self.directory(of: path)): self = .directoryIsAFile(path)
        case .SQLITE_CANTOPEN where FileManager.isReadOnlyLocation(path): self = .readOnly(path)
        case .SQLITE_CANTOPEN: self = .unreadable(path)
        case .SQLITE_FULL: self = .diskFull(path)
        case .SQLITE_BUSY, .SQLITE_LOCKED: self = .busy(path: path, seconds: busyTimeout)
        // A full disk was asked about above: this one is not (EIO, EDQUOT, EFBIG…).
        case .SQLITE_IOERR: self = .ioError(path: path, what: error.message ?? "disk I/O error")
        default: self = .sqlite(error.message ?? "\(error.resultCode)")
        }
    }
}

extension StoreError {
    /// ``sideFilesNotWritable(path:files:owner:)``'s message: the shared-memory file can always
    /// be deleted while no process uses the database (SQLite makes it again), the log only
    /// when it is empty (it may hold transactions not yet copied into the database).
    static func sideFilesMessage(path: String, files: [String], owner: String) -> String {
        let them = files.count == 1 ? "it" : "them"
        let shm = files.first { $0.hasSuffix("-shm") }, wal = files.first { $0.hasSuffix("-wal") }
        let delete = [shm, wal.map { "\($0) if it is empty (0 bytes)" }].compactMap { $0 }.joined(separator: " and ")
        return "cannot write to \(path): \(files.joined(separator: " and ")) beside it \(files.count == 1 ? "belongs" : "belong") to \(owner), and this account may not write \(them) (a read as \(owner), while no other process had the database open, left \(them)); with no process using the database, give \(them) to this account (chown), or delete \(delete), then run the command again"
    }

    /// ` --db PATH` (absolute, ``TextField/shellPath(_:)``) for a command suggested to whoever
    /// works on the database at `path`, or nothing for the default ./enrollment.sqlite, which
    /// the suggestion then names by itself.
    public static func databaseArgument(_ path: String) -> String {
        path == "enrollment.sqlite" || path == "./enrollment.sqlite" ? "" : " --db \(TextField.shellPath(path))"
    }

    /// A path (named by `name`, as `--db` or `--output`) with a component longer than a file
    /// name can be, or longer than a path can be, which the system would refuse only when the
    /// file is opened or put in place; nil when it is neither.
    public static func lengthProblem(_ path: String, named name: String) -> String? {
        if let long = path.split(separator: "/").first(where: { $0.utf8.count > Int(NAME_MAX) }) {
            return "\(name) has a name of \(long.utf8.count) bytes, more than the \(NAME_MAX) a file or directory name can have; give a shorter path"
        }
        if path.utf8.count >= Int(PATH_MAX) {
            return "\(name) is \(path.utf8.count) bytes long, more than the \(PATH_MAX - 1) a path can have; give a shorter path"
        }
        return nil
    }

    /// What is wrong with a database path before anything opens it, as one line naming where it
    /// came from (`--db`, or ENROLL_DB when `option` is nil), or nil when nothing is. A path
    /// ending in `/`, `/.` or `/..` names a directory: SQLite would open the file it normalises
    /// to, while the checks that create it (mode 0600) and the readers looked at the path as given.
    public static func databasePathProblem(_ path: String, option: String?) -> String? {
        if path.isEmpty {
            return option == nil ? "ENROLL_DB is set but empty; set it to the database's path, or unset it for ./enrollment.sqlite" : "--db must not be empty"
        }
        let name = option == nil ? "ENROLL_DB" : "--db"
        // SQLite would report either as a file it cannot open, and `stat` as no file at all.
        if let problem = lengthProblem(path, named: name) { return problem }
        // An existing directory is reported as one when the database is opened (exit 3).
        let last = path.split(separator: "/", omittingEmptySubsequences: false).last ?? ""
        if last.isEmpty || last == "." || last == "..", !FileManager.isDirectory(path) {
            let ending = last.isEmpty ? "/" : "/" + last
            // The file meant, read lexically (`a/x/..` is `a`): the path need not exist.
            var parts: [Substring] = []
            for part in path.split(separator: "/") where part != "." {
                if part == "..", let previous = parts.last, previous != ".." { parts.removeLast() } else { parts.append(part) }
            }
            let file = (path.hasPrefix("/") ? "/" : "") + parts.joined(separator: "/")
            let suggestion = parts.isEmpty ? "./enrollment.sqlite" : file
            return "\(name) ends in '\(ending)', which names a directory, not a database file; give the file's path without it, such as \(TextField.shellWord(suggestion))"
        }
        return nil
    }

    /// `message` with each "`rebuild-projections ", "`enroll verify`" and "`enroll keys history`" it suggests given the
    /// database `path`: copied without it, the command would check or rebuild ./enrollment.sqlite.
    public static func naming(_ message: String, database path: String) -> String {
        let argument = databaseArgument(path)
        return argument.isEmpty ? message : message
            .replacingOccurrences(of: "`rebuild-projections ", with: "`rebuild-projections\(argument) ")
            .replacingOccurrences(of: "`enroll verify`", with: "`enroll verify\(argument)`")
            .replacingOccurrences(of: "`enroll keys history`", with: "`enroll keys history\(argument)`")
    }

    /// The directory part of `path` (`.` for a bare file name).
    static func directory(of path: String) -> String {
        let directory = (path as NSString).deletingLastPathComponent
        return directory.isEmpty ? "." : directory
    }
}
