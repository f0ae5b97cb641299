import Enrollment
import Foundation
import GRDB
import OneTimePassword

/// Builds large journals quickly for the rebuild and growth figures.
///
/// The events are real domain events, encoded by ``EventCodec`` with their secrets sealed under
/// per-user data keys and appended by ``EventJournal`` (so the hash chain and stream versions
/// are the engine's own), but many appends share a transaction: going through the command
/// handler one command at a time would take longer than the rest of the benchmark. Users are
/// interleaved a few events at a time, as in a live journal. The authenticators projection is
/// left behind (its checkpoint at 0): the rebuild brings it up to date.
enum JournalFixture {
    static let masterKey = [UInt8](repeating: 42, count: 32)
    static let start: UnixTime = 1_700_000_000

    static func make(path: String, users: Int, eventsPerUser: Int) throws {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        let database = try EnrollmentDatabase(path: path, options: DatabaseOptions(durability: .normal))
        // A large page cache for building only: the random event ids make the unique index's
        // inserts land all over a million-row B-tree.
        try database.writer.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA cache_size = -524288") }
        let keyRing = try KeyRing(masterKey: masterKey)
        // Creates the projection tables while the journal is empty.
        _ = try EnrollmentService(database: database, keyRing: keyRing)
        let secrets = SeededSecretSource(seed: "benchmark-fixture")
        let chunk = 5
        let rounds = (eventsPerUser + chunk - 1) / chunk
        var time = start
        let usersPerTransaction = max(1, 4000 / chunk)
        for round in 0..<rounds {
            let from = round * chunk, to = min(eventsPerUser, from + chunk)
            var first = 0
            while first < users {
                let last = min(users, first + usersPerTransaction)
                try database.writer.write { db in
                    if round == 0 && first == 0 { try keyRing.bind(to: db, at: time) }
                    for index in first..<last {
                        let user = userName(index)
                        var newEvents: [NewEvent] = []
                        for position in from..<to {
                            time += 1
                            let event = try self.event(at: position, time: time, secrets: secrets)
                            let encoded = try EventCodec.encode(event) { secret in
                                let key = try keyRing.ensureDataKey(for: user, at: time, in: db)
                                return try KeyRing.seal(secret, dataKey: key, stream: user)
                            }
                            newEvents.append(NewEvent(
                                eventId: UUID().uuidString.lowercased(), type: encoded.type, schemaVersion: encoded.schemaVersion,
                                data: encoded.data, metadata: EventMetadata(actor: user, commandId: UUID().uuidString.lowercased()),
                                recordedAt: time))
                        }
                        try EventJournal.append(newEvents, to: user, expectedVersion: Int64(from), in: db)
                    }
                }
                first = last
            }
        }
    }

    static func userName(_ index: Int) -> String { "user-\(String(format: "%06d", index))" }

    /// The n-th event of a user's life: request and activation, then cycles of replacement,
    /// reveals, wrong codes, activation and an abandoned replacement.
    static func event(at index: Int, time: UnixTime, secrets: SeededSecretSource) throws -> EnrollmentEvent {
        func issued() throws -> SecretIssued {
            SecretIssued(
                secret: .open(try secrets.makeSecret(byteCount: 20)), issuer: "Example", account: "someone@example.com",
                parameters: .default, expiresAt: time + 600)
        }
        switch index {
        case 0: return .enrollmentRequested(try issued())
        case 1: return .authenticatorActivated(AuthenticatorActivated(step: time / 30, replacedPrevious: false))
        default: break
        }
        switch (index - 2) % 8 {
        case 0: return .secretRegenerated(try issued())
        case 1: return .qrCodeRevealed(QRCodeRevealed(target: .pending))
        case 2: return .codeRejected(CodeRejected(reason: "invalid_code", target: .pending, failedAttempts: 1))
        case 3: return .codeRejected(CodeRejected(reason: "invalid_code", target: .pending, failedAttempts: 2))
        case 4: return .authenticatorActivated(AuthenticatorActivated(step: time / 30, replacedPrevious: true))
        case 5: return .qrCodeRevealed(QRCodeRevealed(target: .active))
        case 6: return .secretRegenerated(try issued())
        default: return .pendingSecretExpired(PendingSecretExpired(replacement: true, expiredAt: time))
        }
    }
}
