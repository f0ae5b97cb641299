import Foundation
import Testing
import TestSupport

/// `enroll activity`: the auditors' projection, cross-checked against counts the sqlite3 shell
/// computes straight from the journal.
@Suite("Enrollment activity per day and issuer")
struct ActivityTests {
    /// `day|issuer|count` lines from `enroll activity --json` for one column.
    func projected(_ rows: [[String: Any]], _ column: String) -> Set<String> {
        Set(rows.compactMap { row in
            guard let count = row[column] as? Int, count > 0 else { return nil }
            return "\(row["day"] as? String ?? "")|\(row["issuer"] as? String ?? "")|\(count)"
        })
    }

    /// The issuer of the user's pending secret just before event `e`, in SQL: the latest of the
    /// user's issues, confirmations, expiries and removals before it, when that is an issue.
    static let pendingBefore = """
        (SELECT CASE WHEN p.type IN ('EnrollmentRequested', 'SecretRegenerated') THEN json_extract(p.data, '$.issuer') END
         FROM events p WHERE p.stream_id = e.stream_id AND p.stream_version < e.stream_version
           AND p.type IN ('EnrollmentRequested', 'SecretRegenerated', 'AuthenticatorActivated', 'PendingSecretExpired', 'AuthenticatorRemoved')
         ORDER BY p.stream_version DESC LIMIT 1)
        """
    /// The issuer of the active secret just before `e`: when the latest of the user's
    /// confirmations, removals and first requests before it is a confirmation, the secret issued
    /// last before that confirmation.
    static let activeBefore = """
        (SELECT CASE WHEN a.type = 'AuthenticatorActivated' THEN
            (SELECT json_extract(i.data, '$.issuer') FROM events i WHERE i.stream_id = a.stream_id AND i.stream_version < a.stream_version
               AND i.type IN ('EnrollmentRequested', 'SecretRegenerated') ORDER BY i.stream_version DESC LIMIT 1) END
         FROM events a WHERE a.stream_id = e.stream_id AND a.stream_version < e.stream_version
           AND a.type IN ('AuthenticatorActivated', 'AuthenticatorRemoved', 'EnrollmentRequested')
         ORDER BY a.stream_version DESC LIMIT 1)
        """

    /// Each column as sqlite3 counts it from the events table (issuer `i` and time `t` per
    /// counted event): under the event's own issuer, or under the secret the event concerns; a
    /// pending secret that an issue or a removal discards counts as abandoned.
    static let columns: [(String, String)] = [
        ("requested", "SELECT json_extract(e.data, '$.issuer') AS i, e.recorded_at AS t FROM events e WHERE e.type = 'EnrollmentRequested'"),
        ("regenerated", "SELECT json_extract(e.data, '$.issuer') AS i, e.recorded_at AS t FROM events e WHERE e.type = 'SecretRegenerated'"),
        ("confirmed", "SELECT \(pendingBefore) AS i, e.recorded_at AS t FROM events e WHERE e.type = 'AuthenticatorActivated'"),
        ("abandoned", """
            SELECT * FROM (SELECT \(pendingBefore) AS i, e.recorded_at AS t FROM events e
                           WHERE e.type IN ('PendingSecretExpired', 'EnrollmentRequested', 'SecretRegenerated', 'AuthenticatorRemoved'))
            WHERE i IS NOT NULL
            """),
        ("failedCodes", """
            SELECT CASE json_extract(e.data, '$.target') WHEN 'pending' THEN \(pendingBefore) ELSE \(activeBefore) END AS i, e.recorded_at AS t
            FROM events e WHERE e.type = 'CodeRejected'
            """),
        ("locks", "SELECT coalesce(\(pendingBefore), \(activeBefore)) AS i, e.recorded_at AS t FROM events e WHERE e.type = 'ConfirmationLocked'"),
        ("removed", "SELECT coalesce(\(activeBefore), \(pendingBefore)) AS i, e.recorded_at AS t FROM events e WHERE e.type = 'AuthenticatorRemoved'"),
    ]

