import Enrollment
import Foundation
import OneTimePassword
import Testing
import TestSupport

/// Many writers at once: processes and tasks on one database file.
@Suite("many writers", .serialized)
struct ConcurrencyTests {
    static let t0: Int64 = 1_764_421_576

    @Test("8 processes confirming the same right code at the same moment: exactly one activates, the others are told code_reused (3 rounds)")
    func simultaneousConfirmations() throws {
        let workspace = try Workspace()
        let enroll = try Processes.product("enroll")
        let environment = ["ENROLL_DB": workspace.database, "ENROLL_KEY_FILE": workspace.keyFile]
        for round in 0..<3 {
            let issued = Self.t0 + Int64(round) * 120
            let command = round == 0 ? "request" : "regenerate"
            let (result, json) = try workspace.enrollJSON([command, "alice"], environment: ["ENROLL_NOW": "\(issued)"])
            #expect(result.status == 0, "\(result.stderr)")
            let uri = try #require(json["otpauthURI"] as? String)
            let secret = try #require(secretParameter(of: uri))
            let now = issued + 5
            let code = try Oathtool.code(base32Secret: secret, at: now)

            var group = try ProcessGroup()
            for _ in 0..<8 {
                try group.start(enroll, ["confirm", "alice", code], environment: environment.merging(["ENROLL_NOW": "\(now)"]) { $1 })
            }
            let finished = group.wait()
            #expect(finished.filter { $0.status == 0 }.count == 1, "round \(round): \(finished.map(\.status)) \(finished.map(\.stderr))")
            for loser in finished where loser.status != 0 {
                #expect(loser.status == 1)
                #expect(loser.stderr.contains("(code_reused)"), "round \(round): \(loser.stderr)")
            }
        }
        let types = try SQLite3.eventTypes(workspace.database)
        #expect(types.filter { $0 == "AuthenticatorActivated" }.count == 3)
        #expect(types.filter { $0 == "CodeRejected" }.count == 21)
        #expect(!types.contains("ConfirmationLocked"), "losers of a race must not lock the user out")
        try JournalIntegrity.check(workspace.database)
    }

    @Test("6 processes starting on a new database at once (10 rounds): every one succeeds, there is one key, and later commands work")
    func simultaneousFirstUse() throws {
        let enroll = try Processes.product("enroll")
        for round in 0..<10 {
            let workspace = try Workspace()
            let environment = ["ENROLL_DB": workspace.database, "ENROLL_KEY_FILE": workspace.keyFile, "ENROLL_NOW": "\(Self.t0)"]
            var group = try ProcessGroup()
            for index in 0..<6 { try group.start(enroll, ["request", "user\(index)"], environment: environment) }
            let finished = group.wait()
            #expect(finished.allSatisfy { $0.status == 0 }, "round \(round): \(finished.map(\.status)) \(finished.map(\.stderr))")
            #expect(finished.allSatisfy { !$0.stderr.contains("upgrading") }, "round \(round): a new database is not an upgrade")
            // Every secret was sealed under the key the file holds: each one can be revealed.
            for index in 0..<6 {
                let reveal = try workspace.enroll(["reveal", "user\(index)", "--format", "uri"], environment: ["ENROLL_NOW": "\(Self.t0)"])
                #expect(reveal.status == 0 && reveal.stdout.hasPrefix("otpauth://"), "round \(round): \(reveal.stderr)")
            }
            #expect(try workspace.enroll(["request", "late"], environment: ["ENROLL_NOW": "\(Self.t0)"]).status == 0)
            let keyFiles = try FileManager.default.contentsOfDirectory(atPath: workspace.directory.path).filter { $0.contains(".key") }
            #expect(keyFiles == ["enrollment.key"], "one key file, no leftovers: \(keyFiles)")
        }
    }

    @Test("16 concurrent tasks through the library, each with its own connection, confirming the same code: exactly one accepted")
    func simultaneousConfirmationsThroughTheLibrary() async throws {
        let workspace = try Workspace()
        let clock = FixedClock(Self.t0)
        let secret = Secret(bytes: Array("12345678901234567890".utf8))
        let first = try EnrollmentService.open(
            databasePath: workspace.database, keyFilePath: workspace.keyFile, clock: clock, secrets: FixedSecretSource([secret]))
        #expect(try first.handle(CommandEnvelope(user: "alice", command: .requestEnrollment(EnrollmentOptions()))).accepted)
        clock.advance(by: 5)
        let code = try TOTP.code(secret: secret.bytes, at: clock.now(), parameters: .default)

        let (database, keyFile) = (workspace.database, workspace.keyFile)
        let outcomes = try await withThrowingTaskGroup(of: EnrollmentRejection?.self) { group in
            for _ in 0..<16 {
                group.addTask {
                    let service = try EnrollmentService.open(databasePath: database, keyFilePath: keyFile, clock: clock)
                    return try service.handle(CommandEnvelope(user: "alice", command: .confirmCode(code))).rejection
                }
            }
            var all: [EnrollmentRejection?] = []
            for try await outcome in group { all.append(outcome) }
            return all
        }
        #expect(outcomes.filter { $0 == nil }.count == 1, "\(outcomes)")
        #expect(outcomes.compactMap { $0 }.allSatisfy { $0 == .codeReused }, "\(outcomes)")
        #expect(try SQLite3.eventTypes(workspace.database).filter { $0 == "AuthenticatorActivated" }.count == 1)
        try JournalIntegrity.check(workspace.database)
    }

