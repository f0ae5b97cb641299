import Enrollment
import Foundation
import Testing
import TestSupport

/// `enroll import` (and the replay of recorded journals, which imports) against files that
/// were damaged on the way or forged: the hash chain is public, so a forger recomputes it
/// (``FixtureTests/rechain(_:)``), and only the checks of what a command could have written
/// stand between an edited file and the audit.
@Suite struct ImportRefusalTests {
    static let recorded = FixtureTests.root.appendingPathComponent("journals/before-remaining-attempts.jsonl")

    @Test("an export whose final newline was lost imports whole, with the same anchor, and replays as a fixture; one cut in the middle of its last line is refused as cut (exit 2), nothing imported")
    func lastLineWithoutNewline() throws {
        let workspace = try Workspace()
        let text = try String(contentsOf: Self.recorded, encoding: .utf8)
        try #require(text.hasSuffix("}\n"))
        let whole = workspace.path("whole.jsonl"), unterminated = workspace.path("unterminated.jsonl")
        try text.write(toFile: whole, atomically: true, encoding: .utf8)
        try String(text.dropLast()).write(toFile: unterminated, atomically: true, encoding: .utf8)
        let (first, expected) = try workspace.enrollJSON(["import", whole, "--db", workspace.path("whole.sqlite")])
        let (second, imported) = try workspace.enrollJSON(["import", unterminated, "--db", workspace.path("unterminated.sqlite")])
        #expect(first.status == 0 && second.status == 0, "\(second.stderr)")
        #expect(imported["anchor"] as? String == expected["anchor"] as? String && imported["anchor"] != nil, "\(imported)")

        // As a recorded-journal fixture, beside its expected tables.
        let fixture = workspace.path("recorded.jsonl")
        try String(text.dropLast()).write(toFile: fixture, atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(
            atPath: FixtureTests.root.appendingPathComponent("journals/before-remaining-attempts.expected.json").path,
            toPath: workspace.path("recorded.expected.json"))
        let replay = try workspace.enroll(["replay", fixture])
        #expect(replay.status == 0 && replay.stdout.hasPrefix("PASS "), "\(replay.stdout)\(replay.stderr)")

        let cut = workspace.path("cut.jsonl")
        try String(text.dropLast(40)).write(toFile: cut, atomically: true, encoding: .utf8)
        let lines = text.split(separator: "\n").count
        try FixtureTests.expectImportRefused(
            cut, in: workspace,
            naming: "line \(lines) is not a journal row (it ends the file in the middle of an event, without a newline: the file was cut")
    }

    @Test("export's end line must match the rows before it and be the file's last line: rows removed before it, an edited count or anchor, a second export joined after it, or a malformed end line are refused naming the line (exit 2), nothing imported; a recorded journal without one still replays")
    func endLine() throws {
        let workspace = try Workspace()
        let rows = try ExportText.rows(String(contentsOf: Self.recorded, encoding: .utf8))
        let whole = ExportText.text(rows)
        let anchor = try #require(ExportText.end(after: rows).anchor)
        let twentieth = ChainAnchor(position: 20, hash: rows[19].hash)
        #expect(whole == (try String(contentsOf: Self.recorded, encoding: .utf8)), "the recorded journal ends with export's end line")
        let end = (line: 22, text: "its end line")
        for (name, text, reason) in [
            ("a row removed before the end line", ExportText.text(rows).replacingOccurrences(of: JournalArchive.line(for: rows[20]) + "\n", with: ""),
             "line 21 is not a journal row (its end line says 21 events ending at \(anchor), but the rows before it are 20 events ending at \(twentieth): rows were removed or added, or the end line edited; export it again)"),
            ("an edited count", whole.replacingOccurrences(of: #""events":21"#, with: #""events":22"#),
             "line \(end.line) is not a journal row (\(end.text) says 22 events ending at \(anchor), but the rows before it are 21 events ending at \(anchor)"),
            ("an anchor of another position", whole.replacingOccurrences(of: #""anchor":"21:"#, with: #""anchor":"20:"#),
             "but the rows before it are 21 events ending at \(anchor)"),
            ("a second export joined after it", whole + whole,
             "line 23 is not a journal row (it follows the end line (line 22): the file holds more than one export, or was edited; import one whole export)"),
            ("an end line without a count", whole.replacingOccurrences(of: #","events":21"#, with: ""),
             "line 22 is not a journal row (its end line has no events count; an end line is `{\"end\":{\"anchor\":\"POSITION:HASH\",\"events\":N}}` as `enroll export` writes it)"),
            ("an end line with another member", whole.replacingOccurrences(of: #","events":21}"#, with: #","events":21,"signed":true}"#),
             "line 22 is not a journal row (its end line has a member 'signed' that export does not write"),
            ("an end line beside a row's members", whole.replacingOccurrences(of: #"{"end":"#, with: #"{"position":22,"end":"#),
             "line 22 is not a journal row (its end line has members besides 'end'"),
            ("an anchor that is not POSITION:HASH", whole.replacingOccurrences(of: #""anchor":"21:"#, with: #""anchor":"x21:"#),
             "line 22 is not a journal row (its end line has an anchor that is not POSITION:HASH"),
        ] {
            let path = workspace.path("edited.jsonl")
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            try FixtureTests.expectImportRefused(path, in: workspace, naming: reason, "\(name): ")
        }

        // Recorded journals (fixtures) replay with or without an end line.
        let fixture = workspace.path("recorded.jsonl")
        try rows.map { JournalArchive.line(for: $0) + "\n" }.joined().write(toFile: fixture, atomically: true, encoding: .utf8)
        try FileManager.default.copyItem(
            atPath: FixtureTests.root.appendingPathComponent("journals/before-remaining-attempts.expected.json").path,
            toPath: workspace.path("recorded.expected.json"))
        let replay = try workspace.enroll(["replay", fixture])
        #expect(replay.status == 0 && replay.stdout.hasPrefix("PASS "), "\(replay.stdout)\(replay.stderr)")
        // …and the same file imports with the anchor its export printed, or with --no-end-line.
        let (anchored, json) = try workspace.enrollJSON(["import", fixture, "--db", workspace.path("anchored.sqlite"), "--anchor", anchor.description])
        #expect(anchored.status == 0 && json["endLine"] as? Bool == false && json["anchor"] as? String == anchor.description, "\(anchored.stdout)\(anchored.stderr)")
        let told = try workspace.enroll(["import", fixture, "--db", workspace.path("told.sqlite"), "--no-end-line"])
        #expect(told.status == 0 && told.stdout.contains("; the file has no end line, so nothing shows that it was not cut."), "\(told.stdout)\(told.stderr)")
        let (complete, completeJSON) = try workspace.enrollJSON(["import", Self.recorded.path, "--db", workspace.path("complete.sqlite")])
        #expect(complete.status == 0 && completeJSON["endLine"] as? Bool == true, "\(complete.stdout)")
    }

    @Test("a forged import whose ids or times no release could have written (a line break or a terminal escape in a user id, actor or issuer, a spaced command id, a metadata member export never writes, a time before 1970, a sealed secret that is no AES-GCM box), chain recomputed, is refused naming the line and member (exit 2), nothing imported")
    func forgedIdsAndTimes() throws {
        let rows = try ExportText.rows(String(contentsOf: Self.recorded, encoding: .utf8))
        try #require(rows.first?.type == "EnrollmentRequested")
        func metadata(_ members: [String: String]) -> String {
            JSONValue.object(members.mapValues(JSONValue.string)).canonicalString
        }
        let forgeries: [(String, (inout RecordedEvent) -> Void, String)] = [
            ("user id with a line break", { row in
                row.streamId = "mallory\n2025-11-24T16:00:00Z AuthenticatorRemoved   admin   removed"
            }, "line 1 is not a journal row (streamId contains a control character (U+000A))"),
            ("actor with a terminal escape", { row in
                row.metadata.actor = "bob\u{1B}[2J"
                row.metadataJSON = metadata(["actor": row.metadata.actor, "commandId": row.metadata.commandId])
            }, "line 1 is not a journal row (metadata.actor contains a control character (U+001B))"),
            ("command id with a space", { row in
                row.metadata.commandId = "a b"
                row.metadataJSON = metadata(["actor": row.metadata.actor, "commandId": "a b"])
            }, "line 1 is not a journal row (metadata.commandId is not 1 to 128 printable ASCII characters without spaces)"),
            ("a metadata member export never writes", { row in
                row.metadataJSON = metadata(["actor": row.metadata.actor, "commandId": row.metadata.commandId, "ip": "10.0.0.1"])
            }, "line 1 is not a journal row (its metadata has a member 'ip' that export does not write)"),
            ("an issuer with a line break", { row in
                row.data = row.data.replacingOccurrences(of: #""issuer":"[^"]*""#, with: #""issuer":"ACME\\nforged""#, options: .regularExpression)
            }, "line 1 is not a journal row (its EnrollmentRequested issuer contains a control character (U+000A))"),
            ("an issuer with ':', which splits the app's label", { row in
                row.data = row.data.replacingOccurrences(of: #""issuer":"[^"]*""#, with: #""issuer":"ACME:Corp""#, options: .regularExpression)
            }, "line 1 is not a journal row (its EnrollmentRequested issuer contains ':')"),
            ("a user id with a path separator", { row in row.streamId = "corp/alice" }, "line 1 is not a journal row (streamId contains '/')"),
            ("a time before 1970", { row in row.recordedAt = -1 }, "line 1 is not a journal row (recordedAt -1 is not a time between 1970 and 9999)"),
            ("an empty sealed secret", { row in
                row.data = row.data.replacingOccurrences(of: #""sealedSecret":"[^"]*""#, with: #""sealedSecret":"""#, options: .regularExpression)
            }, "line 1 is not a journal row (its EnrollmentRequested data's sealedSecret is not a sealed secret"),
        ]
        let workspace = try Workspace()
        for (label, forge, reason) in forgeries {
            var forged = rows
            forge(&forged[0])
            FixtureTests.rechain(&forged)
            let path = workspace.path("forged.jsonl")
            try FixtureTests.write(forged, to: path)
            try FixtureTests.expectImportRefused(path, in: workspace, naming: reason, "\(label): ")
        }

        // What an older release could write still imports: a user id ending in a space.
        var older = rows
        let user = older[0].streamId
        for index in older.indices where older[index].streamId == user { older[index].streamId = user + " " }
        FixtureTests.rechain(&older)
        let path = workspace.path("older.jsonl")
        try FixtureTests.write(older, to: path)
        let imported = try workspace.enroll(["import", path, "--db", workspace.path("older.sqlite")])
        #expect(imported.status == 0, "\(imported.stderr)")
    }

    @Test("verify's tamper report escapes an event id edited to hold a line break and a terminal escape: one error line, no forged 'intact' line")
    func tamperReportEscapes() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "alice"]).status == 0)
        #expect(try workspace.enroll(["reveal", "alice", "--format", "uri"]).status == 0)
        _ = try SQLite3.query(workspace.database, "UPDATE events SET event_id = 'x' || char(10) || 'enroll: Verified 2 events: the hash chain is intact.' || char(27) || '[2K' WHERE position = 2")
        let verify = try workspace.enroll(["verify"])
        #expect(verify.status == 1, "\(verify.stdout) \(verify.stderr)")
        #expect(!verify.stdout.contains("\u{1B}") && !verify.stderr.contains("\u{1B}"), "\(verify.stderr)")
        #expect(verify.stderr.contains(#"x\nenroll: Verified 2 events: the hash chain is intact.\u001b[2K"#), "\(verify.stderr)")
        #expect(!(verify.stdout + verify.stderr).split(separator: "\n").contains { $0.hasPrefix("enroll: Verified") }, "\(verify.stdout)\(verify.stderr)")
    }

    @Test("history and audit tables escape control characters a database edited with another tool may hold: no stored value starts a forged line or drives the terminal")
    func controlCharactersAreEscaped() {
        #expect(TextField.quoted("mallory\n2025-11-24T16:00:00Z forged") == #""mallory\n2025-11-24T16:00:00Z forged""#)
        #expect(TextField.quoted("bob\u{1B}[2J\t\r") == #""bob\u001b[2J\t\r""#)
        #expect(TextField.quoted("a\u{2028}b\u{7F}") == #""a\u2028b\u007f""#)
        #expect(TextField.quoted("josé") == "josé")
        #expect(TextField.quoted("with space") == #""with space""#)
        #expect(TextField.quoted("no\u{A0}break") == "\"no\u{A0}break\"", "a space of another script reads as a column break too")
        for blank in ["\u{2800}", "\u{3164}", "\u{FFA0}", "\u{115F}"] {
            #expect(TextField.quoted("alice\(blank)admin") == "\"alice\(blank)admin\"", "U+\(String(blank.unicodeScalars.first!.value, radix: 16)) draws as a blank")
        }
        #expect(TextField.quoted("\u{2800}") == "\"\u{2800}\"", "a name that draws as nothing is quoted, so it shows")
        #expect(TextField.escaped("bob\n") == #"bob\n"# && TextField.escaped("a'b") == "a'b")
    }

    @Test("ids that look alike but are other users (café composed and decomposed, Å in three spellings) show apart in audit, history and status: the ones not in composed form (NFC) quoted with their marks escaped")
    func lookAlikeIdsShowApart() throws {
        let workspace = try Workspace()
        let ids = ["caf\u{E9}", "cafe\u{301}", "\u{C5}", "\u{212B}", "A\u{30A}"]
        for id in ids { #expect(try workspace.enroll(["request", id]).status == 0) }
        let shown = [#"café"#, #""cafe\u0301""#, "Å", #""\u212b""#, #""A\u030a""#]
        let audit = try workspace.enroll(["audit"]).stdout
        for (id, text) in zip(ids, shown) {
            #expect(audit.contains(text + " ") || audit.contains(text + "\n"), "\(text): \(audit)")
            let history = try workspace.enroll(["history", id]).stdout
            #expect(history.contains(text), "\(text): \(history)")
        }
        #expect(TextField.quoted("josé") == "josé" && TextField.quoted("Ελένη") == "Ελένη" && TextField.quoted("नमस्ते") == "नमस्ते", "composed text of any script is shown as it is")
        // The commands that act name the user as the tables do, so the operator sees which one.
        #expect(try workspace.enroll(["remove", "cafe\u{301}"]).stdout.contains(#"enrollment of "cafe\u0301";"#))
        #expect(try workspace.enroll(["remove", "caf\u{E9}"]).stdout.contains("enrollment of café;"))
        // The escaped form copied from a table is no id; the refusal says how to type it.
        let copied = try workspace.enroll(["remove", #"cafe\u0301"#])
        #expect(copied.status == 2 && copied.stderr.contains(#"in bash type the id as $'…', e.g. $'cafe\u0301'"#), "\(copied.stderr)")
        let windows = try workspace.enroll(["remove", #"CORP\user1"#])
        #expect(windows.status == 2 && windows.stderr.contains("it contains a path separator;") && !windows.stderr.contains("in bash"), "\(windows.stderr)")
    }
}
