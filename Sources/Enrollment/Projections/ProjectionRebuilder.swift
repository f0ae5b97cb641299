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
    public var remaining: Int64 { position.distance(to: head) }
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
    /// Why a shadow table left by an interrupted run was not resumed but discarded, this run
    /// starting over from position 0 (`nil`: there was none, or it was resumed).
    public var discarded: String?
    /// What an operator built on the old table, and what became of it.
    public var kept = OperatorObjects()
}

/// What an operator built on a projection table (`CREATE INDEX … ON authenticators`, a trigger,
/// a view, a column added), as a rebuild's swap left it: the tool's summary names each.
public struct OperatorObjects: Sendable, Hashable {
    /// The table's own indexes and triggers, created again on the new table: their names.
    public var restored: [String] = []
    /// Indexes and triggers that no longer fit (a column they name is gone), each with SQLite's
    /// reason and its definition, gone from the database: the operator's to adapt and create
    /// again. A trigger of another table whose writes the new table makes fail is among them.
    public var notRestored: [String] = []
    /// Columns the operator added to the old table, which the new one does not have: their
    /// values were not carried over.
    public var droppedColumns: [String] = []
    /// Views that read the old table and no longer read the new one, with SQLite's reason: kept
    /// as they are (they fail only their own readers).
    public var brokenViews: [String] = []
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
    /// Where an unfinished rebuild's shadow table stands: one waiting to resume, or the one
    /// running now (``rebuildRunning``).
    public var rebuildCheckpoint: Int64?
    /// A rebuild of this projection is running now (it holds its ``RebuildLease``).
    public var rebuildRunning = false
    /// Why the next run will discard the interrupted rebuild's shadow table rather than resume it
    /// (its checkpoint past the head, its columns changed, the journal rewritten under it).
    public var rebuildDiscard: String?
    /// The schema version of a shadow table an interrupted rebuild by a newer release left, which
    /// a rebuild refuses (``StoreError/shadowOfNewerVersion(name:stored:code:)``); `nil` for none.
    public var newerShadowVersion: Int?
    /// What is wrong with the stored table (``ProjectionTable/problem(of:table:in:)``: "is
    /// missing", "lacks the column x"), though its checkpoint may say it is current.
    public var tableProblem: String?
    /// Its checkpoint was edited by hand (``ProjectionCheckpoint/damage``): the stored version
    /// and position then mean nothing. Also in ``tableProblem``.
    public var checkpointDamage: String?

    public var lag: Int64 { position.distance(to: head) }
    /// Events the checkpoint has applied past the journal's head: rows deleted from its end.
    public var ahead: Int64 { head.distance(to: position) }
    public var isCurrent: Bool { storedVersion == codeVersion }
    /// Written by a newer release: readers ask for an upgrade and a rebuild refuses it.
    public var isNewer: Bool { (storedVersion ?? 0) > codeVersion }
    /// Readers accept it and appends keep it up to date.
    public var isServing: Bool { isCurrent && position == head && tableProblem == nil }
}

/// Rebuilds a projection from the journal without stopping writers.
///
/// The projection is folded into a shadow table (`NAME_rebuild`) in batches, each its own
/// write transaction that also saves the shadow's checkpoint, so other processes keep
/// appending between batches and a run killed at any point (even `kill -9`) resumes from the
/// last committed batch. One ``ProjectionFold`` lives through the whole run: it keeps the rows
/// it has folded in memory (up to its own cap) and each batch writes only the rows that changed.
/// The batch that reaches the head (no one can append meanwhile: it holds the write lock) also
/// drops the old table, renames the shadow in and records the projection at the head with the
/// code's schema version, in the same transaction. Readers see either the old table or the new
/// one, never a mix.
///
/// The folding happens inside the batch's write transaction: a fold reads rows of the shadow
/// table as it meets their users and writes them back when it passes its memory cap, so it
/// cannot run under a read snapshot alone. Reading and decoding the journal, about two thirds
/// of the work, is done ahead of the fold by ``readAheadThreads`` threads on read-only
/// connections of their own (``JournalReadAhead``), which see exactly what the batch sees
/// because they start after it has taken the write lock. What keeps appenders waiting little is the pause:
/// once the rebuild has held the write lock for ``lockSpell`` (over one batch or several small
/// ones), it leaves the lock free for ``pause`` after the commit, long enough for a writer that
/// polls every millisecond (``EnrollmentDatabase``'s busy handler) to take it. Back to back, a
/// waiting writer would almost never find the lock free.
///
/// A projection that a newer release wrote (a higher schema version than this code's) is
/// refused unless ``allowsDowngrade``: in a rolling upgrade the two releases would otherwise
/// rebuild it over each other.
///
/// ```swift
/// let rebuilder = ProjectionRebuilder(database: database)
/// let summary = try rebuilder.rebuild(AuthenticatorsProjection()) { progress in … }
/// ```
public struct ProjectionRebuilder: Sendable {
    public let database: EnrollmentDatabase
    /// Most events per batch transaction, 1 to ``maxBatchSize`` (0 would never reach the head;
    /// a batch also ends after ``batchDuration``, so a larger one would change nothing but the
    /// stretch of positions its read-ahead spans).
    public var batchSize: Int { didSet { batchSize = Self.clampedBatchSize(batchSize) } }
    public static let maxBatchSize = 100_000_000

