import CSQLiteConfig
import Foundation
import GRDB
import GRDBSQLite
import Logging
import Synchronization

/// How durable each commit is. FULL fsyncs the WAL on every commit; NORMAL only at checkpoints
/// (a power cut may lose the last commits, never corrupt the file).
public enum Durability: String, Sendable, CaseIterable {
    case full = "FULL"
    case normal = "NORMAL"
}

/// How an ``EnrollmentDatabase`` is opened.
public struct DatabaseOptions: Sendable {
    /// SQLite's `synchronous` for the journal: `.full` (the default) makes every commit durable
    /// before a command is answered; `.normal` may lose the last commits on a power cut.
    public var durability: Durability = .full
    /// How long, in seconds, a writer waits for another process's write lock before reporting
    /// it (``StoreError/busy(path:seconds:)``). Held to 0 s … one day: an infinite or NaN value
    /// would trap where the wait is computed, and the command line takes 0-600.
    public var busyTimeout: TimeInterval = 10 {
        didSet { busyTimeout = Self.bounded(busyTimeout) }
    }

    static func bounded(_ seconds: TimeInterval) -> TimeInterval { seconds.isNaN ? 0 : min(max(seconds, 0), 86_400) }
    /// Create the file if it does not exist.
    public var create = true
    /// Open without writing anything: no migration, no checkpoint row; commands cannot append.
    public var readOnly = false
    /// A pool of reader connections beside the writer (long-running servers). A one-shot
    /// command uses a single connection, which also means opening a database writes nothing.
    public var concurrentReads = false
    /// Bring a journal of an older schema up to date on opening, and into WAL mode (`false`: open
    /// it as it is, for reading what it holds, as `rebuild-projections --status` does; nothing is
    /// written).
    public var upgrades = true
    /// Runs on a journal of an older schema, before it is upgraded: what throws here (the
    /// command's key file is missing or another database's) leaves the file as it was, rather
    /// than upgraded for a command that is then refused.
    public var beforeUpgrade: (@Sendable (Database) throws -> Void)? = nil

    public init(durability: Durability = .full, busyTimeout: TimeInterval = 10, create: Bool = true, readOnly: Bool = false, concurrentReads: Bool = false) {
        self.durability = durability
        self.busyTimeout = Self.bounded(busyTimeout)
        self.create = create
        self.readOnly = readOnly
        self.concurrentReads = concurrentReads
    }

    /// The busy timeout from `--busy-timeout SECONDS` (`option`), else from the environment
    /// variable `ENROLL_BUSY_TIMEOUT` (`environment`), else the default; one rule for `enroll`
    /// and `rebuild-projections`. A wrong value names where it came from.
    public static func busyTimeoutSetting(option: String?, environment: String?) throws(InputError) -> TimeInterval {
        let (text, name) = option.map { ($0, "--busy-timeout") } ?? (environment, "ENROLL_BUSY_TIMEOUT")
        guard let text else { return DatabaseOptions().busyTimeout }
        guard let seconds = Double(text), seconds.isFinite, (0...600).contains(seconds) else {
            throw .notANumber(option: name, value: text, expected: "a number of seconds from 0 to 600")
        }
        return seconds
    }
}

/// The SQLite file: the journal (`events`), the idempotency record (`commands`), the data keys
/// (`data_keys`, outside the journal so they can be destroyed) and the projections' tables.
public final class EnrollmentDatabase: Sendable {
    /// The connection(s): a `DatabaseQueue`, or a `DatabasePool` with ``DatabaseOptions/concurrentReads``.
    public let writer: any DatabaseWriter
    public let path: String
    public let options: DatabaseOptions
    /// Idle read-only connections for ``snapshotRead(_:)`` (with ``DatabaseOptions/concurrentReads``).
    private let snapshotReaders = Mutex<[SnapshotReader]>([])
    /// How they are opened: the writer's configuration, read-only (`nil`: reads go through `writer`).
    private let snapshotConfiguration: (path: String, configuration: Configuration)?
    /// Opened read-only (``DatabaseOptions/readOnly``, or a file on a read-only file system).
    private let readOnly: Bool
    /// Checkpoints the log beside the writer (a writable ``DatabaseOptions/concurrentReads`` pool).
    private let checkpointer: LogCheckpointer?
    /// The journal's migrations not applied to the file: none, unless it was opened without
    /// ``DatabaseOptions/upgrades`` (or read-only) and is of an older schema.
    public let pendingUpgrades: [String]
    /// Whether this process made the file (another starting on the same new path at the same
    /// time finds it made).
    public let created: Bool
    /// Open or closed: ``close()`` waits for the calls in flight, and every call after it throws
    /// ``StoreError/closed(_:)`` rather than reach a closed connection (on which SQLite, given
    /// a `DatabaseQueue`'s released handle, would crash the process).
    private let lifecycle = Lifecycle()

