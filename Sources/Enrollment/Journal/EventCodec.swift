import Foundation
import OneTimePassword

extension EventType {
    /// The schema version written for this type today.
    ///
    /// History: `CodeRejected` v2 added `remainingAttempts` (wrong codes left before a lock).
    public var currentVersion: Int {
        switch self {
        case .codeRejected: 2
        default: 1
        }
    }
}

/// Turns domain events into journal rows and back.
///
/// Every event type has a current schema version. Rows written with an older version are
/// upcast on read, one version at a time (v1 → v2 → …), by the functions in ``upcasters``, so
/// the domain only ever sees the current shape.
public enum EventCodec {
    /// The schema version written for each event type today (``EventType/currentVersion``).
    public static let currentVersions: [EventType: Int] = Dictionary(uniqueKeysWithValues: EventType.allCases.map { ($0, $0.currentVersion) })

    /// `upcasters[type][v]` turns the JSON object of version `v` into version `v + 1`.
    ///
    /// Upcasting happens on read only: the journal's rows (and their hashes) are never rewritten.
    public static let upcasters: [EventType: [Int: @Sendable (inout [String: JSONValue]) -> Void]] = [
        // v1 did not record the attempts left. v1 code always used the default policy's limit,
        // so the count is derived from it and the consecutive failures the event does record.
        .codeRejected: [1: { object in
            let failed: Int64 = if case .int(let value)? = object["failedAttempts"] { value } else { 0 }
            object["remainingAttempts"] = .int(Int64(CodeRejected.defaultRemainingAttempts(afterFailures: Int(failed))))
        }],
    ]

    /// Encodes an event; secrets are sealed by `seal` (the handler passes the user's data key).
    ///
    /// The data is canonical JSON, written member by member in name order (``CanonicalObject``):
    /// the bytes the `Codable` path through ``JSONValue`` gives (`JSONFastPathTests` compares
    /// them for every type), without building that tree for every event a command appends.
    public static func encode(_ event: EnrollmentEvent, seal: (Secret) throws -> [UInt8]) throws -> (type: String, schemaVersion: Int, data: String) {
        let type = event.type
        var object = CanonicalObject()
        switch event {
        case .enrollmentRequested(let issued), .secretRegenerated(let issued):
            let sealed: String?
            switch issued.secret {
            case .open(let secret): sealed = Data(try seal(secret)).base64EncodedString()
            case .sealed(let bytes): sealed = Data(bytes).base64EncodedString()
            case .forgotten: sealed = nil
            }
            object.member("account", issued.account)
            object.member("algorithm", issued.parameters.algorithm.rawValue)
            object.member("digits", issued.parameters.digits)
            object.member("expiresAt", issued.expiresAt)
            object.member("issuer", issued.issuer)
            object.member("period", issued.parameters.period)
            if let sealed { object.member("sealedSecret", sealed) }
        case .authenticatorActivated(let activated):
            object.member("replacedPrevious", activated.replacedPrevious)
            object.member("step", activated.step)
        case .codeRejected(let rejected):
            object.member("failedAttempts", rejected.failedAttempts)
            object.member("reason", rejected.reason)
            object.member("remainingAttempts", rejected.remainingAttempts)
            object.member("target", rejected.target.rawValue)
        case .pendingSecretExpired(let expired):
            object.member("expiredAt", expired.expiredAt)
            object.member("replacement", expired.replacement)
        case .replacementCancelled(let cancelled):
            object.member("expiresAt", cancelled.expiresAt)
        case .qrCodeRevealed(let revealed):
            // Only a text reveal says how it was shown (as ``QRCodeRevealed``'s `Codable` does).
            if revealed.shownAs == .text { object.member("shownAs", RevealForm.text.rawValue) }
            object.member("target", revealed.target.rawValue)
        case .confirmationLocked(let locked):
            object.member("failedAttempts", locked.failedAttempts)
            object.member("lockNumber", locked.lockNumber)
            object.member("until", locked.until)
        case .codeRefusedWhileLocked(let refused):
            object.member("lockedUntil", refused.lockedUntil)
            object.member("target", refused.target.rawValue)
        case .confirmationUnlocked(let unlocked):
            object.member("lockNumber", unlocked.lockNumber)
        case .authenticatorRemoved(let removed):
            object.member("hadActive", removed.hadActive)
        }
        return (type.rawValue, type.currentVersion, object.finished())
    }

