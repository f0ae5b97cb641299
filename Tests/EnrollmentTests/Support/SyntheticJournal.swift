import Foundation
import GRDB
import Synchronization
import OneTimePassword
@testable import Enrollment
import TestSupport

/// A deterministic stream of plausible enrollment traffic, appended through the library the
/// way the handler does it (decide, seal, append with the expected version, inline
/// projections), but many commands per transaction so that 100 000 events take seconds.
///
/// Users request (with every algorithm and digit count), type wrong and right codes, get
/// locked, reveal, regenerate, abandon replacements, let first enrollments expire, reuse
/// codes and remove; the clock advances about a minute per command. Given the same seed, the
/// same commands at the same times produce the same events (only AES-GCM nonces differ).
struct SyntheticJournal {
    static let masterKey = Array("synthetic-journal-master-key-32b".utf8)

    private var random: SplitMix64
    private(set) var now: UnixTime
    private var states: [String: AuthenticatorState] = [:]
    private let users: [String]
    private let secrets: SeededSecretSource
    private let keyRing: KeyRing
    private var commandNumber = 0
    private var current: String?
    /// Traffic with what later releases record: a replacement awaiting its code is sometimes
    /// cancelled (Cancel Regenerate), and first codes are mostly wrong, so that locks, and codes
    /// typed during them, come often. Off by default, so the traffic recorded before comes out
    /// the same.
    private let newer: Bool

    init(seed: UInt64 = 42, users: Int = 500, start: UnixTime = 1_764_000_000, newer: Bool = false) throws {
        self.newer = newer
        random = SplitMix64(seed: seed)
        now = start
        self.users = (1...users).map { String(format: "user%04d", $0) }
        secrets = SeededSecretSource(seed: "synthetic-\(seed)")
        keyRing = try KeyRing(masterKey: Self.masterKey)
    }

    /// Appends commands until at least `events` more events are in the journal.
    mutating func append(events target: Int, to database: EnrollmentDatabase, perTransaction: Int = 5_000) throws {
        var appended = 0
        while appended < target {
            appended += try database.writer.write { db -> Int in
                try keyRing.bind(to: db, at: now)
                try ProjectionStatus.createMissing(in: db)
                var count = 0
                while count < perTransaction && appended + count < target {
                    count += try step(in: db)
                }
                return count
            }
        }
    }

    /// One command for one user: returns how many events it appended.
    private mutating func step(in db: Database) throws -> Int {
        // Sessions: most commands continue with the same user a few seconds later (typing a
        // code after scanning), the rest come from another user at some later time.
        let user: String
        if let current, random.next(upTo: 100) < 75 {
            user = current
            now += Int64(random.next(upTo: 40)) + 5
        } else {
            user = users[random.next(upTo: users.count)]
            now += Int64(random.next(upTo: 90)) + 1
        }
        current = user
        let state = states[user] ?? .initial
        let command = chooseCommand(for: state, user: user)
        commandNumber += 1
        let fresh = command.needsFreshSecret ? try secrets.makeSecret(byteCount: 20) : nil
        let decision = EnrollmentDecider.decide(command, state: state, context: DecisionContext(now: now, user: user, freshSecret: fresh))
        if decision.events.isEmpty { return 0 }
        let metadata = EventMetadata(actor: random.next(upTo: 10) == 0 ? "helpdesk" : user, commandId: "cmd-\(commandNumber)")
        var dataKey: [UInt8]?
        let keyRing = self.keyRing
        let rows = try decision.events.map { event -> NewEvent in
            let encoded = try EventCodec.encode(event) { secret in
                let key = try dataKey ?? keyRing.ensureDataKey(for: user, at: now, in: db)
                dataKey = key
                return try KeyRing.seal(secret, dataKey: key, stream: user)
            }
            return NewEvent(
                eventId: String(format: "%016llx-%08x", random.next() as UInt64, commandNumber), type: encoded.type,
                schemaVersion: encoded.schemaVersion, data: encoded.data, metadata: newer ? metadata.recording(event) : metadata, recordedAt: now)
        }
        let recorded = try EventJournal.append(rows, to: user, expectedVersion: state.version, in: db)
        if decision.events.contains(where: { if case .authenticatorRemoved = $0 { true } else { false } }) {
            try keyRing.destroyDataKey(for: user, in: db)
        }
        try ProjectionStatus.applyInline(Array(zip(decision.events, recorded)), in: db)
        states[user] = state.evolve(decision.events)
        return recorded.count
    }

