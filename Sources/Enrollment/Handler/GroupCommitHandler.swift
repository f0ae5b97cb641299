import Foundation
import GRDB
import Synchronization

/// The async command handler for servers: commands that arrive together share one write
/// transaction, so one fsync (at `synchronous=FULL`) makes a whole batch durable.
///
/// Each caller reads and decides on its own task, in parallel with the others (the replay
/// check, the user's stream, the decider and its TOTP verification), then hands the decided
/// command to a single writer thread. The writer takes every command waiting at that moment and
/// writes them in one transaction, each with its own expected stream version: a command whose
/// stream moved since it was loaded (another command of the same user in the batch, or another
/// process) fails alone, before it writes anything, and is decided again by the writer inside
/// the transaction (or fails with a conflict if its caller pinned the expected version), while
/// the others commit. Nothing is reported to a caller before the transaction holding its
/// command has committed with the database's configured durability.
///
/// Batches form by themselves: while one batch is being committed (the fsync), new commands
/// queue up and become the next batch. There is no timer and no waiting when the writer is idle.
///
/// Open the database with ``DatabaseOptions/concurrentReads`` so that callers read and decide
/// while the writer commits; on a single connection everything queues behind the writer.
///
/// ```swift
/// let handler = GroupCommitHandler(service: service)
/// let outcome = try await handler.handle(CommandEnvelope(user: "alice", command: .confirmCode("123456")))
/// ```
public final class GroupCommitHandler: Sendable {
    public let service: EnrollmentService
    /// The most commands written in one transaction; more wait for the next one.
    public let maxBatchSize: Int

    private let queue: Mutex<Queue>
    private let writer: DispatchQueue

    private struct Waiting: Sendable {
        var command: EnrollmentService.PendingCommand
        /// The caller named the stream version it expects: a conflict is its answer.
        var pinned: Bool
        var continuation: CheckedContinuation<CommandOutcome, any Error>
    }

    private struct Queue: Sendable {
        var waiting: [Waiting] = []
        var draining = false
    }

    /// Removed users whose data key's old page the write-ahead log may still hold, while a
    /// retry of the checkpoint that empties it is scheduled (``retryTruncation()``).
    private let owedTruncation = Mutex<[String]>([])

    /// What ``watchForRemovals()`` has looked at: the journal's head when it last looked (nil
    /// before the first look), and the users this handler removed since, whose checkpoint it
    /// owes already. Touched on the writer queue only.
    private struct Watch: Sendable {
        var seen: Int64?
        var own: Set<String> = []
    }
    private let watch = Mutex(Watch())

    public init(service: EnrollmentService, maxBatchSize: Int = 512) {
        self.service = service
        self.maxBatchSize = max(1, maxBatchSize)
        self.queue = Mutex(Queue())
        self.writer = DispatchQueue(label: "enrollment.group-commit", qos: .userInitiated)
        // A process that stopped between a removal and its checkpoint (killed, or its retries
        // cut short) left the key's old page in the log: empty it now, if no reader holds it.
        writer.async { [weak self, service] in
            service.truncateWAL(removing: [], logging: false)
            // Removals from here on are watched for.
            let head = try? service.removals(after: nil).head
            self?.watch.withLock { $0.seen = head }
            self?.watchForRemovals()
        }
    }

    /// Handles one command, like ``EnrollmentService/handle(_:)``, sharing the write
    /// transaction with the commands that arrive at the same time.
    ///
    /// - Parameter expectedVersion: when given, the command is decided only if the user's
    ///   stream is at this version and is written only if it still is; otherwise it fails
    ///   with ``StoreError/conflict(stream:expected:actual:)`` (the other commands of the batch
    ///   are unaffected). When nil, a command whose stream moved is decided again, up to
    ///   ``EnrollmentService/maxAttempts`` times.
    public func handle(_ envelope: CommandEnvelope, expectedVersion: Int64? = nil) async throws -> CommandOutcome {
        let (user, _) = try service.validate(envelope)
        for _ in 0..<service.maxAttempts {
            do {
                switch try service.prepare(envelope, user: user) {
                case .finished(let outcome):
                    // A refusal that writes nothing was decided at a version too: at another one
                    // than the caller expects, it is a conflict like any other.
                    if let expectedVersion, !outcome.replayed, outcome.state.version != expectedVersion {
                        throw StoreError.conflict(stream: user, expected: expectedVersion, actual: outcome.state.version)
                    }
                    return outcome
                case .decided(let pending):
                    // A replay's expected version was checked when it was first handled.
                    if let expectedVersion, pending.replay == nil, pending.state.version != expectedVersion {
                        throw StoreError.conflict(stream: user, expected: expectedVersion, actual: pending.state.version)
                    }
                    return try await submit(pending, pinned: expectedVersion != nil && pending.replay == nil)
                }
            } catch StoreError.conflict(let stream, _, let actual) {
                // actual == -1: the same command id committed meanwhile; the retry replays it.
                if let expectedVersion, actual != -1 {
                    throw StoreError.conflict(stream: stream, expected: expectedVersion, actual: actual)
                }
                continue
            } catch {
                throw EnrollmentService.classify(error, path: service.database.path, busyTimeout: service.database.options.busyTimeout)
            }
        }
        throw StoreError.tooManyConflicts(stream: user, attempts: service.maxAttempts)
    }

