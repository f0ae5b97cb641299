import GRDB
import GRDBSQLite

/// A read model folded from the journal into its own table.
///
/// A projection knows how to create its table and fold events into it; it does not decide
/// anything. Where it left off is kept in `projection_checkpoints` (name, schema version, last
/// position applied), so that it can be updated inline with each append, caught up, or rebuilt
/// into a shadow table (see ``ProjectionRebuilder``) after its shape changes.
///
/// Folding goes through a ``ProjectionFold``: the inline update (one command's events) and the
/// rebuild (the whole journal) run the same code, in memory, and write only the rows that
/// changed.
public protocol Projection: Sendable {
    /// The projection's name, also its table's name.
    var name: String { get }
    /// Bumped whenever the table's shape or meaning changes; a stored table of another version
    /// is never read (``ProjectionStatus/requireCurrent(_:in:)``).
    var schemaVersion: Int { get }
    /// Creates the table under `table` (the projection's name, or its rebuild shadow's). Use the
    /// primary key rather than named indexes: a rebuild renames the shadow table into place, and
    /// SQLite cannot rename an index, so the next rebuild's index names would collide.
    func createTable(named table: String, in db: Database) throws
    /// A fold into `table`, which holds every event up to `position` (and nothing after it).
    func makeFold(into table: String, after position: Int64, in db: Database) throws -> any ProjectionFold
}

/// Events folded into a projection's table: rows are read when first needed, changed in
/// memory, and written back by ``flush(in:)``.
///
/// Between two calls nothing else may write the table (a rebuild's shadow table is guarded by
/// its checkpoint; inline folds run inside the append's write transaction). A fold keeps its
/// memory bounded by itself: past a cap it flushes and forgets what it holds.
public protocol ProjectionFold {
    /// Folds the next event of the journal, in position order.
    mutating func apply(_ event: EnrollmentEvent, header: EventHeader, in db: Database) throws
    /// Writes every row changed since the last flush.
    mutating func flush(in db: Database) throws
    /// The user's state before the events about to be folded, as the command handler loaded it:
    /// a fold that would otherwise read it back from the journal may take it from here.
    mutating func know(_ state: AuthenticatorState, of user: String)
}

extension ProjectionFold {
    public mutating func know(_ state: AuthenticatorState, of user: String) {}
}

/// The projections this code maintains.
public enum Projections {
    public static let all: [any Projection] = [AuthenticatorsProjection(), EnrollmentActivityProjection()]

    public static func named(_ name: String) -> (any Projection)? {
        all.first { $0.name == name }
    }
}

public struct ProjectionCheckpoint: Sendable, Hashable {
    public var name: String
    public var schemaVersion: Int
    public var position: Int64
    /// Set when the stored row is not what enroll writes (a value edited to text, a fraction or
    /// below zero): such a number then reads as 0, which no command takes for current, and
    /// ``ProjectionStatus/requireCurrent(_:in:)`` names the edit.
    public var damage: String? = nil

    public init(name: String, schemaVersion: Int, position: Int64) {
        self.name = name
        self.schemaVersion = schemaVersion
        self.position = position
    }

    /// Read and saved on every command (inline updates), so with the C API (``RowReader``,
    /// ``RowWriter``).
    public static func load(_ name: String, in db: Database) throws -> ProjectionCheckpoint? {
        let statement = try db.statement(loadSQL)
        statement.bind(name, at: 1)
        return try RowReader.first(statement, in: db) { row in
            // Only whole numbers of 0 or more: a text would read as 0 and a fraction be cut to a
            // position that may be the head's.
            let whole = { (column: Int32) in row.type(column) == SQLITE_INTEGER && (row.int64(column) ?? -1) >= 0 }
            guard whole(0), whole(1) else {
                var damaged = ProjectionCheckpoint(name: name, schemaVersion: whole(0) ? row.int(0) ?? 0 : 0, position: 0)
                let column = whole(0) ? "position" : "schema_version"
                damaged.damage = "has a checkpoint whose \(column) is not a whole number of 0 or more (in projection_checkpoints)"
                return damaged
            }
            return ProjectionCheckpoint(name: name, schemaVersion: row.int(0) ?? 0, position: row.int64(1) ?? 0)
        }
    }

    private static let loadSQL = HotStatement("SELECT schema_version, position FROM projection_checkpoints WHERE name = ?")
    private static let saveSQL = HotStatement("INSERT OR REPLACE INTO projection_checkpoints (name, schema_version, position) VALUES (?, ?, ?)")

    public func save(in db: Database) throws {
        var replace = try RowWriter(Self.saveSQL, in: db)
        replace.bind(name)
        replace.bind(schemaVersion)
        replace.bind(position)
        try replace.writeRow(in: db)
    }
}

