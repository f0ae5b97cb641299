@testable import Enrollment
import Foundation
import GRDB
import Testing
import TestSupport

/// Rows edited into a database (or a forged export) with values at the ends of the integers,
/// the hash chain computed again as anyone with `sqlite3` can: every command reports the row,
/// with a defined exit code; none traps on the arithmetic (exit 132, which a test sees as a
/// status no command documents).
@Suite struct DamagedRowTests {
    static let now: Int64 = 1_764_421_576

    /// alice requested, one wrong code (position 2, a CodeRejected), bob requested.
    func journal() throws -> Workspace {
        let workspace = try Workspace()
        for arguments in [["request", "alice"], ["confirm", "alice", "000000"], ["request", "bob"]] {
            let result = try workspace.enroll(arguments, environment: ["ENROLL_NOW": "\(Self.now)"])
            try #require(result.status == 0 || result.status == 1, "\(arguments): \(result.stderr)")
        }
        return workspace
    }

    /// Runs `statement` on the database, then recomputes every hash: what a forger does.
    func edit(_ workspace: Workspace, _ statement: String) throws {
        let queue = try DatabaseQueue(path: workspace.database)
        defer { try? queue.close() }
        try queue.write { db in
            try db.execute(sql: statement)
            // As stored (metadata a reader refuses too): a forger rechains whatever they wrote.
            var rows = try StoredRow.fetchAll(db, sql: "SELECT * FROM events ORDER BY position").map(\.event)
            FixtureTests.rechain(&rows)
            for row in rows { try db.execute(sql: "UPDATE events SET hash = ? WHERE position = ?", arguments: [Data(row.hash), row.position]) }
        }
    }

    func enroll(_ workspace: Workspace, _ arguments: [String]) throws -> Processes.Result {
        try workspace.enroll(arguments, environment: ["ENROLL_NOW": "\(Self.now + 60)"])
    }

    @Test("a schema-1 CodeRejected whose count is Int64.min: import refuses the file (exit 2); in a database, history, audit, verify and the user's commands report the row (exit 3), none traps")
    func hugeNegativeCountInAnOldEvent() throws {
        let workspace = try journal()
        let data = #"{"failedAttempts":-9223372036854775808,"reason":"invalid_code","target":"pending"}"#
        try edit(workspace, "UPDATE events SET schema_version = 1, data = '\(data)' WHERE position = 2")
        for arguments in [["history", "alice"], ["audit"], ["confirm", "alice", "111111"]] {
            let result = try enroll(workspace, arguments)
            #expect(result.status == 3 && result.stderr.contains("the event at position 2 (CodeRejected) cannot be read"), "\(arguments): \(result.status) \(result.stderr)")
        }
        let verify = try enroll(workspace, ["verify"])
        #expect(verify.status != 0 && verify.status < 4, "\(verify.status) \(verify.stderr)")
        #expect(verify.stderr.contains("position 2"), "\(verify.stderr)")

        let export = workspace.path("forged.jsonl")
        #expect(try enroll(workspace, ["export", "--output", export]).status == 0)
        try FixtureTests.expectImportRefused(export, in: workspace, naming: "line 2")
    }

    @Test("a recorded time of Int64.min or Int64.max: verify, rebuild-projections and the user's commands report the row (exit 1 or 3), none traps; audit shows the stored number, not a clamped date")
    func extremeRecordedTimes() throws {
        for time in [Int64.min, Int64.max] {
            let workspace = try journal()
            try edit(workspace, "UPDATE events SET recorded_at = \(time) WHERE position = 2")
            let verify = try enroll(workspace, ["verify"])
            #expect(verify.status == 1 || verify.status == 3, "\(time): \(verify.status) \(verify.stdout) \(verify.stderr)")
            #expect((verify.stdout + verify.stderr).contains("its recorded time \(time) is not a time between 1970 and 9999"), "\(time): \(verify.stdout) \(verify.stderr)")
            let confirm = try enroll(workspace, ["confirm", "alice", "111111"])
            #expect(confirm.status == 3 && confirm.stderr.contains("its recorded time \(time) is not a time between 1970 and 9999"), "\(time): \(confirm.stderr)")
            let rebuild = try Processes.run(try Processes.product("rebuild-projections"), ["--db", workspace.database, "--all", "--restart"])
            #expect(rebuild.status == 3 && rebuild.stderr.contains("position 2"), "\(time): \(rebuild.status) \(rebuild.stderr)")
            let audit = try enroll(workspace, ["audit"])
            #expect(audit.stdout.contains("@\(time)") || audit.stderr.contains("position 2"), "\(time): \(audit.stdout) \(audit.stderr)")
            // Another user's commands go on.
            #expect(try enroll(workspace, ["reveal", "bob", "--format", "uri"]).status == 0)
        }
    }

