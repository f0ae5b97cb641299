import Enrollment
import Foundation
import Testing
import TestSupport

/// `enroll history`, `enroll audit`, `enroll export` and `enroll import`, run as a user would.
@Suite("Auditing enrollment history")
struct AuditTrailTests {
    static let t0: Int64 = 1_764_421_576

    /// alice enrolls (one wrong code, then the right one), an admin reveals her QR code; bob
    /// requests and removes; returns alice's Base32 secret.
    func populate(_ workspace: Workspace) throws -> String {
        let (request, issued) = try workspace.enrollJSON(["request", "alice", "--issuer", "ACME"], environment: ["ENROLL_NOW": "\(Self.t0)"])
        try #require(request.status == 0, "request failed: \(request.stderr)")
        let secret = try #require(secretParameter(of: issued["otpauthURI"] as? String ?? ""))
        let wrong = try workspace.enroll(["confirm", "alice", "000000"], environment: ["ENROLL_NOW": "\(Self.t0 + 10)"])
        #expect(wrong.status == 1)
        let code = try Oathtool.code(base32Secret: secret, at: Self.t0 + 40)
        let right = try workspace.enroll(["confirm", "alice", code], environment: ["ENROLL_NOW": "\(Self.t0 + 40)"])
        try #require(right.status == 0, "confirm failed: \(right.stderr)")
        try #require(try workspace.enroll(["reveal", "alice", "--format", "uri", "--actor", "helpdesk"], environment: ["ENROLL_NOW": "\(Self.t0 + 100)"]).status == 0)
        try #require(try workspace.enroll(["request", "bob"], environment: ["ENROLL_NOW": "\(Self.t0 + 86_400)"]).status == 0)
        try #require(try workspace.enroll(["remove", "bob"], environment: ["ENROLL_NOW": "\(Self.t0 + 86_500)"]).status == 0)
        return secret
    }

    func jsonLines(_ text: String) -> [[String: Any]] {
        text.split(separator: "\n").compactMap { line in
            (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any]
        }
    }

    @Test("wide characters count as two terminal columns: a Japanese actor's row lines up with the header")
    func columnsFitWideCharacters() throws {
        let workspace = try Workspace()
        let now = ["ENROLL_NOW": "1764421576"]
        let actor = "山田太郎-経理部-東京本社-営業"  // 16 characters, 29 terminal columns
        #expect(try workspace.enroll(["request", "alice"], environment: now).status == 0)
        #expect(try workspace.enroll(["reveal", "alice", "--format", "uri", "--actor", actor], environment: now).status == 0)
        let result = try workspace.enroll(["audit"])
        let lines = result.stdout.split(separator: "\n").map(String.init)
        #expect(result.status == 0 && lines.count == 3, "\(result.stdout)")
        // The terminal column each character starts at, counting CJK ideographs and kana as two.
        func columns(_ line: String) -> [(column: Int, character: Character)] {
            var column = 0
            return line.map { character in
                defer { column += character.unicodeScalars.first.map { (0x3000...0x9FFF).contains($0.value) } == true ? 2 : 1 }
                return (column, character)
            }
        }
        for header in ["EVENT", "ACTOR", "OUTCOME", "DETAILS"] {
            let offset = try #require(lines[0].range(of: header)).lowerBound.utf16Offset(in: lines[0])
            for line in lines.dropFirst() {
                let cells = columns(line)
                let at = cells.firstIndex { $0.column == offset }
                #expect(at != nil && at! > 0 && cells[at! - 1].character == " " && cells[at!].character != " ", "\(header) misaligned: \(line)")
            }
        }
    }

    @Test("history and audit columns are as wide as the longest id shown (at least 16), so the quick start's 17-character user keeps the table aligned")
    func columnsFitLongIds() throws {
        let workspace = try Workspace()
        let now = ["ENROLL_NOW": "1764421576"]
        #expect(try workspace.enroll(["request", "alice@example.com"], environment: now).status == 0)
        #expect(try workspace.enroll(["reveal", "alice@example.com", "--format", "uri", "--actor", "the-helpdesk-of-acme"], environment: now).status == 0)
        #expect(try workspace.enroll(["request", "bob"], environment: now).status == 0)
        for arguments in [["history", "alice@example.com"], ["audit"]] {
            let result = try workspace.enroll(arguments)
            let lines = result.stdout.split(separator: "\n").map { Array($0) }
            #expect(result.status == 0 && lines.count == (arguments[0] == "audit" ? 4 : 3), "\(result.stdout)")
            // Every column starts where its header does, after a space.
            for header in ["USER", "EVENT", "ACTOR", "OUTCOME", "DETAILS"] where arguments[0] == "audit" || header != "USER" {
                let offset = try #require(String(lines[0]).range(of: header)).lowerBound.utf16Offset(in: String(lines[0]))
                for line in lines.dropFirst() {
                    #expect(line.count > offset && line[offset - 1] == " " && line[offset] != " ", "\(header) misaligned in `enroll \(arguments[0])`: \(String(line))")
                }
            }
        }
    }

