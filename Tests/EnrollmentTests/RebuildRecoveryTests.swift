import Foundation
import Testing
import TestSupport

/// What `rebuild-projections`, `--status` and `enroll verify` make of a database changed
/// behind their back: a leftover shadow table that cannot be resumed as it is, and projection
/// tables dropped or altered by hand. Real processes on real SQLite files; the changes are made
/// with the sqlite3 shell, as an operator would.
@Suite("Rebuilding projections: leftover shadows and damaged tables")
struct RebuildRecoveryTests {
    let rebuild = RebuildTests()

    func tool(_ workspace: Workspace, _ arguments: [String]) throws -> Processes.Result {
        try Processes.run(try Processes.product("rebuild-projections"), ["--db", workspace.database] + arguments)
    }

    func sql(_ workspace: Workspace, _ statement: String) throws {
        _ = try SQLite3.query(workspace.database, statement)
    }

    /// The 10 000-event journal with the authenticators projection made stale, and a rebuild of
    /// it killed (SIGKILL) midway: its shadow table and checkpoint are left. Returns the tables
    /// as the imported journal's inline updates left them, and the shadow's checkpoint.
    func interruptedShadow(_ workspace: Workspace) throws -> (inline: [String: [String]], left: Int64) {
        try rebuild.importTraffic(workspace)
        let inline = try rebuild.tables(workspace.database)
        try sql(workspace, "UPDATE projection_checkpoints SET schema_version = 2 WHERE name = 'authenticators'")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Processes.product("rebuild-projections"))
        process.arguments = ["--db", workspace.database, "--projection", "authenticators", "--batch-size", "10"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline && process.isRunning {
            if let shadow = try? rebuild.checkpoint("authenticators_rebuild", in: workspace.database), shadow.position >= 500 { break }
            usleep(10_000)
        }
        try #require(process.isRunning, "the rebuild finished before it could be killed")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let left = try #require(try rebuild.checkpoint("authenticators_rebuild", in: workspace.database))
        try #require(left.position >= 500 && left.position < 10_000)
        return (inline, left.position)
    }

    /// After a repair: `verify` passes, `--status` says current, the tables equal the inline ones.
    func expectRepaired(_ workspace: Workspace, inline: [String: [String]], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let verify = try workspace.enroll(["verify"])
        #expect(verify.status == 0, "\(verify.stdout) \(verify.stderr)", sourceLocation: sourceLocation)
        let status = try tool(workspace, ["--status"])
        #expect(status.stdout.split(separator: "\n").dropFirst().allSatisfy { $0.hasSuffix(" current") }, "\(status.stdout)", sourceLocation: sourceLocation)
        #expect(try rebuild.tables(workspace.database) == inline, sourceLocation: sourceLocation)
        #expect(try SQLite3.query(workspace.database, "SELECT name FROM sqlite_master WHERE name LIKE '%\\_rebuild' ESCAPE '\\'") == "", sourceLocation: sourceLocation)
    }