    @Test("a journal whose last position was edited to Int64.max: an append is refused naming the damage and verify (exit 3), nothing written; verify names the missing rows")
    func lastPositionAtTheEnd() throws {
        let workspace = try journal()
        _ = try SQLite3.query(workspace.database, "UPDATE events SET position = 9223372036854775807 WHERE position = 3")
        let before = workspace.databaseBytes()
        let request = try enroll(workspace, ["request", "carol"])
        #expect(request.status == 3, "\(request.status) \(request.stderr)")
        #expect(request.stderr == "enroll: error: the journal's last position is 9223372036854775807, which leaves no room for another event: the journal was modified; run `enroll verify --db \(workspace.database)`, and restore it from a backup or an export\n", "\(request.stderr)")
        #expect(workspace.databaseBytes() == before, "a refused append changed the database")
        let verify = try enroll(workspace, ["verify"])
        #expect(verify.status == 1, "\(verify.stderr)")
    }

    @Test("a row inserted at position -1 in a user's stream is not folded unseen: the user's commands report it (exit 3), verify says it is out of sequence")
    func rowBelowPositionOne() throws {
        let workspace = try journal()
        _ = try SQLite3.query(workspace.database, """
            INSERT INTO events (position, stream_id, stream_version, event_id, type, schema_version, data, metadata, recorded_at, hash)
            SELECT -1, 'alice', 3, 'forged', 'AuthenticatorActivated', 1, '{"replacedPrevious":false,"step":58814053}', metadata, recorded_at, hash FROM events WHERE position = 1
            """)
        let confirm = try enroll(workspace, ["confirm", "alice", "111111"])
        #expect(confirm.status == 3 && confirm.stderr.contains("its position -1 is below 1"), "\(confirm.status) \(confirm.stderr)")
        let verify = try enroll(workspace, ["verify"])
        #expect(verify.status == 1, "\(verify.stdout) \(verify.stderr)")
    }

    @Test("rebuild-projections --status on a checkpoint edited to Int64.min or Int64.max answers (exit 0), calling it damaged (below zero) or ahead, without trapping")
    func extremeCheckpoint() throws {
        for (position, state) in [(Int64.min, "damaged: its table has a checkpoint whose position is not a whole number of 0 or more"), (Int64.max, "ahead of the journal")] {
            let workspace = try journal()
            _ = try SQLite3.query(workspace.database, "UPDATE projection_checkpoints SET position = \(position) WHERE name = 'authenticators'")
            let status = try Processes.run(try Processes.product("rebuild-projections"), ["--db", workspace.database, "--status"])
            #expect(status.status == 0 && status.stdout.contains(state), "\(position): \(status.status) \(status.stdout) \(status.stderr)")
        }
    }

    @Test("a projection value of another type edited in with sqlite3 (text in an INTEGER column): status and activity name the table and column and the rebuild (exit 3), none traps")
    func wrongTypeInAProjection() throws {
        for (statement, arguments, column) in [
            ("UPDATE authenticators SET failed_attempts = 'x'", ["status", "alice"], "failed_attempts"),
            ("UPDATE authenticators SET pending_digits = 'seven'", ["status", "alice"], "pending_digits"),
            ("UPDATE enrollment_activity SET requested = 'x'", ["activity"], "requested"),
        ] {
            let workspace = try journal()
            _ = try SQLite3.query(workspace.database, statement)
            let result = try enroll(workspace, arguments)
            #expect(result.status == 3, "\(statement): \(result.status) \(result.stderr)")
            #expect(result.stderr.contains("table holds a value of another type in the column \(column) (changed outside enroll); run `rebuild-projections --db"), "\(statement): \(result.stderr)")
        }
    }

    @Test("one user's data key row damaged: that user's reveal and keys rotate name the damaged row (exit 3), not the key file; other users go on")
    func damagedDataKey() throws {
        let workspace = try journal()
        _ = try SQLite3.query(workspace.database, "UPDATE data_keys SET wrapped_key = x'0011' WHERE stream_id = 'alice'")
        let reveal = try enroll(workspace, ["reveal", "alice", "--format", "uri"])
        #expect(reveal.status == 3 && reveal.stderr.contains("the data key of alice does not open under this key file, which is the database's own"), "\(reveal.stderr)")
        #expect(try enroll(workspace, ["reveal", "bob", "--format", "uri"]).status == 0)
        let rotate = try enroll(workspace, ["keys", "rotate", "--new-key-file", workspace.path("new.key")])
        #expect(rotate.status == 3 && rotate.stderr.contains("the data key of alice does not open"), "\(rotate.stderr)")
        #expect(!FileManager.default.fileExists(atPath: workspace.path("new.key")), "a refused rotation leaves no new key file")
    }