    /// `day|issuer|count` lines of one of ``columns``.
    func counted(_ path: String, _ events: String) throws -> Set<String> {
        let sql = "SELECT date(t, 'unixepoch') AS d, i, count(*) FROM (\(events)) GROUP BY d, i"
        return Set(try SQLite3.query(path, sql).split(separator: "\n").map(String.init))
    }

    /// The rows of `enroll activity --json` equal the counts sqlite3 computes from the journal,
    /// and per issuer every secret issued is confirmed, abandoned or still pending in the journal
    /// (an expiry no command has recorded yet is still pending there).
    func expectCountsMatchTheJournal(_ workspace: Workspace, at now: Int64? = nil) throws {
        let result = try workspace.enroll(["activity", "--json"], environment: now.map { ["ENROLL_NOW": "\($0)"] } ?? [:])
        #expect(result.status == 0, "\(result.stderr)")
        let rows = result.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        for (column, events) in Self.columns {
            #expect(projected(rows, column) == (try counted(workspace.database, events)), "\(column) differs")
        }
        var open: [String: Int] = [:]
        for row in rows {
            let issued = (row["requested"] as? Int ?? 0) + (row["regenerated"] as? Int ?? 0)
            open[row["issuer"] as? String ?? "", default: 0] += issued - (row["confirmed"] as? Int ?? 0) - (row["abandoned"] as? Int ?? 0)
        }
        let pending = try SQLite3.query(workspace.database, """
            SELECT i, count(*) FROM (
                SELECT CASE WHEN e.type IN ('EnrollmentRequested', 'SecretRegenerated') THEN json_extract(e.data, '$.issuer') END AS i
                FROM events e WHERE e.stream_version = (
                    SELECT max(l.stream_version) FROM events l WHERE l.stream_id = e.stream_id
                    AND l.type IN ('EnrollmentRequested', 'SecretRegenerated', 'AuthenticatorActivated', 'PendingSecretExpired', 'AuthenticatorRemoved')))
            WHERE i IS NOT NULL GROUP BY i
            """).split(separator: "\n").map(String.init)
        #expect(Set(pending) == Set(open.filter { $0.value != 0 }.map { "\($0.key)|\($0.value)" }), "requested + regenerated − confirmed − abandoned per issuer: \(open)")
    }

    @Test("per day and issuer, the counts of recorded traffic equal those sqlite3 computes from the journal; per issuer, issued = confirmed + abandoned + still pending")
    func countsMatchTheJournal() throws {
        let workspace = try Workspace()
        let imported = try workspace.enroll(["import", RebuildTests.trafficJournal])
        try #require(imported.status == 0, "\(imported.stderr)")
        let rows = try activity(workspace, at: nil)
        #expect(rows.count > 10)
        for (column, _) in Self.columns {
            #expect(rows.values.contains { $0[column] != nil }, "\(column): the journal has no such events")
        }
        try expectCountsMatchTheJournal(workspace)
    }

    @Test("activity filters by day and issuer, prints a table, and refuses a bad day with exit 2")
    func filtersAndTable() throws {
        let workspace = try Workspace()
        _ = try workspace.enroll(["request", "alice", "--issuer", "ACME"], environment: ["ENROLL_NOW": "1764421576"])
        _ = try workspace.enroll(["confirm", "alice", "000000"], environment: ["ENROLL_NOW": "1764421586"])
        _ = try workspace.enroll(["request", "bob", "--issuer", "Globex"], environment: ["ENROLL_NOW": "1764508000"])
        let table = try workspace.enroll(["activity"], environment: ["ENROLL_NOW": "1764508010"])
        #expect(table.status == 0)
        let lines = table.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 4 && lines[0].hasPrefix("DAY") && lines[0].contains("FAILED"), "\(table.stdout)")
        #expect(lines[1].hasPrefix("2025-11-29  ACME") && lines[2].hasPrefix("2025-11-30  Globex"), "\(table.stdout)")
        // alice's secret expired the day before, and no command has recorded it yet: counted on
        // the day it expired, in a column of its own, explained under the table.
        #expect(lines[0].hasSuffix("UNRECORDED* ") && lines[1].split(separator: " ").last == "1" && lines[2].split(separator: " ").last == "0", "\(table.stdout)")
        #expect(lines[3].hasPrefix("* pending secrets that expired unconfirmed that day and that no command has recorded yet"), "\(table.stdout)")
        let one = try workspace.enroll(["activity", "--since", "2025-11-30", "--json"])
        #expect(one.stdout.split(separator: "\n").count == 1 && one.stdout.contains("\"issuer\":\"Globex\""))
        let acme = try workspace.enroll(["activity", "--issuer", "ACME", "--json"])
        #expect(acme.stdout.contains("\"failedCodes\":1") && acme.stdout.contains("\"requested\":1"))
        let bad = try workspace.enroll(["activity", "--since", "someday"])
        #expect(bad.status == 2 && bad.stderr.split(separator: "\n").count == 1)

