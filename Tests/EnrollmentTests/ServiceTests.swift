import CryptoPrimitives
import Enrollment
import Foundation
import GRDB
import OneTimePassword
import Synchronization
import Testing
import TestSupport

/// The handler against real SQLite files: appends, idempotency, conflicts, sealing.
struct ServiceTests {
    let t0: UnixTime = 1_764_400_000

    func makeService(_ workspace: Workspace, clock: FixedClock, secrets: any SecretSource = SeededSecretSource(seed: "service-tests")) throws -> EnrollmentService {
        try EnrollmentService.open(databasePath: workspace.database, keyFilePath: workspace.keyFile, clock: clock, secrets: secrets)
    }

    func code(for state: AuthenticatorState, at time: UnixTime) throws -> String {
        let credential = try #require(state.current)
        let secret = try #require(credential.secret.secret)
        return try TOTP.code(secret: secret.bytes, at: time, parameters: credential.parameters)
    }

    @Test("the library checks what an embedding service passes as the command line does: an actor that could forge an audit line, a user id no command accepts (also for load and summary), a secret source that gives less than asked; every error's localizedDescription is its message")
    func libraryInputChecks() throws {
        let workspace = try Workspace()
        let service = try makeService(workspace, clock: FixedClock(t0))
        for actor in ["", "evil\nFAKE LINE user=root", String(repeating: "a", count: 100_000)] {
            let envelope = CommandEnvelope(user: "bob", actor: actor, command: .requestEnrollment(EnrollmentOptions()))
            #expect {
                _ = try service.handle(envelope)
            } throws: { error in
                guard let input = error as? InputError else { return false }
                return input.code == "invalid_actor" && error.localizedDescription == input.message
            }
        }
        #expect(throws: InputError.self) { _ = try service.load("") }
        #expect(throws: InputError.self) { _ = try service.load("../etc") }
        #expect(throws: InputError.self) { _ = try service.summary(of: "../etc") }
        #expect(throws: InputError.self) { _ = try service.summary(of: "bob\u{1B}[2J") }
        // A space at either end is an id only older journals hold: refused unless the journal does.
        #expect(throws: InputError.self) { _ = try service.summary(of: " bob") }
        #expect(throws: InputError.self) { _ = try service.load("bob ") }
        #expect(throws: InputError.self) { _ = try service.handle(CommandEnvelope(user: " bob", command: .requestEnrollment(EnrollmentOptions()))) }
        // Every error type of the library is caught as one, with its code and message.
        func code(_ work: () throws -> Void) -> String? {
            do { try work() } catch let error as EnrollmentError { return error.localizedDescription == error.message ? error.code : "wrong description" } catch { return "not an EnrollmentError: \(error)" }
            return nil
        }
        #expect(code { _ = try service.load("") } == "invalid_user")
        #expect(code { _ = try EnrollmentDatabase(path: workspace.path("missing.sqlite"), options: DatabaseOptions(create: false)) } == "database_missing")
        #expect(code { _ = try FixedSecretSource([]).makeSecret(byteCount: 20) } == "secrets_exhausted")
        #expect(code { throw EnrollmentRejection.notEnrolled } == "not_enrolled")
        // An embedding service's caller typed no command line: the library's refusals say what
        // value to use, never which option of `enroll` takes it.
        for (parameters, expected) in [(OTPParameters(digits: 9), "use 6, 7 or 8"), (OTPParameters(period: 0), "use 30")] {
            #expect {
                _ = try service.handle(CommandEnvelope(user: "bob", command: .requestEnrollment(EnrollmentOptions(parameters: parameters))))
            } throws: { error in
                let message = (error as? InputError)?.message ?? ""
                return message.contains(expected) && !message.contains("--")
            }
        }
        #expect {
            _ = try service.handle(CommandEnvelope(user: "bob", actor: "", command: .requestEnrollment(EnrollmentOptions())))
        } throws: { error in
            let message = (error as? InputError)?.message ?? ""
            return message.contains("leave the actor out") && !message.contains("--")
        }
        #expect(try service.load("bob").status == .none, "nothing was recorded")

        let short = try EnrollmentService.open(
            databasePath: workspace.database, keyFilePath: workspace.keyFile, clock: FixedClock(t0),
            secrets: FixedSecretSource([Secret(bytes: [1, 2, 3])]))
        #expect {
            _ = try short.handle(CommandEnvelope(user: "carol", command: .requestEnrollment(EnrollmentOptions())))
        } throws: { error in
            error.localizedDescription.contains("the secret source gave 3 bytes where 20 were asked for")
        }
        #expect(try short.load("carol").status == .none)
    }

    @Test("beforeRecording sees the secret a reveal is about to show while the write lock is held (another writer cannot change it), and its error records nothing and reaches the caller as it is; a refusal never calls it")
    func beforeRecording() throws {
        struct NoRoom: Error {}
        let workspace = try Workspace()
        let service = try makeService(workspace, clock: FixedClock(t0))
        let request = try service.handle(CommandEnvelope(user: "alice", command: .requestEnrollment(EnrollmentOptions())))
        var options = DatabaseOptions()
        options.busyTimeout = 0
        let other = try EnrollmentService.open(databasePath: workspace.database, keyFilePath: workspace.keyFile, options: options, clock: FixedClock(t0), secrets: SeededSecretSource(seed: "other"))
        var seen: [String?] = []
        var otherWrote: Result<CommandOutcome, any Error>?
        let vetoed = Result {
            try service.handle(CommandEnvelope(user: "alice", command: .revealQRCode)) { state in
                seen.append(state.currentURI()?.string)
                // A regenerate from another connection, meanwhile, waits for this transaction.
                otherWrote = Result { try other.handle(CommandEnvelope(user: "alice", command: .regenerateSecret(nil))) }
                throw NoRoom()
            }
        }
        #expect(throws: NoRoom.self) { try vetoed.get() }
        #expect(throws: StoreError.self) { try otherWrote?.get() }
        #expect(seen == [request.state.currentURI()?.string])
        #expect(try service.load("alice").version == request.state.version, "nothing was recorded")
        let shown = try service.handle(CommandEnvelope(user: "alice", command: .revealQRCode)) { seen.append($0.currentURI()?.string) }
        #expect(shown.accepted && seen.count == 2 && seen[1] == shown.state.currentURI()?.string)
        _ = try service.handle(CommandEnvelope(user: "bob", command: .revealQRCode)) { _ in Issue.record("a refusal must not call it") }
    }

    @Test("request, confirm, reveal, regenerate, confirm and remove are journaled and projected")
    func fullFlow() throws {
        let workspace = try Workspace()
        let clock = FixedClock(t0)
        let service = try makeService(workspace, clock: clock)
        let request = try service.handle(CommandEnvelope(user: "alice", command: .requestEnrollment(EnrollmentOptions(issuer: "ACME"))))
        #expect(request.accepted)
        #expect(try service.summary(of: "alice").status == .pending)

        clock.advance(by: 20)
        let confirm = try service.handle(CommandEnvelope(user: "alice", command: .confirmCode(try code(for: request.state, at: clock.now()))))
        #expect(confirm.accepted)
        #expect(try service.summary(of: "alice").status == .active)

        let reveal = try service.handle(CommandEnvelope(user: "alice", actor: "helpdesk", command: .revealQRCode))
        #expect(reveal.recorded.first?.metadata.actor == "helpdesk")
        #expect(reveal.state.currentURI() == confirm.state.currentURI())

        clock.advance(by: 60)
        let regenerate = try service.handle(CommandEnvelope(user: "alice", command: .regenerateSecret(nil)))
        let summary = try service.summary(of: "alice")
        #expect(summary.status == .active && summary.replacementPending)
        #expect(regenerate.state.currentURI() != confirm.state.currentURI())

        clock.advance(by: 30)
        let confirmNew = try service.handle(CommandEnvelope(user: "alice", command: .confirmCode(try code(for: regenerate.state, at: clock.now()))))
        #expect(confirmNew.accepted)
        #expect(try service.summary(of: "alice").replacementPending == false)

        let remove = try service.handle(CommandEnvelope(user: "alice", command: .removeAuthenticator))
        #expect(remove.accepted)
        #expect(try service.summary(of: "alice").status == .none)

        let types = try service.database.writer.read { db in try String.fetchAll(db, sql: "SELECT type FROM events ORDER BY position") }
        #expect(types == ["EnrollmentRequested", "AuthenticatorActivated", "QRCodeRevealed", "SecretRegenerated", "AuthenticatorActivated", "AuthenticatorRemoved"])
    }

    @Test("the same command id handled twice returns the first outcome; it appends nothing, except the QRCodeRevealed of a secret shown again, under the repeat's actor")
    func idempotency() throws {
        let workspace = try Workspace()
        let service = try makeService(workspace, clock: FixedClock(t0))
        let envelope = CommandEnvelope(commandId: "cmd-1", user: "bob", command: .requestEnrollment(EnrollmentOptions()))
        let first = try service.handle(envelope)
        var repeated = envelope
        repeated.actor = "helpdesk"
        let second = try service.handle(repeated)
        #expect(!first.replayed && second.replayed)
        #expect(first.recorded == second.recorded)
        #expect(first.state.currentURI() == second.state.currentURI())
        #expect(second.shownAgain.map(\.type) == ["QRCodeRevealed"])
        let rows = try service.database.writer.read { db in
            try Row.fetchAll(db, sql: "SELECT type, json_extract(metadata, '$.actor') AS actor, json_extract(metadata, '$.commandId') AS id FROM events ORDER BY position")
        }
        #expect(rows.map { [$0["type"], $0["actor"]] as [String?] } == [["EnrollmentRequested", "bob"], ["QRCodeRevealed", "helpdesk"]])
        #expect(rows.map { $0["id"] as String? }.first == "cmd-1" && rows.map { $0["id"] as String? }.last != "cmd-1", "the showing is a reveal of its own")
        _ = try JournalIntegrity.check(workspace.database)
        #expect(try service.summary(of: "bob").streamVersion == 2, "the projection folded the reveal")
        let count = 2

        // A refusal is remembered too.
        let wrong = CommandEnvelope(commandId: "cmd-2", user: "bob", command: .confirmCode("000000"))
        let refused = try service.handle(wrong)
        let again = try service.handle(wrong)
        #expect(refused.rejection?.code == again.rejection?.code)
        #expect(again.replayed)
        let after = try service.database.writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events") }
        #expect(after == count + 1, "a refusal shows no secret: its repeat records nothing")
    }

    @Test("a code of the wrong length for an expired first secret, sent under a command id, records nothing, not even the id: the same id with the code corrected is decided afresh")
    func wrongLengthForExpiredRecordsNothing() throws {
        let workspace = try Workspace()
        let clock = FixedClock(t0)
        let service = try makeService(workspace, clock: clock)
        _ = try service.handle(CommandEnvelope(user: "bob", command: .requestEnrollment(EnrollmentOptions())))
        clock.advance(by: 601)
        func counts() throws -> [Int] {
            try service.database.read { db in
                [try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM events") ?? -1, try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM commands") ?? -1]
            }
        }
        let before = try counts()
        let short = try service.handle(CommandEnvelope(commandId: "c1", user: "bob", command: .confirmCode("1234567")))
        #expect(short.rejection == .enrollmentExpired && short.recorded.isEmpty)
        #expect(try counts() == before, "nothing written for bad input, not even the command record")
        let corrected = try service.handle(CommandEnvelope(commandId: "c1", user: "bob", command: .confirmCode("123456")))
        #expect(corrected.rejection == .enrollmentExpired && !corrected.replayed)
        #expect(corrected.recorded.map(\.type) == ["PendingSecretExpired"], "decided afresh: the expiry is recorded now")
    }

    @Test("a command id reused for another user or another command is refused (exit 2 on the command line), never answered with the first outcome")
    func commandIdReusedElsewhere() throws {
        let workspace = try Workspace()
        let now = ["ENROLL_NOW": "\(t0)"]
        #expect(try workspace.enroll(["request", "bob", "--command-id", "X"], environment: now).status == 0)
        let before = workspace.databaseBytes()
        for other in [["request", "carol"], ["remove", "bob"], ["confirm", "bob", "123456"]] {
            let result = try workspace.enroll(other + ["--command-id", "X"], environment: now)
            #expect(result.status == 2, "\(other): \(result.stdout) \(result.stderr)")
            if other[1] == "bob" {
                #expect(result.stderr.contains("command id 'X' was already used for `enroll request` (RequestEnrollment) of 'bob'"), "\(other): \(result.stderr)")
            } else {
                // Another user's command is not described: the refusal does not tell who used the id.
                #expect(result.stderr.contains("command id 'X' was already used for another user's command; use a new command id"), "\(other): \(result.stderr)")
                #expect(!result.stderr.contains("bob"), "\(other): \(result.stderr)")
            }
            // The text line ends with the code, as a domain refusal's does.
            #expect(result.stderr.hasSuffix(" (command_id_reused)\n"), "\(other): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1)
            #expect(result.stdout.isEmpty, "no outcome is printed: \(result.stdout)")
        }
        #expect(workspace.databaseBytes() == before, "nothing written")
        let status = try workspace.enroll(["status", "carol"], environment: now)
        #expect(status.stdout.contains("none"), "carol was not enrolled with bob's secret: \(status.stdout)")
        // The same command for the same user is still a retry.
        let again = try workspace.enroll(["request", "bob", "--command-id", "X"], environment: now)
        #expect(again.status == 0, "\(again.stderr)")
    }

    @Test("a request refused while confirming is locked writes nothing, and a retry of its command id after the lock's end is decided again (a QR code), not answered with the stale lock")
    func lockedRequestRetriedAfterTheLock() throws {
        let workspace = try Workspace()
        let at = { (time: UnixTime) in ["ENROLL_NOW": "\(time)", "ENROLL_MAX_FAILED_ATTEMPTS": "1"] }
        #expect(try workspace.enroll(["request", "bob"], environment: at(t0)).status == 0)
        let wrong = try workspace.enroll(["confirm", "bob", "000000", "--max-failed-attempts", "1"], environment: ["ENROLL_NOW": "\(t0 + 10)"])
        #expect(wrong.status == 1 && wrong.stderr.contains("locked until"), "\(wrong.stderr)")
        let before = workspace.databaseBytes()
        let (refused, json) = try workspace.enrollJSON(["request", "bob", "--command-id", "again"], environment: ["ENROLL_NOW": "\(t0 + 700)"])
        #expect(refused.status == 1 && json["error"] as? String == "locked", "\(refused.stdout) \(refused.stderr)")
        #expect(workspace.databaseBytes() == before, "nothing written, not even the command record")
        // The lock (15 minutes from t0 + 10) is over: the same id now gets a QR code.
        let (issued, after) = try workspace.enrollJSON(["request", "bob", "--command-id", "again"], environment: ["ENROLL_NOW": "\(t0 + 1_000)"])
        #expect(issued.status == 0, "\(issued.stdout) \(issued.stderr)")
        #expect((after["otpauthURI"] as? String)?.hasPrefix("otpauth://") == true, "\(issued.stdout)")
    }

    @Test("a command id retried with other arguments (another code, another issuer) is refused (exit 2), never answered with the first outcome; the same arguments still retry")
    func commandIdArgumentsDiffer() throws {
        let workspace = try Workspace()
        let now = ["ENROLL_NOW": "\(t0)"]
        #expect(try workspace.enroll(["request", "bob", "--issuer", "Acme", "--command-id", "R"], environment: now).status == 0)
        let secret = try #require(secretParameter(of: try workspace.enroll(["reveal", "bob", "--format", "uri"], environment: now).stdout))
        let right = try Oathtool.code(base32Secret: secret, at: t0)
        let wrong = right == "000000" ? "111111" : "000000"
        let refused = try workspace.enroll(["confirm", "bob", wrong, "--command-id", "C"], environment: now)
        #expect(refused.status == 1 && refused.stderr.contains("invalid_code"), "\(refused.stderr)")
        let before = workspace.databaseBytes()
        for other in [["confirm", "bob", right, "--command-id", "C"], ["request", "bob", "--issuer", "Other", "--command-id", "R"],
                      ["request", "bob", "--command-id", "R"], ["request", "bob", "--issuer", "Acme", "--digits", "8", "--command-id", "R"],
                      ["request", "bob", "--issuer", "Acme", "--account", "bobby", "--command-id", "R"]] {
            let result = try workspace.enroll(other, environment: now)
            #expect(result.status == 2, "\(other): \(result.stdout) \(result.stderr)")
            #expect(result.stderr.contains("was already used for \(other[0] == "confirm" ? "`enroll confirm` (ConfirmCode)" : "`enroll request` (RequestEnrollment)") with other arguments; a retry must repeat them exactly"), "\(other): \(result.stderr)")
            #expect(result.stderr.hasSuffix(" (command_id_arguments_differ)\n"), "\(other): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1 && result.stdout.isEmpty, "\(result.stdout) \(result.stderr)")
        }
        #expect(workspace.databaseBytes() == before, "nothing written")
        // The right code under the refused attempt's id did not activate anything.
        #expect(try workspace.enroll(["status", "bob"], environment: now).stdout.contains("status: pending"))
        // Exact repeats are retries: the first outcome again, nothing recorded...
        let retry = try workspace.enroll(["confirm", "bob", wrong, "--command-id", "C"], environment: now)
        #expect(retry.status == 1 && retry.stderr.contains("invalid_code"), "\(retry.stderr)")
        #expect(workspace.databaseBytes() == before, "retries record nothing")
        // The same arguments spelt otherwise are the same command: the account given as the
        // user id it defaults to (the repeat shows the secret again, as below).
        let spelt = try workspace.enroll(["request", "bob", "--issuer", "Acme", "--account", "bob", "--command-id", "R"], environment: now)
        #expect(spelt.status == 0 && spelt.stdout.contains(secret), "\(spelt.stderr)")
        #expect(try workspace.enroll(["request", "alice", "--account", "alice", "--command-id", "A"], environment: now).status == 0)
        let plain = try workspace.enroll(["request", "alice", "--command-id", "A"], environment: now)
        #expect(plain.status == 0, "\(plain.stderr)")
        // ...except that a secret shown again is a reveal, recorded under whoever repeated it.
        let repeated = try workspace.enroll(["request", "bob", "--issuer", "Acme", "--command-id", "R", "--actor", "mallory"], environment: now)
        #expect(repeated.status == 0 && repeated.stdout.contains(secret), "\(repeated.stdout) \(repeated.stderr)")
        let audit = try workspace.enroll(["audit", "--user", "bob", "--json"], environment: now)
        let last = try #require(audit.stdout.split(separator: "\n").last.map { try JSONValue.parse(String($0)) })
        #expect(last["type"] == .string("QRCodeRevealed") && last["actor"] == .string("mallory"), "\(audit.stdout)")
        // Tied to the command repeated: its own id names it, and so does the history.
        guard case .string(let id)? = last["commandId"] else { Issue.record("no commandId: \(audit.stdout)"); return }
        #expect(id.hasPrefix("repeat-of:R#") && id.count == "repeat-of:R#".count + 8, "\(id)")
        let history = try workspace.enroll(["history", "bob"], environment: now)
        #expect(history.stdout.split(separator: "\n").last?.hasSuffix("QR code of the pending secret shown again; command id R repeated") == true, "\(history.stdout)")
        // The record holds a MAC, not the code: no column of the command rows contains the digits.
        let sqlite = try Processes.tool("sqlite3", package: "sqlite3")
        let rows = try Processes.run(sqlite, [workspace.database, "SELECT command_id, command, hex(arguments_mac), length(arguments_mac) FROM commands ORDER BY command_id"]).stdout
        #expect(rows.contains("C|ConfirmCode|") && rows.contains("|20\n"), "\(rows)")
        let dump = try Processes.run(sqlite, [workspace.database, ".dump commands"]).stdout
        #expect(!dump.contains(wrong), "\(dump)")
    }

    @Test("a regenerate repeated with the settings it keeps spelt out (the active secret's account, issuer, digits) is a retry; with another setting it is refused (command_id_arguments_differ), also the other way round")
    func regenerateRepeatSpelling() throws {
        let workspace = try Workspace()
        let now = ["ENROLL_NOW": "\(t0)"]
        let (_, first) = try workspace.enrollJSON(["request", "h", "--issuer", "Acme"], environment: now)
        let uri = try #require(first["otpauthURI"] as? String)
        let secret = try #require(secretParameter(of: uri))
        #expect(try workspace.enroll(["confirm", "h", try Oathtool.code(base32Secret: secret, at: t0)], environment: now).status == 0)
        #expect(try workspace.enroll(["regenerate", "h", "--command-id", "Q"], environment: now).status == 0)
        for kept in [["--account", "h"], ["--issuer", "Acme"], ["--digits", "6"], ["--account", "h", "--issuer", "Acme", "--period", "30", "--algorithm", "SHA1"]] {
            let repeated = try workspace.enroll(["regenerate", "h", "--command-id", "Q"] + kept, environment: now)
            #expect(repeated.status == 0, "\(kept): \(repeated.stderr)")
        }
        let other = try workspace.enroll(["regenerate", "h", "--command-id", "Q", "--digits", "8"], environment: now)
        #expect(other.status == 2 && other.stderr.hasSuffix("(command_id_arguments_differ)\n"), "\(other.stderr)")
        // Given explicitly the first time, the same settings left out repeat it too.
        #expect(try workspace.enroll(["regenerate", "h", "--command-id", "R", "--issuer", "Acme"], environment: now).status == 0)
        let bare = try workspace.enroll(["regenerate", "h", "--command-id", "R"], environment: now)
        #expect(bare.status == 0, "\(bare.stderr)")
    }

    @Test("a repeat of a 128-byte command id that shows a secret is recorded under a command id of at most 128 bytes naming as much of it as fits")
    func longRepeatedCommandId() throws {
        let workspace = try Workspace()
        let long = String(repeating: "x", count: 128)
        #expect(try workspace.enroll(["request", "ann", "--command-id", long]).status == 0)
        #expect(try workspace.enroll(["request", "ann", "--command-id", long]).status == 0)
        let audit = try workspace.enroll(["audit", "--json"])
        let last = try #require(audit.stdout.split(separator: "\n").last.map { try JSONValue.parse(String($0)) })
        guard case .string(let id)? = last["commandId"] else { Issue.record("\(audit.stdout)"); return }
        #expect(id.utf8.count == 128 && id.hasPrefix("repeat-of:xxxx"), "\(id)")
        #expect(try workspace.enroll(["history", "ann"]).stdout.contains("; command id \(String(repeating: "x", count: 128 - 19)) repeated"))
    }

    @Test("a refusal that records no event leaves the database byte for byte unchanged, unless the caller chose its command id: then it is kept, and a retry gets the same refusal")
    func refusalsWithoutEvents() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "alice"]).status == 0)
        let before = workspace.databaseBytes()
        for arguments in [["remove", "nobody"], ["reveal", "nobody"], ["regenerate", "nobody"], ["confirm", "nobody", "123456"], ["regenerate", "alice"]] {
            let result = try workspace.enroll(arguments)
            #expect(result.status == 1, "\(arguments): \(result.stderr)")
        }
        #expect(workspace.databaseBytes() == before, "a refusal under an id no one can repeat wrote something")

        let sqlite = try Processes.tool("sqlite3", package: "sqlite3")
        let first = try workspace.enroll(["remove", "nobody", "--command-id", "R1"])
        #expect(first.status == 1, "\(first.stderr)")
        #expect(try Processes.run(sqlite, [workspace.database, "SELECT command_id, rejection FROM commands WHERE command_id = 'R1'"]).stdout.contains("R1|"))
        // The retry replays the refusal, even after the user enrolled meanwhile.
        #expect(try workspace.enroll(["request", "nobody"]).status == 0)
        let retry = try workspace.enroll(["remove", "nobody", "--command-id", "R1"])
        // Said to be the first answer, which may no longer hold (nobody is enrolled now).
        let said = first.stderr.dropFirst("enroll: error: ".count).replacingOccurrences(of: " (not_enrolled)\n", with: "")
        #expect(retry.status == 1 && retry.stderr == "enroll: error: command id 'R1' was handled before, and refused then: \(said); nothing was done now (not_enrolled)\n", "\(retry.stderr)")
        #expect(try workspace.enrollJSON(["status", "nobody"]).1["status"] as? String == "pending")
        // A refusal with details is stored in one form, its members sorted, every time.
        for id in ["W1", "W2", "W3"] { _ = try workspace.enroll(["confirm", "alice", "000000", "--command-id", id]) }
        let stored = try Processes.run(sqlite, [workspace.database, "SELECT rejection FROM commands WHERE command_id LIKE 'W%' ORDER BY command_id"]).stdout
        #expect(stored == (1...3).reversed().map { #"{"code":"invalid_code","remainingAttempts":\#($0 + 1)}"# + "\n" }.joined(), "\(stored)")
    }

    @Test("a journal row tampered to an out-of-range count: confirm exits 3 with one line naming the row, never a crash, nothing written")
    func tamperedCountOutOfRange() throws {
        let workspace = try Workspace()
        let now = ["ENROLL_NOW": "\(t0)"]
        #expect(try workspace.enroll(["request", "alice"], environment: now).status == 0)
        #expect(try workspace.enroll(["confirm", "alice", "000000"], environment: now).status == 1)
        let sqlite = try Processes.tool("sqlite3", package: "sqlite3")
        let tamper = try Processes.run(sqlite, [workspace.database, """
            UPDATE events SET data = replace(data, '"failedAttempts":1', '"failedAttempts":9223372036854775807') WHERE type = 'CodeRejected'
            """])
        #expect(tamper.status == 0, "\(tamper.stderr)")
        let before = try SQLite3.eventTypes(workspace.database)
        let confirm = try workspace.enroll(["confirm", "alice", "000000"], environment: now)
        #expect(confirm.status == 3, "\(confirm.stderr)")
        #expect(confirm.stderr.contains("the event at position 2 (CodeRejected) cannot be read: failedAttempts 9223372036854775807 is not between 0 and 1000000"), "\(confirm.stderr)")
        #expect(confirm.stderr.split(separator: "\n").count == 1, "\(confirm.stderr)")
        #expect(try SQLite3.eventTypes(workspace.database) == before)
    }

    @Test("an empty database file: reading commands leave it empty (no database, exit 3); request starts a database in it")
    func emptyDatabaseFile() throws {
        let workspace = try Workspace()
        _ = FileManager.default.createFile(atPath: workspace.database, contents: Data())
        for command in [["status", "alice"], ["status", "alice", "--json"], ["history", "alice"], ["audit"], ["export"], ["verify"]] {
            let result = try workspace.enroll(command)
            #expect(result.status == 3, "\(command): \(result.stderr)")
            #expect(result.stderr.contains("no enrollment database at"), "\(command): \(result.stderr)")
        }
        let size = try FileManager.default.attributesOfItem(atPath: workspace.database)[.size] as? Int
        #expect(size == 0, "reading wrote \(size ?? -1) bytes into the empty file")
        #expect(try workspace.enroll(["request", "alice"]).status == 0)
        #expect(try SQLite3.eventTypes(workspace.database) == ["EnrollmentRequested"])
    }

    @Test("an SQLite file with no tables is read like no database (exit 3) and left byte for byte; request starts the journal in it")
    func emptySQLiteDatabase() throws {
        let workspace = try Workspace()
        _ = try SQLite3.query(workspace.database, "VACUUM")
        let before = workspace.databaseBytes()
        for command in [["status", "alice"], ["history", "alice"], ["audit"], ["export"], ["verify"], ["confirm", "alice", "123456"], ["activity"]] {
            let result = try workspace.enroll(command)
            #expect(result.status == 3 && result.stderr.contains("no enrollment database at"), "\(command): \(result.stderr)")
        }
        #expect(workspace.databaseBytes() == before, "reading changed the file")
        #expect(try workspace.enroll(["request", "alice"]).status == 0)
        #expect(try SQLite3.eventTypes(workspace.database) == ["EnrollmentRequested"])
    }

    @Test("status after the pending secret's expiry says it expired (text and --json), not \"confirm before\" a past time")
    func statusAfterExpiry() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "alice"], environment: ["ENROLL_NOW": "\(t0)"]).status == 0)
        let before = try workspace.enroll(["status", "alice"], environment: ["ENROLL_NOW": "\(t0 + 60)"])
        #expect(before.stdout.contains("confirm before"), "\(before.stdout)")
        let later = ["ENROLL_NOW": "\(t0 + 86_400)"]
        let after = try workspace.enroll(["status", "alice"], environment: later)
        #expect(after.stdout.contains("expired at") && after.stdout.contains("request again"), "\(after.stdout)")
        #expect(!after.stdout.contains("confirm before"), "\(after.stdout)")
        let (_, json) = try workspace.enrollJSON(["status", "alice"], environment: later)
        #expect(json["pendingExpired"] as? Bool == true, "\(json)")
        // As the API says at the same time: nothing usable is enrolled.
        #expect(json["status"] as? String == "none" && after.stdout.contains("status: none"), "\(json) \(after.stdout)")
    }

    @Test("--output through a directory link another user planted in a shared (sticky, world-writable) directory, named or reached through the caller's own link, is refused (exit 2, nothing recorded, the file there kept); such a link in a directory of the caller's is followed")
    func plantedDirectoryLinks() throws {
        let workspace = try Workspace()
        let now = ["ENROLL_NOW": "\(t0)"]
        #expect(try workspace.enroll(["request", "alice"], environment: now).status == 0)
        let shared = workspace.path("shared"), victim = workspace.path("victimdir")
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: false)
        try FileManager.default.createDirectory(atPath: victim, withIntermediateDirectories: false)
        try #require(chmod(shared, 0o1777) == 0)
        try Data("precious\n".utf8).write(to: URL(fileURLWithPath: victim + "/notes.txt"))
        try FileManager.default.createSymbolicLink(atPath: shared + "/dir-link", withDestinationPath: victim)
        try #require(lchown(shared + "/dir-link", 65_534, 65_534) == 0, "the tests run as root, which may give a link to another user")
        try FileManager.default.createSymbolicLink(atPath: workspace.path("mine"), withDestinationPath: "shared/dir-link")
        let before = try SQLite3.eventTypes(workspace.database)
        for output in ["shared/dir-link/notes.txt", "./shared/../shared/dir-link/notes.txt", "mine/notes.txt", workspace.path("mine") + "/notes.txt"] {
            for arguments in [["export", "--output", output], ["reveal", "alice", "--format", "uri", "--output", output]] {
                let refused = try workspace.enroll(arguments, environment: now)
                #expect(refused.status == 2, "\(arguments): \(refused.stderr)")
                #expect(refused.stderr.contains("dir-link, a symbolic link owned by another user (uid 65534) in \(shared), which every user may write to"), "\(arguments): \(refused.stderr)")
            }
        }
        #expect(try String(contentsOfFile: victim + "/notes.txt", encoding: .utf8) == "precious\n")
        #expect(try SQLite3.eventTypes(workspace.database) == before, "no reveal recorded for a refused output")
        // The same link in a directory only its owner (the caller) can write to: followed.
        try #require(chmod(shared, 0o755) == 0)
        let written = try workspace.enroll(["reveal", "alice", "--format", "uri", "--output", "mine/notes.txt"], environment: now)
        #expect(written.status == 0, "\(written.stderr)")
        #expect(try String(contentsOfFile: victim + "/notes.txt", encoding: .utf8).hasPrefix("otpauth://totp/"))
    }

    @Test("--output never replaces what is not a regular file: a pipe or a directory is refused (exit 2, nothing recorded); a symbolic link is written through; the file the command's own output is redirected to is refused")
    func outputPaths() throws {
        let workspace = try Workspace()
        let now = ["ENROLL_NOW": "\(t0)"]
        #expect(try workspace.enroll(["request", "alice"], environment: now).status == 0)
        let fifo = workspace.path("pipe")
        #expect(mkfifo(fifo, 0o600) == 0)
        let before = try SQLite3.eventTypes(workspace.database)
        for arguments in [["export", "--output", fifo], ["reveal", "alice", "--format", "uri", "--output", fifo], ["reveal", "alice", "--output", workspace.directory.path]] {
            let result = try workspace.enroll(arguments, environment: now)
            #expect(result.status == 2, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains("cannot write"), "\(arguments): \(result.stderr)")
        }
        var status = stat()
        #expect(lstat(fifo, &status) == 0 && status.st_mode & S_IFMT == S_IFIFO, "the pipe is still a pipe")
        #expect(try SQLite3.eventTypes(workspace.database) == before, "no reveal recorded for output nobody can see")

        let link = workspace.path("latest.uri"), target = workspace.path("target.uri")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "target.uri")
        let written = try workspace.enroll(["reveal", "alice", "--format", "uri", "--output", link], environment: now)
        #expect(written.status == 0, "\(written.stderr)")
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == "target.uri", "the link is still a link")
        #expect(try String(contentsOfFile: target, encoding: .utf8).hasPrefix("otpauth://totp/"))

        // Another user's link (planted in a shared directory) is not followed: its target stays.
        let victim = workspace.path("victim"), planted = workspace.path("planted.jsonl")
        try Data("precious\n".utf8).write(to: URL(fileURLWithPath: victim))
        try FileManager.default.createSymbolicLink(atPath: planted, withDestinationPath: victim)
        try #require(lchown(planted, 65_534, 65_534) == 0, "the tests run as root, which may give a link to another user")
        for arguments in [["export", "--output", planted], ["reveal", "alice", "--format", "uri", "--output", planted]] {
            let refused = try workspace.enroll(arguments, environment: now)
            #expect(refused.status == 2 && refused.stderr.contains("is a symbolic link owned by another user (uid 65534)"), "\(arguments): \(refused.stderr)")
        }
        #expect(try String(contentsOfFile: victim, encoding: .utf8) == "precious\n")
        #expect(try SQLite3.eventTypes(workspace.database) == before + ["QRCodeRevealed"], "only the reveal through the caller's own link was recorded")

        // The file this command's own standard output is appended to, named through /dev/stdout or
        // /proc/self/fd/1: refused, the file kept whole (not replaced by a new one).
        let log = workspace.path("script.log")
        try Data("earlier line\n".utf8).write(to: URL(fileURLWithPath: log))
        var original = stat()
        #expect(stat(log, &original) == 0)
        let sh = try Processes.tool("sh", package: "dash")
        for (arguments, name) in [("export --output /dev/stdout", "/dev/stdout"), ("reveal alice --format uri --output /proc/self/fd/1", "/proc/self/fd/1")] {
            let script = "'\(try Processes.product("enroll"))' \(arguments) >> '\(log)'"
            let result = try Processes.run(sh, ["-c", script], environment: now.merging(["ENROLL_DB": workspace.database, "ENROLL_KEY_FILE": workspace.keyFile]) { $1 })
            #expect(result.status == 2, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains("cannot write \(name): it is the file this command's standard output goes to"), "\(result.stderr)")
        }
        // Standard input read from the output file is no reason to refuse: nothing reads it.
        try Data("an earlier export\n".utf8).write(to: URL(fileURLWithPath: workspace.path("again.jsonl")))
        let fromInput = try Processes.run(sh, ["-c", "'\(try Processes.product("enroll"))' export --output '\(workspace.path("again.jsonl"))' < '\(workspace.path("again.jsonl"))'"],
            environment: now.merging(["ENROLL_DB": workspace.database, "ENROLL_KEY_FILE": workspace.keyFile]) { $1 })
        #expect(fromInput.status == 0, "\(fromInput.stderr)")
        #expect(try String(contentsOfFile: workspace.path("again.jsonl"), encoding: .utf8).hasPrefix("{"))
        var after = stat()
        #expect(stat(log, &after) == 0 && after.st_ino == original.st_ino)
        #expect(try String(contentsOfFile: log, encoding: .utf8) == "earlier line\n")
        #expect(try SQLite3.eventTypes(workspace.database) == before + ["QRCodeRevealed"], "nothing more recorded")
    }

    @Test("export --output honours the umask for a new file and keeps the mode of a file it replaces (never world-readable against the operator's wish)")
    func exportFileMode() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "alice"]).status == 0)
        let sh = try Processes.tool("sh", package: "dash")
        let enroll = try Processes.product("enroll")
        func export(umask: String, to name: String) throws -> mode_t {
            let result = try Processes.run(sh, ["-c", "umask \(umask); exec \"$0\" export --output \"$1\" --db \"$2\"", enroll, workspace.path(name), workspace.database])
            #expect(result.status == 0, "\(result.stderr)")
            var status = stat()
            #expect(stat(workspace.path(name), &status) == 0)
            return status.st_mode & 0o777
        }
        #expect(try export(umask: "077", to: "private.jsonl") == 0o600)
        #expect(try export(umask: "022", to: "shared.jsonl") == 0o644)
        #expect(chmod(workspace.path("shared.jsonl"), 0o600) == 0)
        #expect(try export(umask: "022", to: "shared.jsonl") == 0o600, "a file made private stays private when replaced")
    }

    @Test("user ids that are the same text in Unicode but different bytes (josé composed and decomposed) stay two users in the projections, inline and after a rebuild")
    func unicodeEquivalentUsers() throws {
        let workspace = try Workspace()
        let now = ["ENROLL_NOW": "\(t0)"]
        let composed = "jos\u{E9}", decomposed = "jose\u{301}"
        #expect(composed == decomposed, "Swift compares them as equal: that is the trap")
        let (requested, json) = try workspace.enrollJSON(["request", composed], environment: now)
        #expect(requested.status == 0)
        let secret = try #require((json["otpauthURI"] as? String).flatMap(secretParameter(of:)))
        #expect(try workspace.enroll(["confirm", composed, try Oathtool.code(base32Secret: secret, at: t0)], environment: now).status == 0)
        #expect(try workspace.enroll(["request", decomposed], environment: now).status == 0)
        func statuses() throws -> [String] {
            try [composed, decomposed].map { user in
                let (_, json) = try workspace.enrollJSON(["status", user], environment: now)
                return json["status"] as? String ?? "?"
            }
        }
        #expect(try statuses() == ["active", "pending"])
        let rebuild = try Processes.run(try Processes.product("rebuild-projections"), ["--db", workspace.database, "--all"])
        #expect(rebuild.status == 0, "\(rebuild.stderr)")
        #expect(try statuses() == ["active", "pending"])
        #expect(try SQLite3.query(workspace.database, "SELECT COUNT(*) FROM authenticators") == "2")
    }

    @Test("a zero-width non-joiner or joiner inside a Persian word or an emoji sequence is part of a user id, issuer or account (enrolled, confirmed, exported and imported); at either end, beside ASCII or doubled it is refused (exit 2), as is a character that draws nothing beside ASCII (keycap emoji aside) or a blank")
    func joinersInsideWords() throws {
        let workspace = try Workspace()
        let now = ["ENROLL_NOW": "\(t0)"]
        let persian = "\u{639}\u{644}\u{6CC}\u{200C}\u{631}\u{636}\u{627}"  // علی‌رضا, the non-joiner after ی
        let family = "\u{1F468}\u{200D}\u{1F469}\u{200D}\u{1F467}"  // one emoji of three, joined
        let (requested, json) = try workspace.enrollJSON(["request", persian, "--issuer", "\u{6A9}\u{200C}\u{627} \(family)", "--account", persian], environment: now)
        #expect(requested.status == 0, "\(requested.stderr)")
        let uri = try #require(json["otpauthURI"] as? String)
        #expect(uri.removingPercentEncoding?.contains(persian) == true, "\(uri)")
        let secret = try #require(secretParameter(of: uri))
        #expect(try workspace.enroll(["confirm", persian, try Oathtool.code(base32Secret: secret, at: t0)], environment: now).status == 0)
        let exported = try workspace.enroll(["export", "--output", workspace.path("journal.jsonl")])
        #expect(exported.status == 0, "\(exported.stderr)")
        let imported = try workspace.enroll(["import", workspace.path("journal.jsonl"), "--db", workspace.path("copy.sqlite")])
        #expect(imported.status == 0, "\(imported.stderr)")
        let (_, status) = try workspace.enrollJSON(["status", persian, "--db", workspace.path("copy.sqlite")], environment: now)
        #expect(status["status"] as? String == "active", "\(status)")
        // Inside a Devanagari conjunct (after a virama) and an emoji with a variation selector: taken.
        for user in ["\u{915}\u{94D}\u{200D}\u{937}", "\u{2764}\u{FE0F}\u{200D}\u{1F525}", "1\u{FE0F}\u{20E3}", "#\u{FE0F}\u{20E3}"] {
            let taken = try workspace.enroll(["request", user], environment: now)
            #expect(taken.status == 0, "\(user.unicodeScalars.map(\.value)): \(taken.stderr)")
        }
        // At an end, doubled, beside ASCII (also behind marks or characters that draw nothing), or a zero-width space: refused.
        for user in ["ali\u{200D}ce", "\u{200C}\u{639}\u{644}\u{6CC}", "\u{639}\u{644}\u{6CC}\u{200C}", "\u{639}\u{200C}\u{200C}\u{644}", "\u{639}\u{200B}\u{644}",
                     "ad\u{FE0F}\u{200D}\u{FE0F}min", "ad\u{34F}\u{200C}\u{34F}min", "ad\u{3164}\u{200C}\u{3164}min", "e\u{301}\u{200D}\u{301}x",
                     // Characters that draw nothing beside ASCII would make "admin" of another id; a filler anywhere.
                     "ad\u{FE0F}min", "ad\u{34F}min", "\u{D55C}\u{3164}", "\u{3164}", "admin\u{2800}", "\u{2800}", "admin\u{2800}\u{200D}\u{2800}"] {
            let refused = try workspace.enroll(["request", user], environment: now)
            #expect(refused.status == 2 && refused.stderr.contains("invalid user id: it contains a") && refused.stderr.contains("(U+"), "\(user.unicodeScalars.map(\.value)): \(refused.stderr)")
        }
    }

    @Test("retrying a request's command id after a removal destroyed its secret says so (exit 2), not \"request a new enrollment\"")
    func commandIdSpentByRemoval() throws {
        let workspace = try Workspace()
        let now = ["ENROLL_NOW": "\(t0)"]
        #expect(try workspace.enroll(["request", "bob", "--command-id", "R1"], environment: now).status == 0)
        #expect(try workspace.enroll(["remove", "bob"], environment: now).status == 0)
        let before = try SQLite3.eventTypes(workspace.database)
        let retry = try workspace.enroll(["request", "bob", "--command-id", "R1"], environment: now)
        #expect(retry.status == 2, "\(retry.stderr)")
        #expect(retry.stderr.contains("command id 'R1' already issued a secret that has been destroyed since"), "\(retry.stderr)")
        #expect(try SQLite3.eventTypes(workspace.database) == before)
        #expect(try workspace.enroll(["request", "bob", "--command-id", "R2"], environment: now).status == 0)
        // After a new enrollment made a new data key, R1's secret (sealed under the destroyed
        // one) is still forgotten, not a damaged journal.
        let again = try workspace.enroll(["request", "bob", "--command-id", "R1"], environment: now)
        #expect(again.status == 2 && again.stderr.contains("command id 'R1' already issued a secret that has been destroyed since"), "\(again.stderr)")
        #expect(try workspace.enroll(["reveal", "bob"], environment: now).status == 0)
    }

    @Test("a command id that showed a secret replays only while that secret is current: after a confirm, a replacement or the expiry it is refused (exit 2) and shows nothing")
    func replayShowsOnlyCurrentSecret() throws {
        let workspace = try Workspace()
        func at(_ offset: Int64) -> [String: String] { ["ENROLL_NOW": "\(t0 + offset)"] }
        let first = try workspace.enroll(["request", "ann", "--command-id", "R1"], environment: at(0))
        #expect(first.status == 0, "\(first.stderr)")
        let uri = try #require(first.stdout.split(separator: "\n").first { $0.hasPrefix("otpauth://") }.map(String.init))
        let secret = try #require(secretParameter(of: uri))
        // While pending, a retry is the first outcome again.
        let retry = try workspace.enroll(["request", "ann", "--command-id", "R1"], environment: at(5))
        #expect(retry.status == 0 && retry.stdout.contains(uri), "\(retry.stderr)")
        #expect(try workspace.enroll(["confirm", "ann", try Oathtool.code(base32Secret: secret, at: t0 + 10)], environment: at(10)).status == 0)
        let journal = try SQLite3.eventTypes(workspace.database)
        func refused(_ arguments: [String], _ offset: Int64, _ why: String) throws {
            let result = try workspace.enroll(arguments, environment: at(offset))
            #expect(result.status == 2, "\(arguments): exit \(result.status) \(result.stdout)")
            #expect(result.stderr.contains(why), "\(arguments): \(result.stderr)")
            // With --json the refusal is the one JSON object on stdout, naming its code.
            let json = arguments.contains("--json")
            #expect(json ? result.stdout.contains("\"command_id_spent\"") : result.stdout.isEmpty, "\(result.stdout)")
            #expect(!result.stdout.contains(secret) && !result.stderr.contains(secret), "no secret shown: \(result.stdout)")
        }
        try refused(["request", "ann", "--command-id", "R1"], 20, "command id 'R1' already showed a secret that has been confirmed since")
        try refused(["request", "ann", "--command-id", "R1", "--json"], 20, "has been confirmed since")
        #expect(try SQLite3.eventTypes(workspace.database) == journal, "nothing recorded")
        // A reveal of the active secret replays while it is the current one.
        let reveal = try workspace.enroll(["reveal", "ann", "--format", "uri", "--command-id", "V1"], environment: at(30))
        #expect(reveal.status == 0 && reveal.stdout.hasPrefix(uri))
        #expect(try workspace.enroll(["reveal", "ann", "--format", "uri", "--command-id", "V1"], environment: at(31)).stdout.hasPrefix(uri))
        let regenerated = try workspace.enroll(["regenerate", "ann", "--command-id", "G1"], environment: at(40))
        #expect(regenerated.status == 0, "\(regenerated.stderr)")
        try refused(["reveal", "ann", "--format", "uri", "--command-id", "V1"], 41, "command id 'V1' already showed a secret that a newer one has replaced since")
        #expect(try workspace.enroll(["regenerate", "ann", "--command-id", "G1"], environment: at(50)).status == 0, "the replacement is still pending")
        try refused(["regenerate", "ann", "--command-id", "G1"], 40 + 601, "command id 'G1' already issued a secret that has expired unconfirmed since")
    }

    @Test("a repeated command id of a reveal or a regenerate answers the same whether a command has recorded an expiry yet or not; a regenerate repeated as typed after the active secret changed is told its secret is spent, not that its arguments differ")
    func replayAnswersAsOfNow() throws {
        let workspace = try Workspace()
        func at(_ offset: Int64) -> [String: String] { ["ENROLL_NOW": "\(t0 + offset)"] }
        let (_, requested) = try workspace.enrollJSON(["request", "ann"], environment: at(0))
        let uri = try #require(requested["otpauthURI"] as? String)
        let secret = try #require(secretParameter(of: uri))
        #expect(try workspace.enroll(["confirm", "ann", try Oathtool.code(base32Secret: secret, at: t0)], environment: at(0)).status == 0)
        #expect(try workspace.enroll(["reveal", "ann", "--format", "uri", "--command-id", "V1"], environment: at(10)).stdout.hasPrefix(uri))
        #expect(try workspace.enroll(["regenerate", "ann"], environment: at(20)).status == 0)
        // The replacement expired at +620, and no command has recorded it: the active secret is
        // the current one again, as it is once the expiry is recorded.
        let unrecorded = try workspace.enroll(["reveal", "ann", "--format", "uri", "--command-id", "V1"], environment: at(700))
        #expect(unrecorded.status == 0 && unrecorded.stdout.hasPrefix(uri), "\(unrecorded.stderr)")
        let recorded = try workspace.enroll(["reveal", "ann", "--format", "uri", "--command-id", "V1"], environment: at(710))
        #expect(recorded.status == 0 && recorded.stdout.hasPrefix(uri), "\(recorded.stderr)")
        #expect(try workspace.enroll(["export", "--output", workspace.path("journal.jsonl")]).status == 0)
        #expect(try workspace.enroll(["import", workspace.path("journal.jsonl"), "--db", workspace.path("copy.sqlite")]).status == 0, "what the replays recorded imports")

        // G1 regenerated with 8 digits (the period kept: 30 s); then the active secret became one of 60 s.
        #expect(try workspace.enroll(["regenerate", "ann", "--digits", "8", "--command-id", "G1"], environment: at(800)).status == 0)
        #expect(try workspace.enroll(["cancel", "ann"], environment: at(810)).status == 0)
        let (_, sixty) = try workspace.enrollJSON(["regenerate", "ann", "--period", "60"], environment: at(820))
        let sixtyURI = try #require(sixty["otpauthURI"] as? String)
        let code = try Oathtool.code(base32Secret: try #require(secretParameter(of: sixtyURI)), at: t0 + 830, period: 60)
        #expect(try workspace.enroll(["confirm", "ann", code], environment: at(830)).status == 0)
        let repeated = try workspace.enroll(["regenerate", "ann", "--digits", "8", "--command-id", "G1"], environment: at(840))
        #expect(repeated.status == 2 && repeated.stderr.contains("command id 'G1' already showed a secret that a newer one has replaced since"), "\(repeated.stderr)")
        // Arguments that really differ, while G1's secret would still be current, are still told.
        #expect(try workspace.enroll(["regenerate", "ann", "--digits", "7", "--command-id", "G2"], environment: at(850)).status == 0)
        let other = try workspace.enroll(["regenerate", "ann", "--digits", "6", "--command-id", "G2"], environment: at(851))
        #expect(other.status == 2 && other.stderr.contains("with other arguments"), "\(other.stderr)")
    }

    @Test("a writer that lost the race gets a typed conflict from the journal")
    func journalConflict() throws {
        let workspace = try Workspace()
        let service = try makeService(workspace, clock: FixedClock(t0))
        _ = try service.handle(CommandEnvelope(user: "carol", command: .requestEnrollment(EnrollmentOptions())))
        let event = NewEvent(eventId: UUID().uuidString, type: "QRCodeRevealed", schemaVersion: 1, data: #"{"target":"pending"}"#, metadata: EventMetadata(actor: "t", commandId: "x"), recordedAt: t0)
        let other = try EnrollmentDatabase(path: workspace.database)
        // Both writers read version 1; the first append wins, the second is told it lost.
        _ = try other.writer.write { db in try EventJournal.append([event], to: "carol", expectedVersion: 1, in: db) }
        var second = event
        second.eventId = UUID().uuidString
        #expect(throws: StoreError.conflict(stream: "carol", expected: 1, actual: 2)) {
            try service.database.writer.write { db in try EventJournal.append([second], to: "carol", expectedVersion: 1, in: db) }
        }
    }

    @Test("the handler decides while holding the write lock: another writer cannot append between its load and its append")
    func handlerDecidesUnderTheWriteLock() throws {
        let workspace = try Workspace()
        let clock = FixedClock(t0)
        let competitor = try EnrollmentService.open(
            databasePath: workspace.database, keyFilePath: workspace.keyFile,
            options: DatabaseOptions(busyTimeout: 0.05), clock: clock, secrets: SeededSecretSource(seed: "competitor"))
        let request = try competitor.handle(CommandEnvelope(user: "dave", command: .requestEnrollment(EnrollmentOptions())))
        _ = try competitor.handle(CommandEnvelope(user: "dave", command: .confirmCode(try code(for: request.state, at: t0))))

        // The secret source runs between the handler's load and its append: the competitor
        // (another connection, as another process would be) tries to append a reveal there.
        let refused = Mutex<(any Error)?>(nil)
        let interloper = InterloperSecretSource {
            do { _ = try competitor.handle(CommandEnvelope(user: "dave", actor: "other-process", command: .revealQRCode)) } catch {
                refused.withLock { $0 = error }
            }
        }
        let service = try makeService(workspace, clock: clock, secrets: interloper)
        let outcome = try service.handle(CommandEnvelope(user: "dave", command: .regenerateSecret(nil)))
        #expect(outcome.accepted)
        #expect(interloper.calls == 1, "decided once: nothing can move the stream under the write lock")
        #expect(refused.withLock { $0 as? StoreError } == .busy(path: workspace.database, seconds: 0.05))
        // The competitor's reveal goes through once the lock is free.
        _ = try competitor.handle(CommandEnvelope(user: "dave", actor: "other-process", command: .revealQRCode))
        let rows = try service.database.writer.read { db in try Row.fetchAll(db, sql: "SELECT type, stream_version FROM events WHERE stream_id = 'dave' ORDER BY position") }
        #expect(rows.map { $0["type"] as String } == ["EnrollmentRequested", "AuthenticatorActivated", "SecretRegenerated", "QRCodeRevealed"])
        #expect(rows.map { $0["stream_version"] as Int64 } == [1, 2, 3, 4])
    }

    @Test("concurrent writers from two connections on the same user lose nothing and never duplicate a version")
    func concurrentWriters() async throws {
        let workspace = try Workspace()
        let clock = FixedClock(t0)
        let a = try makeService(workspace, clock: clock)
        let b = try makeService(workspace, clock: clock)
        let request = try a.handle(CommandEnvelope(user: "erin", command: .requestEnrollment(EnrollmentOptions())))
        _ = try a.handle(CommandEnvelope(user: "erin", command: .confirmCode(try code(for: request.state, at: t0))))
        await withTaskGroup(of: Void.self) { group in
            for index in 0..<40 {
                let service = index.isMultiple(of: 2) ? a : b
                group.addTask { _ = try? service.handle(CommandEnvelope(user: "erin", command: .revealQRCode)) }
            }
        }
        let versions = try await a.database.writer.read { db in try Int64.fetchAll(db, sql: "SELECT stream_version FROM events WHERE stream_id = 'erin' ORDER BY position") }
        #expect(versions == Array(1...42))
    }

    @Test("no secret appears in plaintext in the database or its WAL")
    func noPlaintextSecrets() throws {
        let workspace = try Workspace()
        let service = try makeService(workspace, clock: FixedClock(t0), secrets: RandomSecretSource())
        var secrets: [Secret] = []
        for index in 0..<20 {
            let outcome = try service.handle(CommandEnvelope(user: "user-\(index)", command: .requestEnrollment(EnrollmentOptions())))
            secrets.append(try #require(outcome.state.current?.secret.secret))
        }
        let files = workspace.databaseBytes()
        #expect(files[""] != nil)
        let strings = try Processes.tool("strings", package: "binutils")
        for suffix in files.keys {
            let dump = try Processes.run(strings, ["-n", "8", workspace.database + suffix]).stdout
            for secret in secrets {
                let base32 = Base32.encode(secret.bytes)
                #expect(!dump.contains(base32), "base32 secret found in enrollment.sqlite\(suffix)")
                #expect(!dump.contains(Data(secret.bytes).base64EncodedString()))
                #expect(!dump.contains(secret.bytes.map { String(format: "%02x", $0) }.joined()))
            }
            for secret in secrets {
                #expect(files[suffix]?.range(of: Data(secret.bytes)) == nil, "raw secret bytes found in enrollment.sqlite\(suffix)")
            }
        }
    }

    @Test("the journal survives reopening: state comes back from the events alone")
    func reopen() throws {
        let workspace = try Workspace()
        let uri: String?
        do {
            let service = try makeService(workspace, clock: FixedClock(t0))
            uri = try service.handle(CommandEnvelope(user: "frank", command: .requestEnrollment(EnrollmentOptions()))).state.currentURI()?.string
        }
        let reopened = try makeService(workspace, clock: FixedClock(t0 + 10))
        #expect(try reopened.load("frank").currentURI()?.string == uri)
        #expect(uri != nil)
    }

    @Test("removal destroys the user's data key: the sealed secret reads back as forgotten")
    func cryptoShredding() throws {
        let workspace = try Workspace()
        let service = try makeService(workspace, clock: FixedClock(t0))
        _ = try service.handle(CommandEnvelope(user: "gina", command: .requestEnrollment(EnrollmentOptions())))
        _ = try service.handle(CommandEnvelope(user: "gina", command: .removeAuthenticator))
        let (row, key) = try service.database.writer.read { db in
            (try RecordedEvent.fetchOne(db, sql: "SELECT * FROM events WHERE type = 'EnrollmentRequested'"),
             try Data.fetchOne(db, sql: "SELECT wrapped_key FROM data_keys WHERE stream_id = 'gina'"))
        }
        #expect(key == nil)
        let recorded = try #require(row)
        let event = try EventCodec.decode(type: recorded.type, schemaVersion: recorded.schemaVersion, data: recorded.data) { sealed in
            KeyRing.open(sealed, dataKey: nil, stream: "gina")
        }
        guard case .enrollmentRequested(let issued) = event else { Issue.record("unexpected \(event)"); return }
        #expect(issued.secret == .forgotten)
    }
}

/// A secret source that runs `interfere` on its first use: a deterministic way to make another
/// writer append between the handler's load and its append.
final class InterloperSecretSource: SecretSource, @unchecked Sendable {
    private let interfere: @Sendable () -> Void
    private let lock = NSLock()
    private var count = 0
    var calls: Int { lock.withLock { count } }

    init(_ interfere: @escaping @Sendable () -> Void) { self.interfere = interfere }

    func makeSecret(byteCount: Int) throws -> Secret {
        let first = lock.withLock { count += 1; return count == 1 }
        if first { interfere() }
        return Secret(bytes: try SecureRandom.bytes(byteCount))
    }
}

/// The durability asked for is the one in force on the writing connection.
struct DurabilityTests {
    @Test("commits use synchronous=FULL by default and NORMAL when asked, with or without a reader pool", arguments: [false, true])
    func synchronousSetting(concurrentReads: Bool) throws {
        let workspace = try Workspace()
        for (durability, expected) in [(Durability.full, 2), (.normal, 1)] {
            let database = try EnrollmentDatabase(path: workspace.database, options: DatabaseOptions(durability: durability, concurrentReads: concurrentReads))
            let setting = try database.writer.write { db in try Int.fetchOne(db, sql: "PRAGMA synchronous") }
            #expect(setting == expected, "\(durability)")
            let mode = try database.writer.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }
            #expect(mode == "wal")
        }
    }
}