    public init(path: String, options: DatabaseOptions = DatabaseOptions()) throws(StoreError) {
        Self.configureSQLite
        // `sub/../x.sqlite` with no `sub`: what SQLite opens, `x.sqlite`, is what is checked.
        let path = DatabasePath.resolved(path)
        self.path = path
        self.options = options
        // An empty file (`touch`, `: > file`) holds no database yet: what reads it must not turn it
        // into one (they would create half a schema and then call it stale); a command that may
        // create the database starts a new one in it.
        var status = stat()
        let exists = stat(path, &status) == 0
        // A pipe would hang the header's read, and a device reads as empty (a "new" database).
        if exists, let kind = FileKind.notRegular(status.st_mode), kind != .directory {
            throw .notAFile(path: path, kind: kind.description)
        }
        let empty = exists && status.st_size == 0
        if !exists && FileManager.isLinkLoop(path) { throw .linkLoop(path) }
        if (!exists || empty) && (!options.create || options.readOnly) { throw .databaseMissing(path) }
        if exists { try Self.checkHeader(path) }
        // A new database is readable by its owner only, whatever the umask: it names every user
        // and holds every event's time. SQLite gives its -wal and -shm the same mode. (A failure
        // here is reported by SQLite's own open below.)
        var created = false
        // An empty file of another account's (root's aside) would become a database that
        // account can read and replace: in a shared directory, planted there.
        if empty && options.create && !options.readOnly && status.st_uid != geteuid() && status.st_uid != 0 {
            let name = FileManager.accountName(status.st_uid)
            throw .notOwned(path: path, owner: name.hasPrefix("uid ") ? name : "\(name) (uid \(status.st_uid))")
        }
        if !exists {
            // Through a link that leads to no file yet, the file it names is the one made (as
            // SQLite would make it, but with the umask's mode).
            let descriptor = open(Self.fileToCreate(path), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
            if descriptor >= 0 { Glibc.close(descriptor) }
            created = descriptor >= 0
        } else if empty && status.st_uid == geteuid() && status.st_mode & 0o077 != 0 {
            // An empty file a new database starts in (`: > file` made it with the umask's mode):
            // its group's and others' access is taken away, and nothing is added (a read-only
            // one stays read-only, and is refused as such). One that is already the owner's
            // only is left alone: most likely another enroll process made it a moment ago
            // (above) and is setting it up, and it is the one to say it created it.
            created = chmod(path, status.st_mode & 0o700) == 0
        }
        self.created = created
        // On a read-only file system (a backup on read-only media) the file is read as it is,
        // whatever the command: reading works, and a write fails as any write there does.
        let immutable = exists && !empty && Self.isOnReadOnlyFileSystem(path)
        let synchronous = "PRAGMA synchronous = \(options.durability.rawValue)"
        /// `exclusive`: the WAL index in the connection's own memory, for a full disk (below).
        func configured(exclusive: Bool = false) -> Configuration {
            var configuration = Configuration()
            configuration.readonly = options.readOnly || immutable
            configuration.busyMode = .callback(Self.busyHandler(timeout: options.busyTimeout))
            configuration.label = "enrollment"
            configuration.prepareDatabase { db in
                // Before anything reads the file: no -shm is opened or made once it is set.
                if exclusive { try db.execute(sql: "PRAGMA locking_mode = EXCLUSIVE") }
                try db.execute(sql: synchronous)
                // Deleted rows (a destroyed data key) are overwritten with zeros rather than left in
                // free space, so crypto-shredding also holds for someone reading the raw file.
                try db.execute(sql: "PRAGMA secure_delete = ON")
                // Statement journals and other temporary files stay in memory: a rollback copy of a
                // page that held a data key is never written to /var/tmp, where nothing would zero it.
                try db.execute(sql: "PRAGMA temp_store = MEMORY")
                // Checkpoint the WAL every 8 000 pages (32 MiB) rather than SQLite's 1 000: a command
                // writes about seven pages, several of them the same few pages over and over (the
                // journal's right edge, the checkpoints row), which a longer interval copies back to
                // the database once instead of many times; one writer at NORMAL gains ~11%
                // (BENCHMARKS.md, step 12). The last connection to close still checkpoints and
                // removes the WAL, and a removal still truncates it at once.
                try db.execute(sql: "PRAGMA wal_autocheckpoint = 8000")
            }
            return configuration
        }
        let configuration = configured()
        let openPath = immutable ? Self.immutableURI(path) : path
        var readerConfiguration = configuration
        readerConfiguration.readonly = true
        snapshotConfiguration = options.concurrentReads && !configuration.readonly ? (openPath, readerConfiguration) : nil
        readOnly = configuration.readonly
        /// Opens the connection(s) and brings the schema up to date: the migrations applied.
        func connect(_ configuration: Configuration) throws -> (any DatabaseWriter, Set<String>) {
            let writer: any DatabaseWriter
            if exists && !configuration.readonly { Self.restoreOwnSideFiles(of: path) }
            if options.concurrentReads {
                // GRDB's pool switches the file to WAL and creates and drops a table as it opens:
                // another application's database, or one of a newer schema, is refused before that.
                if exists && !empty && !configuration.readonly {
                    try Self.checkBeforeChanging(openPath, path: path, configuration: configuration)
                }
                writer = try DatabasePool(path: openPath, configuration: configuration)
            } else {
                writer = try DatabaseQueue(path: openPath, configuration: configuration)
            }
            if options.readOnly || immutable {
                let applied = try writer.read { db in try Self.appliedMigrations(db) }
                if Self.isForeign(applied) { try writer.read { db in try Self.checkNotForeign(db, applied: applied, path: path) } }
                return (writer, applied)
            } else {
                // One visit to the connection, outside a transaction: every `read` is a
                // transaction of its own (BEGIN, query_only on and off, COMMIT), which a one-shot
                // command such as `enroll status` used to pay three times here (BENCHMARKS.md).
                var current = try writer.writeWithoutTransaction { db in
                    var applied: Set<String> = []
                    // Nothing of ours yet: a new file, or one another process is creating now, or
                    // another application's database, which is refused before a byte of it changes.
                    // One read transaction, so that a migration another process commits meanwhile
                    // is seen whole (its tables with its row in grdb_migrations) or not at all.
                    try db.inTransaction(.deferred) {
                        applied = try Self.appliedMigrations(db)
                        if Self.isForeign(applied) { try Self.checkNotForeign(db, applied: applied, path: path) }
                        return .commit
                    }
                    // A reading command never turns an empty SQLite file into a database.
                    if applied.isEmpty && !options.create { throw StoreError.databaseMissing(path) }
                    // The journal is always in WAL mode: readers never block the writer. (A no-op
                    // that writes nothing when the file is already in WAL mode.)
                    if options.upgrades, try String.fetchOne(db, sql: "PRAGMA journal_mode") != "wal" {
                        // The switch needs the file to itself. SQLite answers SQLITE_BUSY at once,
                        // without asking the busy handler, while another process (opening the same
                        // new database) holds a read lock: try again within the busy timeout.
                        let deadline = Self.raceDeadline(busyTimeout: options.busyTimeout)
                        while true {
                            do {
                                _ = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
                                break
                            } catch let error as DatabaseError where error.resultCode == .SQLITE_BUSY && ContinuousClock.now < deadline {
                                usleep(2_000)
                            }
                        }
                    }
                    // DatabasePool switches its writer to NORMAL when it sets up WAL; the durability
                    // asked for is applied last, so it is the one in force.
                    try db.execute(sql: synchronous)
                    return applied
                }
                // Migrate only when something is missing: opening a current database writes nothing.
                if options.upgrades && !Set(Self.migrationIdentifiers).isSubset(of: current) {
                    // An existing journal of an older schema: say so before the pause a migration
                    // that copies the journal takes on a large one. (Not for a database another
                    // process is creating right now: its journal is still empty.)
                    // Read again with the journal, in one snapshot: another process creating the
                    // database may have finished its migrations and recorded a command since.
                    let (now, hasEvents) = current.isEmpty ? (current, false) : try writer.read { db in
                        (try Self.appliedMigrations(db), try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM events)") == true)
                    }
                    let pending = Self.migrationIdentifiers.filter { !now.contains($0) }
                    if !now.isEmpty, !pending.isEmpty, let beforeUpgrade = options.beforeUpgrade {
                        try writer.read { db in try beforeUpgrade(db) }
                    }
                    if hasEvents, !pending.isEmpty {
                        Logger(label: "enrollment.database").notice(
                            "upgrading the database to the current schema (\(pending.joined(separator: ", "))), once; on a large journal this takes a while",
                            metadata: ["path": "\(path)"])
                    }
                    current = try Self.migrate(writer, busyTimeout: options.busyTimeout)
                }
                return (writer, current)
            }
        }
        let applied: Set<String>
        do {
            (writer, applied) = try connect(configuration)
        } catch {
            let failure = StoreError(error, path: path, busyTimeout: options.busyTimeout)
            // A full disk: SQLite cannot make the -shm file that readers of a WAL database share.
            // One connection (a one-shot command) keeps that index in its own memory instead
            // (`locking_mode = EXCLUSIVE`, set before the file is first read; other processes
            // wait for it as for a writer), so reading commands, and `export` to another disk,
            // still work; a write still fails, for want of room for the log.
            guard case .diskFull = failure, !options.concurrentReads, exists, !empty else {
                if case .readOnly = failure {
                    if Self.logNeedsSharedMemory(path) { throw StoreError.readOnlyWithLog(path) }
                    if let file = Self.cannotMakeSharedMemory(path) { throw StoreError.directoryNotWritable(file) }
                }
                throw failure
            }
            do {
                (writer, applied) = try connect(configured(exclusive: true))
            } catch {
                throw StoreError(error, path: path, busyTimeout: options.busyTimeout)
            }
        }
        // At NORMAL only: the log is synced by no commit, so SQLite's automatic checkpoint syncs
        // all of it inside one. At FULL every commit has synced it already, and a checkpoint on
        // the side cost group commit ~14% (its copying and syncs competing with the callers for
        // the cores and the disk; BENCHMARKS.md, step 25).
        if options.concurrentReads && !readOnly && options.durability == .normal,
           let checkpointer = LogCheckpointer(path: openPath) {
            if writer.writeWithoutTransaction({ db in checkpointer.install(on: db) }) {
                self.checkpointer = checkpointer
            } else {
                checkpointer.close()
                self.checkpointer = nil
            }
        } else {
            checkpointer = nil
        }
        pendingUpgrades = Self.migrationIdentifiers.filter { !applied.contains($0) }
        try checkSchemaIsKnown(applied: applied)
        let owner = WeakDatabase(database: self)
        Self.byWriter.withLock { $0[ObjectIdentifier(writer)] = owner }
    }

    deinit {
        closeOwnConnections()
        Self.byWriter.withLock { _ = $0.removeValue(forKey: ObjectIdentifier(writer)) }
    }

    private struct WeakDatabase: @unchecked Sendable { weak var database: EnrollmentDatabase? }
    /// Each database by its writer, so that what is given only ``writer`` (``AuditTrail/init(reader:path:)``,
    /// ``JournalArchive/export(from:path:to:)``) still refuses once it is closed.
    private static let byWriter = Mutex<[ObjectIdentifier: WeakDatabase]>([:])

    /// The database whose ``writer`` `reader` is, if one is.
    static func owning(_ reader: any DatabaseReader) -> EnrollmentDatabase? {
        byWriter.withLock { $0[ObjectIdentifier(reader)]?.database }
    }

    /// Runs `body`, which uses ``writer`` itself, while the database is open (else
    /// ``StoreError/closed(_:)``), refused from inside another call on a single connection.
    func onWriter<T>(_ body: () throws -> T) throws -> T {
        try lifecycle.using(path) { try onConnection(body) }
    }

    /// Closes every connection now: the last one checkpoints the log and removes it. For a clean
    /// stop (`enroll serve` after its last request): otherwise they close when the last reference
    /// to the database goes, which in a process that is exiting may be on another thread, after
    /// the exit has begun, or never, leaving the log to be replayed by the next opener. It waits
    /// for the calls in flight; every call of this type afterwards throws ``StoreError/closed(_:)``
    /// (also ``AuditTrail`` and ``JournalArchive/export(from:path:to:)`` given only ``writer``; GRDB's
    /// own methods called on ``writer`` directly are GRDB's, which on a single connection crash).
    public func close() throws {
        try lifecycle.close(path) {
            closeOwnConnections()
            // GRDB's pool closes its writer first, then its readers (read-only: they leave the log);
            // its readers closed first, the writer's is the last connection.
            (writer as? DatabasePool)?.releaseMemory()
            try writer.close()
        }
    }

    /// Runs `body` in a read transaction on the writer (a pool's reader), as `writer.read`
    /// does, or throws ``StoreError/closed(_:)`` once the database is closed.
    public func read<T>(_ body: (Database) throws -> T) throws -> T {
        try lifecycle.using(path) { try onConnection { try writer.read(body) } }
    }

    /// `writer.write`, `writer.read` and `writer.writeWithoutTransaction` for what uses
    /// ``writer`` itself inside ``whileOpen(_:)`` (a rebuild, a key rotation): each call refused
    /// from inside another on a single connection, as ``read(_:)`` and ``write(_:)`` are.
    func writerWrite<T>(_ body: (Database) throws -> T) throws -> T { try onConnection { try writer.write(body) } }
    func writerRead<T>(_ body: (Database) throws -> T) throws -> T { try onConnection { try writer.read(body) } }
    func writerWriteWithoutTransaction<T>(_ body: (Database) throws -> T) throws -> T { try onConnection { try writer.writeWithoutTransaction(body) } }

    /// `body`, a call on ``writer``, refused from inside another on a single connection (``Lifecycle/accessing(_:single:_:)``).
    private func onConnection<T>(_ body: () throws -> T) throws -> T {
        try lifecycle.accessing(path, single: !(writer is DatabasePool), body)
    }

    /// Runs `body` while the database is open: ``close()`` waits for it to return, and once the
    /// database is closed this throws ``StoreError/closed(_:)``. For work that uses ``writer``
    /// itself (a projection rebuild, a key rotation), whose calls would otherwise reach a closed
    /// connection, on which SQLite crashes the process.
    public func whileOpen<T>(_ body: () throws -> T) throws -> T {
        try lifecycle.using(path, body)
    }

    /// Runs `body` on the writer outside a transaction (a checkpoint), as
    /// `writer.writeWithoutTransaction` does, or throws ``StoreError/closed(_:)``.
    public func writeWithoutTransaction<T>(_ body: (Database) throws -> T) throws -> T {
        try lifecycle.using(path) { try onConnection { try writer.writeWithoutTransaction(body) } }
    }

    /// The checkpointer's and the snapshot readers' connections, before the writer's, so that the
    /// writer's is the last to close (the last connection checkpoints the log and removes it,
    /// which a read-only one cannot do). Once only: later calls find nothing left to close.
    private func closeOwnConnections() {
        // The writer's commits call the checkpointer until its hook is removed.
        if let checkpointer {
            writer.unsafeReentrantWrite { db in checkpointer.uninstall(from: db) }
            checkpointer.close()
        }
        snapshotReaders.withLock { readers in
            for reader in readers { try? reader.queue.close() }
            readers.removeAll()
        }
    }

    /// Runs `body` in a write transaction, as `writer.write` does (IMMEDIATE, so that it holds
    /// the write lock from its start; rolled back if `body` throws), with its `BEGIN` and
    /// `COMMIT` prepared once per connection instead of compiled for every transaction: the
    /// transaction of each command (BENCHMARKS.md, step 20).
    public func write<T>(_ body: (Database) throws -> T) throws -> T {
        try lifecycle.using(path) { try onConnection { try writeTransaction(body) } }
    }

    private func writeTransaction<T>(_ body: (Database) throws -> T) throws -> T {
        try writer.writeWithoutTransaction { db in
            // A read-only connection cannot begin IMMEDIATE (GRDB begins DEFERRED there too): the
            // first write then fails as it would.
            try db.statement(readOnly ? Self.beginDeferred : Self.beginImmediate).execute()
            do {
                try checkUnmoved(db)
                let result = try body(db)
                // SQLite ends the transaction itself on some errors (a full disk) that `body` may
                // have caught and gone on from: reported as GRDB reports it, not committed.
                guard db.isInsideTransaction else { throw DatabaseError(resultCode: .SQLITE_ABORT, message: "Transaction was aborted") }
                try db.statement(Self.commit).execute()
                return result
            } catch {
                try? db.rollback()
                if case StoreError.databaseMoved = error { Self.emptyLog(db) }
                if !readOnly, let failure = error as? DatabaseError, failure.resultCode.primaryResultCode == .SQLITE_IOERR {
                    // A commit whose sync failed (EIO) has left its frames in the write-ahead log:
                    // uncommitted for this process's readers, but recovery after a crash would
                    // find them and commit what the caller was told failed. A TRUNCATE checkpoint
                    // copies only what is committed and empties the log. (If the disk fails again,
                    // the next write overwrites those frames, or a clean close drops them.)
                    try? db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)")
                }
                throw error
            }
        }
    }

