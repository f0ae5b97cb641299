import GRDB

/// The enrollment_activity projection's fold: counts added up in memory per day and issuer and
/// added to the table's rows at each flush. Events that carry no issuer count under the issuer
/// of the secret they concern, so the fold keeps, per user, the issuers of the active and of the
/// pending secret (``UserSecrets``); the journal is asked only about users this fold has not
/// followed from their start.
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
    /// Users whose secrets are held at most: past it the fold forgets them all (and asks the
    /// journal again), so a rebuild's memory does not grow with the number of users. The
    /// default, 196 608, fills a dictionary of 2^18 buckets as far as Swift fills one (three
    /// quarters); 200 000 took 2^19, twice the memory.
    let userLimit: Int
    /// The fold began at the journal's first event, and has forgotten no user: a user it has
    /// not seen has no secret.
    private var knowsEveryIssuer: Bool
    private var users: [BinaryString: UserSecrets] = [:]
    /// Counts not yet added to the table.
    private var counts: [Key: [Int]] = [:]

    init(table: String, knowsEveryIssuer: Bool, userLimit: Int = 196_608) {
        self.table = table
        self.knowsEveryIssuer = knowsEveryIssuer
        self.userLimit = userLimit
    }

    mutating func apply(_ event: EnrollmentEvent, header: EventHeader, in db: Database) throws {
        if case .qrCodeRevealed = event { return }
        if case .confirmationUnlocked = event { return }
        let user = BinaryString(header.streamId)
        var secrets = try secrets(of: user, header: header, in: db)
        let day = EnrollmentActivityProjection.dayNumber(of: header.recordedAt)
        for (column, issuer) in secrets.apply(event) {
            let key = Key(day: day, issuer: BinaryString(issuer ?? EnrollmentActivityProjection.unknownIssuer))
            counts[key, default: Array(repeating: 0, count: Column.allCases.count)][column.rawValue] += 1
        }
        remember(secrets, of: user)
        if counts.count >= Self.countLimit { try flush(in: db) }
    }

    /// The user's secrets before this event: remembered, or none for a user never seen when
    /// the fold follows every user from the journal's start, or else read from the journal.
    private func secrets(of user: BinaryString, header: EventHeader, in db: Database) throws -> UserSecrets {
        if let known = users[user] { return known }
        if knowsEveryIssuer { return UserSecrets() }
        return try UserSecrets(of: header.streamId, before: header.streamVersion, in: db)
    }

    /// The handler's state of a user before this fold's first event of theirs: the issuers of
    /// their secrets, without reading the journal back (``UserSecrets/init(of:before:in:)``
    /// folds the same events the same way). The first state given for a user counts.
    mutating func know(_ state: AuthenticatorState, of user: String) {
        let key = BinaryString(user)
        guard users[key] == nil else { return }
        remember(UserSecrets(active: state.active?.issuer, pending: state.pending?.credential.issuer), of: key)
    }

    private mutating func remember(_ secrets: UserSecrets, of user: BinaryString) {
        if users.count >= userLimit, users[user] == nil {
            users.removeAll(keepingCapacity: true)
            knowsEveryIssuer = false
        }
        users[user] = secrets
    }

    /// The statement of every command's inline update, on the table readers read, built once.
    private static let servingTable = EnrollmentActivityProjection().name
    private static let servingAdd = HotStatement("INSERT INTO \"" + servingTable + "\"" + addCounts)

    mutating func flush(in db: Database) throws {
        guard !counts.isEmpty else { return }
        var add = try table == Self.servingTable ? RowWriter(Self.servingAdd, in: db) : RowWriter("INSERT INTO \"" + table + "\"" + Self.addCounts, in: db)
        for (key, added) in counts {
            add.bind(EnrollmentActivityProjection.day(number: key.day))
            add.bind(key.issuer.string)
            for count in added { add.bind(count) }
            try add.writeRow(in: db)
        }
        counts.removeAll(keepingCapacity: true)
    }
}

/// The issuers of a user's active and pending secrets, as far as activity counts need them: an
/// event without an issuer counts under the secret it concerns.
struct UserSecrets: Hashable {
    var active: String?
    var pending: String?

    init(active: String? = nil, pending: String? = nil) {
        (self.active, self.pending) = (active, pending)
    }

