import GRDB

/// What auditors count: per UTC day and issuer, how many enrollments were requested,
/// replacements issued, secrets confirmed, pending secrets abandoned (expired unconfirmed),
/// wrong or reused codes, locks and removals.
///
/// Events that carry no issuer (a code, an expiry, a lock, a removal) are counted under the
/// issuer of the user's latest secret issued before the event (remembered by the fold, or
/// looked up in the journal), so the count is the same however and whenever the projection is
/// built. The fold is ``EnrollmentActivityFold``.
public struct EnrollmentActivityProjection: Projection {
    public let name = "enrollment_activity"
    public let schemaVersion = 1

    public init() {}

    public func createTable(named table: String, in db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE "\(table)" (
                day TEXT NOT NULL,
                issuer TEXT NOT NULL,
                requested INTEGER NOT NULL DEFAULT 0,
                regenerated INTEGER NOT NULL DEFAULT 0,
                confirmed INTEGER NOT NULL DEFAULT 0,
                abandoned INTEGER NOT NULL DEFAULT 0,
                failed_codes INTEGER NOT NULL DEFAULT 0,
                locks INTEGER NOT NULL DEFAULT 0,
                removed INTEGER NOT NULL DEFAULT 0,
                PRIMARY KEY (day, issuer)
            ) WITHOUT ROWID
            """)
    }

    public func makeFold(into table: String, after position: Int64, in db: Database) throws -> any ProjectionFold {
        EnrollmentActivityFold(table: table, knowsEveryIssuer: position == 0)
    }

    static let unknownIssuer = "(unknown)"

    /// The issuer of the stream's latest secret issued before `version`, from the journal.
    static func latestIssuer(of stream: String, before version: Int64, in db: Database) throws -> String {
        try String.fetchOne(db.cachedStatement(sql: """
            SELECT json_extract(data, '$.issuer') FROM events
            WHERE stream_id = ? AND stream_version < ? AND type IN ('EnrollmentRequested', 'SecretRegenerated')
            ORDER BY stream_version DESC LIMIT 1
            """), arguments: [stream, version]) ?? unknownIssuer
    }

    /// The UTC calendar day of a Unix time, `YYYY-MM-DD` (civil-from-days, proleptic Gregorian).
    public static func day(of time: UnixTime) -> String {
        day(number: dayNumber(of: time))
    }

    /// Days since 1970-01-01 (UTC) of a Unix time.
    static func dayNumber(of time: UnixTime) -> Int64 {
        time >= 0 ? time / 86_400 : (time - 86_399) / 86_400
    }

    /// `YYYY-MM-DD` of a day counted from 1970-01-01.
    static func day(number days: Int64) -> String {
        let date = Timestamps.civilDate(day: days)
        return "\(Timestamps.zeroPadded(date.year, 4))-\(Timestamps.zeroPadded(date.month, 2))-\(Timestamps.zeroPadded(date.day, 2))"
    }

    /// The counts between two days (inclusive, `YYYY-MM-DD`), refusing a stale projection.
    public func read(from firstDay: String? = nil, through lastDay: String? = nil, issuer: String? = nil, in db: Database) throws -> [ActivityCount] {
        try ProjectionStatus.requireCurrent(self, in: db)
        var conditions: [String] = []
        var arguments: StatementArguments = []
        if let firstDay { conditions.append("day >= ?"); arguments += [firstDay] }
        if let lastDay { conditions.append("day <= ?"); arguments += [lastDay] }
        if let issuer { conditions.append("issuer = ?"); arguments += [issuer] }
        let filter = conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND ")
        return try Row.fetchAll(db, sql: "SELECT * FROM \"\(name)\" \(filter) ORDER BY day, issuer", arguments: arguments).map(ActivityCount.init(row:))
    }
}

/// One day and issuer of ``EnrollmentActivityProjection``.
public struct ActivityCount: Sendable, Hashable, Codable {
    public var day: String
    public var issuer: String
    public var requested: Int
    public var regenerated: Int
    public var confirmed: Int
    /// Pending secrets that expired unconfirmed.
    public var abandoned: Int
    /// Wrong or reused codes.
    public var failedCodes: Int
    public var locks: Int
    public var removed: Int
    /// Pending secrets that expired unconfirmed on this day and that no command has recorded
    /// yet (not a column of the projection: ``AuthenticatorsProjection/unrecordedExpiries(before:from:through:issuer:in:)``).
    /// Once a command records one, it counts in ``abandoned`` on that command's day.
    public var unrecordedExpiries = 0

    /// A day and issuer with nothing counted yet.
    public init(day: String, issuer: String) {
        (self.day, self.issuer) = (day, issuer)
        (requested, regenerated, confirmed, abandoned, failedCodes, locks, removed) = (0, 0, 0, 0, 0, 0, 0)
    }

    init(row: Row) {
        day = row["day"]
        issuer = row["issuer"]
        requested = row["requested"]
        regenerated = row["regenerated"]
        confirmed = row["confirmed"]
        abandoned = row["abandoned"]
        failedCodes = row["failed_codes"]
        locks = row["locks"]
        removed = row["removed"]
    }
}
