import Foundation
import Testing
import TestSupport

/// `enroll verify` on journals written by a clock that stepped back between two commands of
/// one user (an NTP step, a VM snapshot restored, `ENROLL_NOW`) (findings-20 F1): not
/// tampering. A data key really deleted outside enroll is still reported, whichever way the
/// clock went.
@Suite("Clock set back")
struct ClockStepBackTests {
    static let t0: Int64 = 1_790_000_000

    func run(_ workspace: Workspace, _ arguments: [String], at time: Int64) throws -> Processes.Result {
        let result = try workspace.enroll(arguments, environment: ["ENROLL_NOW": "\(time)"])
        try #require(result.status == 0, "\(arguments) at \(time): \(result.stderr)")
        return result
    }

    /// The user's current secret, shown again as an otpauth URI (recorded, at `time`).
    func secret(_ workspace: Workspace, _ user: String, at time: Int64) throws -> String {
        let uri = try run(workspace, ["reveal", user, "--format", "uri"], at: time).stdout
        return try #require(secretParameter(of: uri.trimmingCharacters(in: .whitespacesAndNewlines)))
    }

    @Test("a second request 1 s or a day earlier than the first, and a regenerate 2 s before the request, verify intact (exit 0); the secrets still open under the original data key")
    func requestsUnderAClockSetBack() throws {
        let workspace = try Workspace()
        _ = try run(workspace, ["request", "alice"], at: Self.t0)
        _ = try run(workspace, ["request", "alice"], at: Self.t0 - 1)
        _ = try run(workspace, ["request", "bob"], at: Self.t0)
        _ = try run(workspace, ["request", "bob"], at: Self.t0 - 86_400)
        _ = try run(workspace, ["request", "carol"], at: Self.t0)
        let code = try Oathtool.code(base32Secret: try secret(workspace, "carol", at: Self.t0), at: Self.t0)
        _ = try run(workspace, ["confirm", "carol", code], at: Self.t0)
        _ = try run(workspace, ["regenerate", "carol"], at: Self.t0 - 2)
        let keysBefore = try SQLite3.query(workspace.database, "SELECT stream_id || ' ' || created_at || ' ' || hex(wrapped_key) FROM data_keys ORDER BY stream_id")

        let text = try workspace.enroll(["verify"])
        #expect(text.status == 0, "\(text.stdout)\(text.stderr)")
        #expect(text.stderr.isEmpty, "\(text.stderr)")
        let events = try SQLite3.query(workspace.database, "SELECT count(*) FROM events")
        #expect(text.stdout.hasPrefix("Verified \(events) events: the hash chain is intact."), "\(text.stdout)")
        // The day back is more than the 10 s tolerated: noted, not failed.
        #expect(text.stdout.contains("note: recorded times go back by more than 10 s at 1 position"), "\(text.stdout)")
        let (json, report) = try workspace.enrollJSON(["verify"])
        #expect(json.status == 0 && report["intact"] as? Bool == true && report["findings"] == nil, "\(json.stdout)")

        // Nothing was replaced: the keys are the ones the first requests made, and the latest
        // secrets open under them (oathtool's code for alice's is accepted).
        #expect(keysBefore.split(separator: "\n").map { $0.split(separator: " ")[1] } == ["\(Self.t0)", "\(Self.t0)", "\(Self.t0)"], "\(keysBefore)")
        let aliceCode = try Oathtool.code(base32Secret: try secret(workspace, "alice", at: Self.t0 + 5), at: Self.t0 + 5)
        _ = try run(workspace, ["confirm", "alice", aliceCode], at: Self.t0 + 5)
        #expect(try workspace.enroll(["verify"]).status == 0)
    }

    @Test("a data key deleted outside enroll, then re-made by a request at a clock set back before the first, is still reported as a faked crypto-shred (exit 1)")
    func fakedShredUnderAClockSetBack() throws {
        let workspace = try Workspace()
        _ = try run(workspace, ["request", "erin"], at: Self.t0)
        _ = try SQLite3.query(workspace.database, "DELETE FROM data_keys WHERE stream_id = 'erin'")
        _ = try run(workspace, ["request", "erin"], at: Self.t0 - 5)
        let result = try workspace.enroll(["verify"])
        #expect(result.status == 1, "\(result.stdout)")
        #expect(result.stderr.contains("'erin' was never removed, yet its data key was made at 2026-09-21T14:13:15Z, not with its first secret (2026-09-21T14:13:20Z)"), "\(result.stderr)")
        let (json, report) = try workspace.enrollJSON(["verify"])
        let kinds = (report["findings"] as? [[String: Any]] ?? []).compactMap { $0["kind"] as? String }
        #expect(json.status == 1 && report["tampering"] as? String == "outside-chain" && kinds == ["data_key_replaced"], "\(json.stdout)")
    }
}