    /// Runs `body` in a read transaction of its own (one snapshot of the database), as
    /// `writer.read` does, on a read-only connection kept for this, without GRDB's reader pool
    /// around it: what a ``GroupCommitHandler`` caller does to decide each command, where the
    /// pool's bookkeeping for every read (a lock, a semaphore, a key path built at run time, the
    /// transaction's SQL compiled again, a schema version query) cost about as much as the
    /// reading itself (BENCHMARKS.md, step 20). The transaction's `BEGIN` and `COMMIT` are
    /// prepared once per connection. At most ``snapshotReaderLimit`` connections are kept; more
    /// callers at once open one for their read. Without ``DatabaseOptions/concurrentReads`` (one
    /// connection) this is `writer.read`.
    public func snapshotRead<T>(_ body: (Database) throws -> T) throws -> T {
        try lifecycle.using(path) { try snapshotReadOpen(body) }
    }

    private func snapshotReadOpen<T>(_ body: (Database) throws -> T) throws -> T {
        guard let (openPath, configuration) = snapshotConfiguration else { return try onConnection { try writer.read(body) } }
        func fresh() throws -> SnapshotReader { SnapshotReader(queue: try DatabaseQueue(path: openPath, configuration: configuration)) }
        do {
            let kept = snapshotReaders.withLock { $0.popLast() }
            do {
                return try snapshotRead(body, on: kept ?? fresh())
            } catch StoreError.databaseMoved where kept != nil && access(openPath, F_OK) == 0 {
                // A kept connection's file is no longer at the path: a file moved over it, or
                // moved away and back. The connection is dropped (kept, it would refuse every
                // read after the file came back), and the read made once on a new one to the
                // file there now; the writer checks its own file (``checkUnmoved(_:)``) before
                // anything is written.
                return try snapshotRead(body, on: fresh())
            }
        } catch where error is DatabaseError || error is StoreError {
            // The file moved, or a new connection could not open or read what is at the path
            // now (deleted, or replaced by a file that is no database): if the writer's file is
            // no longer there, that is the reason, as the writer itself would say.
            if case StoreError.databaseMoved = error {} else if !writerMoved() { throw error }
            retireLog()
            throw StoreError.databaseMoved(path)
        }
    }

