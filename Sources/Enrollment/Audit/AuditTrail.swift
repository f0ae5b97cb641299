import Foundation
import GRDB

/// Which events an audit reads. Every field narrows; the default reads the whole journal.
public struct AuditFilter: Sendable, Hashable {
    /// Only events recorded at or after this time.
    public var since: UnixTime?
    /// Only events recorded before this time.
    public var until: UnixTime?
    public var user: String?
    /// Only events recorded with this actor: who acted (the user, an operator's `--actor`, or
    /// `(system)` for expiries and the ends of locks).
    public var actor: String?
    /// Only events of commands given this correlation id (`--correlation-id`, a server
    /// request's trace id).
    public var correlationId: String?
    /// Only these event types (empty: all).
    public var types: Set<EventType>
    /// Only events after this journal position (for paging: pass the last position seen).
    public var afterPosition: Int64
    /// At most this many events.
    public var limit: Int?

    public init(
        since: UnixTime? = nil, until: UnixTime? = nil, user: String? = nil, types: Set<EventType> = [],
        afterPosition: Int64 = 0, limit: Int? = nil, actor: String? = nil, correlationId: String? = nil
    ) {
        self.actor = actor
        self.correlationId = correlationId
        self.since = since
        self.until = until
        self.user = user
        self.types = types
        self.afterPosition = afterPosition
        self.limit = limit
    }
}

/// The journal read as an audit trail: what `enroll history`, `enroll audit` and the HTTP
/// server's `GET /me/totp/history` show.
///
/// Reads stream through a GRDB cursor inside one read transaction (a consistent snapshot, and
/// constant memory whatever the journal's size). Secrets are never opened: an audit needs no
/// key file, and a secret appears only as `"sealed"` or `"forgotten"`.
///
/// ```swift
/// let trail = AuditTrail(database: service.database)
/// let entries = try trail.history(of: "alice")          // oldest first
/// try trail.forEach(AuditFilter(types: [.codeRejected])) { entry in … }
/// ```
public struct AuditTrail: Sendable {
    public let reader: any DatabaseReader
    private let path: String
    /// The database it was made with, whose reads refuse once it is closed.
    private let database: EnrollmentDatabase?

    public init(database: EnrollmentDatabase) {
        reader = database.writer
        path = database.path
        self.database = database
    }

    /// Reads through `reader`. An ``EnrollmentDatabase``'s ``EnrollmentDatabase/writer`` is read
    /// as ``init(database:)`` reads it: refused once the database is closed.
    public init(reader: any DatabaseReader, path: String = "(database)") {
        self.reader = reader
        database = EnrollmentDatabase.owning(reader)
        self.path = database?.path ?? path
    }

    private func read<T>(_ body: (Database) throws -> T) throws -> T {
        if let database { return try database.read(body) }
        return try reader.read(body)
    }

    /// One user's timeline, oldest first. `after` and `limit` page through a long one.
    public func history(of user: String, after position: Int64 = 0, limit: Int? = nil) throws(StoreError) -> [HistoryEntry] {
        var entries: [HistoryEntry] = []
        do {
            try forEach(AuditFilter(user: user, afterPosition: position, limit: limit)) { entries.append($0) }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(error, path: path)
        }
        return entries
    }

