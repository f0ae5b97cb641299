import Foundation
import GRDB

/// How far a rebuild has come: what the progress bar shows.
public struct RebuildProgress: Sendable, Hashable {
    public var projection: String
    /// The journal position the shadow table has reached.
    public var position: Int64
    /// The journal's head when this progress was measured (it moves while others append).
    public var head: Int64
    /// The position this run started from (0, or a checkpoint left by an interrupted run).
    public var resumedFrom: Int64
    /// Events applied by this run so far.
    public var applied: Int64
    public var elapsed: TimeInterval

    public var eventsPerSecond: Double { elapsed > 0 ? Double(applied) / elapsed : 0 }
    public var remaining: Int64 { max(head - position, 0) }
    /// Seconds left at the current rate, when there is a rate to go by.
    public var estimatedSecondsLeft: Double? { eventsPerSecond > 0 ? Double(remaining) / eventsPerSecond : nil }
    /// 0…1 over the whole journal.
    public var fraction: Double { head > 0 ? min(Double(position) / Double(head), 1) : 1 }
}

/// What a finished rebuild did: the tool's one-line summary.
public struct RebuildSummary: Sendable, Hashable {
    public var projection: String
    public var schemaVersion: Int
    /// The position at which the shadow table was swapped in (the head at that moment).
    public var position: Int64
    public var resumedFrom: Int64
    public var applied: Int64
    public var rows: Int
    public var elapsed: TimeInterval
}

/// One projection as `rebuild-projections --status` shows it.
public struct ProjectionState: Sendable, Hashable {
    public var name: String
    /// The schema version of the stored table (`nil`: never built).
    public var storedVersion: Int?
    public var codeVersion: Int
    /// The last journal position applied to the stored table.
    public var position: Int64
    public var head: Int64
    /// Where an interrupted rebuild's shadow table stands, if one is waiting to resume.
    public var rebuildCheckpoint: Int64?

    public var lag: Int64 { max(head - position, 0) }
    public var isCurrent: Bool { storedVersion == codeVersion }
    /// Readers accept it and appends keep it up to date.
    public var isServing: Bool { isCurrent && lag == 0 }
}

/// Rebuilds a projection from the journal without stopping writers.
///
/// The projection is folded into a shadow table (`NAME_rebuild`) in batches, each its own
/// write transaction that also saves the shadow's checkpoint, so other processes keep
/// appending between batches and a run killed at any point (even `kill -9`) resumes from the
/// last committed batch. One ``ProjectionFold`` lives through the whole run: it keeps the rows
/// it has folded in memory (up to its own cap) and each batch writes only the rows that changed.
/// Once a batch reaches the end of the journal, one last write transaction applies the
/// remaining events (no one can append meanwhile), drops the old table, renames the shadow in
/// and records the projection at the head with the code's schema version. Readers see either
/// the old table or the new one, never a mix.
///
/// ```swift
/// let rebuilder = ProjectionRebuilder(database: database)
/// let summary = try rebuilder.rebuild(AuthenticatorsProjection()) { progress in … }
/// ```
public struct ProjectionRebuilder: Sendable {
    public let database: EnrollmentDatabase
    /// Most events per batch transaction.
    public var batchSize: Int
    /// A batch also ends after this long. Each batch costs a commit and the writing of the rows
    /// it changed (with many users, about one per user), so batches are long enough for that to
    /// stay small beside the folding, and short enough that appenders, who wait for the write
    /// lock meanwhile, wait little.
    public var batchDuration: Duration

    public init(database: EnrollmentDatabase, batchSize: Int = 1_000_000, batchDuration: Duration = .milliseconds(250)) {
        self.database = database
        self.batchSize = max(batchSize, 1)
        self.batchDuration = batchDuration
    }

    public static func shadowName(of projection: any Projection) -> String { projection.name + "_rebuild" }

