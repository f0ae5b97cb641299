import Enrollment
import Foundation
import Testing
import TestSupport

/// Values a library user may set that the command line never passes: held to what the engine
/// can compute with, so that none of them traps later (an infinite wait, a lock that wraps
/// negative, a rebuild that never ends).
struct LibraryLimitsTests {
    @Test("a busy timeout of infinity, NaN or below zero is held to 0 s … a day, and a database opens with it")
    func busyTimeout() throws {
        #expect(DatabaseOptions(busyTimeout: .infinity).busyTimeout == 86_400)
        #expect(DatabaseOptions(busyTimeout: .nan).busyTimeout == 0)
        var options = DatabaseOptions()
        options.busyTimeout = -5
        #expect(options.busyTimeout == 0)
        let workspace = try Workspace()
        let database = try EnrollmentDatabase(path: workspace.database, options: DatabaseOptions(busyTimeout: .infinity))
        #expect(try database.writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events") } == 0)
    }

    @Test("a policy's lock, lifetime and attempts are held to at least 1, and a huge first lock still gives a positive, growing lock")
    func policy() {
        var policy = EnrollmentPolicy()
        policy.lockDuration = Int64.max
        policy.pendingLifetime = 0
        policy.maxFailedAttempts = -3
        #expect(policy.pendingLifetime == 1 && policy.maxFailedAttempts == 1)
        let locks = (1...30).map(policy.lockDuration(number:))
        #expect(locks.allSatisfy { $0 > 0 } && locks == locks.sorted(), "\(locks)")
    }

    @Test("locks double up to a day and stay there; a first lock longer than a day does not grow")
    func lockCeiling() {
        let policy = EnrollmentPolicy()
        #expect((1...10).map(policy.lockDuration(number:)) == [900, 1800, 3600, 7200, 14_400, 28_800, 57_600, 86_400, 86_400, 86_400])
        #expect(policy.lockDuration(number: 1_000) == 86_400)
        var week = EnrollmentPolicy()
        week.lockDuration = 7 * 86_400
        #expect((1...3).map(week.lockDuration(number:)) == [604_800, 604_800, 604_800])
        // Longer than a week is a week, the longest first lock an imported journal may hold.
        var month = EnrollmentPolicy()
        month.lockDuration = 30 * 86_400
        #expect(month.lockDuration == EnrollmentPolicy.longestLockDuration)
    }

    @Test("a journal written under a library policy asking for a month's lock exports and imports: its lock is a week, which import accepts")
    func monthLockImports() throws {
        var policy = EnrollmentPolicy()
        policy.lockDuration = 30 * 86_400
        policy.maxFailedAttempts = 1
        let workspace = try Workspace()
        let service = try EnrollmentService.open(
            databasePath: workspace.database, keyFilePath: workspace.keyFile, clock: FixedClock(1_764_400_000), secrets: SeededSecretSource(seed: "month"), policy: policy)
        #expect(try service.handle(CommandEnvelope(user: "ann", command: .requestEnrollment(EnrollmentOptions()))).accepted)
        let locked = try service.handle(CommandEnvelope(user: "ann", command: .confirmCode("000000")))
        #expect(locked.recorded.count >= 2, "a wrong code and the lock it sets: \(locked.recorded.count) events")
        try service.database.close()
        let exported = workspace.path("ann.jsonl")
        let export = try workspace.enroll(["export", "--output", exported])
        #expect(export.status == 0, "\(export.stderr)")
        let copy = try Workspace()
        let imported = try copy.enroll(["import", exported])
        #expect(imported.status == 0, "\(imported.stderr)")
    }

    @Test("a rebuild's batch size of 0 or below is 1: the rebuild reaches the head")
    func batchSize() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "alice"]).status == 0)
        var rebuilder = ProjectionRebuilder(database: try EnrollmentDatabase(path: workspace.database, options: DatabaseOptions(create: false)))
        rebuilder.batchSize = 0
        #expect(rebuilder.batchSize == 1)
        let summary = try rebuilder.rebuild(AuthenticatorsProjection())
        #expect(summary.position == 1, "\(summary)")
    }
}
