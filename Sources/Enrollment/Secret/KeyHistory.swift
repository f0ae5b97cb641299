import Foundation
import GRDB

/// What happened to the database's master key, for an auditor: when its first key was made,
/// each rotation (when, by whom, how many data keys were re-wrapped), and, in a database older
/// than this record, the key that was in force when the record began.
///
/// The master key is no user's: its changes are not events of any stream, so they are kept in a
/// table of their own (`key_history`, migration `v4-key-history`), written in the transaction
/// that binds or replaces the key (``KeyRing/bind(to:at:)``, ``KeyRotation``). Keys are named by
/// their public id (``KeyRing/keyId``), never by a byte of the key itself.
public struct KeyHistoryEntry: Sendable, Hashable, Codable {
    public enum Action: String, Sendable, Codable {
        /// The first secret was sealed: the key file was made (or adopted) for this database.
        case created
        /// `enroll keys rotate`: every data key re-wrapped under a new key.
        case rotated
        /// The key in force when the database was upgraded to keep this record; when it was
        /// made is not known.
        case found
    }

    /// `nil` for ``Action/found``.
    public var recordedAt: UnixTime?
    public var action: Action
    /// The id of the key in force from then on, as hex (32 digits).
    public var keyId: String
    /// ``Action/rotated``: the id of the key it replaced.
    public var previousKeyId: String?
    /// ``Action/rotated``: how many data keys were re-wrapped.
    public var rewrapped: Int?
    /// ``Action/rotated``: who rotated (`--actor`, else the account that ran it).
    public var actor: String?
}

public enum KeyHistory {
    static let table = "key_history"

    static let createSQL = """
        CREATE TABLE key_history (
            id INTEGER PRIMARY KEY,
            recorded_at INTEGER,
            action TEXT NOT NULL,
            key_id BLOB NOT NULL,
            previous_key_id BLOB,
            rewrapped INTEGER,
            actor TEXT
        );
        INSERT INTO key_history (recorded_at, action, key_id) SELECT NULL, 'found', key_id FROM key_check;
        """

    static func recordCreated(keyId: [UInt8], at time: UnixTime, in db: Database) throws {
        try db.execute(
            sql: "INSERT INTO key_history (recorded_at, action, key_id) VALUES (?, 'created', ?)",
            arguments: [time, Data(keyId)])
    }

    static func recordRotation(from previous: [UInt8], to keyId: [UInt8], rewrapped: Int, actor: String, at time: UnixTime, in db: Database) throws {
        try db.execute(
            sql: "INSERT INTO key_history (recorded_at, action, key_id, previous_key_id, rewrapped, actor) VALUES (?, 'rotated', ?, ?, ?, ?)",
            arguments: [time, Data(keyId), Data(previous), rewrapped, actor])
    }

    /// Every entry, oldest first. A database opened read-only that predates the record (no
    /// `key_history` table yet) has none. A row whose columns were edited into something no
    /// command writes is refused, naming it.
    public static func entries(in database: EnrollmentDatabase) throws(StoreError) -> [KeyHistoryEntry] {
        do {
            return try database.read { db in
                guard try db.tableExists(table) else {
                    // Dropped after the migration that made it: damage, as for the journal's own tables.
                    if try db.tableExists("grdb_migrations"),
                       try Bool.fetchOne(db, sql: "SELECT EXISTS (SELECT 1 FROM grdb_migrations WHERE identifier = ?)", arguments: [migration]) == true {
                        throw StoreError.missingTable(path: database.path, table: table)
                    }
                    // A database older than the record, read where it cannot be upgraded (a
                    // backup on read-only media): the key in force, as an upgrade would find it.
                    guard let keyId = try Data.fetchOne(db, sql: "SELECT key_id FROM key_check WHERE id = 1") else { return [] }
                    return [KeyHistoryEntry(recordedAt: nil, action: .found, keyId: Hex.string(Array(keyId)))]
                }
                let rows = try Row.fetchAll(db, sql: "SELECT id, recorded_at, action, key_id, previous_key_id, rewrapped, actor FROM key_history ORDER BY id")
                return try rows.map { row in
                    func value<T: DatabaseValueConvertible>(_ index: Int, _ type: T.Type) -> T? { T.fromDatabaseValue(row[index] as DatabaseValue) }
                    let action = value(2, String.self).flatMap(KeyHistoryEntry.Action.init(rawValue:))
                    let keyId = value(3, Data.self), previous = value(4, Data.self)
                    let time = value(1, Int64.self), count = value(5, Int.self)
                    let actor = value(6, String.self)
                    // What a command writes: a time on all but `found`; the old key, the count
                    // (not negative) and the actor on `rotated` only.
                    guard let action, let keyId, keyId.count == 16,
                          (action == .found) == (time == nil), time.map({ (0...253_402_300_799).contains($0) }) ?? true,
                          (previous != nil) == (action == .rotated), (count != nil) == (action == .rotated), (actor != nil) == (action == .rotated),
                          previous.map({ $0.count == 16 }) ?? true,
                          (count ?? 0) >= 0
                    else {
                        throw StoreError.damagedKeyHistory(path: database.path, row: value(0, Int64.self) ?? 0)
                    }
                    return KeyHistoryEntry(
                        recordedAt: time, action: action, keyId: Hex.string(Array(keyId)),
                        previousKeyId: previous.map { Hex.string(Array($0)) }, rewrapped: count, actor: actor)
                }
            }
        } catch {
            throw database.failure(error)
        }
    }

    static let migration = "v4-key-history"
}