    private mutating func chooseCommand(for state: AuthenticatorState, user: String) -> EnrollmentCommand {
        let roll = random.next(upTo: 100)
        func rightCode(_ credential: Credential, at time: UnixTime) -> String {
            guard let secret = credential.secret.secret else { return "000000" }
            return (try? TOTP.code(secret: secret.bytes, at: time, parameters: credential.parameters)) ?? "000000"
        }
        func wrongCode(_ credential: Credential) -> String {
            let right = rightCode(credential, at: now)
            var wrong = String(repeating: "1", count: credential.parameters.digits)
            if wrong == right { wrong = String(repeating: "2", count: credential.parameters.digits) }
            return wrong
        }
        switch state.status {
        case .none:
            let algorithms: [Digest] = [.sha1, .sha1, .sha256, .sha512]
            let issuers = ["ACME", "Globex", "Initech"]
            let parameters = OTPParameters(algorithm: algorithms[random.next(upTo: 4)], digits: 6 + random.next(upTo: 3), period: random.next(upTo: 5) == 0 ? 60 : 30)
            return .requestEnrollment(EnrollmentOptions(issuer: issuers[random.next(upTo: 3)], parameters: parameters))
        case .pending:
            guard let pending = state.pending else { return .revealQRCode }
            if roll < (newer ? 20 : 55) { return .confirmCode(rightCode(pending.credential, at: now)) }
            if roll < 85 { return .confirmCode(wrongCode(pending.credential)) }
            if roll < 95 { return .revealQRCode }
            return .removeAuthenticator
        case .active:
            guard let active = state.active else { return .revealQRCode }
            if let pending = state.pending {
                if roll < 50 { return .confirmCode(rightCode(pending.credential, at: now)) }
                if roll < 70 { return .confirmCode(wrongCode(pending.credential)) }
                if newer && roll >= 88 { return .cancelRegenerate }
                return .revealQRCode
            }
            if roll < 30 { return .regenerateSecret(nil) }
            if roll < 55 { return .revealQRCode }
            if roll < 70, let step = active.lastAcceptedStep {
                // The code that was accepted last: a replay.
                return .confirmCode(rightCode(active, at: step * Int64(active.parameters.period)))
            }
            if roll < 80 { return .confirmCode(rightCode(active, at: now)) }
            return .removeAuthenticator
        }
    }
}

/// A journal of `events` synthetic events in a fresh database file, built once per test run
/// and copied for each test that needs one (file copies are much faster than appends).
enum SyntheticDatabases {
    private static let cache = Mutex<[Int: String]>([:])

    /// One directory per test process, removed when the process exits.
    private static let directory: URL = {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("synthetic-\(getpid())-\(UUID().uuidString)")
        try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        syntheticDirectory.withLock { $0 = directory.path }
        atexit {
            if let path = syntheticDirectory.withLock({ $0 }) { try? FileManager.default.removeItem(atPath: path) }
        }
        return directory
    }()

    /// A copy of the cached journal at `path`, with its projections maintained inline.
    static func copy(events: Int, to path: String) throws {
        let template = try cache.withLock { cached -> String in
            if let existing = cached[events] { return existing }
            let file = directory.appendingPathComponent("journal-\(events).sqlite").path
            let database = try EnrollmentDatabase(path: file, options: DatabaseOptions(durability: .normal))
            var journal = try SyntheticJournal()
            try journal.append(events: events, to: database)
            try database.writer.writeWithoutTransaction { db in _ = try db.checkpoint(.truncate) }
            try database.writer.close()
            cached[events] = file
            return file
        }
        try FileManager.default.copyItem(atPath: template, toPath: path)
    }
}

/// Where the synthetic databases live, for the exit handler (a C function pointer cannot capture).
private let syntheticDirectory = Mutex<String?>(nil)