    @Test("history shows a user's timeline with time, event, actor, outcome and details, and never the secret or a code")
    func historyTimeline() throws {
        let workspace = try Workspace()
        let secret = try populate(workspace)
        let result = try workspace.enroll(["history", "alice"])
        #expect(result.status == 0, "\(result.stderr)")
        let lines = result.stdout.split(separator: "\n").map(String.init)
        try #require(lines.count == 5, "expected a header and 4 events, got:\n\(result.stdout)")
        #expect(lines[0].contains("TIME") && lines[0].contains("EVENT") && lines[0].contains("ACTOR") && lines[0].contains("OUTCOME"))
        #expect(lines[1].hasPrefix("2025-11-29T13:06:16Z") && lines[1].contains("EnrollmentRequested") && lines[1].contains("issued") && lines[1].contains("ACME:alice"))
        #expect(lines[2].contains("CodeRejected") && lines[2].contains("refused") && lines[2].contains("invalid_code"))
        #expect(lines[3].contains("AuthenticatorActivated") && lines[3].contains("activated"))
        #expect(lines[4].contains("QRCodeRevealed") && lines[4].contains("helpdesk"))
        #expect(!result.stdout.contains(secret), "the Base32 secret leaked into the history")
        #expect(!result.stdout.contains("000000"), "the typed code leaked into the history")
        #expect(result.stdout.contains("secret sealed"))
        let unknown = try workspace.enroll(["history", "carol"])
        #expect(unknown.status == 0 && unknown.stdout.contains("No events recorded for carol"))
    }

    @Test("history --json prints one JSON object per event with position, stream version, type, time, actor, command id and fields")
    func historyJSON() throws {
        let workspace = try Workspace()
        let secret = try populate(workspace)
        let result = try workspace.enroll(["history", "alice", "--json"])
        #expect(result.status == 0)
        let entries = jsonLines(result.stdout)
        try #require(entries.count == 4, "\(result.stdout)")
        #expect(entries.map { $0["streamVersion"] as? Int } == [1, 2, 3, 4])
        #expect(entries.map { $0["type"] as? String } == ["EnrollmentRequested", "CodeRejected", "AuthenticatorActivated", "QRCodeRevealed"])
        #expect(entries[0]["recordedAt"] as? String == "2025-11-29T13:06:16Z")
        #expect(entries[0]["position"] as? Int == 1)
        #expect((entries[0]["commandId"] as? String)?.isEmpty == false)
        #expect(entries[3]["actor"] as? String == "helpdesk")
        let fields = try #require(entries[0]["event"] as? [String: Any])
        #expect(fields["secret"] as? String == "sealed")
        #expect(fields["issuer"] as? String == "ACME")
        #expect(fields["sealedSecret"] == nil)
        #expect(!result.stdout.contains(secret))
    }

    @Test("the end of a lock, recorded by the next command, says when the lock really ended, in history and audit (text and JSON)")
    func unlockSaysWhenTheLockEnded() throws {
        let workspace = try Workspace()
        let at = { (offset: Int64) in ["ENROLL_NOW": "\(Self.t0 + offset)"] }
        try #require(try workspace.enroll(["request", "lou"], environment: at(0)).status == 0)
        for attempt in 1...5 { _ = try workspace.enroll(["confirm", "lou", "000000"], environment: at(Int64(attempt))) }
        // The first lock lasts 15 minutes from the fifth wrong code; lou comes back an hour later.
        let ended = Timestamps.iso8601(Self.t0 + 5 + 900)
        try #require(try workspace.enroll(["request", "lou"], environment: at(3600)).status == 0)
        let said = "lock 1 lifted (it ended at \(ended); recorded by the next command)"
        #expect(try workspace.enroll(["history", "lou"]).stdout.contains(said))
        #expect(try workspace.enroll(["audit", "--type", "ConfirmationUnlocked"]).stdout.contains(said))
        #expect(try workspace.enroll(["audit", "--json"]).stdout.contains(#""details":"\#(said)""#))
    }

