import Foundation
import GRDB

/// What kind of tampering breaks the hash chain at a position, as far as the rows around it tell.
public enum Tampering: String, Sendable, Hashable, Codable {
    /// The row's contents no longer match its hash, but its hash still chains into the next row.
    case modified
    /// One or more rows are missing (a gap in positions, or later rows that chain past a missing one).
    case deleted
    /// A row that was never appended sits here; the next row belongs at this position.
    case inserted
    /// The row that belongs here was moved to another position.
    case reordered
    /// The chain breaks in a way none of the above explains: the row does not chain to the one
    /// before it and the row after does not chain to it, so more than one row was changed (or
    /// more rows were deleted and renumbered than the diagnosis looks for), or a row sits at a
    /// position no row can have.
    case broken
}

/// Where and how the chain first breaks.
public struct ChainBreak: Sendable, Hashable, Codable {
    /// The first position whose row does not chain to the row before it.
    public var position: Int64
    public var tampering: Tampering
    public var detail: String
    /// The earliest position that may have been changed. A row whose hash does not chain from
    /// its predecessor's looks the same whether it was itself modified or its predecessor was
    /// modified and given a recomputed hash; in that case this is the predecessor's position,
    /// and only the rows before it count as verified.
    public var earliestChanged: Int64

    public init(position: Int64, tampering: Tampering, detail: String, earliestChanged: Int64? = nil) {
        self.position = position
        self.tampering = tampering
        // The detail quotes the broken row's ids, which whoever edited the row chose: control
        // characters in them must not print a line of their own in the tamper report.
        self.detail = TextField.escaped(detail)
        self.earliestChanged = earliestChanged ?? position
    }
}

/// Where the recorded times of a journal go backwards: each event's time is the clock of the
/// process that appended it (or `ENROLL_NOW`), so a clock set back shows here.
///
/// An event's time is read when its command is decided, and commands decided concurrently (by
/// a server's group commit, or by several processes) may commit in another order, the later
/// one waiting for the write lock at most the busy timeout: a step back of up to
/// ``tolerance`` is that, not a clock set back, and is not counted.
public struct TimeReversals: Sendable, Hashable {
    /// The default busy timeout: the longest a decided command normally waits to be appended.
    public static let tolerance: UnixTime = 10
    /// How many rows carry a time more than ``tolerance`` earlier than the row before them.
    public var count: Int64
    /// The first such row's position, its time and the time of the row before it.
    public var firstPosition: Int64
    public var firstTime: UnixTime
    public var timeBefore: UnixTime
}

/// The result of walking the journal.
public struct ChainVerification: Sendable, Hashable {
    /// Rows whose hash was checked and found chained (all rows when the chain is intact).
    public var verified: Int64
    /// The last position in the journal.
    public var head: Int64
    /// `nil` when every row chains to the previous one from the genesis hash.
    public var firstBreak: ChainBreak?
    /// The hash of the last row that verified (the genesis hash for an empty journal).
    public var lastHash: [UInt8] = HashChain.genesis
    /// Rows recorded at a time earlier than the row before them, among those walked; `nil` if none.
    public var timeReversals: TimeReversals?

    public var isIntact: Bool { firstBreak == nil }

    /// Where an intact journal stands: what to keep outside the database, so that a later
    /// `verify` against it catches a journal rewritten with recomputed hashes (``ChainAnchor``).
    /// An empty journal has none: no row can be named, and anchors start at position 1.
    public var anchor: ChainAnchor? { isIntact && head > 0 ? ChainAnchor(position: head, hash: lastHash) : nil }
}

extension HashChain {
    /// The hash of `row` recomputed from its stored columns, as if it sat at `position` after `previous`.
    public static func hash(of row: RecordedEvent, previous: [UInt8], at position: Int64? = nil) -> [UInt8] {
        hash(
            previous: previous, position: position ?? row.position, streamId: row.streamId,
            streamVersion: row.streamVersion, eventId: row.eventId, type: row.type,
            schemaVersion: row.schemaVersion, data: row.data, metadata: row.metadataJSON, recordedAt: row.recordedAt)
    }

