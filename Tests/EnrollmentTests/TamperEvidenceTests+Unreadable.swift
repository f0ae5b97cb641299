import Enrollment
import Foundation
import Testing

/// `history` and `audit` on a journal holding a row whose event cannot be read: edited by hand
/// with the sqlite3 command line, or written by a newer release.
extension TamperEvidenceTests {
    func objects(_ text: String) throws -> [[String: Any]] {
        try text.split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] ?? [:] }
    }

    @Test("a row edited so that its event cannot be read is listed as unreadable, with every row after it; history and audit exit 1 with chain_broken, not 3")
    func unreadableRowIsListed() throws {
        let workspace = try journal()
        // alice holds positions 1-3, bob 4-6, carol 7-9: alice's reveal now has a type no release writes.
        try sqlite(workspace, "UPDATE events SET type = 'Bogus' WHERE position = 3")

        let audit = try workspace.enroll(["audit"])
        #expect(audit.status == 1, "\(audit.stdout)")
        let rows = Array(audit.stdout.split(separator: "\n").dropFirst())
        #expect(rows.count == 9, "every event is shown: \(audit.stdout)")
        #expect(rows.filter { $0.contains("[UNREADABLE") } == [rows[2]], "\(audit.stdout)")
        #expect(rows[2].contains(" alice ") && rows[2].contains(" Bogus ")
            && rows[2].hasSuffix(" unknown   [HASH CHAIN BROKEN HERE] [UNREADABLE: unknown event type]"), "\(rows[2])")
        #expect(rows[3...].allSatisfy { !$0.contains("[") } && rows[8].contains(" carol "), "the rows after it read as usual: \(audit.stdout)")
        #expect(audit.stderr.contains("1 of the events shown cannot be read (the first at position 3, type Bogus: unknown event type)"), "\(audit.stderr)")
        #expect(audit.stderr.hasSuffix("(chain_broken)\n") && audit.stderr.split(separator: "\n").count == 1, "\(audit.stderr)")

        // --json: the row's own columns, `unreadable` in place of details and fields, then the error.
        let json = try workspace.enroll(["history", "alice", "--json"])
        let entries = try objects(json.stdout)
        #expect(json.status == 1 && entries.count == 4, "\(json.stdout)")
        #expect(entries.prefix(3).map { $0["unreadable"] as? String } == [nil, nil, "unknown event type"], "\(json.stdout)")
        let unreadable = entries[2]
        #expect(unreadable["position"] as? Int == 3 && unreadable["streamVersion"] as? Int == 3 && unreadable["user"] as? String == "alice")
        #expect(unreadable["type"] as? String == "Bogus" && unreadable["actor"] as? String == "alice" && unreadable["outcome"] as? String == "unknown")
        #expect(unreadable["chainBroken"] as? Bool == true && unreadable["recordedAtUnix"] as? Int == 1_764_421_591, "\(unreadable)")
        #expect(unreadable["details"] == nil && unreadable["event"] == nil, "\(unreadable)")
        #expect(entries.last?["error"] as? String == "chain_broken", "\(json.stdout)")
        let all = try objects(try workspace.enroll(["audit", "--json"]).stdout)
        #expect(all.dropLast().map { $0["position"] as? Int } == Array(1...9), "\(all)")

        // A type no release writes could have been any event: shown whatever --type asks for.
        let rejected = try workspace.enroll(["audit", "--type", "CodeRejected", "--json"])
        let selected = try objects(rejected.stdout).dropLast().map { $0["type"] as? String }
        #expect(rejected.status == 1 && selected == ["CodeRejected", "Bogus", "CodeRejected", "CodeRejected"], "\(rejected.stdout)")
        // Another user's history does not hold it.
        let bob = try workspace.enroll(["audit", "--user", "bob"])
        #expect(bob.status == 0 && !bob.stdout.contains("UNREADABLE") && bob.stderr.isEmpty, "\(bob.stdout)\(bob.stderr)")
    }

    @Test("an unreadable row never shows its data: a request's edited field is named, its sealed secret and the secret itself appear nowhere")
    func unreadableRowHidesItsData() throws {
        let workspace = try journal()
        let (reveal, revealed) = try workspace.enrollJSON(["reveal", "bob", "--format", "uri"], environment: ["ENROLL_NOW": "1764421700"])
        try #require(reveal.status == 0, "\(reveal.stderr)")
        let secret = try #require(secretParameter(of: revealed["otpauthURI"] as? String ?? ""))
        let sealed = try SQLite3.query(workspace.database, "SELECT json_extract(data, '$.sealedSecret') FROM events WHERE position = 4")
        try #require(sealed.count > 20)
        // bob's EnrollmentRequested, the row holding his sealed secret.
        try sqlite(workspace, #"UPDATE events SET data = replace(data, '"digits":6', '"digits":"six"') WHERE position = 4"#)

        for arguments in [["audit"], ["audit", "--json"], ["history", "bob"], ["history", "bob", "--json"], ["audit", "--type", "EnrollmentRequested"]] {
            let result = try workspace.enroll(arguments)
            let output = result.stdout + result.stderr
            #expect(result.status == 1 && result.stderr.hasSuffix("(chain_broken)\n"), "\(arguments): \(result.stderr)")
            #expect(output.contains("fields do not match the EnrollmentRequested v1 shape ('digits' has a value this version does not write)"), "\(arguments): \(output)")
            #expect(!output.contains(secret) && !output.contains(sealed) && !output.contains(String(sealed.prefix(12))), "\(arguments): \(output)")
            #expect(!output.contains("\"six\""), "\(arguments): \(output)")
        }
        // The rows after it in bob's stream are still listed.
        let history = try workspace.enroll(["history", "bob"])
        #expect(history.stdout.split(separator: "\n").count == 5, "\(history.stdout)")
    }

    @Test("an unreadable row that still chains (a type a newer release writes) is listed without the chain mark; after the listing the command fails as reading it always did, undecodable_event (exit 3)")
    func chainedUnreadableRow() throws {
        let workspace = try journal()
        let database = try EnrollmentDatabase(path: workspace.database, options: DatabaseOptions(create: false))
        try database.writer.write { db in
            _ = try EventJournal.append([NewEvent(
                eventId: "00000000-0000-4000-8000-00000000000a", type: "FutureEvent", schemaVersion: 1, data: "{}",
                metadata: EventMetadata(actor: "alice", commandId: "future"), recordedAt: 1_764_421_700)], to: "alice", expectedVersion: 3, in: db)
        }
        try database.writer.close()

        let history = try workspace.enroll(["history", "alice"])
        let rows = Array(history.stdout.split(separator: "\n").dropFirst())
        #expect(history.status == 3 && rows.count == 4, "\(history.stdout)")
        #expect(rows.last?.hasSuffix(" unknown   [UNREADABLE: unknown event type]") == true, "\(history.stdout)")
        #expect(history.stderr == "enroll: error: the event at position 10 (FutureEvent) cannot be read: unknown event type; if `enroll verify --db \(workspace.database)` finds the chain intact, a newer enroll wrote it (upgrade, and keep the journal), else it was edited (restore a backup)\n", "\(history.stderr)")
        // verify, which has walked the chain, says which: no advice to run itself, or to restore.
        let verify = try workspace.enroll(["verify"])
        #expect(verify.status == 3, "\(verify.stdout)\(verify.stderr)")
        #expect(verify.stderr == "enroll: error: the hash chain is intact, but the event at position 10 (FutureEvent) cannot be read (unknown event type): a newer release of enroll wrote it; upgrade enroll to compare the projections, and keep the journal as it is (undecodable_event)\n", "\(verify.stderr)")
        let json = try objects(try workspace.enroll(["audit", "--json"]).stdout)
        #expect(json.count == 11 && json[9]["unreadable"] as? String == "unknown event type" && json[9]["chainBroken"] == nil, "\(json)")
        #expect(json.last?["error"] as? String == "undecodable_event", "\(json)")
    }
}

