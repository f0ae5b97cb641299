import GRDB
import Testing
@testable import Enrollment

@Suite("Binary strings")
struct BinaryStringTests {
    /// User ids as they come: short and long, sharing long prefixes, non-ASCII (composed and
    /// decomposed), one byte apart at the 8th, 16th and 17th byte.
    static let samples: [String] = {
        var strings = ["", "a", "ab", "abc", "user0001", "user0002", "user00010", "user1", "user-000123", "Zed", "zed", "é", "e\u{301}", "日本", "🙂",
                       "aaaaaaaab", "aaaaaaaaa", "aaaaaaaaaaaaaaab", "aaaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaaa", "aaaaaaaaaaaaaaaab", "aaaaaaaaaaaaaaaaz",
                       "alice@example.com", "alice@example.co", "alice@example.com.", "bob", "bob\u{1}", "b\u{7f}"]
        for number in stride(from: 0, to: 3_000, by: 37) { strings.append("employee-\(number)@corp.example") }
        return strings
    }()

    @Test("ordered as SQLite's BINARY collation orders them (the projection tables' key order)")
    func sqliteOrder() throws {
        let queue = try DatabaseQueue()
        let sqlite = try queue.write { db -> [String] in
            try db.execute(sql: "CREATE TABLE t (s TEXT)")
            for string in Self.samples { try db.execute(sql: "INSERT INTO t VALUES (?)", arguments: [string]) }
            return try String.fetchAll(db, sql: "SELECT s FROM t ORDER BY s")
        }
        let ours = Self.samples.map(BinaryString.init).sorted().map(\.string)
        #expect(ours.map { Array($0.utf8) } == sqlite.map { Array($0.utf8) })
    }

    @Test("the 16-byte order prefix orders two strings as < does wherever the prefixes differ")
    func orderPrefix() {
        let keys = Self.samples.map(BinaryString.init)
        var decided = 0
        for a in keys {
            for b in keys where a.orderPrefix != b.orderPrefix {
                #expect((a.orderPrefix < b.orderPrefix) == (a < b), "\(a.string) against \(b.string)")
                decided += 1
            }
        }
        #expect(decided > keys.count * (keys.count - 2))
    }
}
