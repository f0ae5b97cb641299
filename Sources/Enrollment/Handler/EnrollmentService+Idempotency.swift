import CryptoPrimitives
import Foundation
import GRDB
import GRDBSQLite
import OneTimePassword

/// Idempotency: what a command id handled before answers when it comes again (its record in
/// `commands`, the same arguments by their keyed MAC, a secret shown again only while current).
extension EnrollmentService {
    /// Where a handled command left its stream, and its refusal, if any.
    private struct CommandRecord {
        var stream: String
        var version: Int64
        var command: String
        var rejection: EnrollmentRejection?
        var argumentsMAC: [UInt8]?
    }

    /// Looked up before every command is decided (a batch's writer does not look again: the
    /// command's record, written first, is refused by the table's key), so read with the C API
    /// (``RowReader``).
    private static func commandRecord(_ id: String, in db: Database) throws -> CommandRecord? {
        let statement = try db.statement(commandRecordSQL)
        statement.bind(id, at: 1)
        return try RowReader.first(statement, in: db) { row in
            // A record no release writes (edited with another tool) is refused by name, not read
            // as something else: a version in text as 0, a refusal that is not JSON as a decoder's
            // debug text, a command's name with terminal escapes in an error line.
            func edited(_ what: String) -> StoreError {
                .journalDamaged("the record of command id '\(Validation.excerpt(id))' in the commands table \(what), which enroll never writes (a new command id is not affected)")
            }
            guard row.type(0) == SQLITE_TEXT, let stream = row.text(0) else { throw edited("has a user id that is not text") }
            guard row.type(1) == SQLITE_INTEGER, let version = row.int64(1), version >= 0 else {
                throw edited("has a stream version that is not a whole number of 0 or more")
            }
            guard row.type(2) == SQLITE_TEXT, let command = row.text(2), EnrollmentCommand.names.contains(command) else {
                throw edited("names no command of enroll's")
            }
            var rejection: EnrollmentRejection?
            if !row.isNull(3) {
                guard row.type(3) == SQLITE_TEXT, let text = row.text(3),
                      let decoded = try? JSONDecoder().decode(EnrollmentRejection.self, from: Data(text.utf8))
                else { throw edited("holds a refusal that is not one of enroll's") }
                rejection = decoded
            }
            guard row.isNull(4) || row.type(4) == SQLITE_BLOB else { throw edited("holds an arguments MAC that is not bytes") }
            return CommandRecord(stream: stream, version: version, command: command, rejection: rejection, argumentsMAC: row.optionalBytes(4))
        }
    }

    private static let commandRecordSQL = HotStatement(
        "SELECT stream_id, stream_version, command, rejection, arguments_mac FROM commands WHERE command_id = ?")
    private static let saveCommandRecordSQL = HotStatement(
        "INSERT INTO commands (command_id, stream_id, stream_version, command, rejection, handled_at, arguments_mac) VALUES (?, ?, ?, ?, ?, ?, ?)")