    /// Whether the path no longer names the file the writer opened (``checkUnmoved(_:)`` on
    /// the writer's connection).
    private func writerMoved() -> Bool {
        writer.writeWithoutTransaction { db in (try? checkUnmoved(db)) == nil }
    }

    /// One snapshot read on `reader`, kept for the next one unless its file moved (or its
    /// transaction could not end).
    private func snapshotRead<T>(_ body: (Database) throws -> T, on reader: SnapshotReader) throws -> T {
        var reusable = true
        defer {
            if reusable { snapshotReaders.withLock { if $0.count < Self.snapshotReaderLimit { $0.append(reader) } } }
        }
        do {
            return try reader.queue.inDatabase { db in try snapshotRead(body, reader: reader, reusable: &reusable, in: db) }
        } catch StoreError.databaseMoved(let path) {
            reusable = false
            throw StoreError.databaseMoved(path)
        }
    }

    private func snapshotRead<T>(_ body: (Database) throws -> T, reader: SnapshotReader, reusable: inout Bool, in db: Database) throws -> T {
        // Stepped with the C API (``RowWriter``, ``RowReader``): a read-only connection has
        // no observers for GRDB's execution bookkeeping to tell.
        try RowWriter.run(Self.beginDeferred, in: db)
        // As GRDB's own reads do: what it knows of the schema, and its compiled statements,
        // are forgotten when another process's migration has changed it since the last read.
        let schemaVersion = try Self.schemaCookie(db)
        if schemaVersion != reader.schemaVersion {
            if reader.schemaVersion != nil { db.clearSchemaCache() }
            reader.schemaVersion = schemaVersion
        }
        defer {
            // A read transaction's COMMIT does not fail; if it ever did, the connection is
            // rolled back and not kept, never handed out still in a transaction.
            if (try? RowWriter.run(Self.commit, in: db)) == nil {
                try? db.execute(sql: "ROLLBACK")
                reusable = false
            }
        }
        try checkUnmoved(db)
        return try body(db)
    }