    static func clampedBatchSize(_ size: Int) -> Int { min(max(size, 1), maxBatchSize) }
    /// A batch also ends after this long. Each batch costs a commit and the writing of the rows
    /// it changed (with many users, about one per user), so batches are long enough for that to
    /// stay small beside the folding, and short enough that appenders, who wait for the write
    /// lock meanwhile, wait little.
    public var batchDuration: Duration
    /// How long the rebuild may hold the write lock, over one batch or several, before it pauses.
    public var lockSpell: Duration = .milliseconds(20)
    /// How long the write lock stays free after such a spell: a few of a waiting writer's polls.
    /// (At the default batch duration, a pause per half second costs the rebuild under 1%.)
    public var pause: Duration = .milliseconds(3)
    /// Rebuild even a projection stored by a newer release, down to this code's version.
    public var allowsDowngrade = false
    /// Discard a shadow table left by an interrupted run and fold from position 0, rather than
    /// resume it. A resume trusts the shadow's rows (checking them would cost a fold of the
    /// journal up to there): this is the way out when they were changed by hand.
    public var restart = false
    /// Threads that read and decode the journal ahead of the fold (``JournalReadAhead``); 0
    /// reads on the rebuild's own connection. By default one per core when there are two or
    /// more (``readAheadThreads(for:)``): decoding costs about twice what folding does, and the
    /// fold runs beside them.
    public var readAheadThreads = Self.readAheadThreads(for: ProcessInfo.processInfo.activeProcessorCount)

    /// One per core, at most 4, when there are two cores or more; none on one core.
    public static func readAheadThreads(for cores: Int) -> Int { cores >= 2 ? min(cores, 4) : 0 }

    public init(database: EnrollmentDatabase, batchSize: Int = 1_000_000, batchDuration: Duration = .milliseconds(500)) {
        self.database = database
        self.batchSize = Self.clampedBatchSize(batchSize)
        self.batchDuration = batchDuration
    }

    public static func shadowName(of projection: any Projection) -> String { projection.name + "_rebuild" }

    /// Rebuilds `projection` and swaps it in. `progress` is called after every batch. Throws
    /// ``StoreError/closed(_:)`` once the database is closed; ``EnrollmentDatabase/close()``
    /// waits for a rebuild under way.
    @discardableResult
    public func rebuild(_ projection: any Projection, progress: (RebuildProgress) -> Void = { _ in }) throws(StoreError) -> RebuildSummary {
        do {
            return try database.whileOpen { () throws(StoreError) in try rebuildOpen(projection, progress: progress) }
        } catch {
            throw database.failure(error)
        }
    }

