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
    /// triggers that make them fail found (``dropFailingTriggers(on:in:)``), dropped and named.
    /// If the projection's own writes still fail (a foreign key of another table naming a column
    /// that is gone), the swap is refused: it would stop every command. So is a foreign key of
    /// another table to the projection at all: dropping the old table deletes its rows first,
    /// which would delete (`ON DELETE CASCADE`) or refuse the other table's. A view that no longer
    /// reads is named and left as it is, as is each column of the operator's own.
    static func swap(_ name: String, shadow: String, in db: Database) throws -> OperatorObjects {
        if let child = try String.fetchOne(db, sql: """
            SELECT m.name FROM sqlite_master m, pragma_foreign_key_list(m.name) k
            WHERE m.type = 'table' AND k."table" = ? COLLATE NOCASE AND m.name <> ? COLLATE NOCASE ORDER BY m.name LIMIT 1
            """, arguments: [name, shadow]) {
            throw StoreError.projectionUnwritable(
                name: name,
                reason: "the table \(child) has a foreign key to it, and replacing the table would delete its rows (ON DELETE CASCADE) or be refused; recreate \(child) without that foreign key (a projection's rows are rebuilt, not kept)")
        }
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
        kept.notRestored += try dropFailingTriggers(on: writable, in: db)
        if writable.contains(where: { $0.caseInsensitiveCompare(name) == .orderedSame }), let failure = try writeFailure(of: name, in: db) {
            throw StoreError.projectionUnwritable(
                name: name,
                reason: "its writes would fail (\(failure)), though no one trigger is to blame; adapt what names the table")
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

    /// Of `tables` (whose writes compiled before the swap), those whose writes fail now have the
    /// triggers to blame dropped, each named with SQLite's reason and its definition. Each
    /// trigger on them is judged alone, with every other trigger of the database dropped for the
    /// test (in a savepoint undone): a good trigger whose writes set off a broken one elsewhere is
    /// not to blame. A table whose writes fail with no trigger at all (a foreign key) has none
    /// to blame.
    private static func dropFailingTriggers(on tables: [String], in db: Database) throws -> [String] {
        let failing = try tables.filter { try writeFailure(of: $0, in: db) != nil }
        guard !failing.isEmpty else { return [] }
        let triggers = try Row.fetchAll(db, sql: "SELECT name, tbl_name, sql FROM sqlite_master WHERE type = 'trigger' AND sql IS NOT NULL ORDER BY name")
            .map { (name: $0["name"] as String, table: $0["tbl_name"] as String, sql: $0["sql"] as String) }
        var culprits: [(name: String, sql: String, reason: String)] = []
        try db.inSavepoint {
            for trigger in triggers { try db.execute(sql: "DROP TRIGGER \(trigger.name.quotedDatabaseIdentifier)") }
            let judged = try failing.filter { try writeFailure(of: $0, in: db) == nil }
            for trigger in triggers where judged.contains(where: { $0.caseInsensitiveCompare(trigger.table) == .orderedSame }) {
                try db.inSavepoint {
                    try db.execute(sql: trigger.sql)
                    if let reason = try writeFailure(of: trigger.table, in: db) { culprits.append((trigger.name, trigger.sql, reason)) }
                    return .rollback
                }
            }
            return .rollback
        }
        for culprit in culprits { try db.execute(sql: "DROP TRIGGER \(culprit.name.quotedDatabaseIdentifier)") }
        return culprits.map { "trigger \($0.name) (\($0.reason)), which was: \($0.sql)" }
    }

    /// Why an insert, an update of every column and a delete on `table` do not compile, or
    /// `nil`: SQLite codes a table's triggers and foreign keys into each statement that fires
    /// them, so one that names a column or table that is gone fails here (prepared, not run).
    private static func writeFailure(of table: String, in db: Database) throws -> String? {
        let assignments = try columns(of: table, in: db).map { "\($0.quotedDatabaseIdentifier) = \($0.quotedDatabaseIdentifier)" }.joined(separator: ", ")
        do {
            for sql in [
                "INSERT INTO \(table.quotedDatabaseIdentifier) DEFAULT VALUES",
                "UPDATE \(table.quotedDatabaseIdentifier) SET \(assignments) WHERE 0",
                "DELETE FROM \(table.quotedDatabaseIdentifier) WHERE 0",
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
        _ = try db.makeStatement(sql: "SELECT * FROM \(view.quotedDatabaseIdentifier) LIMIT 0")
    }
}