    static let beginImmediate = HotStatement("BEGIN IMMEDIATE TRANSACTION")
    static let beginDeferred = HotStatement("BEGIN DEFERRED TRANSACTION")
    static let commit = HotStatement("COMMIT TRANSACTION")
    private static let schemaVersion = HotStatement("PRAGMA schema_version")

    /// The schema cookie (`PRAGMA schema_version`), which every change of the schema moves.
    static func schemaCookie(_ db: Database) throws -> Int64? {
        try RowReader.first(db.statement(schemaVersion), in: db) { $0.int64(0) } ?? nil
    }

    /// Throws ``StoreError/databaseMoved(_:)`` when the path no longer names the file this
    /// connection opened: it was deleted, or another file was moved over it (a backup restored
    /// with `mv` under a running server). Writing on would go to the old file, which nothing
    /// reads any more, through a write-ahead log the new file's readers share. One `stat` of the
    /// path (SQLite's `SQLITE_FCNTL_HAS_MOVED`), in every write transaction and snapshot read.
    public func checkUnmoved(_ db: Database) throws(StoreError) {
        var moved: Int32 = 0
        if sqlite3_file_control(db.sqliteConnection, "main", SQLITE_FCNTL_HAS_MOVED, &moved) == SQLITE_OK, moved != 0 {
            throw .databaseMoved(path)
        }
    }

