/// Who caused an event and on behalf of which command: stored as the row's `metadata` JSON.
public struct EventMetadata: Sendable, Hashable, Codable {
    public var actor: String
    public var commandId: String
    public var correlationId: String?

    public init(actor: String, commandId: String, correlationId: String? = nil) {
        self.actor = actor
        self.commandId = commandId
        self.correlationId = correlationId
    }

    /// The actor of the events no one causes, which the engine records when a command finds
    /// them due: a pending secret's expiry (`PendingSecretExpired`) and a lock's end
    /// (`ConfirmationUnlocked`). They keep the command id of the command that recorded them.
    /// No user id or actor can be written this way (``Validation`` refuses it), so an audit
    /// never mistakes it for a person. Journals written before it held the command's actor.
    public static let systemActor = "(system)"

    /// The canonical JSON an append stores (as the `Codable` path through ``JSONValue`` writes
    /// it, member by member: `JSONFastPathTests` compares the two).
    var canonicalJSON: String {
        var object = CanonicalObject()
        object.member("actor", actor)
        object.member("commandId", commandId)
        if let correlationId { object.member("correlationId", correlationId) }
        return object.finished()
    }

    /// The metadata a row stores, or nil when its text is not the JSON object an append writes:
    /// a member named twice too, which readers could take either way (enroll never writes one,
    /// and import refuses it).
    static func stored(_ text: String) -> EventMetadata? {
        guard let parsed = try? JSONParser.parse(text, rejectingDuplicates: true) else { return nil }
        return try? JSONValueCoder.decode(EventMetadata.self, from: parsed)
    }

    /// The metadata `event` is recorded with, as one of a command's events: the command's, or
    /// for housekeeping the ``systemActor`` with the command's ids.
    public func recording(_ event: EnrollmentEvent) -> EventMetadata {
        switch event {
        case .pendingSecretExpired, .confirmationUnlocked:
            EventMetadata(actor: Self.systemActor, commandId: commandId, correlationId: correlationId)
        default:
            self
        }
    }
}

/// An event about to be appended: already encoded, not yet positioned.
public struct NewEvent: Sendable, Hashable {
    public var eventId: String
    public var type: String
    public var schemaVersion: Int
    /// The event's fields as JSON, secrets sealed.
    public var data: String
    public var metadata: EventMetadata { didSet { metadataJSON = metadata.canonicalJSON } }
    /// `metadata` as stored and hashed, written when the event is made (for a group commit, by
    /// its caller), not by the writer as it appends.
    public private(set) var metadataJSON: String
    public var recordedAt: UnixTime

    public init(eventId: String, type: String, schemaVersion: Int, data: String, metadata: EventMetadata, recordedAt: UnixTime) {
        self.eventId = eventId
        self.type = type
        self.schemaVersion = schemaVersion
        self.data = data
        self.metadata = metadata
        self.metadataJSON = metadata.canonicalJSON
        self.recordedAt = recordedAt
    }
}

/// A row of the journal exactly as stored.
public struct RecordedEvent: Sendable, Hashable {
    /// The global position: strictly increasing, gap-free, the order of the journal.
    public var position: Int64
    public var streamId: String
    /// 1, 2, 3… within the stream.
    public var streamVersion: Int64
    public var eventId: String
    public var type: String
    public var schemaVersion: Int
    public var data: String
    public var metadata: EventMetadata
    /// The metadata exactly as stored (and hashed).
    public var metadataJSON: String
    public var recordedAt: UnixTime
    /// SHA-256 over the previous row's hash and this row's canonical encoding (see ``HashChain``).
    public var hash: [UInt8]

    public init(
        position: Int64, streamId: String, streamVersion: Int64, eventId: String, type: String,
        schemaVersion: Int, data: String, metadata: EventMetadata, metadataJSON: String, recordedAt: UnixTime, hash: [UInt8]
    ) {
        self.position = position
        self.streamId = streamId
        self.streamVersion = streamVersion
        self.eventId = eventId
        self.type = type
        self.schemaVersion = schemaVersion
        self.data = data
        self.metadata = metadata
        self.metadataJSON = metadataJSON
        self.recordedAt = recordedAt
        self.hash = hash
    }
}

/// The journal columns a projection folds by: where the event sits, whose it is, when it was
/// recorded. Rebuilds read only these (and the event's type and data), never the metadata or
/// the hash: see ``EventJournal/scan(after:limit:in:_:)``.
public struct EventHeader: Sendable, Hashable {
    public var position: Int64
    public var streamId: String
    public var streamVersion: Int64
    public var recordedAt: UnixTime

    public init(position: Int64, streamId: String, streamVersion: Int64, recordedAt: UnixTime) {
        self.position = position
        self.streamId = streamId
        self.streamVersion = streamVersion
        self.recordedAt = recordedAt
    }

    /// What is wrong with a row whose columns no append could have written (a position or
    /// stream version below 1, a time outside 1970-9999), or `nil`.
    var outOfRange: String? {
        if position < 1 { return "its position \(position) is below 1" }
        if streamVersion < 1 { return "its stream version \(streamVersion) is below 1" }
        if !EnrollmentEvent.timeRange.contains(recordedAt) { return "its recorded time \(recordedAt) is not a time between 1970 and 9999" }
        return nil
    }
}

extension RecordedEvent {
    public var header: EventHeader {
        EventHeader(position: position, streamId: streamId, streamVersion: streamVersion, recordedAt: recordedAt)
    }
}
