import Foundation
import Testing
import TestSupport

/// `enroll verify` against journals tampered with by hand, using the sqlite3 command line.
@Suite("Tamper evidence")
struct TamperEvidenceTests {
    /// A real journal of 9 events for three users, made with the enroll binary.
    func journal() throws -> Workspace {
        let workspace = try Workspace()
        var now: Int64 = 1_764_421_576
        for user in ["alice", "bob", "carol"] {
            for arguments in [["request", user, "--issuer", "ACME"], ["confirm", user, "123456"], ["reveal", user, "--format", "uri"]] {
                now += 5
                _ = try workspace.enroll(arguments, environment: ["ENROLL_NOW": "\(now)"])
            }
        }
        let verified = try workspace.enroll(["verify"])
        try #require(verified.status == 0, "\(verified.stderr)")
        let lines = verified.stdout.split(separator: "\n")
        #expect(lines.first == "Verified 9 events: the hash chain is intact.")
        // The anchor's line is `Anchor: POSITION:HASH` and nothing else: `sed -n 's/^Anchor: //p'` copies it.
        #expect(lines.count == 4 && lines[3].wholeMatch(of: /Anchor: 9:[0-9a-f]{64}/) != nil, "\(verified.stdout)")
        #expect(lines[1] == "The projections agree with the journal (authenticators, enrollment_activity folded again and compared row by row).")
        #expect(try workspace.enrollJSON(["verify"]).1["timeGoesBack"] == nil, "times that only go forward are not noted")
        return workspace
    }

    /// The anchor an intact journal's `verify --json` reports.
    func anchor(_ workspace: Workspace) throws -> String {
        let (result, json) = try workspace.enrollJSON(["verify"])
        try #require(result.status == 0, "\(result.stderr)")
        return try #require(json["anchor"] as? String)
    }

    func sqlite(_ workspace: Workspace, _ sql: String) throws {
        _ = try SQLite3.query(workspace.database, sql)
    }

    /// Runs `verify` (text and JSON) and expects a break at `position`; `verified` defaults to
    /// the rows before it. Returns the text error.
    @discardableResult
    func expectBreak(_ workspace: Workspace, position: Int, tampering: String, verified: Int? = nil, sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        let result = try workspace.enroll(["verify"])
        #expect(result.status == 1, "verify should fail: \(result.stdout)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains("breaks at position \(position) (\(tampering))"), "\(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.split(separator: "\n").count == 1, sourceLocation: sourceLocation)
        let json = try workspace.enrollJSON(["verify"]).1
        #expect(json["intact"] as? Bool == false && json["position"] as? Int == position && json["tampering"] as? String == tampering, "\(json)", sourceLocation: sourceLocation)
        #expect(json["verified"] as? Int == (verified ?? position - 1), "\(json)", sourceLocation: sourceLocation)
        return result.stderr
    }