    /// Rebuilds `projection` and swaps it in. `progress` is called after every batch.
    @discardableResult
    public func rebuild(_ projection: any Projection, progress: (RebuildProgress) -> Void = { _ in }) throws(StoreError) -> RebuildSummary {
        let shadow = Self.shadowName(of: projection)
        let started = Date()
        do {
            var (position, fold) = try database.writer.write { db in
                let position = try Self.prepareShadow(projection, shadow: shadow, in: db)
                return (position, try projection.makeFold(into: shadow, after: position, in: db))
            }
            let resumedFrom = position
            var applied: Int64 = 0
            func report(head: Int64) {
                progress(RebuildProgress(
                    projection: projection.name, position: position, head: head, resumedFrom: resumedFrom,
                    applied: applied, elapsed: Date().timeIntervalSince(started)))
            }
            while true {
                let (batch, head) = try database.writer.write { db -> (Batch, Int64) in
                    try Self.checkStillOurs(projection, shadow: shadow, position: position, in: db)
                    let batch = try Self.fold(
                        into: &fold, after: &position, limit: batchSize, until: .now + batchDuration, in: db)
                    try fold.flush(in: db)
                    try ProjectionCheckpoint(name: shadow, schemaVersion: projection.schemaVersion, position: position).save(in: db)
                    return (batch, try EventJournal.head(in: db))
                }
                applied += Int64(batch.count)
                report(head: head)
                if batch.reachedEnd || position >= head { break }
            }
            let (tail, rows) = try database.writer.write { db -> (Int, Int) in
                try Self.checkStillOurs(projection, shadow: shadow, position: position, in: db)
                let tail = try Self.fold(into: &fold, after: &position, in: db).count
                try fold.flush(in: db)
                try db.execute(sql: "DROP TABLE IF EXISTS \"\(projection.name)\"")
                try db.execute(sql: "ALTER TABLE \"\(shadow)\" RENAME TO \"\(projection.name)\"")
                try db.execute(sql: "DELETE FROM projection_checkpoints WHERE name = ?", arguments: [shadow])
                try ProjectionCheckpoint(name: projection.name, schemaVersion: projection.schemaVersion, position: position).save(in: db)
                return (tail, try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \"\(projection.name)\"") ?? 0)
            }
            applied += Int64(tail)
            if tail > 0 { report(head: position) }
            return RebuildSummary(
                projection: projection.name, schemaVersion: projection.schemaVersion, position: position,
                resumedFrom: resumedFrom, applied: applied, rows: rows, elapsed: Date().timeIntervalSince(started))
        } catch {
            throw StoreError(error, path: database.path)
        }
    }

    /// Every projection this code knows, with its stored and code versions and its lag.
    public func status() throws(StoreError) -> [ProjectionState] {
        do {
            return try database.writer.read { db in
                let head = try EventJournal.head(in: db)
                return try Projections.all.map { projection in
                    let stored = try ProjectionCheckpoint.load(projection.name, in: db)
                    let shadow = try ProjectionCheckpoint.load(Self.shadowName(of: projection), in: db)
                    return ProjectionState(
                        name: projection.name, storedVersion: stored?.schemaVersion, codeVersion: projection.schemaVersion,
                        position: stored?.position ?? 0, head: head,
                        rebuildCheckpoint: shadow?.schemaVersion == projection.schemaVersion ? shadow?.position : nil)
                }
            }
        } catch {
            throw StoreError(error, path: database.path)
        }
    }

    /// Keeps a shadow table left by an interrupted run of the same schema version (returning its
    /// checkpoint); otherwise starts a fresh one at position 0.
    static func prepareShadow(_ projection: any Projection, shadow: String, in db: Database) throws -> Int64 {
        if let checkpoint = try ProjectionCheckpoint.load(shadow, in: db),
           checkpoint.schemaVersion == projection.schemaVersion, try db.tableExists(shadow) {
            return checkpoint.position
        }
        try db.execute(sql: "DROP TABLE IF EXISTS \"\(shadow)\"")
        try projection.createTable(named: shadow, in: db)
        try ProjectionCheckpoint(name: shadow, schemaVersion: projection.schemaVersion, position: 0).save(in: db)
        return 0
    }

    /// Two rebuilds of one projection at once would fold the same events twice into the shadow
    /// table: each batch first checks that the shadow checkpoint is still where this run left it.
    static func checkStillOurs(_ projection: any Projection, shadow: String, position: Int64, in db: Database) throws {
        let checkpoint = try ProjectionCheckpoint.load(shadow, in: db)
        guard checkpoint?.position == position, checkpoint?.schemaVersion == projection.schemaVersion, try db.tableExists(shadow) else {
            throw StoreError.rebuildInProgress(name: projection.name)
        }
    }

    struct Batch {
        var count: Int
        /// The journal had no more events (rather than the batch reaching its size or its time).
        var reachedEnd: Bool
    }

    /// Folds the events after `position` into `fold` (at most `limit`, until `deadline`),
    /// advancing `position`; the caller flushes.
    static func fold(
        into fold: inout any ProjectionFold, after position: inout Int64, limit: Int? = nil,
        until deadline: ContinuousClock.Instant? = nil, in db: Database
    ) throws -> Batch {
        var stoppedEarly = false
        var last = position
        let count = try EventJournal.scan(after: position, limit: limit, in: db) { event, header in
            try fold.apply(event, header: header, in: db)
            last = header.position
            // The clock is read every 1 024 events: reading it costs about as much as folding one.
            if let deadline, header.position & 1_023 == 0, ContinuousClock.now >= deadline {
                stoppedEarly = true
                return false
            }
            return true
        }
        position = last
        return Batch(count: count, reachedEnd: !stoppedEarly && count < (limit ?? .max))
    }

    /// Inside one write transaction: creates any projection that has no table and brings every
    /// current projection up to the head (what `enroll import` does after loading rows).
    static func catchUpAll(in db: Database) throws {
        for projection in Projections.all {
            var checkpoint = try ProjectionCheckpoint.load(projection.name, in: db)
            if checkpoint == nil || checkpoint?.schemaVersion != projection.schemaVersion {
                try db.execute(sql: "DROP TABLE IF EXISTS \"\(projection.name)\"")
                try projection.createTable(named: projection.name, in: db)
                checkpoint = ProjectionCheckpoint(name: projection.name, schemaVersion: projection.schemaVersion, position: 0)
            }
            guard var current = checkpoint else { continue }
            var fold = try projection.makeFold(into: projection.name, after: current.position, in: db)
            _ = try Self.fold(into: &fold, after: &current.position, in: db)
            try fold.flush(in: db)
            try current.save(in: db)
        }
    }
}
