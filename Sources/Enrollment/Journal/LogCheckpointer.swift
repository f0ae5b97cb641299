import Dispatch
import GRDB
import GRDBSQLite
import Synchronization

/// Copies the write-ahead log back into the database file on a queue of its own, so that the
/// writer seldom stops to do it: a long-lived process's pool (``DatabaseOptions/concurrentReads``:
/// the server, the benchmark) at `synchronous=NORMAL`.
///
/// SQLite's own automatic checkpoint runs on the connection that committed, inside its commit.
/// At NORMAL no commit syncs the log, so that one commit syncs every page written since the last
/// checkpoint (up to 32 MiB at 8 000 pages), copies them and syncs the database file: one writer
/// spent ~40% of its time waiting there, and the group-commit batch that made it waited 60–90
/// ms (BENCHMARKS.md, step 25). Here, every ``step`` pages a commit only hands the work to a
/// serial queue, whose own connection makes a PASSIVE checkpoint (sync the log, copy what no
/// reader still needs, sync the database) while the writer goes on. The log starts over from
/// its beginning only after a checkpoint has copied all of it, which one running beside a busy
/// writer never does; so at ``backstop`` pages the committing connection still checkpoints
/// itself, as SQLite's automatic checkpoint does, and finds most of the log copied and synced.
///
/// Durability is unchanged: a commit is durable when it was before (at NORMAL, once a
/// checkpoint has synced the log: now sooner), and a checkpoint copies only committed pages.
final class LogCheckpointer: @unchecked Sendable {
    /// Log pages between two checkpoints on the queue.
    static let step: Int32 = 1000
    /// Log pages at which the committing connection checkpoints itself (its
    /// `PRAGMA wal_autocheckpoint` before this hook replaced it).
    static let backstop: Int32 = 8000

    private let connection: OpaquePointer
    private let queue = DispatchQueue(label: "enrollment.checkpoint")
    private let scheduled = Atomic<Bool>(false)
    private let stopped = Atomic<Bool>(false)
    /// The writer's, read and written only in its commits (SQLite calls the hook on the
    /// connection's thread, one commit at a time).
    private var nextStep = step
    private var lastFrames: Int32 = 0

    /// A connection of its own to `path`, opened after the writer's (``install(on:)`` checks that
    /// both name the same file); `nil` if SQLite cannot open it (the writer then keeps SQLite's
    /// own checkpoints).
    init?(path: String) {
        var handle: OpaquePointer?
        // NORMAL: a checkpoint then syncs the log before copying and the database after (OFF
        // would sync neither, and let the log start over before the database is on disk).
        guard sqlite3_open_v2(path, &handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOFOLLOW, nil) == SQLITE_OK, let handle,
              sqlite3_exec(handle, "PRAGMA synchronous = NORMAL", nil, nil, nil) == SQLITE_OK else {
            sqlite3_close_v2(handle)
            return nil
        }
        connection = handle
    }

    /// Replaces the automatic checkpoint of the writer's connection `db` with ``committed(frames:db:name:)``.
    /// Returns false, changing nothing, when the writer's file is no longer at the path this
    /// connection opened (moved or deleted since the writer opened it): this connection may then
    /// have opened another file, into which it would copy the writer's log.
    func install(on db: Database) -> Bool {
        var moved: Int32 = 0
        guard sqlite3_file_control(db.sqliteConnection, "main", SQLITE_FCNTL_HAS_MOVED, &moved) == SQLITE_OK, moved == 0 else { return false }
        sqlite3_wal_hook(db.sqliteConnection, { context, db, name, frames in
            guard let context else { return SQLITE_OK }
            Unmanaged<LogCheckpointer>.fromOpaque(context).takeUnretainedValue().committed(frames: frames, db: db, name: name)
            return SQLITE_OK
        }, Unmanaged.passUnretained(self).toOpaque())
        return true
    }

    /// Gives the writer's connection SQLite's automatic checkpoint back (before ``close()``).
    func uninstall(from db: Database) {
        guard let connection = db.sqliteConnection else { return }  // closed already: no commit calls the hook
        sqlite3_wal_hook(connection, nil, nil)
        sqlite3_wal_autocheckpoint(connection, Self.backstop)
    }

    /// After each commit of the writer, with the log's size in pages.
    private func committed(frames: Int32, db: OpaquePointer?, name: UnsafePointer<CChar>?) {
        // The log started over from its beginning.
        if frames < lastFrames { nextStep = Self.step }
        lastFrames = frames
        if frames >= Self.backstop {
            // What SQLite's automatic checkpoint does (its result ignored, as there: a reader
            // still on an old page, or the queue's checkpoint running, means the next commit
            // tries again).
            sqlite3_wal_checkpoint(db, name)
        } else if frames >= nextStep {
            nextStep = frames + Self.step
            schedule()
        }
    }

    private func schedule() {
        guard scheduled.compareExchange(expected: false, desired: true, ordering: .acquiringAndReleasing).exchanged else { return }
        queue.async { [self] in
            checkpoint()
            scheduled.store(false, ordering: .releasing)
        }
    }

    private func checkpoint() {
        guard !stopped.load(ordering: .acquiring) else { return }
        sqlite3_wal_checkpoint_v2(connection, "main", SQLITE_CHECKPOINT_PASSIVE, nil, nil)
    }

    /// Waits for a checkpoint under way and closes the connection; none starts after. Once only:
    /// a second call does nothing.
    func close() {
        guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
        queue.sync {}
        sqlite3_close_v2(connection)
    }
}