    @Test("a shadow checkpoint past the journal's head is not resumed: --status says it will be discarded and why, the rebuild starts over saying so (exit 0), and status and verify agree afterwards")
    func shadowPastHead() throws {
        let workspace = try Workspace()
        let (inline, _) = try interruptedShadow(workspace)
        try sql(workspace, "UPDATE projection_checkpoints SET position = 50000 WHERE name = 'authenticators_rebuild'")

        let status = try tool(workspace, ["--status"])
        #expect(status.stdout.contains("the next rebuild will discard the interrupted one's shadow table at position 50000 and start over: its checkpoint is past the journal's head (10000)"), "\(status.stdout)")
        let json = try tool(workspace, ["--status", "--json"])
        #expect(json.stdout.contains(#""rebuildWillDiscard":"its checkpoint is past the journal's head (10000)""#), "\(json.stdout)")

        let result = try tool(workspace, ["--projection", "authenticators"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.hasSuffix("swapped in at position 10000; discarded the interrupted rebuild's shadow table at position 50000 and started over: its checkpoint is past the journal's head (10000)\n"), "\(result.stdout)")
        #expect(!result.stdout.contains("resumed from"), "\(result.stdout)")
        #expect(try workspace.enroll(["status", "u0001"]).status == 0)
        try expectRepaired(workspace, inline: inline)
    }

    @Test("a shadow table an older release's interrupted run left (another version of the projection) is discarded and rebuilt from position 0, --status and the summary saying so")
    func shadowOfAnOlderVersion() throws {
        let workspace = try Workspace()
        let (inline, left) = try interruptedShadow(workspace)
        try sql(workspace, "UPDATE projection_checkpoints SET schema_version = 3 WHERE name = 'authenticators_rebuild'")
        let reason = "it was built for version 3 of the projection, and this code builds version 4"

        let status = try tool(workspace, ["--status"])
        #expect(status.stdout.contains("the next rebuild will discard the interrupted one's shadow table at position \(left) and start over: \(reason)"), "\(status.stdout)")
        let json = try tool(workspace, ["--status", "--json"])
        #expect(json.stdout.contains(#""rebuildWillDiscard":"\#(reason)""#), "\(json.stdout)")
        let result = try tool(workspace, ["--projection", "authenticators"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("; discarded the interrupted rebuild's shadow table at position \(left) and started over: \(reason)"), "\(result.stdout)")
        try expectRepaired(workspace, inline: inline)
    }

    @Test("a shadow table a newer release's interrupted run left: --status notes it (not plain 'current'), the rebuild refuses it naming the shadow table (exit 3), and with --allow-downgrade discards it and rebuilds")
    func shadowOfANewerVersion() throws {
        let workspace = try Workspace()
        let (inline, left) = try interruptedShadow(workspace)
        try sql(workspace, "UPDATE projection_checkpoints SET schema_version = 5 WHERE name = 'authenticators_rebuild'")

        let status = try tool(workspace, ["--status"])
        #expect(status.stdout.contains("; an interrupted rebuild by a newer version of enroll left its shadow table (schema v5): upgrade rebuild-projections, or --allow-downgrade discards it"), "\(status.stdout)")
        let json = try tool(workspace, ["--status", "--json"])
        #expect(json.stdout.contains(#""newerRebuildShadowVersion":5"#), "\(json.stdout)")
        let refused = try tool(workspace, ["--projection", "authenticators"])
        #expect(refused.status == 3, "\(refused.stdout)\(refused.stderr)")
        #expect(refused.stderr.contains("an interrupted rebuild by a newer version of enroll left the authenticators projection's shadow table authenticators_rebuild (schema version 5; this code builds version 4)"), "\(refused.stderr)")
        let result = try tool(workspace, ["--projection", "authenticators", "--allow-downgrade"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("; discarded the interrupted rebuild's shadow table at position \(left) and started over: it was built for version 5 of the projection, and this code builds version 4"), "\(result.stdout)")
        try expectRepaired(workspace, inline: inline)
    }

    @Test("a shadow table whose columns were changed is discarded and rebuilt from position 0 (exit 0), not refused forever with a raw SQLite error")
    func shadowWithChangedColumns() throws {
        let workspace = try Workspace()
        let (inline, left) = try interruptedShadow(workspace)
        try sql(workspace, "ALTER TABLE authenticators_rebuild DROP COLUMN lock_count")

        let status = try tool(workspace, ["--status"])
        #expect(status.stdout.contains("will discard the interrupted one's shadow table at position \(left) and start over: its table lacks the column lock_count"), "\(status.stdout)")
        let result = try tool(workspace, ["--projection", "authenticators"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("; discarded the interrupted rebuild's shadow table at position \(left) and started over: its table lacks the column lock_count"), "\(result.stdout)")
        try expectRepaired(workspace, inline: inline)
    }

    @Test("a shadow whose journal was rewritten under it (another chained hash at its checkpoint) is discarded and rebuilt from position 0")
    func shadowOverRewrittenJournal() throws {
        let workspace = try Workspace()
        let (inline, left) = try interruptedShadow(workspace)
        // The hash a rewrite with recomputed hashes would leave at the checkpoint; the rows
        // folded stay as they were, so the rebuilt tables still equal the inline ones.
        let hash = try SQLite3.query(workspace.database, "SELECT hex(hash) FROM events WHERE position = \(left)")
        try sql(workspace, "UPDATE events SET hash = randomblob(32) WHERE position = \(left)")

        let result = try tool(workspace, ["--projection", "authenticators"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("; discarded the interrupted rebuild's shadow table at position \(left) and started over: the journal up to its checkpoint is not the one it folded (its events were rewritten since)"), "\(result.stdout)")
        try sql(workspace, "UPDATE events SET hash = x'\(hash)' WHERE position = \(left)")
        try expectRepaired(workspace, inline: inline)
    }

    @Test("a resume trusts the shadow's rows; --restart (named by --status) discards a shadow edited by hand and folds from position 0, after which verify agrees")
    func restartDiscardsEditedShadow() throws {
        let workspace = try Workspace()
        let (inline, left) = try interruptedShadow(workspace)
        try sql(workspace, "UPDATE authenticators_rebuild SET status = 'locked'")

        let status = try tool(workspace, ["--status"])
        #expect(status.stdout.contains("an interrupted rebuild will resume from position \(left) (--restart starts over instead)"), "\(status.stdout)")
        let result = try tool(workspace, ["--projection", "authenticators", "--restart"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!result.stdout.contains("resumed from"), "\(result.stdout)")
        #expect(result.stdout.contains("; discarded the interrupted rebuild's shadow table at position \(left) and started over: --restart was given"), "\(result.stdout)")
        try expectRepaired(workspace, inline: inline)

        let misuse = try tool(workspace, ["--status", "--restart"])
        #expect(misuse.status == 2 && misuse.stderr.contains("--restart goes with --projection NAME or --all"), "\(misuse.stderr)")
    }

    @Test("a shadow table that fails in a way no check foresees (a trigger added by hand) gives an error naming --restart, which gets out of it")
    func unforeseenShadowFailureNamesRestart() throws {
        let workspace = try Workspace()
        let (inline, _) = try interruptedShadow(workspace)
        try sql(workspace, "CREATE TRIGGER refuse BEFORE INSERT ON authenticators_rebuild BEGIN SELECT RAISE(ABORT, 'refused by a trigger'); END")

        let failed = try tool(workspace, ["--projection", "authenticators"])
        #expect(failed.status == 3, "\(failed.stdout) \(failed.stderr)")
        #expect(failed.stderr == "rebuild-projections: error: storage error: refused by a trigger; if the interrupted rebuild's shadow table is at fault, `rebuild-projections --db \(workspace.database) --restart --projection authenticators` discards it and starts over\n", "\(failed.stderr)")
        let restarted = try tool(workspace, ["--projection", "authenticators", "--restart"])
        #expect(restarted.status == 0, "\(restarted.stderr)")
        try expectRepaired(workspace, inline: inline)
    }

    /// A small journal of 5 events: alice and bob pending, carol active.
    func smallJournal() throws -> Workspace {
        let workspace = try Workspace()
        for user in ["alice", "bob", "carol"] { try #require(try workspace.enroll(["request", user]).status == 0) }
        let uri = try workspace.enroll(["reveal", "carol", "--format", "uri"]).stdout
        let code = try Oathtool.code(base32Secret: try #require(secretParameter(of: uri.trimmingCharacters(in: .whitespacesAndNewlines))))
        try #require(try workspace.enroll(["confirm", "carol", code]).status == 0)
        return workspace
    }

    /// `enroll ARGS` refuses with exit 3 and one line naming the rebuild of `projection`, writing nothing.
    func expectNamesRebuild(_ workspace: Workspace, _ arguments: [String], _ problem: String, projection: String = "authenticators", sourceLocation: SourceLocation = #_sourceLocation) throws {
        let events = try SQLite3.query(workspace.database, "SELECT COUNT(*) FROM events")
        let result = try workspace.enroll(arguments)
        #expect(result.status == 3, "\(arguments): \(result.stdout) \(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr == "enroll: error: the \(projection) projection's table \(problem) (changed outside enroll); run `rebuild-projections --db \(workspace.database) --projection \(projection)` to fold it again from the journal\n", "\(arguments): \(result.stderr)", sourceLocation: sourceLocation)
        #expect(try SQLite3.query(workspace.database, "SELECT COUNT(*) FROM events") == events, sourceLocation: sourceLocation)
    }

    /// `verify` walks the chain and then fails (exit 1) on the damaged table, naming its rebuild.
    func expectVerifyNames(_ workspace: Workspace, _ problem: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let verify = try workspace.enroll(["verify"])
        #expect(verify.status == 1, "\(verify.stdout) \(verify.stderr)", sourceLocation: sourceLocation)
        #expect(verify.stdout == "Verified 5 events: the hash chain is intact.\nauthenticators: its table \(problem)\n", "\(verify.stdout)", sourceLocation: sourceLocation)
        #expect(verify.stderr == "enroll: error: the authenticators projection's table \(problem) (the journal is intact: run `rebuild-projections --db \(workspace.database) --projection authenticators` to fold the projections from it again)\n", "\(verify.stderr)", sourceLocation: sourceLocation)
        let (json, object) = try workspace.enrollJSON(["verify"])
        #expect(json.status == 1 && object["tampering"] as? String == "projections" && object["verified"] as? Int == 5, "\(json.stdout)", sourceLocation: sourceLocation)
        #expect((object["damagedProjections"] as? [String: String])?["authenticators"] == "its table \(problem)", "\(json.stdout)", sourceLocation: sourceLocation)
    }

    /// `--status` calls the authenticators projection damaged, in text and JSON.
    func expectStatusDamaged(_ workspace: Workspace, _ problem: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let status = try tool(workspace, ["--status"])
        #expect(status.status == 0 && status.stdout.contains("damaged: its table \(problem): run rebuild-projections --db \(workspace.database) --projection authenticators\n"), "\(status.stdout)", sourceLocation: sourceLocation)
        let json = try tool(workspace, ["--status", "--json"])
        let first = json.stdout.split(separator: "\n").first.map(String.init) ?? ""
        #expect(first.contains(#""current":false"#) && first.contains(#""tableProblem":"its table \#(problem)""#), "\(json.stdout)", sourceLocation: sourceLocation)
    }

    @Test("a dropped projection table: --status calls it damaged (not current), commands refuse naming its rebuild (nothing written), verify checks the chain and names the rebuild (exit 1); after the rebuild all agree")
    func droppedProjectionTable() throws {
        let workspace = try smallJournal()
        let before = try rebuild.tables(workspace.database)
        try sql(workspace, "DROP TABLE authenticators")

        try expectStatusDamaged(workspace, "is missing")
        try expectNamesRebuild(workspace, ["status", "alice"], "is missing")
        try expectNamesRebuild(workspace, ["request", "dave"], "is missing")
        try expectVerifyNames(workspace, "is missing")

        #expect(try tool(workspace, ["--projection", "authenticators"]).status == 0)
        #expect(try workspace.enroll(["verify"]).status == 0)
        #expect(try rebuild.tables(workspace.database) == before)
        #expect(try workspace.enroll(["request", "dave"]).status == 0)
    }

    @Test("a user's row deleted by hand: status and commands on that user refuse naming the rebuild (nothing written), never 'none' or a row folded from one event; other users are served; after the rebuild all agree")
    func deletedRow() throws {
        let workspace = try smallJournal()
        let before = try rebuild.tables(workspace.database)
        try sql(workspace, "DELETE FROM authenticators WHERE user_id = 'carol'")
        let problem = "has no row for carol, who has 3 events in the journal"
        try expectNamesRebuild(workspace, ["status", "carol"], problem)
        try expectNamesRebuild(workspace, ["reveal", "carol", "--format", "uri"], problem)
        #expect(try workspace.enroll(["status", "alice"]).status == 0)
        #expect(try workspace.enroll(["status", "nobody"]).stdout.contains("status: none"))
        #expect(try tool(workspace, ["--projection", "authenticators"]).status == 0)
        #expect(try rebuild.tables(workspace.database) == before)
        #expect(try workspace.enroll(["reveal", "carol", "--format", "uri"]).status == 0)
    }

    @Test("a checkpoint position edited to a fraction at the head, a text or below zero: --status calls it damaged, commands refuse naming the rebuild, verify names it (exit 1), never read as the head cut to a whole number or as 0", arguments: ["5.5", "6.5", "'abc'", "-1"])
    func damagedCheckpoint(_ value: String) throws {
        let workspace = try smallJournal()
        let before = try rebuild.tables(workspace.database)
        try sql(workspace, "UPDATE projection_checkpoints SET position = \(value) WHERE name = 'authenticators'")
        let problem = "has a checkpoint whose position is not a whole number of 0 or more (in projection_checkpoints)"
        try expectStatusDamaged(workspace, problem)
        try expectNamesRebuild(workspace, ["status", "alice"], problem)
        try expectNamesRebuild(workspace, ["request", "dave"], problem)
        try expectVerifyNames(workspace, problem)
        #expect(try tool(workspace, ["--projection", "authenticators"]).status == 0)
        #expect(try workspace.enroll(["verify"]).status == 0)
        #expect(try rebuild.tables(workspace.database) == before)
        // Its schema version edited so: damaged too, not "stale (schema v0)".
        try sql(workspace, "UPDATE projection_checkpoints SET schema_version = \(value) WHERE name = 'authenticators'")
        let version = "has a checkpoint whose schema_version is not a whole number of 0 or more (in projection_checkpoints)"
        try expectStatusDamaged(workspace, version)
        try expectVerifyNames(workspace, version)
        #expect(try tool(workspace, ["--projection", "authenticators"]).status == 0)
        #expect(try rebuild.tables(workspace.database) == before)
    }

    @Test("a projection table re-created by hand without its primary key (create, copy, drop, rename): commands refuse it naming the rebuild, writing nothing, instead of adding a second row per user; after the rebuild all agree")
    func projectionTableWithoutKey() throws {
        let workspace = try smallJournal()
        let before = try rebuild.tables(workspace.database)
        let schema = try SQLite3.query(workspace.database, "SELECT sql FROM sqlite_master WHERE name = 'authenticators'")
        let keyless = schema.replacingOccurrences(of: "user_id TEXT PRIMARY KEY", with: "user_id TEXT").replacingOccurrences(of: "WITHOUT ROWID", with: "")
        try #require(keyless != schema, "\(schema)")
        try sql(workspace, "BEGIN; ALTER TABLE authenticators RENAME TO old; \(keyless); INSERT INTO authenticators SELECT * FROM old; DROP TABLE old; COMMIT")

        let problem = "has no primary key (this code builds it keyed by user_id BINARY)"
        try expectNamesRebuild(workspace, ["confirm", "alice", "000000"], problem)
        try expectNamesRebuild(workspace, ["regenerate", "carol"], problem)
        try expectNamesRebuild(workspace, ["status", "alice"], problem)
        try expectNamesRebuild(workspace, ["status", "alice", "--json"], problem)
        #expect(try SQLite3.query(workspace.database, "SELECT COUNT(*) FROM authenticators") == "3")
        try expectStatusDamaged(workspace, "declares the column user_id otherwise than this code builds (type, NOT NULL, default or key)")

        #expect(try tool(workspace, ["--projection", "authenticators"]).status == 0)
        #expect(try workspace.enroll(["verify"]).status == 0)
        #expect(try rebuild.tables(workspace.database) == before)
        #expect(try workspace.enroll(["confirm", "alice", "000000"]).status == 1)
    }

    @Test("a projection table re-created with a key that ignores case (COLLATE NOCASE), where ALICE would replace alice's row: --status calls it damaged, commands refuse it naming the rebuild")
    func projectionKeyIgnoringCase() throws {
        let workspace = try smallJournal()
        let schema = try SQLite3.query(workspace.database, "SELECT sql FROM sqlite_master WHERE name = 'authenticators'")
        let nocase = schema.replacingOccurrences(of: "user_id TEXT PRIMARY KEY", with: "user_id TEXT PRIMARY KEY COLLATE NOCASE")
        try #require(nocase != schema, "\(schema)")
        try sql(workspace, "BEGIN; ALTER TABLE authenticators RENAME TO old; \(nocase); INSERT INTO authenticators SELECT * FROM old; DROP TABLE old; COMMIT")
        let problem = "is keyed by user_id NOCASE (this code builds it keyed by user_id BINARY)"
        try expectNamesRebuild(workspace, ["request", "ALICE"], problem)
        try expectNamesRebuild(workspace, ["status", "alice"], problem)
        try expectStatusDamaged(workspace, problem)
        // history reads the journal, and takes nothing from a table so keyed (ALICE's row would be alice's).
        let history = try workspace.enroll(["history", "ALICE"])
        #expect(history.status == 0 && history.stdout.contains("No events recorded for ALICE") && !history.stderr.contains("chain_broken"), "\(history.stdout)\(history.stderr)")
        #expect(try tool(workspace, ["--projection", "authenticators"]).status == 0)
        #expect(try workspace.enroll(["request", "ALICE"]).status == 0)
        #expect(try workspace.enroll(["verify"]).status == 0)
    }

    @Test("a projection column dropped by hand: --status calls it damaged, reveal refuses naming the rebuild (exit 3), verify names it (exit 1) instead of a raw 'no such column'")
    func droppedProjectionColumn() throws {
        let workspace = try smallJournal()
        let before = try rebuild.tables(workspace.database)
        try sql(workspace, "ALTER TABLE authenticators DROP COLUMN last_revealed_at")

        try expectStatusDamaged(workspace, "lacks the column last_revealed_at")
        try expectNamesRebuild(workspace, ["reveal", "alice", "--format", "uri"], "lacks the column last_revealed_at")
        try expectVerifyNames(workspace, "lacks the column last_revealed_at")

        #expect(try tool(workspace, ["--all"]).status == 0)
        #expect(try workspace.enroll(["verify"]).status == 0)
        #expect(try rebuild.tables(workspace.database) == before)
    }

    @Test("a column both projections have (issuer) renamed by hand in one of them: commands, and activity whose own table is whole, name that projection and its rebuild (exit 3), not a raw 'no such column'")
    func renamedSharedColumn() throws {
        let workspace = try smallJournal()
        try sql(workspace, "ALTER TABLE authenticators RENAME COLUMN issuer TO iss")
        try expectNamesRebuild(workspace, ["status", "carol"], "lacks the column issuer")
        try expectNamesRebuild(workspace, ["activity"], "lacks the column issuer")
        try expectStatusDamaged(workspace, "lacks the column issuer")
        #expect(try tool(workspace, ["--projection", "authenticators"]).status == 0)
        #expect(try workspace.enroll(["activity"]).status == 0)
        #expect(try workspace.enroll(["verify"]).status == 0)
    }

    @Test("a column readers decode dropped by hand (failed_attempts, locks): status and activity refuse naming the rebuild (exit 3), never crash")
    func droppedColumnReadersDecode() throws {
        let workspace = try smallJournal()
        try sql(workspace, "ALTER TABLE authenticators DROP COLUMN failed_attempts; ALTER TABLE enrollment_activity DROP COLUMN locks")
        try expectNamesRebuild(workspace, ["status", "carol"], "lacks the column failed_attempts")
        try expectNamesRebuild(workspace, ["status", "carol", "--json"], "lacks the column failed_attempts")
        try expectNamesRebuild(workspace, ["activity"], "lacks the column locks", projection: "enrollment_activity")
        #expect(try tool(workspace, ["--all"]).status == 0)
        #expect(try workspace.enroll(["status", "carol"]).stdout.contains("active"))
        #expect(try workspace.enroll(["verify"]).status == 0)
    }

    @Test("a checkpoint ahead of the journal's head is not 'current' in --status but names the missing events and verify, and appends are refused (nothing written); a projection without a checkpoint is called missing by readers, not 'schema version 0'")
    func checkpointAheadOrMissing() throws {
        let workspace = try smallJournal()
        try sql(workspace, "UPDATE projection_checkpoints SET position = 99 WHERE name = 'enrollment_activity'")
        let status = try tool(workspace, ["--status"])
        #expect(status.stdout.contains("enrollment_activity   2       2     99        5         0       ahead of the journal by 94 events: events are missing from the journal; run enroll verify --db \(workspace.database)"), "\(status.stdout)")
        let json = try tool(workspace, ["--status", "--json"])
        #expect(json.stdout.contains(#""ahead":94,"codeVersion":2,"current":false"#), "\(json.stdout)")

        // Appends refuse too: skipping the projection would let the head catch up with its
        // checkpoint, and readers would then take it for current without the new events.
        let events = try SQLite3.query(workspace.database, "SELECT COUNT(*) FROM events")
        let append = try workspace.enroll(["request", "dave"])
        #expect(append.status == 3 && append.stderr.contains("the enrollment_activity projection has folded the journal up to position 99 but the journal ends at 5: events are missing; run `enroll verify --db \(workspace.database)`, restore the journal, then `rebuild-projections --db \(workspace.database) --projection enrollment_activity`"), "\(append.stderr)")
        #expect(try SQLite3.query(workspace.database, "SELECT COUNT(*) FROM events") == events, "nothing appended")

        try sql(workspace, "DELETE FROM projection_checkpoints WHERE name = 'authenticators'")
        let read = try workspace.enroll(["status", "alice"])
        #expect(read.status == 3 && read.stderr == "enroll: error: the authenticators projection has no checkpoint (it is missing); run `rebuild-projections --db \(workspace.database) --projection authenticators` to fold it from the journal\n", "\(read.stderr)")
        // verify, on a journal with nothing else wrong, says why it could not compare the table.
        let other = try smallJournal()
        try sql(other, "DELETE FROM projection_checkpoints WHERE name = 'authenticators'")
        let verify = try other.enroll(["verify"])
        #expect(verify.stdout.contains("note: authenticators was not compared with the journal: it has a table but no checkpoint (deleted by hand?), so what it has folded is unknown; run `rebuild-projections --db \(other.database) --projection authenticators`"), "\(verify.stdout) \(verify.stderr)")
    }
}
