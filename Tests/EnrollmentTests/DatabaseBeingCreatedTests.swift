import Foundation
import Testing
import TestSupport

/// Reading commands that meet a database while another process is still creating it
/// (findings-20 F4): its journal's tables exist, its projections are set up a moment later.
/// They are told so, and to try again, not to rebuild a projection.
@Suite("Database being created")
struct DatabaseBeingCreatedTests {
    @Test("status and activity on a database whose journal is empty and whose projections are not set up yet say it is being created (exit 3), not to rebuild; once set up they answer")
    func halfCreatedDatabase() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "alice"], environment: ["ENROLL_NOW": "1790000000"]).status == 0)
        // What a reader sees between the creator's migrations and its projections' set-up.
        _ = try SQLite3.query(workspace.database, """
            DELETE FROM events; DELETE FROM commands; DELETE FROM data_keys; DELETE FROM projection_checkpoints;
            DROP TABLE authenticators; DROP TABLE enrollment_activity;
            """)
        for (arguments, projection) in [(["status", "alice"], "authenticators"), (["activity"], "enrollment_activity")] {
            let result = try workspace.enroll(arguments)
            #expect(result.status == 3, "\(arguments): \(result.stdout)\(result.stderr)")
            #expect(result.stderr.hasPrefix("enroll: error: the database is still being created by another enroll process (its journal is empty and the \(projection) projection not set up yet); try again in a moment"), "\(result.stderr)")
            #expect(!result.stderr.contains("--projection"), "\(result.stderr)")
            let (json, object) = try workspace.enrollJSON(arguments)
            #expect(json.status == 3 && object["error"] as? String == "database_being_created", "\(json.stdout)")
        }
        // A creator stopped at that point: the set-up the message names finishes it.
        let rebuilt = try Processes.run(try Processes.product("rebuild-projections"), ["--db", workspace.database, "--all"])
        #expect(rebuilt.status == 0, "\(rebuilt.stderr)")
        let status = try workspace.enroll(["status", "alice"])
        #expect(status.status == 0, "\(status.stdout)\(status.stderr)")
        #expect(try workspace.enroll(["activity"]).status == 0)
    }

    @Test("a projection missing from a journal that holds events still asks for its rebuild")
    func missingProjectionWithEvents() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "alice"], environment: ["ENROLL_NOW": "1790000000"]).status == 0)
        _ = try SQLite3.query(workspace.database, "DELETE FROM projection_checkpoints WHERE name = 'authenticators'")
        let result = try workspace.enroll(["status", "alice"])
        #expect(result.status == 3 && result.stderr.contains("the authenticators projection has no checkpoint (it is missing); run `rebuild-projections"), "\(result.stderr)")
    }

    @Test("status polled while the first request creates the database answers 'no database', 'being created' or the user's status, never a rebuild")
    func statusRacingTheFirstRequest() throws {
        for _ in 0..<3 {
            let workspace = try Workspace()
            let done = DispatchSemaphore(value: 0)
            nonisolated(unsafe) let creator = workspace
            DispatchQueue.global().async {
                _ = try? creator.enroll(["request", "alice"], environment: ["ENROLL_NOW": "1790000000"])
                done.signal()
            }
            var answers: [String] = []
            for _ in 0..<400 {
                let status = try workspace.enroll(["status", "alice"])
                if status.status == 0 { break }
                answers.append(status.stderr)
            }
            done.wait()
            for answer in answers {
                #expect(answer.contains("no enrollment database") || answer.contains("is still being created"), "\(answer)")
            }
        }
    }
}