    /// Calls `body` with each matching entry in journal order, streaming: memory stays
    /// constant however many events match. An error thrown by `body` stops the walk and is
    /// rethrown as is; storage failures are ``StoreError``s.
    public func forEach(_ filter: AuditFilter, _ body: (HistoryEntry) throws -> Void) throws {
        var conditions = ["e.position > ?"]
        var arguments: StatementArguments = [filter.afterPosition]
        // A row whose time is not a whole number (edited into text, or into a fraction) could be
        // of any time: it is shown whatever the window, as a type no release writes is whatever
        // the types (below), so that a filter never hides an edited row. (No index serves the
        // window: the journal is read in position order.)
        var window: [String] = []
        if let since = filter.since {
            window.append("e.recorded_at >= ?")
            arguments += [since]
        }
        if let until = filter.until {
            window.append("e.recorded_at < ?")
            arguments += [until]
        }
        // So is a whole number outside 1970-9999, which no append writes either.
        if !window.isEmpty {
            conditions.append("((\(window.joined(separator: " AND "))) OR typeof(e.recorded_at) <> 'integer' OR e.recorded_at NOT BETWEEN \(EnrollmentEvent.timeRange.lowerBound) AND \(EnrollmentEvent.timeRange.upperBound))")
        }
        if let user = filter.user {
            conditions.append("e.stream_id = ?")
            arguments += [user]
        }
        if let actor = filter.actor {
            conditions.append("json_extract(e.metadata, '$.actor') = ?")
            arguments += [actor]
        }
        if let correlation = filter.correlationId {
            conditions.append("json_extract(e.metadata, '$.correlationId') = ?")
            arguments += [correlation]
        }
        if !filter.types.isEmpty {
            // A row whose stored type is none enroll writes could have been any event: it is
            // shown whatever the types asked for, so that a filter never hides an edited row.
            let names = filter.types.map(\.rawValue).sorted()
            let known = EventType.allCases.map(\.rawValue).sorted()
            func placeholders(_ values: [String]) -> String { values.map { _ in "?" }.joined(separator: ", ") }
            conditions.append("(e.type IN (\(placeholders(names))) OR e.type NOT IN (\(placeholders(known))))")
            arguments += StatementArguments(names + known)
        }
        var sql = "SELECT \(Self.selection) FROM events e WHERE \(conditions.joined(separator: " AND ")) ORDER BY e.position"
        if let limit = filter.limit {
            sql += " LIMIT ?"
            arguments += [max(limit, 0)]
        }
        struct BodyFailure: Error { let error: any Error }
        do {
            try read { db in
                let rows = try Row.fetchCursor(db, sql: sql, arguments: arguments)
                while let row = try rows.next() {
                    let entry = Self.entry(row: row)
                    do { try body(entry) } catch { throw BodyFailure(error: error) }
                }
            }
        } catch let failure as BodyFailure {
            throw failure.error
        } catch {
            throw StoreError(error, path: path)
        }
    }

    /// One row of ``selection`` as an entry, checked against the chain. A row whose event cannot
    /// be read (edited outside enroll, or written by a newer release) is an entry of its own,
    /// ``HistoryEntry/unreadable``, rather than the end of the walk: the rows after it are still
    /// shown.
    static func entry(row: Row) -> HistoryEntry {
        var entry: HistoryEntry
        var recorded: RecordedEvent?
        do {
            // The columns are read cast (a time stored as text reads as 0): one that an append
            // would have written as a number but holds something else is an edited row.
            if let column: String = row["mistyped_column"] {
                throw StoreError.undecodableEvent(
                    position: row["position"] ?? 0, type: row["type"] ?? "?", reason: "its column \(column) holds a value of another type")
            }
            let strict = try RecordedEvent(row: row)
            recorded = strict
            // Columns no append writes (a time before 1970, a position below 1), as commands
            // refuse them: not shown as an event of 1969.
            if let problem = strict.header.outOfRange {
                throw StoreError.undecodableEvent(position: strict.position, type: strict.type, reason: problem)
            }
            let forgotten: Bool = row["secret_forgotten"] ?? false
            let keyAbsent: Bool = row["secret_key_absent"] ?? false
            entry = try Self.entry(
                for: strict, secretForgotten: forgotten, keyAbsent: keyAbsent && !forgotten,
                replacedPendingFrom: row["replaced_pending_at"], lockEndedAt: row["lock_ended_at"])
        } catch {
            // Both throw only `StoreError.undecodableEvent`, whose reason names no stored bytes;
            // anything else is not described at all, rather than risk showing them.
            let reason = if case .undecodableEvent(_, _, let reason) = error as? StoreError { reason } else { "its columns cannot be read" }
            recorded = recorded ?? (try? RecordedEvent(row: row, lenientMetadata: true))
            entry = unreadableEntry(row: row, reason: reason)
        }
        // A row deleted from the user's own stream shows at their next row, not only at the next
        // row of the journal (which may be someone else's). A row whose columns cannot even be
        // read as stored has no hash to check: no append wrote it.
        entry.chained = recorded.map { chains($0, previousHash: row["previous_hash"]) } == true && (row["follows_its_stream"] ?? false)
        return entry
    }

