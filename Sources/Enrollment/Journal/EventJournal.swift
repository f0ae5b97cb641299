import Foundation
import GRDB

/// The append-only journal: rows, positions, stream versions and the hash chain. It knows
/// nothing of enrollment rules.
///
/// Guarantees: positions are strictly increasing and gap-free in commit order; an append
/// commits all of its events or none; an append states the stream version it expects and
/// fails with ``StoreError/conflict(stream:expected:actual:)`` if another writer got there first.
public enum EventJournal {
    static let columns = "position, stream_id, stream_version, event_id, type, schema_version, data, metadata, recorded_at, hash"

    // The statements of every append (``HotStatement``).
    private static let versionSQL = HotStatement("SELECT MAX(stream_version) FROM events WHERE stream_id = ?")
    private static let lastSQL = HotStatement("SELECT position, hash FROM events ORDER BY position DESC LIMIT 1")
    private static let insertSQL = HotStatement("""
        INSERT INTO events (position, stream_id, stream_version, event_id, type, schema_version, data, metadata, recorded_at, hash)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """)

    /// The current version of a stream (0 when it has no events).
    public static func version(of stream: String, in db: Database) throws -> Int64 {
        let statement = try db.statement(versionSQL)
        statement.bind(stream, at: 1)
        return try RowReader.first(statement, in: db) { $0.int64(0) }.flatMap { $0 } ?? 0
    }

    /// The last position in the journal (0 when empty).
    public static func head(in db: Database) throws -> Int64 {
        try Int64.fetchOne(db.cachedStatement(sql: "SELECT MAX(position) FROM events")) ?? 0
    }

    public static func readStream(_ stream: String, upTo version: Int64 = .max, in db: Database) throws -> [RecordedEvent] {
        try RecordedEvent.fetchAll(
            db.cachedStatement(sql: "SELECT \(columns) FROM events WHERE stream_id = ? AND stream_version <= ? ORDER BY stream_version"),
            arguments: [stream, version])
    }

    /// Events after `position`, in order, at most `limit`: how projections and audits page through.
    public static func events(after position: Int64, limit: Int, in db: Database) throws -> [RecordedEvent] {
        try RecordedEvent.fetchAll(
            db.cachedStatement(sql: "SELECT \(columns) FROM events WHERE position > ? ORDER BY position LIMIT ?"),
            arguments: [position, limit])
    }

    /// A cursor over the journal in position order, for streaming reads of any size.
    public static func cursor(after position: Int64 = 0, in db: Database) throws -> RecordCursor<RecordedEvent> {
        try RecordedEvent.fetchCursor(db, sql: "SELECT \(columns) FROM events WHERE position > ? ORDER BY position", arguments: [position])
    }

    /// Appends `events` to `stream` if its version is still `expectedVersion`. Must run inside a
    /// write transaction, which makes the append atomic with whatever else the caller writes
    /// (inline projections, the idempotency record).
    @discardableResult
    public static func append(_ events: [NewEvent], to stream: String, expectedVersion: Int64, in db: Database) throws -> [RecordedEvent] {
        let actual = try version(of: stream, in: db)
        guard actual == expectedVersion else {
            throw StoreError.conflict(stream: stream, expected: expectedVersion, actual: actual)
        }
        var head: Head?
        return try append(events, to: stream, versionChecked: expectedVersion, head: &head, in: db)
    }

    /// The journal's last position and its hash: where the next append continues the chain.
    struct Head {
        var position: Int64
        var hash: [UInt8]
    }

