import Foundation
import Testing

/// `enroll status USER [--db PATH] [--json]` is read without the argument parser (startup time,
/// BENCHMARKS.md); any other shape goes through the parser. Adding `--durability FULL`, which
/// changes nothing for status, sends the same request through the parser: both must answer alike.
@Suite("enroll status: the short path and the parser agree")
struct StatusFastPathTests {
    static let now: Int64 = 1_800_000_000

    /// alice has a pending secret; bob is active with one wrong code behind him.
    func enrolledWorkspace() throws -> Workspace {
        let workspace = try Workspace()
        let env = ["ENROLL_NOW": "\(Self.now)"]
        #expect(try workspace.enroll(["request", "alice"], environment: env).status == 0)
        let (request, json) = try workspace.enrollJSON(["request", "bob"], environment: env)
        try #require(request.status == 0, "\(request.stderr)")
        let uri = try #require(json["otpauthURI"] as? String)
        let secret = try #require(secretParameter(of: uri))
        #expect(try workspace.enroll(["confirm", "bob", try Oathtool.code(base32Secret: secret, at: Self.now)], environment: env).status == 0)
        let regenerated = try workspace.enrollJSON(["regenerate", "bob"], environment: env).1
        let newURI = try #require(regenerated["otpauthURI"] as? String)
        let newSecret = try #require(secretParameter(of: newURI))
        let wrong = try Oathtool.code(base32Secret: newSecret, at: Self.now - 3_600)
        #expect(try workspace.enroll(["confirm", "bob", wrong], environment: env).status == 1)
        return workspace
    }

    @Test("status of pending, active and unknown users, as text and JSON, reads the same both ways")
    func sameAnswers() throws {
        let workspace = try enrolledWorkspace()
        let env = ["ENROLL_NOW": "\(Self.now + 60)"]
        var shapes: [[String]] = []
        for user in ["alice", "bob", "nobody"] {
            shapes += [["status", user], ["status", user, "--json"], ["status", "--json", user], ["status", "--db", workspace.database, user]]
        }
        shapes += [["status", "alice", "--db", workspace.path("not-yet.sqlite")], ["status", "alice", "--db", workspace.path("not-yet.sqlite"), "--json"]]
        try Data("not a database at all, just text".utf8).write(to: URL(fileURLWithPath: workspace.path("text.sqlite")))
        shapes += [["status", "alice", "--db", workspace.path("text.sqlite")], ["status", "alice", "--json", "--db", workspace.path("text.sqlite")]]
        for shape in shapes {
            let short = try workspace.enroll(shape, environment: env)
            let parsed = try workspace.enroll(shape + ["--durability", "FULL"], environment: env)
            #expect(short.status == parsed.status, "\(shape)")
            #expect(short.stdout == parsed.stdout, "\(shape)")
            #expect(short.stderr == parsed.stderr, "\(shape)")
        }
        let bob = try workspace.enroll(["status", "bob"], environment: env)
        #expect(bob.stdout.contains("status: active") && bob.stdout.contains("replacement pending until") && bob.stdout.contains("failed attempts: 1"), "\(bob.stdout)")
        let text = try workspace.enroll(["status", "alice", "--db", workspace.path("text.sqlite")], environment: env)
        #expect(text.status == 3 && text.stderr.contains("is not an SQLite database"), "\(text.stderr)")
    }

    @Test("shapes the short path does not take get the parser's own usage errors")
    func otherShapesGoToTheParser() throws {
        let workspace = try enrolledWorkspace()
        let extra = try workspace.enroll(["status", "alice", "bob"])
        #expect(extra.status == 2 && extra.stderr.contains("Unexpected argument 'bob'"), "\(extra.stderr)")
        let emptyDatabase = try workspace.enroll(["status", "alice", "--db", ""])
        #expect(emptyDatabase.status == 2 && emptyDatabase.stderr.contains("--db must not be empty"), "\(emptyDatabase.stderr)")
        let missingValue = try workspace.enroll(["status", "alice", "--db"])
        #expect(missingValue.status == 2 && missingValue.stderr.contains("Missing value for '--db <path>'"), "\(missingValue.stderr)")
        let limit = try workspace.enroll(["status", "alice"], environment: ["ENROLL_LOCK_MINUTES": "soon"])
        #expect(limit.status == 2 && limit.stderr.contains("ENROLL_LOCK_MINUTES must be a whole number"), "\(limit.stderr)")
        let help = try workspace.enroll(["status", "--help"])
        #expect(help.status == 0 && help.stdout.contains("USAGE: enroll status"), "\(help.stdout)")
        let equals = try workspace.enroll(["status", "alice", "--db=\(workspace.database)"])
        #expect(equals.status == 0 && equals.stdout.contains("status: pending"), "\(equals.stdout)")
    }

    @Test("an ENROLL_NOW that is not Unix seconds is refused (exit 2, naming ENROLL_NOW) by status's short path and every other command")
    func badFixedClock() throws {
        let workspace = try enrolledWorkspace()
        let before = workspace.databaseBytes()
        for value in ["abc", "", "1.5", "-1", "+5", "+1800000000", "1e9", "99999999999999", " 1800000000", "253402300200"] {
            for shape in [["status", "alice"], ["status", "alice", "--json"], ["status", "alice", "--durability", "FULL"], ["request", "carol"], ["confirm", "alice", "123456"]] {
                let result = try workspace.enroll(shape, environment: ["ENROLL_NOW": value])
                #expect(result.status == 2, "ENROLL_NOW=\(value) \(shape): exit \(result.status) \(result.stdout)")
                #expect(result.stderr.split(separator: "\n").count == 1, "\(value) \(shape): \(result.stderr)")
                let said = value.isEmpty ? "ENROLL_NOW is set but empty; set it to Unix seconds" : "ENROLL_NOW must be Unix seconds"
                #expect(result.stderr.contains(said), "\(value) \(shape): \(result.stderr)")
            }
        }
        #expect(workspace.databaseBytes() == before)
        let good = try workspace.enroll(["status", "alice"], environment: ["ENROLL_NOW": "\(Self.now)"])
        #expect(good.status == 0 && good.stdout.contains("status: pending"), "\(good.stderr)")
    }
}
