import GRDB

/// The last step of a rebuild: the shadow table takes the projection's place, and what an
/// operator built on the old table is kept where it still fits (README, "rebuild-projections").
extension ProjectionRebuilder {
    /// Replaces table `name` with `shadow`, keeping what an operator built on it:
    /// - views (and triggers of other tables) that read it: the rename is done the way SQLite
    ///   did before 3.26 (`legacy_alter_table`), which does not check the schema's views, as
    ///   they name a table that, between the drop and the rename, does not exist; afterwards
    ///   they read the new table under the same name;
    /// - its own indexes and triggers, which go with the dropped table: each is created again
    ///   on the new one, in a savepoint of its own, so that one whose column is gone (a schema
    ///   change) is reported rather than failing the rebuild.
    ///
    /// A trigger whose body no longer fits (`new.note` of a column the new table lacks, its own or
    /// another table's writing to it) is created without complaint and fails every later write
    /// to its table: any table whose writes compiled before the swap and fail after it has the
    /// triggers that make them fail found (``dropFailingTriggers(of:in:)``), dropped and named.
    /// If the projection's own writes still fail (a foreign key of another table naming a column
    /// that is gone), the swap is refused: it would stop every command. A view that no longer
    /// reads is named and left as it is, as is each column of the operator's own.
    static func swap(_ name: String, shadow: String, in db: Database) throws -> OperatorObjects {
        let attached = try Row.fetchAll(db, sql: """
            SELECT type, name, sql FROM sqlite_master
            WHERE tbl_name = ? COLLATE NOCASE AND type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY type, name
            """, arguments: [name]).map { (type: $0["type"] as String, name: $0["name"] as String, sql: $0["sql"] as String) }
        let oldColumns = try columns(of: name, in: db)
        let readableViews = try views(in: db).filter { (try? reads($0.name, in: db)) != nil }
        // The tables whose writes compile now: only those are judged afterwards (what was broken
        // before is the operator's, not this rebuild's to mend).
        let written = try tablesWithTriggers(in: db).filter {
            $0.caseInsensitiveCompare(shadow) != .orderedSame && $0.caseInsensitiveCompare(name) != .orderedSame
        } + [name]
        let writable = try written.filter { try writeFailure(of: $0, in: db) == nil }

        try db.dropTableWithoutZeroing(name)
        try db.execute(sql: "PRAGMA legacy_alter_table = ON")
        let renamed = Result { try db.execute(sql: "ALTER TABLE \"\(shadow)\" RENAME TO \"\(name)\"") }
        try db.execute(sql: "PRAGMA legacy_alter_table = OFF")
        try renamed.get()

        var kept = OperatorObjects()
        let newColumns = try columns(of: name, in: db)
        kept.droppedColumns = oldColumns.filter { column in !newColumns.contains { $0.caseInsensitiveCompare(column) == .orderedSame } }
        for object in attached {
            do {
                try db.inSavepoint {
                    try db.execute(sql: object.sql)
                    return .commit
                }
            } catch let error as DatabaseError {
                // With its definition: it is gone from the database, and the operator adapts this.
                kept.notRestored.append("\(object.type) \(object.name) (\(error.message ?? "\(error.resultCode)")), which was: \(object.sql)")
            }
        }
        // Other tables first: a trigger of the projection's that writes to one of them is not to
        // blame for that table's own broken trigger.
        let projectionLast = writable.filter { $0.caseInsensitiveCompare(name) != .orderedSame } + writable.filter { $0.caseInsensitiveCompare(name) == .orderedSame }
        for table in projectionLast {
            kept.notRestored += try dropFailingTriggers(of: table, in: db)
        }
        if writable.contains(where: { $0.caseInsensitiveCompare(name) == .orderedSame }), let failure = try writeFailure(of: name, in: db) {
            throw StoreError.projectionUnwritable(name: name, reason: failure)
        }
        let existing = try Set(String.fetchAll(db, sql: "SELECT name FROM sqlite_master WHERE tbl_name = ? COLLATE NOCASE", arguments: [name]))
        kept.restored = attached.filter { existing.contains($0.name) }.map { "\($0.type) \($0.name)" }
        for view in readableViews {
            do {
                try reads(view.name, in: db)
            } catch let error as DatabaseError {
                kept.brokenViews.append("\(view.name) (\(error.message ?? "\(error.resultCode)")), which is: \(view.sql)")
            }
        }
        return kept
    }

