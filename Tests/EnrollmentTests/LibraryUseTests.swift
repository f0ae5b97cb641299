import Enrollment
import Foundation
import Testing
import TestSupport

/// What an application embedding the library does with it that the command line and the
/// server never do: close a service and go on calling it, inject a clock or a secret source of
/// its own, log an envelope, pass its clients' keys through as command ids. Each must end in
/// a thrown error with its own code, never a crash, a misfiled code or a leaked code.
struct LibraryUseTests {
    static let t0: UnixTime = 1_800_000_000

    static func open(_ workspace: Workspace, pool: Bool, clock: any EnrollmentClock = FixedClock(t0), secrets: any SecretSource = RandomSecretSource()) throws -> EnrollmentService {
        try EnrollmentService.open(
            databasePath: workspace.database, keyFilePath: workspace.keyFile, options: DatabaseOptions(concurrentReads: pool), clock: clock, secrets: secrets)
    }

    static func expectClosed(_ what: String, _ body: () throws -> Void) {
        do {
            try body()
            Issue.record("\(what) after close did not throw")
        } catch let error as StoreError {
            #expect(error.code == "database_closed", "\(what): \(error.code) \(error.message)")
            #expect(error.message.contains("was closed by this process"), "\(what): \(error.message)")
        } catch {
            Issue.record("\(what) after close threw \(error), not StoreError.closed")
        }
    }

    @Test("a service used after close() throws database_closed for every call (with one connection, SQLite crashed the process), whichever way the database was opened", arguments: [false, true])
    func useAfterClose(pool: Bool) async throws {
        let workspace = try Workspace()
        let service = try Self.open(workspace, pool: pool)
        let handler = GroupCommitHandler(service: service)
        #expect(try service.handle(CommandEnvelope(user: "alice", command: .requestEnrollment(EnrollmentOptions()))).rejection == nil)
        try service.close()
        // The last connection checkpointed the log and removed it.
        #expect(!FileManager.default.fileExists(atPath: workspace.database + "-wal"))
        Self.expectClosed("load") { _ = try service.load("alice") }
        Self.expectClosed("summary") { _ = try service.summary(of: "alice") }
        Self.expectClosed("checkHealth") { try service.checkHealth() }
        Self.expectClosed("history") { _ = try AuditTrail(database: service.database).history(of: "alice") }
        // Given only the writer, as an adopter exporting or auditing passes it: with one
        // connection both crashed in SQLite; with the pool, export was a storage_error.
        Self.expectClosed("history through the writer") { _ = try AuditTrail(reader: service.database.writer).history(of: "alice") }
        Self.expectClosed("export through the writer") { _ = try JournalArchive.export(from: service.database.writer) { _ in } }
        Self.expectClosed("import") { _ = try JournalArchive.importLines([String](), source: "none", into: service.database) }
        service.database.retireLog()  // crashed with either; the log went with the connection
        // The projection rebuilder, the projection check and a key rotation use the writer
        // itself: with one connection, a status read after close crashed in SQLite.
        let rebuilder = ProjectionRebuilder(database: service.database)
        Self.expectClosed("rebuild status") { _ = try rebuilder.status() }
        Self.expectClosed("rebuild") { _ = try rebuilder.rebuild(AuthenticatorsProjection()) }
        Self.expectClosed("projection check") { _ = try ProjectionCheck.run(service.database) }
        let keyRing = try KeyRing.load(keyFile: workspace.keyFile, create: false)
        Self.expectClosed("key rotation") { _ = try KeyRotation.rotate(database: service.database, current: keyRing, newKeyFile: workspace.path("new.key"), actor: "ops", at: 1_796_623_200) }
        #expect(!FileManager.default.fileExists(atPath: workspace.path("new.key")), "no key file made for a closed database")
        Self.expectClosed("handle") { _ = try service.handle(CommandEnvelope(user: "alice", command: .revealQRCode)) }
        do {
            _ = try await handler.handle(CommandEnvelope(user: "bob", command: .requestEnrollment(EnrollmentOptions())))
            Issue.record("the group-commit handler after close did not throw")
        } catch let error as StoreError {
            #expect(error.code == "database_closed", "\(error.message)")
        }
        try service.close()  // a second close does nothing
        // A service made on the closed database is refused the same way.
        do {
            _ = try EnrollmentService(database: service.database, keyRing: nil)
            Issue.record("a service on a closed database was made")
        } catch {
            #expect(error.code == "database_closed", "\(error.message)")
        }
        // Nothing was written after the close: the journal holds the one request.
        let reopened = try Self.open(workspace, pool: pool)
        #expect(try reopened.load("alice").version == 1)
        #expect(try reopened.load("bob").version == 0)
    }

