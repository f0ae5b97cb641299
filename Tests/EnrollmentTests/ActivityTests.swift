import Foundation
import Testing

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

    /// The same counted by sqlite3 from the events table: the issuer is the event's own, or that
    /// of the user's latest issued secret before it.
    func counted(_ path: String, _ types: String) throws -> Set<String> {
        let sql = """
            SELECT date(e.recorded_at, 'unixepoch') AS d,
                   coalesce(json_extract(e.data, '$.issuer'),
                            (SELECT json_extract(p.data, '$.issuer') FROM events p
                             WHERE p.stream_id = e.stream_id AND p.stream_version < e.stream_version
                               AND p.type IN ('EnrollmentRequested', 'SecretRegenerated')
                             ORDER BY p.stream_version DESC LIMIT 1)) AS i,
                   count(*)
            FROM events e WHERE e.type IN (\(types)) GROUP BY d, i
            """
        return Set(try SQLite3.query(path, sql).split(separator: "\n").map(String.init))
    }

    @Test("per day and issuer, the counts equal those sqlite3 computes from the journal")
    func countsMatchTheJournal() throws {
        let workspace = try Workspace()
        let imported = try workspace.enroll(["import", RebuildTests.trafficJournal])
        try #require(imported.status == 0, "\(imported.stderr)")
        let result = try workspace.enroll(["activity", "--json"])
        #expect(result.status == 0, "\(result.stderr)")
        let rows = result.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        #expect(rows.count > 10)
        let columns = [
            ("requested", "'EnrollmentRequested'"), ("regenerated", "'SecretRegenerated'"), ("confirmed", "'AuthenticatorActivated'"),
            ("abandoned", "'PendingSecretExpired'"), ("failedCodes", "'CodeRejected'"), ("locks", "'ConfirmationLocked'"),
            ("removed", "'AuthenticatorRemoved'"),
        ]
        for (column, types) in columns {
            let expected = try counted(workspace.database, types)
            #expect(!expected.isEmpty, "\(column): the journal has no such events")
            #expect(projected(rows, column) == expected, "\(column) differs")
        }
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
}
