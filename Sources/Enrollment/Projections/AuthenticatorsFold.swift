import GRDB
import GRDBSQLite

/// One row of the authenticators table, folded in memory: the same function for an inline
/// update and for a rebuild.
struct AuthenticatorRow: Hashable {
    /// What the app was told about a secret (the active one, or the pending one).
    struct Issued: Hashable {
        var issuer: String?
        var account: String?
        var algorithm: String?
        var digits: Int?
        var period: Int?

        static let none = Issued()
    }

    var user: String
    var status = AuthenticatorStatus.none
    var active = Issued.none
    var replacementPending = false
    var pending = Issued.none
    var pendingExpiresAt: UnixTime?
    var requestedAt: UnixTime?
    var activatedAt: UnixTime?
    var lastRevealedAt: UnixTime?
    var failedAttempts = 0
    var remainingAttempts: Int?
    var lockCount = 0
    var lockedUntil: UnixTime?
    var streamVersion: Int64 = 0
    var updatedAt: UnixTime = 0

    init(user: String) { self.user = user }

    mutating func apply(_ event: EnrollmentEvent, header: EventHeader) {
        let time = header.recordedAt
        streamVersion = header.streamVersion
        updatedAt = time
        switch event {
        case .enrollmentRequested(let issued):
            status = .pending
            active = .none
            replacementPending = false
            pending = Issued(issued)
            pendingExpiresAt = issued.expiresAt
            requestedAt = time
            activatedAt = nil
            // The streak of wrong codes goes on across a new request, as the decider counts it
            // (a new secret must not clear the way to a lock).
        case .secretRegenerated(let issued):
            replacementPending = true
            pending = Issued(issued)
            pendingExpiresAt = issued.expiresAt
            requestedAt = time
        case .authenticatorActivated:
            status = .active
            active = pending
            activatedAt = time
            // On an active row a request time means a replacement issued since (pending, or
            // expired once no longer pending): `status` says so without comparing times, which
            // a regenerate in the activation's second made equal (v4).
            requestedAt = nil
            replacementPending = false
            pending = .none
            pendingExpiresAt = nil
            failedAttempts = 0
            remainingAttempts = nil
            lockCount = 0
            lockedUntil = nil
        case .codeRejected(let rejected):
            failedAttempts = rejected.failedAttempts
            remainingAttempts = rejected.remainingAttempts
        case .pendingSecretExpired(let expired):
            // An expired replacement leaves the active secret in use.
            if !expired.replacement { status = .none }
            replacementPending = false
            pending = .none
            pendingExpiresAt = nil
        case .replacementCancelled:
            // Nothing is left to say about the cancelled secret: status reads a request time on
            // an active row with nothing pending as a recorded expiry of a replacement.
            requestedAt = nil
            replacementPending = false
            pending = .none
            pendingExpiresAt = nil
        case .qrCodeRevealed:
            lastRevealedAt = time
        case .codeRefusedWhileLocked:
            break
        case .confirmationLocked(let locked):
            lockedUntil = locked.until
            lockCount = locked.lockNumber
            failedAttempts = 0
            remainingAttempts = nil
        case .confirmationUnlocked:
            lockedUntil = nil
        case .authenticatorRemoved:
            self = AuthenticatorRow(user: user)
            streamVersion = header.streamVersion
            updatedAt = time
        }
    }

    // MARK: The table's columns

    static let columns = [
        "user_id", "status", "issuer", "account", "algorithm", "digits", "period", "replacement_pending",
        "pending_issuer", "pending_account", "pending_algorithm", "pending_digits", "pending_period",
        "pending_expires_at", "requested_at", "activated_at", "last_revealed_at", "failed_attempts",
        "remaining_attempts", "lock_count", "locked_until", "stream_version", "updated_at",
    ]

    /// Writes a whole row, inserting it or replacing the user's row. (`OR REPLACE` rather than
    /// an upsert's `DO UPDATE`, which makes SQLite keep a statement journal in a temporary file:
    /// 700 extra writes when a rebuild writes 10 000 rows.)
    /// `rows` rows per statement: a flush of thousands of rows runs one statement per
    /// ``rowsPerStatement`` of them, so SQLite starts and ends a statement for each group of
    /// rows, not for each row (a fifth of what it spent per row).
    static func replace(into table: String, rows: Int = 1, in db: Database) throws -> RowWriter {
        if rows == 1, table == servingTable { return try RowWriter(servingReplace, in: db) }
        return try RowWriter(replaceSQL(into: table, rows: rows), in: db)
    }