    /// Folds one event in; returns what it counts, under which issuer (`nil`: unknown). As
    /// ``AuthenticatorState/evolve(_:)`` does, and as ``EnrollmentDecider`` decides:
    /// - a request or a regeneration issues a pending secret, and discards the one still
    ///   pending (a request while only a first secret is pending, a regeneration while a
    ///   replacement is pending): that one counts as abandoned, under its own issuer;
    /// - a confirmation activates the pending secret; an expiry drops it (abandoned);
    /// - a code, refused while locked too, counts under the secret it was typed for (its
    ///   `target`), a lock under the one being confirmed (the pending one, else the active one: the decider records an
    ///   expiry before anything else, so a pending secret here has not expired);
    /// - a removal counts under the active secret (the pending one when nothing is active), and
    ///   the pending secret it discards, never confirmed, counts as abandoned too; one that only
    ///   forgets a first secret that expired counts nothing.
    mutating func apply(_ event: EnrollmentEvent) -> [(EnrollmentActivityFold.Column, String?)] {
        switch event {
        case .enrollmentRequested(let issued):
            defer { (active, pending) = (nil, issued.issuer) }
            return discardingPending() + [(.requested, issued.issuer)]
        case .secretRegenerated(let issued):
            defer { pending = issued.issuer }
            return discardingPending() + [(.regenerated, issued.issuer)]
        case .authenticatorActivated:
            defer { if let pending { (active, self.pending) = (pending, nil) } }
            return [(.confirmed, pending ?? active)]
        case .pendingSecretExpired, .replacementCancelled:
            defer { pending = nil }
            return [(.abandoned, pending)]
        case .codeRejected(let rejected):
            return [(.failedCodes, issuer(of: rejected.target))]
        case .codeRefusedWhileLocked(let refused):
            return [(.failedCodes, issuer(of: refused.target))]
        case .confirmationLocked:
            return [(.locks, pending ?? active)]
        case .authenticatorRemoved:
            defer { (active, pending) = (nil, nil) }
            // A removal after a first secret expired (already counted as abandoned) removes
            // no authenticator: it only forgets that secret.
            guard active != nil || pending != nil else { return [] }
            return [(.removed, active ?? pending)] + discardingPending()
        case .qrCodeRevealed, .confirmationUnlocked:
            return []
        }
    }

    /// The issuer a code counts under: the secret it was typed for, else the other one.
    private func issuer(of target: SecretRole) -> String? {
        target == .pending ? pending ?? active : active ?? pending
    }

    private func discardingPending() -> [(EnrollmentActivityFold.Column, String?)] {
        pending.map { [(.abandoned, $0)] } ?? []
    }

    /// The user's secrets before stream version `version`, from the journal: walks the user's
    /// issues, confirmations, expiries, cancellations and removals back from there. The latest of them says
    /// what is pending; the active secret is the one the latest confirmation activated (the
    /// latest secret issued before it), unless a removal or a new request came after it.
    init(of stream: String, before version: Int64, in db: Database) throws {
        self.init()
        let rows = try Row.fetchCursor(db.cachedStatement(sql: """
            SELECT type, json_extract(data, '$.issuer') FROM events
            WHERE stream_id = ? AND stream_version < ?
              AND type IN ('EnrollmentRequested', 'SecretRegenerated', 'AuthenticatorActivated', 'PendingSecretExpired', 'ReplacementCancelled', 'AuthenticatorRemoved')
            ORDER BY stream_version DESC
            """), arguments: [stream, version])
        var pendingKnown = false
        /// A confirmation was seen (walking back): the next secret issued is the active one.
        var activated = false
        while let row = try rows.next() {
            let type: String = row[0]
            let issuer: String? = row[1]
            let issues = type == EventType.enrollmentRequested.rawValue || type == EventType.secretRegenerated.rawValue
            if !pendingKnown {
                pendingKnown = true
                if issues { pending = issuer ?? EnrollmentActivityProjection.unknownIssuer }
            }
            if activated && issues {
                active = issuer ?? EnrollmentActivityProjection.unknownIssuer
                return
            }
            switch type {
            case EventType.authenticatorActivated.rawValue: activated = true
            // Nothing was active before a removal or a first request.
            case EventType.authenticatorRemoved.rawValue, EventType.enrollmentRequested.rawValue: return
            default: break
            }
        }
    }
}
