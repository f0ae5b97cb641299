import GRDB
import Synchronization

/// A statement of the per-command path (``EnrollmentService``, ``GroupCommitHandler``, the inline
/// projections), found among a connection's prepared statements by a number given once, where
/// `cachedStatement(sql:)` hashes and compares the whole SQL text on every call: for the ~20
/// statements a command runs, that cost ~7% of a command's instructions (BENCHMARKS.md, step 23).
///
/// The statement itself is GRDB's cached one, the same object `cachedStatement(sql:)` returns:
/// a connection's slots hold it weakly, so when GRDB drops it (a schema change, a failed step,
/// the connection closing) the slot empties and the next use asks GRDB again.
///
/// ```swift
/// static let version = HotStatement("SELECT MAX(stream_version) FROM events WHERE stream_id = ?")
/// let statement = try db.statement(version)
/// ```
struct HotStatement: Sendable {
    let sql: String
    let slot: Int

    init(_ sql: String) {
        self.sql = sql
        slot = Self.slots.add(1, ordering: .relaxed).oldValue
    }

    private static let slots = Atomic<Int>(0)
}

extension Database {
    /// `cachedStatement(sql: hot.sql)`, found by `hot`'s number.
    func statement(_ hot: HotStatement) throws -> Statement {
        let slots = ConnectionSlots.of(self)
        if let statement = slots[hot.slot] { return statement }
        let statement = try cachedStatement(sql: hot.sql)
        slots[hot.slot] = statement
        return statement
    }
}

/// One connection's hot statements, by slot. Used only by whoever holds the connection (GRDB
/// serializes that), so its slots need no lock of their own; they are a fixed block rather than
/// an array, which would check every access for exclusivity at run time.
private final class ConnectionSlots: @unchecked Sendable {
    private struct Slot { weak var statement: Statement? }

    /// The connection's SQLite handle, checked on every use instead of a weak load of `database`:
    /// a new connection at a closed one's address also has the old handle's address only if
    /// SQLite freed that handle, which it does not while any statement of it is unfinalized
    /// (`sqlite3_close` fails, `sqlite3_close_v2` waits), so the old slots are all empty then.
    let connection: OpaquePointer?
    /// Only to drop the slots of closed connections.
    weak var database: Database?
    /// More than the hot statements there are; a slot beyond it is never kept (each use asks GRDB).
    private static let capacity = 64
    private let slots: UnsafeMutablePointer<Slot>

    init(_ database: Database) {
        self.database = database
        connection = database.sqliteConnection
        slots = .allocate(capacity: Self.capacity)
        slots.initialize(repeating: Slot(), count: Self.capacity)
    }

    deinit {
        slots.deinitialize(count: Self.capacity)
        slots.deallocate()
    }

    subscript(slot: Int) -> Statement? {
        get { slot < Self.capacity ? slots[slot].statement : nil }
        set { if slot < Self.capacity { slots[slot].statement = newValue } }
    }

    /// Every connection's slots, by the connection's identity: a few connections (the writer,
    /// GRDB's readers, the snapshot readers), looked through in order. An entry whose connection
    /// is gone (its identity may be reused by a new one) is replaced, and the others that are
    /// gone are dropped then too.
    private static let all = Mutex<[(id: ObjectIdentifier, slots: ConnectionSlots)]>([])

    static func of(_ db: Database) -> ConnectionSlots {
        let id = ObjectIdentifier(db)
        return all.withLock { all in
            if let entry = all.first(where: { $0.id == id }), entry.slots.connection == db.sqliteConnection { return entry.slots }
            all.removeAll { $0.id == id || $0.slots.database == nil }
            let slots = ConnectionSlots(db)
            all.append((id, slots))
            return slots
        }
    }
}