    private func rebuildOpen(_ projection: any Projection, progress: (RebuildProgress) -> Void) throws(StoreError) -> RebuildSummary {
        let shadow = Self.shadowName(of: projection)
        let started = Date()
        let clock = ContinuousClock()
        // Held until this returns: a second run refuses rather than resuming from this one's
        // checkpoint under its feet.
        let lease = try RebuildLease.acquire(projection.name, database: database.path)
        defer { withExtendedLifetime(lease) {} }
        do {
            // The first batch's transaction also prepares (or resumes) the shadow table, so a
            // small journal is rebuilt and swapped in with a single commit.
            var spellStart = clock.now
            var (resumedFrom, discarded, position, fold, batch) = try database.writerWrite { db in
                if !allowsDowngrade { try Self.refuseDowngrade(projection, shadow: shadow, in: db) }
                let (resumedFrom, discarded) = try Self.prepareShadow(projection, shadow: shadow, restart: restart, in: db)
                var position = resumedFrom
                var fold = try projection.makeFold(into: shadow, after: position, in: db)
                let batch = try runBatch(projection, into: &fold, after: &position, in: db)
                return (resumedFrom, discarded, position, fold, batch)
            }
            var applied: Int64 = 0
            while true {
                applied += Int64(batch.count)
                progress(RebuildProgress(
                    projection: projection.name, position: position, head: batch.head, resumedFrom: resumedFrom,
                    applied: applied, elapsed: Date().timeIntervalSince(started)))
                if let rows = batch.swappedRows {
                    return RebuildSummary(
                        projection: projection.name, schemaVersion: projection.schemaVersion, position: position,
                        resumedFrom: resumedFrom, applied: applied, rows: rows, elapsed: Date().timeIntervalSince(started),
                        discarded: discarded, kept: batch.kept)
                }
                if clock.now - spellStart >= lockSpell {
                    let (seconds, attoseconds) = pause.components
                    Thread.sleep(forTimeInterval: Double(seconds) + Double(attoseconds) / 1e18)
                    spellStart = clock.now
                }
                batch = try database.writerWrite { db in
                    try Self.checkStillOurs(projection, shadow: shadow, position: position, in: db)
                    return try runBatch(projection, into: &fold, after: &position, in: db)
                }
            }
        } catch {
            let failure = database.failure(error)
            // The batch that found the disk full is rolled back, the ones before it stay: "nothing
            // was written" would be false, and would invite deleting files rather than resuming.
            if case .diskFull = failure,
               let kept = try? database.writerRead({ db in try ProjectionCheckpoint.load(shadow, in: db) }),
               kept.schemaVersion == projection.schemaVersion, kept.position > 0 {
                throw StoreError.diskFullDuringRebuild(path: database.path, name: projection.name, position: kept.position)
            }
            throw failure
        }
    }

    struct Batch {
        var count: Int
        var head: Int64
        /// Set when the batch reached the head and swapped the shadow table in: its row count.
        var swappedRows: Int?
        /// What the operator built on the old table, as ``swap(_:shadow:in:)`` left it.
        var kept = OperatorObjects()
    }