    /// After ``StoreError/databaseMoved(_:)``, seen outside the writer: ``emptyLog(_:)`` on it.
    public func retireLog() {
        guard !readOnly else { return }
        // Closed: the connection's log went with it.
        _ = try? onWriter { writer.writeWithoutTransaction { db in Self.emptyLog(db) } }
    }

    /// The write-ahead log beside a moved database's path is still this connection's, holding
    /// pages of the file it opened: whoever opens the path next (the restarted server) would
    /// replay them onto the file now there, undoing a restore or corrupting it, and SQLite's
    /// own close checkpoints nothing once the file moved. Copied into the old file, the log is
    /// emptied (unless a reader holds it: nothing waits).
    static func emptyLog(_ db: Database) {
        _ = try? withoutWaiting { try db.checkpoint(.truncate) }
    }

    /// Idle connections ``snapshotRead(_:)`` keeps (each caller reading at one moment holds one).
    static let snapshotReaderLimit = 8

    /// A connection of ``snapshotRead(_:)``, used by one caller at a time (taken from the idle
    /// list under its lock, and given back after), with the schema version its last read saw.
    private final class SnapshotReader: @unchecked Sendable {
        let queue: DatabaseQueue
        var schemaVersion: Int64?
        init(queue: DatabaseQueue) { self.queue = queue }
    }

    /// A database on a read-only file system (a backup on read-only media), with no write-ahead
    /// log beside it: reading a WAL database needs its `-shm` file, which cannot be created
    /// there, but nothing can write such a file either, so it is opened read-only as immutable
    /// (SQLite then takes no locks and needs no `-shm`). A directory that is merely not
    /// writable for this user is not such a place (another user may be writing the database),
    /// and keeps SQLite's own refusal.
    static func isOnReadOnlyFileSystem(_ path: String) -> Bool {
        var fileSystem = statvfs()
        guard statvfs(path, &fileSystem) == 0, fileSystem.f_flag & UInt(ST_RDONLY) != 0 else { return false }
        var status = stat()
        // A -wal with frames holds committed transactions the file alone does not: not immutable.
        if stat(path + "-wal", &status) == 0 && status.st_size > 0 { return false }
        return true
    }

    /// A file this account may read, no `-shm` beside it, in a directory it may not write to on a
    /// file system that is not read-only (which is opened as immutable instead): SQLite cannot
    /// make the `-shm` a reader of a write-ahead-log database needs. Returns the file, where a
    /// symbolic link leads (SQLite makes its `-shm` beside the file the link names), or `nil`
    /// when SQLite could make the `-shm`.
    static func cannotMakeSharedMemory(_ path: String) -> String? {
        var status = stat()
        let file = FileManager.resolvingLinks(path)
        let refused = access(file, R_OK) == 0 && access(StoreError.directory(of: file), W_OK) != 0
            && stat(file + "-shm", &status) != 0 && !isOnReadOnlyFileSystem(file)
        return refused ? file : nil
    }

    /// A write-ahead log with frames and no shared-memory file: what a read-only location
    /// cannot read, since SQLite must create the -shm to index the log.
    static func logNeedsSharedMemory(_ path: String) -> Bool {
        var status = stat()
        return stat(path + "-wal", &status) == 0 && status.st_size > 0 && stat(path + "-shm", &status) != 0
    }

