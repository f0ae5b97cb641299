import Enrollment
import Foundation
import TestSupport
import Testing

/// Rows edited with the sqlite3 command line: a sealed secret edited into text enroll never
/// sealed is not read as a forgotten one (a crypto-shred that did not happen); an edited type
/// reaches no error line raw; and ids that are only canonically equal are never taken for one
/// user.
extension TamperEvidenceTests {
    /// bob's request (position 4) with its sealedSecret replaced by what `edit` makes of it.
    func editBobsSealedSecret(_ edit: (String) -> String) throws -> (Workspace, sealed: String) {
        let workspace = try journal()
        let sealed = try SQLite3.query(workspace.database, "SELECT json_extract(data, '$.sealedSecret') FROM events WHERE position = 4")
        try #require(sealed.count > 40)
        try sqlite(workspace, "UPDATE events SET data = json_set(data, '$.sealedSecret', '\(edit(sealed))') WHERE position = 4")
        return (workspace, sealed)
    }

    @Test("the commands a tamper refusal suggests name the database it was given: `enroll verify --db …`, copied from history's chain_broken line and run elsewhere, finds the edit (an intact ./enrollment.sqlite there is not checked)")
    func suggestedVerifyNamesTheDatabase() throws {
        let workspace = try journal()
        try sqlite(workspace, "UPDATE events SET recorded_at = recorded_at + 1 WHERE position = 1")
        let history = try workspace.enroll(["history", "alice"])
        #expect(history.status == 1 && history.stderr.contains("run `enroll verify --db \(workspace.database)` to see where and how"), "\(history.stderr)")
        let line = history.stderr
        let suggested = try #require(line.range(of: "`enroll verify").map { String(line[$0.lowerBound...].dropFirst().prefix { $0 != "`" }) })
        // Another directory with an intact journal of its own at the default path.
        let elsewhere = try Workspace()
        #expect(try Processes.run(
            "/usr/bin/env", ["-u", "ENROLL_DB", "-u", "ENROLL_KEY_FILE", try Processes.product("enroll"), "request", "zed"], directory: elsewhere.directory).status == 0)
        let copied = try Processes.run(
            "/bin/sh", ["-c", "exec env -u ENROLL_DB -u ENROLL_KEY_FILE '\(try Processes.product("enroll"))' " + suggested.dropFirst("enroll ".count)],
            directory: elsewhere.directory)
        #expect(copied.status != 0 && !copied.stdout.contains("the hash chain is intact"), "\(suggested): \(copied.stdout) \(copied.stderr)")
    }

    @Test("a sealed secret edited into text that is no sealed secret (not Base64, or too short for an AES-GCM box) is listed as unreadable, not as forgotten; commands refuse with undecodable_event, not a missing data key", arguments: [
        "not Base64", "too short",
    ])
    func sealedSecretThatIsNone(_ kind: String) throws {
        let (workspace, sealed) = try editBobsSealedSecret { sealed in
            kind == "not Base64" ? String(sealed.prefix(10)) + "!" + String(sealed.dropFirst(11)) : "AAAAAAAA"
        }
        let history = try workspace.enroll(["history", "bob"])
        let rows = Array(history.stdout.split(separator: "\n").dropFirst())
        #expect(history.status == 1 && history.stderr.hasSuffix("(chain_broken)\n"), "\(history.stderr)")
        #expect(rows.count == 3 && rows[0].hasSuffix(
            "[HASH CHAIN BROKEN HERE] [UNREADABLE: its sealedSecret is not a sealed secret (the Base64 of an AES-256-GCM box of at least 44 bytes)]"),
            "\(history.stdout)")
        #expect(!history.stdout.contains("forgotten"), "\(history.stdout)")

        for arguments in [["reveal", "bob", "--format", "uri"], ["confirm", "bob", "123456"]] {
            let result = try workspace.enroll(arguments, environment: ["ENROLL_NOW": "1764421700"])
            #expect(result.status == 3 && result.stderr.contains("cannot be read: its sealedSecret is not a sealed secret"), "\(arguments): \(result.stderr)")
            #expect(!result.stderr.contains("data key") && !result.stderr.contains(sealed), "\(arguments): \(result.stderr)")
        }
        // Nothing was appended by the refused commands.
        #expect(try SQLite3.query(workspace.database, "SELECT MAX(position) FROM events") == "9")
    }

    @Test("two users whose ids are the same text composed and decomposed (café, café) are two streams to verify too: an untouched journal verifies intact")
    func canonicallyEquivalentUsersVerify() throws {
        let workspace = try Workspace()
        let composed = "caf\u{E9}", decomposed = "cafe\u{301}"
        for (index, arguments) in [["request", composed], ["confirm", composed, "123456"], ["request", decomposed], ["reveal", decomposed], ["reveal", composed]].enumerated() {
            let result = try workspace.enroll(arguments, environment: ["ENROLL_NOW": "\(1_764_421_576 + index)"])
            #expect(result.status == 0 || arguments[0] == "confirm", "\(arguments): \(result.stderr)")
        }
        #expect(try SQLite3.query(workspace.database, "SELECT COUNT(DISTINCT stream_id) FROM events") == "2")
        let verified = try workspace.enroll(["verify"])
        #expect(verified.status == 0 && verified.stdout.hasPrefix("Verified 5 events: the hash chain is intact."), "\(verified.stdout)\(verified.stderr)")
    }

    @Test("an edited type holding a terminal escape, a line break and 100 000 characters reaches the error lines of commands and of rebuild-projections cut and without control characters: one short line each")
    func editedTypeInErrors() throws {
        let workspace = try journal()
        let forged = "Auth\u{1B}[31m\n2026-01-01T00:00:00+0000 info enrollment.access: status=200 user=admin" + String(repeating: "x", count: 100_000)
        try sqlite(workspace, "UPDATE events SET type = '\(forged)' WHERE position = 2")
        let confirm = try workspace.enroll(["confirm", "alice", "123456"], environment: ["ENROLL_NOW": "1764421700"])
        let rebuild = try Processes.run(try Processes.product("rebuild-projections"), ["--db", workspace.database, "--all"])
        for (name, result) in [("confirm", confirm), ("rebuild-projections", rebuild)] {
            #expect(result.status == 3, "\(name): \(result.stderr.prefix(300))")
            #expect(result.stderr.split(separator: "\n").count == 1 && result.stderr.count < 400, "\(name): \(result.stderr.prefix(600))")
            #expect(!result.stderr.contains("\u{1B}") && result.stderr.contains("(Auth?[31m?2026-01-01T00:00:00+0000 info …) cannot be read"), "\(name): \(result.stderr.prefix(600))")
        }
    }

    @Test("a time edited into text ('yesterday'), a fraction (1.5) or a number outside 1970-9999 is reported as the edit it is, not read as 1969 or 1970: history lists the row as unreadable, rebuild-projections and commands refuse it (exit 3) and write no 1970 activity, and no audit time window hides it", arguments: ["'yesterday'", "1.5", "-1", "99999999999999"])
    func timeEditedIntoText(_ time: String) throws {
        let reason = Int64(time).map { "its recorded time \($0) is not a time between 1970 and 9999" } ?? "its column recorded_at holds a value of another type"
        let workspace = try journal()
        try sqlite(workspace, "UPDATE events SET recorded_at = \(time) WHERE position = 2")
        let history = try workspace.enroll(["history", "alice"])
        let rows = Array(history.stdout.split(separator: "\n").dropFirst())
        #expect(history.status == 1 && rows.count == 3, "\(history.stdout)\(history.stderr)")
        #expect(rows[1].hasSuffix("[UNREADABLE: \(reason)]"), "\(history.stdout)")

        let activity = try SQLite3.query(workspace.database, "SELECT * FROM enrollment_activity ORDER BY day")
        let rebuild = try Processes.run(try Processes.product("rebuild-projections"), ["--db", workspace.database, "--all"])
        #expect(rebuild.status == 3 && rebuild.stderr.contains("the event at position 2 (CodeRejected) cannot be read: \(reason)"), "\(rebuild.stderr)")
        #expect(try SQLite3.query(workspace.database, "SELECT * FROM enrollment_activity ORDER BY day") == activity)
        #expect(!activity.contains("1970"))
        let reveal = try workspace.enroll(["reveal", "alice", "--format", "uri"], environment: ["ENROLL_NOW": "1764421700"])
        #expect(reveal.status == 3 && reveal.stderr.contains(reason), "\(reveal.stderr)")
        // Its time is shown as unknown, not as 1970, and no time window hides it (text sorts
        // above every number, a fraction among them: each was listed only by some windows).
        #expect(rows[1].hasPrefix("(time unreadable)"), "\(history.stdout)")
        let json = try workspace.enroll(["history", "alice", "--json"])
        #expect(!json.stdout.contains("1970-") && !json.stdout.contains("1969-") && json.stdout.contains(#""unreadable""#), "\(json.stdout)")
        let recorded = try SQLite3.query(workspace.database, "SELECT recorded_at FROM events WHERE position = 1")
        let day = String(Timestamps.iso8601(try #require(Int64(recorded))).prefix(10))
        for window in [["--since", day + "T00:00:00Z"], ["--until", "2100-01-01T00:00:00Z"], ["--since", day + "T00:00:00Z", "--until", "2100-01-01T00:00:00Z"]] {
            let audit = try workspace.enroll(["audit"] + window)
            #expect(audit.status == 1 && audit.stdout.contains("(time unreadable)"), "\(window): \(audit.stdout)\(audit.stderr)")
        }
    }

    @Test("export of a journal whose last rows were deleted writes the rows as stored but refuses (exit 1, chain_broken) without an anchor or end line (so import refuses the file as cut), whether a projection's checkpoint or only the command records show the deletion; an intact journal exports with its anchor", arguments: [false, true])
    func exportOfATruncatedJournal(_ projectionsRefolded: Bool) throws {
        let workspace = try journal()
        let intact = try workspace.enroll(["export", "--output", workspace.path("intact.jsonl")])
        #expect(intact.status == 0 && intact.stdout.contains("\nAnchor: 9:"), "\(intact.stdout)\(intact.stderr)")
        try sqlite(workspace, "DELETE FROM events WHERE position >= 8")
        if projectionsRefolded {
            // The deleter folds the projections again: only the command records still tell.
            #expect(try Processes.run(try Processes.product("rebuild-projections"), ["--db", workspace.database, "--all", "--accept-missing-events"]).status == 0)
        }
        let file = workspace.path("cut.jsonl")
        let export = try workspace.enroll(["export", "--output", file])
        #expect(export.status == 1 && export.stderr.contains("(chain_broken)") && !export.stdout.contains("Anchor:"), "\(export.stdout)\(export.stderr)")
        #expect(export.stderr.contains(projectionsRefolded ? "past the stream's last event" : "rows 8…9 were deleted"), "\(export.stderr)")
        let kept = try String(contentsOfFile: file, encoding: .utf8)
        #expect(kept.split(separator: "\n").count == 7 && !kept.contains(#"{"end":"#), "the rows as stored are kept, without the end line that vouches for them")
        let imported = try workspace.enroll(["import", file, "--db", workspace.path("copy.sqlite")])
        #expect(imported.status == 2 && imported.stderr.contains("(position 7) without the end line"), "\(imported.stderr)")
        let json = try workspace.enroll(["export", "--output", file, "--json"])
        let summary = (try? JSONSerialization.jsonObject(with: Data(json.stdout.split(separator: "\n").first.map(String.init)?.utf8 ?? "".utf8))) as? [String: Any]
        #expect(json.status == 1 && summary?["chainBroken"] as? Bool == true && summary?["anchor"] == nil, "\(json.status) \(json.stdout) \(json.stderr)")
    }

    @Test("export of a journal whose own records cannot be read (a table the check reads dropped by hand) writes its rows, which chain, with the anchor and end line (the way back is an import of it), and warns in one line that rows deleted from its end could not be told")
    func exportWhenTheCheckCannotRun() throws {
        let workspace = try journal()
        try sqlite(workspace, "DROP TABLE data_keys")
        let file = workspace.path("copy.jsonl")
        let export = try workspace.enroll(["export", "--output", file])
        #expect(export.status == 0 && export.stdout.contains("\nAnchor: 9:"), "\(export.stdout)\(export.stderr)")
        #expect(export.stderr == "enroll: warning: the rows chain, but the journal's own records could not be read to tell rows deleted from its end (no such table: data_keys); compare the anchor with one taken before, or with `enroll verify` on a backup\n", "\(export.stderr)")
        #expect(try String(contentsOfFile: file, encoding: .utf8).contains(#"{"end":"#))
    }

    @Test("a number column edited to hold a fraction (schema_version 2.5, recorded_at + 0.5) is an edit verify reports (exit 1, modified at its position), even with an anchor taken before; export keeps it visible (the import refuses the file) and commands refuse the row", arguments: ["schema_version = 2.5", "recorded_at = recorded_at + 0.5", "stream_version = stream_version + 0.5"])
    func fractionInANumberColumn(_ edit: String) throws {
        let workspace = try journal()
        let before = try workspace.enroll(["verify"])
        let anchor = try #require(before.stdout.split(separator: "\n").first { $0.hasPrefix("Anchor: ") }).dropFirst("Anchor: ".count)
        try sqlite(workspace, "UPDATE events SET \(edit) WHERE position = 2")
        for arguments in [["verify"], ["verify", "--anchor", String(anchor)]] {
            let verify = try workspace.enrollJSON(arguments)
            #expect(verify.0.status == 1, "\(arguments): \(verify.0.stdout)\(verify.0.stderr)")
            #expect(verify.1["position"] as? Int == 2 && verify.1["tampering"] as? String == "modified", "\(verify.0.stdout)")
        }
        let history = try workspace.enroll(["history", "alice"])
        #expect(history.status == 1 && history.stdout.contains("[HASH CHAIN BROKEN HERE]"), "\(history.stdout)\(history.stderr)")
        let exported = workspace.path("export.jsonl")
        // Written as stored (the evidence), without an anchor, and refused as history refuses it.
        let export = try workspace.enroll(["export", "--output", exported])
        #expect(export.status == 1 && export.stderr.contains("(chain_broken)") && !export.stdout.contains("Anchor:"), "\(export.stdout)\(export.stderr)")
        // The edited column is written as -1 (as the README says), a value no append writes.
        let line = try String(contentsOfFile: exported, encoding: .utf8).split(separator: "\n")[1]
        #expect(line.contains(":-1,") || line.contains(":-1}"), "\(line)")
        let copy = try workspace.enroll(["import", exported, "--db", workspace.path("copy.sqlite")])
        #expect(copy.status != 0 && copy.stderr.contains("enroll: error: line 2 "), "\(copy.stderr)")
        let reveal = try workspace.enroll(["reveal", "alice", "--format", "uri"], environment: ["ENROLL_NOW": "1764421700"])
        #expect(reveal.status == 3 && reveal.stderr.contains("holds a value of another type"), "\(reveal.stderr)")
    }
}

extension TamperEvidenceTests {
    @Test("an edited command record (the idempotency record, outside the hash chain) is refused by name when its command id is sent again (exit 3, naming the commands table, no raw control characters, no decoder text, not a missing data key), and verify reports it", arguments: [
        "command = 'X' || char(27) || ']0;pwned' || char(7) || char(27) || '[2J'",
        "rejection = 'locked'",
        "stream_version = 'one'",
        "stream_version = -1",
        "rejection = '{\"code\":\"nope\"}'",
        "rejection = '{}'",
        "rejection = '{\"code\":\"invalid_code\",\"remainingAttempts\":-5}'",
        "stream_id = CAST('ann' AS BLOB)",
    ])
    func editedCommandRecord(_ edit: String) throws {
        let workspace = try Workspace()
        let now = ["ENROLL_NOW": "1764400020"]
        #expect(try workspace.enroll(["request", "ann", "--command-id", "ca"], environment: now).status == 0)
        try sqlite(workspace, "UPDATE commands SET \(edit) WHERE command_id = 'ca'")
        let before = try SQLite3.eventTypes(workspace.database)
        let repeated = try workspace.enroll(["request", "ann", "--command-id", "ca"], environment: now)
        #expect(repeated.status == 3, "\(edit): \(repeated.stderr)")
        #expect(repeated.stderr.contains("the record of command id 'ca' in the commands table"), "\(edit): \(repeated.stderr)")
        #expect(!repeated.stderr.contains("\u{1B}") && !repeated.stderr.contains("\u{07}") && !repeated.stderr.contains("DecodingError") && !repeated.stderr.contains("data key"), "\(edit): \(repeated.stderr)")
        #expect(repeated.stderr.split(separator: "\n").count == 1, "\(repeated.stderr)")
        #expect(try SQLite3.eventTypes(workspace.database) == before)
        let verify = try workspace.enroll(["verify"])
        #expect(verify.status == 1, "\(edit): \(verify.stdout) \(verify.stderr)")
        #expect((verify.stdout + verify.stderr).contains("the record of command id 'ca' for 'ann' holds what enroll never writes"), "\(edit): \(verify.stdout) \(verify.stderr)")
        #expect(!(verify.stdout + verify.stderr).contains("\u{1B}"))
        #expect(!(verify.stdout + verify.stderr).contains("past the stream's last event"), "\(edit): \(verify.stdout) \(verify.stderr)")
        // Another command id still works.
        #expect(try workspace.enroll(["request", "bea", "--command-id", "cb"], environment: now).status == 0)
    }
}

extension TamperEvidenceTests {
    @Test("a projection checkpoint edited to hold text, a real or a blob name stops none of history, audit and verify (GRDB stopped the process on it: exit 132, and the server on the first history request)", arguments: [
        "position = 'abc'", "position = 1e30", "name = X'FF', position = 99",
    ])
    func editedCheckpoint(_ edit: String) throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "ann"]).status == 0)
        try sqlite(workspace, "UPDATE projection_checkpoints SET \(edit) WHERE name = 'authenticators'")
        for arguments in [["history", "ann"], ["audit"], ["verify"]] {
            let result = try workspace.enroll(arguments)
            #expect([0, 1, 3].contains(result.status), "\(edit), \(arguments): exit \(result.status) \(result.stderr)")
            #expect(!result.stderr.contains("Fatal error") && !result.stderr.contains("crashed"), "\(edit), \(arguments): \(result.stderr)")
        }
    }

    @Test("a command record whose id is a blob that is not UTF-8 and whose refusal is JSON enroll never writes is reported by verify (exit 1), not a stop of the process")
    func editedCommandIdBlob() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "ann", "--command-id", "ca"], environment: ["ENROLL_NOW": "1764400020"]).status == 0)
        try sqlite(workspace, "UPDATE commands SET command_id = X'FF', rejection = '{\"x\":1}' WHERE command_id = 'ca'")
        let verify = try workspace.enroll(["verify"])
        #expect(verify.status == 1, "\(verify.stdout) \(verify.stderr)")
        #expect((verify.stdout + verify.stderr).contains("holds what enroll never writes"), "\(verify.stdout) \(verify.stderr)")
    }
}