    @Test("a row whose metadata is not JSON: history and audit list it as unreadable with the rows after it, then exit 1 (chain_broken); never a stand-in actor")
    func unreadableMetadata() throws {
        let workspace = try journal()
        _ = try SQLite3.query(workspace.database, "UPDATE events SET metadata = '{' WHERE position = 2")
        for arguments in [["history", "alice"], ["audit"]] {
            let result = try enroll(workspace, arguments)
            #expect(result.status == 1 && result.stderr.contains("its metadata is not the JSON object an append writes") && result.stderr.hasSuffix("(chain_broken)\n"), "\(arguments): \(result.status) \(result.stdout) \(result.stderr)")
            let rows = result.stdout.split(separator: "\n").dropFirst()
            #expect(rows.count == (arguments[0] == "audit" ? 3 : 2), "\(arguments): \(result.stdout)")
            let row = try #require(rows.dropFirst().first)
            #expect(row.contains(#" ""   "#) && row.hasSuffix(" unknown   [HASH CHAIN BROKEN HERE] [UNREADABLE: its metadata is not the JSON object an append writes]"), "\(arguments): \(result.stdout)")
        }
        // No actor or command id stands in for those the metadata no longer gives.
        let json = try enroll(workspace, ["history", "alice", "--json"])
        let entry = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.split(separator: "\n")[1].utf8)) as? [String: Any])
        #expect(entry["unreadable"] as? String == "its metadata is not the JSON object an append writes" && entry["type"] as? String == "CodeRejected", "\(entry)")
        #expect(entry["actor"] == nil && entry["commandId"] == nil && entry["details"] == nil, "\(entry)")
        // verify takes the row as stored: the edit breaks the hash chain at that row.
        let verify = try enroll(workspace, ["verify"])
        #expect(verify.status == 1 && verify.stderr.contains("position 2"), "\(verify.status) \(verify.stdout) \(verify.stderr)")
    }

    @Test("a stream whose versions skip (edited, chain recomputed): the user's commands name the damage and verify (exit 3), not a conflict to retry")
    func skippedStreamVersion() throws {
        let workspace = try journal()
        try edit(workspace, "UPDATE events SET stream_version = 9 WHERE position = 2")
        let confirm = try enroll(workspace, ["confirm", "alice", "111111"])
        #expect(confirm.status == 3, "\(confirm.stderr)")
        #expect(confirm.stderr.contains("the stream of alice holds 2 events but its last stream version is 9 (a user's versions run 1, 2, 3…): the journal was modified; run `enroll verify --db \(workspace.database)`"), "\(confirm.stderr)")
        #expect(!confirm.stderr.contains("run it again"), "\(confirm.stderr)")
        let verify = try enroll(workspace, ["verify"])
        #expect(verify.status == 1 && verify.stderr.contains("the hash chain breaks at position 2 (modified): the event of alice at this position has stream version 9 where 2 follows"), "\(verify.stderr)")
    }
}

/// findings-26 F6: a member named twice, which readers could take either way.
extension DamagedRowTests {
    @Test("a member named twice in a row's data or metadata (chain recomputed) is an edit: history lists the row as unreadable naming the member (exit 3), the user's commands and rebuild-projections refuse it; neither value is used")
    func memberNamedTwice() throws {
        let workspace = try journal()
        try edit(workspace, #"UPDATE events SET data = replace(data, '"issuer":"', '"issuer":"Other","issuer":"') WHERE position = 1"#)
        let history = try enroll(workspace, ["history", "alice"])
        #expect(history.status == 3 && history.stderr.contains("the event at position 1 (EnrollmentRequested) cannot be read: data names 'issuer' twice"), "\(history.status) \(history.stdout) \(history.stderr)")
        let rows = history.stdout.split(separator: "\n").dropFirst()
        #expect(rows.count == 2 && rows.first?.contains("[UNREADABLE: data names 'issuer' twice]") == true, "\(history.stdout)")
        #expect(!history.stdout.contains("Other"), "\(history.stdout)")
        let confirm = try enroll(workspace, ["confirm", "alice", "111111"])
        #expect(confirm.status == 3 && confirm.stderr.contains("names 'issuer' twice"), "\(confirm.status) \(confirm.stderr)")
        let rebuild = try Processes.run(try Processes.product("rebuild-projections"), ["--db", workspace.database, "--all", "--restart"])
        #expect(rebuild.status == 3 && rebuild.stderr.contains("position 1"), "\(rebuild.status) \(rebuild.stderr)")

        let other = try journal()
        try edit(other, #"UPDATE events SET metadata = replace(metadata, '"actor":"', '"actor":"mallory","actor":"') WHERE position = 3"#)
        let audit = try enroll(other, ["audit"])
        #expect(audit.status == 3 && audit.stdout.contains("[UNREADABLE: its metadata is not the JSON object an append writes]"), "\(audit.status) \(audit.stdout) \(audit.stderr)")
        #expect(!audit.stdout.contains("mallory"), "\(audit.stdout)")
    }

    @Test("a projection value holding a terminal escape or a line break (edited with sqlite3) is printed by status escaped, on its own line")
    func controlCharactersInStatus() throws {
        let workspace = try journal()
        _ = try SQLite3.query(workspace.database, "UPDATE authenticators SET pending_issuer = 'Enroll' || char(27) || '[31m' || char(10) || 'status: active' WHERE user_id = 'alice'")
        let status = try enroll(workspace, ["status", "alice"])
        #expect(status.status == 0, "\(status.stderr)")
        #expect(status.stdout.contains(#"issuer: Enroll\u001b[31m\nstatus: active  account: alice"#), "\(status.stdout)")
        #expect(!status.stdout.contains("\u{1b}") && status.stdout.split(separator: "\n").filter { $0.hasPrefix("status: ") } == ["status: pending"], "\(status.stdout)")
    }
}