    /// `file:PATH?immutable=1`, the path percent-encoded as SQLite's URI filenames require.
    static func immutableURI(_ path: String) -> String {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        var encoded = ""
        for byte in absolute.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "/"):
                encoded.unicodeScalars.append(UnicodeScalar(byte))
            default:
                encoded += String(format: "%%%02X", byte)
            }
        }
        return "file:" + encoded + "?immutable=1"
    }

    /// SQLite's process-wide settings, made once before the process's first connection.
    /// Memory statistics off: with them on (Debian's build), every allocation SQLite makes (a
    /// bound string, a row's record, a cursor) takes a process-wide mutex to count it, which the
    /// rebuild's reader threads and its writer take in turn. Nothing here reads the statistics.
    private static let configureSQLite: Void = { _ = enroll_sqlite_disable_memstatus() }()

    /// Waits for another connection's lock by polling it every millisecond, until `timeout`
    /// seconds have passed on the monotonic clock since the first try (then SQLITE_BUSY).
    ///
    /// SQLite's own handler (`sqlite3_busy_timeout`) sleeps 1, 2, 5, 10 … up to 100 ms between
    /// tries: a writer waiting behind `rebuild-projections`, which leaves the lock free for a few
    /// milliseconds between its batches (``ProjectionRebuilder/pause``), almost never polled at
    /// such a moment, and waited for the whole rebuild or gave up. A try costs a few
    /// microseconds (a lock-file probe), so polling this often costs nothing worth measuring.
    static func busyHandler(timeout: TimeInterval) -> Database.BusyCallback {
        let limit = Duration.milliseconds(Int64((timeout * 1000).rounded()))
        // SQLite counts the tries of one wait (0 at the first); when each wait began is kept per
        // thread, as one connection's wait runs on one thread and connections may share this.
        let waits = BusyWaits()
        return { tries in
            let now = ContinuousClock.now
            let thread = UInt(pthread_self())
            if impatientThreads.withLock({ $0.contains(thread) }) { return false }
            let start = waits.starts.withLock { starts in
                if tries == 0 { starts[thread] = now }
                return starts[thread] ?? now
            }
            guard now - start < limit else { return false }
            usleep(1_000)
            return true
        }
    }

    /// Threads whose waits for a lock give up at once (``withoutWaiting(_:)``).
    private static let impatientThreads = Mutex<Set<UInt>>([])

    /// Runs `body` with this thread's waits for a lock giving up at once (SQLITE_BUSY): for a
    /// TRUNCATE checkpoint, which waits for every reader to finish while it holds off every
    /// writer, so that a long read cannot stall the writes of every user behind it.
    static func withoutWaiting<T>(_ body: () throws -> T) rethrows -> T {
        let thread = UInt(pthread_self())
        impatientThreads.withLock { _ = $0.insert(thread) }
        defer { impatientThreads.withLock { _ = $0.remove(thread) } }
        return try body()
    }

    /// How long a process opening a new database retries what another process creating it at
    /// the same time makes fail at once (the switch to WAL, a migration): the busy timeout, at
    /// least a second.
    static func raceDeadline(busyTimeout: TimeInterval) -> ContinuousClock.Instant {
        ContinuousClock.now + .milliseconds(Int64((max(busyTimeout, 1) * 1000).rounded()))
    }

    /// An SQLite or GRDB error as what the user can act on (busy: with the real timeout).
    public func failure(_ error: any Error) -> StoreError {
        StoreError(error, path: path, busyTimeout: options.busyTimeout)
    }

    /// A file that exists but is not SQLite is refused before SQLite would try to use it. (POSIX
    /// calls: setting up `FileHandle` cost a short command more than the read itself.)
    private static func checkHeader(_ path: String) throws(StoreError) {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .unreadable(path) }
        defer { Glibc.close(descriptor) }
        var header = [UInt8](repeating: 0, count: 16)
        let count = Glibc.read(descriptor, &header, header.count)
        if count <= 0 { return }  // an empty file becomes a new database
        guard count == 16, header == Array("SQLite format 3\0".utf8) else { throw .notADatabase(path) }
    }

    /// Refuses an SQLite file that holds tables but none of ours: another application's
    /// database, given as `--db` by mistake. (`grdb_migrations` alone is a database another
    /// process is creating right now.)
    private static func checkNotForeign(_ db: Database, applied: Set<String>, path: String) throws {
        let tables = try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name")
        // Migrations none of which is ours: another application built on GRDB, whose
        // `grdb_migrations` table is its own.
        if !applied.isEmpty { throw StoreError.notAnEnrollmentDatabase(path: path, tables: tables) }
        let others = tables.filter { $0 != "grdb_migrations" }
        if !others.isEmpty { throw StoreError.notAnEnrollmentDatabase(path: path, tables: others) }
    }

    /// Whether the migrations applied are none of ours: nothing yet (a new file, another
    /// application's database without GRDB), or another GRDB application's. A newer enroll's
    /// journal has ours too, and more (``refuseNewer(applied:path:)``).
    private static func isForeign(_ applied: Set<String>) -> Bool {
        applied.isDisjoint(with: migrationIdentifiers)
    }

    /// Refuses another application's database or one of a newer schema, what opening a pool
    /// would change, from a plain connection that only reads (and, closing last, removes the log
    /// it found absent, where a read-only one would leave it). Anything else that fails here is
    /// left to the open that follows, which reports it.
    private static func checkBeforeChanging(_ openPath: String, path: String, configuration: Configuration) throws(StoreError) {
        do {
            let queue = try DatabaseQueue(path: openPath, configuration: configuration)
            defer { try? queue.close() }
            try queue.read { db in
                let applied = try appliedMigrations(db)
                if isForeign(applied) { try checkNotForeign(db, applied: applied, path: path) }
                try refuseNewer(applied: applied, path: path)
            }
        } catch let refusal as StoreError {
            throw refusal
        } catch {
            return
        }
    }

    /// Refuses a database written by a newer version of this code (it has migrations we do not
    /// know), given the migrations applied to it.
    private func checkSchemaIsKnown(applied: Set<String>) throws(StoreError) {
        try Self.refuseNewer(applied: applied, path: path)
        if applied.isEmpty { throw StoreError.databaseMissing(path) }
    }

    /// Refuses migrations this code does not know: a newer version of it wrote the database.
    private static func refuseNewer(applied: Set<String>, path: String) throws(StoreError) {
        let unknown = applied.subtracting(migrationIdentifiers)
        if !unknown.isEmpty { throw StoreError.newerSchema(path: path, migrations: unknown.sorted()) }
    }

    /// Runs the pending migrations; returns the applied ones.
    ///
    /// GRDB's migrator reads which migrations are applied before it takes the write lock, then
    /// runs each in a transaction of its own: processes opening a new database at the same time
    /// (servers starting together, a provisioning script) would each try to create the tables,
    /// and all but one fail ("table events already exists"). Each migration still commits whole
    /// or not at all, so a process that lost such a race looks again and carries on from what
    /// the winner applied.
    ///
    /// A process that lost such a race can also get SQLITE_BUSY at once, without its busy handler
    /// being asked (SQLite's answer to two readers that both want to write), for as long as the
    /// winner is still migrating: it tries again every few milliseconds, for at most the busy
    /// timeout, then reports the error.
    private static func migrate(_ writer: any DatabaseWriter, busyTimeout: TimeInterval) throws -> Set<String> {
        let deadline = Self.raceDeadline(busyTimeout: busyTimeout)
        while true {
            do {
                try migrator.migrate(writer)
            } catch {
                let applied = try writer.read { db in try appliedMigrations(db) }
                if Set(migrationIdentifiers).isSubset(of: applied) { return applied }
                // Another process is still migrating (or this is a real failure).
                if ContinuousClock.now >= deadline { throw error }
                usleep(5_000)
                continue
            }
            return try writer.read { db in try appliedMigrations(db) }
        }
    }

    /// Where a file created at `path` lands: where its symbolic links lead, to the first name
    /// with nothing behind it; `path` itself when it is no link (or the links loop).
    static func fileToCreate(_ path: String) -> String {
        var current = path
        for _ in 0..<40 {
            guard let target = FileManager.symbolicLinkTarget(current) else { return current }
            let directory = (current as NSString).deletingLastPathComponent
            current = target.hasPrefix("/") || directory.isEmpty ? target : directory + "/" + target
        }
        return path
    }

    /// A read while the database file was read-only left its `-wal` and `-shm` read-only too
    /// (SQLite gives them the database file's mode), and they outlive the read: once the file is
    /// writable again, a writer would open them read-only and be refused with advice the owner
    /// had already followed. This account's own such files get the database file's mode back;
    /// another account's are named by ``StoreError/sideFilesNotWritable(path:files:owner:)``.
    static func restoreOwnSideFiles(of path: String) {
        let real = FileManager.resolvingLinks(path)
        var database = stat()
        guard stat(real, &database) == 0, access(real, W_OK) == 0 else { return }
        for file in [real + "-wal", real + "-shm"] {
            // Opened without following a link and changed through that descriptor: a link put
            // in its place meanwhile (the directory may be shared) is never followed.
            let descriptor = open(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
            guard descriptor >= 0 else { continue }
            defer { Glibc.close(descriptor) }
            var side = stat()
            guard fstat(descriptor, &side) == 0, side.st_mode & S_IFMT == S_IFREG, side.st_uid == geteuid(), side.st_mode & S_IWUSR == 0 else { continue }
            _ = fchmod(descriptor, (database.st_mode & 0o777) | S_IRUSR | S_IWUSR)
        }
    }

    /// The migrations applied to the database. GRDB's `appliedIdentifiers` reads the table and,
    /// when that fails, checks whether it exists; another process creating it in between makes
    /// it throw "no such table". Read again: the table never disappears once created.
    private static func appliedMigrations(_ db: Database) throws -> Set<String> {
        do {
            return try migrator.appliedIdentifiers(db)
        } catch {
            return try migrator.appliedIdentifiers(db)
        }
    }
}

extension Database {
    /// Drops a table whose rows hold no secret (a projection, a shadow table, a table whose rows
    /// were copied into its successor) without `secure_delete`'s zeroing of its pages.
    ///
    /// Inside a transaction SQLite zeroes a dropped table by rewriting every one of its pages,
    /// keeping each page's old content in the statement journal, which `temp_store = MEMORY`
    /// holds in RAM: memory grew with the table (a rebuild's swap with the number of users, the
    /// first schema's upgrade of a 1M-event journal to ~400 MB). Only deleted data keys need
    /// zeroing (crypto-shredding), and their table is never dropped this way. `secure_delete` is
    /// on again before this returns, whether the drop worked or not.
    func dropTableWithoutZeroing(_ table: String) throws {
        try execute(sql: "PRAGMA secure_delete = OFF")
        let dropped = Result { try execute(sql: "DROP TABLE IF EXISTS \"\(table)\"") }
        try execute(sql: "PRAGMA secure_delete = ON")
        try dropped.get()
    }
}