    /// Inside a write transaction: folds the next batch into the shadow table and saves its
    /// checkpoint; if that reached the head (no one can append meanwhile), swaps the shadow in.
    private func runBatch(
        _ projection: any Projection, into fold: inout any ProjectionFold, after position: inout Int64, in db: Database
    ) throws -> Batch {
        let shadow = Self.shadowName(of: projection)
        // No one can append meanwhile: this transaction holds the write lock.
        let head = try EventJournal.head(in: db)
        let deadline = ContinuousClock.now + batchDuration
        let count: Int
        // The stretch the threads read starts at the next event, so that it holds one: a gap in
        // the positions (rows deleted outside enroll, which `enroll verify` reports) is stepped
        // over at once rather than read a batch's worth of positions at a time.
        let from = try Int64.fetchOne(db, sql: "SELECT MIN(position) - 1 FROM events WHERE position > ?", arguments: [position]) ?? position
        let end = Int64(batchSize) >= head - from ? head : from + Int64(batchSize)
        if let readAhead = readAhead(after: from, through: end) {
            count = try Self.fold(into: &fold, after: &position, limit: batchSize, until: deadline, from: readAhead, in: db)
        } else {
            count = try Self.fold(into: &fold, after: &position, limit: batchSize, until: deadline, in: db)
        }
        try fold.flush(in: db)
        guard position >= head else {
            try Self.saveShadowCheckpoint(projection, shadow: shadow, at: position, in: db)
            return Batch(count: count, head: head)
        }
        let kept = try Self.swap(projection.name, shadow: shadow, in: db)
        try db.execute(sql: "DELETE FROM projection_checkpoints WHERE name = ?", arguments: [shadow])
        try ShadowAnchor.delete(shadow, in: db)
        try ProjectionCheckpoint(name: projection.name, schemaVersion: projection.schemaVersion, position: position).save(in: db)
        let rows = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM \"\(projection.name)\"") ?? 0
        return Batch(count: count, head: head, swappedRows: rows, kept: kept)
    }

    /// Threads reading `(after, through]` ahead of the fold, when that is worth it: more than
    /// a few chunks to read, threads to spare, and a database file other connections can open.
    /// (`nil` if they cannot: the fold then reads on its own connection, as it always could.)
    private func readAhead(after position: Int64, through end: Int64) -> JournalReadAhead? {
        guard readAheadThreads > 0, end - position >= 16_384, !database.path.isEmpty, database.path != ":memory:" else { return nil }
        return try? JournalReadAhead(path: database.path, after: position, through: end, readers: readAheadThreads)
    }

    /// Every projection this code knows, with its stored and code versions and its lag.
    /// `readingLocks: false` leaves each rebuild's lock file unread (``ProjectionState/rebuildRunning``
    /// false): a rebuild asks only where the projections stand, and another projection's lock
    /// file, unusable for this account, is not its concern.
    public func status(readingLocks: Bool = true) throws(StoreError) -> [ProjectionState] {
        do {
            return try database.read { db in
                let head = try EventJournal.head(in: db)
                return try Projections.all.map { projection in
                    let stored = try ProjectionCheckpoint.load(projection.name, in: db)
                    let shadowName = Self.shadowName(of: projection)
                    let shadow = try ProjectionCheckpoint.load(shadowName, in: db)
                    let running = try readingLocks && RebuildLease.isHeld(projection.name, database: database.path)
                    // A shadow table a newer release left is refused by the rebuild (``refuseDowngrade``).
                    let left = try shadow != nil && db.tableExists(shadowName)
                    let newer = shadow.flatMap { $0.schemaVersion > projection.schemaVersion ? $0.schemaVersion : nil }
                    let resumable = left && newer == nil
                    var state = ProjectionState(
                        name: projection.name, storedVersion: stored?.schemaVersion, codeVersion: projection.schemaVersion,
                        position: stored?.position ?? 0, head: head,
                        rebuildCheckpoint: resumable ? shadow?.position : nil,
                        rebuildRunning: running,
                        rebuildDiscard: resumable && !running ? try shadow.flatMap { try Self.resumeProblem(projection, shadow: $0, head: head, in: db) } : nil,
                        tableProblem: try stored?.damage ?? (stored == nil ? nil : ProjectionTable.problem(of: projection, table: projection.name, in: db)))
                    state.newerShadowVersion = left ? newer : nil
                    state.checkpointDamage = stored?.damage
                    return state
                }
            }
        } catch {
            throw database.failure(error)
        }
    }

    /// Refuses to rebuild a projection (or to take over a shadow table) that a newer release
    /// wrote: this code would take it back to its own, older version.
    static func refuseDowngrade(_ projection: any Projection, shadow: String, in db: Database) throws {
        if let stored = try ProjectionCheckpoint.load(projection.name, in: db), stored.schemaVersion > projection.schemaVersion {
            throw StoreError.rebuildWouldDowngrade(name: projection.name, stored: stored.schemaVersion, code: projection.schemaVersion)
        }
        if let left = try ProjectionCheckpoint.load(shadow, in: db), left.schemaVersion > projection.schemaVersion {
            throw StoreError.shadowOfNewerVersion(name: projection.name, stored: left.schemaVersion, code: projection.schemaVersion)
        }
    }

    /// Keeps a shadow table left by an interrupted run (returning its checkpoint) when it can be
    /// trusted (``resumeProblem(_:shadow:head:in:)``) and `restart` is not asked for; otherwise
    /// starts a fresh one at position 0, returning why the old one was discarded.
    static func prepareShadow(_ projection: any Projection, shadow: String, restart: Bool, in db: Database) throws -> (resumedFrom: Int64, discarded: String?) {
        var discarded: String?
        if let checkpoint = try ProjectionCheckpoint.load(shadow, in: db), checkpoint.position > 0, try db.tableExists(shadow) {
            let reason = try resumeProblem(projection, shadow: checkpoint, head: try EventJournal.head(in: db), in: db)
                ?? (restart ? "--restart was given" : nil)
            guard let reason else { return (checkpoint.position, nil) }
            discarded = "discarded the interrupted rebuild's shadow table at position \(checkpoint.position) and started over: \(reason)"
        }
        try db.dropTableWithoutZeroing(shadow)
        try projection.createTable(named: shadow, in: db)
        try saveShadowCheckpoint(projection, shadow: shadow, at: 0, in: db)
        return (0, discarded)
    }

    /// Why a shadow table left at `shadow` (its checkpoint) must not be resumed, or `nil`.
    /// Resuming folds the events after the checkpoint into the table as it stands, so the table
    /// must hold exactly the events up to there, as this code folds them: of its schema version,
    /// the checkpoint within
    /// the journal, the table of the shape this code builds, and the journal up to the checkpoint
    /// the one that was folded (the chained hash saved with each checkpoint, ``ShadowAnchor``,
    /// covers every row up to it, as for ``StreamFoldCache``). The rows themselves are trusted.
    static func resumeProblem(_ projection: any Projection, shadow: ProjectionCheckpoint, head: Int64, in db: Database) throws -> String? {
        // An older release's (its run interrupted before the upgrade): rows of another shape.
        if shadow.schemaVersion != projection.schemaVersion {
            return "it was built for version \(shadow.schemaVersion) of the projection, and this code builds version \(projection.schemaVersion)"
        }
        if shadow.position > head {
            return "its checkpoint is past the journal's head (\(head))"
        }
        if let problem = try ProjectionTable.problem(of: projection, table: shadow.name, in: db) {
            return "its table \(problem)"
        }
        // Nothing folded yet: the hash of no events needs no check.
        guard shadow.position > 0 else { return nil }
        guard let anchor = try ShadowAnchor.load(shadow.name, in: db), anchor.position == shadow.position else {
            return "no hash of the journal was saved with its checkpoint (an older rebuild-projections, or changed by hand), so it cannot be checked"
        }
        guard try HashChain.storedHash(at: shadow.position, in: db) == anchor.hash else {
            return "the journal up to its checkpoint is not the one it folded (its events were rewritten since)"
        }
        return nil
    }

    /// Saves the shadow table's checkpoint with the chained hash of the journal at it.
    static func saveShadowCheckpoint(_ projection: any Projection, shadow: String, at position: Int64, in db: Database) throws {
        try ProjectionCheckpoint(name: shadow, schemaVersion: projection.schemaVersion, position: position).save(in: db)
        try ShadowAnchor(name: shadow, position: position, hash: try HashChain.storedHash(at: position, in: db) ?? HashChain.genesis).save(in: db)
    }

    /// Two rebuilds of one projection at once would fold the same events twice into the shadow
    /// table: each batch first checks that the shadow checkpoint is still where this run left it.
    static func checkStillOurs(_ projection: any Projection, shadow: String, position: Int64, in db: Database) throws {
        let checkpoint = try ProjectionCheckpoint.load(shadow, in: db)
        guard checkpoint?.position == position, checkpoint?.schemaVersion == projection.schemaVersion, try db.tableExists(shadow) else {
            throw StoreError.rebuildInProgress(name: projection.name)
        }
    }

    /// Folds the events after `position` into `fold` (at most `limit`, until `deadline`),
    /// advancing `position`; returns how many. The caller flushes.
    @discardableResult
    static func fold(
        into fold: inout any ProjectionFold, after position: inout Int64, limit: Int? = nil,
        until deadline: ContinuousClock.Instant? = nil, in db: Database
    ) throws -> Int {
        var last = position
        let count = try EventJournal.scan(after: position, limit: limit, in: db) { event, header in
            try fold.apply(event, header: header, in: db)
            last = header.position
            // The clock is read every 1 024 events: reading it costs about as much as folding one.
            if let deadline, header.position & 1_023 == 0, ContinuousClock.now >= deadline { return false }
            return true
        }
        position = last
        return count
    }

    /// The same, taking the events from threads that read them ahead (see ``JournalReadAhead``),
    /// which are stopped before this returns.
    static func fold(
        into fold: inout any ProjectionFold, after position: inout Int64, limit: Int,
        until deadline: ContinuousClock.Instant, from readAhead: JournalReadAhead, in db: Database
    ) throws -> Int {
        defer { readAhead.finish() }
        var last = position
        var count = 0
        reading: while var chunk = try readAhead.next() {
            // A chunk holds its events last first: each is moved out, not copied.
            while let (event, header) = chunk.popLast() {
                try fold.apply(event, header: header, in: db)
                last = header.position
                count += 1
                if count >= limit || (last & 1_023 == 0 && ContinuousClock.now >= deadline) { break reading }
            }
        }
        position = last
        return count
    }

    /// Inside one write transaction: creates any projection that has no table and brings every
    /// current projection up to the head (what `enroll import` does after loading rows).
    static func catchUpAll(in db: Database) throws {
        for projection in Projections.all {
            var checkpoint = try ProjectionCheckpoint.load(projection.name, in: db)
            if checkpoint == nil || checkpoint?.schemaVersion != projection.schemaVersion {
                try db.dropTableWithoutZeroing(projection.name)
                try projection.createTable(named: projection.name, in: db)
                checkpoint = ProjectionCheckpoint(name: projection.name, schemaVersion: projection.schemaVersion, position: 0)
            }
            guard var current = checkpoint else { continue }
            var fold = try projection.makeFold(into: projection.name, after: current.position, in: db)
            try Self.fold(into: &fold, after: &current.position, in: db)
            try fold.flush(in: db)
            try current.save(in: db)
        }
    }
}

extension Int64 {
    /// How far `other` is past `self`, 0 when it is not, and `Int64.max` when the difference does
    /// not fit: a checkpoint edited to an extreme value is reported, not trapped on.
    func distance(to other: Int64) -> Int64 {
        guard other > self else { return 0 }
        let (difference, overflow) = other.subtractingReportingOverflow(self)
        return overflow ? .max : difference
    }
}
