import GRDB

/// The enrollment_activity projection's fold: counts added up in memory per day and issuer and
/// added to the table's rows at each flush; each user's latest issuer kept in memory, so the
/// journal is asked only about users this fold has not seen issue a secret.
struct EnrollmentActivityFold: ProjectionFold {
    /// Days × issuers held at most before the counts are added to the table.
    static let countLimit = 10_000

    /// The counted columns, in the table's order.
    enum Column: Int, CaseIterable {
        case requested, regenerated, confirmed, abandoned, failedCodes, locks, removed

        var name: String {
            switch self {
            case .requested: "requested"
            case .regenerated: "regenerated"
            case .confirmed: "confirmed"
            case .abandoned: "abandoned"
            case .failedCodes: "failed_codes"
            case .locks: "locks"
            case .removed: "removed"
            }
        }
    }

    /// After `INSERT INTO "table"`: a row of counts, added to the day and issuer's row if it
    /// exists. Built once: inline updates run it for every command.
    private static let addCounts: String = {
        let names = Column.allCases.map(\.name)
        return """
             (day, issuer, \(names.joined(separator: ", "))) VALUES (?, ?, \(names.map { _ in "?" }.joined(separator: ", ")))
            ON CONFLICT(day, issuer) DO UPDATE SET \(names.map { "\($0) = \($0) + excluded.\($0)" }.joined(separator: ", "))
            """
    }()

    /// Issuers and users keyed by their bytes, as the table and the journal are (``BinaryString``).
    private struct Key: Hashable {
        var day: Int64
        var issuer: BinaryString
    }

    let table: String
    /// Users whose latest issuer is held at most: past it the fold forgets them all (and asks
    /// the journal again), so a rebuild's memory does not grow with the number of users.
    let userLimit: Int
    /// The fold began at the journal's first event, and has forgotten no user: a user it has
    /// not seen issue a secret has none.
    private var knowsEveryIssuer: Bool
    private var latestIssuers: [BinaryString: String] = [:]
    /// Counts not yet added to the table.
    private var counts: [Key: [Int]] = [:]

    init(table: String, knowsEveryIssuer: Bool, userLimit: Int = 200_000) {
        self.table = table
        self.knowsEveryIssuer = knowsEveryIssuer
        self.userLimit = userLimit
    }

    mutating func apply(_ event: EnrollmentEvent, header: EventHeader, in db: Database) throws {
        let column: Column
        var issuer: String?
        switch event {
        case .enrollmentRequested(let issued):
            column = .requested
            issuer = issued.issuer
        case .secretRegenerated(let issued):
            column = .regenerated
            issuer = issued.issuer
        case .authenticatorActivated: column = .confirmed
        case .pendingSecretExpired: column = .abandoned
        case .codeRejected: column = .failedCodes
        case .confirmationLocked: column = .locks
        case .authenticatorRemoved: column = .removed
        case .qrCodeRevealed, .confirmationUnlocked: return
        }
        let resolved = try issuer ?? latestIssuer(of: header, in: db)
        if issuer != nil { remember(resolved, of: header.streamId) }
        let key = Key(day: EnrollmentActivityProjection.dayNumber(of: header.recordedAt), issuer: BinaryString(resolved))
        counts[key, default: Array(repeating: 0, count: Column.allCases.count)][column.rawValue] += 1
        if counts.count >= Self.countLimit { try flush(in: db) }
    }

    /// The issuer of the user's latest secret issued before this event.
    private mutating func latestIssuer(of header: EventHeader, in db: Database) throws -> String {
        if let known = latestIssuers[BinaryString(header.streamId)] { return known }
        let found = knowsEveryIssuer
            ? EnrollmentActivityProjection.unknownIssuer
            : try EnrollmentActivityProjection.latestIssuer(of: header.streamId, before: header.streamVersion, in: db)
        remember(found, of: header.streamId)
        return found
    }

    private mutating func remember(_ issuer: String, of user: String) {
        let user = BinaryString(user)
        if latestIssuers.count >= userLimit, latestIssuers[user] == nil {
            latestIssuers.removeAll(keepingCapacity: true)
            knowsEveryIssuer = false
        }
        latestIssuers[user] = issuer
    }

    mutating func flush(in db: Database) throws {
        guard !counts.isEmpty else { return }
        var add = try RowWriter("INSERT INTO \"" + table + "\"" + Self.addCounts, in: db)
        for (key, added) in counts {
            add.bind(EnrollmentActivityProjection.day(number: key.day))
            add.bind(key.issuer.string)
            for count in added { add.bind(count) }
            try add.writeRow(in: db)
        }
        counts.removeAll(keepingCapacity: true)
    }
}
