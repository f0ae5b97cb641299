import Foundation
import GRDB
import OneTimePassword
import Testing
@testable import Enrollment

/// `enroll status` reads the authenticators row without GRDB's connection set-up
/// (``AuthenticatorsProjection/quickRead(user:databasePath:busyTimeout:)``): it must say exactly
/// what the general read says, and step aside (nil) whenever the general path has something to
/// report, without writing anything.
@Suite("status quick read")
struct QuickReadTests {
    let t0: UnixTime = 1_764_400_000

    /// A database with users in every state the row can show.
    func populated() throws -> (Workspace, EnrollmentService) {
        let workspace = try Workspace()
        let clock = FixedClock(t0)
        let service = try EnrollmentService.open(
            databasePath: workspace.database, keyFilePath: workspace.keyFile, clock: clock, secrets: SeededSecretSource(seed: "quick-read"))
        func code(_ outcome: CommandOutcome) throws -> String {
            let credential = try #require(outcome.state.pending?.credential ?? outcome.state.current)
            return try TOTP.code(secret: try #require(credential.secret.secret).bytes, at: clock.now(), parameters: credential.parameters)
        }
        func handle(_ user: String, _ command: EnrollmentCommand) throws -> CommandOutcome {
            try service.handle(CommandEnvelope(user: user, command: command))
        }
        _ = try handle("pending", .requestEnrollment(EnrollmentOptions(issuer: "ACME")))
        try #require(try handle("active", .confirmCode(try code(handle("active", .requestEnrollment(EnrollmentOptions()))))).accepted)
        _ = try handle("locked", .requestEnrollment(EnrollmentOptions()))
        for _ in 0..<5 { _ = try handle("locked", .confirmCode("000000")) }
        try #require(try handle("replacing", .confirmCode(try code(handle("replacing", .requestEnrollment(EnrollmentOptions()))))).accepted)
        _ = try handle("replacing", .regenerateSecret(nil))
        _ = try handle("removed", .requestEnrollment(EnrollmentOptions()))
        _ = try handle("removed", .removeAuthenticator)
        clock.advance(by: 60)
        _ = try handle("active", .revealQRCode)
        return (workspace, service)
    }

    @Test("for every state a row can be in, the quick read gives what the general read gives")
    func sameAsGeneralRead() throws {
        let (workspace, service) = try populated()
        for user in ["pending", "active", "locked", "replacing", "removed", "never-enrolled"] {
            let quick = try #require(AuthenticatorsProjection.quickRead(user: user, databasePath: workspace.database), "\(user)")
            #expect(quick == (try service.summary(of: user)), "\(user)")
        }
        #expect(try service.summary(of: "locked").lockedUntil != nil)
        #expect(try service.summary(of: "replacing").replacementPending)
    }

    @Test("anything but the plain case steps aside for the general path, and nothing is written")
    func stepsAside() throws {
        let (workspace, _) = try populated()
        let path = workspace.database
        #expect(AuthenticatorsProjection.quickRead(user: "active", databasePath: path + ".missing") == nil)
        #expect(!FileManager.default.fileExists(atPath: path + ".missing"), "no file was created")

        let notSQLite = workspace.directory.appendingPathComponent("notes.txt").path
        try "not a database, just text that is long enough\n".write(toFile: notSQLite, atomically: true, encoding: .utf8)
        #expect(AuthenticatorsProjection.quickRead(user: "active", databasePath: notSQLite) == nil)

        func altered(_ sql: String) throws -> AuthenticatorSummary? {
            let copy = workspace.directory.appendingPathComponent("copy-\(UUID().uuidString).sqlite").path
            try FileManager.default.copyItem(atPath: path, toPath: copy)
            #expect(try SQLite3.query(copy, sql + "; SELECT 'ok'") == "ok")
            let before = try Data(contentsOf: URL(fileURLWithPath: copy))
            let result = AuthenticatorsProjection.quickRead(user: "active", databasePath: copy)
            #expect(try Data(contentsOf: URL(fileURLWithPath: copy)) == before, "the quick read wrote to the file")
            return result
        }
        #expect(try altered("PRAGMA user_version = 0") != nil, "an untouched copy is read")
        #expect(try altered("UPDATE projection_checkpoints SET schema_version = 1 WHERE name = 'authenticators'") == nil, "stale projection")
        #expect(try altered("INSERT INTO grdb_migrations VALUES ('v99-from-the-future')") == nil, "newer schema")
        #expect(try altered("DELETE FROM grdb_migrations WHERE identifier = 'v2-lean-journal'") == nil, "a migration to run")
        #expect(try altered("DROP TABLE authenticators") == nil, "no projection table")
    }
}