    /// Appends `events` to `stream`, whose version the caller found to be `version` in this same
    /// transaction. `head`: the journal's head as the previous append of this transaction left
    /// it, or nil to read it; set to the new head once every event is written (a batch's writer
    /// carries it from one command to the next instead of reading it back each time).
    static func append(_ events: [NewEvent], to stream: String, versionChecked version: Int64, head: inout Head?, in db: Database) throws -> [RecordedEvent] {
        var (position, previousHash) = try head.map { ($0.position, $0.hash) } ?? last(in: db)
        guard position <= Int64.max - Int64(events.count) else {
            throw StoreError.journalDamaged("the journal's last position is \(position), which leaves no room for another event")
        }
        var version = version
        var recorded: [RecordedEvent] = []
        recorded.reserveCapacity(events.count)
        var insert = try RowWriter(insertSQL, in: db)
        for event in events {
            position += 1
            version += 1
            // Canonical JSON (sorted keys, no spaces), like the event's data.
            let metadata = event.metadataJSON
            let hash = HashChain.hash(
                previous: previousHash, position: position, streamId: stream, streamVersion: version,
                eventId: event.eventId, type: event.type, schemaVersion: event.schemaVersion,
                data: event.data, metadata: metadata, recordedAt: event.recordedAt)
            insert.bind(position)
            insert.bind(stream)
            insert.bind(version)
            insert.bind(event.eventId)
            insert.bind(event.type)
            insert.bind(event.schemaVersion)
            insert.bind(event.data)
            insert.bind(metadata)
            insert.bind(event.recordedAt)
            insert.bind(hash)
            try insert.writeRow(in: db)
            previousHash = hash
            recorded.append(RecordedEvent(
                position: position, streamId: stream, streamVersion: version, eventId: event.eventId,
                type: event.type, schemaVersion: event.schemaVersion, data: event.data,
                metadata: event.metadata, metadataJSON: metadata, recordedAt: event.recordedAt, hash: hash))
        }
        head = Head(position: position, hash: previousHash)
        return recorded
    }

    /// Inserts rows exactly as given (import): positions, versions and hashes are the file's,
    /// checked to continue the chain.
    public static func insertVerbatim(_ event: RecordedEvent, in db: Database) throws {
        try db.execute(sql: """
            INSERT INTO events (position, stream_id, stream_version, event_id, type, schema_version, data, metadata, recorded_at, hash)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [
                event.position, event.streamId, event.streamVersion, event.eventId, event.type,
                event.schemaVersion, event.data, event.metadataJSON, event.recordedAt, Data(event.hash),
            ])
    }

    private static func last(in db: Database) throws -> (Int64, [UInt8]) {
        let statement = try db.statement(lastSQL)
        return try RowReader.first(statement, in: db) { ($0.int64(0) ?? 0, $0.bytes(1)) } ?? (0, HashChain.genesis)
    }
}

extension RecordedEvent: FetchableRecord {
    /// A stored row. A column of another type than an append writes, or metadata that is not
    /// the JSON an append writes, is reported as the row it is (GRDB's subscripts would trap on
    /// the first; a stand-in actor would hide the second from the audit).
    public init(row: Row) throws { try self.init(row: row, lenientMetadata: false) }

    /// `lenientMetadata`: for `verify` and `export`, which take rows as stored (the hash covers
    /// the metadata's text, so `verify` reports the edit as tampering): unreadable metadata is
    /// then read as an empty actor and command id.
    init(row: Row, lenientMetadata: Bool) throws {
        let position: Int64 = (try? row.decode(forColumn: "position")) ?? 0
        let type: String = (try? row.decode(forColumn: "type")) ?? "?"
        func value<Value: DatabaseValueConvertible>(_ column: String) throws -> Value {
            do { return try row.decode(forColumn: column) } catch {
                throw StoreError.undecodableEvent(position: position, type: type, reason: "its column \(column) holds a value of another type")
            }
        }
        let metadataText: String = try value("metadata")
        let readable = EventMetadata.stored(metadataText)
        guard let metadata = readable ?? (lenientMetadata ? EventMetadata(actor: "", commandId: "") : nil) else {
            throw StoreError.undecodableEvent(position: position, type: type, reason: "its metadata is not the JSON object an append writes")
        }
        let hash: Data = try value("hash")
        self.init(
            position: try value("position"), streamId: try value("stream_id"), streamVersion: try value("stream_version"),
            eventId: try value("event_id"), type: try value("type"), schemaVersion: try value("schema_version"),
            data: try value("data"), metadata: metadata, metadataJSON: metadataText, recordedAt: try value("recorded_at"), hash: Array(hash))
    }
}

/// A journal row as stored, for `verify` and `export` (``RecordedEvent/init(row:lenientMetadata:)``).
struct StoredRow: FetchableRecord {
    var event: RecordedEvent
    init(row: Row) throws { event = try RecordedEvent(row: row, lenientMetadata: true) }
}