    @Test("--correlation-id is recorded with the command's events (its expiry by (system) too) and shown by history (text and JSON); audit --correlation-id lists them; an empty one is refused (exit 2, nothing written)")
    func correlationIds() throws {
        let workspace = try Workspace()
        let at = { (offset: Int64) in ["ENROLL_NOW": "\(Self.t0 + offset)"] }
        try #require(try workspace.enroll(["request", "ann", "--correlation-id", "TICKET-42"], environment: at(0)).status == 0)
        try #require(try workspace.enroll(["request", "ben"], environment: at(1)).status == 0)
        try #require(try workspace.enroll(["remove", "ann", "--correlation-id", "TICKET-43"], environment: at(3600)).status == 0)
        let history = try workspace.enroll(["history", "ann"])
        let lines = history.stdout.split(separator: "\n").dropFirst()
        #expect(lines.count == 3 && lines.first?.hasSuffix(" [correlation TICKET-42]") == true, "\(history.stdout)")
        #expect(lines.dropFirst().allSatisfy { $0.hasSuffix(" [correlation TICKET-43]") }, "the expiry found by the removal, and the removal: \(history.stdout)")
        let json = try workspace.enroll(["history", "ben", "--json"])
        #expect(json.status == 0 && !json.stdout.contains("correlationId"), "\(json.stdout)")
        let audit = try workspace.enroll(["audit", "--correlation-id", "TICKET-42", "--json"])
        let objects = audit.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(objects.count == 1 && objects[0]["correlationId"] as? String == "TICKET-42" && objects[0]["type"] as? String == "EnrollmentRequested", "\(audit.stdout)")
        let before = try FixtureTests.eventCount(workspace.database)
        let refused = try workspace.enroll(["request", "cy", "--correlation-id", ""], environment: at(3601))
        #expect(refused.status == 2 && refused.stderr.contains("invalid correlation id: it is empty"), "\(refused.stderr)")
        for odd in [" x", "x\u{E000}"] {
            #expect(try workspace.enroll(["request", "cy", "--correlation-id", odd], environment: at(3601)).status == 2, "\(odd)")
        }
        #expect(try FixtureTests.eventCount(workspace.database) == before)
        #expect(try workspace.enroll(["audit", "--correlation-id", ""]).status == 2)
        // One an older release recorded (a space at its start) is still looked up.
        _ = try SQLite3.query(workspace.database, "UPDATE events SET metadata = replace(metadata, '\"TICKET-43\"', '\" OLD1\"')")
        let old = try workspace.enroll(["audit", "--correlation-id", " OLD1"])
        #expect(old.status == 1 && old.stdout.contains("AuthenticatorRemoved"), "chain broken by the edit, the rows still listed: \(old.stdout)\(old.stderr)")
        // One with a space or a bracket is quoted, so that it reads as one mark.
        try #require(try workspace.enroll(["request", "dee", "--correlation-id", "a b] [c"], environment: at(3602)).status == 0)
        #expect(try workspace.enroll(["history", "dee"]).stdout.contains(#" [correlation "a b] [c"]"#))
    }

    @Test("audit --actor shows what one actor did: an operator's --actor, a user acting for themselves, or (system); a name no actor can have is refused (exit 2)")
    func auditByActor() throws {
        let workspace = try Workspace()
        let at = { (offset: Int64) in ["ENROLL_NOW": "\(Self.t0 + offset)"] }
        try #require(try workspace.enroll(["request", "ann"], environment: at(0)).status == 0)
        try #require(try workspace.enroll(["request", "ben"], environment: at(1)).status == 0)
        try #require(try workspace.enroll(["reveal", "ann", "--actor", "helpdesk"], environment: at(2)).status == 0)
        try #require(try workspace.enroll(["remove", "ben", "--actor", "helpdesk"], environment: at(3)).status == 0)
        try #require(try workspace.enroll(["status", "ann"], environment: at(3600)).status == 0)
        try #require(try workspace.enroll(["reveal", "ann"], environment: at(3600)).status != 0)
        func rows(_ actor: String) throws -> [Substring] {
            let audit = try workspace.enroll(["audit", "--actor", actor])
            #expect(audit.status == 0, "\(audit.stderr)")
            return audit.stdout.split(separator: "\n").dropFirst().map { $0 }
        }
        let helpdesk = try rows("helpdesk")
        #expect(helpdesk.count == 2 && helpdesk[0].contains("QRCodeRevealed") && helpdesk[1].contains("AuthenticatorRemoved"), "\(helpdesk)")
        #expect(try rows("ben").count == 1)
        #expect(try rows("(system)").contains { $0.contains("PendingSecretExpired") })
        #expect(try rows("nobody").isEmpty)
        let refused = try workspace.enroll(["audit", "--actor", "a/b"])
        #expect(refused.status == 2 && refused.stderr.contains("--actor 'a/b' is no actor enroll records (it contains a path separator)"), "\(refused.stderr)")
    }

