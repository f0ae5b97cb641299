import Foundation
import GRDB
import Testing
import TestSupport
@testable import Enrollment

/// Every file under Fixtures/ is a test: adding a file adds a test named after it.
@Suite("Fixtures")
struct FixtureTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Fixtures")

    /// Fixture paths relative to Fixtures/, so each shows by name in the test output.
    static let files: [String] = {
        let all = (try? FixtureRunner.discover([root.path])) ?? []
        return all.map { String($0.dropFirst(root.path.count + 1)) }
    }()

    @Test("the fixture replays as recorded", arguments: files)
    func replay(_ file: String) throws {
        let result = try FixtureRunner.run(path: Self.root.appendingPathComponent(file).path, name: file)
        for failure in result.failures {
            Issue.record(Comment(rawValue: "\(file):\n\(failure)"))
        }
    }

    @Test("Fixtures/ holds at least 30 scenarios and a recorded journal of at least 10 000 events")
    func coverage() throws {
        #expect(Self.files.filter { $0.hasSuffix(".json") }.count >= 30)
        let journals = Self.files.filter { $0.hasSuffix(".jsonl") }
        let sizes = try journals.map { file in
            try String(contentsOf: Self.root.appendingPathComponent(file), encoding: .utf8).split(separator: "\n").count
        }
        #expect(sizes.contains { $0 >= 10_000 }, "journal sizes: \(zip(journals, sizes).map { "\($0): \($1)" })")
    }

    @Test("scenarios cover every command and every refusal")
    func commandsAndRefusals() throws {
        var commands: Set<String> = [], refusals: Set<String> = []
        for file in Self.files where file.hasSuffix(".json") {
            let text = try String(contentsOf: Self.root.appendingPathComponent(file), encoding: .utf8)
            guard case .object(let root) = try JSONValue.parse(text) else { continue }
            if case .string(let command)? = root["when"]?["command"] { commands.insert(command) }
            if case .string(let code)? = root["rejection"] { refusals.insert(code) }
        }
        #expect(commands == ["RequestEnrollment", "ConfirmCode", "RevealQR", "RevealSecretText", "RegenerateSecret", "CancelRegenerate", "RemoveAuthenticator"])
        #expect(refusals == Set(Scenario.rejections))
    }

    @Test("a failing scenario reports a readable difference, expected against actual")
    func readableDifference() throws {
        let scenario = try Scenario(json: """
            {"given": [{"at": 1764400000, "type": "EnrollmentRequested", "secret": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ",
                        "issuer": "ACME", "account": "alice", "algorithm": "SHA1", "digits": 6, "period": 30, "expiresAt": 1764400600}],
             "when": {"at": 1764400010, "command": "RevealQR"},
             "then": [{"type": "QRCodeRevealed", "target": "active"}],
             "state": {"status": "active"}}
            """, name: "wrong.json")
        let result = try FixtureRunner.run(scenario)
        #expect(!result.passed)
        let text = result.failures.joined(separator: "\n")
        #expect(text.contains("- {\"target\":\"active\",\"type\":\"QRCodeRevealed\"}"), "\(text)")
        #expect(text.contains("+ {\"target\":\"pending\",\"type\":\"QRCodeRevealed\"}"), "\(text)")
        #expect(text.contains("- status: \"active\"") && text.contains("+ status: \"pending\""), "\(text)")
    }

    @Test("a scenario whose command issues a secret but that gives no secrets fails saying so, not only with a refusal code that points at a data key; one that expects that refusal passes")
    func missingSecretsAreNamed() throws {
        let json = #"{"given": [], "when": {"at": 1764400000, "command": "RequestEnrollment"}, "then": []REJECTION}"#
        let result = try FixtureRunner.run(try Scenario(json: json.replacingOccurrences(of: "REJECTION", with: ""), name: "no-secrets.json"))
        let text = result.failures.joined(separator: "\n")
        #expect(!result.passed && text.contains("+ secret_unavailable\n(the scenario has no \"secrets\": RequestEnrollment issues a secret"), "\(text)")
        let expected = try FixtureRunner.run(try Scenario(json: json.replacingOccurrences(of: "REJECTION", with: #", "rejection": "secret_unavailable""#), name: "no-randomness.json"))
        #expect(expected.passed, "\(expected.failures)")
    }

    @Test("enroll replay reports pass or fail per file and exits 1 when any fails; a scenario can come through a pipe")
    func replayCommand() throws {
        let workspace = try Workspace()
        let passing = Self.root.appendingPathComponent("scenarios/confirm/sha1-6-digits.json").path
        let ok = try workspace.enroll(["replay", passing, Self.root.appendingPathComponent("scenarios/remove").path])
        #expect(ok.status == 0, "\(ok.stdout)\(ok.stderr)")
        #expect(ok.stdout.contains("PASS \(passing)"))
        #expect(ok.stdout.contains("remove/then-enroll-again.json"))

        var broken = try String(contentsOfFile: passing, encoding: .utf8)
        broken = broken.replacingOccurrences(of: "\"status\": \"active\"", with: "\"status\": \"pending\"")
        let brokenPath = workspace.path("broken.json")
        try broken.write(toFile: brokenPath, atomically: true, encoding: .utf8)
        let failed = try workspace.enroll(["replay", passing, brokenPath])
        #expect(failed.status == 1)
        #expect(failed.stdout.contains("FAIL \(brokenPath)") && failed.stdout.contains("- status: \"pending\""), "\(failed.stdout)")
        #expect(failed.stdout.contains("1 passed, 1 failed of 2 files."))

        try "{\"when\": {}}".write(toFile: workspace.path("bad.json"), atomically: true, encoding: .utf8)
        let malformed = try workspace.enroll(["replay", workspace.path("bad.json")])
        #expect(malformed.status == 2 && malformed.stdout.contains("ERROR"))
        // A path that names nothing is an ERROR of its own: the files beside it still run.
        let missing = try workspace.enroll(["replay", passing, workspace.path("nope.json"), brokenPath])
        #expect(missing.status == 2, "\(missing.stdout)\(missing.stderr)")
        #expect(missing.stdout.contains("PASS \(passing)") && missing.stdout.contains("FAIL \(brokenPath)"), "\(missing.stdout)")
        #expect(missing.stdout.contains("ERROR \(workspace.path("nope.json")): no such file or directory; check the path\n"), "\(missing.stdout)")
        #expect(missing.stdout.contains("1 passed, 1 failed, 1 not fixtures of 3 files."), "\(missing.stdout)")
        let (_, missingJSON) = try workspace.enrollJSON(["replay", workspace.path("nope.json")])
        #expect(missingJSON["file"] as? String == workspace.path("nope.json") && missingJSON["passed"] as? Bool == false, "\(missingJSON)")
        #expect(missingJSON["error"] as? String == "malformed_fixture" && (missingJSON["message"] as? String)?.hasSuffix("no such file or directory; check the path") == true, "\(missingJSON)")

        // A scenario read from a pipe (`replay <(…)`), as `import` reads one.
        let bash = try Processes.tool("bash", package: "bash")
        let piped = try Processes.run(bash, ["-c", #""$0" replay <(cat "$1")"#, try Processes.product("enroll"), passing])
        #expect(piped.status == 0 && piped.stdout.contains("PASS /dev/fd/"), "\(piped.stdout)\(piped.stderr)")
    }

    @Test("a fixture with numbers the engine could not have been given is refused naming the field (exit 2), never a crash", arguments: [
        (#""at": 1764400045,"#, #""at": 1e19,"#, "when.at must be a Unix time"),
        (#""failedAttempts": 4"#, #""failedAttempts": 9223372036854775807"#, "failedAttempts 9223372036854775807 is not between 0 and 1000000"),
        (#""description""#, #""policy": {"lockDuration": 4611686018427387904}, "description""#, "policy.lockDuration must be seconds"),
        (#""description""#, #""policy": {"window": 9223372036854775807}, "description""#, "policy.window must be time steps"),
        // What the engine would refuse elsewhere, or a reader would misread, is refused by name too.
        (#""code": "000000""#, #""code": "000000", "code": "123456""#, #"the member "code" appears more than once in an object (again at line "#),
        (#""code": "000000""#, #""code": 123456"#, "when.code must be a string, the code exactly as typed"),
        (#""rejection": "locked""#, #""rejection": "frobbed""#, #"rejection "frobbed" is not a refusal code"#),
        (#""description""#, #""user": "a/b", "description""#, "user: invalid user id: it contains a path separator"),
        (#""description""#, #""secrets": [""], "description""#, "secrets[0] holds 0 bytes; a secret has at least 16"),
        // The engine issues at most 64 bytes (SHA-512's): a longer secret could not have come from it.
        (#""description""#, #""secrets": ["\#(String(repeating: "A", count: 104))"], "description""#, "secrets[0] holds 65 bytes; a secret has at most 64"),
        (#""secret": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ""#, #""secret": "\#(String(repeating: "A", count: 100_000))""#,
         #"given[0]: "secret" holds 62500 bytes; a secret has at most 64 (the engine issues none longer)"#),
    ])
    func outOfRangeFixture(_ edit: (from: String, to: String, message: String)) throws {
        let workspace = try Workspace()
        let original = try String(contentsOf: Self.root.appendingPathComponent("scenarios/confirm/fifth-wrong-code-locks.json"), encoding: .utf8)
        #expect(original.contains(edit.from), "the fixture changed: \(edit.from) is gone")
        let path = workspace.path("edited.json")
        try original.replacingOccurrences(of: edit.from, with: edit.to).write(toFile: path, atomically: true, encoding: .utf8)
        let result = try workspace.enroll(["replay", path])
        #expect(result.status == 2, "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("ERROR") && result.stdout.contains(edit.message), "\(result.stdout)")
    }

    /// An edit of a passing scenario, and what `enroll replay` must then say.
    struct ScenarioEdit: Sendable, CustomTestStringConvertible {
        var file = "scenarios/confirm/fifth-wrong-code-locks.json"
        var from: String
        var to: String
        var message: String
        var status: Int32 = 2
        var testDescription: String { "\(from.prefix(30)) → \(to.prefix(50))" }
    }

    static let strictEdits: [ScenarioEdit] = [
        // A misspelt member would be ignored, and the check it meant to make would disappear.
        ScenarioEdit(from: #""rejection": "locked""#, to: #""rejections": "locked""#,
                     message: #"the scenario has no member "rejections"; its members are description, given, policy, rejection, secrets, state, then, user, when"#),
        ScenarioEdit(from: #""state": {"#, to: #""State": {"#, message: #"the scenario has no member "State"; its members are"#),
        ScenarioEdit(from: #""state": {"#, to: #""state": {"failedAttempt": 1, "#, message: #"state has no member "failedAttempt"; its members are account, activatedAt"#),
        ScenarioEdit(from: #""code": "000000""#, to: #""code": "000000", "extra": 1"#,
                     message: #"when (ConfirmCode) has no member "extra"; its members are actor, at, code, command"#),
        ScenarioEdit(file: "scenarios/request/custom-account.json", from: #""command": "RequestEnrollment","#, to: #""command": "RequestEnrollment", "digts": 8,"#,
                     message: #"when (RequestEnrollment) has no member "digts"; its members are account, actor, algorithm, at, command, digits, issuer, period"#),
        ScenarioEdit(file: "scenarios/request/custom-account.json", from: #""command": "RequestEnrollment","#, to: #""command": "RequestEnrollment", "digits": "8","#,
                     message: #"when.digits must be a whole number, not "8""#),
        ScenarioEdit(from: #""description""#, to: #""policy": {"maxFailedAttempt": 3}, "description""#,
                     message: #"policy has no member "maxFailedAttempt"; its members are lockDuration, maxFailedAttempts, pendingLifetime, window"#),
        // The wrong type is not read as absent.
        ScenarioEdit(from: #""description""#, to: #""secrets": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "description""#,
                     message: #""secrets" must be a list of Base32 secrets ([] for none), not "GEZDGNBVGY3TQOJQGEZ"#),
        ScenarioEdit(from: #""rejection": "locked""#, to: #""rejection": ["locked"]"#, message: #""rejection" must be a string, not ["locked"]"#),
        // enroll's own rules for --actor.
        ScenarioEdit(from: #""command": "ConfirmCode","#, to: #""command": "ConfirmCode", "actor": "a/b","#,
                     message: "when.actor is not an actor enroll accepts: it contains a path separator"),
        // The command's events are recorded at when.at: another time could never match.
        ScenarioEdit(from: #""until": 1764400945,"#, to: #""until": 1764400945, "at": 1764400046,"#,
                     message: "then[1].at is 1764400046, but the command's events are recorded at when.at (1764400045); leave it out or make it 1764400045"),
        ScenarioEdit(from: #""until": 1764400945,"#, to: #""until": 1764400945, "at": 1764400045,"#, message: "PASS", status: 0),
        // Times carry over from the event before; the first has none.
        ScenarioEdit(from: #""at": 1764400000,"#, to: "",
                     message: "given[0].at is missing: the first event has no event before it to take its time from; give the Unix time it was recorded"),
        // A missing secret is not a forgotten one (null is), and only the events that issue one have it.
        ScenarioEdit(from: #""secret": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ","#, to: "",
                     message: #"given[0]: EnrollmentRequested: "secret" is missing; give the Base32 secret, or null for a forgotten one"#),
        ScenarioEdit(from: #""secret": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ","#, to: #""sealedSecret": "MTIzNDU2Nzg5MDEyMzQ1Ng==","#,
                     message: #"given[0]: EnrollmentRequested has no member "sealedSecret" in a fixture: give the Base32 secret under "secret", or null for a forgotten one"#),
        ScenarioEdit(file: "scenarios/reveal/pending-secret.json", from: #""target": "pending""#, to: #""target": "pending", "secret": null"#,
                     message: #"then[0]: QRCodeRevealed has no member "secret"; its members are target"#),
        // A state value of a type the row never holds could not match: the file is wrong, not the engine.
        ScenarioEdit(from: #""status": "pending","#, to: #""status": 1,"#, message: "state.status must be a string, not 1"),
        ScenarioEdit(from: #""failedAttempts": 0,"#, to: #""failedAttempts": "0","#, message: #"state.failedAttempts must be a whole number, not "0""#),
        ScenarioEdit(from: #""status": "pending","#, to: #""status": "pending", "replacementPending": 0,"#, message: "state.replacementPending must be true or false, not 0"),
        ScenarioEdit(from: #""status": "pending","#, to: #""status": "pending", "replacement": {"bogus": 1},"#,
                     message: #"state.replacement has no member "bogus"; its members are account, algorithm, digits, issuer, period"#),
        ScenarioEdit(from: #""status": "pending","#, to: #""status": "pending", "replacement": {"digits": "6"},"#, message: #"state.replacement.digits must be a whole number, not "6""#),
        ScenarioEdit(from: #""status": "pending","#, to: #""status": "pending", "replacement": [],"#, message: "state.replacement must be an object, e.g. {"),
        ScenarioEdit(from: #""status": "pending","#, to: #""status": "pending", "replacement": null,"#, message: "PASS", status: 0),
    ]

    @Test("a scenario member that is misspelt, unknown or of the wrong type (top level, when, policy), an actor enroll refuses, a then time other than when.at, a first given event without a time or a secret-issuing one without secret is refused naming it (exit 2), not ignored", arguments: strictEdits)
    func strictScenario(_ edit: ScenarioEdit) throws {
        let workspace = try Workspace()
        let original = try String(contentsOf: Self.root.appendingPathComponent(edit.file), encoding: .utf8)
        #expect(original.contains(edit.from), "the fixture changed: \(edit.from) is gone")
        let path = workspace.path("edited.json")
        try original.replacingOccurrences(of: edit.from, with: edit.to).write(toFile: path, atomically: true, encoding: .utf8)
        let result = try workspace.enroll(["replay", path])
        #expect(result.status == edit.status, "\(result.stdout) \(result.stderr)")
        let line = edit.status == 0 ? "PASS \(path)" : "ERROR \(path): \(edit.message)"
        #expect(result.stdout.contains(line), "\(result.stdout)")
    }

    /// The first secret of every edited scenario below: requested at 1764400000, pending until
    /// 1764400600.
    static let requested = #"{"at": 1764400000, "type": "EnrollmentRequested", "secret": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "issuer": "ACME", "account": "alice", "algorithm": "SHA1", "digits": 6, "period": 30, "expiresAt": 1764400600}"#

    @Test("a fixture whose given events the engine could never have recorded is refused naming the event and why, not replayed from a state no user can be in", arguments: [
        (#"{"at": 1764400000, "type": "AuthenticatorActivated", "step": 58813334, "replacedPrevious": false}"#, "given[0] (AuthenticatorActivated) could not have been recorded after the events before it: no secret is pending"),
        (requested + #", {"type": "SecretRegenerated", "secret": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "issuer": "ACME", "account": "alice", "algorithm": "SHA1", "digits": 6, "period": 30, "expiresAt": 1764400600}"#,
         "given[1] (SecretRegenerated) could not have been recorded after the events before it: no authenticator is active (only an active one is regenerated)"),
        (requested + #", {"type": "ConfirmationUnlocked", "lockNumber": 1}"#, "given[1] (ConfirmationUnlocked) could not have been recorded after the events before it: confirmation is not locked"),
        (requested + #", {"type": "QRCodeRevealed", "target": "active"}"#, "given[1] (QRCodeRevealed) could not have been recorded after the events before it: the secret shown is the pending one, not the active one"),
        (requested + #", {"type": "AuthenticatorActivated", "step": 58813334, "replacedPrevious": true}"#, "given[1] (AuthenticatorActivated) could not have been recorded after the events before it: replacedPrevious is true but the pending secret is not a replacement"),
        (requested + #", {"type": "AuthenticatorRemoved", "hadActive": false}, {"type": "CodeRejected", "reason": "invalid_code", "target": "pending", "failedAttempts": 1, "remainingAttempts": 4}"#,
         "given[2] (CodeRejected) could not have been recorded after the events before it: no secret is pending"),
        // The counters: a wrong code counts one more, a lock follows the one that reached the limit.
        (requested + #", {"type": "CodeRejected", "reason": "invalid_code", "target": "pending", "failedAttempts": 3, "remainingAttempts": 2}"#,
         "given[1] (CodeRejected) could not have been recorded after the events before it: failedAttempts is 3 where 1 follows 0 earlier wrong codes"),
        (requested + #", {"type": "ConfirmationLocked", "until": 1764400905, "lockNumber": 1, "failedAttempts": 5}"#,
         "given[1] (ConfirmationLocked) could not have been recorded after the events before it: a lock follows the wrong code that reached the limit, with its count (0 wrong codes so far, the lock says 5)"),
        (requested + #", {"type": "CodeRejected", "reason": "invalid_code", "target": "pending", "failedAttempts": 1, "remainingAttempts": 0}, {"type": "ConfirmationLocked", "until": 1764400905, "lockNumber": 2, "failedAttempts": 1}"#,
         "given[2] (ConfirmationLocked) could not have been recorded after the events before it: lockNumber is 2 where 1 follows 0 earlier locks"),
        // Times: the decider records an expiry or an unlock first, once it is due, and no earlier.
        (requested + #", {"at": 1764409000, "type": "AuthenticatorActivated", "step": 58813634, "replacedPrevious": false}"#,
         "given[1] (AuthenticatorActivated) could not have been recorded after the events before it: the pending secret expired at 2025-11-29T07:16:40Z, and its expiry is recorded before anything else"),
        (requested + #", {"at": 1764400100, "type": "PendingSecretExpired", "replacement": false, "expiredAt": 1764400100}"#,
         "given[1] (PendingSecretExpired) could not have been recorded after the events before it: it says the pending secret expired at 2025-11-29T07:08:20Z, but that secret expires at 2025-11-29T07:16:40Z; make expiredAt 1764400600"),
        (requested + #", {"at": 1764400500, "type": "PendingSecretExpired", "replacement": false, "expiredAt": 1764400600}"#,
         "given[1] (PendingSecretExpired) could not have been recorded after the events before it: it is recorded at 2025-11-29T07:15:00Z, before the pending secret expires at 2025-11-29T07:16:40Z; record it at 1764400600 or later"),
        // Names no release wrote, as import refuses them.
        (#"{"at": 1764400000, "type": "EnrollmentRequested", "secret": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "issuer": "AC:ME", "account": "alice", "algorithm": "SHA1", "digits": 6, "period": 30, "expiresAt": 1764400600}"#,
         "given[0] (EnrollmentRequested) holds a name enroll never records: its EnrollmentRequested issuer contains ':'"),
        (requested + #", {"at": 1764400001, "type": "CodeRejected", "reason": "invalid_code", "target": "pending", "failedAttempts": 1, "remainingAttempts": 0}, {"type": "ConfirmationLocked", "until": 1764400901, "lockNumber": 1, "failedAttempts": 1}, {"at": 1764400002, "type": "ConfirmationUnlocked", "lockNumber": 1}"#,
         "given[3] (ConfirmationUnlocked) could not have been recorded after the events before it: the lock lasts until 2025-11-29T07:21:41Z"),
        // A first lock lasts at most a week (--lock-minutes 10080), whatever the policy.
        (requested + #", {"at": 1764400001, "type": "CodeRejected", "reason": "invalid_code", "target": "pending", "failedAttempts": 1, "remainingAttempts": 0}, {"type": "ConfirmationLocked", "until": 2079760001, "lockNumber": 1, "failedAttempts": 1}"#,
         "given[2] (ConfirmationLocked) could not have been recorded after the events before it: it lasts until 2035-11-27T07:06:41Z, longer than lock number 1 can last under any policy (7 days)"),
    ])
    func impossibleHistory(_ edit: (given: String, message: String)) throws {
        let json = """
            {"given": [\(edit.given)], "when": {"at": 1764400045, "command": "RevealQR"}, "then": []}
            """
        #expect(throws: FixtureError(file: "edited.json", reason: edit.message)) { try Scenario(json: json, name: "edited.json") }
    }

    @Test("a fixture whose when names settings enroll would refuse (9 digits, a period of 0, an issuer with ':' or a control character, an empty account) is refused naming the member, not replayed into an event no release writes", arguments: [
        (#""digits": 9"#, "when.digits: digits must be 6, 7 or 8, not 9"),
        (#""period": 0"#, "when.period: period must be between 1 and 3600 seconds, not 0"),
        (#""issuer": "AC:ME""#, "when.issuer: invalid issuer: it contains ':'"),
        (#""issuer": "ACME\u0000""#, "when.issuer: invalid issuer: it contains a control character (U+0000)"),
        (#""account": """#, "when.account: invalid account name: it is empty"),
    ])
    func refusedSettings(_ edit: (member: String, message: String)) throws {
        for command in ["RequestEnrollment", "RegenerateSecret"] {
            let json = """
                {"given": [\(Self.requested)], "when": {"at": 1764400045, "command": "\(command)", \(edit.member)}, "then": []}
                """
            do {
                _ = try Scenario(json: json, name: "edited.json")
                Issue.record("\(command) with \(edit.member) was accepted")
            } catch {
                #expect(error.reason.hasPrefix(edit.message) && error.reason.contains("; use"), "\(command): \(error.reason)")
            }
        }
    }

    @Test("a fixture whose when is missing or not an object, or whose command is missing or not a string, is told which (not that a member present is missing)", arguments: [
        (#""when": []"#, #""when" must be an object, e.g. {"at": 1764400030, "command": "ConfirmCode", "code": "123456"}, not []"#),
        (#""when": "x""#, #""when" must be an object, e.g. {"at": 1764400030, "command": "ConfirmCode", "code": "123456"}, not "x""#),
        (#""given": []"#, #""when" is missing: give the command"#),
        (#""when": {"at": 1764400045}"#, #"when.command is missing: name the command, e.g. "ConfirmCode""#),
        (#""when": {"at": 1764400045, "command": ["RevealQR"]}"#, #"when.command must be a string, the command's name (e.g. "ConfirmCode"), not ["RevealQR"]"#),
        // A secret issued within its lifetime of the last time an event may carry (as ENROLL_NOW).
        (#""secrets": ["JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"], "when": {"at": 253402300200, "command": "RequestEnrollment"}"#,
         "when.at 253402300200 leaves the secret RequestEnrollment issues less than its lifetime (600 s) before 9999-12-31T23:59:59Z"),
    ])
    func malformedWhen(_ edit: (fragment: String, message: String)) throws {
        let json = "{\(edit.fragment), \"then\": []}"
        do {
            _ = try Scenario(json: json, name: "edited.json")
            Issue.record("accepted: \(json)")
        } catch {
            #expect(error.reason.hasPrefix(edit.message), "\(error.reason)")
        }
    }

    @Test("a fixture whose given or then is not a list, whose given secret is under 16 bytes, or whose event has a member no event of its type has, is refused naming it", arguments: [
        (#""given": {"x": 1}"#, #""given" must be a list of events ([] for none), not {"x":1}"#),
        (#""given": [], "then": {}"#, #""then" must be a list of the events expected ([] for none), not {}"#),
        (#""given": [{"at": 1764400000, "type": "EnrollmentRequested", "secret": "GEZDGNBV", "issuer": "ACME", "account": "alice", "algorithm": "SHA1", "digits": 6, "period": 30, "expiresAt": 1764400600}]"#,
         #"given[0]: "secret" holds 5 bytes; a secret has at least 16"#),
        (#""given": [{"at": 1764400000, "type": "ConfirmationUnlocked", "lockNumber": 1, "evil": 1}]"#, #"given[0]: ConfirmationUnlocked has no member "evil"; its members are lockNumber"#),
        (#""given": [{"at": 1764400000, "type": "ConfirmationUnlocked"}]"#,
         #"given[0]: ConfirmationUnlocked does not decode: fields do not match the ConfirmationUnlocked v1 shape ('lockNumber' is missing); Fixtures/README.md lists each event's members"#),
    ])
    func malformedLists(_ edit: (fragment: String, message: String)) throws {
        var json = "{\(edit.fragment), \"when\": {\"at\": 1764400045, \"command\": \"RevealQR\"}"
        if !edit.fragment.contains("\"then\"") { json += ", \"then\": []" }
        json += "}"
        do {
            _ = try Scenario(json: json, name: "edited.json")
            Issue.record("accepted: \(json)")
        } catch {
            #expect(error.reason.contains(edit.message), "\(error.reason)")
        }
    }

    /// The recorded journal the edits below start from, and its tables as recorded.
    static let recorded = root.appendingPathComponent("journals/before-remaining-attempts").path
    static let activityACME = #"{"abandoned":0,"confirmed":1,"day":"2025-11-29","failed_codes":3,"issuer":"ACME","locks":0,"regenerated":0,"removed":0,"requested":2},"#
    static let bob = #""replacement_pending":0,"requested_at":1764421616,"status":"pending","stream_version":3,"updated_at":1764421636,"user_id":"bob""#

    /// An edit of the recorded journal's .expected.json, the exit status it must give, and what
    /// the report must (and must not) say.
    struct ExpectedEdit: Sendable, CustomTestStringConvertible {
        var from: String
        var to: String
        var status: Int32
        var messages: [String]
        var absent: [String] = []
        var testDescription: String { "\(from.prefix(30)) → \(to.prefix(50))" }
    }

    static let expectedEdits: [ExpectedEdit] = [
        ExpectedEdit(from: #""status":"pending","stream_version":3"#, to: #""status":"active","status":"pending","stream_version":3"#, status: 2,
                     messages: ["ERROR", #"its .expected.json names the member "status" more than once in an object (again at line 5, column 420); keep one"#]),
        ExpectedEdit(from: #""projections": {"#, to: #""projections": {"authenticators": [],"#, status: 2,
                     messages: [#"its .expected.json names the member "authenticators" more than once in an object (again at line 3, column 5); keep one"#]),
        ExpectedEdit(from: #""projections":"#, to: #""extra": 1, "projections":"#, status: 2,
                     messages: [#"its .expected.json has a member "extra" besides "projections"; remove it"#]),
        ExpectedEdit(from: #""failed_attempts":2,"#, to: #""failed_attempts":2,"bogus_col":1,"#, status: 1,
                     messages: ["FAIL", "projection authenticators: the expected rows name bogus_col, which its table does not have; its columns are account, activated_at, algorithm, "],
                     absent: [#"- {"#]),
        ExpectedEdit(from: #""failed_attempts":2,"#, to: #""failed_attempts":3,"#, status: 1,
                     messages: ["4 rows expected, 4 found; 0 missing, 0 unexpected, 1 with other values", #"row user_id "bob":"#, "- failed_attempts: 3", "+ failed_attempts: 2"],
                     absent: [#"- {"#, #"+ {"#, "replacement_pending"]),
        ExpectedEdit(from: bob, to: bob.replacingOccurrences(of: #""replacement_pending":0"#, with: #""replacement_pending":false"#), status: 1,
                     messages: [#"row user_id "bob":"#, "- replacement_pending: false (SQLite has no booleans: write 0 or 1)", "+ replacement_pending: 0"]),
        ExpectedEdit(from: activityACME, to: activityACME + activityACME, status: 1,
                     messages: [#"row day "2025-11-29", issuer "ACME" is expected 2 times; a table holds one row per key"#], absent: [#"issuer "ACME":"#, "- {"]),
        ExpectedEdit(from: #""user_id":"carol""#, to: #""user_id":"carla""#, status: 1,
                     messages: ["1 missing, 1 unexpected, 0 with other values", #"- {"account":null"#, #""user_id":"carla"}"#, #"+ {"account":null"#], absent: ["row user_id"]),
        ExpectedEdit(from: #""authenticators": ["#, to: #""authenticators": [1e400,"#, status: 2,
                     messages: ["ERROR", "its .expected.json is not JSON: the number 1e400 at line 3, column 24 is out of range"]),
    ]

    @Test("a recorded journal's hand-edited .expected.json is refused when it could be read two ways (exit 2), and a wrong cell, a column the table lacks, a flag written as a boolean, a row expected twice or a row under another key is named as such (exit 1)", arguments: expectedEdits)
    func editedExpectedTables(_ edit: ExpectedEdit) throws {
        let workspace = try Workspace()
        let original = try String(contentsOfFile: Self.recorded + ".expected.json", encoding: .utf8)
        #expect(original.contains(edit.from), "the fixture changed: \(edit.from) is gone")
        try FileManager.default.copyItem(atPath: Self.recorded + ".jsonl", toPath: workspace.path("edited.jsonl"))
        try original.replacingOccurrences(of: edit.from, with: edit.to).write(toFile: workspace.path("edited.expected.json"), atomically: true, encoding: .utf8)
        let result = try workspace.enroll(["replay", workspace.path("edited.jsonl")])
        #expect(result.status == edit.status, "\(result.stdout) \(result.stderr)")
        for message in edit.messages { #expect(result.stdout.contains(message), "\(message) not in:\n\(result.stdout)") }
        for message in edit.absent { #expect(!result.stdout.contains(message), "\(message) in:\n\(result.stdout)") }
    }

    @Test("enroll replay --json reports a file that is not a fixture with a machine code under error and the text under message; an empty .jsonl is not a fixture (exit 2)")
    func replayErrorsAsJSON() throws {
        let workspace = try Workspace()
        try FileManager.default.copyItem(atPath: Self.recorded + ".expected.json", toPath: workspace.path("empty.expected.json"))
        _ = FileManager.default.createFile(atPath: workspace.path("empty.jsonl"), contents: Data())
        let text = try workspace.enroll(["replay", workspace.path("empty.jsonl")])
        #expect(text.status == 2, "\(text.stdout) \(text.stderr)")
        #expect(text.stdout.contains("ERROR \(workspace.path("empty.jsonl")): it holds no journal rows"), "\(text.stdout)")

        let passing = Self.recorded + ".jsonl"
        let result = try workspace.enroll(["replay", "--json", workspace.path("empty.jsonl"), passing])
        #expect(result.status == 2, "\(result.stdout) \(result.stderr)")
        let objects = try result.stdout.split(separator: "\n").map { try JSONValue.parse(String($0)) }
        try #require(objects.count == 2, "\(result.stdout)")
        #expect(objects[0]["error"] == .string("malformed_fixture"))
        #expect(objects[0]["passed"] == .bool(false) && objects[0]["file"] == .string(workspace.path("empty.jsonl")))
        guard case .string(let message)? = objects[0]["message"] else { Issue.record("no message: \(result.stdout)"); return }
        #expect(message.contains("it holds no journal rows, and `enroll export` never writes an empty file"), "\(message)")
        #expect(objects[1]["passed"] == .bool(true) && objects[1]["error"] == nil, "\(result.stdout)")
    }

    @Test("enroll replay reports files in the order they are given, whatever their paths sort as, and a file named twice (also through its directory) runs once")
    func replayKeepsArgumentOrder() throws {
        let workspace = try Workspace()
        let passing = Self.recorded + ".jsonl"
        let scenarios = FixtureTests.root.appendingPathComponent("scenarios/confirm").path
        let scenario = scenarios + "/sha1-6-digits.json"
        _ = FileManager.default.createFile(atPath: workspace.path("empty.jsonl"), contents: Data())
        for order in [[passing, workspace.path("empty.jsonl")], [workspace.path("empty.jsonl"), passing]] {
            let result = try workspace.enroll(["replay", "--json"] + order)
            let files = try result.stdout.split(separator: "\n").map { try JSONValue.parse(String($0))["file"] }
            #expect(files == order.map { .string($0) }, "\(result.stdout)")
        }
        let result = try workspace.enroll(["replay", "--json", scenario, scenarios, scenario])
        #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
        let files = try result.stdout.split(separator: "\n").map { try JSONValue.parse(String($0))["file"] }
        let inDirectory = try FileManager.default.contentsOfDirectory(atPath: scenarios).filter(FixtureRunner.isFixture)
        #expect(files.count == inDirectory.count, "\(result.stdout)")
        #expect(files.first == .string(scenario), "\(result.stdout)")
    }

    @Test("a fixture that is not JSON is refused naming the problem and where it is, not as \"not a JSON object\" (exit 2)", arguments: [
        (Array(#"{"user": "b"#.utf8) + [0xFF, 0xFE] + Array(#"ob", "when": {}}"#.utf8), "it is not UTF-8 text: byte 12 (line 1, column 12) is 0xFF; save the file as UTF-8"),
        // An unpaired surrogate is named by its escape, not by the character after it.
        (Array(#"{"description": "z\ud800d"}"#.utf8), #"the escape \ud800 at line 1, column 19 is an unpaired surrogate"#),
        (Array(#"{"description": "\udc00"}"#.utf8), #"the escape \udc00 at line 1, column 18 is an unpaired surrogate"#),
        (Array(#"{"description": "\ud800\u0041"}"#.utf8), #"the escape \ud800 at line 1, column 18 is an unpaired surrogate"#),
        (Array(#"{"when": {"at": 1}}}"#.utf8), "'}' at line 1, column 20 follows the end of the JSON value; a file holds one object"),
        (Array("{\n  \"when\": {\"digits\": 1e400}}".utf8), "the number 1e400 at line 2, column 22 is out of range"),
        (Array(#"{"given": "#.utf8) + [UInt8](repeating: UInt8(ascii: "["), count: 100_000), "arrays and objects are nested deeper than 512 levels"),
        ([], "the file is empty"),
        (Array(#"{"given": [{"type": "#.utf8), "the JSON ends early (at line 1, column 21): a string, array or object is not closed"),
        (Array("{\"user\": \"a\u{01}\"}".utf8), #"the control character U+0001 at line 1, column 12 is not valid JSON; inside a string, escape it (\u0001)"#),
        (Array("[1, 2]".utf8), "it is [1,2], not a JSON object"),
    ] as [([UInt8], String)])
    func syntaxErrors(_ edit: (bytes: [UInt8], message: String)) throws {
        let workspace = try Workspace()
        let path = workspace.path("broken.json")
        _ = FileManager.default.createFile(atPath: path, contents: Data(edit.bytes))
        let result = try workspace.enroll(["replay", path])
        #expect(result.status == 2, "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("ERROR \(path): \(edit.message)"), "\(result.stdout)")
    }

    @Test("a journal's .expected.json named by mistake is refused saying which journal to replay (exit 2)")
    func expectedNamedByMistake() throws {
        let workspace = try Workspace()
        let path = Self.recorded + ".expected.json"
        let result = try workspace.enroll(["replay", path])
        #expect(result.status == 2, "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("ERROR \(path): it holds the expected tables of the recorded journal \(Self.recorded).jsonl, not a scenario; replay \(Self.recorded).jsonl"), "\(result.stdout)")
    }

    @Test("in a directory run, an .expected.json with no journal beside it (a scenario saved under that name) is reported as an ERROR, not passed over; one beside its journal is not run on its own")
    func orphanExpectedInDirectory() throws {
        let workspace = try Workspace()
        let directory = workspace.path("fixtures")
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for suffix in [".jsonl", ".expected.json"] {
            try FileManager.default.copyItem(atPath: Self.recorded + suffix, toPath: directory + "/recorded" + suffix)
        }
        try FileManager.default.copyItem(atPath: Self.recorded + ".expected.json", toPath: directory + "/orphan.expected.json")
        let result = try workspace.enroll(["replay", directory])
        #expect(result.status == 2, "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("PASS \(directory)/recorded.jsonl"), "\(result.stdout)")
        #expect(result.stdout.contains("ERROR \(directory)/orphan.expected.json: a *.expected.json holds the expected tables of a recorded journal, not a scenario, but \(directory)/orphan.jsonl is missing"), "\(result.stdout)")
        #expect(result.stdout.contains("of 2 files."), "the journal's own .expected.json is not a file of its own: \(result.stdout)")
    }

    @Test("a recorded journal that enroll import refuses is not a fixture (ERROR, exit 2, malformed_fixture), told apart from a projection that differs (FAIL, exit 1)")
    func unimportableJournal() throws {
        let workspace = try Workspace()
        try FileManager.default.copyItem(atPath: Self.recorded + ".expected.json", toPath: workspace.path("edited.expected.json"))
        let lines = try String(contentsOfFile: Self.recorded + ".jsonl", encoding: .utf8)
        try #require(lines.hasPrefix(#"{"data":"#))
        try (#"{"comment":"hand-edited","# + lines.dropFirst()).write(toFile: workspace.path("edited.jsonl"), atomically: true, encoding: .utf8)
        let text = try workspace.enroll(["replay", workspace.path("edited.jsonl")])
        #expect(text.status == 2, "\(text.stdout) \(text.stderr)")
        #expect(text.stdout.contains("ERROR \(workspace.path("edited.jsonl")): the journal does not import: line 1 is not a journal row (it has a member 'comment'"), "\(text.stdout)")
        #expect(text.stdout.contains("0 passed, 0 failed, 1 not fixtures of 1 file."), "\(text.stdout)")
        let json = try workspace.enroll(["replay", "--json", workspace.path("edited.jsonl")])
        #expect(json.status == 2)
        #expect(try JSONValue.parse(json.stdout)["error"] == .string("malformed_fixture"), "\(json.stdout)")
    }

    @Test("a scenario whose given event does not decode is refused saying what is wrong with the event, with no advice about journals it does not have")
    func undecodableGiven() throws {
        let workspace = try Workspace()
        let path = workspace.path("digits.json")
        let event = Self.requested.replacingOccurrences(of: #""digits": 6"#, with: #""digits": 9"#)
        try #"{"given": [\#(event)], "when": {"at": 1764400045, "command": "RevealQR"}, "then": []}"#.write(toFile: path, atomically: true, encoding: .utf8)
        let result = try workspace.enroll(["replay", path])
        #expect(result.status == 2, "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("ERROR \(path): given[0]: EnrollmentRequested does not decode: digits 9 is not 6, 7 or 8"), "\(result.stdout)")
        #expect(!result.stdout.contains("position 0") && !result.stdout.contains("enroll verify"), "\(result.stdout)")
    }

    @Test("a fixture's own text in an ERROR line is escaped: a newline in it starts no forged PASS or summary line, an escape sequence reaches no terminal")
    func errorLineIsEscaped() throws {
        let workspace = try Workspace()
        let path = workspace.path("evil.json")
        let type = #"Bogus\nPASS fixtures/all-good.json (1 passed)\n1 passed, 0 failed of 1 file.\u001b[2J"#
        try #"{"given": [{"at": 1764400000, "type": "\#(type)"}], "when": {"at": 1764400045, "command": "RevealQR"}, "then": []}"#.write(toFile: path, atomically: true, encoding: .utf8)
        let result = try workspace.enroll(["replay", path])
        #expect(result.status == 2, "\(result.stdout) \(result.stderr)")
        let lines = result.stdout.split(separator: "\n")
        #expect(lines.count == 2 && lines[0].hasPrefix("ERROR \(path): given[0]: unknown event type") && lines[1].hasPrefix("0 passed, 0 failed, 1 not fixtures"), "\(result.stdout)")
        #expect(lines[0].contains(#"Bogus\nPASS"#) && lines[0].contains(#"\u001b[2J"#) && !result.stdout.contains("\u{1B}"), "\(result.stdout)")
    }

    @Test("every event of the recorded traffic (10 000 events, and 2 000 with the newer events) could follow the events before it in its stream (the check refuses nothing the decider writes), and the shape's fold agrees with the state's")
    func recordedTrafficIsPossible() throws {
        var checked = 0
        var types: Set<EventType> = []
        for journal in ["journals/traffic-10k.jsonl", "journals/traffic-newer-2k.jsonl"] {
          let text = try String(contentsOf: Self.root.appendingPathComponent(journal), encoding: .utf8)
          var states: [String: AuthenticatorState] = [:]
          for row in try ExportText.rows(text) {
            let event = try EventCodec.decode(type: row.type, schemaVersion: row.schemaVersion, data: row.data)
            let state = states[row.streamId, default: .initial]
            #expect(state.obstacle(to: event, at: row.recordedAt) == nil, "position \(row.position): \(state.obstacle(to: event, at: row.recordedAt) ?? "")")
            let next = state.evolve(event)
            #expect(next.shape == state.shape.evolve(event), "position \(row.position): \(event.type)")
            states[row.streamId] = next
            checked += 1
            types.insert(event.type)
          }
        }
        #expect(checked >= 12_000)
        #expect(types == Set(EventType.allCases), "the traffic lacks \(Set(EventType.allCases).subtracting(types))")
    }

    @Test("an import whose hash chain is intact but whose history the engine could never have written is refused naming the line, position and why (exit 2), nothing imported")
    func importImpossibleHistory() throws {
        var rows = Array(try Self.traffic().prefix(40))
        // A forger who recomputes the chain: the first user's stream gets a replacement secret
        // while nothing was ever activated.
        let first = rows[0]
        let versions = rows.filter { $0.streamId == first.streamId }.count
        let forged = RecordedEvent(
            position: Int64(rows.count + 1), streamId: first.streamId, streamVersion: Int64(versions + 1), eventId: "forged-0001",
            type: "ConfirmationUnlocked", schemaVersion: 1, data: #"{"lockNumber":1}"#, metadata: first.metadata,
            metadataJSON: first.metadataJSON, recordedAt: first.recordedAt + 1, hash: [])
        rows.append(forged)
        Self.rechain(&rows)
        let workspace = try Workspace()
        let path = workspace.path("forged.jsonl")
        try Self.write(rows, to: path)
        // The same rows without the forged one import: the refusal is the history, not the chain.
        let honest = workspace.path("honest.jsonl")
        try Self.write(Array(rows.dropLast()), to: honest)
        #expect(try workspace.enroll(["import", honest, "--db", workspace.path("honest.sqlite")]).status == 0)

        try Self.expectImportRefused(
            path, in: workspace,
            naming: "line 41 (position 41): ConfirmationUnlocked could not have followed the events before it in \(first.streamId)'s stream (confirmation is not locked)")
    }

    @Test("an import whose event data carries a member its type does not have (a forged lockedUntil beside until), chain recomputed, is refused naming the line and member (exit 2), nothing imported")
    func importUnknownDataMember() throws {
        let traffic = try Self.traffic()
        let lock = try #require(traffic.firstIndex { $0.type == "ConfirmationLocked" }, "the traffic holds a lock")
        var rows = Array(traffic.prefix(lock + 1))
        let index = lock
        try #require(rows[index].data.hasPrefix("{"))
        rows[index].data = #"{"lockedUntil":2079760105,"# + rows[index].data.dropFirst()
        Self.rechain(&rows)
        let workspace = try Workspace()
        let path = workspace.path("forged.jsonl")
        try Self.write(rows, to: path)
        try Self.expectImportRefused(
            path, in: workspace,
            naming: "line \(index + 1) is not a journal row (its ConfirmationLocked data has a member 'lockedUntil' that no ConfirmationLocked has)")
    }

    @Test("a user id ending in a space, which older releases' journals hold and import accepts, can be audited (status, history, audit --user), shown and removed; a new enrollment under such an id is still refused")
    func recordedUserEndingInSpace() throws {
        var rows = Array(try Self.traffic().prefix(40))
        let user = rows[0].streamId
        for index in rows.indices where rows[index].streamId == user { rows[index].streamId = user + " " }
        Self.rechain(&rows)
        let workspace = try Workspace()
        let path = workspace.path("older.jsonl")
        try Self.write(rows, to: path)
        #expect(try workspace.enroll(["import", path]).status == 0)
        let spaced = user + " "
        let events = rows.filter { $0.streamId == spaced }.count
        let history = try workspace.enroll(["history", spaced])
        #expect(history.status == 0 && history.stdout.split(separator: "\n").count == events + 1, "\(history.stdout)\(history.stderr)")
        let audit = try workspace.enroll(["audit", "--user", spaced])
        #expect(audit.status == 0 && audit.stdout.split(separator: "\n").count == events + 1, "\(audit.stdout)\(audit.stderr)")
        let status = try workspace.enroll(["status", spaced, "--json"])
        #expect(status.status == 0 && status.stdout.contains(#""user":"\#(spaced)""#), "\(status.stdout)\(status.stderr)")
        // In text the trailing space shows, quoted as history and audit quote it.
        #expect(try workspace.enroll(["status", spaced]).stdout.hasPrefix("user: \"\(spaced)\"\n"))
        let removed = try workspace.enroll(["remove", spaced])
        #expect(removed.status == 0 && removed.stdout.contains("of \"\(spaced)\";"), "\(removed.stdout)\(removed.stderr)")
        #expect(try workspace.enroll(["history", spaced]).stdout.contains("AuthenticatorRemoved"))
        // A stray space on an id the journal does not hold is refused, as before.
        for arguments in [["request", spaced], ["request", " new"], ["status", "alice "], ["status", "alice ", "--json"], ["history", "alice "], ["audit", "--user", "alice "], ["remove", "alice "], ["reveal", " alice"]] {
            let refused = try workspace.enroll(arguments)
            #expect(refused.status == 2 && refused.stderr.contains("it begins or ends with a space"), "\(arguments): \(refused.stderr)")
        }
    }

    /// What a forger does after editing rows: every hash computed again from the first row.
    static func rechain(_ rows: inout [RecordedEvent]) {
        var previous = HashChain.genesis
        for index in rows.indices {
            rows[index].hash = HashChain.hash(of: rows[index], previous: previous)
            previous = rows[index].hash
        }
    }

    /// The rows of the recorded 10 000-event journal.
    static func traffic() throws -> [RecordedEvent] {
        try ExportText.rows(String(contentsOf: root.appendingPathComponent("journals/traffic-10k.jsonl"), encoding: .utf8))
    }

    /// `rows` as `enroll export` writes them, end line included.
    static func write(_ rows: [RecordedEvent], to path: String) throws {
        try ExportText.text(rows).write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// `enroll import FILE` into a new database is refused as bad input (exit 2) with one line
    /// naming `reason`, and nothing is imported.
    static func expectImportRefused(_ file: String, in workspace: Workspace, naming reason: String, _ label: String = "") throws {
        let database = workspace.path("forged.sqlite")
        let result = try workspace.enroll(["import", file, "--db", database])
        #expect(result.status == 2, "\(label)\(result.stderr)")
        #expect(result.stderr.contains(reason), "\(label)\(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1)
        let kept = FileManager.default.fileExists(atPath: database) ? try eventCount(database) : 0
        #expect(kept == 0, "\(label)nothing is imported")
    }

    /// Events in the journal of the database at `path`.
    static func eventCount(_ path: String) throws -> Int {
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        return try queue.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events") ?? 0 }
    }

    @Test("an import whose file fails to read is refused as unreadable (nothing committed), never taken for the end of the file")
    func importReadError() throws {
        let workspace = try Workspace()
        let database = try EnrollmentDatabase(path: workspace.database)
        // A directory opens for reading on Linux, and every read of it fails (EISDIR).
        let handle = try #require(FileHandle(forReadingAtPath: workspace.directory.path))
        defer { try? handle.close() }
        #expect(throws: ArchiveError.fileUnreadable(path: "dir", reason: "reading line 1 failed: Is a directory")) {
            try JournalArchive.importLines(LineReader(handle: handle, path: "dir"), source: "dir", into: database)
        }
        #expect(try database.writer.read { db in try EventJournal.head(in: db) } == 0)
    }

    @Test("import of a file with a line of 20 MB is refused as not an export (no line of an export is that long), nothing created")
    func importLongLine() throws {
        let workspace = try Workspace()
        let path = workspace.path("long.jsonl")
        _ = FileManager.default.createFile(atPath: path, contents: Data(repeating: UInt8(ascii: "a"), count: 20 << 20))
        let result = try workspace.enroll(["import", path, "--db", workspace.path("new.sqlite")])
        #expect(result.status == 2, "\(result.stderr)")
        #expect(result.stderr.contains("line 1 is not a journal row (it is longer than 16 MiB"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: workspace.path("new.sqlite")))
    }

    /// Regenerates Fixtures/journals/traffic-10k.jsonl and its expected projection state from
    /// the deterministic synthetic traffic. Run with ENROLL_RECORD_FIXTURES=1.
    @Test("record the 10 000-event journal fixture", .enabled(if: ProcessInfo.processInfo.environment["ENROLL_RECORD_FIXTURES"] == "1"))
    func recordTrafficJournal() throws {
        let workspace = try Workspace()
        let database = try EnrollmentDatabase(path: workspace.database, options: DatabaseOptions(durability: .normal))
        var journal = try SyntheticJournal(seed: 10_000, users: 300)
        try journal.append(events: 10_000, to: database)
        try FixtureRecorder.record(database, to: Self.root.appendingPathComponent("journals/traffic-10k").path)
    }

    /// Regenerates Fixtures/journals/traffic-newer-2k.jsonl: the same kind of traffic, with the
    /// events later releases record (cancelled regenerates, codes typed during a lock, the
    /// (system) actor). Run with ENROLL_RECORD_FIXTURES=1.
    @Test("record the 2 000-event journal fixture with the newer events", .enabled(if: ProcessInfo.processInfo.environment["ENROLL_RECORD_FIXTURES"] == "1"))
    func recordNewerJournal() throws {
        let workspace = try Workspace()
        let database = try EnrollmentDatabase(path: workspace.database, options: DatabaseOptions(durability: .normal))
        var journal = try SyntheticJournal(seed: 2_000, users: 60, start: 1_765_000_000, newer: true)
        try journal.append(events: 2_000, to: database)
        try FixtureRecorder.record(database, to: Self.root.appendingPathComponent("journals/traffic-newer-2k").path)
    }
}

/// Writes a database's journal and its inline-maintained projection tables as a fixture pair.
enum FixtureRecorder {
    static func record(_ database: EnrollmentDatabase, to base: String) throws {
        var text = ""
        try JournalArchive.export(from: database.writer) { text += $0 }
        try FileManager.default.createDirectory(atPath: URL(fileURLWithPath: base).deletingLastPathComponent().path, withIntermediateDirectories: true)
        try text.write(toFile: base + ".jsonl", atomically: true, encoding: .utf8)
        let tables = try database.writer.read { db in try FixtureRunner.projectionTables(in: db) }
        var lines = ["{", "  \"projections\": {"]
        for (index, name) in tables.keys.sorted().enumerated() {
            lines.append("    \"\(name)\": [")
            let rows = tables[name] ?? []
            lines += rows.enumerated().map { "      " + $0.element + ($0.offset == rows.count - 1 ? "" : ",") }
            lines.append("    ]" + (index == tables.count - 1 ? "" : ","))
        }
        lines += ["  }", "}"]
        try (lines.joined(separator: "\n") + "\n").write(toFile: base + ".expected.json", atomically: true, encoding: .utf8)
    }
}