    /// Decodes a row's event. `open` turns a sealed secret into a ``SecretField``; without it
    /// secrets stay sealed (projections and audits never need them).
    public static func decode(
        type typeName: String, schemaVersion: Int, data: String, position: Int64 = 0,
        open: (([UInt8]) -> SecretField)? = nil
    ) throws(StoreError) -> EnrollmentEvent {
        func failure(_ reason: String) -> StoreError { .undecodableEvent(position: position, type: typeName, reason: reason) }
        guard let type = EventType(rawValue: typeName) else { throw failure("unknown event type") }
        let current = type.currentVersion
        guard schemaVersion <= current else { throw failure("schema version \(schemaVersion) is newer than this code knows (\(current)); upgrade enroll") }
        guard schemaVersion >= 1 else { throw failure("schema version \(schemaVersion) is invalid") }
        let parsed: JSONValue
        do {
            parsed = try JSONParser.parse(data, rejectingDuplicates: true)
        } catch {
            // A member named twice could be read either way (the last one, or the first): enroll
            // never writes one, and import refuses it, so a stored one is an edit.
            if case .duplicateMember(let name, _) = error { throw failure("data names '\(Validation.excerpt(name))' twice") }
            throw failure("data is not a JSON object")
        }
        guard case .object(var object) = parsed else { throw failure("data is not a JSON object") }
        var version = schemaVersion
        while version < current {
            guard let upcast = upcasters[type]?[version] else { throw failure("no upcaster from version \(version)") }
            upcast(&object)
            version += 1
        }
        let event: EnrollmentEvent
        do {
            switch type {
            case .enrollmentRequested: event = .enrollmentRequested(try issued(object, open: open))
            case .secretRegenerated: event = .secretRegenerated(try issued(object, open: open))
            case .authenticatorActivated: event = .authenticatorActivated(try JSONValue.decode(object))
            case .codeRejected: event = .codeRejected(try JSONValue.decode(object))
            case .pendingSecretExpired: event = .pendingSecretExpired(try JSONValue.decode(object))
            case .replacementCancelled: event = .replacementCancelled(try JSONValue.decode(object))
            case .qrCodeRevealed: event = .qrCodeRevealed(try JSONValue.decode(object))
            case .confirmationLocked: event = .confirmationLocked(try JSONValue.decode(object))
            case .codeRefusedWhileLocked: event = .codeRefusedWhileLocked(try JSONValue.decode(object))
            case .confirmationUnlocked: event = .confirmationUnlocked(try JSONValue.decode(object))
            case .authenticatorRemoved: event = .authenticatorRemoved(try JSONValue.decode(object))
            }
        } catch let error as StoreError {
            throw error
        } catch is NotASealedSecret {
            throw failure("its " + notASealedSecret)
        } catch {
            throw failure("fields do not match the \(typeName) v\(current) shape" + Self.member(of: error))
        }
        try checkRanges(event, type: typeName, position: position)
        return event
    }

    /// The member a decoding error is about, for the message: a missing one, or one whose value
    /// this code does not read (`"shownAs":"telepathy"`, a `target` that is no secret's role).
    private static func member(of error: any Error) -> String {
        guard let error = error as? DecodingError else { return "" }
        switch error {
        case .keyNotFound(let key, _):
            return " ('\(Validation.excerpt(key.stringValue))' is missing)"
        case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context):
            guard let key = context.codingPath.last else { return "" }
            return " ('\(Validation.excerpt(key.stringValue))' has a value this version does not write)"
        @unknown default:
            return ""
        }
    }

    /// Refuses an event with a field outside what the engine writes
    /// (``EnrollmentEvent/fieldOutOfRange``). The in-place decoder sends such rows here (its
    /// fields are range-checked as they are read), so both decoders refuse them the same way.
    static func checkRanges(_ event: EnrollmentEvent, type: String, position: Int64) throws(StoreError) {
        if let problem = event.fieldOutOfRange {
            throw .undecodableEvent(position: position, type: type, reason: problem)
        }
    }

    // MARK: Secret-carrying events

    /// Why a row's sealedSecret member is refused: it holds text that enroll never sealed.
    static let notASealedSecret = "sealedSecret is not a sealed secret (the Base64 of an AES-256-GCM box of at least \(SecretField.sealedByteCountMinimum) bytes)"

    private struct NotASealedSecret: Error {}

    private struct IssuedFields: Decodable {
        var sealedSecret: String?
        var issuer: String
        var account: String
        var algorithm: Digest
        var digits: Int
        var period: Int
        var expiresAt: UnixTime
    }

    private static func issued(_ object: [String: JSONValue], open: (([UInt8]) -> SecretField)?) throws -> SecretIssued {
        let fields: IssuedFields = try JSONValue.decode(object)
        let secret: SecretField
        if let text = fields.sealedSecret {
            // Null (or no member) is a forgotten secret; anything else must be a sealed one. Text
            // that is not (an edited row) is refused, never read as forgotten: that would report a
            // crypto-shred that did not happen, and send commands after a missing data key.
            guard let sealed = Data(base64Encoded: text), sealed.count >= SecretField.sealedByteCountMinimum else {
                throw NotASealedSecret()
            }
            secret = open?(Array(sealed)) ?? .sealed(Array(sealed))
        } else {
            secret = .forgotten
        }
        return SecretIssued(
            secret: secret, issuer: fields.issuer, account: fields.account,
            parameters: OTPParameters(algorithm: fields.algorithm, digits: fields.digits, period: fields.period),
            expiresAt: fields.expiresAt)
    }
}
