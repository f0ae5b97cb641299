import GRDB
import OneTimePassword

/// The current state of each user's authenticator, without any secret: what `enroll status`
/// and the API's reads show.
public struct AuthenticatorsProjection: Projection {
    public let name = "authenticators"
    /// v2 added `remaining_attempts` (from `CodeRejected` v2).
    public let schemaVersion = 2

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

    public func apply(_ event: EnrollmentEvent, recorded: RecordedEvent, to table: String, in db: Database) throws {
        let user = recorded.streamId
        let time = recorded.recordedAt
        // One cached UPDATE per event (the row's version and time with the event's own columns);
        // only a user's first event also inserts the row. A rebuild applies a million events:
        // compiling statements again, or a second statement per event, would cost more than the fold.
        func update(_ assignments: String, _ arguments: StatementArguments = []) throws {
            let statement = try db.cachedStatement(sql: "UPDATE \"\(table)\" SET stream_version = ?, updated_at = ?, \(assignments) WHERE user_id = ?")
            let values: StatementArguments = [recorded.streamVersion, time] + arguments + [user]
            try statement.execute(arguments: values)
            if db.changesCount == 0 {
                try db.cachedStatement(sql: "INSERT INTO \"\(table)\" (user_id, status, stream_version, updated_at) VALUES (?, 'none', ?, ?)")
                    .execute(arguments: [user, recorded.streamVersion, time])
                try statement.execute(arguments: values)
            }
        }
        switch event {
        case .enrollmentRequested(let issued):
            try update("""
                status = 'pending', issuer = NULL, account = NULL, algorithm = NULL, digits = NULL, period = NULL,
                replacement_pending = 0, pending_issuer = ?, pending_account = ?, pending_algorithm = ?,
                pending_digits = ?, pending_period = ?, pending_expires_at = ?, requested_at = ?, activated_at = NULL,
                failed_attempts = 0, remaining_attempts = NULL
                """, [issued.issuer, issued.account, issued.parameters.algorithm.rawValue,
                      issued.parameters.digits, issued.parameters.period, issued.expiresAt, time])
        case .secretRegenerated(let issued):
            try update("""
                replacement_pending = 1, pending_issuer = ?, pending_account = ?, pending_algorithm = ?,
                pending_digits = ?, pending_period = ?, pending_expires_at = ?, requested_at = ?
                """, [issued.issuer, issued.account, issued.parameters.algorithm.rawValue,
                      issued.parameters.digits, issued.parameters.period, issued.expiresAt, time])
        case .authenticatorActivated:
            try update("""
                status = 'active', issuer = pending_issuer, account = pending_account, algorithm = pending_algorithm,
                digits = pending_digits, period = pending_period, activated_at = ?, replacement_pending = 0,
                pending_issuer = NULL, pending_account = NULL, pending_algorithm = NULL, pending_digits = NULL,
                pending_period = NULL, pending_expires_at = NULL, failed_attempts = 0, remaining_attempts = NULL,
                lock_count = 0, locked_until = NULL
                """, [time])
        case .codeRejected(let rejected):
            try update("failed_attempts = ?, remaining_attempts = ?", [rejected.failedAttempts, rejected.remainingAttempts])
        case .pendingSecretExpired(let expired):
            let status = expired.replacement ? "status" : "'none'"
            try update("""
                status = \(status), replacement_pending = 0, pending_issuer = NULL, pending_account = NULL,
                pending_algorithm = NULL, pending_digits = NULL, pending_period = NULL, pending_expires_at = NULL
                """)
        case .qrCodeRevealed:
            try update("last_revealed_at = ?", [time])
        case .confirmationLocked(let locked):
            try update("locked_until = ?, lock_count = ?, failed_attempts = 0, remaining_attempts = NULL", [locked.until, locked.lockNumber])
        case .confirmationUnlocked:
            try update("locked_until = NULL")
        case .authenticatorRemoved:
            try update("""
                status = 'none', issuer = NULL, account = NULL, algorithm = NULL, digits = NULL, period = NULL,
                replacement_pending = 0, pending_issuer = NULL, pending_account = NULL, pending_algorithm = NULL,
                pending_digits = NULL, pending_period = NULL, pending_expires_at = NULL, requested_at = NULL,
                activated_at = NULL, last_revealed_at = NULL, failed_attempts = 0, remaining_attempts = NULL,
                lock_count = 0, locked_until = NULL
                """)
        }
    }

    /// One user's row, refusing a stale projection.
    public func read(user: String, in db: Database) throws -> AuthenticatorSummary? {
        try ProjectionStatus.requireCurrent(self, in: db)
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM \"\(name)\" WHERE user_id = ?", arguments: [user]) else { return nil }
        return AuthenticatorSummary(row: row)
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

    init(row: Row) {
        user = row["user_id"]
        status = AuthenticatorStatus(rawValue: row["status"]) ?? .none
        let pending = status == .pending
        issuer = pending ? row["pending_issuer"] : row["issuer"]
        account = pending ? row["pending_account"] : row["account"]
        algorithm = pending ? row["pending_algorithm"] : row["algorithm"]
        digits = pending ? row["pending_digits"] : row["digits"]
        period = pending ? row["pending_period"] : row["period"]
        replacementPending = row["replacement_pending"]
        pendingExpiresAt = row["pending_expires_at"]
        requestedAt = row["requested_at"]
        activatedAt = row["activated_at"]
        lastRevealedAt = row["last_revealed_at"]
        failedAttempts = row["failed_attempts"]
        lockedUntil = row["locked_until"]
        remainingAttempts = row["remaining_attempts"]
        streamVersion = row["stream_version"]
        updatedAt = row["updated_at"]
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