    /// A copy of the workspace's database files (main, -wal, -shm) at `path`.
    func copyDatabase(_ workspace: Workspace, to path: String) throws {
        for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: workspace.database + suffix) {
            try FileManager.default.copyItem(atPath: workspace.database + suffix, toPath: path + suffix)
        }
    }

    @Test("history and audit check every row they show against the chain: an actor edited by hand is marked, the command exits 1 with chain_broken once all is shown, and verify names the same position")
    func historyMarksUnchainedRows() throws {
        let workspace = try journal()
        // alice holds positions 1-3, bob 4-6, carol 7-9: bob's second event now says an administrator did it.
        try sqlite(workspace, #"UPDATE events SET metadata = replace(metadata, '"actor":"bob"', '"actor":"admin"') WHERE position = 5"#)
        try expectBreak(workspace, position: 5, tampering: "modified", verified: 3)

        let history = try workspace.enroll(["history", "bob"])
        #expect(history.status == 1, "\(history.stdout)")
        let rows = history.stdout.split(separator: "\n").dropFirst()
        #expect(rows.count == 3, "every event is still shown: \(history.stdout)")
        let marked = rows.filter { $0.contains("[HASH CHAIN BROKEN HERE]") }
        #expect(marked.count == 1 && marked.first?.contains(" admin ") == true && marked.first == rows.dropFirst().first, "\(history.stdout)")
        #expect(history.stderr.hasPrefix("enroll: error: 1 of the events shown does not match the journal's hash chain (the first at position 5)"), "\(history.stderr)")
        #expect(history.stderr.hasSuffix("(chain_broken)\n") && history.stderr.split(separator: "\n").count == 1, "\(history.stderr)")

        // --json: the flag on that entry alone, then the error object.
        let json = try workspace.enroll(["history", "bob", "--json"])
        let objects = try json.stdout.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:] }
        #expect(json.status == 1 && objects.count == 4, "\(json.stdout)")
        #expect(objects.prefix(3).map { $0["chainBroken"] as? Bool } == [nil, true, nil], "\(json.stdout)")
        #expect(objects.last?["error"] as? String == "chain_broken", "\(json.stdout)")

        // The audit of everyone marks the same row; another user's history is untouched.
        let audit = try workspace.enroll(["audit"])
        #expect(audit.status == 1 && audit.stdout.split(separator: "\n").filter { $0.contains("[HASH CHAIN BROKEN HERE]") }.count == 1, "\(audit.stdout)")
        let alice = try workspace.enroll(["history", "alice"])
        #expect(alice.status == 0 && !alice.stdout.contains("HASH CHAIN") && alice.stderr.isEmpty, "\(alice.stdout)\(alice.stderr)")

        // One of alice's own events deleted, her next event being the journal's last row (which
        // still chains to carol's before it): the gap in her stream marks it.
        let ownDatabase = workspace.path("own.sqlite")
        try copyDatabase(workspace, to: ownDatabase)
        _ = try SQLite3.query(ownDatabase, "UPDATE events SET metadata = replace(metadata, '\"actor\":\"admin\"', '\"actor\":\"bob\"') WHERE position = 5")
        #expect(try workspace.enroll(["reveal", "alice", "--format", "uri", "--db", ownDatabase], environment: ["ENROLL_NOW": "1764421700"]).status == 0)
        _ = try SQLite3.query(ownDatabase, "DELETE FROM events WHERE position = 3")
        let own = try workspace.enroll(["history", "alice", "--db", ownDatabase, "--json"])
        let ownObjects = try own.stdout.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:] }
        #expect(own.status == 1 && ownObjects.prefix(3).map { $0["chainBroken"] as? Bool } == [nil, nil, true], "\(own.stdout)")
        #expect(ownObjects.prefix(3).map { $0["streamVersion"] as? Int } == [1, 2, 4], "\(own.stdout)")

        // Rows deleted from the end leave every row before them chained: the projections'
        // checkpoints tell, as verify finds.
        try copyDatabase(workspace, to: workspace.path("tail.sqlite"))
        _ = try SQLite3.query(workspace.path("tail.sqlite"), "DELETE FROM events WHERE position >= 8")
        let tail = try workspace.enroll(["audit", "--db", workspace.path("tail.sqlite"), "--user", "alice"])
        #expect(tail.status == 1 && !tail.stdout.contains("HASH CHAIN"), "\(tail.stdout)")
        #expect(tail.stderr.contains("the journal ends at position 7 but the authenticators projection had applied events up to 9: 2 rows were deleted from it") && tail.stderr.hasSuffix("(chain_broken)\n"), "\(tail.stderr)")

        // Rows deleted from the middle and the rest renumbered look the same to a reader that
        // checks only the rows it shows: it gives their number, not positions it cannot know.
        try copyDatabase(workspace, to: workspace.path("renumbered.sqlite"))
        _ = try SQLite3.query(workspace.path("renumbered.sqlite"), "DELETE FROM events WHERE position IN (2, 3); UPDATE events SET position = position - 2 WHERE position > 3")
        let renumbered = try workspace.enroll(["audit", "--db", workspace.path("renumbered.sqlite")])
        #expect(renumbered.status == 1 && renumbered.stderr.contains("had applied events up to 9: 2 rows were deleted from it"), "\(renumbered.stderr)")
        #expect(!renumbered.stderr.contains("rows 8…9"), "\(renumbered.stderr)")

        // A deleted row: the row after the gap no longer chains.
        try sqlite(workspace, "DELETE FROM events WHERE position = 8")
        let carol = try workspace.enroll(["history", "carol", "--json"])
        let carolObjects = try carol.stdout.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:] }
        #expect(carol.status == 1 && carolObjects.prefix(2).map { $0["chainBroken"] as? Bool } == [nil, true], "\(carol.stdout)")
    }

    @Test("an anchor kept outside the database stays valid as the journal grows, and catches what the chain alone cannot")
    func anchorCatchesRewrites() throws {
        let workspace = try journal()
        let kept = try anchor(workspace)
        #expect(kept.range(of: #"^9:[0-9a-f]{64}$"#, options: .regularExpression) != nil, "\(kept)")

        // Legitimate appends: the journal still holds the anchor.
        _ = try workspace.enroll(["reveal", "alice", "--format", "uri"], environment: ["ENROLL_NOW": "1764421700"])
        let grown = try workspace.enroll(["verify", "--anchor", kept])
        #expect(grown.status == 0 && grown.stdout.contains("Verified 10 events") && grown.stdout.contains("still holds the anchor \(kept)"), "\(grown.stdout)\(grown.stderr)")

        // Someone with write access drops the tail and hides it from the projections'
        // checkpoints: the chain alone verifies, but the command records and projection rows
        // it leaves behind do not.
        try sqlite(workspace, "DELETE FROM events WHERE position >= 8; UPDATE projection_checkpoints SET position = 7")
        let leftovers = try workspace.enroll(["verify"])
        #expect(leftovers.status == 1 && leftovers.stderr.contains("past the stream's last event"), "the leftovers still show the deleted rows: \(leftovers.stderr)")
        // ...then deletes those command records and folds the projections again from what is
        // left: the chain alone cannot see it, the anchor does.
        try sqlite(workspace, "DELETE FROM commands WHERE stream_version > (SELECT max(stream_version) FROM events e WHERE e.stream_id = commands.stream_id)")
        #expect(try Processes.run(try Processes.product("rebuild-projections"), ["--db", workspace.database, "--all"]).status == 0)
        #expect(try workspace.enroll(["verify"]).status == 0, "the chain alone cannot see it")
        let shorter = try workspace.enroll(["verify", "--anchor", kept])
        #expect(shorter.status == 1 && shorter.stderr.contains("ends at position 7, before the anchor at position 9"), "\(shorter.stderr)")
        #expect(shorter.stderr.hasSuffix("(anchor_mismatch)\n"), "the code the README's exit table names, last as in every refusal: \(shorter.stderr)")
        // A mistyped anchor past the end gives the same answer: the message allows for it.
        #expect(shorter.stderr.contains("or the anchor is not one this journal gave") && shorter.stderr.contains("if the anchor is right, restore the journal"), "\(shorter.stderr)")

        // ...then writes new rows in their place with correctly recomputed hashes (here by enroll
        // itself): the chain is intact again, and the anchor still tells.
        for (offset, arguments) in [["reveal", "bob", "--format", "uri"], ["reveal", "carol", "--format", "uri"]].enumerated() {
            _ = try workspace.enroll(arguments, environment: ["ENROLL_NOW": "\(1_764_421_800 + offset)"])
        }
        #expect(try workspace.enroll(["verify"]).status == 0)
        let rewritten = try workspace.enroll(["verify", "--anchor", kept])
        #expect(rewritten.status == 1, "\(rewritten.stdout)")
        #expect(rewritten.stderr.contains("does not have the anchor's hash at position 9: the journal was rewritten"), "\(rewritten.stderr)")
        // A mistyped anchor gives the same answer: the message allows for it.
        #expect(rewritten.stderr.contains("or the anchor is not one this journal gave") && rewritten.stderr.hasSuffix("(anchor_mismatch)\n"), "\(rewritten.stderr)")
        #expect(rewritten.stderr.split(separator: "\n").count == 1)
        let json = try workspace.enrollJSON(["verify", "--anchor", kept]).1
        #expect(json["intact"] as? Bool == false && json["tampering"] as? String == "anchor" && json["position"] as? Int == 9)
        #expect(json["error"] as? String == "anchor_mismatch", "\(json)")
    }

    @Test("projection rows edited, added or deleted by hand are named by their key (exit 1), though the chain is intact; a rebuild from the journal puts them right")
    func projectionsTampered() throws {
        let workspace = try journal()
        try sqlite(workspace, """
            UPDATE authenticators SET status = 'none', issuer = 'EVIL' WHERE user_id = 'bob';
            DELETE FROM authenticators WHERE user_id = 'carol';
            INSERT INTO authenticators (user_id, status, stream_version, updated_at) SELECT 'ghost', status, stream_version, updated_at FROM authenticators WHERE user_id = 'alice';
            UPDATE enrollment_activity SET failed_codes = failed_codes + 5
            """)
        let before = workspace.databaseBytes()
        let text = try workspace.enroll(["verify"])
        #expect(text.status == 1, "\(text.stdout) \(text.stderr)")
        #expect(text.stdout.contains("authenticators: row user_id 'bob' differs: status 'none' (the journal says 'pending'), issuer 'EVIL' (the journal says NULL)"), "\(text.stdout)")
        #expect(text.stdout.contains("authenticators: row user_id 'carol' is missing (the journal has it)"), "\(text.stdout)")
        #expect(text.stdout.contains("authenticators: row user_id 'ghost' is not in the journal"), "\(text.stdout)")
        #expect(text.stdout.contains("enrollment_activity: row day '2025-11-29', issuer 'ACME' differs: failed_codes 8 (the journal says 3)"), "\(text.stdout)")
        #expect(text.stderr.hasPrefix("enroll: error: the projections disagree with the journal in 4 rows: ") && text.stderr.split(separator: "\n").count == 1, "\(text.stderr)")
        // Without an anchor the journal itself may be what changed (rewritten, every hash after
        // the change recomputed): the hint says to check it before a rebuild erases the evidence.
        #expect(text.stderr.contains("the hash chain holds, but so does a journal rewritten with every hash after the change recomputed: check it against an anchor kept outside the database"), "\(text.stderr)")
        #expect(!text.stderr.contains("the journal is intact"), "\(text.stderr)")
        let anchor = try #require(try workspace.enrollJSON(["verify"]).1["anchor"] as? String)
        let anchored = try workspace.enroll(["verify", "--anchor", anchor])
        #expect(anchored.status == 1 && anchored.stderr.contains("(the journal is intact: run `rebuild-projections --db \(workspace.database) --all` to fold the projections from it again)"), "\(anchored.stderr)")
        let (json, object) = try workspace.enrollJSON(["verify"])
        #expect(json.status == 1 && object["tampering"] as? String == "projections" && object["projectionDifferences"] as? Int == 4, "\(json.stdout)")
        #expect(object["verified"] as? Int == 9 && object["head"] as? Int == 9 && (object["anchor"] as? String)?.hasPrefix("9:") == true, "the chain was checked whole: \(json.stdout)")
        #expect(workspace.databaseBytes() == before, "verify writes nothing")
        let rebuilt = try Processes.run(try Processes.product("rebuild-projections"), ["--db", workspace.database, "--all"])
        #expect(rebuilt.status == 0, "\(rebuilt.stderr)")
        #expect(try workspace.enroll(["verify"]).status == 0)
    }

    /// `verify` fails (exit 1) with tampering outside the chain, each finding on a line of its own.
    func expectOutsideChain(_ workspace: Workspace, _ expected: [(kind: String, stream: String, text: String)], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let result = try workspace.enroll(["verify"])
        #expect(result.status == 1, "verify should fail: \(result.stdout)", sourceLocation: sourceLocation)
        let lines = result.stderr.split(separator: "\n").map(String.init)
        #expect(lines.count == expected.count, "\(result.stderr)", sourceLocation: sourceLocation)
        for (line, finding) in zip(lines, expected) {
            #expect(line.hasPrefix("enroll: error: ") && line.contains(finding.text), "\(line)", sourceLocation: sourceLocation)
        }
        let (jsonResult, json) = try workspace.enrollJSON(["verify"])
        #expect(jsonResult.status == 1, sourceLocation: sourceLocation)
        #expect(json["intact"] as? Bool == false && json["tampering"] as? String == "outside-chain", "\(json)", sourceLocation: sourceLocation)
        let findings = (json["findings"] as? [[String: Any]] ?? []).map { ($0["kind"] as? String ?? "", $0["stream"] as? String ?? "") }
        #expect(findings.map(\.0) == expected.map(\.kind) && findings.map(\.1) == expected.map(\.stream), "\(json)", sourceLocation: sourceLocation)
    }

    @Test("a data key deleted while its user was never removed is reported, even once a later request made a new one (a faked crypto-shred)")
    func dataKeyDeleted() throws {
        let workspace = try journal()
        try sqlite(workspace, "DELETE FROM data_keys WHERE stream_id = 'alice'")
        #expect(try SQLite3.query(workspace.database, "SELECT count(*) FROM data_keys") == "2")
        try expectOutsideChain(workspace, [("data_key_deleted", "alice", "'alice' has no data key, yet no AuthenticatorRemoved follows the secret sealed at stream version 1")])
        // A new request seals a new secret under a new key: the first secret stays unreadable.
        let again = try workspace.enroll(["request", "alice", "--issuer", "ACME"], environment: ["ENROLL_NOW": "1764421700"])
        try #require(again.status == 0, "\(again.stderr)")
        try expectOutsideChain(workspace, [("data_key_replaced", "alice", "'alice' was never removed, yet its data key was made at 2025-11-29T13:08:20Z, after its first secret (2025-11-29T13:06:21Z)")])

        // A removal destroys the key as it should: nothing to report.
        let clean = try journal()
        #expect(try clean.enroll(["remove", "alice"], environment: ["ENROLL_NOW": "1764421700"]).status == 0)
        #expect(try SQLite3.query(clean.database, "SELECT count(*) FROM data_keys WHERE stream_id = 'alice'") == "0")
        let verified = try clean.enroll(["verify"])
        #expect(verified.status == 0, "\(verified.stderr)")
    }

    @Test("rows deleted from the end with the checkpoints lowered are reported through the command records they leave behind")
    func leftoversOfDeletedTail() throws {
        let workspace = try journal()
        try sqlite(workspace, "DELETE FROM events WHERE position >= 8; UPDATE projection_checkpoints SET position = 7")
        try expectOutsideChain(workspace, [
            ("command_past_stream", "carol", "the record of a ConfirmCode command for 'carol' is at stream version 2, past the stream's last event (version 1)"),
            ("command_past_stream", "carol", "the record of a RevealSecretText command for 'carol' is at stream version 3, past the stream's last event (version 1)"),
        ])
        // The whole of carol's stream gone: her data key is left too.
        try sqlite(workspace, "DELETE FROM events WHERE position = 7; UPDATE projection_checkpoints SET position = 6")
        let json = try workspace.enrollJSON(["verify"]).1
        let kinds = (json["findings"] as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String }
        #expect(kinds.contains("data_key_without_events") && kinds.filter { $0 == "command_past_stream" }.count == 3, "\(json)")
    }

    @Test("an imported copy, which has no data keys or command records, verifies clean, also after commands ran on it")
    func importedCopyIsNotTampered() throws {
        let workspace = try journal()
        let file = workspace.path("journal.jsonl")
        #expect(try workspace.enroll(["export", "--output", file]).status == 0)
        let copy = workspace.path("copy.sqlite")
        #expect(try workspace.enroll(["import", file, "--db", copy]).status == 0)
        #expect(try SQLite3.query(copy, "SELECT count(*) FROM data_keys") == "0")
        for (offset, arguments) in [["request", "dora"], ["request", "alice"], ["remove", "bob"]].enumerated() {
            let result = try workspace.enroll(arguments + ["--db", copy, "--key-file", workspace.path("copy.key")], environment: ["ENROLL_NOW": "\(1_764_421_700 + offset)"])
            #expect(result.status == 0, "\(arguments): \(result.stderr)")
        }
        let verified = try workspace.enroll(["verify", "--db", copy])
        #expect(verified.status == 0 && verified.stdout.hasPrefix("Verified 12 events"), "\(verified.stdout)\(verified.stderr)")
    }

    @Test("a projection behind the journal (appends by another version of enroll) is not compared and not called tampering: a note says so, exit 0")
    func laggingProjection() throws {
        let workspace = try journal()
        // What an older enroll appending after the upgrade leaves: activity's checkpoint behind.
        try sqlite(workspace, "UPDATE projection_checkpoints SET position = position - 2 WHERE name = 'enrollment_activity'")
        let result = try workspace.enroll(["verify"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("The projections agree with the journal (authenticators folded again and compared row by row)."), "\(result.stdout)")
        #expect(result.stdout.contains("note: enrollment_activity was not compared with the journal: it has folded the journal up to position 7 of 9 (events appended by another version of enroll); run `rebuild-projections --db \(workspace.database) --projection enrollment_activity`"), "\(result.stdout)")
    }

    @Test("activity, whose unrecorded expiries come from the authenticators projection, refuses that projection stale or lagging (exit 3, naming it and the rebuild), rather than counting none")
    func activityNeedsCurrentAuthenticators() throws {
        for edit in ["UPDATE projection_checkpoints SET schema_version = 3 WHERE name = 'authenticators'",
                     "UPDATE projection_checkpoints SET position = position - 2 WHERE name = 'authenticators'"] {
            let workspace = try journal()
            #expect(try workspace.enroll(["activity"]).status == 0)
            try sqlite(workspace, edit)
            let result = try workspace.enroll(["activity", "--json"])
            #expect(result.status == 3, "\(edit): \(result.stdout)\(result.stderr)")
            #expect(result.stderr.contains("authenticators") && result.stderr.contains("rebuild-projections --db \(workspace.database) --projection authenticators"), "\(edit): \(result.stderr)")
            #expect(!result.stdout.contains("unrecordedExpiries"), "\(edit): \(result.stdout)")
        }
    }

    @Test("verify's note on a projection a newer enroll wrote says to upgrade, not to run the rebuild that would refuse it (and, forced, take it back under the newer readers)")
    func newerProjectionNote() throws {
        let workspace = try journal()
        try sqlite(workspace, "UPDATE projection_checkpoints SET schema_version = 9 WHERE name = 'enrollment_activity'")
        let result = try workspace.enroll(["verify"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("note: enrollment_activity was not compared with the journal: its table is version 9, written by a newer version of enroll (this code folds version 2); upgrade enroll to compare it"), "\(result.stdout)")
        #expect(!result.stdout.contains("rebuild-projections"), "\(result.stdout)")
    }

    @Test("a journal table dropped by hand: each command that needs it names the table and the way back (a backup, or an import of an export), exit 3; history and export still read the journal")
    func droppedJournalTable() throws {
        for (table, needing) in [("projection_checkpoints", [["status", "alice"], ["confirm", "alice", "123456"], ["verify"]]),
                                 ("commands", [["confirm", "alice", "123456"], ["verify"]])] {
            let workspace = try journal()
            try sqlite(workspace, "DROP TABLE \(table)")
            for arguments in needing {
                let result = try workspace.enroll(arguments)
                #expect(result.status == 3, "\(table) \(arguments): \(result.stderr)")
                #expect(result.stderr == "enroll: error: \(workspace.database) lacks its table \(table) (dropped outside enroll); restore the database from a backup, or rebuild it with `enroll import` from an export\n",
                        "\(table) \(arguments): \(result.stderr)")
            }
            let history = try workspace.enroll(["history", "alice"])
            #expect(history.status == 0 && history.stdout.contains("EnrollmentRequested"), "\(table): \(history.stderr)")
            let exported = try workspace.enroll(["export", "--output", workspace.path("\(table).jsonl")])
            #expect(exported.status == 0, "\(table): \(exported.stderr)")
        }
    }

    @Test("a malformed anchor is bad input: one line, exit 2")
    func malformedAnchor() throws {
        let workspace = try journal()
        for bad in ["9", "x:00", "9:" + String(repeating: "0", count: 63), "9:" + String(repeating: "g", count: 64)] {
            let result = try workspace.enroll(["verify", "--anchor=\(bad)"])
            #expect(result.status == 2, "\(bad): \(result.stderr)")
            #expect(result.stderr.contains("--anchor must be POSITION:HASH"), "\(bad): \(result.stderr)")
        }
    }

    @Test("an anchor at position 0 or below is bad input naming the position, never a rewritten journal")
    func anchorBeforeTheFirstPosition() throws {
        let workspace = try journal()
        let before = workspace.databaseBytes()
        for bad in ["0:" + String(repeating: "a", count: 64), "0:" + String(repeating: "0", count: 64), "-1:" + String(repeating: "0", count: 64)] {
            for arguments in [["verify", "--anchor=\(bad)"], ["verify", "--anchor", bad]] {
                let result = try workspace.enroll(arguments)
                #expect(result.status == 2, "\(arguments): exit \(result.status), \(result.stderr)")
                #expect(result.stderr.split(separator: "\n").count == 1, "\(arguments): \(result.stderr)")
                #expect(result.stderr.contains("--anchor position must be 1 or more (journal positions start at 1)"), "\(arguments): \(result.stderr)")
                #expect(!result.stderr.contains("rewritten"), "\(arguments): \(result.stderr)")
            }
        }
        #expect(workspace.databaseBytes() == before)
    }

    @Test("a modified row is named by its position, with the row before it, which could have been modified and re-hashed instead")
    func modified() throws {
        let workspace = try journal()
        try sqlite(workspace, "UPDATE events SET data = replace(data, 'ACME', 'EVIL') WHERE position = 4")
        let message = try expectBreak(workspace, position: 4, tampering: "modified", verified: 2)
        #expect(message.contains("the row at position 4 (event "), "\(message)")
        #expect(message.contains("or the row at position 3 (event "), "\(message)")
        #expect(message.contains("the 2 events before position 3 verified"), "\(message)")
        #expect(try workspace.enrollJSON(["verify"]).1["earliestChanged"] as? Int == 3)
    }

    @Test("a row edited with its own hash recomputed is not reported as verified: the break names it as well as the innocent row after it")
    func modifiedAndRehashed() throws {
        let workspace = try journal()
        // Row 10 is written twice from the same 9 rows, by enroll itself: once by helpdesk
        // (followed by rows 11 and 12), once, in a copy, by mallory. Putting the copy's row 10,
        // with the hash enroll computed for it, in place of the first is an edit of row 10 with
        // its hash recomputed.
        let copy = workspace.path("copy.sqlite")
        try copyDatabase(workspace, to: copy)
        for (offset, user) in ["alice", "bob", "carol"].enumerated() {
            let revealed = try workspace.enroll(["reveal", user, "--format", "uri", "--actor", "helpdesk"], environment: ["ENROLL_NOW": "\(1_764_421_700 + offset)"])
            try #require(revealed.status == 0, "\(revealed.stderr)")
        }
        let forged = try workspace.enroll(["reveal", "alice", "--format", "uri", "--actor", "mallory", "--db", copy], environment: ["ENROLL_NOW": "1764421700"])
        try #require(forged.status == 0, "\(forged.stderr)")
        try sqlite(workspace, """
            ATTACH '\(copy)' AS copy;
            UPDATE events SET (event_id, data, metadata, recorded_at, hash) =
                (SELECT event_id, data, metadata, recorded_at, hash FROM copy.events WHERE position = 10) WHERE position = 10;
            """)
        #expect(try SQLite3.query(workspace.database, "SELECT json_extract(metadata, '$.actor') FROM events WHERE position = 10") == "mallory")

        let message = try expectBreak(workspace, position: 11, tampering: "modified", verified: 9)
        #expect(message.contains("the row at position 11 (event "), "\(message)")
        #expect(message.contains("or the row at position 10 (event "), "\(message)")
        #expect(message.contains("modified and its hash recomputed"), "\(message)")
        #expect(message.contains("the 9 events before position 10 verified"), "\(message)")
        let json = try workspace.enrollJSON(["verify"]).1
        #expect(json["earliestChanged"] as? Int == 10, "\(json)")
        #expect((json["detail"] as? String)?.contains("or the row at position 10") == true, "\(json)")

        // The same journal exported (written as stored, but refused: exit 1, chain_broken, no
        // anchor) and imported: import names both lines too.
        let file = workspace.path("forged.jsonl")
        let exported = try workspace.enroll(["export", "--output", file])
        #expect(exported.status == 1 && exported.stderr.contains("the row at position 11 does not follow the hash chain") && !exported.stdout.contains("Anchor:"), "\(exported.stdout)\(exported.stderr)")
        let imported = try workspace.enroll(["import", file, "--db", workspace.path("imported.sqlite")])
        #expect(imported.status == 2, "\(imported.stdout)")
        #expect(imported.stderr.contains("line 11 (position 11) does not chain from the line before it: this line was edited, or the one before it was edited and its hash recomputed"), "\(imported.stderr)")
    }

    @Test("a row whose stored hash alone was overwritten is reported as modified at that position, its columns as appended")
    func hashOverwritten() throws {
        let workspace = try journal()
        try sqlite(workspace, "UPDATE events SET hash = zeroblob(32) WHERE position = 5")
        let message = try expectBreak(workspace, position: 5, tampering: "modified", verified: 4)
        #expect(message.contains("the hash stored at position 5"), "\(message)")
        #expect(message.contains("4 events before it verified"), "\(message)")
    }

    @Test("a modified last row is named, with the row before it")
    func modifiedLast() throws {
        let workspace = try journal()
        try sqlite(workspace, "UPDATE events SET recorded_at = recorded_at + 1 WHERE position = 9")
        let message = try expectBreak(workspace, position: 9, tampering: "modified", verified: 7)
        #expect(message.contains("the last row, at position 9"), "\(message)")
        #expect(message.contains("or the row at position 8"), "\(message)")
    }

    @Test("a modified first row is named alone: nothing before it could have been re-hashed")
    func modifiedFirst() throws {
        let workspace = try journal()
        try sqlite(workspace, "UPDATE events SET data = replace(data, 'ACME', 'EVIL') WHERE position = 1")
        let message = try expectBreak(workspace, position: 1, tampering: "modified", verified: 0)
        #expect(!message.contains("or the row at position"), "\(message)")
        #expect(message.contains("no event verified"), "\(message)")
    }

    @Test("two adjacent rows modified are reported as broken, from the row before them")
    func twoModified() throws {
        let workspace = try journal()
        try sqlite(workspace, "UPDATE events SET recorded_at = recorded_at + 1 WHERE position IN (5, 6)")
        let message = try expectBreak(workspace, position: 5, tampering: "broken", verified: 3)
        #expect(message.contains("more than one row was changed (from position 4 on"), "\(message)")
    }

    @Test("an empty journal verifies with no anchor, in text and JSON, rather than one --anchor refuses")
    func emptyJournal() throws {
        let workspace = try journal()
        try sqlite(workspace, "DELETE FROM events; UPDATE projection_checkpoints SET position = 0; DELETE FROM commands; DELETE FROM data_keys; DELETE FROM authenticators; DELETE FROM enrollment_activity")
        let result = try workspace.enroll(["verify"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "Verified 0 events: the hash chain is intact.\nThe projections agree with the journal (authenticators, enrollment_activity folded again and compared row by row).\nNo anchor yet: the journal is empty, so there is nothing to anchor; verify again once it holds events.\n", "\(result.stdout)")
        let (jsonResult, json) = try workspace.enrollJSON(["verify"])
        #expect(jsonResult.status == 0 && json["intact"] as? Bool == true && json["verified"] as? Int == 0, "\(jsonResult.stdout)")
        #expect(json["anchor"] == nil, "\(jsonResult.stdout)")
    }

    @Test("verify notes, without failing, where recorded times go backwards, in text and JSON")
    func timesGoBack() throws {
        let workspace = try journal()
        // The journal's events run from 2025-11-29T13:06:21Z; this one says a day earlier.
        let backdated = try workspace.enroll(["remove", "alice", "--actor", "alice"], environment: ["ENROLL_NOW": "1764300000"])
        try #require(backdated.status == 0, "\(backdated.stderr)")
        _ = try workspace.enroll(["remove", "bob"], environment: ["ENROLL_NOW": "1764300001"])
        _ = try workspace.enroll(["remove", "carol"], environment: ["ENROLL_NOW": "1764200000"])
        let last = try SQLite3.query(workspace.database, "SELECT strftime('%Y-%m-%dT%H:%M:%SZ', recorded_at, 'unixepoch') FROM events WHERE position = 9")
        let result = try workspace.enroll(["verify"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "Verified 12 events: the hash chain is intact.", "\(result.stdout)")
        #expect(lines.last == "note: recorded times go back by more than 10 s at 2 positions (first at position 10: 2025-11-28T03:20:00Z after \(last)); event times are the clock of the process that appended them (a clock set back, or ENROLL_NOW)", "\(result.stdout)")
        let (jsonResult, json) = try workspace.enrollJSON(["verify"])
        #expect(jsonResult.status == 0)
        let back = try #require(json["timeGoesBack"] as? [String: Any], "\(jsonResult.stdout)")
        #expect(back["positions"] as? Int == 2 && back["firstPosition"] as? Int == 10, "\(back)")
        #expect(back["recordedAt"] as? String == "2025-11-28T03:20:00Z" && back["after"] as? String == last, "\(back)")
    }

    @Test("a step back of up to 10 s (commands decided at once, appended in another order) is not noted; one of 11 s is")
    func concurrentReorderIsNotNoted() throws {
        let workspace = try journal()
        // The journal's last event is at 1 764 421 621.
        #expect(try workspace.enroll(["remove", "alice"], environment: ["ENROLL_NOW": "1764421611"]).status == 0)
        let (small, smallJSON) = try workspace.enrollJSON(["verify"])
        #expect(small.status == 0 && smallJSON["timeGoesBack"] == nil, "\(small.stdout)")
        #expect(try workspace.enroll(["remove", "bob"], environment: ["ENROLL_NOW": "1764421600"]).status == 0)
        let (large, largeJSON) = try workspace.enrollJSON(["verify"])
        let back = largeJSON["timeGoesBack"] as? [String: Any]
        #expect(large.status == 0 && back?["positions"] as? Int == 1 && back?["firstPosition"] as? Int == 11, "\(large.stdout)")
    }

    @Test("a deleted row is named by its position")
    func deleted() throws {
        let workspace = try journal()
        try sqlite(workspace, "DELETE FROM events WHERE position = 5")
        try expectBreak(workspace, position: 5, tampering: "deleted")
    }

    @Test("a deleted row is found even when the rows after it are renumbered to close the gap")
    func deletedAndRenumbered() throws {
        let workspace = try journal()
        try sqlite(workspace, "DELETE FROM events WHERE position = 5; UPDATE events SET position = position - 1 WHERE position > 5;")
        try expectBreak(workspace, position: 5, tampering: "deleted")
    }

    @Test("a row moved out of its place (its position raised past the head, beyond the rows verify looks at first) is named as moved there, not deleted: it is still in the table")
    func movedOutOfPlace() throws {
        let workspace = try Workspace()
        // 80 events: the moved row lands further on than the 64 rows read after the gap.
        for (index, user) in (1...40).map({ "user\($0)" }).enumerated() {
            for arguments in [["request", user], ["reveal", user, "--format", "uri"]] {
                _ = try workspace.enroll(arguments, environment: ["ENROLL_NOW": "\(1_764_421_576 + index * 10)"])
            }
        }
        try sqlite(workspace, "UPDATE events SET position = position + 1000 WHERE position = 5")
        let error = try expectBreak(workspace, position: 5, tampering: "reordered")
        #expect(error.contains(#/the row of position 5 \(event [0-9a-f-]+\) is now at position 1005: it was moved, not deleted; 4 events before it verified/#), "\(error)")
        // Two rows moved: the first is named, and the gap after it.
        try sqlite(workspace, "UPDATE events SET position = position + 1000 WHERE position = 6")
        let two = try expectBreak(workspace, position: 5, tampering: "reordered")
        #expect(two.contains("is now at position 1005: it was moved, not deleted; row 6 is not in its place either"), "\(two)")
        // The last row moved past the head: no rows after it are said to be out of place.
        let last = try Workspace()
        for user in ["ann", "bea"] { _ = try last.enroll(["request", user], environment: ["ENROLL_NOW": "1764421576"]) }
        try sqlite(last, "UPDATE events SET position = position + 1000 WHERE position = 2")
        let moved = try last.enroll(["verify"])
        #expect(moved.status == 1 && moved.stderr.contains("is now at position 1002: it was moved, not deleted") && !moved.stderr.contains("not in their places") && !moved.stderr.contains("not in its place"), "\(moved.stderr)")
        // Not the last: the rows between it and its new place are said to be out of place too.
        let four = try Workspace()
        for user in ["ann", "bea", "cy", "dee"] { _ = try four.enroll(["request", user], environment: ["ENROLL_NOW": "1764421576"]) }
        try sqlite(four, "UPDATE events SET position = 10 WHERE position = 3; UPDATE events SET position = 11 WHERE position = 4")
        let both = try four.enroll(["verify"])
        #expect(both.stderr.contains("is now at position 10: it was moved, not deleted; rows 4…9 are not in their places either"), "\(both.stderr)")
    }

    @Test("rows deleted at the end are found through the projections' checkpoints")
    func deletedTail() throws {
        let workspace = try journal()
        try sqlite(workspace, "DELETE FROM events WHERE position >= 8")
        try expectBreak(workspace, position: 8, tampering: "deleted")
    }

    @Test("an inserted row is named by its position")
    func inserted() throws {
        let workspace = try journal()
        try sqlite(workspace, """
            UPDATE events SET position = position + 1000 WHERE position >= 6;
            UPDATE events SET position = position - 999 WHERE position >= 1006;
            INSERT INTO events (position, stream_id, stream_version, event_id, type, schema_version, data, metadata, recorded_at, hash)
            VALUES (6, 'mallory', 1, 'forged', 'AuthenticatorRemoved', 1, '{"hadActive":true}', '{"actor":"mallory","commandId":"x"}', 1764421600, randomblob(32));
            """)
        try expectBreak(workspace, position: 6, tampering: "inserted")
    }

    @Test("reordered rows are named by the first position out of place")
    func reordered() throws {
        let workspace = try journal()
        try sqlite(workspace, """
            UPDATE events SET position = -1 WHERE position = 3;
            UPDATE events SET position = 3 WHERE position = 7;
            UPDATE events SET position = 7 WHERE position = -1;
            """)
        try expectBreak(workspace, position: 3, tampering: "reordered")
    }

    @Test("a row whose number columns were overwritten with text is reported, not a crash")
    func wrongTypes() throws {
        let workspace = try journal()
        try sqlite(workspace, "UPDATE events SET stream_version = 'two', recorded_at = 'noon' WHERE position = 2")
        try expectBreak(workspace, position: 2, tampering: "modified", verified: 0)
    }
}