    /// What can still be read of a row whose event cannot: where it sits, whose it is, its
    /// type and time as stored, and who recorded it if its metadata reads. Each column is read
    /// on its own (a value of another type reads as 0 or empty); its data is never shown.
    static func unreadableEntry(row: Row, reason: String) -> HistoryEntry {
        func column<Value: DatabaseValueConvertible>(_ name: String, or fallback: Value) -> Value {
            (try? row.decode(Value?.self, forColumn: name)).flatMap { $0 } ?? fallback
        }
        let metadata = EventMetadata.stored(column("metadata", or: ""))
        var entry = HistoryEntry(
            position: column("position", or: 0), user: column("stream_id", or: ""), streamVersion: column("stream_version", or: 0),
            time: column("recorded_at", or: 0), type: column("type", or: ""), unreadable: reason,
            actor: metadata?.actor ?? "", commandId: metadata?.commandId ?? "")
        entry.correlationId = metadata?.correlationId
        return entry
    }

    /// The journal's columns plus whether a secret-carrying event's secret is forgotten: the
    /// authenticator was removed after it (removal destroys the key that sealed it even if a
    /// later enrollment created a new one); whether its user's data key is not in this database
    /// though no removal destroyed it (an imported copy, which holds no data keys; or a key
    /// deleted by hand, which `verify` reports): the secret is still sealed, but cannot be
    /// opened here, and is not called forgotten, which says the user removed it; and, for a secret issued
    /// while another still awaited its first code, when that one was issued: the last event
    /// before it that issues, activates, expires or removes a secret issued one, so the new
    /// secret discarded it (an expiry is always recorded before the command that follows it).
    /// A row in between whose type no release writes (edited, or a newer release's event)
    /// could have been the activation: then nothing is said about the earlier secret.
    static let selection = HashChain.typedColumns(prefix: "e") + ",\n" + """
        CASE WHEN e.type IN ('EnrollmentRequested', 'SecretRegenerated') THEN
            EXISTS (SELECT 1 FROM events r WHERE r.stream_id = e.stream_id AND r.stream_version > e.stream_version
                    AND r.type = 'AuthenticatorRemoved')
        ELSE 0 END AS secret_forgotten,
        CASE WHEN e.type IN ('EnrollmentRequested', 'SecretRegenerated') THEN
            NOT EXISTS (SELECT 1 FROM data_keys k WHERE k.stream_id = e.stream_id)
        ELSE 0 END AS secret_key_absent,
        CASE WHEN e.type IN ('EnrollmentRequested', 'SecretRegenerated') THEN
            (SELECT CASE WHEN p.type IN ('EnrollmentRequested', 'SecretRegenerated') THEN p.recorded_at END
             FROM events p WHERE p.stream_id = e.stream_id AND p.stream_version < e.stream_version
                AND (p.type IN ('EnrollmentRequested', 'SecretRegenerated', 'AuthenticatorActivated', 'PendingSecretExpired', 'ReplacementCancelled', 'AuthenticatorRemoved')
                     OR p.type NOT IN (\(EventType.allCases.map { "'\($0.rawValue)'" }.joined(separator: ", "))))
             ORDER BY p.stream_version DESC LIMIT 1)
        END AS replaced_pending_at,
        CASE WHEN e.type = 'ConfirmationUnlocked' THEN
            (SELECT json_extract(l.data, '$.until') FROM events l
             WHERE l.stream_id = e.stream_id AND l.stream_version < e.stream_version AND l.type = 'ConfirmationLocked'
             ORDER BY l.stream_version DESC LIMIT 1)
        END AS lock_ended_at,
        (SELECT CAST(b.hash AS BLOB) FROM events b WHERE b.position = e.position - 1) AS previous_hash,
        CASE WHEN typeof(e.stream_version) <> 'integer' THEN 'stream_version'
             WHEN typeof(e.schema_version) <> 'integer' THEN 'schema_version'
             WHEN typeof(e.recorded_at) <> 'integer' THEN 'recorded_at' END AS mistyped_column,
        e.stream_version = 1 OR EXISTS (SELECT 1 FROM events v WHERE v.stream_id = e.stream_id AND v.stream_version = e.stream_version - 1)
            AS follows_its_stream
        """

