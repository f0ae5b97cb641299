import Enrollment
import Foundation
import GRDB
import Testing

/// Everything that must hold of a journal after concurrent writers or crashes, checked with
/// the library's chain verifier, the sqlite3 shell and a rebuild of every projection.
enum JournalIntegrity {
    struct Summary {
        var events: Int
        var commands: Int
    }

    @discardableResult
    static func check(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> Summary {
        // The hash chain and gap-free positions (HashChain.verify), read without the key file.
        let database = try EnrollmentDatabase(path: path, options: DatabaseOptions(create: false))
        let verification = try database.writer.read { db in try HashChain.verify(in: db) }
        #expect(verification.firstBreak == nil, "chain broken: \(String(describing: verification.firstBreak))", sourceLocation: sourceLocation)
        #expect(verification.verified == verification.head, sourceLocation: sourceLocation)

        // Independently of our code: positions 1…N, each stream's versions 1…k, unique event ids.
        let (count, maxPosition) = try pair(SQLite3.query(path, "SELECT count(*), coalesce(max(position), 0) FROM events"))
        #expect(count == maxPosition, "positions have gaps: \(count) rows, max position \(maxPosition)", sourceLocation: sourceLocation)
        let brokenStreams = try SQLite3.query(path, """
            SELECT stream_id FROM events GROUP BY stream_id
            HAVING count(*) != max(stream_version) OR min(stream_version) != 1 OR count(DISTINCT stream_version) != count(*)
            """)
        #expect(brokenStreams.isEmpty, "streams with non-contiguous versions: \(brokenStreams)", sourceLocation: sourceLocation)
        #expect(try SQLite3.query(path, "SELECT count(*) - count(DISTINCT event_id) FROM events") == "0", sourceLocation: sourceLocation)

        // No half-written command: every event decodes, belongs to a recorded command, and each
        // recorded command's events end exactly at the version the command record names.
        let rows = try database.writer.read { db in try EventJournal.events(after: 0, limit: .max, in: db) }
        for row in rows {
            #expect(throws: Never.self, "event \(row.position) does not decode", sourceLocation: sourceLocation) {
                _ = try EventCodec.decode(type: row.type, schemaVersion: row.schemaVersion, data: row.data, position: row.position)
            }
        }
        let orphans = try SQLite3.query(path, """
            SELECT e.position FROM events e LEFT JOIN commands c ON c.command_id = json_extract(e.metadata, '$.commandId')
            WHERE c.command_id IS NULL
            """)
        #expect(orphans.isEmpty, "events without their command record: \(orphans)", sourceLocation: sourceLocation)
        let torn = try SQLite3.query(path, """
            SELECT c.command_id FROM commands c JOIN events e ON json_extract(e.metadata, '$.commandId') = c.command_id
            GROUP BY c.command_id HAVING max(e.stream_version) != c.stream_version OR e.stream_id != c.stream_id
            """)
        #expect(torn.isEmpty, "commands whose events do not end at their recorded version: \(torn)", sourceLocation: sourceLocation)

        // Every projection equals a rebuild from the journal (on a copy of the files).
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("rebuild-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: copy, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: copy) }
        let copyPath = copy.appendingPathComponent("copy.sqlite").path
        try database.writer.writeWithoutTransaction { db in try db.execute(sql: "VACUUM INTO ?", arguments: [copyPath]) }
        let rebuilt = try EnrollmentDatabase(path: copyPath, options: DatabaseOptions(create: false))
        for projection in Projections.all {
            _ = try ProjectionRebuilder(database: rebuilt).rebuild(projection)
            let table = "SELECT * FROM \"\(projection.name)\" ORDER BY 1, 2"
            let stored = try SQLite3.query(path, table)
            #expect(stored == (try SQLite3.query(copyPath, table)), "\(projection.name) differs from its rebuild", sourceLocation: sourceLocation)
            let checkpoint = try SQLite3.query(path, "SELECT position FROM projection_checkpoints WHERE name = '\(projection.name)'")
            #expect(checkpoint == "\(maxPosition)", "\(projection.name) stopped at \(checkpoint), head \(maxPosition)", sourceLocation: sourceLocation)
        }
        return Summary(events: count, commands: Int(try SQLite3.query(path, "SELECT count(*) FROM commands")) ?? -1)
    }

    private static func pair(_ text: String) -> (Int, Int) {
        let parts = text.split(separator: "|").compactMap { Int($0) }
        return (parts.first ?? -1, parts.last ?? -2)
    }
}

/// Processes started together and awaited together (their output goes to files, so that none
/// blocks on a full pipe while the test waits for another).
struct ProcessGroup {
    struct Finished {
        var status: Int32
        var stdout: String
        var stderr: String
        var killed: Bool
    }

    private var running: [(Process, URL, URL)] = []
    private let directory: URL

    init() throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("procs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    @discardableResult
    mutating func start(_ executable: String, _ arguments: [String], environment: [String: String] = [:], directory workingDirectory: URL? = nil) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        if let workingDirectory { process.currentDirectoryURL = workingDirectory }
        let out = directory.appendingPathComponent("\(running.count).out"), err = directory.appendingPathComponent("\(running.count).err")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        running.append((process, out, err))
        return process
    }

    func wait() -> [Finished] {
        defer { try? FileManager.default.removeItem(at: directory) }
        return running.map { process, out, err in
            process.waitUntilExit()
            return Finished(
                status: process.terminationStatus,
                stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "",
                killed: process.terminationReason == .uncaughtSignal)
        }
    }
}
