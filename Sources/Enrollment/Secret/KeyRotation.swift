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
    /// Where a rotation stands, for a caller that shows progress or cleans up after an interruption.
    public enum Stage: Sendable {
        /// The new key file is written and synced; nothing is committed yet, so the old key is
        /// in force and the new file opens nothing (a process ended now may remove it).
        case keyWritten
        /// `done` of `total` data keys re-wrapped, in the transaction not yet committed.
        case rewrapping(done: Int, total: Int)
        /// The transaction is about to commit: from here on the new file may be the one in force.
        case committing
    }

    /// `actor` (who rotates) and `time` are recorded in ``KeyHistory``; `observe` is told each
    /// ``Stage`` as it is reached.
    public static func rotate(
        database: EnrollmentDatabase, current: KeyRing, newKeyFile: String, actor: String, at time: UnixTime,
        observe: (Stage) -> Void = { _ in }
    ) throws(StoreError) -> Result {
        do {
            return try database.whileOpen { () throws(StoreError) in
                try rotateOpen(database: database, current: current, newKeyFile: newKeyFile, actor: actor, at: time, observe: observe)
            }
        } catch {
            throw database.failure(error)
        }
    }

    private static func rotateOpen(
        database: EnrollmentDatabase, current: KeyRing, newKeyFile: String, actor: String, at time: UnixTime, observe: (Stage) -> Void
    ) throws(StoreError) -> Result {
        if FileManager.default.fileExists(atPath: newKeyFile) { throw .keyFileExists(newKeyFile) }
        // A link that leads nowhere, a directory that cannot be written: said before anything is
        // read or written, not as link(2)'s bare "File exists" after the key is made.
        try KeyRing.checkCreatable(keyFile: newKeyFile)
        // The current key must be this database's before anything is written.
        do {
            try database.writerRead { db in try current.checkBelongs(to: db) }
        } catch {
            throw database.failure(error)
        }
        let key: [UInt8]
        do { key = try SecureRandom.bytes(KeyRing.keyLength) } catch { throw .keyFileUnwritable(path: newKeyFile, reason: "no randomness available") }
        let newRing = try KeyRing(masterKey: key, keyFilePath: newKeyFile)
        try KeyRing.write(key: key, to: newKeyFile, exclusive: true)
        observe(.keyWritten)
        let count: Int
        do {
            count = try database.writerWrite { db in
                try current.checkBelongs(to: db)
                let count = try current.rewrapAll(under: newRing, actor: actor, at: time, in: db) { observe(.rewrapping(done: $0, total: $1)) }
                try newRing.bind(to: db, at: time)
                observe(.committing)
                return count
            }
        } catch {
            // Not committed: the old key is still the database's, the new file is useless.
            unlink(newKeyFile)
            throw database.failure(error)
        }
        // Old wrappings may linger in the write-ahead log; copy back and empty it (best effort).
        _ = try? database.writerWriteWithoutTransaction { db in try db.checkpoint(.truncate) }
        return Result(rewrapped: count, newKeyFile: newKeyFile)
    }
}