    /// Rows deleted from the end of the journal, or of `user`'s stream, leave every row before
    /// them chained: the records written with them tell (as `verify` finds). Returns what they
    /// say, or `nil`: the checkpoint of a projection that applied events past the journal's
    /// end, or `user`'s authenticators row at a stream version past their last event.
    public func deletedEnd(of user: String? = nil) throws(StoreError) -> String? {
        do {
            return try read { db -> String? in
                let head = try EventJournal.head(in: db)
                // Tables that cannot be read (dropped, or of another shape) tell nothing here: the
                // commands that need them say so.
                if let deleted = try? HashChain.deletedEnd(head: head, chainVerified: false, in: db) { return deleted }
                // A projection table not keyed as this code builds it (a case-insensitive key finds
                // another user's row) tells nothing either.
                guard let user, (try? ProjectionTable.requireKey(of: AuthenticatorsProjection(), in: db)) != nil else { return nil }
                // A version edited into text (its row shown as unreadable) says nothing of the end.
                let mistyped = try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM events WHERE stream_id = ? AND typeof(stream_version) <> 'integer')", arguments: [user]) ?? false
                if mistyped { return nil }
                let last = try Int64.fetchOne(db, sql: "SELECT MAX(stream_version) FROM events WHERE stream_id = ?", arguments: [user]) ?? 0
                guard let shown = try? Int64.fetchOne(db, sql: "SELECT stream_version FROM authenticators WHERE user_id = ?", arguments: [user]),
                      shown > last else { return nil }
                return "the stream of \(TextField.quoted(user)) ends at version \(last) but the authenticators projection has it at version \(shown): its last events were deleted"
            }
        } catch {
            throw StoreError(error, path: path)
        }
    }

    /// Whether a row's stored hash is the hash of its own columns chained from the stored hash
    /// of the row before it (the genesis hash for position 1), as `enroll verify` checks every
    /// row: a row edited outside enroll, or one after an edited or deleted row, does not chain.
    /// (Rows rewritten with every hash after them recomputed do chain: an anchor kept outside
    /// the database catches those, ``ChainAnchor``.)
    static func chains(_ row: RecordedEvent, previousHash: Data?) -> Bool {
        let previous = row.position == 1 ? HashChain.genesis : previousHash.map(Array.init)
        guard let previous else { return false }
        return HashChain.hash(of: row, previous: previous) == row.hash
    }

    /// For the reveal that records a repeated command showing its secret again (its id is
    /// `repeat-of:ID#…`, ``EnrollmentService/repeatCommandId(of:)``): which command was repeated.
    public static func repeated(_ commandId: String) -> String {
        guard commandId.hasPrefix(EnrollmentService.repeatPrefix), let end = commandId.lastIndex(of: "#") else { return "" }
        let id = commandId[commandId.index(commandId.startIndex, offsetBy: EnrollmentService.repeatPrefix.count)..<end]
        return "; command id \(id) repeated"
    }

    /// Turns one journal row into an audit entry (decoding and upcasting its event).
    /// `replacedPendingFrom`: for a secret issued while another awaited its first code, when
    /// that one was issued (it is discarded, never confirmed). `lockEndedAt`: for the end of a
    /// lock, recorded by the next command, when the lock ended (its `until`). `keyAbsent`: the
    /// secret is sealed under a data key this database does not hold, though no removal
    /// destroyed it (an imported copy).
    public static func entry(
        for recorded: RecordedEvent, secretForgotten: Bool, keyAbsent: Bool = false, replacedPendingFrom: UnixTime? = nil, lockEndedAt: UnixTime? = nil
    ) throws(StoreError) -> HistoryEntry {
        let event = try EventCodec.decode(
            type: recorded.type, schemaVersion: recorded.schemaVersion, data: recorded.data, position: recorded.position)
        var entry = HistoryEntry(
            position: recorded.position, user: recorded.streamId, streamVersion: recorded.streamVersion,
            time: recorded.recordedAt, type: recorded.type, actor: recorded.metadata.actor,
            commandId: recorded.metadata.commandId, outcome: event.outcome,
            details: event.details(secretForgotten: secretForgotten, keyAbsent: keyAbsent)
                + (replacedPendingFrom.map { "; discards the pending secret issued at \(Timestamps.iso8601($0)), never confirmed" } ?? "")
                + (lockEndedAt.map { " (it ended at \(Timestamps.iso8601($0)); recorded by the next command)" } ?? "")
                + repeated(recorded.metadata.commandId),
            fields: event.auditFields(secretForgotten: secretForgotten, keyAbsent: keyAbsent))
        entry.correlationId = recorded.metadata.correlationId
        return entry
    }
}

