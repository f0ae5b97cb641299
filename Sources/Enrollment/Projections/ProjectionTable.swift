import GRDB
import GRDBSQLite
import Glibc
import Synchronization

/// Whether a stored projection table (or a rebuild's shadow table) has the shape this code
/// builds: the columns `createTable` makes, with their declared types, constraints and keys.
///
/// The checkpoint says which version of a projection was stored, not that its table is still
/// there as stored: an operator's `DROP TABLE` or `ALTER TABLE … DROP COLUMN` leaves the
/// checkpoint saying "current". Commands look only at the key (``requireKey(of:in:)``): SQLite
/// itself refuses a query of a missing table or column, and a storage error that names a
/// projection's table or column is told apart from other SQLite errors
/// (``StoreError/damagedProjection(name:problem:)``). `rebuild-projections --status`,
/// `enroll verify` and a rebuild about to resume a shadow table check every column, with
/// `pragma table_info`.
public enum ProjectionTable {
    /// One column as `pragma table_info` lists it.
    struct Column: Hashable {
        var name: String
        var type: String
        var notNull: Bool
        var defaultValue: String?
        var primaryKeyIndex: Int

        init(_ info: ColumnInfo) {
            (name, type, notNull, defaultValue, primaryKeyIndex) = (info.name, info.type.uppercased(), info.isNotNull, info.defaultValueSQL, info.primaryKeyIndex)
        }
    }

    /// The columns `projection` creates, in order: built in a private in-memory database.
    static func expectedColumns(of projection: any Projection) throws -> [Column] {
        let scratch = try DatabaseQueue()
        return try scratch.inDatabase { db in
            try projection.createTable(named: projection.name, in: db)
            return try db.columns(in: projection.name).map(Column.init)
        }
    }

    /// What is wrong with `table` as a table of `projection` (`nil`: it has exactly the columns
    /// this code builds), in words that follow "the NAME projection's table …" or "… shadow
    /// table …": "is missing", "lacks the column x", and so on.
    public static func problem(of projection: any Projection, table: String, in db: Database) throws -> String? {
        guard try db.tableExists(table) else { return "is missing" }
        let stored = try db.columns(in: table).map(Column.init)
        let expected = try expectedColumns(of: projection)
        if stored == expected {
            let (storedKey, expectedKey) = (try key(of: table, in: db), try Self.expectedKey(of: projection))
            return storedKey == expectedKey ? nil : keyProblem(stored: storedKey, expected: expectedKey)
        }
        let storedNames = Set(stored.map(\.name)), expectedNames = Set(expected.map(\.name))
        let missing = expected.map(\.name).filter { !storedNames.contains($0) }
        if !missing.isEmpty { return "lacks the column\(missing.count == 1 ? "" : "s") \(missing.joined(separator: ", "))" }
        let extra = stored.map(\.name).filter { !expectedNames.contains($0) }
        if !extra.isEmpty { return "has the column\(extra.count == 1 ? "" : "s") \(extra.joined(separator: ", ")) that this code does not build" }
        let changed = zip(stored.sorted { $0.name < $1.name }, expected.sorted { $0.name < $1.name }).filter { $0 != $1 }.map(\.0.name)
        if changed.isEmpty { return "has its columns in another order than this code builds" }
        return "declares the column\(changed.count == 1 ? "" : "s") \(changed.joined(separator: ", ")) otherwise than this code builds (type, NOT NULL, default or key)"
    }

    /// The projection a failed statement's SQLite message points at, with what is wrong: "no
    /// such table: NAME" for a projection's table, "table NAME has no column named C", or "no
    /// such column: C" for a column of a projection (of the one whose table in the database at
    /// `path` lacks it, when more than one has such a column). Only ever called on a failure, so
    /// the scratch databases it builds cost nothing on the commands' path.
    static func damaged(bySQLiteMessage message: String, path: String? = nil) -> (name: String, problem: String)? {
        func projection(_ table: Substring) -> (any Projection)? {
            let name = table.hasPrefix("main.") ? table.dropFirst(5) : table
            return Projections.named(String(name))
        }
        if message.hasPrefix("no such table: "), let found = projection(message.dropFirst("no such table: ".count)) {
            return (found.name, "is missing")
        }
        if message.hasPrefix("table "), let range = message.range(of: " has no column named "),
           let found = projection(message[message.index(message.startIndex, offsetBy: 6)..<range.lowerBound]) {
            return (found.name, "lacks the column \(message[range.upperBound...])")
        }
        guard message.hasPrefix("no such column: ") else { return nil }
        let column = String(message.dropFirst("no such column: ".count))
        // A column the journal's tables also have (stream_version) could be theirs: left alone.
        let journalColumns: Set<String> = (try? {
            let scratch = try DatabaseQueue()
            try EnrollmentDatabase.migrator.migrate(scratch)
            return try scratch.read { db in
                Set(try String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE type = 'table'").flatMap { try db.columns(in: $0).map(\.name) })
            }
        }()) ?? []
        guard !journalColumns.contains(column) else { return nil }
        let owners = Projections.all.filter { (try? expectedColumns(of: $0).contains { $0.name == column }) == true }
        if owners.count == 1, let owner = owners.first { return (owner.name, "lacks the column \(column)") }
        // A column more than one projection has (issuer): the one whose table lacks it.
        guard owners.count > 1, let path else { return nil }
        var readOnly = Configuration()
        readOnly.readonly = true
        guard let database = try? DatabaseQueue(path: path, configuration: readOnly) else { return nil }
        let lacking = owners.first { owner in
            (try? database.read { db in try db.columns(in: owner.name).contains { $0.name == column } }) == false
        }
        return lacking.map { ($0.name, "lacks the column \(column)") }
    }
}

extension ProjectionTable {
    /// The primary key `projection`'s table is built with, its columns in key order with their
    /// collations (``key(of:in:)``): built once in a private in-memory database.
    static func expectedKey(of projection: any Projection) throws -> [String] {
        if let known = expectedKeys.withLock({ $0[projection.name] }) { return known }
        let scratch = try DatabaseQueue()
        let key = try scratch.inDatabase { db in
            try projection.createTable(named: projection.name, in: db)
            return try Self.key(of: projection.name, in: db)
        }
        expectedKeys.withLock { $0[projection.name] = key }
        return key
    }

