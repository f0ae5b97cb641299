import CryptoPrimitives
import Foundation
import GRDB
import OneTimePassword
import Synchronization
import Testing
@testable import Enrollment
import TestSupport

/// The async group-commit handler: many callers, shared transactions, each caller its own result.
@Suite("Group commit")
struct GroupCommitTests {
    struct Setup {
        let directory: URL
        let service: EnrollmentService
        let handler: GroupCommitHandler
        var path: String { service.database.path }
    }

    /// A new directory under the temporary one, named `prefix` and a UUID (the caller removes it).
    static func scratchDirectory(_ prefix: String) throws -> URL {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        return directory
    }

    static func setup(durability: Durability = .full) throws -> Setup {
        let directory = try Self.scratchDirectory("group-commit")
        let database = try EnrollmentDatabase(path: directory.appendingPathComponent("enroll.sqlite").path, options: DatabaseOptions(durability: durability, concurrentReads: true))
        let keyRing = try KeyRing(masterKey: Array(repeating: 7, count: 32))
        let service = try EnrollmentService(
            database: database, keyRing: keyRing, clock: FixedClock(1_764_000_000), secrets: SeededSecretSource(seed: "group-commit"))
        return Setup(directory: directory, service: service, handler: GroupCommitHandler(service: service))
    }

    /// `command` for `user` read and decided by `service` as a group-commit caller does, not yet written.
    static func prepared(_ service: EnrollmentService, _ user: String, _ command: EnrollmentCommand) throws -> EnrollmentService.PendingCommand {
        guard case .decided(let pending) = try service.prepare(CommandEnvelope(user: user, command: command), user: user) else {
            throw StoreError.sqlite("expected a decided command")
        }
        return pending
    }

    /// Counts commits on the writer connection.
    final class CommitCounter: TransactionObserver, @unchecked Sendable {
        var commits = 0
        func observes(eventsOfKind eventKind: DatabaseEventKind) -> Bool { false }
        func databaseDidChange(with event: DatabaseEvent) {}
        func databaseDidCommit(_ db: Database) { commits += 1 }
        func databaseDidRollback(_ db: Database) {}
    }