extension EnrollmentEvent {
    var outcome: HistoryOutcome {
        switch self {
        case .enrollmentRequested, .secretRegenerated: .issued
        case .authenticatorActivated: .activated
        case .codeRejected, .codeRefusedWhileLocked: .refused
        case .pendingSecretExpired: .expired
        case .replacementCancelled: .cancelled
        case .qrCodeRevealed: .revealed
        case .confirmationLocked: .locked
        case .confirmationUnlocked: .unlocked
        case .authenticatorRemoved: .removed
        }
    }

    /// The event's fields in the current schema, the secret replaced by its status.
    func auditFields(secretForgotten: Bool, keyAbsent: Bool = false) -> [String: JSONValue] {
        guard let encoded = try? EventCodec.encode(self, seal: { _ in [] }),
              case .object(var object)? = try? JSONValue.parse(encoded.data)
        else { return [:] }
        if object.removeValue(forKey: "sealedSecret") != nil {
            let status = secretStatus(secretForgotten: secretForgotten)
            object["secret"] = .string(status)
            if keyAbsent && status == "sealed" { object["keyInDatabase"] = .bool(false) }
        }
        return object
    }

    func secretStatus(secretForgotten: Bool) -> String {
        switch self {
        case .enrollmentRequested(let issued), .secretRegenerated(let issued):
            if case .forgotten = issued.secret { return "forgotten" }
            return secretForgotten ? "forgotten" : "sealed"
        default:
            return "none"
        }
    }

    func details(secretForgotten: Bool, keyAbsent: Bool = false) -> String {
        func describe(_ issued: SecretIssued) -> String {
            let p = issued.parameters
            let status = secretStatus(secretForgotten: secretForgotten)
            let key = keyAbsent && status == "sealed" ? " (its key is not in this database: an imported copy, or deleted)" : ""
            return "\(issued.issuer):\(issued.account) (\(p.algorithm.rawValue), \(p.digits) digits, \(p.period) s), secret \(status)\(key); confirm before \(Timestamps.iso8601(issued.expiresAt))"
        }
        switch self {
        case .enrollmentRequested(let issued):
            return "secret issued for " + describe(issued)
        case .secretRegenerated(let issued):
            return "replacement secret issued for " + describe(issued) + "; the active one stays in use until the new one is confirmed"
        case .authenticatorActivated(let activated):
            return activated.replacedPrevious
                ? "code accepted (time step \(activated.step)): the replacement secret is now active, the previous one retired"
                : "code accepted (time step \(activated.step)): the authenticator is active"
        case .codeRejected(let rejected):
            let what = rejected.reason == "code_reused" ? "code already used" : "wrong code"
            // A replayed code is not counted (RFC 6238 §5.2): say so rather than "0 consecutive failures".
            let count = rejected.reason == "code_reused"
                ? "not counted towards a lock"
                : "\(rejected.failedAttempts) consecutive failure\(rejected.failedAttempts == 1 ? "" : "s")"
            return "\(what) (\(rejected.reason)) for the \(rejected.target.rawValue) secret; \(count)"
        case .pendingSecretExpired(let expired):
            return "the pending \(expired.replacement ? "replacement " : "")secret expired unconfirmed at \(Timestamps.iso8601(expired.expiredAt))"
                + (expired.replacement ? "; the active secret stays in use" : "")
        case .replacementCancelled(let cancelled):
            return "regenerate cancelled: the replacement secret awaiting its first code is discarded (it would have expired at \(Timestamps.iso8601(cancelled.expiresAt))); the active secret stays in use"
        case .qrCodeRevealed(let revealed):
            return revealed.shownAs == .text
                ? "the \(revealed.target.rawValue) secret shown again as text (Base32 or otpauth URI), not as a QR code"
                : "QR code of the \(revealed.target.rawValue) secret shown again"
        case .confirmationLocked(let locked):
            return "confirmation locked until \(Timestamps.iso8601(locked.until)) after \(locked.failedAttempts) wrong code\(locked.failedAttempts == 1 ? "" : "s") (lock \(locked.lockNumber))"
        case .codeRefusedWhileLocked(let refused):
            return "code for the \(refused.target.rawValue) secret refused unchecked: confirmation is locked until \(Timestamps.iso8601(refused.lockedUntil)) (not counted towards a lock)"
        case .confirmationUnlocked(let unlocked):
            return "lock \(unlocked.lockNumber) lifted"
        case .authenticatorRemoved(let removed):
            return removed.hadActive
                ? "authenticator removed; its secrets are forgotten"
                : "enrollment removed before it was confirmed; its secret is forgotten"
        }
    }
}
