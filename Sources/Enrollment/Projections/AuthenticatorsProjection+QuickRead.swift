import GRDB
import GRDBSQLite

extension AuthenticatorsProjection {
    /// One user's row, read with SQLite's C API on a connection of its own, without setting up
    /// GRDB: what `enroll status` does in a process of its own, where GRDB's connection set-up
    /// (its SQL functions and collations, a dispatch queue whose disposal starts a thread) cost
    /// more than the read itself (BENCHMARKS.md, "`enroll status` as a process").
    ///
    /// Only the plain case is read here: an existing SQLite file whose migrations are exactly
    /// the ones this code knows and whose projection is at this code's schema version and at the
    /// journal's head. Anything else (no file, not a database, a journal to migrate or from a
    /// newer version, a stale or lagging projection, any SQLite error) gives `nil`, and the caller goes through
    /// ``EnrollmentDatabase``, which reports every one of those cases, so each problem is
    /// described in one place. Nothing is written.
    public static func quickRead(user: String, databasePath path: String, busyTimeout: Double = 10) -> AuthenticatorSummary? {
        var connection: OpaquePointer?
        // Not SQLITE_OPEN_CREATE: a missing file stays missing. Read-write as the sqlite3 shell
        // opens it, so that a WAL database reads even when its -wal and -shm are gone.
        guard sqlite3_open_v2(path, &connection, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nil) == SQLITE_OK,
              let connection
        else {
            sqlite3_close(connection)
            return nil
        }
        defer { sqlite3_close(connection) }
        sqlite3_busy_timeout(connection, Int32(min(busyTimeout * 1000, Double(Int32.max))))
        guard sqlite3_exec(connection, "BEGIN", nil, nil, nil) == SQLITE_OK else { return nil }
        defer { sqlite3_exec(connection, "COMMIT", nil, nil, nil) }

        guard let applied = strings(connection, "SELECT identifier FROM grdb_migrations"),
              Set(applied) == Set(EnrollmentDatabase.migrationIdentifiers),
              // This code's schema version, at the journal's head (a lagging projection is
              // reported by the general read).
              let head = strings(connection, "SELECT COALESCE(MAX(position), 0) FROM events")?.first,
              let checkpoint = strings(connection, "SELECT schema_version || ' ' || position FROM projection_checkpoints WHERE name = 'authenticators'"),
              checkpoint == ["\(Self().schemaVersion) \(head)"],
              // Keyed as this code builds it (``ProjectionTable/requireKey(of:in:)`` says what is wrong).
              strings(connection, ProjectionTable.keySQL, binding: "authenticators") == ["user_id BINARY"]
        else { return nil }

        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(connection, "SELECT \(AuthenticatorRow.columnList) FROM authenticators WHERE user_id = ?", -1, &statement, nil) == SQLITE_OK,
              let statement
        else { return nil }
        defer { sqlite3_finalize(statement) }
        guard bind(user, to: statement) else { return nil }
        switch sqlite3_step(statement) {
        case SQLITE_DONE:
            // No row: a user who never enrolled, unless the journal holds their events (a row
            // deleted by hand), which the general read reports.
            guard let held = strings(connection, "SELECT EXISTS (SELECT 1 FROM events WHERE stream_id = ?)", binding: user), held == ["0"] else { return nil }
            return .none(user: user)
        case SQLITE_ROW:
            // Of the type `Row` takes: in a process this short, each generic type first used
            // costs a search of the conformance records (an upcast from `[String:
            // DatabaseValue]` was two).
            var columns: [String: (any DatabaseValueConvertible)?] = [:]
            for index in 0..<sqlite3_column_count(statement) {
                guard let name = sqlite3_column_name(statement, index) else { return nil }
                columns[String(cString: name)] = DatabaseValue(sqliteStatement: statement, index: index)
            }
            // A damaged row: the general read reports it.
            return try? AuthenticatorSummary(row: Row(columns))
        default:
            return nil
        }
    }

    /// The first column of every row, as text, with `argument` bound to the statement's one
    /// parameter if given; `nil` on any SQLite error.
    private static func strings(_ connection: OpaquePointer, _ sql: String, binding argument: String? = nil) -> [String]? {
        var statement: OpaquePointer?
        guard sqlite3_prepare_v2(connection, sql, -1, &statement, nil) == SQLITE_OK, let statement else { return nil }
        defer { sqlite3_finalize(statement) }
        if let argument, !bind(argument, to: statement) { return nil }
        var values: [String] = []
        while true {
            switch sqlite3_step(statement) {
            case SQLITE_ROW:
                guard let text = sqlite3_column_text(statement, 0) else { return nil }
                values.append(String(cString: text))
            case SQLITE_DONE:
                return values
            default:
                return nil
            }
        }
    }

    /// Binds `text` to the statement's first parameter (SQLite copies it: ``RowWriter/transient``).
    private static func bind(_ text: String, to statement: OpaquePointer) -> Bool {
        text.withCString { sqlite3_bind_text(statement, 1, $0, -1, RowWriter.transient) } == SQLITE_OK
    }
}
