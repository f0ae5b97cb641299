import Foundation
import GRDB

/// Something a table outside the hash chain says about the journal that the journal denies.
///
/// The chain covers only the `events` table. The data keys, the command records and the
/// projections are written in the same transaction as the events they belong to, so when they
/// disagree with the journal, one side was changed behind enroll's back: a data key deleted
/// while its user was never removed (a faked crypto-shred), or rows deleted from the end of a
/// user's stream while the records of the commands that appended them stayed. (The projections
/// are compared with a fold of the journal by ``ProjectionCheck``.)
public struct OutsideChainFinding: Sendable, Hashable {
    public enum Kind: String, Sendable, Hashable {
        /// The stream's current secrets were sealed by a command this database recorded, no
        /// removal follows them, yet its data key is gone.
        case dataKeyDeleted = "data_key_deleted"
        /// The stream was never removed, yet its data key was not made with its first secret
        /// (its time is not that event's): the key that sealed the earlier secrets was deleted
        /// and a later command made a new one.
        case dataKeyReplaced = "data_key_replaced"
        /// A data key belongs to a user who has no events at all.
        case dataKeyWithoutEvents = "data_key_without_events"
        /// A command record says the stream reached a version past its last event.
        case commandPastStream = "command_past_stream"
        /// A command record holds what no release writes: a version that is not a whole number
        /// of 0 or more, a command that is not one of enroll's, a refusal that is not JSON.
        case commandRecordEdited = "command_record_edited"
    }

    public var kind: Kind
    public var stream: String
    /// What was found and what it means, in a sentence.
    public var detail: String

    /// A command record holding what no release writes.
    static func edited(commandId id: String, stream: String) -> OutsideChainFinding {
        OutsideChainFinding(
            kind: .commandRecordEdited, stream: stream,
            detail: "the record of command id '\(Validation.excerpt(id))' for '\(Validation.excerpt(stream))' holds what enroll never writes (a stream version that is not a whole number of 0 or more, a command or a refusal not of enroll's): it was edited outside enroll")
    }
}