    /// One stable form for the stored refusal (its members sorted), as for every JSON stored.
    private static let rejectionEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return encoder
    }()

    static func saveCommandRecord(
        _ envelope: CommandEnvelope, version: Int64, rejection: EnrollmentRejection?, argumentsMAC: [UInt8]?, at time: UnixTime, in db: Database
    ) throws {
        let rejectionJSON = try rejection.map { String(decoding: try rejectionEncoder.encode($0), as: UTF8.self) }
        var insert = try RowWriter(saveCommandRecordSQL, in: db)
        insert.bind(envelope.commandId)
        insert.bind(envelope.user)
        insert.bind(version)
        insert.bind(envelope.command.name)
        insert.bind(rejectionJSON)
        insert.bind(time)
        insert.bind(argumentsMAC)
        try insert.writeRow(in: db)
    }

    /// The first outcome of an already handled command id, rebuilt from the journal (the
    /// record stores no secret, only where the stream stood and the refusal, if any).
    func replayed(_ envelope: CommandEnvelope, in db: Database) throws -> CommandOutcome? {
        guard let record = try Self.commandRecord(envelope.commandId, in: db) else { return nil }
        // A retry repeats the same command for the same user; anything else reusing the id is a
        // mistake the caller must hear about, not the first command's outcome passed off as its own.
        // Byte for byte, as the journal tells users apart (not by Unicode equivalence).
        let sameUser = record.stream.utf8.elementsEqual(envelope.user.utf8)
        guard sameUser, record.command == envelope.command.name else {
            throw InputError.commandIdReused(id: envelope.commandId, command: sameUser ? record.command : nil, user: sameUser ? record.stream : nil)
        }
        // The same command with other arguments (another code, other settings) is not a retry
        // either; the same arguments spelt otherwise (an account given as its default) are.
        // Records from before arguments were kept, or sealed under an earlier master key, cannot
        // be compared and are taken as retries, as they always were.
        var argumentsDiffer = false
        if let stored = record.argumentsMAC, let keyRing, keyRing.madeArgumentsMAC(stored) {
            func matches(_ spellings: [EnrollmentCommand]) throws -> Bool {
                let asked = try spellings.compactMap { try keyRing.argumentsMAC(of: $0) }
                return asked.isEmpty || asked.contains(where: { constantTimeEquals(stored, $0) })
            }
            // A regenerate's kept settings are the active secret's, read only when needed.
            var same = try matches(envelope.command.spellings(for: envelope.user))
            if !same, case .regenerateSecret = envelope.command, let active = try load(record.stream, in: db).active {
                let kept = EnrollmentOptions(issuer: active.issuer, account: active.account, parameters: active.parameters)
                same = try matches(envelope.command.spellings(for: envelope.user, active: kept))
            }
            // A regenerate's left-out settings were filled in from the active secret of then,
            // and are from the one of now: once the secret it issued is spent, that is the answer
            // (below), whatever was typed.
            if !same {
                guard case .regenerateSecret = envelope.command else {
                    throw InputError.commandIdArgumentsDiffer(id: envelope.commandId, command: record.command)
                }
                argumentsDiffer = true
            }
        }
        let stream = record.stream, version = record.version
        let rejection = record.rejection
        let rows = try EventJournal.readStream(stream, upTo: version, in: db)
        let decoded = try decode(rows, stream: stream, in: db)
        let mine = decoded.filter { $0.1.metadata.commandId == envelope.commandId }
        // The secret this command issued was destroyed since (the authenticator was removed):
        // its first outcome cannot be shown again, and "the secret cannot be opened" would
        // wrongly suggest doing what the caller just did. Say what happened instead.
        let issuedSecretGone = mine.contains { event, _ in
            switch event {
            case .enrollmentRequested(let issued), .secretRegenerated(let issued): issued.secret == .forgotten
            default: false
            }
        }
        if issuedSecretGone { throw InputError.commandIdSpent(id: envelope.commandId, because: .destroyed) }
        let then = AuthenticatorState.initial.evolve(decoded.map(\.0))
        if let spent = try spentSecret(shownBy: mine.map(\.0), then: then, stream: stream, in: db) {
            throw InputError.commandIdSpent(id: envelope.commandId, because: spent)
        }
        if argumentsDiffer { throw InputError.commandIdArgumentsDiffer(id: envelope.commandId, command: record.command) }
        // A lock holds only until its end: once over, its refusal is not the answer any more, and
        // the code is not checked again under an id whose events the journal holds.
        if case .locked(let until)? = rejection, until <= clock.now() {
            throw InputError.commandIdSpent(id: envelope.commandId, because: .lockEnded)
        }
        var outcome = CommandOutcome(
            commandId: envelope.commandId, user: stream, recorded: mine.map(\.1), events: mine.map(\.0),
            state: then, rejection: rejection, replayed: true)
        // A refusal's advice (a new QR code) waits for a lock that runs now, not then.
        if rejection != nil { outcome.lockEndNow = try load(stream, in: db).lockedUntil }
        return outcome
    }

    /// A replay returns the first outcome, so one that would show a secret (a request, a
    /// regenerate, a reveal) is only answered while that secret is still the one a reveal
    /// would show now, and a pending one has not expired; that showing is then recorded as a
    /// reveal (``showAgain(_:envelope:user:in:)``). Anything else would show a secret that is
    /// no longer current, perhaps the now active one in place of a replaced pending one.
    private func spentSecret(shownBy events: [EnrollmentEvent], then: AuthenticatorState, stream: String, in db: Database) throws -> SpentSecret? {
        guard events.contains(where: \.showsSecret), let shown = then.current?.secret else { return nil }
        if case .forgotten = shown { return .destroyed }
        let now = try load(stream, in: db)
        let wasPending = then.pending?.credential.secret == shown
        if let pending = now.pending, pending.credential.secret == shown {
            return pending.expiresAt <= clock.now() ? .expired : nil
        }
        // A replacement past its expiry is gone, whether a command has recorded that yet or not.
        let pendingNow = now.livePending(at: clock.now())
        if now.active?.secret == shown {
            if wasPending { return .confirmed }
            return pendingNow == nil ? nil : .replaced
        }
        if wasPending, pendingNow == nil, let expiry = then.pending?.expiresAt, expiry <= clock.now() { return .expired }
        // Only a cancel drops a replacement unexpired and leaves the same secret active.
        if wasPending, then.pending?.isReplacement == true, pendingNow == nil, now.active != nil, now.active == then.active {
            return .cancelled
        }
        return .replaced
    }
}
