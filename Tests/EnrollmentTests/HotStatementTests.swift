import GRDB
import GRDBSQLite
import Testing
@testable import Enrollment

/// ``HotStatement``: the per-command statements found by number must always be the asking
/// connection's own, and never one GRDB has let go of.
@Suite("Hot statements")
struct HotStatementTests {
    static let value = HotStatement("SELECT x FROM t")

    @Test("a hot statement is the connection's cached one, and is asked for again once GRDB drops it")
    func followsGRDBsCache() throws {
        let queue = try DatabaseQueue()
        try queue.inDatabase { db in
            try db.execute(sql: "CREATE TABLE t (x); INSERT INTO t VALUES (7)")
            weak var first: Statement?
            do {
                let statement = try db.statement(Self.value)
                let cached = try db.cachedStatement(sql: Self.value.sql), again = try db.statement(Self.value)
                #expect(statement === cached)
                #expect(again === statement)
                first = statement
            }
            #expect(first != nil, "GRDB's cache keeps the statement")
            // What a snapshot read does when another process changed the schema.
            db.clearSchemaCache()
            #expect(first == nil, "the slot kept a statement GRDB let go of")
            let again = try db.statement(Self.value), cached = try db.cachedStatement(sql: Self.value.sql)
            #expect(again === cached)
            #expect(try Int.fetchOne(again) == 7)
        }
    }

    @Test("each connection gets its own statement, also when a closed connection's identity is reused")
    func ownConnection() throws {
        let kept = try DatabaseQueue()
        try kept.inDatabase { db in try db.execute(sql: "CREATE TABLE t (x); INSERT INTO t VALUES (-1)") }
        for round in 0..<50 {
            // Opened and closed in turn: the allocator may hand a new connection the old one's address.
            let queue = try DatabaseQueue()
            try queue.inDatabase { db in
                try db.execute(sql: "CREATE TABLE t (x); INSERT INTO t VALUES (?)", arguments: [round])
                let statement = try db.statement(Self.value)
                #expect(sqlite3_db_handle(statement.sqliteStatement) == db.sqliteConnection)
                #expect(try Int.fetchOne(statement) == round)
            }
            let keptValue = try kept.inDatabase { db in try Int.fetchOne(db.statement(Self.value)) }
            #expect(keptValue == -1)
        }
    }
}
