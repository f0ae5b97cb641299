import Foundation
import GRDB
import GRDBSQLite

extension EventJournal {
    /// Decodes the events after `position` in order (at most `limit`), handing each to `body`
    /// until it returns false; returns how many it handed over.
    ///
    /// The rebuild's hot loop, so it reads only the columns a fold needs (no event id, metadata
    /// or hash), steps the statement with the SQLite C API instead of building a
    /// ``RecordedEvent`` per row, and decodes each payload from the row's own bytes
    /// (``EventCodec/decode(type:schemaVersion:data:position:sealedBytes:)``). Events are decoded
    /// for projections, which never open a secret: without a key ring, and a sealed secret's
    /// bytes are checked but not kept (``SealedBytes/checked``). `body` may run other statements
    /// on `db` meanwhile (look a row up, write another table).
    @discardableResult
    static func scan(
        after position: Int64, limit: Int? = nil, in db: Database, _ body: (EnrollmentEvent, EventHeader) throws -> Bool
    ) throws -> Int {
        let statement = try db.makeStatement(sql: "SELECT \(scanColumns) FROM events WHERE position > ? ORDER BY position LIMIT ?")
        // LIMIT -1: no limit.
        try statement.setArguments([position, limit.map(Int64.init) ?? -1])
        return try decodeRows(of: statement, in: db, sealedBytes: .checked, body)
    }

    /// The events of `stream` from stream version `version` on, in order, decoded the same way
    /// (secrets sealed), handed to `body` until it returns false: what a command handler folds
    /// into the user's state before deciding, on every command (from version 0: the whole
    /// stream). Not ``readStream(_:upTo:in:)``, whose rows also carry the metadata, event id and
    /// hash.
    static func events(of stream: String, from version: Int64 = 0, in db: Database, _ body: (EnrollmentEvent, EventHeader) throws -> Bool) throws {
        let statement = try db.statement(streamSQL)
        statement.bind(stream, at: 1)
        statement.bind(version, at: 2)
        try decodeRows(of: statement, in: db, sealedBytes: .kept, body)
    }

    /// The columns ``decodeRows(of:failure:sealedBytes:_:)`` reads, in its order.
    static let scanColumns = "position, stream_id, stream_version, type, schema_version, data, recorded_at"
    /// Built once: ``events(of:from:in:_:)`` runs for every command.
    private static let streamSQL = HotStatement("SELECT \(scanColumns) FROM events WHERE stream_id = ? AND stream_version >= ? ORDER BY stream_version")

    /// Steps `statement` (which selects the columns of ``scan(after:limit:in:_:)``) with the
    /// SQLite C API, decoding each row in place, until `body` returns false.
    @discardableResult
    private static func decodeRows(
        of statement: Statement, in db: Database, sealedBytes: SealedBytes, _ body: (EnrollmentEvent, EventHeader) throws -> Bool
    ) throws -> Int {
        try decodeRows(of: statement.sqliteStatement, failure: { db.stepFailure($0, statement) }, sealedBytes: sealedBytes) { event, header in
            try body(event, header)
        }
    }

    /// The same on a statement of SQLite's own, prepared on any connection (``JournalReadAhead``
    /// reads on connections of its own). `failure` turns a step's error code into the error thrown;
    /// `sealedBytes` says whether sealed secrets' bytes are kept.
    /// `body` owns each event: one that keeps it (a read-ahead chunk) moves it rather than copying
    /// it, which would retain its strings and arrays once more and release them after.
    @discardableResult
    static func decodeRows(
        of row: OpaquePointer, failure: (Int32) -> any Error, sealedBytes: SealedBytes, _ body: (consuming EnrollmentEvent, consuming EventHeader) throws -> Bool
    ) throws -> Int {
        defer { sqlite3_reset(row) }
        // Each column's value is fetched once and read through `sqlite3_value_*`: the
        // `sqlite3_column_*` calls each look the column up and check the connection's state
        // again, and a row needed thirteen of them (a connection is only ever used by one
        // thread at a time, so the values need no protection of their own).
        func bytes(_ value: OpaquePointer?) -> UnsafeRawBufferPointer {
            // sqlite3_value_text before sqlite3_value_bytes, as SQLite's documentation asks.
            let start = sqlite3_value_text(value)
            return UnsafeRawBufferPointer(start: start, count: start == nil ? 0 : Int(sqlite3_value_bytes(value)))
        }
        var count = 0
        // A command's events follow one another: the last row's stream id is kept and reused
        // while the rows are of the same stream, rather than made again from the same bytes.
        var stream = ""
        while true {
            let code = sqlite3_step(row)
            if code == SQLITE_DONE { return count }
            guard code == SQLITE_ROW else { throw failure(code) }
            let position = sqlite3_column_value(row, 0), streamId = sqlite3_column_value(row, 1)
            let version = sqlite3_column_value(row, 2), type = sqlite3_column_value(row, 3)
            let schema = sqlite3_column_value(row, 4), data = sqlite3_column_value(row, 5)
            let recorded = sqlite3_column_value(row, 6)
            // SQLite reads a number stored as text ("yesterday") as 0: an edited row, reported.
            // So does one holding a fraction (2.5), which reading as an integer would cut to 2.
            guard sqlite3_value_type(recorded) == SQLITE_INTEGER, sqlite3_value_type(version) == SQLITE_INTEGER,
                  sqlite3_value_type(schema) == SQLITE_INTEGER else {
                let column = sqlite3_value_type(version) != SQLITE_INTEGER ? "stream_version"
                    : sqlite3_value_type(schema) != SQLITE_INTEGER ? "schema_version" : "recorded_at"
                throw StoreError.undecodableEvent(
                    position: sqlite3_value_int64(position), type: String(decoding: bytes(type), as: UTF8.self),
                    reason: "its column \(column) holds a value of another type")
            }
            let streamBytes = bytes(streamId)
            if !stream.hasUTF8(streamBytes) { stream = String(decoding: streamBytes, as: UTF8.self) }
            let header = EventHeader(
                position: sqlite3_value_int64(position), streamId: stream,
                streamVersion: sqlite3_value_int64(version), recordedAt: sqlite3_value_int64(recorded))
            // The row's own columns are held to what an append writes, as the event's fields are
            // (EnrollmentEvent.fieldOutOfRange): an edited one is reported, never computed with.
            if let problem = header.outOfRange {
                throw StoreError.undecodableEvent(position: header.position, type: String(decoding: bytes(type), as: UTF8.self), reason: problem)
            }
            let event = try EventCodec.decode(
                type: bytes(type), schemaVersion: Int(sqlite3_value_int64(schema)), data: bytes(data), position: header.position,
                sealedBytes: sealedBytes)
            count += 1
            guard try body(event, header) else { return count }
        }
    }
}

extension String {
    /// Whether this string's UTF-8 is exactly `bytes` (compared in place, nothing made).
    func hasUTF8(_ bytes: UnsafeRawBufferPointer) -> Bool {
        var copy = self
        return copy.withUTF8 { own in
            own.count == bytes.count && (own.isEmpty || memcmp(own.baseAddress!, bytes.baseAddress!, own.count) == 0)
        }
    }
}