/// findings-26 F4: what later rows say about earlier ones is not inferred across a row that
/// could have been any event.
extension TamperEvidenceTests {
    @Test("a regenerate after an activation edited into a type no release writes does not claim the confirmed secret was discarded, never confirmed")
    func noInferenceAcrossAnUnreadableRow() throws {
        let workspace = try Workspace()
        let start: Int64 = 1_764_400_000
        let (request, requested) = try workspace.enrollJSON(["request", "alice"], environment: ["ENROLL_NOW": "\(start)"])
        try #require(request.status == 0, "\(request.stderr)")
        let secret = try #require(secretParameter(of: requested["otpauthURI"] as? String ?? ""))
        let code = try Oathtool.code(base32Secret: secret, at: start)
        let confirm = try workspace.enroll(["confirm", "alice", code], environment: ["ENROLL_NOW": "\(start)"])
        try #require(confirm.status == 0, "\(confirm.stderr)")
        let regenerate = try workspace.enroll(["regenerate", "alice"], environment: ["ENROLL_NOW": "\(start + 100)"])
        try #require(regenerate.status == 0, "\(regenerate.stderr)")
        let clean = try workspace.enroll(["history", "alice"], environment: ["ENROLL_NOW": "\(start + 100)"])
        #expect(clean.status == 0 && !clean.stdout.contains("never confirmed"), "\(clean.stdout)")

        try sqlite(workspace, "UPDATE events SET type = 'Bogus' WHERE type = 'AuthenticatorActivated'")
        let history = try workspace.enroll(["history", "alice"], environment: ["ENROLL_NOW": "\(start + 100)"])
        let rows = history.stdout.split(separator: "\n").dropFirst()
        #expect(history.status == 1 && rows.count == 3 && rows.dropFirst().first?.contains("[UNREADABLE: unknown event type]") == true, "\(history.stdout)")
        #expect(rows.last?.contains("SecretRegenerated") == true && !history.stdout.contains("discards the pending secret"), "\(history.stdout)")

        // Without the edit a request over a pending one still says so: the clause is not gone.
        let other = try Workspace()
        for (offset, arguments) in [["request", "bob"], ["request", "bob"]].enumerated() {
            let result = try other.enroll(arguments, environment: ["ENROLL_NOW": "\(start + Int64(offset) * 60)"])
            try #require(result.status == 0, "\(result.stderr)")
        }
        let bob = try other.enroll(["history", "bob"], environment: ["ENROLL_NOW": "\(start + 60)"])
        #expect(bob.stdout.contains("discards the pending secret issued at \(Timestamps.iso8601(start)), never confirmed"), "\(bob.stdout)")
    }
}
