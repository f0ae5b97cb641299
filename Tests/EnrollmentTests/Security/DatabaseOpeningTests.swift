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

    @Test("a --db naming a directory, or a file in a directory that does not exist, is refused saying so (exit 3), and nothing is created")
    func pathsThatCannotHoldADatabase() throws {
        let workspace = try Workspace()
        try FileManager.default.createDirectory(atPath: workspace.path("somedir"), withIntermediateDirectories: false)
        try Data("notes\n".utf8).write(to: URL(fileURLWithPath: workspace.path("notes.txt")))
        let before = directorySnapshot(workspace.directory)
        let commands = [["request", "bob"], ["confirm", "bob", "123456"], ["status", "bob"], ["history", "bob"], ["audit"], ["verify"]]
        for arguments in commands {
            for db in ["somedir", workspace.path("somedir"), "somedir/"] {
                let result = try workspace.enroll(arguments + ["--db", db])
                #expect(result.status == 3, "\(arguments) --db \(db): exit \(result.status) \(result.stdout)")
                #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
                #expect(result.stderr.contains("\(db) is a directory, not a database file"), "\(arguments) --db \(db): \(result.stderr)")
            }
        }
        // Commands that create a database say the directory is missing (reading ones: there is no database).
        for db in ["nodir/x.sqlite", workspace.path("nodir/deeper/x.sqlite")] {
            let result = try workspace.enroll(["request", "bob", "--db", db])
            let directory = (db as NSString).deletingLastPathComponent
            #expect(result.status == 3, "--db \(db): exit \(result.status)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
            #expect(result.stderr.contains("the directory \(directory) that would hold \(db) does not exist"), "--db \(db): \(result.stderr)")
            #expect(!result.stderr.contains("read-only"), "\(result.stderr)")
        }
        let underAFile = try workspace.enroll(["request", "bob", "--db", "notes.txt/x.sqlite"])
        #expect(underAFile.status == 3 && underAFile.stderr.contains("notes.txt is a file, not a directory, so it cannot hold notes.txt/x.sqlite"), "\(underAFile.stderr)")
        let imported = try workspace.enroll(["import", ".", "--db", workspace.path("imported.sqlite")])
        #expect(imported.status == 2 && imported.stderr.contains(". is a directory, not an export"), "\(imported.stderr)")
        #expect(directorySnapshot(workspace.directory) == before, "a refused command created or changed files")
        #expect(try FileManager.default.contentsOfDirectory(atPath: workspace.path("somedir")).isEmpty)
    }
}
