import Foundation
import Testing
@testable import Enrollment
import TestSupport

/// One real schema change, end to end: `CodeRejected` v2 added `remainingAttempts` and the
/// authenticators projection v2 added `remaining_attempts`. Tests/Databases/before-remaining-attempts.sql
/// is an `sqlite3 .dump` of a database written by the code before that change (CodeRejected v1
/// rows, authenticators table v1), made with the enroll binary and the key below.
@Suite("Event schema evolution")
struct SchemaEvolutionTests {
    static let dump = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Databases/before-remaining-attempts.sql").path
    /// The test master key the old database was sealed with (base64 of 32 ASCII bytes).
    static let keyFile = "ZXZvbHV0aW9uLXRlc3Qta2V5LW5vdC1hLXNlY3JldCE=\n"
    static let t0: Int64 = 1_764_421_576

    /// The pre-change database, loaded with the sqlite3 shell (not with our code).
    func oldDatabase() throws -> Workspace {
        let workspace = try Workspace()
        let sql = try String(contentsOfFile: Self.dump, encoding: .utf8)
        let load = try Processes.run(try Processes.tool("sqlite3", package: "sqlite3"), [workspace.database], input: Data(sql.utf8))
        try #require(load.status == 0, "\(load.stderr)")
        try Self.keyFile.write(toFile: workspace.keyFile, atomically: true, encoding: .utf8)
        return workspace
    }

