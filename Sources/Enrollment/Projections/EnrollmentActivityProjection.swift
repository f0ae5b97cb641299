import GRDB

/// What auditors count: per UTC day and issuer, how many enrollments were requested,
/// replacements issued, secrets confirmed, pending secrets abandoned (never confirmed: expired,
/// discarded by a new request or regeneration, or by a removal), wrong or reused codes, locks
/// and removals.
///
/// Events that carry no issuer (a code, an expiry, a lock, a removal) are counted under the
/// issuer of the secret they concern: a code under the secret it was checked against, a lock
/// under the secret being confirmed, an expiry under the expired secret, a removal under the
/// active secret (the pending one when nothing is active). The fold remembers each user's
/// secrets, or reads them from the journal, so the count is the same however and whenever the
/// projection is built. The fold is ``EnrollmentActivityFold``.
public struct EnrollmentActivityProjection: Projection {
    public let name = "enrollment_activity"
    /// 2: issuer-less events count under the secret they concern (1: under the user's latest
    /// issued secret), and a pending secret discarded by a request, regeneration or removal
    /// counts as abandoned.
    public let schemaVersion = 2

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

    /// The UTC calendar day of a Unix time, `YYYY-MM-DD` (civil-from-days, proleptic Gregorian).
    public static func day(of time: UnixTime) -> String {
        day(number: dayNumber(of: time))
    }

    /// Days since 1970-01-01 (UTC) of a Unix time.
    static func dayNumber(of time: UnixTime) -> Int64 {
        // Rounded down, without the subtraction that overflows near Int64.min.
        let (days, rest) = time.quotientAndRemainder(dividingBy: 86_400)
        return rest < 0 ? days - 1 : days
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
        return try Row.fetchAll(db, sql: "SELECT day, issuer, \(EnrollmentActivityFold.Column.allCases.map(\.name).joined(separator: ", ")) FROM \"\(name)\" \(filter) ORDER BY day, issuer", arguments: arguments).map { try ActivityCount(row: $0) }
    }
}

/// One day and issuer of ``EnrollmentActivityProjection``.
public struct ActivityCount: Sendable, Hashable, Codable {
    public var day: String
    public var issuer: String
    public var requested: Int
    public var regenerated: Int
    public var confirmed: Int
    /// Pending secrets never confirmed: expired, or discarded by a new request, a new
    /// regeneration or a removal.
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

    /// A row of the table (see ``AuthenticatorSummary/init(row:)``).
    init(row: Row) throws {
        func value<Value: DatabaseValueConvertible>(_ column: String) throws -> Value {
            try row.value(column, of: EnrollmentActivityProjection().name)
        }
        day = try value("day")
        issuer = try value("issuer")
        requested = try value("requested")
        regenerated = try value("regenerated")
        confirmed = try value("confirmed")
        abandoned = try value("abandoned")
        failedCodes = try value("failed_codes")
        locks = try value("locks")
        removed = try value("removed")
    }
}