extension HashChain {
    /// Cross-checks the tables outside the chain against the journal, in one statement: each
    /// user's last version, last sealing event and last removal come from one grouped scan of
    /// the `(stream_id, stream_version)` index, the sealing commands' records from one grouped
    /// scan of `commands`, and the other tables are joined against them (no query per row). Returns at most `limit` findings, by kind, then stream and version.
    ///
    /// A data key is made by the command that seals a stream's first secret (after a removal,
    /// if any) and destroyed only by a removal, with that command's time. A stream whose data
    /// key is missing is reported only when this database recorded the command that sealed its
    /// current secret (a `RequestEnrollment` or `RegenerateSecret` record at or after that
    /// event), and one whose key was not made with its first secret only when this database
    /// recorded its first request: an imported copy has neither data keys nor command records,
    /// and its secrets read as forgotten by design. Deleting those command records as well
    /// makes a stream look imported, and goes unseen.
    ///
    /// A data key is made by the first sealing event's command with that command's clock
    /// reading, so its `created_at` equals that event's `recorded_at` exactly: the key is
    /// compared with the stream's first sealing event by stream version, never with the
    /// earliest time among its sealing events, which a clock set back between two commands (an
    /// NTP step, `ENROLL_NOW`) moves to a later event. Clock steps of any size leave a genuine
    /// key alone, and a key made by a later command differs from the first event's time
    /// whichever way the clock went.
    public static func crossCheck(in db: Database, limit: Int = 100) throws -> [OutsideChainFinding] {
        let sealing = [EventType.enrollmentRequested, .secretRegenerated].map { "'\($0.rawValue)'" }.joined(separator: ", ")
        let removal = "'\(EventType.authenticatorRemoved.rawValue)'"
        let sealingCommands = ["RequestEnrollment", "RegenerateSecret"].map { "'\($0)'" }.joined(separator: ", ")
        let commandNames = EnrollmentCommand.names.sorted().map { "'\($0)'" }.joined(separator: ", ")
        let rows = try Row.fetchCursor(db, sql: """
            WITH streams AS (
                SELECT stream_id, MAX(stream_version) AS last,
                    MAX(CASE WHEN type IN (\(sealing)) THEN stream_version END) AS sealed,
                    MAX(CASE WHEN type = \(removal) THEN stream_version END) AS removed,
                    MIN(CASE WHEN type IN (\(sealing)) THEN stream_version END) AS first_sealed
                FROM events GROUP BY stream_id),
            sealers AS (
                SELECT stream_id, MAX(stream_version) AS sealed_by,
                    MIN(CASE WHEN command = 'RequestEnrollment' THEN stream_version END) AS first_request
                FROM commands WHERE rejection IS NULL AND command IN (\(sealingCommands)) GROUP BY stream_id)
            SELECT 1 AS kind, s.stream_id AS stream, NULL AS what, s.sealed AS version, s.last AS last
                FROM streams s JOIN sealers c ON c.stream_id = s.stream_id
                WHERE s.sealed > COALESCE(s.removed, 0) AND c.sealed_by >= s.sealed
                  AND NOT EXISTS (SELECT 1 FROM data_keys k WHERE k.stream_id = s.stream_id)
            UNION ALL
            SELECT 2, s.stream_id, NULL, k.created_at, f.recorded_at
                FROM streams s JOIN data_keys k ON k.stream_id = s.stream_id JOIN sealers c ON c.stream_id = s.stream_id
                    JOIN events f ON f.stream_id = s.stream_id AND f.stream_version = s.first_sealed
                WHERE s.removed IS NULL AND k.created_at != f.recorded_at AND c.first_request = 1
            UNION ALL
            SELECT 3, k.stream_id, NULL, NULL, 0 FROM data_keys k LEFT JOIN streams s ON s.stream_id = k.stream_id
                WHERE s.stream_id IS NULL
            UNION ALL
            SELECT 4, c.stream_id, c.command, c.stream_version, COALESCE(s.last, 0) FROM commands c LEFT JOIN streams s ON s.stream_id = c.stream_id
                WHERE typeof(c.stream_id) = 'text' AND typeof(c.stream_version) = 'integer' AND c.stream_version > COALESCE(s.last, 0)
                  AND c.command IN (\(commandNames))
            UNION ALL
            SELECT 5, CAST(c.stream_id AS TEXT), c.command_id, NULL, 0 FROM commands c
                WHERE typeof(c.stream_id) != 'text' OR typeof(c.stream_version) != 'integer' OR c.stream_version < 0
                   OR typeof(c.command) != 'text' OR c.command NOT IN (\(commandNames))
                   OR (c.rejection IS NOT NULL AND (typeof(c.rejection) != 'text' OR NOT json_valid(c.rejection)))
                   OR (c.arguments_mac IS NOT NULL AND typeof(c.arguments_mac) != 'blob')
            ORDER BY kind, stream, version
            LIMIT ?
            """, arguments: [limit])
        var findings: [OutsideChainFinding] = []
        while let row = try rows.next() {
            // Read leniently: these are the tables this check exists to find edited.
            let kind = row.lenient("kind", as: Int.self) ?? 0
            let stream = row.lenient("stream", as: String.self) ?? ""
            let version = row.lenient("version", as: Int64.self)
            let last = row.lenient("last", as: Int64.self) ?? 0
            let name = "'\(Validation.excerpt(stream))'"
            switch kind {
            case 1:
                findings.append(OutsideChainFinding(
                    kind: .dataKeyDeleted, stream: stream,
                    detail: "\(name) has no data key, yet no AuthenticatorRemoved follows the secret sealed at stream version \(version ?? 0): the key was deleted outside enroll (a faked crypto-shred: its secrets read as forgotten), or the removal's events were deleted from the journal"))
            case 2:
                findings.append(OutsideChainFinding(
                    kind: .dataKeyReplaced, stream: stream,
                    detail: "\(name) was never removed, yet its data key was made at \(Timestamps.iso8601(version ?? 0)), \((version ?? 0) > last ? "after" : "not with") its first secret (\(Timestamps.iso8601(last))): the key that sealed its earlier secrets was deleted outside enroll (a faked crypto-shred: they read as forgotten)"))
            case 3:
                findings.append(OutsideChainFinding(
                    kind: .dataKeyWithoutEvents, stream: stream,
                    detail: "\(name) has a data key but no events: the user's events were deleted from the journal"))
            case 5:
                let id = row.lenient("what", as: String.self) ?? ""
                findings.append(.edited(commandId: id, stream: stream))
            default:
                let command = row.lenient("what", as: String.self) ?? ""
                findings.append(OutsideChainFinding(
                    kind: .commandPastStream, stream: stream,
                    detail: "the record of a \(command) command for \(name) is at stream version \(version ?? 0), past the stream's last event (\(last == 0 ? "it has none" : "version \(last)")): the events it appended were deleted"))
            }
        }
        // A refusal that is JSON but not one enroll writes (an unknown code, a negative count):
        // only its decoder tells, so each distinct text is decoded once here.
        if findings.count < limit {
            let decoder = JSONDecoder()
            let texts = try String.fetchAll(db, sql: "SELECT DISTINCT rejection FROM commands WHERE typeof(rejection) = 'text' AND json_valid(rejection)")
            for text in texts where (try? decoder.decode(EnrollmentRejection.self, from: Data(text.utf8))) == nil {
                let rows = try Row.fetchAll(
                    db, sql: "SELECT command_id, stream_id FROM commands WHERE rejection = ? AND typeof(stream_id) = 'text' ORDER BY stream_id LIMIT ?",
                    arguments: [text, limit - findings.count])
                for row in rows {
                    let id = row.lenient("command_id", as: String.self) ?? "", stream = row.lenient("stream_id", as: String.self) ?? ""
                    findings.append(.edited(commandId: id, stream: stream))
                }
                if findings.count >= limit { break }
            }
        }
        return findings
    }
}