    /// The columns of `table`'s primary key in key order, each with its collation
    /// (`user_id BINARY`): a key compared without case (`COLLATE NOCASE`) would take two users
    /// for one. Empty when it has none.
    static func key(of table: String, in db: Database) throws -> [String] {
        try String.fetchAll(db, sql: Self.keySQL, arguments: [table])
    }

    static let keySQL = """
        SELECT x.name || ' ' || x.coll FROM pragma_index_list(?) l, pragma_index_xinfo(l.name) x
        WHERE l.origin = 'pk' AND x.key = 1 ORDER BY x.seqno
        """

    private static let expectedKeys = Mutex<[String: [String]]>([:])

    /// What is wrong with a stored key, in words that follow "the NAME projection's table …".
    static func keyProblem(stored: [String], expected: [String]) -> String {
        let built = "this code builds it keyed by \(expected.joined(separator: ", "))"
        return stored.isEmpty ? "has no primary key (\(built))" : "is keyed by \(stored.joined(separator: ", ")) (\(built))"
    }

    /// For each database file and table, the schema cookie (`PRAGMA schema_version`, which
    /// every change of the schema moves) at which its key was last found right: a short list,
    /// looked through without building a string or hashing one (it is read on every command).
    private static let keysChecked = Mutex<[CheckedKey]>([])
    private struct CheckedKey {
        var file: String
        var table: String
        var cookie: Int64
    }
    /// The most files × tables remembered; the oldest is forgotten first (and checked again).
    private static let keysCheckedLimit = 32

    /// Refuses a projection table whose primary key is not the one this code builds, as a table
    /// re-created by hand without it (SQLite's "create, copy, drop, rename" way of altering a
    /// table) would be: every `INSERT OR REPLACE` would then add a second row for its user, and
    /// reads would answer from whichever came first. A missing table or column fails the
    /// statement that meets it; a key does not, so commands check it, on reads and on appends.
    /// Looked at again only when the schema changed: otherwise one `PRAGMA schema_version`.
    static func requireKey(of projection: any Projection, in db: Database) throws {
        let cookie = try EnrollmentDatabase.schemaCookie(db) ?? 0
        let name = projection.name
        // "" for a database in memory.
        let path = sqlite3_db_filename(db.sqliteConnection, "main")
        let checked = keysChecked.withLock { entries in
            entries.contains { entry in
                entry.cookie == cookie && entry.table == name
                    && entry.file.withCString { file in path.map { strcmp(file, $0) == 0 } ?? (file.pointee == 0) }
            }
        }
        if checked { return }
        let stored = try key(of: projection.name, in: db)
        let expected = try expectedKey(of: projection)
        guard stored == expected else {
            if stored.isEmpty, try !db.tableExists(projection.name) { throw StoreError.damagedProjection(name: projection.name, problem: "is missing") }
            throw StoreError.damagedProjection(name: projection.name, problem: keyProblem(stored: stored, expected: expected))
        }
        let file = path.map { String(cString: $0) } ?? ""
        keysChecked.withLock { entries in
            entries.removeAll { $0.file == file && $0.table == name }
            if entries.count >= keysCheckedLimit { entries.removeFirst() }
            entries.append(CheckedKey(file: file, table: name, cookie: cookie))
        }
    }
}

extension Row {
    /// The value of `column` in a row of the projection `name`, or a damaged projection naming
    /// the column when it holds a value of another type (an edit with another tool: SQLite's
    /// column affinity lets text into an INTEGER column), where GRDB's subscripts would trap.
    func value<Value: DatabaseValueConvertible>(_ column: String, of name: String) throws -> Value {
        do {
            return try decode(Value.self, forColumn: column)
        } catch {
            throw StoreError.damagedProjection(name: name, problem: "holds a value of another type in the column \(column)")
        }
    }
}