    private func submit(_ command: EnrollmentService.PendingCommand, pinned: Bool) async throws -> CommandOutcome {
        try await withCheckedThrowingContinuation { continuation in
            let startWriter = queue.withLock { queue -> Bool in
                queue.waiting.append(Waiting(command: command, pinned: pinned, continuation: continuation))
                if queue.draining { return false }
                queue.draining = true
                return true
            }
            if startWriter { writer.async { self.drain() } }
        }
    }

    /// Runs on the writer queue until no command is waiting.
    private func drain() {
        while true {
            let batch = queue.withLock { queue -> [Waiting] in
                let count = min(queue.waiting.count, maxBatchSize)
                let batch = Array(queue.waiting.prefix(count))
                queue.waiting.removeFirst(count)
                if batch.isEmpty { queue.draining = false }
                return batch
            }
            if batch.isEmpty { return }
            write(batch)
        }
    }

    /// One transaction for the whole batch, one savepoint per command; then every caller hears
    /// its own result.
    private func write(_ batch: [Waiting]) {
        let results = write(batch.map(\.command), pinned: batch.map(\.pinned))
        // A removal destroyed a data key: the log's older copies of its page go before anyone
        // hears the removal is done, as with the command line (crypto-shredding in the files),
        // unless a reader keeps the log alive: then the checkpoint is tried again every second,
        // never waiting (it would hold off every writer), until it empties the log.
        let removed = results.compactMap { result in (try? result.get()).flatMap { $0.destroyedADataKey ? $0.user : nil } }
        if !removed.isEmpty {
            watch.withLock { $0.own.formUnion(removed) }
            if !service.truncateWAL(removing: removed) { owe(removed) }
        }
        for (waiting, result) in zip(batch, results) {
            waiting.continuation.resume(with: result)
        }
    }

    /// The checkpoint that empties the log of `users`' destroyed data keys is owed: it is tried
    /// again every second until it succeeds.
    private func owe(_ users: [String]) {
        let schedule = owedTruncation.withLock { owed in
            defer { owed += users.filter { !owed.contains($0) } }
            return owed.isEmpty
        }
        if schedule { retryTruncation() }
    }

    /// Removals another process made (the command line, which gives up on its checkpoint after
    /// two seconds while a reader keeps the log alive) leave the old pages of their data keys
    /// in the log too. A server outlives that process: every second, on the writer queue, it
    /// looks at the events appended since it last looked, and owes the checkpoint of the
    /// removals it did not make itself, as it owes its own. It stops with the handler, or once
    /// the database is closed.
    private func watchForRemovals() {
        writer.asyncAfter(deadline: .now() + 1) { [weak self] in
            guard let self else { return }
            let seen = watch.withLock { $0.seen }
            let found: (head: Int64, users: [String])
            do {
                found = try service.removals(after: seen)
            } catch StoreError.closed {
                return
            } catch {
                // A read that failed (a disk error, a table dropped by hand) is tried again.
                watchForRemovals()
                return
            }
            let others = watch.withLock { watch in
                defer { watch = Watch(seen: found.head) }
                return found.users.filter { !watch.own.contains($0) }
            }
            if !others.isEmpty, !service.truncateWAL(removing: others, logging: false) { owe(others) }
            watchForRemovals()
        }
    }

    /// Tries the owed checkpoint again in a second, on the writer queue, until it succeeds or
    /// the handler is gone (whoever closes the database must drop its handler first).
    private func retryTruncation() {
        writer.asyncAfter(deadline: .now() + 1) { [weak self] in
            guard let self else { return }
            let users = owedTruncation.withLock { $0 }
            guard !users.isEmpty else { return }
            if service.truncateWAL(removing: users, logging: false) {
                owedTruncation.withLock { $0.removeAll() }
                service.logger.notice(
                    "the write-ahead log is emptied: the removed data keys' older copies are gone from \(service.database.path)-wal",
                    metadata: ["users": "\(users.map(TextField.quoted).joined(separator: ","))"])
            } else {
                retryTruncation()
            }
        }
    }

    /// Writes decided commands in one transaction; a command that fails is rolled back alone.
    /// A command whose stream moved since it was decided (another command of the same user
    /// earlier in the batch, or another process) fails with a conflict if its caller `pinned`
    /// the expected version; otherwise it is decided again inside the transaction, where
    /// nothing can move the stream any more, so contention on one stream costs no round trip.
    /// Returns one result per command, in order; if the commit itself fails, every command
    /// fails with that error.
    ///
    /// A command whose caller made its rows is written without a savepoint of its own: the only
    /// failures such a command meets alone (a replayed command id, a stream that moved) are
    /// found before it writes anything. A savepoint per command cost the writer thread its
    /// statements and a copy of every page the batch had already changed. Should a command fail
    /// after writing (an I/O error, a constraint the checks did not foresee), the whole
    /// transaction is rolled back and the batch written again with a savepoint per command,
    /// so that the failure stays that command's alone. The inline projections are folded once
    /// for the batch; should that fold fail (one user's projection row damaged by hand), the
    /// batch is written again the same way, each command folding its own events in its
    /// savepoint, so that only the commands whose fold fails are refused.
    func write(_ commands: [EnrollmentService.PendingCommand], pinned: [Bool]) -> [Result<CommandOutcome, any Error>] {
        do {
            do {
                return try write(commands, pinned: pinned, savepoints: false)
            } catch is PartlyWritten {
                return try write(commands, pinned: pinned, savepoints: true)
            }
        } catch {
            // The commit itself failed (disk full, I/O error): nothing of the batch is durable.
            let failure = EnrollmentService.classify(error, path: service.database.path, busyTimeout: service.database.options.busyTimeout)
            return commands.map { _ in .failure(failure) }
        }
    }

