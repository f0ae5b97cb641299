import GRDB

/// The chained hash of the journal at a rebuild shadow table's checkpoint, saved with the
/// checkpoint in each batch's transaction: a run that resumes the shadow first checks that the
/// journal up to the checkpoint is still the one that was folded (the hash covers every row up to
/// there, ``HashChain/storedHash(at:in:)``). A journal whose events were rewritten, or deleted and
/// appended again, under an interrupted rebuild would otherwise be resumed from rows folded from
/// other events.
///
/// Kept in a table of its own, `projection_rebuild_anchors`, created by the first rebuild that
/// needs it rather than by a migration: it belongs to rebuilds only, and a migration would make
/// every older enroll refuse the database as newer. Its row goes when the shadow is swapped in.
struct ShadowAnchor: Hashable {
    var name: String
    var position: Int64
    var hash: [UInt8]

    static let table = "projection_rebuild_anchors"

    static func load(_ name: String, in db: Database) throws -> ShadowAnchor? {
        guard try db.tableExists(table) else { return nil }
        let statement = try db.cachedStatement(sql: "SELECT position, CAST(hash AS BLOB) FROM \(table) WHERE name = ?")
        try statement.setArguments([name])
        return try RowReader.first(statement, in: db) { row in
            ShadowAnchor(name: name, position: row.int64(0) ?? -1, hash: row.bytes(1))
        }
    }

    func save(in db: Database) throws {
        try db.execute(sql: "CREATE TABLE IF NOT EXISTS \(Self.table) (name TEXT PRIMARY KEY, position INTEGER NOT NULL, hash BLOB NOT NULL) WITHOUT ROWID")
        var replace = try RowWriter("INSERT OR REPLACE INTO \(Self.table) (name, position, hash) VALUES (?, ?, ?)", in: db)
        replace.bind(name)
        replace.bind(position)
        replace.bind(hash)
        try replace.writeRow(in: db)
    }

    static func delete(_ name: String, in db: Database) throws {
        guard try db.tableExists(table) else { return }
        try db.execute(sql: "DELETE FROM \(table) WHERE name = ?", arguments: [name])
    }
}
