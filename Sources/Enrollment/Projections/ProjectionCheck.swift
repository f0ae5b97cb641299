import GRDB

/// Whether the stored projections say what the journal says: every projection is folded from
/// the whole journal into a temporary scratch database (the fold inline updates and rebuilds
/// run), and its table is compared row by row with the stored one.
///
/// The hash chain vouches for the journal only. The projections are what `status`, `activity`
/// and the API read, and nothing chains them: a table edited with the sqlite3 shell would be
/// believed. This check is how `enroll verify` finds out. It writes nothing to the database.
public enum ProjectionCheck {
    /// One projection's disagreement with the journal.
    public struct Difference: Sendable {
        public var projection: String
        /// The row's primary key, as `column 'value'` pairs.
        public var key: String
        public enum Kind: String, Sendable { case missing, unexpected, differs }
        public var kind: Kind
        /// For `differs`: each column whose stored value is not the journal's.
        public var columns: [(name: String, stored: String, journal: String)]

        public var description: String {
            switch kind {
            case .missing: return "\(projection): row \(key) is missing (the journal has it)"
            case .unexpected: return "\(projection): row \(key) is not in the journal"
            case .differs:
                let cells = columns.map { "\($0.name) \($0.stored) (the journal says \($0.journal))" }
                return "\(projection): row \(key) differs: " + cells.joined(separator: ", ")
            }
        }
    }

    public struct Report: Sendable {
        /// The projections compared: those whose stored table is of this code's version.
        public var checked: [String]
        /// Projections left out, with why (a table of another version, or none).
        public var skipped: [(name: String, reason: String)]
        /// Projections whose checkpoint says current but whose table is missing or not of the
        /// shape this code builds (dropped or altered by hand), with what is wrong, following "its
        /// table" ("is missing", ``ProjectionTable``): not comparable row by row, and a
        /// disagreement all the same.
        public var damaged: [(name: String, problem: String)] = []
        /// The first differences, in projection and key order.
        public var differences: [Difference]
        /// How many differences there are in all (more than `differences` holds past the limit).
        public var total: Int
        public var agrees: Bool { total == 0 && damaged.isEmpty }
    }

    /// Compares every current projection of `database` with a fold of its journal, reporting
    /// at most `limit` differences (all are counted).
    public static func run(_ database: EnrollmentDatabase, limit: Int = 10) throws -> Report {
        // A private temporary database (SQLite deletes it on close): its pages spill to disk past
        // the page cache, so a journal of many users does not need its projections in memory.
        let scratch = try DatabaseQueue(path: "")
        return try database.read { db in
            var result = Report(checked: [], skipped: [], differences: [], total: 0)
            var folds: [(any Projection, any ProjectionFold)] = []
            let head = try EventJournal.head(in: db)
            try scratch.inDatabase { memory in
                // Without it, past its user cap (196 608) the activity fold found no `events` to look
                // the users it forgot up in, and verify called a sound journal damaged. (A
                // file SQLite cannot attach leaves the fold as it was.)
                try? attachJournal(database.path, to: memory)
                for projection in Projections.all {
                    let stored = try ProjectionCheckpoint.load(projection.name, in: db)
                    // Edited by hand: neither its version nor its position says what it holds.
                    if let damage = stored?.damage {
                        result.damaged.append((projection.name, damage))
                        continue
                    }
                    guard let stored, stored.schemaVersion == projection.schemaVersion else {
                        let tableExists = try db.tableExists(projection.name)
                        let rebuild = "run `rebuild-projections --projection \(projection.name)`"
                        // A newer release's table: rebuilding it here would take it back to this
                        // code's version under the newer readers (a rebuild refuses that).
                        let reason = stored.map { stored in stored.schemaVersion > projection.schemaVersion
                            ? "its table is version \(stored.schemaVersion), written by a newer version of enroll (this code folds version \(projection.schemaVersion)); upgrade enroll to compare it"
                            : "its table is version \(stored.schemaVersion), this code folds version \(projection.schemaVersion); \(rebuild)" }
                            ?? (tableExists
                                ? "it has a table but no checkpoint (deleted by hand?), so what it has folded is unknown; \(rebuild)"
                                : "it has no table; \(rebuild)")
                        result.skipped.append((projection.name, reason))
                        continue
                    }
                    // Behind the head: events were appended by a version of enroll that does not
                    // maintain it (during an upgrade). Not tampering, and not comparable either.
                    // (A checkpoint past the head is the chain's finding: rows deleted at the end.)
                    guard stored.position >= head else {
                        result.skipped.append((projection.name, "it has folded the journal up to position \(stored.position) of \(head) (events appended by another version of enroll); run `rebuild-projections --projection \(projection.name)`"))
                        continue
                    }
                    if let problem = try ProjectionTable.problem(of: projection, table: projection.name, in: db) {
                        result.damaged.append((projection.name, problem))
                        continue
                    }
                    try projection.createTable(named: projection.name, in: memory)
                    folds.append((projection, try projection.makeFold(into: projection.name, after: 0, in: memory)))
                }
                _ = try EventJournal.scan(after: 0, in: db) { event, header in
                    for index in folds.indices { try folds[index].1.apply(event, header: header, in: memory) }
                    return true
                }
                for index in folds.indices { try folds[index].1.flush(in: memory) }
            }
            for (projection, _) in folds {
                result.checked.append(projection.name)
                try scratch.inDatabase { memory in
                    try compare(projection.name, stored: db, journal: memory, limit: limit, into: &result)
                }
            }
            return result
        }
    }

