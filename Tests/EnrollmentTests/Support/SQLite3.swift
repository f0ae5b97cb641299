import Foundation
import Testing
import TestSupport

/// The `sqlite3` command-line shell: reads the database independently of our code.
enum SQLite3 {
    /// Runs `sql` against `path` and returns stdout without the final newline; a failure is recorded.
    static func query(_ path: String, _ sql: String) throws -> String {
        let result = try Processes.run(try Processes.tool("sqlite3", package: "sqlite3"), [path, sql])
        #expect(result.status == 0, "sqlite3 failed: \(result.stderr)")
        return result.stdout.trimmingCharacters(in: .newlines)
    }

    /// The event types of the journal in order, one per line as `type`.
    static func eventTypes(_ path: String, user: String? = nil) throws -> [String] {
        let filter = user.map { " WHERE stream_id = '\($0.replacingOccurrences(of: "'", with: "''"))'" } ?? ""
        return try query(path, "SELECT type FROM events\(filter) ORDER BY position").split(separator: "\n").map(String.init)
    }
}