public enum ProjectionStatus {
    /// Refuses to read a projection whose stored shape is not the one this code knows, or that
    /// is not at the journal's head. One a newer release wrote asks for an upgrade, not for a
    /// rebuild (which would take it back to this code's version under the newer release's
    /// feet), as the journal's own newer schema does.
    public static func requireCurrent(_ projection: any Projection, in db: Database) throws {
        let checkpoint = try ProjectionCheckpoint.load(projection.name, in: db)
        if let damage = checkpoint?.damage { throw StoreError.damagedProjection(name: projection.name, problem: damage) }
        if let checkpoint, checkpoint.schemaVersion > projection.schemaVersion {
            throw StoreError.newerProjection(name: projection.name, stored: checkpoint.schemaVersion, code: projection.schemaVersion)
        }
        guard let checkpoint, checkpoint.schemaVersion == projection.schemaVersion else {
            // Only on this failure: a database another process is creating has its journal's
            // tables before its projections (``createMissing(in:)``), and a rebuild is no answer.
            if checkpoint == nil, try EventJournal.head(in: db) == 0 { throw StoreError.projectionNotSetUp(name: projection.name) }
            throw StoreError.staleProjection(name: projection.name, stored: checkpoint?.schemaVersion ?? 0, code: projection.schemaVersion)
        }
        // Inline updates keep a current projection at the head in the append's own transaction;
        // one that is not was skipped by appends (another version of enroll made them) and
        // would answer with what it held before, silently.
        let head = try EventJournal.head(in: db)
        guard checkpoint.position == head else {
            throw StoreError.laggingProjection(name: projection.name, position: checkpoint.position, head: head)
        }
        try ProjectionTable.requireKey(of: projection, in: db)
    }

    /// Refuses what would refuse every append (``applyInline(_:knowing:in:)``): a checkpoint
    /// edited by hand, a current projection past the journal's head, or its table missing or
    /// keyed otherwise. A stale projection is not among them: appends leave it for
    /// `rebuild-projections`, which may be running. `/health` asks this.
    public static func requireWritable(in db: Database) throws {
        let head = try EventJournal.head(in: db)
        for projection in Projections.all {
            guard let checkpoint = try ProjectionCheckpoint.load(projection.name, in: db) else { continue }
            if let damage = checkpoint.damage { throw StoreError.damagedProjection(name: projection.name, problem: damage) }
            guard checkpoint.schemaVersion == projection.schemaVersion else { continue }
            if checkpoint.position > head { throw StoreError.laggingProjection(name: projection.name, position: checkpoint.position, head: head) }
            try ProjectionTable.requireKey(of: projection, in: db)
        }
    }

    /// On a database whose journal is still empty, creates any projection table that is missing.
    /// On a non-empty journal a missing projection is left for `rebuild-projections`.
    static func createMissing(in db: Database) throws {
        let head = try EventJournal.head(in: db)
        for projection in Projections.all where try ProjectionCheckpoint.load(projection.name, in: db) == nil {
            guard head == 0 else { continue }
            try projection.createTable(named: projection.name, in: db)
            try ProjectionCheckpoint(name: projection.name, schemaVersion: projection.schemaVersion, position: 0).save(in: db)
        }
    }

    /// Applies freshly appended events to every projection that is current and caught up with
    /// the journal; a stale or lagging one is left for `rebuild-projections` to catch up.
    /// `knowing`: users' states before their first event here (from the handler), in order.
    ///
    /// A current projection folded past the journal's head means events were deleted from the
    /// journal's end: the append is refused (``StoreError/laggingProjection(name:position:head:)``,
    /// "events are missing; run enroll verify"). Skipping it, as a lagging one is, would let the
    /// head catch up with a checkpoint that never folded the new events, and readers would then
    /// take the projection for current.
    static func applyInline(_ events: [(EnrollmentEvent, RecordedEvent)], knowing states: [(user: String, state: AuthenticatorState)] = [], in db: Database) throws {
        guard let first = events.first?.1.position, let last = events.last?.1.position else { return }
        for projection in Projections.all {
            guard var checkpoint = try ProjectionCheckpoint.load(projection.name, in: db) else { continue }
            // A checkpoint edited by hand is not a lag to leave for later: what it folded is unknown.
            if let damage = checkpoint.damage { throw StoreError.damagedProjection(name: projection.name, problem: damage) }
            guard checkpoint.schemaVersion == projection.schemaVersion else { continue }
            if checkpoint.position > first - 1 {
                throw StoreError.laggingProjection(name: projection.name, position: checkpoint.position, head: first - 1)
            }
            guard checkpoint.position == first - 1 else { continue }
            try ProjectionTable.requireKey(of: projection, in: db)
            var fold = try projection.makeFold(into: projection.name, after: checkpoint.position, in: db)
            for (user, state) in states { fold.know(state, of: user) }
            for (event, recorded) in events {
                try fold.apply(event, header: recorded.header, in: db)
            }
            try fold.flush(in: db)
            checkpoint.position = last
            try checkpoint.save(in: db)
        }
    }
}
