import Foundation
import Testing
import TestSupport
@testable import Enrollment

/// How a secret was shown again is in the journal: `GET /me/totp/secret` (the Base32 text) and
/// `enroll reveal --format uri` record `QRCodeRevealed` with `"shownAs":"text"`, the eye icon and
/// every other reveal as before, byte for byte. Real `enroll serve` and `enroll` processes on a
/// real SQLite file; the stored JSON is read with the sqlite3 shell.
@Suite(.serialized)
struct RevealFormTests {
    /// The stored `data` of every `QRCodeRevealed`, in journal order, as sqlite3 prints it.
    static func revealData(_ database: String) throws -> [String] {
        try SQLite3.query(database, "SELECT data FROM events WHERE type = 'QRCodeRevealed' ORDER BY position")
            .split(separator: "\n").map(String.init)
    }

    /// `enroll history USER` as lines, without the heading.
    static func historyLines(_ workspace: Workspace, _ user: String, db: String? = nil) throws -> [Substring] {
        let result = try workspace.enroll(["history", user] + (db.map { ["--db", $0] } ?? []))
        #expect(result.status == 0, "\(result.stderr)")
        return result.stdout.split(separator: "\n").dropFirst().map { $0 }
    }

    @Test("GET /me/totp/secret is recorded as the secret shown as text (history, audit, the API's history); the eye icon still as a QR code, its stored data unchanged")
    func serverTextReveal() throws {
        let workspace = try Workspace()
        let server = try ServeProcessTests.Server(workspace)
        let token = try ServeProcessTests.token("alice")
        #expect(try ServeProcessTests.call(server.port, "POST", token: token, json: #"{"action":"INIT"}"#).status == 200)
        let text = try ServeProcessTests.call(server.port, "GET", path: "/api/users/v1/me/totp/secret", token: token)
        #expect(text.status == 200)
        #expect((text.body["secret"] as? String)?.count == 32, "\(text.body)")
        #expect(try ServeProcessTests.call(server.port, "POST", token: token, json: #"{"action":"VIEW"}"#).status == 200)
        let api = try ServeProcessTests.call(server.port, "GET", path: "/api/users/v1/me/totp/history", token: token)
        #expect(server.stop() == 0)

        // The text reveal carries the member; the QR code's data is exactly what it always was.
        #expect(try Self.revealData(workspace.database) == [#"{"shownAs":"text","target":"pending"}"#, #"{"target":"pending"}"#])

        let history = try Self.historyLines(workspace, "alice")
        let reveals = history.filter { $0.contains("QRCodeRevealed") }
        #expect(reveals.count == 2, "\(history)")
        // Each with the trace id of the request that recorded it.
        #expect(reveals.first?.contains("revealed  the pending secret shown again as text (Base32 or otpauth URI), not as a QR code [correlation ") == true, "\(history)")
        #expect(reveals.last?.contains("revealed  QR code of the pending secret shown again [correlation ") == true, "\(history)")

        let audit = try workspace.enroll(["audit", "--type", "QRCodeRevealed", "--json"])
        let lines = audit.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(lines.count == 2, "\(audit.stdout)")
        #expect((lines.first?["event"] as? [String: Any])?["shownAs"] as? String == "text", "\(audit.stdout)")
        #expect((lines.last?["event"] as? [String: Any])?.keys.sorted() == ["target"], "\(audit.stdout)")
        #expect((lines.first?["details"] as? String)?.contains("as text") == true)

        let entries = (api.body["entries"] as? [[String: Any]] ?? []).filter { $0["type"] as? String == "QRCodeRevealed" }
        #expect(entries.map { $0["details"] as? String } == [
            "the pending secret shown again as text (Base32 or otpauth URI), not as a QR code", "QR code of the pending secret shown again",
        ], "\(api.body)")
        // The hash chain and the projections (last_revealed_at, activity) agree with the journal.
        let verify = try workspace.enroll(["verify"])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        #expect(try SQLite3.query(workspace.database, "SELECT last_revealed_at IS NOT NULL FROM authenticators WHERE user_id = 'alice'") == "1")
    }

    @Test("enroll reveal --format uri (or --json, which carries the URI) is recorded as shown as text, and so is a repeat of its command id; the terminal QR code as before, and the id cannot be repeated as a QR reveal")
    func commandLineTextReveal() throws {
        let workspace = try Workspace()
        let now = ["ENROLL_NOW": "1764400000"]
        #expect(try workspace.enroll(["request", "alice", "--issuer", "ACME"], environment: now).status == 0)
        let uri = try workspace.enroll(["reveal", "alice", "--format", "uri", "--command-id", "show-text"], environment: now)
        #expect(uri.status == 0, "\(uri.stderr)")
        #expect(uri.stdout.hasPrefix("otpauth://totp/"))
        let repeated = try workspace.enroll(["reveal", "alice", "--format", "uri", "--command-id", "show-text", "--actor", "helpdesk"], environment: now)
        #expect(repeated.status == 0, "\(repeated.stderr)")
        #expect(repeated.stdout == uri.stdout)
        #expect(try workspace.enroll(["reveal", "alice"], environment: now).status == 0)
        // The same id for a QR code is another command: refused, nothing recorded.
        let before = try Self.revealData(workspace.database)
        let mixed = try workspace.enroll(["reveal", "alice", "--command-id", "show-text"], environment: now)
        #expect(mixed.status == 2)
        #expect(mixed.stderr.contains("command id 'show-text' was already used for `enroll reveal --format uri` (RevealSecretText) of 'alice'"), "\(mixed.stderr)")
        #expect(try Self.revealData(workspace.database) == before)

        #expect(before == [
            #"{"shownAs":"text","target":"pending"}"#, #"{"shownAs":"text","target":"pending"}"#, #"{"target":"pending"}"#,
        ])
        #expect(try SQLite3.query(workspace.database, "SELECT command FROM commands ORDER BY command").split(separator: "\n")
            == ["RequestEnrollment", "RevealQR", "RevealSecretText", "RevealSecretText"])
        // --json carries the otpauth URI in any format (no QR code drawn on stdout): text too.
        let json = try workspace.enroll(["reveal", "alice", "--format", "svg", "--json", "--output", workspace.path("qr.svg")], environment: now)
        #expect(json.status == 0 && json.stdout.contains("otpauth://"), "\(json.stderr)")
        // Which secret was shown is `target`, as in the journal: `secret` would read as the secret itself, as in the API.
        let object = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        #expect(object?["target"] as? String == "pending" && object?["secret"] == nil, "\(json.stdout)")
        #expect(try Self.revealData(workspace.database).last == #"{"shownAs":"text","target":"pending"}"#)
        let reveals = try Self.historyLines(workspace, "alice").filter { $0.contains("QRCodeRevealed") }
        #expect(reveals.count == 4)
        #expect(reveals[0].contains("the pending secret shown again as text"), "\(reveals)")
        #expect(reveals[1].contains("helpdesk") && reveals[1].hasSuffix("shown again as text (Base32 or otpauth URI), not as a QR code; command id show-text repeated"), "\(reveals)")
        #expect(reveals[2].hasSuffix("QR code of the pending secret shown again"), "\(reveals)")
    }

    @Test("reveal's --format and --terminal-background take any case, as --algorithm and --durability do; a format that is none is refused in one line naming the choices (exit 2, nothing recorded)")
    func formatsInAnyCase() throws {
        let workspace = try Workspace()
        let now = ["ENROLL_NOW": "1764400000"]
        #expect(try workspace.enroll(["request", "alice"], environment: now).status == 0)
        let uri = try workspace.enroll(["reveal", "alice", "--format", "URI"], environment: now)
        #expect(uri.status == 0 && uri.stdout.hasPrefix("otpauth://totp/"), "\(uri.stderr)")
        let png = try workspace.enroll(["reveal", "alice", "--format", "Png", "--output", workspace.path("qr.png")], environment: now)
        #expect(png.status == 0, "\(png.stderr)")
        #expect(FileManager.default.contents(atPath: workspace.path("qr.png"))?.prefix(4) == Data([0x89, 0x50, 0x4E, 0x47]))
        let light = try workspace.enroll(["reveal", "alice", "--terminal-background", "Light"], environment: now)
        let dark = try workspace.enroll(["reveal", "alice", "--terminal-background", "dark"], environment: now)
        #expect(light.status == 0 && dark.status == 0 && light.stdout != dark.stdout, "\(light.stderr)")
        let before = try Self.revealData(workspace.database)
        let gif = try workspace.enroll(["reveal", "alice", "--format", "gif"], environment: now)
        #expect(gif.status == 2 && gif.stderr == "enroll: error: --format 'gif' is not one of terminal, uri, svg or png; use one of them (see `enroll reveal --help`)\n", "\(gif.stderr)")
        #expect(try Self.revealData(workspace.database) == before)
    }

    @Test("a repeated request or regenerate with --json (the otpauth URI printed as text) is recorded as the secret shown as text; repeated without --json, as a QR code", arguments: ["request", "regenerate"])
    func repeatedIssueWithJSON(command: String) throws {
        let workspace = try Workspace()
        let now = ["ENROLL_NOW": "1764400000"]
        let (_, first) = try workspace.enrollJSON(["request", "alice", "--command-id", "first"], environment: now)
        if command == "regenerate" {
            let uri = try #require(first["otpauthURI"] as? String)
            let secret = try #require(secretParameter(of: uri))
            let code = try Oathtool.code(base32Secret: secret, at: 1_764_400_000)
            #expect(try workspace.enroll(["confirm", "alice", code], environment: now).status == 0)
        }
        let id = command == "request" ? "first" : "second"
        if command == "regenerate" { #expect(try workspace.enroll(["regenerate", "alice", "--command-id", id], environment: now).status == 0) }
        let asJSON = try workspace.enrollJSON([command, "alice", "--command-id", id], environment: now)
        #expect(asJSON.0.status == 0 && (asJSON.1["otpauthURI"] as? String)?.hasPrefix("otpauth://") == true, "\(asJSON.0.stderr)")
        #expect(try Self.revealData(workspace.database) == [#"{"shownAs":"text","target":"pending"}"#])
        let asQR = try workspace.enroll([command, "alice", "--command-id", id], environment: now)
        #expect(asQR.status == 0, "\(asQR.stderr)")
        #expect(try Self.revealData(workspace.database) == [#"{"shownAs":"text","target":"pending"}"#, #"{"target":"pending"}"#])
        let reveals = try Self.historyLines(workspace, "alice").filter { $0.contains("QRCodeRevealed") }
        #expect(reveals.count == 2 && reveals[0].hasSuffix("not as a QR code; command id \(id) repeated"), "\(reveals)")
    }

    @Test("import takes an export holding shownAs text (history and verify as in the original) and refuses a forged value or member, chain recomputed: one line, exit 2, nothing imported")
    func importTextReveal() throws {
        let workspace = try Workspace()
        let now = ["ENROLL_NOW": "1764400000"]
        #expect(try workspace.enroll(["request", "alice"], environment: now).status == 0)
        #expect(try workspace.enroll(["reveal", "alice", "--format", "uri"], environment: now).status == 0)
        #expect(try workspace.enroll(["reveal", "alice", "--format", "svg"], environment: now).status == 0)
        let export = workspace.path("journal.jsonl")
        #expect(try workspace.enroll(["export", "--output", export]).status == 0)
        let text = try String(contentsOfFile: export, encoding: .utf8)
        #expect(text.contains(#""data":{"shownAs":"text","target":"pending"}"#), "\(text)")

        let copy = workspace.path("copy.sqlite")
        let imported = try workspace.enroll(["import", export, "--db", copy])
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(try workspace.enroll(["verify", "--db", copy]).status == 0)
        // The same reveals (the copy has no data keys: its issued secret reads as forgotten).
        let reveals = { (lines: [Substring]) in lines.filter { $0.contains("QRCodeRevealed") } }
        #expect(reveals(try Self.historyLines(workspace, "alice", db: copy)) == reveals(try Self.historyLines(workspace, "alice")))
        #expect(reveals(try Self.historyLines(workspace, "alice")).map { $0.hasSuffix("shown again as text (Base32 or otpauth URI), not as a QR code") } == [true, false])

        let lines = text.split(separator: "\n").map(String.init)
        let index = try #require(lines.firstIndex { $0.contains(#""shownAs":"text""#) })
        let unreadable = "line \(index + 1) holds an event this version cannot read (the event at position \(index + 1) (QRCodeRevealed) cannot be read: fields do not match the QRCodeRevealed v1 shape ('shownAs' has a value this version does not write)"
        for (forgery, reason) in [
            (#"{"shownAs":"telepathy","target":"pending"}"#, unreadable),
            (#"{"shownAs":null,"target":"pending"}"#, unreadable),
            (#"{"shownAs":"qrCode","target":"pending"}"#, unreadable),
            (#"{"shownAs":"text","shownVia":"text","target":"pending"}"#, "line \(index + 1) is not a journal row (its QRCodeRevealed data has a member 'shownVia' that no QRCodeRevealed has)"),
        ] {
            var rows = try ExportText.rows(text)
            rows[index].data = forgery
            FixtureTests.rechain(&rows)
            let path = workspace.path("forged.jsonl")
            try FixtureTests.write(rows, to: path)
            try FixtureTests.expectImportRefused(path, in: workspace, naming: reason, "\(forgery): ")
        }
    }

    @Test("a fixture may give a reveal shown as text; one whose shownAs is anything but \"text\" is refused naming the member (exit 2)", arguments: ["telepathy", "qrCode"])
    func fixtureShownAs(_ value: String) throws {
        let workspace = try Workspace()
        let original = try String(contentsOf: FixtureTests.root.appendingPathComponent("scenarios/reveal/pending-secret-as-text.json"), encoding: .utf8)
        // The first shownAs is the given event's (the second is in then).
        let given = try #require(original.range(of: #""shownAs": "text""#))
        let path = workspace.path("edited.json")
        try original.replacingCharacters(in: given, with: #""shownAs": ""# + value + "\"").write(toFile: path, atomically: true, encoding: .utf8)
        #expect(try workspace.enroll(["replay", FixtureTests.root.appendingPathComponent("scenarios/reveal/pending-secret-as-text.json").path]).status == 0)
        let result = try workspace.enroll(["replay", path])
        #expect(result.status == 2, "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("ERROR \(path): given[1]: QRCodeRevealed does not decode: fields do not match the QRCodeRevealed v1 shape ('shownAs' has a value this version does not write)"), "\(result.stdout)")
    }
}