    @Test("a call on the database from inside one of its own callbacks: close() is refused (it waited for itself forever), and on a single connection a second call is refused (GRDB stopped the process); with the pool, reads from a callback work; nothing recorded by the refused command", arguments: [false, true])
    func callsFromCallbacks(pool: Bool) async throws {
        let workspace = try Workspace()
        let service = try Self.open(workspace, pool: pool)
        #expect(try service.handle(CommandEnvelope(user: "alice", command: .requestEnrollment(EnrollmentOptions()))).rejection == nil)
        func expectRefused(_ what: String, _ code: String, _ body: @escaping @Sendable () throws -> Void) async {
            // On a thread of its own: the old code hung there, or stopped the process.
            let outcome = await withCheckedContinuation { (done: CheckedContinuation<String, Never>) in
                Thread {
                    do { try body(); done.resume(returning: "no error") } catch { done.resume(returning: (error as? StoreError)?.code ?? "\(error)") }
                }.start()
            }
            #expect(outcome == code, "\(what)")
        }
        let bob = CommandEnvelope(user: "bob", command: .requestEnrollment(EnrollmentOptions()))
        await expectRefused("close inside handle", "close_inside_call") { _ = try service.handle(bob) { _ in try service.close() } }
        await expectRefused("close inside forEach", "close_inside_call") { try AuditTrail(database: service.database).forEach(AuditFilter()) { _ in try service.close() } }
        await expectRefused("close inside a rebuild's progress", "close_inside_call") {
            var failure: (any Error)?
            _ = try ProjectionRebuilder(database: service.database).rebuild(AuthenticatorsProjection()) { _ in
                do { try service.close() } catch { failure = failure ?? error }
            }
            if let failure { throw failure }
        }
        if pool {
            await expectRefused("a read inside handle", "no error") { _ = try service.handle(bob) { _ in _ = try service.summary(of: "alice") } }
        } else {
            await expectRefused("a read inside handle", "reentrant_call") { _ = try service.handle(bob) { _ in _ = try service.summary(of: "alice") } }
            await expectRefused("a command inside forEach", "reentrant_call") {
                try AuditTrail(database: service.database).forEach(AuditFilter()) { _ in _ = try service.handle(CommandEnvelope(user: "carol", command: .requestEnrollment(EnrollmentOptions()))) }
            }
            // What uses the writer itself, and a snapshot read (on the writer without the pool), from a callback.
            await expectRefused("a rebuild inside forEach", "reentrant_call") {
                try AuditTrail(database: service.database).forEach(AuditFilter()) { _ in _ = try ProjectionRebuilder(database: service.database).rebuild(AuthenticatorsProjection()) }
            }
            await expectRefused("a snapshot read inside forEach", "reentrant_call") {
                try AuditTrail(database: service.database).forEach(AuditFilter()) { _ in _ = try service.database.snapshotRead { _ in 1 } }
            }
            #expect(try service.load("bob").version == 0 && service.load("carol").version == 0, "the refused commands recorded nothing")
        }
        // Still open, and usable once the outer calls returned.
        #expect(try service.handle(CommandEnvelope(user: "dave", command: .requestEnrollment(EnrollmentOptions()))).rejection == nil)
        try service.close()
    }

