import GRDB
import GRDBSQLite

/// Runs one prepared write statement for many rows, binding each value with the SQLite C API.
///
/// For the rows written on hot paths: every command's append and projection rows, a rebuild's
/// flush (a row per user, thousands per batch). Building GRDB's `StatementArguments` for them
/// (a boxed value per column) cost more than SQLite's own work.
struct RowWriter {
    private let statement: Statement
    private var column: Int32 = 0

    init(_ sql: String, in db: Database) throws {
        statement = try db.cachedStatement(sql: sql)
    }

    init(_ hot: HotStatement, in db: Database) throws {
        statement = try db.statement(hot)
    }

    /// Binds the next parameter (`nil` as SQL NULL).
    mutating func bind(_ text: String?) {
        column += 1
        guard var text else { sqlite3_bind_null(statement.sqliteStatement, column); return }
        text.withUTF8 { bytes in
            _ = sqlite3_bind_text(statement.sqliteStatement, column, bytes.baseAddress, Int32(bytes.count), Self.transient)
        }
    }

    mutating func bind(_ number: Int64?) {
        column += 1
        guard let number else { sqlite3_bind_null(statement.sqliteStatement, column); return }
        sqlite3_bind_int64(statement.sqliteStatement, column, number)
    }

    mutating func bind(_ number: Int?) { bind(number.map(Int64.init)) }

    mutating func bind(_ bytes: [UInt8]) {
        column += 1
        bytes.withUnsafeBytes { buffer in
            if let start = buffer.baseAddress {
                _ = sqlite3_bind_blob(statement.sqliteStatement, column, start, Int32(buffer.count), Self.transient)
            } else {
                // A zero-length blob, not NULL, for no bytes.
                _ = sqlite3_bind_zeroblob(statement.sqliteStatement, column, 0)
            }
        }
    }

    mutating func bind(_ bytes: [UInt8]?) {
        guard let bytes else { column += 1; sqlite3_bind_null(statement.sqliteStatement, column); return }
        bind(bytes)
    }

    mutating func bind(_ flag: Bool) { bind(Int64(flag ? 1 : 0)) }

    /// Runs a statement that takes no values (`BEGIN`, `COMMIT`) from the statement cache,
    /// stepped with the C API.
    static func run(_ hot: HotStatement, in db: Database) throws {
        var statement = try RowWriter(hot, in: db)
        try statement.writeRow(in: db)
    }

    /// Runs the statement with the values bound since the last row.
    mutating func writeRow(in db: Database) throws {
        defer {
            sqlite3_reset(statement.sqliteStatement)
            column = 0
        }
        let code = sqlite3_step(statement.sqliteStatement)
        guard code == SQLITE_DONE else { throw db.stepFailure(code, statement) }
    }

    /// SQLite copies the bytes before the call returns (SQLITE_TRANSIENT).
    static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
}

extension Statement {
    /// Binds parameter `index` (from 1) with the SQLite C API, for a lookup that is then stepped
    /// with the C API too (``RowReader/first(_:in:_:)``, ``EventJournal``'s scans): GRDB's
    /// `setArguments` boxes each value and checks them against the statement, which cost more
    /// than the lookup itself on the reads every command makes.
    func bind(_ text: String, at index: Int32) {
        var text = text
        text.withUTF8 { bytes in
            _ = sqlite3_bind_text(sqliteStatement, index, bytes.baseAddress, Int32(bytes.count), RowWriter.transient)
        }
    }

    func bind(_ number: Int64, at index: Int32) {
        sqlite3_bind_int64(sqliteStatement, index, number)
    }
}

/// Reads the current row of a stepped statement with the SQLite C API, by column index: the
/// other half of ``RowWriter``, for rows read on every command (an inline update reads the
/// user's row before folding into it), where a GRDB `Row` and its boxed values cost more than
/// SQLite's own lookup.
struct RowReader {
    let statement: OpaquePointer

    /// Runs `statement` (its arguments set) and reads its first row with `read`; `nil` when it
    /// returns no row.
    static func first<Value>(_ statement: Statement, in db: Database, _ read: (RowReader) throws -> Value) throws -> Value? {
        let handle = statement.sqliteStatement
        defer { sqlite3_reset(handle) }
        switch sqlite3_step(handle) {
        case SQLITE_ROW: return try read(RowReader(statement: handle))
        case SQLITE_DONE: return nil
        case let code: throw db.stepFailure(code, statement)
        }
    }

    /// Runs `statement` and reads every row with `read`.
    static func all<Value>(_ statement: Statement, in db: Database, _ read: (RowReader) throws -> Value) throws -> [Value] {
        let handle = statement.sqliteStatement
        defer { sqlite3_reset(handle) }
        var values: [Value] = []
        while true {
            switch sqlite3_step(handle) {
            case SQLITE_ROW: values.append(try read(RowReader(statement: handle)))
            case SQLITE_DONE: return values
            case let code: throw db.stepFailure(code, statement)
            }
        }
    }

    func isNull(_ column: Int32) -> Bool { sqlite3_column_type(statement, column) == SQLITE_NULL }
    /// The column's storage class: `SQLITE_INTEGER`, `SQLITE_TEXT`, `SQLITE_BLOB`, …
    func type(_ column: Int32) -> Int32 { sqlite3_column_type(statement, column) }

    func text(_ column: Int32) -> String? {
        guard let start = sqlite3_column_text(statement, column) else { return nil }
        return String(decoding: UnsafeRawBufferPointer(start: start, count: Int(sqlite3_column_bytes(statement, column))), as: UTF8.self)
    }

    func int64(_ column: Int32) -> Int64? { isNull(column) ? nil : sqlite3_column_int64(statement, column) }
    func int(_ column: Int32) -> Int? { int64(column).map(Int.init) }
    func bool(_ column: Int32) -> Bool { sqlite3_column_int64(statement, column) != 0 }

    func optionalBytes(_ column: Int32) -> [UInt8]? { isNull(column) ? nil : bytes(column) }

    func bytes(_ column: Int32) -> [UInt8] {
        guard let start = sqlite3_column_blob(statement, column) else { return [] }
        return Array(UnsafeRawBufferPointer(start: start, count: Int(sqlite3_column_bytes(statement, column))))
    }
}

extension Database {
    /// The error of a statement stepped with the C API (``RowWriter``, ``RowReader``, the
    /// journal's scans), as GRDB reports its own: result code, SQLite's message, the SQL.
    func stepFailure(_ code: Int32, _ statement: Statement) -> DatabaseError {
        DatabaseError(
            resultCode: ResultCode(rawValue: code),
            message: sqliteConnection.map { String(cString: sqlite3_errmsg($0)) }, sql: statement.sql)
    }
}

extension Row {
    /// The value in `column` as `Value`, or `nil` when it is NULL or holds a value of another
    /// type (text where a position belongs, a blob that is not UTF-8: a table edited outside
    /// enroll). GRDB's own subscript stops the process on a value it cannot convert; the
    /// checks that read such tables to report them use this instead.
    func lenient<Value: DatabaseValueConvertible>(_ column: String, as type: Value.Type = Value.self) -> Value? {
        Value.fromDatabaseValue((self[column] as DatabaseValue?) ?? .null)
    }
}
