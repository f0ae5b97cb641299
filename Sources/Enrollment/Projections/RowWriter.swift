import GRDB
import GRDBSQLite

/// Runs one prepared write statement for many rows, binding each value with the SQLite C API.
///
/// A rebuild's flush writes a row per user (thousands per batch); building GRDB's
/// `StatementArguments` for them (a boxed value per column) cost more than SQLite's own work.
struct RowWriter {
    private let statement: Statement
    private var column: Int32 = 0

    init(_ sql: String, in db: Database) throws {
        statement = try db.cachedStatement(sql: sql)
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
    mutating func bind(_ flag: Bool) { bind(Int64(flag ? 1 : 0)) }

    /// Runs the statement with the values bound since the last row.
    mutating func writeRow(in db: Database) throws {
        defer {
            sqlite3_reset(statement.sqliteStatement)
            column = 0
        }
        let code = sqlite3_step(statement.sqliteStatement)
        guard code == SQLITE_DONE else {
            throw DatabaseError(
                resultCode: ResultCode(rawValue: code),
                message: db.sqliteConnection.map { String(cString: sqlite3_errmsg($0)) }, sql: statement.sql)
        }
    }

    /// SQLite copies the bytes before the call returns (SQLITE_TRANSIENT).
    private static let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
}