    @Test("lock numbers out of range are clamped (Int.min overflowed and stopped the process); a seeded secret source does not show its seed in dump or description; an empty key file path is named as empty, no database made")
    func libraryEdges() throws {
        let workspace = try Workspace()
        do {
            _ = try EnrollmentService.open(databasePath: workspace.database, keyFilePath: "")
            Issue.record("opened with an empty key file path")
        } catch {
            #expect(error.message == "cannot create the key file '': the path is empty; give the key file's path", "\(error.message)")
        }
        #expect(!FileManager.default.fileExists(atPath: workspace.database))
        #expect(EnrollmentPolicy.default.lockDuration(number: Int.min) == EnrollmentPolicy.default.lockDuration(number: 1))
        #expect(EnrollmentPolicy.longestLock(number: Int.min) == EnrollmentPolicy.longestLock(number: 1))
        #expect(EnrollmentPolicy.longestLock(number: Int.max) == EnrollmentPolicy.longestLock(number: 21))
        let source = SeededSecretSource(seed: "production-seed-42")
        var dumped = ""
        dump(source, to: &dumped)
        for text in [dumped, "\(source)", String(reflecting: source)] { #expect(!text.contains("production-seed-42"), "\(text)") }
    }

    @Test("with a reader pool, a group commit after the database file was deleted, or replaced by a file that is no database, throws database_moved, as a command without the pool does (not a misleading 'cannot create' or 'not a database')", arguments: ["deleted", "replaced"])
    func groupCommitAfterFileMoved(how: String) async throws {
        let workspace = try Workspace()
        let service = try Self.open(workspace, pool: true)
        defer { try? service.close() }
        #expect(try service.handle(CommandEnvelope(user: "alice", command: .requestEnrollment(EnrollmentOptions()))).rejection == nil)
        for suffix in ["", "-wal", "-shm"] { unlink(workspace.database + suffix) }
        if how == "replaced" { try Data(repeating: 0x5A, count: 8192).write(to: URL(fileURLWithPath: workspace.database)) }
        do {
            _ = try await GroupCommitHandler(service: service).handle(CommandEnvelope(user: "carl", command: .requestEnrollment(EnrollmentOptions())))
            Issue.record("a group commit into a \(how) file was accepted")
        } catch let error as StoreError {
            #expect(error.code == "database_moved", "\(how): \(error.code) \(error.message)")
        }
        #expect(throws: StoreError.databaseMoved(workspace.database)) { try service.checkHealth() }
    }

    @Test("the one-time-password and crypto errors that `import Enrollment` brings are EnrollmentErrors too: caught as one, with their code, and a localizedDescription that is their message")
    func otpErrorsAreEnrollmentErrors() {
        let errors: [any Error] = [OTPParameterError.digits(9), OTPAuthURIError.notOTPAuth]
        for error in errors {
            guard let enrollment = error as? any EnrollmentError else {
                Issue.record("\(type(of: error)) is not an EnrollmentError")
                continue
            }
            #expect(!enrollment.code.isEmpty)
            #expect(error.localizedDescription == enrollment.message, "\(error.localizedDescription)")
            #expect(!error.localizedDescription.contains("operation could not be completed"))
        }
        do {
            _ = try OTPAuthURI(parsing: "otpauth://totp/x?secret=!!!!")
            Issue.record("a secret that is no Base32 was parsed")
        } catch let error as any EnrollmentError {
            #expect(!error.code.isEmpty && error.localizedDescription == error.message, "\(error.code) \(error.message)")
        } catch {
            Issue.record("OTPAuthURI threw \(type(of: error)), not an EnrollmentError")
        }
    }

    @Test("a clock in milliseconds (or before 1970) is refused before anything is written, and the user's stream stays usable once the clock is fixed", arguments: [Self.t0 * 1_000, -5, Int64.min + 10])
    func clockOutOfRange(time: UnixTime) throws {
        let workspace = try Workspace()
        let clock = FixedClock(time)
        let service = try Self.open(workspace, pool: false, clock: clock)
        do {
            _ = try service.handle(CommandEnvelope(user: "alice", command: .requestEnrollment(EnrollmentOptions())))
            Issue.record("a request at \(time) was accepted")
        } catch let error as StoreError {
            #expect(error.code == "clock_out_of_range", "\(error.code): \(error.message)")
            #expect(error.message.contains("the clock gave \(time)"), "\(error.message)")
        }
        #expect(try service.load("alice").version == 0, "nothing written")
        clock.set(Self.t0)
        #expect(try service.handle(CommandEnvelope(user: "alice", command: .requestEnrollment(EnrollmentOptions()))).rejection == nil)
        clock.set(time)
        #expect(throws: StoreError.clockOutOfRange(time)) { try service.handle(CommandEnvelope(user: "alice", command: .removeAuthenticator)) }
        clock.set(Self.t0 + 60)
        let removed = try service.handle(CommandEnvelope(user: "alice", command: .removeAuthenticator))
        #expect(removed.rejection == nil && removed.state.active == nil && removed.state.pending == nil)
        #expect(try service.load("alice").version == 2)
    }

    @Test("an injected secret source's own errors keep their code: FixedSecretSource running out is secrets_exhausted, not storage_error")
    func secretSourceErrors() throws {
        let workspace = try Workspace()
        let service = try Self.open(workspace, pool: false, secrets: FixedSecretSource([]))
        do {
            _ = try service.handle(CommandEnvelope(user: "alice", command: .requestEnrollment(EnrollmentOptions())))
            Issue.record("a request without a secret was accepted")
        } catch let error as any EnrollmentError {
            #expect(error.code == "secrets_exhausted", "\(error.code): \(error.message)")
        }
        #expect(try service.load("alice").version == 0)
    }

    @Test("an envelope printed, interpolated, debug-printed or dumped never shows the typed code")
    func codeNotShown() {
        let envelope = CommandEnvelope(commandId: "c1", user: "alice", command: .confirmCode("492039"))
        var dumped = ""
        dump(envelope, to: &dumped)
        for text in ["\(envelope)", String(describing: envelope), String(reflecting: envelope), dumped, "\(envelope.command)"] {
            #expect(!text.contains("492039"), "\(text)")
            #expect(text.contains("confirmCode"), "\(text)")
        }
        #expect("\(envelope.command)" == "confirmCode(6 characters, not shown)")
        // Other commands show their settings.
        #expect("\(EnrollmentCommand.requestEnrollment(EnrollmentOptions(issuer: "ACME")))".contains("ACME"))
    }

    @Test("a group-commit handler on a service made with maxAttempts 0 still tries each command once")
    func noAttempts() async throws {
        let workspace = try Workspace()
        let database = try EnrollmentDatabase(path: workspace.database, options: DatabaseOptions(concurrentReads: true))
        let keyRing = try KeyRing.load(keyFile: workspace.keyFile, create: true)
        let service = try EnrollmentService(database: database, keyRing: keyRing, clock: FixedClock(Self.t0), maxAttempts: 0)
        let outcome = try await GroupCommitHandler(service: service).handle(CommandEnvelope(user: "alice", command: .requestEnrollment(EnrollmentOptions())))
        #expect(outcome.rejection == nil && outcome.state.pending != nil)
    }

    @Test("command ids are shared by all users: a key scoped with CommandEnvelope.commandId retries for its user only, and an id reused by another user is refused without naming the first")
    func scopedCommandIds() throws {
        let workspace = try Workspace()
        let service = try Self.open(workspace, pool: false)
        let alices = CommandEnvelope.commandId(user: "alice", action: "request", key: "k1")
        #expect(alices == CommandEnvelope.commandId(user: "alice", action: "request", key: "k1"))
        #expect(alices != CommandEnvelope.commandId(user: "bob", action: "request", key: "k1"))
        #expect(alices != CommandEnvelope.commandId(user: "alice", action: "regenerate", key: "k1"))
        #expect(alices.hasPrefix("key-") && !alices.contains("alice"))
        let first = try service.handle(CommandEnvelope(commandId: alices, user: "alice", command: .requestEnrollment(EnrollmentOptions())))
        let retry = try service.handle(CommandEnvelope(commandId: alices, user: "alice", command: .requestEnrollment(EnrollmentOptions())))
        #expect(retry.replayed && retry.state.version == first.state.version)
        let bobs = try service.handle(CommandEnvelope(
            commandId: CommandEnvelope.commandId(user: "bob", action: "request", key: "k1"), user: "bob", command: .requestEnrollment(EnrollmentOptions())))
        #expect(!bobs.replayed && bobs.rejection == nil)
        do {
            _ = try service.handle(CommandEnvelope(commandId: alices, user: "mallory", command: .requestEnrollment(EnrollmentOptions())))
            Issue.record("another user's command id was accepted")
        } catch let error as InputError {
            #expect(error.code == "command_id_reused")
            #expect(!error.message.contains("alice") && error.message.contains("another user's command"), "\(error.message)")
        }
    }
}
