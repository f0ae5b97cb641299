import Enrollment
import Foundation
import Testing
import TestSupport

/// Throttling of wrong codes (RFC 4226 §7.3), through the command line with a fixed clock.
@Suite("throttling")
struct ThrottlingTests {
    static let t0: Int64 = 1_764_421_576

    /// A workspace where alice has a pending secret requested at t0; returns it with the secret.
    static func pendingAlice(_ extra: [String] = []) throws -> (Workspace, String) {
        let workspace = try Workspace()
        let (request, json) = try workspace.enrollJSON(["request", "alice"] + extra, environment: ["ENROLL_NOW": "\(t0)"])
        #expect(request.status == 0, "\(request.stderr)")
        let uri = try #require(json["otpauthURI"] as? String)
        let secret = try #require(secretParameter(of: uri))
        return (workspace, secret)
    }

    /// A code that is wrong at `time` (and at the steps around it).
    static func wrongCode(_ secret: String, at time: Int64) throws -> String {
        let right = try Set([-30, 0, 30].map { try Oathtool.code(base32Secret: secret, at: time + Int64($0)) })
        return ["000000", "111111", "222222", "333333"].first { !right.contains($0) } ?? "444444"
    }

    func confirm(_ workspace: Workspace, _ code: String, at time: Int64, _ options: [String] = [], environment: [String: String] = [:]) throws -> Processes.Result {
        try workspace.enroll(["confirm", "alice", code] + options, environment: environment.merging(["ENROLL_NOW": "\(time)"]) { $1 })
    }

    @Test("--max-failed-attempts 3 --lock-minutes 2: the third wrong code locks for 2 minutes; status and history show the lock and its end")
    func configuredLock() throws {
        let (workspace, secret) = try Self.pendingAlice()
        let options = ["--max-failed-attempts", "3", "--lock-minutes", "2"]
        let wrong = try Self.wrongCode(secret, at: Self.t0 + 3)
        for attempt in 1...2 {
            let result = try confirm(workspace, wrong, at: Self.t0 + Int64(attempt), options)
            #expect(result.status == 1)
            #expect(result.stderr.contains("\(3 - attempt) attempt"), "\(result.stderr)")
        }
        let third = try confirm(workspace, wrong, at: Self.t0 + 3, options)
        let until = Self.t0 + 3 + 120
        #expect(third.status == 1)
        #expect(third.stderr.contains("locked until \(Timestamps.iso8601(until))"), "\(third.stderr)")

        let (_, status) = try workspace.enrollJSON(["status", "alice"], environment: ["ENROLL_NOW": "\(Self.t0 + 10)"])
        #expect(status["lockedUntil"] as? String == Timestamps.iso8601(until))
        #expect(status["locked"] as? Bool == true)
        let text = try workspace.enroll(["status", "alice"], environment: ["ENROLL_NOW": "\(Self.t0 + 10)"])
        #expect(text.stdout.contains("confirmation locked until \(Timestamps.iso8601(until))"))

        let history = try workspace.enroll(["history", "alice", "--json"])
        let locked = history.stdout.split(separator: "\n").first { $0.contains("\"type\":\"ConfirmationLocked\"") }
        #expect(locked?.contains("\"until\":\(until)") == true, "\(history.stdout)")
        #expect(try SQLite3.eventTypes(workspace.database).suffix(2) == ["CodeRejected", "ConfirmationLocked"])
    }