    @Test("the old events are still version 1 in the journal and decode as version 2")
    func upcastOnRead() throws {
        #expect(EventCodec.currentVersions[.codeRejected] == 2)
        let old = #"{"failedAttempts":2,"reason":"invalid_code","target":"pending"}"#
        let event = try EventCodec.decode(type: "CodeRejected", schemaVersion: 1, data: old)
        #expect(event == .codeRejected(CodeRejected(reason: "invalid_code", target: .pending, failedAttempts: 2, remainingAttempts: 3)))
        let locking = try EventCodec.decode(type: "CodeRejected", schemaVersion: 1, data: #"{"failedAttempts":5,"reason":"invalid_code","target":"pending"}"#)
        #expect(locking == .codeRejected(CodeRejected(reason: "invalid_code", target: .pending, failedAttempts: 5, remainingAttempts: 0)))
        let encoded = try EventCodec.encode(event) { _ in [] }
        #expect(encoded.schemaVersion == 2 && encoded.data.contains("\"remainingAttempts\":3"))
    }

    @Test("rebuild-projections --status on a database of an older schema changes nothing (byte for byte, not even its journal mode) and says that the first rebuild upgrades it")
    func statusOnOldDatabaseChangesNothing() throws {
        let workspace = try oldDatabase()
        let before = try Data(contentsOf: URL(fileURLWithPath: workspace.database))
        let tool = try Processes.product("rebuild-projections")
        for arguments in [["--status"], ["--status", "--json"]] {
            let status = try Processes.run(tool, ["--db", workspace.database] + arguments)
            #expect(status.status == 0, "\(arguments): \(status.stderr)")
            #expect(!status.stderr.contains("upgrading"), "\(arguments): \(status.stderr)")
            #expect(try Data(contentsOf: URL(fileURLWithPath: workspace.database)) == before, "\(arguments)")
            #expect(!FileManager.default.fileExists(atPath: workspace.database + "-wal"), "\(arguments)")
            if arguments.count == 1 {
                #expect(status.stdout.contains("stale (schema v1, code v4)"), "\(status.stdout)")
                #expect(status.stdout.contains("The journal is of an older schema (to apply: v2-lean-journal, v3-command-arguments, v4-key-history): the first rebuild"), "\(status.stdout)")
            } else {
                // Each line says it too, for a script.
                let lines = status.stdout.split(separator: "\n")
                #expect(lines.count == 2 && lines.allSatisfy { $0.contains(#""journalUpgradesPending":["v2-lean-journal","v3-command-arguments","v4-key-history"]"#) }, "\(status.stdout)")
            }
        }
        // The first rebuild upgrades it, as it says.
        let rebuilt = try Processes.run(tool, ["--db", workspace.database, "--all"])
        #expect(rebuilt.status == 0, "\(rebuilt.stderr)")
        // Said as the tool's own line, not a server's log line.
        #expect(rebuilt.stderr.hasPrefix("rebuild-projections: note: upgrading the database to the current schema"), "\(rebuilt.stderr)")
        let after = try Processes.run(tool, ["--db", workspace.database, "--status"])
        #expect(!after.stdout.contains("older schema") && after.stdout.contains("current"), "\(after.stdout)")
        let afterJSON = try Processes.run(tool, ["--db", workspace.database, "--status", "--json"])
        #expect(!afterJSON.stdout.contains("journalUpgradesPending"), "\(afterJSON.stdout)")
    }

    @Test("a database written before the change opens, refuses the stale projection, is rebuilt by the tool, then works with the old events upcast")
    func oldDatabaseAfterUpgrade() throws {
        let workspace = try oldDatabase()
        let sqlite3 = try Processes.tool("sqlite3", package: "sqlite3")
        let before = try Processes.run(sqlite3, [workspace.database, "SELECT type || ' v' || schema_version FROM events WHERE type = 'CodeRejected' GROUP BY schema_version"]).stdout
        #expect(before == "CodeRejected v1\n")

        // It opens: the journal verifies and reads, old events upcast in the history.
        #expect(try workspace.enroll(["verify"]).status == 0)
        let history = try workspace.enroll(["history", "bob", "--json"]).stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let rejections = history.filter { $0["type"] as? String == "CodeRejected" }.compactMap { $0["event"] as? [String: Any] }
        #expect(rejections.map { $0["remainingAttempts"] as? Int } == [4, 3])

        // The stale projection is refused by readers, naming the tool; appends keep working.
        let refused = try workspace.enroll(["status", "bob"])
        #expect(refused.status == 3)
        #expect(refused.stderr.contains("authenticators projection is at schema version 1 but this code needs version 4"), "\(refused.stderr)")
        #expect(refused.stderr.contains("`rebuild-projections --db \(workspace.database) --projection authenticators`"), "the hint names the database: \(refused.stderr)")
        let appended = try workspace.enroll(["confirm", "bob", "00000002"], environment: ["ENROLL_NOW": "\(Self.t0 + 100)"])
        #expect(appended.status == 1 && appended.stderr.contains("2 attempts left"), "\(appended.stderr)")

        let tool = try Processes.product("rebuild-projections")
        let status = try Processes.run(tool, ["--db", workspace.database, "--status"])
        #expect(status.stdout.contains("stale (schema v1, code v4)"), "\(status.stdout)")

        // The tool, as a process, rebuilds it.
        let rebuilt = try Processes.run(tool, ["--db", workspace.database, "--all"])
        #expect(rebuilt.status == 0, "\(rebuilt.stderr)")
        #expect(rebuilt.stdout.contains("authenticators v4: rebuilt 22 events"), "\(rebuilt.stdout)")

        // Then it works, with the new column filled from the upcast old events and the new one.
        let bob = try workspace.enrollJSON(["status", "bob"])
        #expect(bob.0.status == 0, "\(bob.0.stderr)")
        #expect(bob.1["failedAttempts"] as? Int == 3 && bob.1["remainingAttempts"] as? Int == 2, "\(bob.1)")
        let column = try Processes.run(sqlite3, [workspace.database, "SELECT user_id || '=' || ifnull(remaining_attempts, '-') FROM authenticators ORDER BY user_id"]).stdout
        #expect(column == "alice=-\nbob=2\ncarol=-\ndave=-\n")
        #expect(try workspace.enroll(["status", "alice"]).stdout.contains("status: active"))

        // Old rows were never rewritten: still v1, the chain still verifies; the new row is v2.
        let after = try Processes.run(sqlite3, [workspace.database, "SELECT group_concat(schema_version, '') FROM events WHERE type = 'CodeRejected' ORDER BY position"]).stdout
        #expect(after == "1111111112\n")
        #expect(try workspace.enroll(["verify"]).stdout.contains("Verified 22 events"))

        // The old secrets still open with the old key: alice's QR code can be shown.
        let reveal = try workspace.enroll(["reveal", "alice", "--format", "uri"], environment: ["ENROLL_NOW": "\(Self.t0 + 200)"])
        #expect(reveal.status == 0 && reveal.stdout.hasPrefix("otpauth://totp/"), "\(reveal.stderr)")
    }

    @Test("a command refused for its key file (missing, or another database's) leaves a database of an older schema as it was, not upgraded; the right key upgrades it")
    func noUpgradeForARefusedKey() throws {
        let workspace = try oldDatabase()
        let sqlite3 = try Processes.tool("sqlite3", package: "sqlite3")
        _ = try Processes.run(sqlite3, [workspace.database, "PRAGMA journal_mode = WAL"])
        let before = workspace.databaseBytes()
        let other = workspace.directory.appendingPathComponent("other.key").path
        try "b3RoZXIta2V5LW9mLXRoaXJ0eS10d28tYnl0ZXMtLSE=\n".write(toFile: other, atomically: true, encoding: .utf8)
        for (arguments, message) in [(["request", "zed", "--key-file", other], "is not the key this database was sealed with"),
                                     (["confirm", "alice", "123456", "--key-file", workspace.directory.appendingPathComponent("gone.key").path], "is missing but the database holds secrets")] {
            let result = try workspace.enroll(arguments, environment: ["ENROLL_NOW": "\(Self.t0)"])
            #expect(result.status == 3 && result.stderr.contains(message), "\(arguments): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "no upgrade notice: \(result.stderr)")
            #expect(workspace.databaseBytes() == before, "\(arguments): the database changed")
        }
        #expect(try Processes.run(sqlite3, [workspace.database, "SELECT group_concat(identifier) FROM grdb_migrations"]).stdout == "v1-journal\n")
        let right = try workspace.enroll(["request", "zed"], environment: ["ENROLL_NOW": "\(Self.t0)"])
        #expect(right.status == 0 && right.stderr.contains("upgrading the database"), "\(right.stderr)")
    }

    @Test("EnrollmentService.open runs the caller's own beforeUpgrade hook as well as its key check: a hook that refuses leaves the old database as it was")
    func callersUpgradeHook() throws {
        struct NotNow: Error {}
        let workspace = try oldDatabase()
        _ = try Processes.run(try Processes.tool("sqlite3", package: "sqlite3"), [workspace.database, "PRAGMA journal_mode = WAL"])
        let before = workspace.databaseBytes()
        var options = DatabaseOptions()
        options.beforeUpgrade = { _ in throw NotNow() }
        #expect(throws: (any Error).self) {
            _ = try EnrollmentService.open(databasePath: workspace.database, keyFilePath: workspace.keyFile, options: options)
        }
        #expect(workspace.databaseBytes() == before, "the hook's refusal upgraded nothing")
        _ = try EnrollmentService.open(databasePath: workspace.database, keyFilePath: workspace.keyFile)
        #expect(workspace.databaseBytes() != before, "without the hook it upgrades")
    }

