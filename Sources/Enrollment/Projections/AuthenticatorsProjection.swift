import GRDB
import OneTimePassword

/// The current state of each user's authenticator, without any secret: what `enroll status`
/// and the API's reads show. The fold is ``AuthenticatorsFold`` (over ``AuthenticatorRow``).
public struct AuthenticatorsProjection: Projection {
    public let name = "authenticators"
    /// v2 added `remaining_attempts` (from `CodeRejected` v2). v3: a new request keeps the
    /// streak of wrong codes (`failed_attempts`, `remaining_attempts`), as the decider does;
    /// v2 cleared it, so `status` said 5 attempts were left where the next wrong code said 3.
    /// v4: an activation clears `requested_at`, so that on an active row it means a replacement
    /// was issued since; v3 kept the activated secret's, and `status` told a replacement's
    /// recorded expiry by a request time later than the activation, which missed a regenerate
    /// in the activation's own second.
    public let schemaVersion = 4

    public init() {}

    public func createTable(named table: String, in db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE "\(table)" (
                user_id TEXT PRIMARY KEY,
                status TEXT NOT NULL,
                issuer TEXT,
                account TEXT,
                algorithm TEXT,
                digits INTEGER,
                period INTEGER,
                replacement_pending INTEGER NOT NULL DEFAULT 0,
                pending_issuer TEXT,
                pending_account TEXT,
                pending_algorithm TEXT,
                pending_digits INTEGER,
                pending_period INTEGER,
                pending_expires_at INTEGER,
                requested_at INTEGER,
                activated_at INTEGER,
                last_revealed_at INTEGER,
                failed_attempts INTEGER NOT NULL DEFAULT 0,
                remaining_attempts INTEGER,
                lock_count INTEGER NOT NULL DEFAULT 0,
                locked_until INTEGER,
                stream_version INTEGER NOT NULL,
                updated_at INTEGER NOT NULL
            ) WITHOUT ROWID
            """)
    }

    public func makeFold(into table: String, after position: Int64, in db: Database) throws -> any ProjectionFold {
        // A rebuild into a shadow table from the start folds about as many users as the table it
        // replaces holds: the fold's rows are made room for at once, not grown (and every held
        // row hashed again) a dozen times on the way to 10 000 users. A hint only: a table that
        // cannot be counted (missing, damaged) leaves it at nothing.
        let expectedRows = table != name && position == 0 ? (try? Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \"\(name)\"")) ?? 0 : 0
        return AuthenticatorsFold(
            table: table,
            tableMayHoldUnseenRows: try position > 0 || Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM \"\(table)\")") == true,
            expectedRows: expectedRows)
    }

    /// Pending secrets (first ones and replacements) past their expiry that no command has
    /// recorded as expired yet, which the projection still holds as pending: what `activity`'s
    /// "abandoned" cannot count until a later command records the expiry. Counted per UTC day
    /// of the expiry and issuer (the pending secret's), within the days given (`nil`: open).
    /// Refuses a projection that cannot be read (stale, lagging, damaged, or written by a newer
    /// version), as every read of it does: counts without these would be silently short.
    public func unrecordedExpiries(
        before now: UnixTime, from firstDay: String? = nil, through lastDay: String? = nil, issuer: String? = nil, in db: Database
    ) throws -> [(day: String, issuer: String, count: Int)] {
        try ProjectionStatus.requireCurrent(self, in: db)
        var sql = """
            SELECT date(pending_expires_at, 'unixepoch') AS day, COALESCE(pending_issuer, issuer, '') AS expired_issuer, COUNT(*)
            FROM "\(name)" WHERE pending_expires_at IS NOT NULL AND pending_expires_at <= ?
            """
        var arguments: StatementArguments = [now]
        if let firstDay { sql += " AND date(pending_expires_at, 'unixepoch') >= ?"; arguments += [firstDay] }
        if let lastDay { sql += " AND date(pending_expires_at, 'unixepoch') <= ?"; arguments += [lastDay] }
        if let issuer { sql += " AND COALESCE(pending_issuer, issuer) = ?"; arguments += [issuer] }
        sql += " GROUP BY day, expired_issuer ORDER BY day, expired_issuer"
        return try Row.fetchAll(db, sql: sql, arguments: arguments).map { row in
            (day: try row.value("day", of: name), issuer: try row.value("expired_issuer", of: name), count: try row.value("COUNT(*)", of: name))
        }
    }

    /// The problem of a table without the row of a user who has `events` events in the journal.
    static func missingRow(_ user: String, events: Int64) -> String {
        "has no row for \(TextField.quoted(user)), who has \(events) event\(events == 1 ? "" : "s") in the journal"
    }

    /// One user's row, refusing a stale projection, or one that lacks the row of a user the
    /// journal holds.
    public func read(user: String, in db: Database) throws -> AuthenticatorSummary? {
        try ProjectionStatus.requireCurrent(self, in: db)
        guard let row = try Row.fetchOne(db, sql: "SELECT \(AuthenticatorRow.columnList) FROM \"\(name)\" WHERE user_id = ?", arguments: [user]) else {
            // A user with events always has a row: one deleted by hand must not read as "none".
            let events = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events WHERE stream_id = ?", arguments: [user]) ?? 0
            if events > 0 { throw StoreError.damagedProjection(name: name, problem: Self.missingRow(user, events: Int64(events))) }
            return nil
        }
        return try AuthenticatorSummary(row: row)
    }
}

/// What the authenticators projection knows of one user (never a secret).
public struct AuthenticatorSummary: Sendable, Hashable, Codable {
    public var user: String
    public var status: AuthenticatorStatus
    public var issuer: String?
    public var account: String?
    public var algorithm: String?
    public var digits: Int?
    public var period: Int?
    public var replacementPending: Bool
    public var pendingExpiresAt: UnixTime?
    public var requestedAt: UnixTime?
    public var activatedAt: UnixTime?
    public var lastRevealedAt: UnixTime?
    public var failedAttempts: Int
    public var lockedUntil: UnixTime?
    /// Wrong codes left before a lock, after the latest wrong code (`nil`: none since the last reset).
    public var remainingAttempts: Int?
    public var streamVersion: Int64
    public var updatedAt: UnixTime
    /// While a replacement awaits its code (`replacementPending`): its issuer, account and
    /// settings, which differ from the active secret's when the regenerate named others, and
    /// which the next confirm checks (its digits above all).
    public var replacement: Settings?

    public struct Settings: Sendable, Hashable, Codable {
        public var issuer: String?
        public var account: String?
        public var algorithm: String?
        public var digits: Int?
        public var period: Int?
    }

    /// A row of the table. A value of another type than the column's, which only an edit with
    /// another tool can store, is a damaged projection naming the column (GRDB's subscripts
    /// would trap on it).
    init(row: Row) throws {
        func value<Value: DatabaseValueConvertible>(_ column: String) throws -> Value {
            try row.value(column, of: AuthenticatorsProjection().name)
        }
        user = try value("user_id")
        let statusText: String = try value("status")
        status = AuthenticatorStatus(rawValue: statusText) ?? .none
        let pending = status == .pending
        issuer = try value(pending ? "pending_issuer" : "issuer")
        account = try value(pending ? "pending_account" : "account")
        algorithm = try value(pending ? "pending_algorithm" : "algorithm")
        digits = try value(pending ? "pending_digits" : "digits")
        period = try value(pending ? "pending_period" : "period")
        replacementPending = try value("replacement_pending")
        pendingExpiresAt = try value("pending_expires_at")
        requestedAt = try value("requested_at")
        activatedAt = try value("activated_at")
        lastRevealedAt = try value("last_revealed_at")
        failedAttempts = try value("failed_attempts")
        lockedUntil = try value("locked_until")
        remainingAttempts = try value("remaining_attempts")
        streamVersion = try value("stream_version")
        updatedAt = try value("updated_at")
        if replacementPending {
            replacement = Settings(
                issuer: try value("pending_issuer"), account: try value("pending_account"), algorithm: try value("pending_algorithm"),
                digits: try value("pending_digits"), period: try value("pending_period"))
        }
    }

    public static func none(user: String) -> AuthenticatorSummary {
        AuthenticatorSummary(user: user)
    }

    private init(user: String) {
        self.user = user
        status = .none
        replacementPending = false
        failedAttempts = 0
        streamVersion = 0
        updatedAt = 0
    }
}

/// The row as of `now`, as ``AuthenticatorState/status(at:)`` says the state: the projection
/// still holds a pending secret past its expiry as pending until a command records the expiry.
extension AuthenticatorSummary {
    /// Whether the pending secret (a first one or a replacement) is past its expiry at `now`.
    public func pendingPastExpiry(at now: UnixTime) -> Bool {
        pendingExpiresAt.map { !PendingCredential.isOpen(expiresAt: $0, at: now) } ?? false
    }

    /// ``status`` as of `now`: a first secret past its lifetime is gone.
    public func status(at now: UnixTime) -> AuthenticatorStatus {
        status == .pending && !replacementPending && pendingPastExpiry(at: now) ? .none : status
    }

    /// Whether a replacement still awaits its code at `now`.
    public func replacementPending(at now: UnixTime) -> Bool {
        replacementPending && !pendingPastExpiry(at: now)
    }
}