    private static func replaceSQL(into table: String, rows: Int) -> String {
        "INSERT OR REPLACE INTO \"" + table + "\" (" + columnList + ") VALUES "
            + Array(repeating: "(" + placeholders + ")", count: rows).joined(separator: ", ")
    }

    /// The statements of every command's inline update, on the table readers read, built once
    /// rather than joined for each command, and found by number (``HotStatement``).
    private static let servingTable = AuthenticatorsProjection().name
    private static let servingReplace = HotStatement(replaceSQL(into: servingTable, rows: 1))
    private static let servingLoad = HotStatement(loadSQL(from: servingTable))

    private static func loadSQL(from table: String) -> String {
        "SELECT " + columnList + " FROM \"" + table + "\" WHERE user_id = ?"
    }

    static let rowsPerStatement = 32

    // Joined once: inline updates build their statements' SQL for every command.
    /// Also what readers select, by name rather than `*`: a column dropped by hand is then
    /// SQLite's "no such column" (a ``StoreError/damagedProjection(name:problem:)`` naming the
    /// rebuild), not a row without it that crashes the process where it is decoded.
    /// (Appended by hand: `joined(separator:)` looks up its generic witnesses at run time, a
    /// cost `enroll status` pays once per process.)
    static let columnList = columns.dropFirst().reduce(into: columns[0]) { list, column in list += ", " + column }
    private static let placeholders = Array(repeating: "?", count: columns.count).joined(separator: ", ")

    /// Binds the values of ``columns``, in order.
    func bind(to writer: inout RowWriter) {
        writer.bind(user)
        writer.bind(status.rawValue)
        active.bind(to: &writer)
        writer.bind(replacementPending)
        pending.bind(to: &writer)
        writer.bind(pendingExpiresAt)
        writer.bind(requestedAt)
        writer.bind(activatedAt)
        writer.bind(lastRevealedAt)
        writer.bind(failedAttempts)
        writer.bind(remainingAttempts)
        writer.bind(lockCount)
        writer.bind(lockedUntil)
        writer.bind(streamVersion)
        writer.bind(updatedAt)
    }

    static func load(_ user: String, from table: String, in db: Database) throws -> AuthenticatorRow? {
        // Read in place from the statement with the C API, by position in the order of
        // `columns` (what the SELECT lists): this runs for every inline update.
        let statement = try table == servingTable ? db.statement(servingLoad) : db.cachedStatement(sql: loadSQL(from: table))
        statement.bind(user, at: 1)
        return try RowReader.first(statement, in: db) { stored in AuthenticatorRow(user: user, stored: stored) }
    }

    private init(user: String, stored: RowReader) {
        func issued(from column: Int32) -> Issued {
            Issued(
                issuer: stored.text(column), account: stored.text(column + 1), algorithm: stored.text(column + 2),
                digits: stored.int(column + 3), period: stored.int(column + 4))
        }
        self.init(user: user)
        status = stored.text(1).flatMap(AuthenticatorStatus.init(rawValue:)) ?? .none
        active = issued(from: 2)
        replacementPending = stored.bool(7)
        pending = issued(from: 8)
        pendingExpiresAt = stored.int64(13)
        requestedAt = stored.int64(14)
        activatedAt = stored.int64(15)
        lastRevealedAt = stored.int64(16)
        failedAttempts = stored.int(17) ?? 0
        remainingAttempts = stored.int(18)
        lockCount = stored.int(19) ?? 0
        lockedUntil = stored.int64(20)
        streamVersion = stored.int64(21) ?? 0
        updatedAt = stored.int64(22) ?? 0
    }
}

extension AuthenticatorRow.Issued {
    init(_ issued: SecretIssued) {
        self.init(
            issuer: issued.issuer, account: issued.account, algorithm: issued.parameters.algorithm.rawValue,
            digits: issued.parameters.digits, period: issued.parameters.period)
    }

    func bind(to writer: inout RowWriter) {
        writer.bind(issuer)
        writer.bind(account)
        writer.bind(algorithm)
        writer.bind(digits)
        writer.bind(period)
    }
}

/// The authenticators projection's fold: users' rows in a dictionary, read from the table the
/// first time a user is seen, written back (changed ones only) at each flush.
struct AuthenticatorsFold: ProjectionFold {
    private struct Held {
        var row: AuthenticatorRow
        var changed: Bool