    /// Walks the whole journal in position order with a cursor (constant memory), recomputing
    /// every row's hash from the previous row's and its own columns.
    ///
    /// Positions must run 1, 2, 3… without gaps and every hash must match. At the first break
    /// it looks at the next few rows to tell modification, deletion, insertion and reordering
    /// apart, and past a gap at the rest of the journal for the row missing there (moved, not
    /// deleted). Deleting rows at the very end of the journal is caught only when a projection
    /// had already applied them (its checkpoint lies past the head); rewriting rows with
    /// recomputed hashes is caught only against an anchor kept elsewhere (``check(_:in:)``).
    ///
    /// `progress` is called once per row verified (the command line's progress line).
    public static func verify(in db: Database, progress: () -> Void = {}) throws -> ChainVerification {
        let head = try EventJournal.head(in: db)
        var previous = genesis
        var previousEventId = ""
        var expected: Int64 = 1
        var verified: Int64 = 0
        var lastTime = UnixTime.min
        var reversals: TimeReversals?
        // Each user's last version so far: versions run 1, 2, 3… within a stream. Keyed by the
        // id's bytes, as streams are: "café" composed and decomposed are two users
        // (``BinaryString``), not one whose versions would seem to restart.
        var versions: [BinaryString: Int64] = [:]
        let rows = try StoredRow.fetchCursor(db, sql: "SELECT \(typedColumns()) FROM events ORDER BY position").map(\.event)
        while let row = try rows.next() {
            if row.position != expected || hash(of: row, previous: previous) != row.hash {
                var window = [row]
                while window.count < diagnosisWindow, let next = try rows.next() { window.append(next) }
                var found = diagnose(window, expected: expected, previous: previous, previousEventId: previousEventId)
                // A gap may be a row moved elsewhere (`position = position + 1000`), not deleted:
                // the rest of the journal is read for it, past the window if need be.
                if found.tampering == .deleted, row.position > expected {
                    var rest = window.makeIterator()
                    if let moved = try firstRow(appendedAt: expected, after: previous, in: { try rest.next() ?? rows.next() }) {
                        found = ChainBreak(position: expected, tampering: .reordered, detail: movedOut(moved, from: expected, gapEnd: row.position, head: head))
                    }
                }
                // Only the rows before the earliest that may have changed are vouched for.
                return ChainVerification(
                    verified: min(verified, found.earliestChanged - 1), head: head, firstBreak: found, timeReversals: reversals)
            }
            // A chain recomputed after an edit is intact, but a stream version out of its
            // sequence is something no append writes (and the user's commands would refuse).
            let stream = BinaryString(row.streamId)
            let expectedVersion = (versions[stream] ?? 0) + 1
            guard row.streamVersion == expectedVersion else {
                return ChainVerification(verified: verified, head: head, firstBreak: ChainBreak(
                    position: row.position, tampering: .modified,
                    detail: "the event of \(TextField.quoted(row.streamId)) at this position has stream version \(row.streamVersion) where \(expectedVersion) follows (a user's versions run 1, 2, 3…): the row was edited and the hashes after it recomputed"),
                    timeReversals: reversals)
            }
            versions[stream] = row.streamVersion
            // (A tampered row may hold any 64-bit time: the difference must not overflow.)
            let (stepBack, overflow) = lastTime.subtractingReportingOverflow(row.recordedAt)
            if row.recordedAt < lastTime, overflow || stepBack > TimeReversals.tolerance {
                if reversals == nil {
                    reversals = TimeReversals(count: 0, firstPosition: row.position, firstTime: row.recordedAt, timeBefore: lastTime)
                }
                reversals?.count += 1
            }
            lastTime = row.recordedAt
            progress()
            previous = row.hash
            previousEventId = row.eventId
            expected += 1
            verified += 1
        }
        if let deleted = try deletedEnd(head: head, in: db) {
            return ChainVerification(verified: verified, head: head, firstBreak: ChainBreak(
                position: head + 1, tampering: .deleted, detail: deleted), timeReversals: reversals)
        }
        return ChainVerification(verified: verified, head: head, firstBreak: nil, lastHash: previous, timeReversals: reversals)
    }