    @Test("while locked, even the right code is refused as locked, unchecked and uncounted, and each attempt is recorded (CodeRefusedWhileLocked, in the history); after the end it activates and the unlock is recorded")
    func lockedRefusesWithoutChecking() throws {
        let (workspace, secret) = try Self.pendingAlice()
        let options = ["--max-failed-attempts", "2", "--lock-minutes", "1"]
        let wrong = try Self.wrongCode(secret, at: Self.t0 + 2)
        _ = try confirm(workspace, wrong, at: Self.t0 + 1, options)
        #expect(try confirm(workspace, wrong, at: Self.t0 + 2, options).status == 1)
        let until = Self.t0 + 2 + 60
        let typesBefore = try SQLite3.eventTypes(workspace.database)

        for time in [Self.t0 + 30, until - 1] {
            let right = try Oathtool.code(base32Secret: secret, at: time)
            let refused = try confirm(workspace, right, at: time, options)
            #expect(refused.status == 1)
            #expect(refused.stderr.contains("locked until \(Timestamps.iso8601(until))"), "\(refused.stderr)")
            #expect(!refused.stderr.contains("invalid_code"))
        }
        #expect(try SQLite3.eventTypes(workspace.database) == typesBefore + ["CodeRefusedWhileLocked", "CodeRefusedWhileLocked"],
                "each confirmation while locked is recorded as refused unchecked, and as nothing else")
        let lockedHistory = try workspace.enroll(["history", "alice"], environment: ["ENROLL_NOW": "\(until - 1)"]).stdout
        #expect(lockedHistory.contains("refused unchecked: confirmation is locked until \(Timestamps.iso8601(until))"), "\(lockedHistory)")

        let after = until + 5
        let accepted = try confirm(workspace, try Oathtool.code(base32Secret: secret, at: after), at: after, options)
        #expect(accepted.status == 0, "\(accepted.stderr)")
        #expect(try SQLite3.eventTypes(workspace.database).suffix(2) == ["ConfirmationUnlocked", "AuthenticatorActivated"])
        let history = try workspace.enroll(["history", "alice"])
        #expect(history.stdout.contains("ConfirmationUnlocked"))
    }

    @Test("each further lock doubles: the second lock lasts twice the first")
    func locksDouble() throws {
        let (workspace, secret) = try Self.pendingAlice()
        let options = ["--max-failed-attempts", "2", "--lock-minutes", "1"]
        let wrong = try Self.wrongCode(secret, at: Self.t0 + 100)
        _ = try confirm(workspace, wrong, at: Self.t0 + 1, options)
        let first = try confirm(workspace, wrong, at: Self.t0 + 2, options)
        #expect(first.stderr.contains("locked until \(Timestamps.iso8601(Self.t0 + 2 + 60))"), "\(first.stderr)")
        let wrongLater = try Self.wrongCode(secret, at: Self.t0 + 100)
        _ = try confirm(workspace, wrongLater, at: Self.t0 + 100, options)
        let second = try confirm(workspace, wrongLater, at: Self.t0 + 101, options)
        #expect(second.stderr.contains("locked until \(Timestamps.iso8601(Self.t0 + 101 + 120))"), "\(second.stderr)")
        let (_, status) = try workspace.enrollJSON(["status", "alice"], environment: ["ENROLL_NOW": "\(Self.t0 + 102)"])
        #expect(status["lockedUntil"] as? String == Timestamps.iso8601(Self.t0 + 101 + 120))
    }

    @Test("the defaults lock after 5 wrong codes for 15 minutes; ENROLL_MAX_FAILED_ATTEMPTS and ENROLL_LOCK_MINUTES change them")
    func defaultsAndEnvironment() throws {
        let (workspace, secret) = try Self.pendingAlice()
        let wrong = try Self.wrongCode(secret, at: Self.t0 + 5)
        for attempt in 1...4 { #expect(!(try confirm(workspace, wrong, at: Self.t0 + Int64(attempt))).stderr.contains("locked")) }
        let fifth = try confirm(workspace, wrong, at: Self.t0 + 5)
        #expect(fifth.stderr.contains("locked until \(Timestamps.iso8601(Self.t0 + 5 + 900))"), "\(fifth.stderr)")

        let (other, otherSecret) = try Self.pendingAlice()
        let environment = ["ENROLL_MAX_FAILED_ATTEMPTS": "1", "ENROLL_LOCK_MINUTES": "3"]
        let once = try confirm(other, try Self.wrongCode(otherSecret, at: Self.t0 + 1), at: Self.t0 + 1, environment: environment)
        #expect(once.stderr.contains("locked until \(Timestamps.iso8601(Self.t0 + 1 + 180))"), "\(once.stderr)")
    }
}
