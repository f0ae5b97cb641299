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