        /// Binds the row where it lies in the dictionary: called through its in-place (`mutating`)
        /// access, where reading `rows.values[index].row` would copy the whole row (and retain its
        /// strings) for each one written.
        mutating func bind(to writer: inout RowWriter) {
            row.bind(to: &writer)
            changed = false
        }
    }

    let table: String
    /// Rows held at most (~350 bytes each): past it the fold flushes and starts afresh, so a
    /// rebuild's memory does not grow with the number of users. The default, 49 152, is the most
    /// a dictionary of 2^16 buckets holds (Swift fills them at most three quarters): 50 000 rows
    /// took 2^17 buckets, twice the memory (45 MB instead of 22).
    let rowLimit: Int
    /// False while every row in the table is one this fold holds (it began on an empty table and
    /// has forgotten nothing): a user seen for the first time then has no row to read.
    private var tableMayHoldUnseenRows: Bool
    /// Keyed by the user id's bytes, as the table is (``BinaryString``).
    private var rows: [BinaryString: Held] = [:]
    /// The user of the last event and where their row is, while that index is valid.
    private var lastUser: (user: BinaryString, index: Dictionary<BinaryString, Held>.Index)?

    /// `expectedRows`: how many users the fold is likely to hold (its rows are made room for).
    init(table: String, tableMayHoldUnseenRows: Bool, rowLimit: Int = 49_152, expectedRows: Int = 0) {
        self.table = table
        self.tableMayHoldUnseenRows = tableMayHoldUnseenRows
        self.rowLimit = rowLimit
        if expectedRows > 0 { rows.reserveCapacity(min(expectedRows + expectedRows / 8, rowLimit)) }
    }

    mutating func apply(_ event: EnrollmentEvent, header: EventHeader, in db: Database) throws {
        let user = BinaryString(header.streamId)
        // A command's events follow one another in the journal: the last user's row is looked
        // up without hashing again.
        if let last = lastUser, last.user == user {
            rows.values[last.index].row.apply(event, header: header)
            rows.values[last.index].changed = true
            return
        }
        if let index = rows.index(forKey: user) {
            rows.values[index].row.apply(event, header: header)
            rows.values[index].changed = true
            lastUser = (user, index)
            return
        }
        lastUser = nil
        if rows.count >= rowLimit {
            try flush(in: db)
            rows.removeAll(keepingCapacity: true)
            tableMayHoldUnseenRows = true
        }
        var row = AuthenticatorRow(user: user.string)
        // A stream's first event: its user had no events before, so no row to read (one a
        // consistent table cannot hold; were one there, the row folded from this event on is
        // what a rebuild writes in its place): a new user's first command reads nothing here.
        if tableMayHoldUnseenRows, header.streamVersion > 1 {
            // A user with earlier events always has a row: one deleted by hand would otherwise
            // come back folded from this event alone (status none, no settings), looking current.
            guard let stored = try AuthenticatorRow.load(user.string, from: table, in: db) else {
                throw StoreError.damagedProjection(
                    name: AuthenticatorsProjection().name, problem: AuthenticatorsProjection.missingRow(user.string, events: header.streamVersion - 1))
            }
            row = stored
        }
        row.apply(event, header: header)
        rows[user] = Held(row: row, changed: true)
    }

    mutating func flush(in db: Database) throws {
        var changed: [(prefix: (UInt64, UInt64), index: Dictionary<BinaryString, Held>.Index)] = []
        var index = rows.startIndex
        while index != rows.endIndex {
            if rows.values[index].changed { changed.append((rows.keys[index].orderPrefix, index)) }
            rows.formIndex(after: &index)
        }
        // In key order: a table built from scratch then fills its B-tree page after page
        // instead of splitting pages all over it (fuller pages, fewer of them to write).
        changed.sort { a, b in a.prefix != b.prefix ? a.prefix < b.prefix : rows.keys[a.index] < rows.keys[b.index] }
        let group = AuthenticatorRow.rowsPerStatement
        var written = 0
        if changed.count >= group {
            var replace = try AuthenticatorRow.replace(into: table, rows: group, in: db)
            while changed.count - written >= group {
                for (_, index) in changed[written..<written + group] { rows.values[index].bind(to: &replace) }
                try replace.writeRow(in: db)
                written += group
            }
        }
        var replace = try AuthenticatorRow.replace(into: table, in: db)
        for (_, index) in changed[written...] {
            rows.values[index].bind(to: &replace)
            try replace.writeRow(in: db)
        }
    }
}
