import CryptoPrimitives
import Foundation
import GRDB
import GRDBSQLite
import Logging
import OneTimePassword

/// The command handler: the only place that does I/O around the decider.
///
/// For each command, in one write transaction, it loads the user's stream, folds it into state,
/// asks ``EnrollmentDecider`` (with the clock, a fresh secret and the policy in the context),
/// appends the events with the expected stream version, seals secrets, updates the inline
/// projections and records the command id. ``GroupCommitHandler`` decides outside the write
/// transaction instead and, when another writer appended to the stream in between, decides
/// again once inside it; ``maxAttempts`` bounds how often its caller starts over (a concurrent
/// command under the same id).
public final class EnrollmentService: Sendable {
    public let database: EnrollmentDatabase
    public let keyRing: KeyRing?
    public let clock: any EnrollmentClock
    public let secrets: any SecretSource
    public let policy: EnrollmentPolicy
    public let maxAttempts: Int
    let logger: Logger
    /// Long streams' folded states, between commands (``StreamFoldCache``).
    let folds = StreamFoldCache()

    /// A service over an open database. One instance per process: it keeps long streams'
    /// folded states between commands (``StreamFoldCache``).
    ///
    /// - `keyRing`: the master key; `nil` makes a read-only service (reads work, every
    ///   ``handle(_:)`` throws ``StoreError/keyFileMissing(_:)``). A key file of another
    ///   database is refused here (``StoreError/keyFileMismatch(_:)``).
    /// - `clock` and `secrets`: injected time and randomness (``FixedClock``,
    ///   ``FixedSecretSource`` in tests and fixtures).
    /// - `maxAttempts`: how often a ``GroupCommitHandler`` caller starts over after a concurrent
    ///   command under the same id.
    ///
    /// Unless the database is read-only, it writes the checkpoint of a projection added since
    /// the database was created (an empty projection at position 0).
    public init(
        database: EnrollmentDatabase, keyRing: KeyRing?, clock: any EnrollmentClock = SystemClock(),
        secrets: any SecretSource = RandomSecretSource(), policy: EnrollmentPolicy = .default,
        maxAttempts: Int = 8, logger: Logger = Logger(label: "enrollment")
    ) throws(StoreError) {
        self.database = database
        self.keyRing = keyRing
        self.clock = clock
        self.secrets = secrets
        self.policy = policy
        // At least one: none would refuse every command of a batch without trying it.
        self.maxAttempts = max(1, maxAttempts)
        self.logger = logger
        do {
            // Through the database's own calls, which refuse one already closed.
            try database.read { db in
                if let keyRing, try KeyRing.databaseHasKey(db) { try keyRing.checkBelongs(to: db) }
            }
            if !(database.writer.configuration.readonly) {
                try database.write { db in try ProjectionStatus.createMissing(in: db) }
            }
        } catch {
            throw database.failure(error)
        }
    }

    /// Opens the database and the key file the way the command line and the server do: the key
    /// file is created (mode 0600) only for a database that has no key yet. A server with
    /// concurrent callers passes `DatabaseOptions(concurrentReads: true)`, as `enroll serve`
    /// does, and sends its commands through ``GroupCommitHandler``. With `requireKey: false` a
    /// key file that exists is still read, but a missing one is neither required nor created:
    /// the service is then read-only, for commands that need no key (status, history).
    public static func open(
        databasePath: String, keyFilePath: String, options: DatabaseOptions = DatabaseOptions(),
        clock: any EnrollmentClock = SystemClock(), secrets: any SecretSource = RandomSecretSource(),
        policy: EnrollmentPolicy = .default, requireKey: Bool = true
    ) throws(StoreError) -> EnrollmentService {
        if requireKey && keyFilePath.isEmpty { throw StoreError.keyFilePlaceUnusable(path: "''", reason: "the path is empty; give the key file's path") }
        // A key file that exists is read before the database is opened, so a malformed one is
        // refused before anything (even a new database file) is written.
        var keyRing = FileManager.default.fileExists(atPath: keyFilePath) ? try KeyRing.load(keyFile: keyFilePath, create: false) : nil
        // A new database needs a new key file: one that cannot be made is refused before the
        // database is created, so a failure leaves no file behind.
        var databaseStatus = stat()
        let newDatabase = stat(databasePath, &databaseStatus) != 0 || databaseStatus.st_size == 0
        if keyRing == nil && requireKey && options.create && !options.readOnly && newDatabase {
            try KeyRing.checkCreatable(keyFile: keyFilePath)
        }
        // A journal of an older schema is upgraded only for a command its key file can serve.
        var options = options
        if requireKey {
            let callers = options.beforeUpgrade
            options.beforeUpgrade = { [keyRing] db in
                try callers?(db)
                if let keyRing {
                    try keyRing.checkBelongs(to: db)
                } else if try KeyRing.databaseHasKey(db) {
                    _ = try KeyRing.load(keyFile: keyFilePath, create: false)
                }
            }
        }
        let database = try EnrollmentDatabase(path: databasePath, options: options)
        let hasKey: Bool
        do { hasKey = try database.writer.read { db in try KeyRing.databaseHasKey(db) } } catch { throw database.failure(error) }
        if keyRing == nil && requireKey {
            keyRing = try KeyRing.load(keyFile: keyFilePath, create: !hasKey && !options.readOnly)
        }
        return try EnrollmentService(database: database, keyRing: keyRing, clock: clock, secrets: secrets, policy: policy)
    }