    /// The sqlite3 command line (an independent reader), its output trimmed.
    static func sqlite3(_ path: String, _ sql: String) throws -> String {
        let result = try Processes.run(try Processes.tool("sqlite3", package: "sqlite3"), [path, sql])
        #expect(result.status == 0, "sqlite3 failed: \(result.stderr)")
        return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Checks every row's hash against its predecessor, positions gap-free from 1.
    static func checkChain(_ database: EnrollmentDatabase) throws -> Int {
        try database.writer.read { db in
            var previous = HashChain.genesis
            var expectedPosition: Int64 = 1
            for row in try Row.fetchAll(db, sql: "SELECT * FROM events ORDER BY position") {
                let position: Int64 = row["position"]
                #expect(position == expectedPosition)
                let hash = HashChain.hash(
                    previous: previous, position: position, streamId: row["stream_id"], streamVersion: row["stream_version"],
                    eventId: row["event_id"], type: row["type"], schemaVersion: row["schema_version"], data: row["data"],
                    metadata: row["metadata"], recordedAt: row["recorded_at"])
                let stored: Data = row["hash"]
                #expect(Array(stored) == hash, "hash chain broken at position \(position)")
                previous = hash
                expectedPosition += 1
            }
            return Int(expectedPosition - 1)
        }
    }

    @Test("200 concurrent callers each get their own user's outcome, in fewer transactions than commands")
    func concurrentCallers() async throws {
        let setup = try Self.setup()
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        let counter = CommitCounter()
        try await setup.service.database.writer.write { db in db.add(transactionObserver: counter, extent: .databaseLifetime) }
        let commitsBefore = try await setup.service.database.writer.write { _ in counter.commits }

        // Another connection holds the write lock while the commands arrive, as a slow fsync
        // would: they must queue up and share transactions once it is released, however fast
        // this machine's disk is.
        var configuration = Configuration()
        configuration.allowsUnsafeTransactions = true
        let blocker = try DatabaseQueue(path: setup.path, configuration: configuration)
        try blocker.inDatabase { db in try db.execute(sql: "BEGIN IMMEDIATE") }
        // Released from a thread of its own: on a loaded machine the 200 callers can keep the
        // concurrency pool's threads busy for longer than the writer's busy timeout.
        let released = DispatchSemaphore(value: 0)
        let releaseFailure = Mutex<(any Error)?>(nil)
        Thread.detachNewThread {
            Thread.sleep(forTimeInterval: 1)
            do { try blocker.inDatabase { db in try db.execute(sql: "COMMIT") } } catch { releaseFailure.withLock { $0 = error } }
            released.signal()
        }
        let outcomes = try await withThrowingTaskGroup(of: (String, CommandOutcome).self) { group in
            for index in 0..<200 {
                let user = "user-\(index)"
                group.addTask {
                    (user, try await setup.handler.handle(CommandEnvelope(user: user, command: .requestEnrollment(EnrollmentOptions()))))
                }
            }
            return try await group.reduce(into: [:]) { $0[$1.0] = $1.1 }
        }
        released.wait()
        if let failure = releaseFailure.withLock({ $0 }) { throw failure }
        #expect(outcomes.count == 200)
        for (user, outcome) in outcomes {
            #expect(outcome.user == user)
            #expect(outcome.accepted)
            #expect(outcome.state.status == .pending)
            #expect(outcome.recorded.map(\.streamId) == [user])
            #expect(outcome.recorded.map(\.streamVersion) == [1])
        }
        // The writer's own reads count as commits too, so compare with the number of commands.
        let commits = try await setup.service.database.writer.write { _ in counter.commits } - commitsBefore - 1
        #expect(commits < 50, "\(commits) transactions for 200 commands: they did not share commits")
        #expect(try Self.sqlite3(setup.path, "SELECT COUNT(*) FROM events") == "200")
        #expect(try Self.sqlite3(setup.path, "SELECT COUNT(DISTINCT position) FROM events") == "200")
        #expect(try Self.checkChain(setup.service.database) == 200)
        _ = try JournalIntegrity.check(setup.path)
        // Secrets stay sealed in the batch path too.
        #expect(try Self.sqlite3(setup.path, "SELECT COUNT(*) FROM events WHERE data LIKE '%sealedSecret%'") == "200")
    }

    @Test("A conflicting command in a batch fails alone; the others in the same transaction commit")
    func conflictInBatch() throws {
        let setup = try Self.setup()
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        let service = setup.service
        func prepared(_ user: String, _ command: EnrollmentCommand) throws -> EnrollmentService.PendingCommand {
            try Self.prepared(service, user, command)
        }
        // Both of alice's commands are decided at version 0; only the first can be written.
        let batch = [
            try prepared("alice", .requestEnrollment(EnrollmentOptions())),
            try prepared("alice", .requestEnrollment(EnrollmentOptions(issuer: "Other"))),
            try prepared("bob", .requestEnrollment(EnrollmentOptions())),
        ]
        let results = setup.handler.write(batch, pinned: [true, true, true])
        #expect((try? results[0].get())?.accepted == true)
        #expect(throws: StoreError.conflict(stream: "alice", expected: 0, actual: 1)) { try results[1].get() }
        #expect((try? results[2].get())?.accepted == true)
        #expect(try Self.sqlite3(setup.path, "SELECT stream_id || ':' || stream_version FROM events ORDER BY position") == "alice:1\nbob:1")
        // The rolled-back command left no command record, no projection change, no data key.
        #expect(try Self.sqlite3(setup.path, "SELECT COUNT(*) FROM commands") == "2")
        #expect(try Self.sqlite3(setup.path, "SELECT group_concat(stream_id, ' ') FROM (SELECT stream_id FROM data_keys ORDER BY stream_id)") == "alice bob")
        #expect(try Self.sqlite3(setup.path, "SELECT issuer FROM authenticators WHERE user_id = 'alice'") == "")
        #expect(try Self.sqlite3(setup.path, "SELECT pending_issuer FROM authenticators WHERE user_id = 'alice'") == EnrollmentOptions.defaultIssuer)
        #expect(try Self.checkChain(service.database) == 2)
        // The batch folded the projections once, over exactly the events that committed.
        #expect(try Self.sqlite3(setup.path, "SELECT group_concat(name || '@' || position, ' ') FROM projection_checkpoints") == "authenticators@2 enrollment_activity@2")
        _ = try JournalIntegrity.check(setup.path)
    }

    @Test("Two callers with the same command id, both past the replay check, meet in one batch: the second is refused by the first's command record before writing anything, and through the handler replays the first outcome")
    func duplicateCommandIdInBatch() async throws {
        let setup = try Self.setup()
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        let service = setup.service
        // A refusal that appends no event but is recorded (its id can be sent again): the stream
        // does not move, so only the command's own record tells the second one from a new command.
        let envelope = CommandEnvelope(commandId: "same-id", user: "alice", command: .revealQRCode)
        // Both decided before either is written, as two callers reading at the same moment are.
        guard case .decided(let first) = try service.prepare(envelope, user: "alice"),
              case .decided(let second) = try service.prepare(envelope, user: "alice"),
              case .decided(let bob) = try service.prepare(CommandEnvelope(user: "bob", command: .requestEnrollment(EnrollmentOptions())), user: "bob")
        else { throw StoreError.sqlite("expected decided commands") }
        let results = setup.handler.write([first, second, bob], pinned: [true, true, true])
        #expect((try? results[0].get())?.rejection == .notEnrolled)
        #expect(throws: StoreError.conflict(stream: "alice", expected: 0, actual: -1)) { try results[1].get() }
        #expect((try? results[2].get())?.accepted == true)
        #expect(try Self.sqlite3(setup.path, "SELECT stream_id || ':' || stream_version FROM events ORDER BY position") == "bob:1")
        #expect(try Self.sqlite3(setup.path, "SELECT group_concat(stream_id, ' ') FROM (SELECT stream_id FROM commands ORDER BY stream_id)") == "alice bob")
        #expect(try Self.checkChain(service.database) == 1)
        // What the refused one's caller does next: the retry replays the first outcome.
        let replayed = try await setup.handler.handle(envelope)
        #expect(replayed.replayed)
        #expect(replayed.rejection == .notEnrolled)
        #expect(try Self.sqlite3(setup.path, "SELECT COUNT(*) FROM commands") == "2")
        _ = try JournalIntegrity.check(setup.path)
    }

    @Test("A command that fails after writing some of its rows fails alone: none of its rows stay, the rest of the batch commits")
    func failureAfterWriting() throws {
        let setup = try Self.setup()
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        let service = setup.service
        // dave's command record is refused, after his event and data key were written: a
        // failure no check before the writing foresees (as an I/O error would be).
        try service.database.writer.write { db in
            try db.execute(sql: """
                CREATE TRIGGER refuse_dave AFTER INSERT ON commands WHEN NEW.stream_id = 'dave'
                BEGIN SELECT RAISE(ABORT, 'refused by the test'); END
                """)
        }
        let batch = try ["alice", "dave", "bob"].map { try Self.prepared(service, $0, .requestEnrollment(EnrollmentOptions())) }
        #expect(batch.allSatisfy { $0.rows != nil })
        let results = setup.handler.write(batch, pinned: [false, false, false])
        #expect((try? results[0].get())?.accepted == true)
        #expect(throws: (any Error).self) { try results[1].get() }
        #expect("\((results[1].mapError { $0 as any Error }))".contains("refused by the test"))
        #expect((try? results[2].get())?.accepted == true)
        #expect(try Self.sqlite3(setup.path, "SELECT group_concat(stream_id || ':' || stream_version, ' ') FROM (SELECT * FROM events ORDER BY position)") == "alice:1 bob:1")
        #expect(try Self.sqlite3(setup.path, "SELECT group_concat(stream_id, ' ') FROM (SELECT stream_id FROM data_keys ORDER BY stream_id)") == "alice bob")
        #expect(try Self.sqlite3(setup.path, "SELECT COUNT(*) FROM commands") == "2")
        #expect(try Self.sqlite3(setup.path, "SELECT COUNT(*) FROM authenticators WHERE user_id = 'dave'") == "0")
        #expect(try Self.sqlite3(setup.path, "SELECT group_concat(name || '@' || position, ' ') FROM projection_checkpoints") == "authenticators@2 enrollment_activity@2")
        #expect(try Self.checkChain(service.database) == 2)
        _ = try JournalIntegrity.check(setup.path)
    }

    @Test("One user's projection row deleted by hand fails that user's command alone: the rest of the batch commits, each folded into the projections, and the refused command leaves nothing")
    func damagedRowInBatch() throws {
        let setup = try Self.setup()
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        let service = setup.service
        #expect(try service.handle(CommandEnvelope(user: "carol", command: .requestEnrollment(EnrollmentOptions()))).accepted)
        try service.database.writer.write { db in try db.execute(sql: "DELETE FROM authenticators WHERE user_id = 'carol'") }
        let batch = [
            try Self.prepared(service, "alice", .requestEnrollment(EnrollmentOptions())),
            try Self.prepared(service, "carol", .revealQRCode),
            try Self.prepared(service, "bob", .requestEnrollment(EnrollmentOptions())),
        ]
        let results = setup.handler.write(batch, pinned: [false, false, false])
        #expect((try? results[0].get())?.accepted == true)
        #expect((try? results[2].get())?.accepted == true)
        #expect(throws: (any Error).self) { try results[1].get() }
        if case .failure(let error) = results[1] {
            #expect((error as? StoreError)?.code == "damaged_projection", "\(error)")
        }
        #expect(try Self.sqlite3(setup.path, "SELECT group_concat(stream_id || ':' || stream_version, ' ') FROM (SELECT * FROM events ORDER BY position)") == "carol:1 alice:1 bob:1")
        #expect(try Self.sqlite3(setup.path, "SELECT group_concat(user_id || ':' || status, ' ') FROM (SELECT * FROM authenticators ORDER BY user_id)") == "alice:pending bob:pending")
        #expect(try Self.sqlite3(setup.path, "SELECT group_concat(stream_id, ' ') FROM (SELECT stream_id FROM commands ORDER BY stream_id)") == "alice bob carol")
        #expect(try Self.sqlite3(setup.path, "SELECT group_concat(name || '@' || position, ' ') FROM projection_checkpoints") == "authenticators@3 enrollment_activity@3")
        #expect(try Self.checkChain(service.database) == 3)
    }

    @Test("Without a pinned version, a command whose stream moved earlier in the batch is decided again inside it")
    func redecidedInBatch() throws {
        let setup = try Self.setup()
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        let service = setup.service
        func prepared(_ command: EnrollmentCommand) throws -> EnrollmentService.PendingCommand {
            try Self.prepared(service, "frank", command)
        }
        _ = try service.handle(CommandEnvelope(user: "frank", command: .requestEnrollment(EnrollmentOptions())))
        // Both decided at version 1; the second is re-decided at version 2 by the writer.
        let results = setup.handler.write([try prepared(.revealQRCode), try prepared(.removeAuthenticator)], pinned: [false, false])
        #expect((try? results[0].get())?.state.version == 2)
        let removed = try #require(try? results[1].get())
        #expect(removed.state.version == 3)
        #expect(removed.state.status == .none)
        #expect(try Self.sqlite3(setup.path, "SELECT group_concat(type, ',') FROM (SELECT type FROM events ORDER BY position)") == "EnrollmentRequested,QRCodeRevealed,AuthenticatorRemoved")
        #expect(try Self.checkChain(service.database) == 3)
        #expect(try Self.sqlite3(setup.path, "SELECT status FROM authenticators WHERE user_id = 'frank'") == "none")
        _ = try JournalIntegrity.check(setup.path)
    }

    @Test("Callers make a new user's data key and seal with it; when two such commands meet in a batch, the second is decided again under the key the first stored, and its code (oathtool) activates it")
    func callerMadeRows() throws {
        let setup = try Self.setup()
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        let service = setup.service
        func prepared(_ command: EnrollmentCommand) throws -> EnrollmentService.PendingCommand {
            try Self.prepared(service, "gina", command)
        }
        let first = try prepared(.requestEnrollment(EnrollmentOptions()))
        let second = try prepared(.requestEnrollment(EnrollmentOptions(issuer: "Second")))
        // Both were made by their callers, each with a data key of its own for a user who had none.
        #expect(first.rows?.newWrappedDataKey != nil && second.rows?.newWrappedDataKey != nil && first.rows?.newWrappedDataKey != second.rows?.newWrappedDataKey)
        let results = setup.handler.write([first, second], pinned: [false, false])
        #expect((try? results[0].get())?.state.version == 1)
        let outcome = try #require(try? results[1].get())
        #expect(outcome.state.version == 2)
        #expect(try Self.sqlite3(setup.path, "SELECT COUNT(*) FROM data_keys WHERE stream_id = 'gina'") == "1")
        // The second secret, sealed inside the transaction under the stored key, reads back and activates.
        let secret = try #require(outcome.state.pending?.credential.secret.secret)
        let code = try Oathtool.code(base32Secret: Base32.encode(secret.bytes), at: 1_764_000_000)
        let confirmed = try service.handle(CommandEnvelope(user: "gina", command: .confirmCode(code)))
        #expect(confirmed.accepted && confirmed.state.status == .active)
        #expect(try Self.checkChain(service.database) == 3)
        _ = try JournalIntegrity.check(setup.path)
    }

    @Test("A caller naming a stale expected version gets a conflict; without one, concurrent commands on one stream all land")
    func expectedVersions() async throws {
        let setup = try Self.setup()
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        let handler = setup.handler
        _ = try await handler.handle(CommandEnvelope(user: "carol", command: .requestEnrollment(EnrollmentOptions())), expectedVersion: 0)
        await #expect(throws: StoreError.conflict(stream: "carol", expected: 0, actual: 1)) {
            try await handler.handle(CommandEnvelope(user: "carol", command: .revealQRCode), expectedVersion: 0)
        }
        let versions = try await withThrowingTaskGroup(of: Int64.self) { group in
            for _ in 0..<20 {
                group.addTask { try await handler.handle(CommandEnvelope(user: "carol", command: .revealQRCode)).state.version }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(Set(versions) == Set(2...21))
        #expect(try Self.sqlite3(setup.path, "SELECT MAX(stream_version) || '/' || COUNT(*) FROM events WHERE stream_id = 'carol'") == "21/21")
        #expect(try Self.checkChain(setup.service.database) == 21)
        _ = try JournalIntegrity.check(setup.path)
    }

    @Test("A repeated command id through the async handler replays the first outcome, appending only the reveal of the secret it shows again")
    func replay() async throws {
        let setup = try Self.setup()
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        let envelope = CommandEnvelope(commandId: "once", user: "dave", command: .requestEnrollment(EnrollmentOptions()))
        async let first = setup.handler.handle(envelope)
        async let second = setup.handler.handle(envelope)
        let outcomes = try await [first, second]
        #expect(outcomes.filter(\.replayed).count == 1)
        #expect(outcomes.map(\.state.version) == [1, 1])
        #expect(try Self.sqlite3(setup.path, "SELECT group_concat(type, ' ') FROM events") == "EnrollmentRequested QRCodeRevealed")
        #expect(try Self.sqlite3(setup.path, "SELECT stream_version FROM authenticators WHERE user_id = 'dave'") == "2", "the batch folded the reveal")
        _ = try JournalIntegrity.check(setup.path)
    }

    @Test("Callers decide on read connections of their own: each read is one snapshot, the next one sees what was committed meanwhile (a schema change too), the connection is kept for the next caller, and closing the database still removes its write-ahead log")
    func snapshotReads() throws {
        let directory = try Self.scratchDirectory("snapshot")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("enroll.sqlite").path
        var database: EnrollmentDatabase? = try EnrollmentDatabase(path: path, options: DatabaseOptions(concurrentReads: true))
        try #require(database).writer.write { db in try db.execute(sql: "CREATE TABLE scratch (x)") }
        var connections: [OpaquePointer?] = []
        let (before, during) = try #require(database).snapshotRead { db in
            connections.append(db.sqliteConnection)
            let before = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM scratch")
            try database?.writer.write { db in try db.execute(sql: "INSERT INTO scratch VALUES (1)") }
            return (before, try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM scratch"))
        }
        #expect(before == 0 && during == 0, "one read, one snapshot")
        let after = try #require(database).snapshotRead { db in
            connections.append(db.sqliteConnection)
            return try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM scratch")
        }
        #expect(after == 1)
        // What a read learnt of the schema is not kept past another connection's change to it.
        #expect(try #require(database).snapshotRead { db in try db.tableExists("later") } == false)
        try #require(database).writer.write { db in try db.execute(sql: "CREATE TABLE later (x)") }
        #expect(try #require(database).snapshotRead { db in try db.tableExists("later") })
        #expect(connections.count == 2 && connections[0] != nil && connections[0] == connections[1], "the connection is kept")
        #expect(try Self.sqlite3(path, "PRAGMA query_only") == "0")
        #expect(FileManager.default.fileExists(atPath: path + "-wal"))
        database = nil
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"), "the last connection to close checkpoints and removes the log")
        #expect(try Self.sqlite3(path, "SELECT COUNT(*) FROM scratch") == "1")
    }

    @Test("close() while the database is still referenced, after reads on GRDB's readers and the callers' own, at either durability: the log is checkpointed and removed at once, a later write fails with an error, a second close and the release after it are harmless", arguments: [Durability.full, .normal])
    func closeNow(_ durability: Durability) async throws {
        let setup = try Self.setup(durability: durability)
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        for user in ["ann", "bob", "cy"] {
            #expect(try await setup.handler.handle(CommandEnvelope(user: user, command: .requestEnrollment(EnrollmentOptions()))).accepted)
        }
        let database = setup.service.database
        #expect(try await database.writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events") } == 3)
        #expect(try database.snapshotRead { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events") } == 3)
        #expect(FileManager.default.fileExists(atPath: setup.path + "-wal"))
        try database.close()
        #expect(!FileManager.default.fileExists(atPath: setup.path + "-wal"), "the writer's connection, closed last, removes the log")
        #expect(try Self.sqlite3("file:\(setup.path)?immutable=1", "SELECT COUNT(*) FROM events") == "3")
        #expect(throws: (any Error).self) { try database.write { db in try db.execute(sql: "DELETE FROM events") } }
        try database.close()
    }

    @Test("At NORMAL a long-lived pool's log is copied into the database file beside the writer, before the writer's own checkpoint is due: a reader of the file alone (sqlite3, immutable) finds the events; the log still starts over at the backstop; every command stands, the chain verifies, and closing removes the log")
    func checkpointsBesideTheWriter() throws {
        let directory = try Self.scratchDirectory("checkpoints")
        defer { try? FileManager.default.removeItem(at: directory) }
        let path = directory.appendingPathComponent("enroll.sqlite").path
        // A pool, as a server has, written through the synchronous handler: nothing but the
        // checkpoints (no group-commit handler's truncation at start) copies the log into the file.
        let database = try EnrollmentDatabase(path: path, options: DatabaseOptions(durability: .normal, concurrentReads: true))
        let service = try EnrollmentService(
            database: database, keyRing: try KeyRing(masterKey: Array(repeating: 7, count: 32)), clock: FixedClock(1_764_000_000),
            secrets: SeededSecretSource(seed: "checkpoints"))
        // The file alone, without the log: what checkpoints have copied into it. No events while
        // even the table is only in the log.
        let fileAlone = "file:\(path)?immutable=1"
        /// The count in the file alone; nil when sqlite3 could not read it. Read while a checkpoint
        /// copies pages in, the file alone can be caught half written ("malformed", "not a
        /// database", or a page that points nowhere), which only a later read settles.
        func readEventsInFileAlone() throws -> (count: Int?, failure: String) {
            let result = try Processes.run(try Processes.tool("sqlite3", package: "sqlite3"), [fileAlone, "SELECT COUNT(*) FROM events"])
            if result.status != 0 && result.stderr.contains("no such table: events") { return (0, "") }
            guard result.status == 0 else { return (nil, "exit \(result.status): \(result.stderr)") }
            return (Int(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "")
        }
        /// The count when nothing writes the file, so a failure is the test's.
        func eventsInFileAlone() throws -> Int {
            let read = try readEventsInFileAlone()
            #expect(read.count != nil, "sqlite3 failed: \(read.failure)")
            return read.count ?? -1
        }
        #expect(try eventsInFileAlone() == 0)
        func logPages() -> Int { ((try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int) ?? 0) / 4120 }
        var users = 0
        func request() throws {
            #expect(try service.handle(CommandEnvelope(user: "user-\(users)", command: .requestEnrollment(EnrollmentOptions()))).accepted)
            users += 1
        }
        // One command at a time, a few pages each: past LogCheckpointer.step, far below its backstop.
        while logPages() < Int(LogCheckpointer.step) + 300 { try request() }
        #expect(logPages() < Int(LogCheckpointer.backstop) / 2)
        var inFile = 0
        let deadline = Date().addingTimeInterval(20)
        var lastFailure = ""
        repeat {
            let read = try readEventsInFileAlone()
            if let count = read.count { inFile = count } else { lastFailure = read.failure }
            if inFile > 0 { break }
            Thread.sleep(forTimeInterval: 0.05)
        } while Date() < deadline
        #expect(inFile > 0, "no checkpoint copied the log into the database file \(lastFailure)")
        // Written on, past the backstop twice over (~8 pages a command): the log still starts
        // over from its beginning each time, so its file never grows past the backstop by much.
        for _ in 0..<2 * Int(LogCheckpointer.backstop) / 8 { try request() }
        #expect(logPages() < Int(LogCheckpointer.backstop) + 2 * Int(LogCheckpointer.step), "the log grew to \(logPages()) pages")
        #expect(try Self.sqlite3(path, "SELECT COUNT(DISTINCT stream_id) FROM events") == "\(users)")
        #expect(try Self.checkChain(database) == users)
        #expect(try Self.sqlite3(path, "PRAGMA integrity_check") == "ok")
        // Closed, the log is gone and the file alone holds every event.
        try database.close()
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"), "the last connection to close checkpoints and removes the log")
        #expect(try eventsInFileAlone() == users)
    }

    @Test("The batch writer commits with the configured synchronous setting, and the result is on disk when the caller hears it", arguments: [Durability.full, .normal])
    func durability(_ durability: Durability) async throws {
        let setup = try Self.setup(durability: durability)
        defer { try? FileManager.default.removeItem(at: setup.directory) }
        let synchronous = try await setup.service.database.writer.write { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
        #expect(synchronous == (durability == .full ? 2 : 1))
        let outcome = try await setup.handler.handle(CommandEnvelope(user: "erin", command: .requestEnrollment(EnrollmentOptions())))
        // Another process sees the committed row as soon as the caller has its result.
        #expect(try Self.sqlite3(setup.path, "SELECT stream_id FROM events WHERE position = \(outcome.recorded[0].position)") == "erin")
        // And the right code, computed by oathtool from the issued secret, activates it.
        let secret = try #require(outcome.state.pending?.credential.secret.secret)
        let code = try Oathtool.code(base32Secret: Base32.encode(secret.bytes), at: 1_764_000_000)
        let confirmed = try await setup.handler.handle(CommandEnvelope(user: "erin", command: .confirmCode(code)))
        #expect(confirmed.accepted)
        #expect(try Self.sqlite3(setup.path, "SELECT status FROM authenticators WHERE user_id = 'erin'") == "active")
    }
}