    /// The journal, attached to the scratch database as `journal`: a fold that has forgotten
    /// users past its memory cap (the activity fold, past 196 608 users) looks them up in
    /// `events`, which SQLite then finds there (an unqualified table name is looked up in the
    /// attached databases too; the scratch database has none of that name).
    static func attachJournal(_ path: String, to scratch: Database) throws {
        try scratch.execute(sql: "ATTACH DATABASE ? AS journal", arguments: [path])
    }

    /// Walks both tables in primary-key order side by side.
    private static func compare(_ table: String, stored: Database, journal: Database, limit: Int, into result: inout Report) throws {
        let keyColumns = try journal.primaryKey(table).columns
        let columns = try journal.columns(in: table).map(\.name)
        let names = columns.map { "\"\($0)\"" }.joined(separator: ", ")
        let order = keyColumns.map { "\"\($0)\"" }.joined(separator: ", ")
        let sql = "SELECT \(names) FROM \"\(table)\" ORDER BY \(order)"
        let keyIndexes = keyColumns.compactMap { columns.firstIndex(of: $0) }
        let storedRows = try Row.fetchCursor(stored, sql: sql)
        let journalRows = try Row.fetchCursor(journal, sql: sql)
        func values(_ row: Row?) -> [DatabaseValue]? { row.map { row in columns.indices.map { row[$0] as DatabaseValue } } }
        func key(_ row: [DatabaseValue]) -> [DatabaseValue] { keyIndexes.map { row[$0] } }
        func describe(_ key: [DatabaseValue]) -> String {
            zip(keyColumns, key).map { "\($0) \(show($1))" }.joined(separator: ", ")
        }
        func note(_ difference: Difference) {
            result.total += 1
            if result.differences.count < limit { result.differences.append(difference) }
        }
        var mine = try values(storedRows.next()), theirs = try values(journalRows.next())
        while mine != nil || theirs != nil {
            let order: Int
            switch (mine, theirs) {
            case (let stored?, let folded?): order = compareKeys(key(stored), key(folded))
            case (nil, _): order = 1
            case (_, nil): order = -1
            }
            if order < 0, let stored = mine {
                note(Difference(projection: table, key: describe(key(stored)), kind: .unexpected, columns: []))
                mine = try values(storedRows.next())
            } else if order > 0, let folded = theirs {
                note(Difference(projection: table, key: describe(key(folded)), kind: .missing, columns: []))
                theirs = try values(journalRows.next())
            } else if let stored = mine, let folded = theirs {
                let cells = columns.indices.filter { stored[$0] != folded[$0] }.map { (columns[$0], show(stored[$0]), show(folded[$0])) }
                if !cells.isEmpty { note(Difference(projection: table, key: describe(key(stored)), kind: .differs, columns: cells)) }
                mine = try values(storedRows.next())
                theirs = try values(journalRows.next())
            }
        }
    }

    /// SQLite's order for the key types projections use (text and integers).
    private static func compareKeys(_ a: [DatabaseValue], _ b: [DatabaseValue]) -> Int {
        for (x, y) in zip(a, b) where x != y {
            switch (x.storage, y.storage) {
            case (.int64(let l), .int64(let r)): return l < r ? -1 : 1
            case (.string(let l), .string(let r)): return Array(l.utf8).lexicographicallyPrecedes(Array(r.utf8)) ? -1 : 1
            case (.null, _): return -1
            case (_, .null): return 1
            case (.int64, _), (.double, _): return -1
            default: return 1
            }
        }
        return 0
    }

    private static func show(_ value: DatabaseValue) -> String {
        switch value.storage {
        case .null: "NULL"
        case .int64(let number): String(number)
        case .double(let number): String(number)
        // A value edited in with the sqlite3 shell must not print a line of its own in the report.
        case .string(let text): "'\(TextField.escaped(text))'"
        case .blob(let data): "a blob of \(data.count) bytes"
        }
    }
}