    /// Which files ``open(databasePath:keyFilePath:options:clock:secrets:policy:requireKey:)``
    /// made: of two processes starting on the same new paths at once, only the one that did says so.
    public var created: (database: Bool, keyFile: Bool) { (database.created, keyRing?.created ?? false) }

    /// Closes the database (``EnrollmentDatabase/close()``): after the calls in flight finish,
    /// its last connection checkpoints the write-ahead log and removes it, and every later call
    /// of this service, its ``GroupCommitHandler`` or an ``AuditTrail`` on it throws
    /// ``StoreError/closed(_:)``. Otherwise the database closes when the last reference to it goes.
    public func close() throws {
        try database.close()
    }

    // MARK: Commands

    /// Handles one command. Domain refusals come back in ``CommandOutcome/rejection``; storage
    /// failures throw ``StoreError``; bad input throws ``InputError``.
    ///
    /// Synchronous, one transaction (and, at FULL, one fsync) per command: what the command line
    /// uses. Servers with many concurrent callers use ``GroupCommitHandler``, which shares one
    /// transaction among the commands that arrive together.
    public func handle(_ envelope: CommandEnvelope) throws -> CommandOutcome {
        try handle(envelope, beforeRecording: nil)
    }

    /// ``handle(_:)``, calling `beforeRecording` with the state the command's events lead to
    /// after they are decided and before they are written, in the same write transaction, so
    /// that no other command can change the state in between. If it throws, nothing is
    /// recorded and `handle` throws its error. For what must be ready before a command is on
    /// record: `enroll reveal --output` reserves the room for the secret it is about to show,
    /// so that the journal never holds a reveal whose file a full disk cut short. Not called
    /// when the command is refused or records nothing (a replay that shows nothing again).
    public func handle(_ envelope: CommandEnvelope, beforeRecording: ((AuthenticatorState) throws -> Void)?) throws -> CommandOutcome {
        let outcome = try decideAndCommit(envelope, beforeRecording: beforeRecording)
        if outcome.destroyedADataKey {
            truncateWAL(removing: [outcome.user], patience: min(database.options.busyTimeout, Self.truncationPatience))
        }
        return outcome
    }

    /// How long the command line keeps trying to empty the log after a removal (tries a few
    /// milliseconds apart, none of them waiting for readers).
    static let truncationPatience: TimeInterval = 2

