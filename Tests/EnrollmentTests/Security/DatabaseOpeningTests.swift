import Enrollment
import Foundation
import GRDB
import Testing

/// Opening the database: the durability asked for holds, and opening alone writes nothing.
@Suite("opening the database")
struct DatabaseOpeningTests {
    @Test("--durability FULL really fsyncs every commit: the writer runs with synchronous = FULL", arguments: [Durability.full, .normal])
    func durabilityHolds(_ durability: Durability) throws {
        let workspace = try Workspace()
        let database = try EnrollmentDatabase(path: workspace.database, options: DatabaseOptions(durability: durability))
        let level = try database.writer.writeWithoutTransaction { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
        #expect(level == (durability == .full ? 2 : 1))
    }

    @Test("opening an existing database and closing it leaves its files byte for byte as they were")
    func openingWritesNothing() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "alice"]).status == 0)
        let before = directorySnapshot(workspace.directory)
        for _ in 0..<3 {
            let database = try EnrollmentDatabase(path: workspace.database, options: DatabaseOptions(create: false))
            _ = try database.summary(of: "alice")
        }
        #expect(directorySnapshot(workspace.directory) == before)
    }
}