    /// Rows deleted from the journal's end leave the chain intact, but a projection's checkpoint
    /// written with them is past the journal's `head`: what it says, or `nil`. `chainVerified`:
    /// every row up to `head` chains, so the missing rows are the last ones, and are named;
    /// otherwise (a reader that checked only the rows it shows) rows deleted from the middle and
    /// the rest renumbered look the same, and only their number is known.
    static func deletedEnd(head: Int64, chainVerified: Bool = true, in db: Database) throws -> String? {
        // A checkpoint edited to hold text or a real (which SQLite sorts above every integer) is
        // no position: the projection's own checks report its table.
        guard let ahead = try Row.fetchOne(db, sql: """
            SELECT name, position FROM projection_checkpoints
            WHERE typeof(position) = 'integer' AND position > ? ORDER BY position DESC LIMIT 1
            """, arguments: [head]),
            let position = ahead.lenient("position", as: Int64.self)
        else {
            return nil
        }
        let name = ahead.lenient("name", as: String.self) ?? "(unnamed)"
        let missing = chainVerified ? "rows \(head + 1)…\(position) were deleted"
            : "\(position - head) row\(position - head == 1 ? " was" : "s were") deleted from it"
        return "the journal ends at position \(head) but the \(name) projection had applied events up to \(position): \(missing)"
    }

    /// Checks an intact journal against an anchor kept outside it; `nil` when it matches.
    public static func check(_ anchor: ChainAnchor, in db: Database) throws -> AnchorMismatch? {
        if anchor.position == 0 { return anchor.hash == genesis ? nil : .rewritten(found: genesis) }
        guard let stored = try storedHash(at: anchor.position, in: db) else {
            return .shorter(head: try EventJournal.head(in: db))
        }
        return stored == anchor.hash ? nil : .rewritten(found: stored)
    }

    /// The chained hash stored at `position` (`nil`: no such row). It covers every row up to
    /// there, so an equal hash means an unchanged journal up to that position (anchors; a
    /// service's kept folds, ``StreamFoldCache``).
    static func storedHash(at position: Int64, in db: Database) throws -> [UInt8]? {
        let statement = try db.cachedStatement(sql: "SELECT CAST(hash AS BLOB) FROM events WHERE position = ?")
        try statement.setArguments([position])
        return try RowReader.first(statement, in: db) { $0.bytes(0) }
    }

    static let diagnosisWindow = 64

    /// The first row `next` gives that was appended at `position` after `previous` (its hash,
    /// recomputed there, is the one it stores), wherever it sits now; `nil` if none is.
    static func firstRow(appendedAt position: Int64, after previous: [UInt8], in next: () throws -> RecordedEvent?) rethrows -> RecordedEvent? {
        while let row = try next() {
            if hash(of: row, previous: previous, at: position) == row.hash { return row }
        }
        return nil
    }

    /// What a gap from `position` up to `gapEnd` is when the row of `position` was found at another
    /// position: moved there, not deleted.
    /// When the moved row itself ends the gap and the journal (it was the last, moved past the
    /// head), the positions in between never held a row to speak of.
    static func movedOut(_ moved: RecordedEvent, from position: Int64, gapEnd: Int64, head: Int64) -> String {
        let others = switch gapEnd - position {
        case _ where moved.position == gapEnd && moved.position == head: ""
        case 1: ""
        case 2: "; row \(position + 1) is not in its place either"
        default: "; rows \(position + 1)…\(gapEnd - 1) are not in their places either"
        }
        return "the row of position \(position) (event \(moved.eventId)) is now at position \(moved.position): it was moved, not deleted\(others)"
    }

    /// The journal's columns, each cast to the type it must have, so that a row altered by
    /// hand to hold text where a number belongs reads as a hash mismatch rather than a failure.
    /// A number column holding anything but an integer reads as ``mistypedNumber``, never as
    /// its cast: `2.5` cast is `2`, which an append may well have hashed, and the edit would
    /// verify (and export as the integer, the evidence gone).
    static func typedColumns(prefix: String = "") -> String {
        let p = prefix.isEmpty ? "" : prefix + "."
        func number(_ column: String) -> String {
            "CASE WHEN typeof(\(p)\(column)) = 'integer' THEN \(p)\(column) ELSE \(mistypedNumber) END AS \(column)"
        }
        return """
            \(p)position AS position, CAST(\(p)stream_id AS TEXT) AS stream_id, \(number("stream_version")),
            CAST(\(p)event_id AS TEXT) AS event_id, CAST(\(p)type AS TEXT) AS type, \(number("schema_version")),
            CAST(\(p)data AS TEXT) AS data, CAST(\(p)metadata AS TEXT) AS metadata, \(number("recorded_at")),
            CAST(\(p)hash AS BLOB) AS hash
            """
    }

    /// What ``typedColumns(prefix:)`` reads for a number column holding another type: a value
    /// no append writes (versions start at 1, times are after 1970), so the row's hash fails.
    static let mistypedNumber: Int64 = -1