    @Test("6 processes appending to one database (own users and a shared one): no event lost or duplicated, positions and versions gap-free")
    func manyProcessesAppend() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "shared"]).status == 0)
        let bash = try Processes.tool("bash", package: "bash")
        let enroll = try Processes.product("enroll")
        let writers = 6, rounds = 8
        var group = try ProcessGroup()
        for writer in 0..<writers {
            // Each command has its own id so that the journal can be matched against what was sent.
            let script = """
                set -u
                "$ENROLL" request user\(writer) --command-id w\(writer)-request >/dev/null || echo "request failed $?" >&2
                for i in $(seq 1 \(rounds)); do
                  "$ENROLL" reveal user\(writer) --format uri --command-id w\(writer)-own-$i >/dev/null || echo "own $i failed $?" >&2
                  "$ENROLL" reveal shared --format uri --command-id w\(writer)-shared-$i >/dev/null || echo "shared $i failed $?" >&2
                done
                """
            try group.start(bash, ["-c", script], environment: [
                "ENROLL": enroll, "ENROLL_DB": workspace.database, "ENROLL_KEY_FILE": workspace.keyFile,
            ])
        }
        let finished = group.wait()
        for run in finished {
            #expect(run.status == 0)
            #expect(run.stderr.isEmpty, "\(run.stderr)")
        }
        let summary = try JournalIntegrity.check(workspace.database)
        let expected = 1 + writers * (1 + 2 * rounds)
        #expect(summary.events == expected)
        #expect(summary.commands == expected)
        #expect(try SQLite3.query(workspace.database, "SELECT count(*) FROM events WHERE stream_id = 'shared'") == "\(1 + writers * rounds)")
        for writer in 0..<writers {
            let ids = try SQLite3.query(workspace.database, "SELECT count(DISTINCT json_extract(metadata, '$.commandId')) FROM events WHERE stream_id = 'user\(writer)' OR json_extract(metadata, '$.commandId') LIKE 'w\(writer)-%'")
            #expect(ids == "\(1 + 2 * rounds)")
        }
    }

    @Test("100 concurrent tasks through one service and through separate services: every command recorded exactly once")
    func manyTasksAppend() async throws {
        let workspace = try Workspace()
        let (database, keyFile) = (workspace.database, workspace.keyFile)
        let shared = try EnrollmentService.open(databasePath: database, keyFilePath: keyFile)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<100 {
                group.addTask {
                    let service = task.isMultiple(of: 2)
                        ? shared
                        : try EnrollmentService.open(databasePath: database, keyFilePath: keyFile)
                    let user = "user\(task % 10)"
                    let command: EnrollmentCommand = task < 10 ? .requestEnrollment(EnrollmentOptions()) : .revealQRCode
                    _ = try service.handle(CommandEnvelope(commandId: "task-\(task)", user: user, command: command))
                }
            }
            try await group.waitForAll()
        }
        let summary = try JournalIntegrity.check(workspace.database)
        #expect(summary.commands == 100)
        #expect(try SQLite3.query(workspace.database, "SELECT count(DISTINCT json_extract(metadata, '$.commandId')) FROM events") == "\(summary.events)")
    }

    @Test("waiting for another writer's lock is bounded: --busy-timeout 1 gives up after about a second with exit 3 and says so")
    func busyTimeout() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "alice"]).status == 0)
        let eventsBefore = try SQLite3.query(workspace.database, "SELECT position, hash FROM events")

        // sqlite3 holds the write lock (BEGIN IMMEDIATE) until told to roll back.
        let writer = try SQLiteShellTransaction(workspace.database, begin: "BEGIN IMMEDIATE")
        defer { writer.end() }

        let started = Date()
        let result = try workspace.enroll(["request", "bob", "--busy-timeout", "1"])
        let elapsed = Date().timeIntervalSince(started)
        #expect(result.status == 3, "\(result.stderr)")
        #expect(result.stderr.contains("stayed locked by another writer for more than 1 s"), "\(result.stderr)")
        #expect(elapsed >= 0.9 && elapsed < 6, "waited \(elapsed) s")
        #expect(try SQLite3.query(workspace.database, "SELECT position, hash FROM events") == eventsBefore)
    }
}