    /// After a data key is destroyed, the write-ahead log still holds older copies of the page
    /// that stored it (wrapped under the master key). Checkpointing with TRUNCATE copies the
    /// pages back (where secure_delete has zeroed the row) and empties the log.
    ///
    /// A TRUNCATE checkpoint waits for every reader to finish and holds off every writer while
    /// it waits, so no try here waits (``EnrollmentDatabase/withoutWaiting(_:)``): they are
    /// repeated every 20 ms for `patience` seconds, writers going on in between. Returns whether
    /// the log was emptied; if not, a notice says where the old copies stay (`logging`), and the
    /// caller may try again later (``GroupCommitHandler`` does, every second).
    @discardableResult
    func truncateWAL(removing users: [String], patience: TimeInterval = 0, logging: Bool = true) -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int64((max(patience, 0) * 1000).rounded()))
        var failure: any Error
        repeat {
            do {
                _ = try database.writeWithoutTransaction { db in
                    try EnrollmentDatabase.withoutWaiting { try db.checkpoint(.truncate) }
                }
                return true
            } catch StoreError.closed {
                // Closing checkpointed the log and removed it: nothing is left to empty.
                return true
            } catch {
                failure = error
            }
            guard Self.isBusy(failure) else { break }
            usleep(20_000)
        } while ContinuousClock.now < deadline
        guard logging else { return false }
        // Usually a reader (another process, or this one's pool) keeps the log alive; a full
        // disk or another storage failure is named as such.
        let reason = Self.isBusy(failure) ? "another connection is reading the database" : StoreError(failure, path: database.path).message
        logger.notice(
            "the removal is recorded and its data key deleted, but the write-ahead log could not be emptied yet (\(reason)): older copies of the key's page stay in \(database.path)-wal and \(database.path) until the next checkpoint (an enroll serve on this database tries every second, for removals made elsewhere too; otherwise the next removal, or the last connection to close, makes one)",
            metadata: ["error": "\(failure)", "users": "\(users.map(TextField.quoted).joined(separator: ","))"])
        return false
    }

    /// The journal's head, and the users whose removal (``EnrollmentEvent/authenticatorRemoved(_:)``,
    /// which destroys their data key) was appended after `position`; none when `position` is nil
    /// (the first look). Positions are the table's key, so only the rows after it are read.
    /// Read on the writer's connection (``GroupCommitHandler`` asks from its writer queue), so
    /// that it opens no reader of its own: a pool's new connection to a file deleted or replaced
    /// underneath would fail, and be taken for the file's state.
    func removals(after position: Int64?) throws -> (head: Int64, users: [String]) {
        try database.writeWithoutTransaction { db in
            let head = try EventJournal.head(in: db)
            guard let position, head > position else { return (head, []) }
            let users = try String.fetchAll(db, sql: """
                SELECT DISTINCT stream_id FROM events WHERE position > ? AND type = ?
                """, arguments: [position, EventType.authenticatorRemoved.rawValue])
            return (head, users)
        }
    }

    private static func isBusy(_ error: any Error) -> Bool {
        guard let failure = error as? DatabaseError else { return false }
        return [.SQLITE_BUSY, .SQLITE_LOCKED].contains(failure.resultCode.primaryResultCode)
    }

    /// One write transaction per command: the replay check, the user's stream, the decider and
    /// the append all run while this connection holds SQLite's write lock (GRDB begins write
    /// transactions IMMEDIATE), so no other writer, in this process or another, can move the
    /// stream in between and there is nothing to retry. Deciding costs a few tens of
    /// microseconds (at most three HMACs and two AES-GCM opens); a separate read transaction
    /// before the write, and a retry after a lost race, would cost more than the lock is held.
    private func decideAndCommit(_ envelope: CommandEnvelope, beforeRecording: ((AuthenticatorState) throws -> Void)?) throws -> CommandOutcome {
        let (user, keyRing) = try validate(envelope)
        do {
            return try database.write { db in try prepareAndRecord(envelope, user: user, keyRing: keyRing, beforeRecording: beforeRecording, in: db) }
        } catch let vetoed as VetoedRecording {
            throw vetoed.error
        } catch {
            throw Self.classify(error, path: database.path, busyTimeout: database.options.busyTimeout)
        }
    }

    /// Decides and records inside the writer's transaction, where nothing can move the stream:
    /// a stream whose last version is not its number of events was edited, and retrying (what
    /// a conflict's message suggests) would meet it again.
    func prepareAndRecord(
        _ envelope: CommandEnvelope, user: String, keyRing: KeyRing, batch: Bool = false, beforeRecording: ((AuthenticatorState) throws -> Void)? = nil, in db: Database
    ) throws -> CommandOutcome {
        do {
            switch try prepare(envelope, user: user, in: db) {
            case .finished(let outcome): return outcome
            // The replay check just ran in this same transaction: no need to repeat it.
            case .decided(let pending):
                var head: EventJournal.Head?
                return try record(pending, keyRing: keyRing, checkReplay: false, batch: batch, head: &head, beforeRecording: beforeRecording, in: db)
            }
        } catch StoreError.conflict(let stream, let events, let version) {
            throw StoreError.journalDamaged("the stream of \(TextField.quoted(stream)) holds \(events) events but its last stream version is \(version) (a user's versions run 1, 2, 3…)")
        }
    }

    /// What a `beforeRecording` closure threw, carried out of the transaction as it is (not
    /// taken for a storage failure).
    private struct VetoedRecording: Error {
        var error: any Error
    }

    /// A command decided against the state it was loaded at, waiting to be written.
    struct PendingCommand: Sendable {
        var envelope: CommandEnvelope
        var user: String
        var decision: Decision
        var state: AuthenticatorState
        var now: UnixTime
        /// A replay that shows a secret again: `decision` records that showing as the reveal
        /// `showing` (a command of its own, with its own id), and the caller hears `outcome`,
        /// the first one.
        var replay: (outcome: CommandOutcome, showing: CommandEnvelope)? = nil
        /// Its rows, when its caller made them (``prepare(_:user:)``).
        var rows: PreparedRows? = nil
    }

    enum Preparation: Sendable {
        /// Nothing to write: a replayed command id or bad input found by the decider.
        case finished(CommandOutcome)
        case decided(PendingCommand)
    }

    /// Bad input is refused before anything is read; a service without a key cannot write.
    func validate(_ envelope: CommandEnvelope) throws -> (user: String, keyRing: KeyRing) {
        let user = try Self.checkInput(envelope)
        guard let keyRing else { throw StoreError.keyFileMissing("(none given)") }
        return (user, keyRing)
    }

    /// The checks of ``handle(_:)`` that need no database: a caller about to create one (a
    /// first `enroll request`) runs them first, so that bad input leaves no file behind.
    /// Returns the user id.
    public static func checkInput(_ envelope: CommandEnvelope) throws(InputError) -> String {
        let user = try envelope.command.actsOnRecordedUser ? Validation.recordedUser(envelope.user) : Validation.user(envelope.user)
        // A request may start a new user (its id then held to ``Validation/newIdentity(_:error:)``
        // once the journal says it holds none of the user's events: ``prepare(_:user:in:)``); the
        // others act on a user the journal already holds.
        // The actor is recorded in the journal and printed by history and audit: the same rules
        // as for a user id (the command line checks `--actor` the same way).
        // (The user acting for themselves is the id just checked, which may be a recorded one.)
        if envelope.actor != user || !envelope.command.actsOnRecordedUser { _ = try Validation.actor(envelope.actor) }
        // An actor other than the user is a new id each time it is given.
        if envelope.actor != user { try Validation.newIdentity(envelope.actor, error: InputError.invalidActor) }
        _ = try Validation.commandId(envelope.commandId)
        if let correlation = envelope.correlationId { _ = try Validation.correlationId(correlation) }
        if case .confirmCode(let code) = envelope.command { _ = try Validation.code(code) }
        if case .requestEnrollment(let options) = envelope.command {
            try Validation.fitsQRCode(try Validation.options(options), account: user)
            // A regenerate's settings may be kept from the active secret, which an older release
            // may have recorded: only a request's are all new.
            try Validation.newName(options.issuer, error: InputError.invalidIssuer)
            if let account = options.account { try Validation.newName(account, error: InputError.invalidAccount) }
        }
        if case .regenerateSecret(let options?) = envelope.command {
            try Validation.fitsQRCode(try Validation.options(options), account: user)
        }
        return user
    }

    /// Reads (outside any write transaction) and decides: the replay check, the user's state,
    /// the clock, a fresh secret if the command issues one, then the pure decider.
    ///
    /// A decided command also gets its rows made here (``PreparedRows``): this runs on the
    /// caller's own task, beside the others, while the group-commit writer, which every command
    /// passes through one at a time, is left the appending.
    func prepare(_ envelope: CommandEnvelope, user: String) throws -> Preparation {
        try database.snapshotRead { db in
            let preparation = try prepare(envelope, user: user, in: db)
            guard case .decided(var pending) = preparation, pending.replay == nil, let keyRing else { return preparation }
            // Any failure (a data key that does not open, say) is left to the writer, which
            // makes the rows itself and reports it as it always has.
            pending.rows = try? Self.rows(for: pending, keyRing: keyRing, in: db)
            return .decided(pending)
        }
    }

    /// What a decided command appends, made ahead of the write transaction: its events encoded
    /// with their ids and metadata, secrets sealed under the user's data key (a new one, wrapped,
    /// for a user who has none), and the MAC of its arguments.
    ///
    /// They hold only while the user's stream is where `pending` read it: the writer appends
    /// them expecting that version, and a stream that moved (the only way a data key appears
    /// or goes: with an event that issues or removes) makes the command be decided again inside
    /// the transaction, rows and all.
    struct PreparedRows: Sendable {
        var events: [NewEvent]
        var newWrappedDataKey: [UInt8]?
        var argumentsMAC: [UInt8]?
    }

    private static func rows(for pending: PendingCommand, keyRing: KeyRing, in db: Database) throws -> PreparedRows {
        let envelope = pending.envelope, user = pending.user
        var rows = PreparedRows(events: [], argumentsMAC: try keyRing.argumentsMAC(of: envelope.command))
        rows.events = try encode(pending.decision.events, for: envelope, user: user, at: pending.now) { () throws -> [UInt8] in
            if let key = try keyRing.dataKey(for: user, in: db) { return key }
            let (key, wrapped) = try keyRing.makeDataKey(for: user)
            rows.newWrappedDataKey = wrapped
            return key
        }
        return rows
    }

    /// `events` as rows to append, secrets sealed under the key `dataKey` gives (asked once, at
    /// the first secret; wiped after).
    private static func encode(
        _ events: [EnrollmentEvent], for envelope: CommandEnvelope, user: String, at now: UnixTime, dataKey: () throws -> [UInt8]
    ) throws -> [NewEvent] {
        let metadata = EventMetadata(actor: envelope.actor, commandId: envelope.commandId, correlationId: envelope.correlationId)
        var key: [UInt8]?
        defer { if key != nil { secureZero(&key!) } }
        return try events.map { event in
            let encoded = try EventCodec.encode(event) { secret in
                let sealing = try key ?? dataKey()
                key = sealing
                return try KeyRing.seal(secret, dataKey: sealing, stream: user)
            }
            return NewEvent(
                eventId: RandomUUID.string(), type: encoded.type, schemaVersion: encoded.schemaVersion,
                data: encoded.data, metadata: metadata.recording(event), recordedAt: now)
        }
    }

    /// ``prepare(_:user:)`` reading through `db`, which may be the writer's own transaction
    /// (where nothing can move the stream before the command is recorded).
    func prepare(_ envelope: CommandEnvelope, user: String, in db: Database) throws -> Preparation {
        if let replay = try replayed(envelope, in: db) {
            guard replay.showsSecret else { return .finished(replay) }
            return try showAgain(replay, envelope: envelope, user: user, in: db)
        }
        let state = try load(user, in: db)
        if Validation.isSpaced(user) { try Validation.spacedUser(user, recorded: state.version > 0) }
        // A new user's id must not pass for the engine's own actor or hold characters that do not
        // draw as themselves; a user the journal holds (an older release enrolled) may request again.
        if case .requestEnrollment = envelope.command, state.version == 0 { try Validation.newIdentity(user, error: InputError.invalidUser) }
        let now = try checkedNow()
        var fresh: Secret?
        if envelope.command.needsFreshSecret {
            // As long as the algorithm's output (a regenerate without options keeps the active
            // secret's algorithm, which an older release may have issued shorter: its names must
            // still fit a QR code with the longer secret).
            let options = EnrollmentDecider.issuingOptions(for: envelope.command, state: state)
            if case .regenerateSecret(nil) = envelope.command, let options { try Validation.fitsQRCode(options, account: user) }
            let length = EnrollmentPolicy.secretLength(for: options?.parameters.algorithm ?? .sha1)
            do {
                fresh = try secrets.makeSecret(byteCount: length)
            } catch let error as EnrollmentError {
                throw error
            } catch {
                throw StoreError.randomnessUnavailable("\(error)")
            }
            // A secret source given by the embedding code must give what was asked: a shorter
            // secret would be issued as if it were the policy's (RFC 4226 §4: at least 128 bits).
            if let fresh, fresh.bytes.count != length {
                throw StoreError.secretSourceInvalid(given: fresh.bytes.count, asked: length)
            }
        }
        let context = DecisionContext(now: now, user: user, freshSecret: fresh, policy: policy)
        let decision = EnrollmentDecider.decide(envelope.command, state: state, context: context)
        if let rejection = decision.rejection, decision.badInput || (decision.events.isEmpty && (!envelope.retryable || rejection.lapses)) {
            // Bad input, a refusal that changes nothing under an id no one can send again, or one
            // that holds only until a lock ends (a retry after it is decided again): nothing to write.
            return .finished(CommandOutcome(commandId: envelope.commandId, user: user, recorded: [], events: [], state: state, rejection: rejection, replayed: false))
        }
        return .decided(PendingCommand(envelope: envelope, user: user, decision: decision, state: state, now: now))
    }

    /// The clock's time, refused when no event may carry it (``EnrollmentEvent/timeRange``):
    /// written, it would make the user's stream unreadable to every later command.
    private func checkedNow() throws(StoreError) -> UnixTime {
        let now = clock.now()
        guard EnrollmentEvent.timeRange.contains(now) else { throw .clockOutOfRange(now) }
        return now
    }

    /// A replay that would show a secret again (the caller lost the first answer, or sends the
    /// same id again) is answered with the first outcome, and that showing is recorded as any
    /// reveal is, under the repeat's actor: every time a secret is shown is in the journal.
    /// ``spentSecret(shownBy:then:stream:in:)`` has made sure the secret is still the current one.
    private func showAgain(_ replay: CommandOutcome, envelope: CommandEnvelope, user: String, in db: Database) throws -> Preparation {
        let state = try load(user, in: db)
        let now = try checkedNow()
        let context = DecisionContext(now: now, user: user, freshSecret: nil, policy: policy)
        // Shown again in the form the repeated command showed it: a reveal's own, a request's or
        // a regenerate's as its sender shows a secret (a QR code, or the URI as text).
        let reveal: EnrollmentCommand = (envelope.command.revealForm ?? envelope.showsSecretAs) == .text ? .revealSecretText : .revealQRCode
        let decision = EnrollmentDecider.decide(reveal, state: state, context: context)
        if let rejection = decision.rejection {
            // Nothing can be shown (the secret cannot be opened): refused as a reveal would be.
            return .finished(CommandOutcome(commandId: envelope.commandId, user: user, recorded: [], events: [], state: state, rejection: rejection, replayed: false))
        }
        let showing = CommandEnvelope(
            commandId: Self.repeatCommandId(of: envelope.commandId), user: user, actor: envelope.actor, correlationId: envelope.correlationId,
            command: reveal)
        return .decided(PendingCommand(envelope: envelope, user: user, decision: decision, state: state, now: now, replay: (replay, showing)))
    }

    /// The command id of the reveal that records a repeat's showing: `repeat-of:ID#` and a
    /// random part, so that the audit ties it to the command repeated (the history says so) and
    /// each repeat is a command of its own.
    static let repeatPrefix = "repeat-of:"

    static func repeatCommandId(of id: String) -> String {
        let random = "#" + RandomUUID.string().prefix(8)
        // Command ids are printable ASCII of at most 128 bytes: so is this one.
        return repeatPrefix + String(id.prefix(128 - repeatPrefix.count - random.count)) + random
    }

    /// Errors as the callers see them: store and input errors unchanged, anything else from
    /// SQLite mapped to what the user can act on.
    static func classify(_ error: any Error, path: String, busyTimeout: Double = 0) -> any Error {
        // The library's own errors and those of what the embedding code injected (a secret
        // source's) keep their codes; anything else from SQLite is mapped.
        if error is any EnrollmentError { return error }
        return StoreError(error, path: path, busyTimeout: busyTimeout)
    }

    /// Writes a decided command inside the caller's write transaction: the append with the
    /// expected stream version (``StoreError/conflict(stream:expected:actual:)`` if the stream
    /// moved since it was loaded), sealed secrets, inline projections and the command record.
    ///
    /// `batch`: the command is one of a ``GroupCommitHandler`` batch, whose writer checks the key
    /// ring once and folds the inline projections once for the whole batch.
    ///
    /// `head`: the journal's head as the previous command of the same transaction left it (nil:
    /// read from the journal); set to the head after this command's events. Whoever passes it
    /// must set it to nil again when a command fails after writing (its savepoint rolls back).
    func record(
        _ pending: PendingCommand, keyRing: KeyRing, checkReplay: Bool = true, batch: Bool = false, head: inout EventJournal.Head?,
        beforeRecording: ((AuthenticatorState) throws -> Void)? = nil, in db: Database
    ) throws -> CommandOutcome {
        let envelope = pending.replay?.showing ?? pending.envelope, user = pending.user, state = pending.state, now = pending.now
        let decision = pending.decision
        if !batch { try keyRing.bind(to: db, at: now) }
        // What fails a command alone is found before it writes anything (a batch's writer counts
        // on it): a stream that moved since the command was decided, then a duplicate of its id
        // committed since the replay check (another process, another caller): its record,
        // written first, is refused by the commands table's key.
        let actual = try EventJournal.version(of: user, in: db)
        guard actual == state.version else { throw StoreError.conflict(stream: user, expected: state.version, actual: actual) }
        let after = state.evolve(decision.events)
        if let beforeRecording, decision.rejection == nil, !decision.events.isEmpty {
            do { try beforeRecording(after) } catch { throw VetoedRecording(error: error) }
        }
        let argumentsMAC = try pending.rows.map(\.argumentsMAC) ?? keyRing.argumentsMAC(of: envelope.command)
        do {
            try Self.saveCommandRecord(envelope, version: after.version, rejection: decision.rejection, argumentsMAC: argumentsMAC, at: now, in: db)
        } catch let failure as DatabaseError where checkReplay && failure.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
            throw StoreError.conflict(stream: user, expected: state.version, actual: -1)
        }
        // Made by the caller (``PreparedRows``) or here.
        let rows = try pending.rows ?? PreparedRows(
            events: Self.encode(decision.events, for: envelope, user: user, at: now) { try keyRing.ensureDataKey(for: user, at: now, in: db) },
            argumentsMAC: argumentsMAC)
        let recorded = try EventJournal.append(rows.events, to: user, versionChecked: state.version, head: &head, in: db)
        if let wrapped = rows.newWrappedDataKey { try keyRing.store(wrappedDataKey: wrapped, for: user, at: now, in: db) }
        if decision.events.contains(where: { if case .authenticatorRemoved = $0 { true } else { false } }) {
            try keyRing.destroyDataKey(for: user, in: db)
        }
        if !batch { try ProjectionStatus.applyInline(Array(zip(decision.events, recorded)), knowing: [(user, state)], in: db) }
        // The stream was at `state`'s version: it is the state before.
        let before = recorded.isEmpty ? nil : state
        if var first = pending.replay?.outcome {
            first.shownAgain = recorded
            first.shownAgainEvents = decision.events
            first.stateBefore = before
            return first
        }
        var outcome = CommandOutcome(
            commandId: envelope.commandId, user: user, recorded: recorded, events: decision.events,
            state: after, rejection: decision.rejection, replayed: false)
        outcome.stateBefore = before
        return outcome
    }

    // MARK: Reading

    /// The user's state folded from the journal, secrets opened (when the key ring allows).
    ///
    /// Throws ``InputError`` for a user id no command would accept, and ``StoreError`` when the
    /// database cannot be read, as ``handle(_:)`` does.
    public func load(_ user: String) throws -> AuthenticatorState {
        _ = try Validation.recordedUser(user)
        let state: AuthenticatorState
        do {
            state = try database.read { db in try load(user, in: db) }
        } catch {
            throw Self.classify(error, path: database.path, busyTimeout: database.options.busyTimeout)
        }
        if Validation.isSpaced(user) { try Validation.spacedUser(user, recorded: state.version > 0) }
        return state
    }

    /// Folds the stream with its secrets sealed, then opens only those the state still holds
    /// (at most the active and the pending one), not every secret the user was ever issued.
    func load(_ user: String, in db: Database) throws -> AuthenticatorState {
        var state = try foldStream(user, in: db)
        guard state.active != nil || state.pending != nil else { return state }
        var dataKey = try keyRing?.dataKey(for: user, in: db)
        defer { if dataKey != nil { secureZero(&dataKey!) } }
        func open(_ field: inout SecretField) {
            if case .sealed(let sealed) = field { field = KeyRing.open(sealed, dataKey: dataKey, stream: user) }
        }
        if var active = state.active {
            open(&active.secret)
            state.active = active
        }
        if var pending = state.pending {
            open(&pending.credential.secret)
            state.pending = pending
        }
        return state
    }

    /// The user's stream folded into their state, secrets sealed. A long stream is folded on
    /// from where this service last folded it, when the journal still holds that event with the
    /// same chained hash (``StreamFoldCache``); otherwise from the start.
    func foldStream(_ user: String, in db: Database) throws -> AuthenticatorState {
        var cached = folds.entry(for: user)
        if let entry = cached, try HashChain.storedHash(at: entry.position, in: db) != entry.hash {
            folds.forget(user)
            cached = nil
        }
        var state = cached?.state ?? .initial
        var position = cached?.position ?? 0
        try EventJournal.events(of: user, from: state.version + 1, in: db) { event, header in
            state = state.evolve(event)
            position = header.position
            return true
        }
        if state.version >= StreamFoldCache.minimumEvents, state.version != cached?.state.version, let hash = try HashChain.storedHash(at: position, in: db) {
            folds.keep(StreamFoldCache.Entry(state: state, position: position, hash: hash), for: user)
        }
        return state
    }

    func decode(_ rows: [RecordedEvent], stream: String, in db: Database) throws -> [(EnrollmentEvent, RecordedEvent)] {
        var dataKey = try keyRing?.dataKey(for: stream, in: db)
        defer { if dataKey != nil { secureZero(&dataKey!) } }
        // Captured by reference, so that the buffer is still uniquely owned when it is wiped.
        let open: ([UInt8]) -> SecretField = { sealed in KeyRing.open(sealed, dataKey: dataKey, stream: stream) }
        return try rows.map { row in
            (try EventCodec.decode(type: row.type, schemaVersion: row.schemaVersion, data: row.data, position: row.position, open: open), row)
        }
    }

    /// The user's row in the authenticators projection (refused if the projection is stale).
    /// A user id no command accepts throws ``InputError``, as ``load(_:)`` does, rather than
    /// reading as a user who never enrolled.
    public func summary(of user: String) throws -> AuthenticatorSummary {
        _ = try Validation.recordedUser(user)
        if Validation.isSpaced(user) { try Validation.spacedUser(user, recorded: try database.holds(user)) }
        return try database.summary(of: user)
    }
}

