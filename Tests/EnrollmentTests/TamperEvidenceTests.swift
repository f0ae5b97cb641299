import Foundation
import Testing

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
        #expect(lines.count == 2 && lines[1].hasPrefix("Anchor: 9:"), "\(verified.stdout)")
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

    func expectBreak(_ workspace: Workspace, position: Int, tampering: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let result = try workspace.enroll(["verify"])
        #expect(result.status == 1, "verify should fail: \(result.stdout)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains("breaks at position \(position) (\(tampering))"), "\(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.split(separator: "\n").count == 1, sourceLocation: sourceLocation)
        let json = try workspace.enrollJSON(["verify"]).1
        #expect(json["intact"] as? Bool == false && json["position"] as? Int == position && json["tampering"] as? String == tampering, sourceLocation: sourceLocation)
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
        // checkpoints: the chain alone verifies, the anchor does not.
        try sqlite(workspace, "DELETE FROM events WHERE position >= 8; UPDATE projection_checkpoints SET position = 7")
        #expect(try workspace.enroll(["verify"]).status == 0, "the chain alone cannot see it")
        let shorter = try workspace.enroll(["verify", "--anchor", kept])
        #expect(shorter.status == 1 && shorter.stderr.contains("ends at position 7, before the anchor at position 9"), "\(shorter.stderr)")

        // ...then writes new rows in their place with correctly recomputed hashes (here by enroll
        // itself): the chain is intact again, and the anchor still tells.
        for (offset, arguments) in [["reveal", "bob", "--format", "uri"], ["reveal", "carol", "--format", "uri"]].enumerated() {
            _ = try workspace.enroll(arguments, environment: ["ENROLL_NOW": "\(1_764_421_800 + offset)"])
        }
        #expect(try workspace.enroll(["verify"]).status == 0)
        let rewritten = try workspace.enroll(["verify", "--anchor", kept])
        #expect(rewritten.status == 1, "\(rewritten.stdout)")
        #expect(rewritten.stderr.contains("no longer has the anchor's hash at position 9: the journal was rewritten"), "\(rewritten.stderr)")
        #expect(rewritten.stderr.split(separator: "\n").count == 1)
        let json = try workspace.enrollJSON(["verify", "--anchor", kept]).1
        #expect(json["intact"] as? Bool == false && json["tampering"] as? String == "anchor" && json["position"] as? Int == 9)
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

    @Test("a modified row is named by its position")
    func modified() throws {
        let workspace = try journal()
        try sqlite(workspace, "UPDATE events SET data = replace(data, 'ACME', 'EVIL') WHERE position = 4")
        try expectBreak(workspace, position: 4, tampering: "modified")
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
        try expectBreak(workspace, position: 2, tampering: "modified")
    }
}