        // An issuer with spaces is quoted, as user ids are: it cannot pass for another issuer
        // followed by counts, and the columns after it stay under their headers.
        let lookalike = "ACME        9           9"
        _ = try workspace.enroll(["request", "carol", "--issuer", lookalike], environment: ["ENROLL_NOW": "1764508020"])
        let quoted = try workspace.enroll(["activity", "--since", "2025-11-30"]).stdout.split(separator: "\n").map(String.init)
        #expect(quoted.contains { $0.hasPrefix("2025-11-30  \"\(lookalike)\" ") }, "\(quoted)")
        let column = try #require(quoted.first?.range(of: "REQUESTED")).lowerBound.utf16Offset(in: quoted[0])
        for line in quoted.dropFirst() where line.hasPrefix("2025") {
            #expect(Array(line)[column - 1] == " " && Array(line)[column] == "1", "\(quoted)")
        }
    }

    @Test("an expiry no command has recorded yet is counted on the day it expired, per issuer, within --since/--until, in text and JSON; once recorded it counts as abandoned on the recording day")
    func unrecordedExpiries() throws {
        let workspace = try Workspace()
        let t0: Int64 = 1_764_421_576  // 2025-11-29T13:06:16Z; the secrets expire 10 minutes later
        _ = try workspace.enroll(["request", "gone", "--issuer", "ACME"], environment: ["ENROLL_NOW": "\(t0)"])
        _ = try workspace.enroll(["request", "back", "--issuer", "Globex"], environment: ["ENROLL_NOW": "\(t0)"])
        func rows(_ arguments: [String], at now: Int64) throws -> [[String: Any]] {
            let result = try workspace.enroll(["activity", "--json"] + arguments, environment: ["ENROLL_NOW": "\(now)"])
            #expect(result.status == 0, "\(result.stderr)")
            return result.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        }
        func unrecorded(_ rows: [[String: Any]]) -> [String] {
            rows.filter { ($0["unrecordedExpiries"] as? Int ?? 0) > 0 }.map { "\($0["day"] ?? "")/\($0["issuer"] ?? ""): \($0["unrecordedExpiries"] ?? "")" }
        }
        let before = try workspace.enroll(["activity"], environment: ["ENROLL_NOW": "\(t0 + 60)"])
        #expect(!before.stdout.contains("UNRECORDED"), "nothing expired yet: \(before.stdout)")
        let later = t0 + 3 * 86_400
        #expect(unrecorded(try rows([], at: later)) == ["2025-11-29/ACME: 1", "2025-11-29/Globex: 1"])
        #expect(unrecorded(try rows(["--issuer", "ACME"], at: later)) == ["2025-11-29/ACME: 1"])
        // Only the expiries of the days asked for.
        #expect(try rows(["--since", "2025-11-30"], at: later).isEmpty)
        #expect(try rows(["--until", "2025-11-28"], at: later).isEmpty)
        let empty = try workspace.enroll(["activity", "--since", "2030-01-01"], environment: ["ENROLL_NOW": "\(later)"])
        #expect(empty.stdout == "No enrollment activity recorded in that range.\n", "\(empty.stdout)")
        // back returns: the command records the expiry, now abandoned on the day it was recorded.
        #expect(try workspace.enroll(["confirm", "back", "123456"], environment: ["ENROLL_NOW": "\(later)"]).status == 1)
        let after = try rows([], at: later)
        #expect(unrecorded(after) == ["2025-11-29/ACME: 1"])
        #expect(after.contains { $0["day"] as? String == "2025-12-02" && $0["issuer"] as? String == "Globex" && $0["abandoned"] as? Int == 1 }, "\(after)")
    }

    /// `enroll activity --json` rows keyed `day/issuer`, each `[column: count]` of the counts that are not 0.
    func activity(_ workspace: Workspace, at now: Int64?, database: String? = nil) throws -> [String: [String: Int]] {
        var arguments = ["activity", "--json"]
        if let database { arguments += ["--db", database] }
        let result = try workspace.enroll(arguments, environment: now.map { ["ENROLL_NOW": "\($0)"] } ?? [:])
        #expect(result.status == 0, "\(result.stderr)")
        var rows: [String: [String: Int]] = [:]
        for line in result.stdout.split(separator: "\n") {
            let row = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            let key = "\(row["day"] as? String ?? "")/\(row["issuer"] as? String ?? "")"
            rows[key] = row.compactMapValues { $0 as? Int }.filter { $0.value != 0 }
        }
        return rows
    }

    /// The Base32 secret `enroll reveal` shows for the user's current secret.
    func revealedSecret(_ workspace: Workspace, _ user: String, at now: Int64) throws -> String {
        let reveal = try workspace.enroll(["reveal", user, "--format", "uri"], environment: ["ENROLL_NOW": "\(now)"])
        try #require(reveal.status == 0, "\(reveal.stderr)")
        return try #require(secretParameter(of: reveal.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
    }

    /// What the projection built inline, command by command, equals a rebuild of it by the tool.
    func expectRebuildAgrees(_ workspace: Workspace, at now: Int64) throws {
        let copy = workspace.path("rebuilt.sqlite")
        try FileManager.default.copyItem(atPath: workspace.database, toPath: copy)
        let rebuilt = try Processes.run(try Processes.product("rebuild-projections"), ["--db", copy, "--projection", "enrollment_activity"])
        #expect(rebuilt.status == 0, "\(rebuilt.stderr)")
        #expect(try activity(workspace, at: now, database: copy) == (try activity(workspace, at: now)))
    }

    @Test("a removal, and a replayed code, after a replacement expired count under the active authenticator's issuer, not the abandoned replacement's")
    func issuerlessEventsCountUnderTheirSecret() throws {
        let workspace = try Workspace()
        let t0: Int64 = 1_764_799_200  // 2025-12-03T22:00:00Z, the start of an hour-long time step
        let request = try workspace.enroll(["request", "gina", "--issuer", "ACME", "--period", "3600"], environment: ["ENROLL_NOW": "\(t0)"])
        try #require(request.status == 0, "\(request.stderr)")
        let code = try Oathtool.code(base32Secret: try revealedSecret(workspace, "gina", at: t0 + 5), at: t0 + 10, period: 3600)
        try #require(try workspace.enroll(["confirm", "gina", code], environment: ["ENROLL_NOW": "\(t0 + 10)"]).status == 0)
        try #require(try workspace.enroll(["regenerate", "gina", "--issuer", "NEWCO"], environment: ["ENROLL_NOW": "\(t0 + 100)"]).status == 0)
        // The replacement expires unconfirmed (10 minutes); the same code again is a replay
        // against the active ACME secret, still in its time step.
        let replay = try workspace.enroll(["confirm", "gina", code], environment: ["ENROLL_NOW": "\(t0 + 1000)"])
        #expect(replay.status == 1, "\(replay.stderr)")
        let status = try workspace.enrollJSON(["status", "gina"], environment: ["ENROLL_NOW": "\(t0 + 1050)"]).1
        #expect(status["status"] as? String == "active" && status["issuer"] as? String == "ACME", "\(status)")
        #expect(try workspace.enroll(["remove", "gina", "--actor", "admin"], environment: ["ENROLL_NOW": "\(t0 + 1100)"]).status == 0)
        #expect(try SQLite3.eventTypes(workspace.database, user: "gina") == [
            "EnrollmentRequested", "QRCodeRevealed", "AuthenticatorActivated", "SecretRegenerated",
            "PendingSecretExpired", "CodeRejected", "AuthenticatorRemoved",
        ])

        let rows = try activity(workspace, at: t0 + 1200)
        #expect(rows == [
            "2025-12-03/ACME": ["requested": 1, "confirmed": 1, "failedCodes": 1, "removed": 1],
            "2025-12-03/NEWCO": ["regenerated": 1, "abandoned": 1],
        ], "\(rows)")
        try expectRebuildAgrees(workspace, at: t0 + 1200)
        try expectCountsMatchTheJournal(workspace, at: t0 + 1200)
    }

    @Test("a pending secret discarded by a new request, a new regeneration or a removal counts as abandoned under its issuer, on that day; per issuer, issued = confirmed + abandoned + pending")
    func discardedPendingSecretsAreAbandoned() throws {
        let workspace = try Workspace()
        let t0: Int64 = 1_764_900_000  // 2025-12-05T02:00:00Z
        func run(_ arguments: [String], at time: Int64) throws {
            let result = try workspace.enroll(arguments, environment: ["ENROLL_NOW": "\(time)"])
            try #require(result.status == 0, "\(arguments): \(result.stderr)")
        }
        func confirm(_ user: String, at time: Int64) throws {
            let code = try Oathtool.code(base32Secret: try revealedSecret(workspace, user, at: time - 5), at: time)
            try run(["confirm", user, code], at: time)
        }
        // hank: a request replaces the pending first secret; a regeneration replaces the pending replacement.
        try run(["request", "hank", "--issuer", "ACME"], at: t0)
        try run(["request", "hank", "--issuer", "ACME2"], at: t0 + 60)
        try confirm("hank", at: t0 + 70)
        try run(["regenerate", "hank", "--issuer", "R1"], at: t0 + 100)
        try run(["regenerate", "hank", "--issuer", "R2"], at: t0 + 200)
        try confirm("hank", at: t0 + 210)
        // ivy: removed while only a first secret is pending; jill: removed with a replacement pending.
        try run(["request", "ivy", "--issuer", "IVY"], at: t0)
        try run(["remove", "ivy"], at: t0 + 30)
        try run(["request", "jill", "--issuer", "J1"], at: t0)
        try confirm("jill", at: t0 + 20)
        try run(["regenerate", "jill", "--issuer", "J2"], at: t0 + 40)
        try run(["remove", "jill"], at: t0 + 50)
        // kim: still pending (the next day).
        try run(["request", "kim", "--issuer", "R2"], at: t0 + 86_420)

        let rows = try activity(workspace, at: t0 + 86_430)
        #expect(rows == [
            "2025-12-05/ACME": ["requested": 1, "abandoned": 1],
            "2025-12-05/ACME2": ["requested": 1, "confirmed": 1],
            "2025-12-05/R1": ["regenerated": 1, "abandoned": 1],
            "2025-12-05/R2": ["regenerated": 1, "confirmed": 1],
            "2025-12-05/IVY": ["requested": 1, "abandoned": 1, "removed": 1],
            "2025-12-05/J1": ["requested": 1, "confirmed": 1, "removed": 1],
            "2025-12-05/J2": ["regenerated": 1, "abandoned": 1],
            "2025-12-06/R2": ["requested": 1],
        ], "\(rows)")
        var open: [String: Int] = [:]
        for (key, counts) in rows {
            let issuer = String(key.split(separator: "/", maxSplits: 1)[1])
            open[issuer, default: 0] += counts["requested", default: 0] + counts["regenerated", default: 0] - counts["confirmed", default: 0] - counts["abandoned", default: 0]
        }
        // Only kim's R2 secret is still pending, as sqlite3 sees in the authenticators table.
        #expect(open.filter { $0.value != 0 } == ["R2": 1], "\(open)")
        #expect(try SQLite3.query(workspace.database, "SELECT user_id || '|' || coalesce(pending_issuer, issuer) FROM authenticators WHERE status = 'pending' OR replacement_pending") == "kim|R2")
        try expectRebuildAgrees(workspace, at: t0 + 86_430)
        try expectCountsMatchTheJournal(workspace, at: t0 + 86_430)
    }

    @Test("--since and --until take whole days: a time of day other than midnight UTC is refused with exit 2, naming the option and the day to give")
    func timesOfDayRefused() throws {
        let workspace = try Workspace()
        _ = try workspace.enroll(["request", "alice", "--issuer", "ACME"], environment: ["ENROLL_NOW": "1764421576"])
        _ = try workspace.enroll(["confirm", "alice", "000000"], environment: ["ENROLL_NOW": "1764421586"])
        let before = workspace.databaseBytes()
        for (option, text) in [("--since", "2025-11-29T12:00:00Z"), ("--until", "2025-11-29T12:00:01Z"), ("--until", "2025-11-29T23:59:59Z"),
                               ("--since", "2025-11-29T00:00:00+02:00"), ("--since", "@1764421576")] {
            let result = try workspace.enroll(["activity", option, text])
            #expect(result.status == 2, "\(option) \(text): exit \(result.status)")
            let lines = result.stderr.split(separator: "\n")
            #expect(lines.count == 1 && lines[0].contains("\(option) '\(text)' is not the start of a UTC day: activity counts whole days; give YYYY-MM-DD"), "\(result.stderr)")
            #expect(result.stdout.isEmpty, "\(result.stdout)")
        }
        // Midnight UTC is a day, however written; --until stays inclusive.
        for arguments in [["--since", "2025-11-29T00:00:00Z", "--until", "2025-11-29"], ["--since", "@1764374400", "--until", "2025-11-29T00:00:00Z"]] {
            let result = try workspace.enroll(["activity", "--json"] + arguments, environment: ["ENROLL_NOW": "1764421600"])
            #expect(result.status == 0 && result.stdout.contains("\"day\":\"2025-11-29\"") && result.stdout.contains("\"failedCodes\":1"), "\(arguments): \(result.stdout) \(result.stderr)")
        }
        #expect(workspace.databaseBytes() == before)
    }

    @Test("with both projections it reads needing a rebuild, activity names both and `rebuild-projections --all`, not one then the other")
    func bothProjectionsStale() throws {
        let workspace = try Workspace()
        _ = try workspace.enroll(["request", "alice", "--issuer", "ACME"], environment: ["ENROLL_NOW": "1764421576"])
        _ = try SQLite3.query(workspace.database, "UPDATE projection_checkpoints SET schema_version = 1")
        let before = workspace.databaseBytes()
        let result = try workspace.enroll(["activity"])
        #expect(result.status == 3, "exit \(result.status): \(result.stderr)")
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1 && lines[0].contains("enrollment_activity is at schema version 1") && lines[0].contains("authenticators is at schema version 1")
                && lines[0].contains("rebuild-projections --db \(workspace.database) --all`"), "\(result.stderr)")
        #expect(workspace.databaseBytes() == before)
        // Only one stale: named alone, as before.
        let rebuilt = try Processes.run(try Processes.product("rebuild-projections"), ["--db", workspace.database, "--projection", "authenticators"])
        #expect(rebuilt.status == 0, "\(rebuilt.stderr)")
        let one = try workspace.enroll(["activity"])
        #expect(one.status == 3 && one.stderr.contains("--projection enrollment_activity") && !one.stderr.contains("authenticators"), "\(one.stderr)")
        let all = try Processes.run(try Processes.product("rebuild-projections"), ["--db", workspace.database, "--all"])
        #expect(all.status == 0, "\(all.stderr)")
        #expect(try workspace.enroll(["activity"]).status == 0)
    }
}