    /// Explains a break from the rows at and after it. `window[0]` is the first row that does
    /// not verify; `previous` is the last good hash, `previousEventId` its row's event id and
    /// `expected` the position that should follow.
    ///
    /// A row whose stored hash does not chain from its predecessor's says only that the link
    /// between them is broken: the row was modified, or its predecessor was modified and its
    /// hash recomputed (which the predecessor's own check cannot see). Only what the rows after
    /// the break prove narrows that down: a later row computed at this position after the last
    /// good hash (inserted, reordered), later rows computed at shifted positions (deleted and
    /// renumbered), or the next row chaining from this row's recomputed hash (only its stored
    /// hash was overwritten). Otherwise the diagnosis names both rows.
    static func diagnose(_ window: [RecordedEvent], expected: Int64, previous: [UInt8], previousEventId: String = "") -> ChainBreak {
        let row = window[0]
        if row.position != expected {
            if row.position > expected {
                let missing = row.position - expected
                return ChainBreak(
                    position: expected, tampering: .deleted,
                    detail: missing == 1 ? "the row at position \(expected) is missing" : "rows \(expected)…\(row.position - 1) are missing")
            }
            return ChainBreak(position: row.position, tampering: .broken, detail: "position \(row.position) appears out of sequence (expected \(expected))", earliestChanged: expected)
        }
        // The row that belongs here (the one whose hash was computed at this position after the
        // last good row) may sit further on.
        if let index = window.indices.dropFirst().first(where: { hash(of: window[$0], previous: previous, at: expected) == window[$0].hash }) {
            let moved = window[index]
            // If this row in turn belongs somewhere after, rows were swapped; otherwise it is new.
            var belongsLater = false
            let positions = (expected + 1)...(expected + Int64(window.count))
            for other in window.dropFirst() where !belongsLater {
                for position in positions where hash(of: row, previous: other.hash, at: position) == row.hash {
                    belongsLater = true
                }
            }
            if belongsLater || index > 1 {
                return ChainBreak(
                    position: expected, tampering: .reordered,
                    detail: "the row at position \(expected) (event \(row.eventId)) is not the one appended there; that one (event \(moved.eventId)) now sits at position \(moved.position)")
            }
            return ChainBreak(
                position: expected, tampering: .inserted,
                detail: "the row at position \(expected) (event \(row.eventId), \(row.type) for \(row.streamId)) was never appended: the rows after it were shifted to make room")
        }
        // The first row has no predecessor whose hash could have been recomputed.
        let predecessor = expected > 1 ? ", or the row at position \(expected - 1) (event \(previousEventId)) was modified and its hash recomputed (the chain cannot tell which)" : ""
        let earliest = expected > 1 ? expected - 1 : expected
        guard window.count > 1 else {
            return ChainBreak(
                position: expected, tampering: .modified,
                detail: "the last row, at position \(expected) (event \(row.eventId)), does not match its hash: it or its hash was modified, or it was appended by hand\(predecessor)",
                earliestChanged: earliest)
        }
        let next = window[1]
        if hash(of: next, previous: row.hash) == next.hash {
            return ChainBreak(
                position: expected, tampering: .modified,
                detail: "the row at position \(expected) (event \(row.eventId)) was modified after it was appended\(predecessor)",
                earliestChanged: earliest)
        }
        // The row's columns are as appended and only its stored hash changed: the next row
        // chains from the hash its columns give.
        if hash(of: next, previous: hash(of: row, previous: previous)) == next.hash {
            return ChainBreak(
                position: expected, tampering: .modified,
                detail: "the hash stored at position \(expected) (event \(row.eventId)) was overwritten; the row's columns are as appended (the row after it chains from their hash)")
        }
        // Later rows still chain among themselves at a shifted position: rows were deleted
        // and the rest renumbered to close the gap.
        for shift: Int64 in 1...8 where hash(of: next, previous: row.hash, at: next.position + shift) == next.hash {
            return ChainBreak(
                position: expected, tampering: .deleted,
                detail: "\(shift) row\(shift == 1 ? "" : "s") before position \(expected) \(shift == 1 ? "was" : "were") deleted and the rows after renumbered")
        }
        return ChainBreak(
            position: expected, tampering: .broken,
            detail: "the row at position \(expected) does not chain to the one before it, and the row after it does not chain to it: more than one row was changed\(expected > 1 ? " (from position \(expected - 1) on, if that row was modified and its hash recomputed)" : "")",
            earliestChanged: earliest)
    }
}
