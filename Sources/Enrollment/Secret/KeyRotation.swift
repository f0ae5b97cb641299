import CryptoPrimitives
import Foundation
import GRDB

/// `enroll keys rotate`: a new master key for a database, without touching the journal.
///
/// The new key is written to a new file first (mode 0600, never over an existing file), then
/// every data key is re-wrapped under it and the database's key id replaced in one
/// transaction. A crash before the commit leaves the old key in force and an unused new file;
/// a crash after it leaves the new file in force. There is no moment when neither file opens
/// the database, which an in-place rewrite of the key file could not promise. Afterwards the
/// old key file is refused (``StoreError/keyFileMismatch(_:)``) and can be destroyed; the
/// events, their hashes and the sealed secrets are byte for byte as before, since secrets are
/// sealed under the data keys, not under the master key.
public enum KeyRotation {
    public struct Result: Sendable, Hashable {
        /// How many data keys were re-wrapped (one per user whose secrets are still readable).
        public var rewrapped: Int
        public var newKeyFile: String
    }

    /// Throws ``StoreError/closed(_:)`` once the database is closed.
    /// `actor` (who rotates) and `time` are recorded in ``KeyHistory``.
    public static func rotate(database: EnrollmentDatabase, current: KeyRing, newKeyFile: String, actor: String, at time: UnixTime) throws(StoreError) -> Result {
        do {
            return try database.whileOpen { () throws(StoreError) in
                try rotateOpen(database: database, current: current, newKeyFile: newKeyFile, actor: actor, at: time)
            }
        } catch {
            throw database.failure(error)
        }
    }

    private static func rotateOpen(database: EnrollmentDatabase, current: KeyRing, newKeyFile: String, actor: String, at time: UnixTime) throws(StoreError) -> Result {
        if FileManager.default.fileExists(atPath: newKeyFile) { throw .keyFileExists(newKeyFile) }
        // A link that leads nowhere, a directory that cannot be written: said before anything is
        // read or written, not as link(2)'s bare "File exists" after the key is made.
        try KeyRing.checkCreatable(keyFile: newKeyFile)
        // The current key must be this database's before anything is written.
        do {
            try database.writer.read { db in try current.checkBelongs(to: db) }
        } catch {
            throw database.failure(error)
        }
        let key: [UInt8]
        do { key = try SecureRandom.bytes(KeyRing.keyLength) } catch { throw .keyFileUnwritable(path: newKeyFile, reason: "no randomness available") }
        let newRing = try KeyRing(masterKey: key, keyFilePath: newKeyFile)
        try KeyRing.write(key: key, to: newKeyFile, exclusive: true)
        let count: Int
        do {
            count = try database.writer.write { db in
                try current.checkBelongs(to: db)
                let count = try current.rewrapAll(under: newRing, actor: actor, at: time, in: db)
                try newRing.bind(to: db, at: time)
                return count
            }
        } catch {
            // Not committed: the old key is still the database's, the new file is useless.
            unlink(newKeyFile)
            throw database.failure(error)
        }
        // Old wrappings may linger in the write-ahead log; copy back and empty it (best effort).
        _ = try? database.writer.writeWithoutTransaction { db in try db.checkpoint(.truncate) }
        return Result(rewrapped: count, newKeyFile: newKeyFile)
    }
}
