/// What happened, in one word an auditor can filter on.
public enum HistoryOutcome: String, Sendable, Codable, Hashable, CaseIterable {
    /// A secret was issued (first enrollment or replacement) and awaits its first code.
    case issued
    /// A right code activated the pending secret.
    case activated
    /// A code was refused (wrong or reused); ``HistoryEntry/details`` says which.
    case refused
    /// A pending secret passed its lifetime unconfirmed.
    case expired
    /// A regenerate was cancelled: its new secret was discarded unconfirmed.
    case cancelled
    /// A secret was shown again: as a QR code, or as text (``HistoryEntry/details`` says which).
    case revealed
    /// Too many wrong codes: confirmation is locked.
    case locked
    /// A lock ended.
    case unlocked
    /// The authenticator was removed and its secrets shredded.
    case removed
    /// The row's event cannot be read (``HistoryEntry/unreadable`` says why), so what happened
    /// is not known.
    case unknown
}

/// One event of the journal as an auditor reads it: when, what, who, with what result, and
/// the event's fields — never a secret or a code.
///
/// A secret appears only as its status: `"sealed"` while its data key exists, `"forgotten"`
/// once the key was destroyed (the authenticator was removed; see ``KeyRing``). The sealed
/// bytes themselves are not shown either. This is what `enroll history`, `enroll audit` and
/// the HTTP API's history serve.
public struct HistoryEntry: Sendable, Hashable, Codable {
    /// The journal position: strictly increasing across all users.
    public var position: Int64
    /// The user (the stream the event belongs to).
    public var user: String
    /// 1, 2, 3… within the user's stream.
    public var streamVersion: Int64
    /// When the event was recorded (Unix seconds).
    public var time: UnixTime
    /// The event type as stored (`EnrollmentRequested`, `CodeRejected`, …).
    public var type: String
    /// Who acted: the user, or the administrator or service on their behalf.
    public var actor: String
    /// The command that caused the event (several events can share one).
    public var commandId: String
    /// What the caller tied the command to, if anything (`--correlation-id`; `enroll serve`
    /// records each request's trace id, the `X-Trace-Id` of its answer and its access log line).
    public var correlationId: String?
    public var outcome: HistoryOutcome
    /// A short human sentence: "secret issued by Example for alice (SHA1, 6 digits, 30 s), sealed, expires …".
    public var details: String
    /// The event's fields (current schema), secrets replaced by their status.
    public var fields: [String: JSONValue]
    /// Whether the row's stored hash follows from its contents and the row before it, and the
    /// user's event before it is there (``AuditTrail`` checks every row it reads). `false`:
    /// this row, or the one before it, was changed outside enroll, or rows before it (in the
    /// journal, or in the user's stream) were deleted; `enroll verify` says which.
    public var chained = true
    /// Why the row's event cannot be read (`unknown event type`, `data is not a JSON object`, …;
    /// never the stored bytes), or `nil` for an event read as usual. Such a row was changed
    /// outside enroll (it then does not chain either, unless every hash after it was recomputed)
    /// or written by a newer release; its entry has the row's own columns, the actor and command
    /// id if its metadata reads (else empty, and absent from ``jsonObject``),
    /// ``HistoryOutcome/unknown``, and no details or fields.
    public var unreadable: String?

    /// The row's time cannot be read: its column was edited to hold something other than a
    /// whole number (``HashChain/typedColumns(prefix:)``), or a time outside 1970-9999, which
    /// no append writes. ``time`` then means nothing, and is shown as unknown, never as a time
    /// of 1969 or 1970.
    public var timeUnreadable: Bool { unreadable != nil && (time == HashChain.mistypedNumber || !EnrollmentEvent.timeRange.contains(time)) }

    public init(
        position: Int64, user: String, streamVersion: Int64, time: UnixTime, type: String, actor: String,
        commandId: String, outcome: HistoryOutcome, details: String, fields: [String: JSONValue]
    ) {
        self.position = position
        self.user = user
        self.streamVersion = streamVersion
        self.time = time
        self.type = type
        self.actor = actor
        self.commandId = commandId
        self.outcome = outcome
        self.details = details
        self.fields = fields
    }

    /// The entry of a row whose event cannot be read, for `reason` (``unreadable``).
    public init(
        position: Int64, user: String, streamVersion: Int64, time: UnixTime, type: String, unreadable reason: String,
        actor: String, commandId: String
    ) {
        self.init(
            position: position, user: user, streamVersion: streamVersion, time: time, type: type, actor: actor,
            commandId: commandId, outcome: .unknown, details: "", fields: [:])
        unreadable = reason
    }

    private enum CodingKeys: String, CodingKey {
        case position, user, streamVersion, time, type, actor, commandId, correlationId, outcome, details, fields, chained, unreadable
    }

    /// Decodes an entry; one encoded before `chained` existed reads as chained.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(
            position: try container.decode(Int64.self, forKey: .position), user: try container.decode(String.self, forKey: .user),
            streamVersion: try container.decode(Int64.self, forKey: .streamVersion), time: try container.decode(UnixTime.self, forKey: .time),
            type: try container.decode(String.self, forKey: .type), actor: try container.decode(String.self, forKey: .actor),
            commandId: try container.decode(String.self, forKey: .commandId), outcome: try container.decode(HistoryOutcome.self, forKey: .outcome),
            details: try container.decode(String.self, forKey: .details), fields: try container.decode([String: JSONValue].self, forKey: .fields))
        chained = try container.decodeIfPresent(Bool.self, forKey: .chained) ?? true
        unreadable = try container.decodeIfPresent(String.self, forKey: .unreadable)
        correlationId = try container.decodeIfPresent(String.self, forKey: .correlationId)
    }

    /// The entry as one JSON object (one line of `--json` output): position, stream version,
    /// type, recorded-at (ISO 8601 and Unix seconds), actor, command id, the correlation id if
    /// the command had one, outcome, details and
    /// the event's fields under `event`; `chainBroken: true` for a row that does not chain
    /// (``chained``), absent otherwise. A row whose event cannot be read has `unreadable` (the
    /// reason) in place of `details` and `event` (and no `actor` or `commandId` if its metadata
    /// does not read).
    public var jsonObject: JSONValue {
        var object: [String: JSONValue] = [
            "position": .int(position),
            "user": .string(user),
            "streamVersion": .int(streamVersion),
            "type": .string(type),
            "recordedAt": .string(Timestamps.iso8601(time)),
            "recordedAtUnix": .int(time),
            "actor": .string(actor),
            "commandId": .string(commandId),
            "outcome": .string(outcome.rawValue),
        ]
        if let correlationId { object["correlationId"] = .string(correlationId) }
        if let unreadable {
            object["unreadable"] = .string(unreadable)
            if timeUnreadable {
                object["recordedAt"] = nil
                object["recordedAtUnix"] = nil
            }
            // Metadata that does not read gives no actor or command id: none stands in for them.
            if actor.isEmpty { object["actor"] = nil }
            if commandId.isEmpty { object["commandId"] = nil }
        } else {
            object["details"] = .string(details)
            object["event"] = .object(fields)
        }
        if !chained { object["chainBroken"] = .bool(true) }
        return .object(object)
    }
}