    /// When `table`'s writes fail to compile, the triggers on it to blame: each one alone on the
    /// table (the others dropped for the test, in a savepoint undone) makes its writes fail where
    /// none at all does not. Those are dropped, each named with SQLite's reason and its definition.
    /// Nothing to blame (a foreign key): nothing dropped.
    private static func dropFailingTriggers(of table: String, in db: Database) throws -> [String] {
        guard try writeFailure(of: table, in: db) != nil else { return [] }
        let triggers = try Row.fetchAll(db, sql: """
            SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? COLLATE NOCASE AND sql IS NOT NULL ORDER BY name
            """, arguments: [table]).map { (name: $0["name"] as String, sql: $0["sql"] as String) }
        func failure(keeping kept: String?) throws -> String? {
            var result: String?
            try db.inSavepoint {
                for trigger in triggers where trigger.name != kept { try db.execute(sql: "DROP TRIGGER \(quoted(trigger.name))") }
                result = try writeFailure(of: table, in: db)
                return .rollback
            }
            return result
        }
        guard try failure(keeping: nil) == nil else { return [] }
        var dropped: [String] = []
        for trigger in triggers {
            guard let reason = try failure(keeping: trigger.name) else { continue }
            try db.execute(sql: "DROP TRIGGER \(quoted(trigger.name))")
            dropped.append("trigger \(trigger.name) (\(reason)), which was: \(trigger.sql)")
        }
        return dropped
    }

    /// Why an insert, an update of every column and a delete on `table` do not compile, or
    /// `nil`: SQLite codes a table's triggers and foreign keys into each statement that fires
    /// them, so one that names a column or table that is gone fails here (prepared, not run).
    private static func writeFailure(of table: String, in db: Database) throws -> String? {
        let assignments = try columns(of: table, in: db).map { "\(quoted($0)) = \(quoted($0))" }.joined(separator: ", ")
        do {
            for sql in [
                "INSERT INTO \(quoted(table)) DEFAULT VALUES",
                "UPDATE \(quoted(table)) SET \(assignments) WHERE 0",
                "DELETE FROM \(quoted(table)) WHERE 0",
            ] {
                _ = try db.makeStatement(sql: sql)
            }
            return nil
        } catch let error as DatabaseError {
            return error.message ?? "\(error.resultCode)"
        }
    }

    /// The tables (not views) that have triggers.
    private static func tablesWithTriggers(in db: Database) throws -> [String] {
        try String.fetchAll(db, sql: """
            SELECT DISTINCT t.tbl_name FROM sqlite_master t JOIN sqlite_master o ON o.type = 'table' AND o.name = t.tbl_name
            WHERE t.type = 'trigger' ORDER BY t.tbl_name
            """)
    }

    private static func columns(of table: String, in db: Database) throws -> [String] {
        try String.fetchAll(db, sql: "SELECT name FROM pragma_table_info(?)", arguments: [table])
    }

    private static func views(in db: Database) throws -> [(name: String, sql: String)] {
        try Row.fetchAll(db, sql: "SELECT name, sql FROM sqlite_master WHERE type = 'view' AND sql IS NOT NULL ORDER BY name")
            .map { (name: $0["name"] as String, sql: $0["sql"] as String) }
    }

    /// Compiles a read of the view, which checks every table and column it names.
    private static func reads(_ view: String, in db: Database) throws {
        _ = try db.makeStatement(sql: "SELECT * FROM \(quoted(view)) LIMIT 0")
    }

    private static func quoted(_ identifier: String) -> String { "\"\(identifier.replacingOccurrences(of: "\"", with: "\"\""))\"" }
}