    /// A command failed after writing some of its rows, outside a savepoint of its own.
    private struct PartlyWritten: Error {}

    private func write(
        _ commands: [EnrollmentService.PendingCommand], pinned: [Bool], savepoints: Bool
    ) throws -> [Result<CommandOutcome, any Error>] {
        var results = [Result<CommandOutcome, any Error>](repeating: .failure(StoreError.sqlite("not written")), count: commands.count)
        guard let keyRing = service.keyRing else { throw StoreError.keyFileMissing("(none given)") }
        try service.database.write { db in
            try keyRing.bind(to: db, at: commands.first?.now ?? service.clock.now())
            // The journal's head, carried from one command to the next (read once per batch);
            // forgotten whenever a command fails, since its savepoint may have rolled events back.
            var head: EventJournal.Head?
            for (index, command) in commands.enumerated() {
                do {
                    if savepoints {
                        results[index] = .success(try Self.savepoint(db) {
                            try Self.folded(try service.record(command, keyRing: keyRing, batch: true, head: &head, in: db), in: db)
                        })
                    } else if command.rows == nil {
                        results[index] = .success(try Self.savepoint(db) { try service.record(command, keyRing: keyRing, batch: true, head: &head, in: db) })
                    } else {
                        results[index] = .success(try Self.checkedFirst { try service.record(command, keyRing: keyRing, batch: true, head: &head, in: db) })
                    }
                } catch StoreError.conflict where !pinned[index] {
                    head = nil
                    results[index] = Result {
                        try Self.savepoint(db) {
                            let outcome = try service.prepareAndRecord(command.envelope, user: command.user, keyRing: keyRing, batch: true, in: db)
                            return savepoints ? try Self.folded(outcome, in: db) : outcome
                        }
                    }
                } catch let error as PartlyWritten {
                    throw error
                } catch {
                    head = nil
                    results[index] = .failure(error)
                }
            }
            // Written again command by command, each command folded its own events.
            if savepoints { return }
            // The inline projections, once for the batch: every appended event, in position
            // order (commands rolled back alone left no gap, their positions were reused).
            let appended = results.flatMap { result -> [(EnrollmentEvent, RecordedEvent)] in
                guard case .success(let outcome) = result else { return [] }
                return outcome.appended
            }
            let states = results.compactMap { result -> (user: String, state: AuthenticatorState)? in
                guard case .success(let outcome) = result, let before = outcome.stateBefore else { return nil }
                return (outcome.user, before)
            }
            do {
                try ProjectionStatus.applyInline(appended, knowing: states, in: db)
            } catch {
                throw PartlyWritten()
            }
        }
        return results
    }

    /// `outcome` once the inline projections folded its events, as a command written alone
    /// folds them (with the state its command was decided on).
    private static func folded(_ outcome: CommandOutcome, in db: Database) throws -> CommandOutcome {
        try ProjectionStatus.applyInline(outcome.appended, knowing: outcome.stateBefore.map { [(outcome.user, $0)] } ?? [], in: db)
        return outcome
    }

    /// Runs the writing of a command whose rows are made: a conflict is found before anything
    /// is written and passes through; any other failure may come after some of its rows and
    /// becomes ``PartlyWritten``.
    private static func checkedFirst<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as StoreError {
            if case .conflict = error { throw error }
            throw PartlyWritten()
        } catch {
            throw PartlyWritten()
        }
    }

    /// Runs `body` in a savepoint, rolled back if it throws (as GRDB's `inSavepoint` does, the
    /// body's error is the one thrown). The statements are prepared once per connection:
    /// `inSavepoint` compiles its SAVEPOINT and RELEASE again for every command, which cost the
    /// writer thread about a tenth of its time (BENCHMARKS.md, step 13).
    private static func savepoint<T>(_ db: Database, _ body: () throws -> T) throws -> T {
        try db.cachedStatement(sql: "SAVEPOINT command").execute()
        let value: T
        do {
            value = try body()
        } catch {
            // Rolling back alone does not take the savepoint off SQLite's stack: release it too.
            try? db.cachedStatement(sql: "ROLLBACK TO SAVEPOINT command").execute()
            try? db.cachedStatement(sql: "RELEASE SAVEPOINT command").execute()
            throw error
        }
        try db.cachedStatement(sql: "RELEASE SAVEPOINT command").execute()
        return value
    }
}