    @Test("a migration's row deleted from grdb_migrations by hand (its change still there) is applied again without failing on the column or table that exists: the next command works, and the key history keeps its rows")
    func migrationRowDeletedByHand() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "alice"]).status == 0)
        let before = try SQLite3.query(workspace.database, "SELECT id, action FROM key_history ORDER BY id")
        #expect(before == "1|created", "\(before)")
        _ = try SQLite3.query(workspace.database, "DELETE FROM grdb_migrations WHERE identifier IN ('v3-command-arguments', 'v4-key-history')")
        let request = try workspace.enroll(["request", "bob"])
        #expect(request.status == 0, "\(request.stderr)")
        #expect(try SQLite3.query(workspace.database, "SELECT id, action FROM key_history ORDER BY id") == before)
        #expect(try SQLite3.query(workspace.database, "SELECT count(*) FROM grdb_migrations") == "4")
    }

    @Test("a database of the first journal schema is migrated on its first write: every row, position and hash kept, the chain verifies, fewer indexes")
    func leanJournalMigration() throws {
        let workspace = try oldDatabase()
        func query(_ sql: String) throws -> String { try SQLite3.query(workspace.database, sql) }
        let rows = "SELECT position, stream_id, stream_version, event_id, type, schema_version, data, metadata, recorded_at, hex(hash) FROM events WHERE position <= 21 ORDER BY position"
        let keyed = """
            SELECT command_id, stream_id, stream_version, command, rejection, handled_at FROM commands ORDER BY command_id;
            SELECT stream_id, hex(wrapped_key), created_at FROM data_keys ORDER BY stream_id
            """
        let indexes = "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('events', 'commands', 'data_keys', 'projection_checkpoints') ORDER BY name"
        let (eventsBefore, keyedBefore) = (try query(rows), try query(keyed))
        try #require(!eventsBefore.isEmpty && !keyedBefore.isEmpty, "the old database's rows could not be read")
        #expect(try query(indexes) == "events_recorded_at\nsqlite_autoindex_commands_1\nsqlite_autoindex_data_keys_1\nsqlite_autoindex_events_1\nsqlite_autoindex_events_2\nsqlite_autoindex_projection_checkpoints_1")

        let request = try workspace.enroll(["request", "zoe"], environment: ["ENROLL_NOW": "\(Self.t0 + 100)"])
        #expect(request.status == 0, "\(request.stderr)")
        // One of the command line's own lines, not a server's log line.
        #expect(request.stderr.contains("enroll: note: upgrading the database to the current schema (v2-lean-journal, v3-command-arguments, v4-key-history), once; on a large journal this takes a while (path: "), "\(request.stderr)")
        #expect(!request.stdout.contains("upgrading"), "the notice goes to stderr, not into the command's output")
        let again = try workspace.enroll(["request", "yuki"], environment: ["ENROLL_NOW": "\(Self.t0 + 110)"])
        #expect(again.status == 0 && !again.stderr.contains("upgrading"), "only once: \(again.stderr)")

        #expect(try query(rows) == eventsBefore)
        let keyedAfter = try query(keyed)
        let (linesBefore, linesAfter) = (keyedBefore.split(separator: "\n"), keyedAfter.split(separator: "\n"))
        #expect(Set(linesBefore).isSubset(of: Set(linesAfter)), "\(keyedAfter)")
        #expect(linesAfter.filter { $0.hasPrefix("zoe|") || $0.contains("|zoe|") }.count == 2, "zoe's command record and data key: \(keyedAfter)")
        // Only the (stream, version) uniqueness is still an index of its own.
        #expect(try query(indexes) == "sqlite_autoindex_events_1")
        #expect(try query("SELECT identifier FROM grdb_migrations ORDER BY identifier") == "v1-journal\nv2-lean-journal\nv3-command-arguments\nv4-key-history")
        // The key history starts with the key in force at the upgrade, whose making it cannot know.
        let keys = try workspace.enroll(["keys", "history"])
        #expect(keys.status == 0 && keys.stdout == "(before the key history)  in force at the upgrade  key a2309527ed297177e67c3c7873eb4bfe\n", "\(keys.stdout)\(keys.stderr)")
        #expect(try workspace.enroll(["verify"]).stdout.contains("Verified 23 events"))

        // The old data_keys table was dropped with its pages zeroed: a key destroyed after the
        // upgrade survives in no file, not even in the pages the first schema's table left free.
        let aliceKey = try #require(KeyTests.bytes(hex: try query("SELECT hex(wrapped_key) FROM data_keys WHERE stream_id = 'alice'")))
        #expect(keyedBefore.contains(aliceKey.map { String(format: "%02X", $0) }.joined()), "alice's key is from before the upgrade")
        #expect(try workspace.enroll(["remove", "alice"], environment: ["ENROLL_NOW": "\(Self.t0 + 120)"]).status == 0)
        for (name, bytes) in directorySnapshot(workspace.directory) where name.hasPrefix("enrollment.sqlite") {
            #expect(!KeyTests.contains(bytes, aliceKey), "\(name) still holds alice's destroyed data key")
        }
    }
}