    @Test("history says when a new secret discards one still awaiting its first code (a second request, a second regenerate), and not when nothing was pending")
    func discardedPendingSecrets() throws {
        let workspace = try Workspace()
        func at(_ offset: Int64) -> [String: String] { ["ENROLL_NOW": "\(Self.t0 + offset)"] }
        #expect(try workspace.enroll(["request", "dora"], environment: at(0)).status == 0)
        let (second, issued) = try workspace.enrollJSON(["request", "dora"], environment: at(60))
        #expect(second.status == 0)
        let code = try Oathtool.code(base32Secret: try #require(secretParameter(of: issued["otpauthURI"] as? String ?? "")), at: Self.t0 + 70)
        #expect(try workspace.enroll(["confirm", "dora", code], environment: at(70)).status == 0)
        #expect(try workspace.enroll(["regenerate", "dora"], environment: at(100)).status == 0)
        #expect(try workspace.enroll(["regenerate", "dora"], environment: at(160)).status == 0)
        // The second replacement expires; the expiry is recorded before the next regenerate.
        #expect(try workspace.enroll(["regenerate", "dora"], environment: at(5_000)).status == 0)

        let issuing = jsonLines(try workspace.enroll(["history", "dora", "--json"]).stdout)
            .filter { ["EnrollmentRequested", "SecretRegenerated"].contains($0["type"] as? String) }
            .map { $0["details"] as? String ?? "" }
        try #require(issuing.count == 5, "\(issuing)")
        let discards = issuing.map { $0.contains("; discards the pending secret issued at ") && $0.hasSuffix(", never confirmed") }
        #expect(discards == [false, true, false, true, false], "\(issuing)")
        #expect(issuing[1].contains("discards the pending secret issued at \(Timestamps.iso8601(Self.t0)), never confirmed"))
        #expect(issuing[3].contains("discards the pending secret issued at \(Timestamps.iso8601(Self.t0 + 100)), never confirmed"))
        // The audit across users says the same, even when its filter leaves out the events before.
        let audited = jsonLines(try workspace.enroll(["audit", "--type", "SecretRegenerated", "--json"]).stdout).map { $0["details"] as? String ?? "" }
        #expect(audited.map { $0.contains("discards the pending secret") } == [false, true, false], "\(audited)")
    }

    @Test("a removed user's secrets show as forgotten in the history")
    func forgottenAfterRemoval() throws {
        let workspace = try Workspace()
        _ = try populate(workspace)
        let entries = jsonLines(try workspace.enroll(["history", "bob", "--json"]).stdout)
        try #require(entries.count == 2)
        #expect((entries[0]["event"] as? [String: Any])?["secret"] as? String == "forgotten")
        #expect(entries[1]["outcome"] as? String == "removed")
    }

    @Test("audit filters by time, user and type across all users")
    func auditFilters() throws {
        let workspace = try Workspace()
        _ = try populate(workspace)
        let all = jsonLines(try workspace.enroll(["audit", "--json"]).stdout)
        #expect(all.count == 6)
        #expect(all.map { $0["position"] as? Int } == [1, 2, 3, 4, 5, 6])
        let nextDay = jsonLines(try workspace.enroll(["audit", "--since", "2025-11-30", "--json"]).stdout)
        #expect(nextDay.map { $0["user"] as? String } == ["bob", "bob"])
        let firstMinute = jsonLines(try workspace.enroll(["audit", "--since", "@\(Self.t0)", "--until", "@\(Self.t0 + 60)", "--json"]).stdout)
        #expect(firstMinute.map { $0["type"] as? String } == ["EnrollmentRequested", "CodeRejected", "AuthenticatorActivated"])
        let refused = jsonLines(try workspace.enroll(["audit", "--type", "CodeRejected", "--type", "AuthenticatorRemoved", "--json"]).stdout)
        #expect(refused.map { $0["type"] as? String } == ["CodeRejected", "AuthenticatorRemoved"])
        let bob = try workspace.enroll(["audit", "--user", "bob"])
        #expect(bob.status == 0)
        #expect(bob.stdout.split(separator: "\n").count == 3 && !bob.stdout.contains("alice "))
    }

    @Test("in the audit and history tables a user id or actor holding spaces or quotes is one quoted field: it cannot pass for other columns")
    func quotedFields() throws {
        let workspace = try Workspace()
        let forged = "alice   AuthenticatorRemoved   admin"
        let actor = #"admin "root" removed"#
        #expect(try workspace.enroll(["request", forged, "--actor", actor]).status == 0)
        let audit = try workspace.enroll(["audit"])
        let line = try #require(audit.stdout.split(separator: "\n").dropFirst().first.map(String.init), "\(audit.stdout)")
        #expect(line.contains(#""alice   AuthenticatorRemoved   admin" EnrollmentRequested"#), "\(line)")
        #expect(line.contains(#""admin \"root\" removed""#), "\(line)")
        let history = try workspace.enroll(["history", forged])
        #expect(history.stdout.contains(#" EnrollmentRequested    "admin \"root\" removed""#), "\(history.stdout)")
        // Plain ids are printed as they are, and JSON keeps every value unquoted.
        #expect(try workspace.enroll(["request", "bob"]).status == 0)
        #expect(try workspace.enroll(["audit", "--user", "bob"]).stdout.contains(" bob              EnrollmentRequested    bob "))
        let json = jsonLines(try workspace.enroll(["audit", "--json"]).stdout)
        #expect(json.first?["user"] as? String == forged && json.first?["actor"] as? String == actor)
    }

    @Test("audit refuses an unknown type or time with one line and exit 2")
    func auditBadInput() throws {
        let workspace = try Workspace()
        _ = try populate(workspace)
        let before = workspace.databaseBytes()
        for arguments in [["audit", "--type", "Nope"], ["audit", "--since", "yesterday"], ["audit", "--since", "2025-12-01", "--until", "2025-11-01"]] {
            let result = try workspace.enroll(arguments)
            #expect(result.status == 2, "\(arguments)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
            #expect(result.stdout.isEmpty)
        }
        #expect(workspace.databaseBytes() == before)
        let missing = try Workspace()
        let noDatabase = try missing.enroll(["audit"])
        #expect(noDatabase.status == 3 && noDatabase.stderr.contains("no enrollment database"))
    }

    @Test("audit and activity refuse dates and times that do not exist (exit 2, one line naming why) instead of rolling them over")
    func impossibleTimesRefused() throws {
        let workspace = try Workspace()
        _ = try populate(workspace)
        let before = workspace.databaseBytes()
        let cases = [
            ("2026-11-28T42:00:00Z", "there is no hour 42"), ("2026-11-28T18:99:00Z", "there is no minute 99"),
            ("2026-02-30", "February 2026 has no day 30"), ("2026-11-31", "November 2026 has no day 31"),
            ("2026-13-01", "there is no month 13"),
        ]
        for (text, reason) in cases {
            for arguments in [["audit", "--since", text], ["audit", "--until", text], ["activity", "--since", text], ["activity", "--until", text]] {
                let result = try workspace.enroll(arguments)
                #expect(result.status == 2, "\(arguments): exit \(result.status)")
                #expect(result.stderr.split(separator: "\n").count == 1 && result.stderr.contains(reason), "\(arguments): \(result.stderr)")
                #expect(result.stdout.isEmpty, "\(arguments): \(result.stdout)")
            }
        }
        // The real neighbours still work.
        for text in ["2026-11-28T23:59:59Z", "2024-02-29", "2026-11-30"] {
            #expect(try workspace.enroll(["audit", "--since", text]).status == 0, "\(text)")
        }
        // activity counts whole days: it takes a day, or a TIME at midnight UTC.
        for text in ["2026-11-28T00:00:00Z", "2024-02-29", "2026-11-30"] {
            #expect(try workspace.enroll(["activity", "--since", text]).status == 0, "\(text)")
        }
        #expect(workspace.databaseBytes() == before)
    }

    @Test("an export holds no plaintext secret, imports into a new database and exports again byte for byte; a command that makes the copy a key file says so")
    func exportImportRoundTrip() throws {
        let workspace = try Workspace()
        let secret = try populate(workspace)
        let exported = try workspace.enroll(["export", "--output", workspace.path("journal.jsonl")])
        #expect(exported.status == 0 && exported.stdout.contains("Exported 6 events"), "\(exported.stderr)")
        let text = try String(contentsOfFile: workspace.path("journal.jsonl"), encoding: .utf8)
        #expect(text.split(separator: "\n").count == 7, "six rows and the end line")
        #expect(!text.contains(secret))
        let secretBytes = Data(try #require(Base32Decoding.decode(secret)))
        #expect(!text.contains(secretBytes.base64EncodedString()))
        let copy = workspace.path("copy.sqlite")
        let imported = try workspace.enroll(["import", workspace.path("journal.jsonl"), "--db", copy])
        #expect(imported.status == 0, "\(imported.stderr)")
        #expect(try workspace.enroll(["verify", "--db", copy]).status == 0)
        let again = try workspace.enroll(["export", "--db", copy])
        #expect(again.stdout == text)
        let status = try workspace.enrollJSON(["status", "alice", "--db", copy]).1
        #expect(status["status"] as? String == "active")
        let history = jsonLines(try workspace.enroll(["history", "alice", "--json", "--db", copy]).stdout)
        // The copy holds no data keys, but no one removed anything: sealed, with a key not here,
        // never "forgotten", which says the user removed it.
        let issued = history.first?["event"] as? [String: Any]
        #expect(issued?["secret"] as? String == "sealed" && issued?["keyInDatabase"] as? Bool == false, "\(history)")
        let copied = try workspace.enroll(["history", "alice", "--db", copy]).stdout
        #expect(copied.contains("secret sealed (its key is not in this database: an imported copy, or deleted)") && !copied.contains("forgotten"), "\(copied)")
        let original = jsonLines(try workspace.enroll(["history", "alice", "--json"]).stdout).first?["event"] as? [String: Any]
        #expect(original?["secret"] as? String == "sealed" && original?["keyInDatabase"] == nil, "\(String(describing: original))")
        // A command on the copy makes it a master key file (it has none): never without a word,
        // even when the command is then refused.
        let copyKey = workspace.path("copy.key")
        let revealed = try workspace.enroll(["reveal", "alice", "--db", copy, "--key-file", copyKey])
        #expect(FileManager.default.fileExists(atPath: copyKey))
        #expect(revealed.stderr.contains("enroll: note: created the master key file \(copyKey) for \(copy)"), "\(revealed.stderr)")
        // Its secret cannot be opened there; the check suggested names the copy, for reveal and confirm alike.
        for arguments in [["reveal", "alice"], ["confirm", "alice", "123456"]] {
            let refused = try workspace.enroll(arguments + ["--db", copy, "--key-file", copyKey])
            #expect(refused.status == 1 && refused.stderr.contains("(`enroll verify --db \(copy)` checks the journal; `enroll remove --db \(copy) --key-file \(copyKey) alice`, then `enroll request --db \(copy) --key-file \(copyKey) alice`)"), "\(arguments): \(refused.stderr)")
        }

        let twice = try workspace.enroll(["import", workspace.path("journal.jsonl")])
        #expect(twice.status == 2 && twice.stderr.contains("already holds 6 events"))
        #expect(try workspace.enroll(["export"]).stdout == text, "a refused import changed the journal")
    }

    @Test("audit and export stop at once when the reader of their output goes away (`| head`), also where SIGPIPE is ignored: killed by SIGPIPE as by default, never writing on and reporting success")
    func longOutputIntoAClosedPipe() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["import", RebuildTests.trafficJournal]).status == 0)
        // This test process ignores SIGPIPE, and so do the shell and enroll it starts: as under
        // systemd (IgnoreSIGPIPE=yes), a write into the closed pipe fails with EPIPE.
        let bash = try Processes.tool("bash", package: "bash")
        for command in ["audit", "export"] {
            let script = #""$0" "# + command + #" --db "$1" | head -c 100 >/dev/null; echo "${PIPESTATUS[0]}""#
            let result = try Processes.run(bash, ["-c", script, try Processes.product("enroll"), workspace.database])
            let status = Int(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
            #expect(status == 128 + Int(SIGPIPE), "\(command): exit \(status), stderr: \(result.stderr)")
            #expect(!result.stderr.contains("exported") && !result.stderr.contains("Anchor") && !result.stderr.contains("Fatal"), "\(command): \(result.stderr)")
        }
    }