extension EnrollmentDatabase {
    /// Whether the journal holds any event of `user`'s stream.
    public func holds(_ user: String) throws(StoreError) -> Bool {
        do {
            return try read { db in try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM events WHERE stream_id = ?)", arguments: [user]) ?? false }
        } catch {
            throw failure(error)
        }
    }

    /// The user's row in the authenticators projection; needs no key file. Refused if the
    /// projection is stale (its shape is not the one this code knows).
    public func summary(of user: String) throws(StoreError) -> AuthenticatorSummary {
        do {
            return try read { db in
                try AuthenticatorsProjection().read(user: user, in: db) ?? .none(user: user)
            }
        } catch {
            throw failure(error)
        }
    }
}

extension EnrollmentService {
    /// What a health check asks: can the journal be read, is it still the file this process
    /// opened (``StoreError/databaseMoved(_:)``), does the key file still match it (after
    /// `enroll keys rotate` a running server holds a stale key and must be restarted), can its
    /// projections take an append (``ProjectionStatus/requireWritable(in:)``), and has its disk
    /// room for the next write? Throws the ``StoreError`` that says why not.
    public func checkHealth() throws(StoreError) {
        do {
            try database.read { db in
                try database.checkUnmoved(db)
                try keyRing?.checkBelongs(to: db)
                try ProjectionStatus.requireWritable(in: db)
            }
        } catch StoreError.databaseMoved(let path) {
            database.retireLog()
            throw .databaseMoved(path)
        } catch {
            throw database.failure(error)
        }
        // Every command writes (a reveal and a status read record events too): on a full disk
        // each fails, so the service is not ready, whatever reading still does.
        if !database.options.readOnly, FileManager.isFullDisk(database.path) { throw .diskFull(database.path) }
    }
}

extension EnrollmentService {
    /// Why the next start would refuse the key file this service read its key from (deleted,
    /// unreadable, or holding another key), while this service goes on with the key it holds:
    /// what a health check warns about before a restart turns it into an outage. `nil`: the file
    /// still holds the key, or the key was handed over in memory.
    public func keyFileProblem() -> StoreError? {
        keyRing?.keyFileProblem()
    }
}

extension AuthenticatorState {
    /// The otpauth:// URI of the secret a confirmation would check now, if it can be opened.
    public func currentURI() -> OTPAuthURI? {
        guard let credential = current, let secret = credential.secret.secret else { return nil }
        return OTPAuthURI(issuer: credential.issuer, account: credential.account, secret: secret.bytes, parameters: credential.parameters)
    }
}