    @Test("import, verify, export, and audit into a pipe print progress lines on stderr for long work (ENROLL_PROGRESS_SECONDS sets how often), and stdout keeps only the result")
    func progressOfLongWork() throws {
        let workspace = try Workspace()
        let often = ["ENROLL_PROGRESS_SECONDS": "0"]  // a line per 1 024 events: long work, made short
        func lines(_ text: String, _ prefix: String) -> [String] { text.split(separator: "\n").map(String.init).filter { $0.hasPrefix(prefix) } }

        let imported = try workspace.enroll(["import", RebuildTests.trafficJournal, "--json"], environment: often)
        #expect(imported.status == 0, "\(imported.stderr)")
        // The file's events are counted first (its end line is none), so that import says how far it is, as verify does.
        #expect(lines(imported.stderr, "enroll: importing: ") == (1...9).map { "enroll: importing: \($0 * 1024) of 10000 events (\($0 * 1024 * 100 / 10000)%)" }, "\(imported.stderr)")
        // Through a pipe, which cannot be read twice, as far as it goes.
        let bash = try Processes.tool("bash", package: "bash")
        let piped = try Processes.run(
            bash, ["-c", #""$0" import <(cat "$1") --db "$2""#, try Processes.product("enroll"), RebuildTests.trafficJournal, workspace.path("piped.sqlite")],
            environment: often.merging(["ENROLL_KEY_FILE": workspace.keyFile]) { $1 })
        #expect(piped.status == 0, "\(piped.stderr)")
        #expect(lines(piped.stderr, "enroll: importing: ").first == "enroll: importing: 1024 events so far", "\(piped.stderr)")
        #expect((try? JSONSerialization.jsonObject(with: imported.stdoutData)) as? [String: Any] != nil, "stdout is one JSON object: \(imported.stdout)")

        let verified = try workspace.enroll(["verify"], environment: often)
        #expect(verified.status == 0, "\(verified.stderr)")
        let verifying = lines(verified.stderr, "enroll: verifying: ")
        #expect(verifying.first == "enroll: verifying: 1024 of 10000 events (10%)" && verifying.count == 10, "\(verified.stderr)")
        #expect(verifying.last == "enroll: verifying: the hash chain is intact; comparing the projections with the journal")
        #expect(!verified.stdout.contains("enroll:"), "progress stays off stdout")

        let exported = try workspace.enroll(["export", "--output", workspace.path("copy.jsonl")], environment: often)
        #expect(lines(exported.stderr, "enroll: exporting: ").last == "enroll: exporting: 9216 of 10000 events (92%)", "\(exported.stderr)")

        // A listing into a pipe (this test's stdout) says how far through the journal it is: by
        // the position of the event it has reached, since a filter lists only some.
        let audited = try workspace.enroll(["audit", "--json"], environment: often)
        #expect(audited.status == 0, "\(audited.stderr)")
        let listing = lines(audited.stderr, "enroll: listing: ")
        #expect(listing == (1...9).map { "enroll: listing: \($0 * 1024) of 10000 journal positions (\($0 * 1024 * 100 / 10000)%)" }, "\(audited.stderr)")
        #expect(!audited.stdout.contains("enroll:") && audited.stdout.split(separator: "\n").count == 10_000, "progress stays off stdout")

        // Short work at the default interval prints none; a value that cannot be an interval is named.
        let quiet = try workspace.enroll(["verify"])
        #expect(quiet.status == 0 && !quiet.stderr.contains("verifying:"), "\(quiet.stderr)")
        let odd = try workspace.enroll(["verify"], environment: ["ENROLL_PROGRESS_SECONDS": "soon"])
        #expect(odd.status == 0 && odd.stderr.contains("ENROLL_PROGRESS_SECONDS is \"soon\", not a whole number of seconds from 0 to 3600"), "\(odd.stderr)")
    }

    @Test("export tells the anchor of what it wrote; import --anchor refuses a copy cut at a line boundary (exit 1, nothing written) and accepts the whole file, and import prints the anchor it reached")
    func importAgainstExportAnchor() throws {
        let workspace = try Workspace()
        _ = try populate(workspace)
        let file = workspace.path("journal.jsonl")
        let exported = try workspace.enroll(["export", "--output", file])
        try #require(exported.status == 0, "\(exported.stderr)")
        // The last row's position and hash, read by sqlite3, not by enroll.
        let last = try SQLite3.query(workspace.database, "SELECT position || ':' || lower(hex(hash)) FROM events ORDER BY position DESC LIMIT 1")
        #expect(last.hasPrefix("6:") && last.count == 66, "\(last)")
        // The anchor is a line of its own, `Anchor: POSITION:HASH` and nothing else, to copy as it is.
        #expect(exported.stdout.hasPrefix("Exported 6 events to \(file); ") && exported.stdout.hasSuffix("\nAnchor: \(last)\n"), "\(exported.stdout)")
        let json = try workspace.enrollJSON(["export", "--output", workspace.path("again.jsonl")]).1
        #expect(json["anchor"] as? String == last && json["exported"] as? Int == 6, "\(json)")
        // Exported to stdout, the summary goes to stderr and the data stays clean.
        let piped = try workspace.enroll(["export"])
        #expect(piped.stderr.contains("exported 6 events; ") && piped.stderr.hasSuffix("\nAnchor: \(last)\n"), "\(piped.stderr)")
        #expect(piped.stdout == (try String(contentsOfFile: file, encoding: .utf8)))

        // The file's last line is the end line: how many rows, and the anchor, as printed.
        let lines = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 7 && lines.last == #"{"end":{"anchor":"\#(last)","events":6}}"#, "\(lines.last ?? "")")
        // Cut at a line boundary after the fifth row, as a copy interrupted there leaves it.
        let cut = workspace.path("cut.jsonl")
        try (lines.dropLast(2).joined(separator: "\n") + "\n").write(toFile: cut, atomically: true, encoding: .utf8)
        let target = workspace.path("cut.sqlite")
        let refused = try workspace.enroll(["import", cut, "--db", target, "--anchor", last])
        #expect(refused.status == 1, "\(refused.stdout)\(refused.stderr)")
        #expect(refused.stderr.contains("the file ends at position 5, before the anchor at position 6: it was cut"), "\(refused.stderr)")
        #expect(refused.stderr.split(separator: "\n").count == 1, "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: target), "a refused import left a database")
        let (refusedJSON, error) = try workspace.enrollJSON(["import", cut, "--db", target, "--anchor", last])
        #expect(refusedJSON.status == 1 && error["error"] as? String == "anchor_mismatch", "\(refusedJSON.stdout)")

        // Without an anchor the missing end line tells: refused as cut, exit 2, nothing created.
        let unfinished = try workspace.enroll(["import", cut, "--db", target])
        #expect(unfinished.status == 2, "\(unfinished.stdout)\(unfinished.stderr)")
        #expect(unfinished.stderr == "enroll: error: \(cut) ends after line 5 (position 5) without the end line `enroll export` writes last: it was cut (an export killed before it finished, or a copy interrupted); export it again, or copy the whole file (a file exported before exports had end lines imports with --anchor as its export printed it, or with --no-end-line)\n", "\(unfinished.stderr)")
        #expect(!FileManager.default.fileExists(atPath: target), "a refused import left a database")
        let (unfinishedJSON, unfinishedError) = try workspace.enrollJSON(["import", cut, "--db", target])
        #expect(unfinishedJSON.status == 2 && unfinishedError["error"] as? String == "export_unfinished", "\(unfinishedJSON.stdout)")

        // With --no-end-line (a file exported before exports had one) the cut file imports, saying
        // that nothing shows it whole, and the anchor it prints is not the export's.
        let unchecked = try workspace.enroll(["import", cut, "--db", target, "--no-end-line"])
        #expect(unchecked.status == 0, "\(unchecked.stderr)")
        #expect(unchecked.stdout.contains("the file has no end line, so nothing shows that it was not cut"), "\(unchecked.stdout)")
        let fifth = try SQLite3.query(workspace.database, "SELECT position || ':' || lower(hex(hash)) FROM events WHERE position = 5")
        #expect(unchecked.stdout.hasSuffix("Compare the anchor below with the one `enroll export` printed for the file.\nAnchor: \(fifth)\n"), "\(unchecked.stdout)")

        // Another journal's hash at a position the file reaches: refused the same way.
        let other = "3:" + String(repeating: "ab", count: 32)
        let rewritten = try workspace.enroll(["import", file, "--db", workspace.path("other.sqlite"), "--anchor", other])
        #expect(rewritten.status == 1 && rewritten.stderr.contains("does not have the anchor's hash at position 3"), "\(rewritten.stderr)")
        #expect(!FileManager.default.fileExists(atPath: workspace.path("other.sqlite")))
        let malformed = try workspace.enroll(["import", file, "--db", workspace.path("other.sqlite"), "--anchor", "6"])
        #expect(malformed.status == 2 && malformed.stderr.contains("--anchor must be POSITION:HASH"), "\(malformed.stderr)")

        // The whole file reaches the anchor; so does a file that goes on past it.
        let (whole, report) = try workspace.enrollJSON(["import", file, "--db", workspace.path("whole.sqlite"), "--anchor", last])
        #expect(whole.status == 0, "\(whole.stderr)")
        #expect(report["imported"] as? Int == 6 && report["anchor"] as? String == last && report["matchesAnchor"] as? String == last, "\(report)")
        let text = try workspace.enroll(["import", file, "--db", workspace.path("text.sqlite"), "--anchor", fifth])
        #expect(text.status == 0 && text.stdout.contains("It holds the anchor \(fifth).") && text.stdout.hasSuffix("\nAnchor: \(last)\n"), "\(text.stdout)\(text.stderr)")
    }

    @Test("in an imported copy, whose secrets read as forgotten, a reveal is refused (secret_unavailable) and nothing is recorded: no reveal of a QR code nobody saw")
    func revealInImportedCopy() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "alice"]).status == 0)
        #expect(try workspace.enroll(["export", "--output", workspace.path("journal.jsonl")]).status == 0)
        let copy = workspace.path("copy.sqlite")
        #expect(try workspace.enroll(["import", workspace.path("journal.jsonl"), "--db", copy]).status == 0)
        let before = try SQLite3.eventTypes(copy)
        let reveal = try workspace.enroll(["reveal", "alice", "--format", "uri", "--db", copy, "--key-file", workspace.path("copy.key")])
        #expect(reveal.status == 1 && reveal.stderr.contains("secret_unavailable") && reveal.stdout.isEmpty, "\(reveal.stdout) \(reveal.stderr)")
        #expect(try SQLite3.eventTypes(copy) == before, "a reveal that showed nothing was recorded")
    }

    @Test("import refuses an edited, truncated or reordered export, or a line that could be read two ways, naming the line, and leaves no database")
    func importRefusesTampering() throws {
        let workspace = try Workspace()
        _ = try populate(workspace)
        _ = try workspace.enroll(["export", "--output", workspace.path("journal.jsonl")])
        let lines = try String(contentsOfFile: workspace.path("journal.jsonl"), encoding: .utf8).split(separator: "\n").map(String.init)
        let cases: [(String, [String], String)] = [
            ("edited", lines.enumerated().map { $0.offset == 2 ? $0.element.replacingOccurrences(of: "\"step\":", with: "\"step\":1") : $0.element }, "line 3"),
            ("truncated", Array(lines.dropFirst()), "line 1"),
            ("reordered", [lines[0], lines[2], lines[1]] + lines.dropFirst(3), "line 2"),
            ("not JSON", [lines[0], "{not json"], "line 2"),
            // Read two ways: a reader taking the first "type" would see a removal never recorded.
            ("member twice", [lines[0], "{\"type\":\"AuthenticatorRemoved\"," + lines[1].dropFirst()] + lines.dropFirst(2), "line 2 is not a journal row (it names 'type' twice)"),
            ("member twice, nested", lines.enumerated().map { $0.offset == 0 ? $0.element.replacingOccurrences(of: "\"actor\":", with: "\"actor\":\"mallory\",\"actor\":") : $0.element }, "line 1 is not a journal row (it names 'actor' twice)"),
            ("member export never writes", [lines[0], "{\"note\":\"x\"," + lines[1].dropFirst()] + lines.dropFirst(2), "line 2 is not a journal row (it has a member 'note' that export does not write)"),
        ]
        for (name, content, expected) in cases {
            let file = workspace.path("\(name).jsonl")
            try (content.joined(separator: "\n") + "\n").write(toFile: file, atomically: true, encoding: .utf8)
            let target = workspace.path("\(name).sqlite")
            let result = try workspace.enroll(["import", file, "--db", target])
            #expect(result.status == 2, "\(name): \(result.stderr)")
            #expect(result.stderr.contains(expected), "\(name): \(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: target), "\(name): a database was left behind")
        }
        let missing = try workspace.enroll(["import", workspace.path("nope.jsonl"), "--db", workspace.path("x.sqlite")])
        #expect(missing.status == 3 && missing.stderr.contains("no such file"))
    }
}

/// RFC 4648 Base32 decoding for the test's own check (independent of the code under test).
enum Base32Decoding {
    static func decode(_ text: String) -> [UInt8]? {
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
        var bits = 0, value = 0
        var out: [UInt8] = []
        for character in text.uppercased() where character != "=" {
            guard let index = alphabet.firstIndex(of: character) else { return nil }
            value = (value << 5) | index
            bits += 5
            if bits >= 8 {
                out.append(UInt8((value >> (bits - 8)) & 0xFF))
                bits -= 8
            }
        }
        return out
    }
}
