import CryptoPrimitives
import Foundation
import GRDB

/// Envelope encryption of secrets (crypto-shredding).
///
/// Each user has a random 256-bit data key, stored in `data_keys` wrapped (AES-256-GCM) under the
/// master key from the key file. Secrets in events are sealed under the user's data key.
/// Destroying a data key makes that user's sealed secrets unreadable for good, while the journal
/// rows and their hash chain stay untouched. The master key never touches the database; a short
/// key id derived from it (`key_check`) lets a wrong key file be refused before anything is written.
public struct KeyRing: Sendable {
    private let masterKey: [UInt8]
    public let keyFilePath: String
    /// Whether ``load(keyFile:create:)`` made the key file (this process placed it first).
    public private(set) var created = false

    public static let keyLength = 32
    /// The largest key file read: the key is one line of 44 base64 characters, and whitespace
    /// around it is allowed, but not a file of another kind.
    static let keyFileSizeLimit = 4096

    /// The key file path of a key handed over in memory (read from no file).
    public static let inMemory = "(memory)"

    public init(masterKey: [UInt8], keyFilePath: String = inMemory) throws(StoreError) {
        guard masterKey.count == Self.keyLength else {
            throw .keyFileMalformed(path: keyFilePath, reason: "it holds \(masterKey.count) bytes, not \(Self.keyLength)")
        }
        self.masterKey = masterKey
        self.keyFilePath = keyFilePath
        self.keyId = try Self.keyId(of: masterKey)
    }

    /// A short public identifier of the master key: HMAC-SHA256(key, "enroll key id"), first 16 bytes.
    let keyId: [UInt8]

    static func keyId(of masterKey: [UInt8]) throws(StoreError) -> [UInt8] {
        Array(try mac(masterKey, Array("enroll key id".utf8), what: "the key file's id").prefix(16))
    }

    /// What `command` was asked, for the idempotency record: the first 4 bytes of the key id,
    /// then HMAC-SHA256(master key, "enroll command arguments" NUL arguments), first 16 bytes.
    /// Keyed, because the arguments include the code a user typed: a plain hash of six digits is
    /// undone by trying a million. The key id prefix tells a MAC made under an earlier master key
    /// (before `keys rotate`), which cannot be compared. `nil` for a command without arguments.
    public func argumentsMAC(of command: EnrollmentCommand) throws -> [UInt8]? {
        guard let arguments = command.canonicalArguments else { return nil }
        let mac = try Self.mac(masterKey, Array("enroll command arguments\u{0}".utf8) + arguments, what: "the MAC of the command's arguments")
        return Array(keyId.prefix(Self.macKeyTagLength)) + mac.prefix(16)
    }

    /// Whether `mac`, from ``argumentsMAC(of:)``, was made under this master key.
    func madeArgumentsMAC(_ mac: [UInt8]) -> Bool {
        mac.count > Self.macKeyTagLength && mac.prefix(Self.macKeyTagLength).elementsEqual(keyId.prefix(Self.macKeyTagLength))
    }

    private static let macKeyTagLength = 4

    // MARK: Key file

    /// Whether a new key file could be placed at `path` (no file or link there, a writable
    /// directory), checked before a new database is created so that a key file that cannot be
    /// made leaves no database behind either.
    ///
    /// A file is really made there (unnamed, so nothing is left behind), because what
    /// `access(2)` allows is not what the file system does (root in /sys or /proc).
    public static func checkCreatable(keyFile path: String) throws(StoreError) {
        if path.hasSuffix("/") || path.hasSuffix("/.") || path.hasSuffix("/..") || path == "." || path == ".." {
            throw .keyFilePlaceUnusable(path: path, reason: "it names a directory, not a file; give a file name, such as \(TextField.shellWord((path.hasSuffix("/") ? path : path + "/") + "enroll.key"))")
        }
        if let name = path.split(separator: "/").last, name.utf8.count > Int(NAME_MAX) {
            throw .keyFilePlaceUnusable(path: path, reason: "its name is \(name.utf8.count) bytes long, more than the \(NAME_MAX) a file name can have; give a shorter name")
        }
        var status = stat()
        if lstat(path, &status) == 0 {
            throw .keyFilePlaceUnusable(path: path, reason: status.st_mode & S_IFMT == S_IFLNK
                ? "a symbolic link that leads nowhere is in its place; remove the link, or give another path"
                : "something that is not a readable key file is in its place; move it away, or give another path")
        }
        let directory = UnnamedFile.directory(of: path)
        guard access(directory, W_OK) == 0 else {
            throw .keyFileUnwritable(path: path, reason: String(cString: strerror(errno)))
        }
        if let probe = UnnamedFile.create(in: directory, mode: 0o600) {
            close(probe.descriptor)
            return
        }
        // No unnamed file here (unsupported, or refused): a named one, removed at once.
        let temporary = directory + "/.enroll-key-probe-\(getpid())"
        unlink(temporary)  // a leftover of a crashed run with the same pid
        let descriptor = Foundation.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard descriptor >= 0 else {
            throw .keyFileUnwritable(path: path, reason: String(cString: strerror(errno)))
        }
        close(descriptor)
        unlink(temporary)
    }

    /// Reads the key file, or creates it (mode 0600) when `create` is true and it does not exist.
    public static func load(keyFile path: String, create: Bool) throws(StoreError) -> KeyRing {
        let manager = FileManager.default
        var status = stat()
        let found = stat(path, &status) == 0
        if !found, errno != ENOENT {
            // There may well be a file, behind a directory this account may not search.
            if errno == EACCES || errno == EPERM { throw .keyFileUnreadable(path: path, reason: String(cString: strerror(errno))) }
            // A component that is a file, a name too long, a loop of links: no file can be there.
            throw .keyFilePathUnusable(path: path, reason: String(cString: strerror(errno)))
        }
        if found, let kind = FileKind.notRegular(status.st_mode), kind != .directory {
            // Reading a pipe would wait for a writer; a device is no key.
            throw .keyFileMalformed(path: path, reason: "it is \(kind.description), not a file")
        }
        if !manager.fileExists(atPath: path) {
            guard create else { throw .keyFileMissing(path) }
            let key: [UInt8]
            do { key = try SecureRandom.bytes(keyLength) } catch { throw .keyFileUnwritable(path: path, reason: "no randomness") }
            do {
                // Exclusive: processes starting on a new database at the same time each make a
                // key, and only the first file placed counts; the others read it. (Replacing it
                // would leave the database sealed under a key no file holds any more.)
                try write(key: key, to: path, exclusive: true)
            } catch {
                if manager.fileExists(atPath: path) { return try load(keyFile: path, create: false) }
                throw error
            }
            var ring = try KeyRing(masterKey: key, keyFilePath: path)
            ring.created = true
            return ring
        }
        let data: [UInt8]
        // Not read whole first: a --key-file pointed by mistake at a backup or a disk image
        // would hold every command up for as long as it takes to read, then be refused anyway.
        switch SmallFile.read(path, limit: Self.keyFileSizeLimit) {
        case .contents(let bytes): data = bytes
        case .notRegular(let kind): throw .keyFileMalformed(path: path, reason: "it is \(kind.description), not a file")
        case .tooLarge(let size): throw .keyFileMalformed(path: path, reason: "it holds \(size) bytes, far more than a key's line of base64: is it the right file?")
        case .unreadable(let failure):
            // The file may be the right one, only not this user's to read (a service account
            // changed, a file left by root): not "malformed", whose remedy is another file.
            throw .keyFileUnreadable(path: path, reason: String(cString: strerror(failure)))
        }
        guard let text = String(validating: data, as: UTF8.self) else { throw .keyFileMalformed(path: path, reason: "it is not text") }
        let line = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let decoded = Data(base64Encoded: line) else { throw .keyFileMalformed(path: path, reason: "it is not base64") }
        return try KeyRing(masterKey: Array(decoded), keyFilePath: path)
    }

    /// Why a process starting now would be refused the key file this key was read from, while
    /// this one goes on with the key it holds: the file was deleted, cannot be read, or holds
    /// another key (``StoreError/keyFileReplaced(_:)``). `nil`: it still holds this key, or the
    /// key was read from no file.
    public func keyFileProblem() -> StoreError? {
        guard keyFilePath != Self.inMemory else { return nil }
        do {
            return try Self.load(keyFile: keyFilePath, create: false).keyId == keyId ? nil : .keyFileReplaced(keyFilePath)
        } catch {
            return error
        }
    }

    /// Why the key file at `path` is exposed, if it is: another account owns it, or its mode
    /// lets its group or other users read or change it (as ssh judges private keys). Whoever
    /// can read the master key can open every secret in the database, so the command line warns
    /// about it (``KeyRing`` does not refuse: the file may be shared with a service group on
    /// purpose). `nil`: owned by this account (or root) and owner-only, or no such file.
    public static func exposure(ofKeyFile path: String) -> FileExposure? {
        exposure(of: path, what: "the key file", grants: "it opens every secret in the database")
    }

    /// The same judgement for any file holding a key: `what` names it, `grants` says what its
    /// holder can do (the server's `--jwt-secret-file`: sign a token for any user).
    public static func exposure(of path: String, what: String, grants: String) -> FileExposure? {
        var file = stat()
        guard stat(path, &file) == 0 else { return nil }
        let shell = TextField.shellPath(path)
        if file.st_uid != geteuid() && file.st_uid != 0 {
            // Its owner can read it, and replace it with a key of their own choosing.
            let name = FileManager.accountName(file.st_uid)
            let owner = name.hasPrefix("uid ") ? name : "the account \(name) (uid \(file.st_uid))"
            let me = FileManager.accountName(geteuid())
            // Only root may give a file away; anyone who can read it can make a copy of their own.
            let account = me.hasPrefix("uid ") ? String(geteuid()) : me
            let fix = geteuid() == 0
                ? "run enroll as the account that owns it; or, for root to use it, `chown root \(shell)` and `chmod 600 \(shell)`"
                : "make a copy this account owns, `install -m 600 \(shell) NEWFILE`, and pass --key-file NEWFILE; or have root run `chown \(account) \(shell)`"
            return FileExposure(problem: "\(what) \(path) belongs to another account, \(owner), which can read or replace it, and \(grants)", fix: fix)
        }
        let mode = file.st_mode & 0o777
        guard mode & 0o077 != 0 else { return nil }
        let who = mode & 0o007 != 0 ? "other users" : "its group"
        return FileExposure(
            problem: "\(what) \(path) can be read or changed by \(who) (mode \(String(mode, radix: 8))), and \(grants)",
            fix: "run `chmod 600 \(shell)`")
    }

    /// A file holding a key that others can read or change: what is wrong, and the command
    /// that puts it right.
    public struct FileExposure: Sendable, Equatable {
        public var problem: String
        public var fix: String
    }

    /// Writes a key file atomically with mode 0600, whatever the umask: written unnamed
    /// (``UnnamedFile``: a process killed meanwhile leaves no copy of the key behind), else
    /// under a temporary name, then linked or renamed into place.
    /// `exclusive`: fail rather than replace a file that appeared at `path` meanwhile.
    public static func write(key: [UInt8], to path: String, exclusive: Bool = false) throws(StoreError) {
        let line = Data(key).base64EncodedString() + "\n"
        func written(_ fd: Int32) -> Bool {
            let count = line.utf8CString.withUnsafeBufferPointer { buffer in Foundation.write(fd, buffer.baseAddress, buffer.count - 1) }
            return count == line.utf8.count && fsync(fd) == 0
        }
        let placed: Bool
        if let unnamed = UnnamedFile.create(in: UnnamedFile.directory(of: path), mode: 0o600) {
            // link(2) fails if `path` exists; placing (a rename) would replace it.
            placed = written(unnamed.descriptor) && (exclusive ? unnamed.link(as: path) : unnamed.place(at: path))
            let reason = errno
            close(unnamed.descriptor)
            errno = reason
        } else {
            let temporary = UnnamedFile.temporaryName(beside: path, suffix: ".tmp-\(getpid())")
            unlink(temporary)  // a leftover of a crashed run with the same pid
            let fd = Foundation.open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o600)
            guard fd >= 0 else { throw .keyFileUnwritable(path: path, reason: String(cString: strerror(errno))) }
            let complete = written(fd)
            close(fd)
            placed = complete && (exclusive ? link(temporary, path) == 0 : rename(temporary, path) == 0)
            let reason = errno
            unlink(temporary)
            errno = reason
        }
        guard placed else { throw .keyFileUnwritable(path: path, reason: String(cString: strerror(errno))) }
        // The new name must survive a crash too (key rotation commits right after this, a new
        // database seals its first secret under it): a name the disk did not confirm is taken
        // back, and nothing is sealed under the key.
        if let failure = UnnamedFile.syncDirectory(of: path) {
            if exclusive { unlink(path) }
            throw .keyFileUnwritable(path: path, reason: "its directory could not be synced, so the name might not survive a power cut: \(String(cString: strerror(failure)))")
        }
    }

    // MARK: Binding to a database

    /// Checks that this key is the database's key; records it if the database has none yet
    /// (made `at` that time, in ``KeyHistory``).
    public func bind(to db: Database, at time: UnixTime) throws {
        // Every command checks this (RowReader: SQLite's C API on the hot path).
        if let stored = try RowReader.first(db.statement(Self.keyIdSQL), in: db, { $0.bytes(0) }) {
            guard stored == keyId else { throw mismatch(in: db) }
        } else {
            try db.execute(sql: "INSERT INTO key_check (id, key_id) VALUES (1, ?)", arguments: [Data(keyId)])
            try KeyHistory.recordCreated(keyId: keyId, at: time, in: db)
        }
    }

    private static let keyIdSQL = HotStatement("SELECT key_id FROM key_check WHERE id = 1")
    private static let dataKeySQL = HotStatement("SELECT wrapped_key FROM data_keys WHERE stream_id = ?")
    private static let storeDataKeySQL = HotStatement("INSERT INTO data_keys (stream_id, wrapped_key, created_at) VALUES (?, ?, ?)")

    /// Refuses, without writing anything, a database that belongs to another master key.
    public func checkBelongs(to db: Database) throws {
        if let stored = try Data.fetchOne(db, sql: "SELECT key_id FROM key_check WHERE id = 1"), Array(stored) != keyId {
            throw mismatch(in: db)
        }
    }

    /// The refusal of this key for a database that has another: one that says so when the key
    /// history records this key as rotated away (an old key file, or a server not restarted).
    func mismatch(in db: Database) -> StoreError {
        // No history (an older schema opened read-only): the plain refusal.
        let rotatedAt = try? Int64.fetchOne(
            db, sql: "SELECT recorded_at FROM key_history WHERE action = 'rotated' AND previous_key_id = ? ORDER BY id DESC LIMIT 1",
            arguments: [Data(keyId)])
        guard let rotatedAt else { return .keyFileMismatch(keyFilePath) }
        return .keyFileRetired(path: keyFilePath, rotatedAt: rotatedAt)
    }

    /// Whether the database already belongs to some master key.
    public static func databaseHasKey(_ db: Database) throws -> Bool {
        try Data.fetchOne(db, sql: "SELECT key_id FROM key_check WHERE id = 1") != nil
    }

    // MARK: Data keys
    //
    // `package`, not public: a data key's life belongs to the command handler (made with a
    // user's first secret, destroyed only with an AuthenticatorRemoved event, its bytes zeroed
    // after use); one deleted from outside is what `verify` reports as a faked crypto-shred.
    // The benchmark's fixture builder, the fuzz targets and the tests of this package use them.

    package func dataKey(for stream: String, in db: Database) throws -> [UInt8]? {
        let statement = try db.statement(Self.dataKeySQL)
        statement.bind(stream, at: 1)
        guard let wrapped = try RowReader.first(statement, in: db, { $0.bytes(0) }) else { return nil }
        return try unwrap(wrapped, of: stream, in: db)
    }

    /// A data key opened with the master key. One that does not open means another key file
    /// (the keys were rotated since this one was read: a server still running with the old
    /// one) or, when the database's key id is this key's, a damaged row.
    private func unwrap(_ wrapped: [UInt8], of stream: String, in db: Database) throws -> [UInt8] {
        do {
            return try AESGCM.open(wrapped, key: masterKey, authenticating: Array(stream.utf8))
        } catch {
            try checkBelongs(to: db)
            throw StoreError.damagedDataKey(user: stream)
        }
    }

    /// The stream's data key, created (and stored wrapped) if it has none.
    package func ensureDataKey(for stream: String, at time: UnixTime, in db: Database) throws -> [UInt8] {
        if let key = try dataKey(for: stream, in: db) { return key }
        let (key, wrapped) = try makeDataKey(for: stream)
        try store(wrappedDataKey: wrapped, for: stream, at: time, in: db)
        return key
    }

    /// A new data key for `stream` and its wrapped form (``store(wrappedDataKey:for:at:in:)``
    /// keeps it): made by a group-commit caller that seals a new user's secret before the
    /// writer stores it.
    func makeDataKey(for stream: String) throws -> (key: [UInt8], wrapped: [UInt8]) {
        let key = try SecureRandom.bytes(Self.keyLength)
        return (key, try AESGCM.seal(key, key: masterKey, authenticating: Array(stream.utf8)))
    }

    func store(wrappedDataKey wrapped: [UInt8], for stream: String, at time: UnixTime, in db: Database) throws {
        var insert = try RowWriter(Self.storeDataKeySQL, in: db)
        insert.bind(stream)
        insert.bind(wrapped)
        insert.bind(time)
        try insert.writeRow(in: db)
    }

    /// Crypto-shredding: after this, the stream's sealed secrets read back as forgotten.
    package func destroyDataKey(for stream: String, in db: Database) throws {
        try db.execute(sql: "DELETE FROM data_keys WHERE stream_id = ?", arguments: [stream])
    }

    /// Re-wraps every data key under `newKey` (key rotation), and records the rotation in
    /// ``KeyHistory``; the journal is not touched.
    /// `progress` is called after each data key with how many are done and how many there are.
    public func rewrapAll(
        under newKey: KeyRing, actor: String, at time: UnixTime, in db: Database, progress: (_ done: Int, _ total: Int) -> Void = { _, _ in }
    ) throws -> Int {
        let statement = try db.makeStatement(sql: "SELECT stream_id, wrapped_key FROM data_keys")
        let rows = try RowReader.all(statement, in: db) { ($0.text(0) ?? "", $0.bytes(1)) }
        for (index, (stream, wrapped)) in rows.enumerated() {
            defer { progress(index + 1, rows.count) }
            var key = try unwrap(wrapped, of: stream, in: db)
            defer { secureZero(&key) }
            let rewrapped = try AESGCM.seal(key, key: newKey.masterKey, authenticating: Array(stream.utf8))
            try db.execute(sql: "UPDATE data_keys SET wrapped_key = ? WHERE stream_id = ?", arguments: [Data(rewrapped), stream])
        }
        try db.execute(sql: "UPDATE key_check SET key_id = ? WHERE id = 1", arguments: [Data(newKey.keyId)])
        try KeyHistory.recordRotation(from: keyId, to: newKey.keyId, rewrapped: rows.count, actor: actor, at: time, in: db)
        return rows.count
    }

    // MARK: Sealing secrets

    static func aad(stream: String) -> [UInt8] { Array("secret:\(stream)".utf8) }

    package static func seal(_ secret: Secret, dataKey: [UInt8], stream: String) throws -> [UInt8] {
        try AESGCM.seal(secret.bytes, key: dataKey, authenticating: aad(stream: stream))
    }

    /// Opens a sealed secret; with no data key (destroyed) it is forgotten.
    package static func open(_ sealed: [UInt8], dataKey: [UInt8]?, stream: String) -> SecretField {
        guard let dataKey else { return .forgotten }
        guard let bytes = try? AESGCM.open(sealed, key: dataKey, authenticating: aad(stream: stream)) else { return .forgotten }
        return .open(Secret(bytes: bytes))
    }

}

/// The master key opens every secret in the database, so a key ring's description and
/// reflection name only its key file: `"\(keyRing)"`, `dump` of a value holding one (a service,
/// a test failure) never print the key or anything derived from it.
extension KeyRing: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "KeyRing(key file: \(keyFilePath), master key redacted)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["keyFilePath": keyFilePath], displayStyle: .struct) }
}

extension KeyRing {
    /// HMAC-SHA256(`key`, `message`), all 32 bytes, or ``StoreError/keyDerivationFailed(what:)``.
    /// Never a shorter or empty MAC in its place (``HMACContext``'s array-returning
    /// `authenticate` gives `[]` when OpenSSL fails): every key id would then be the same, and
    /// a database would accept any key file.
    static func mac(_ key: [UInt8], _ message: [UInt8], what: String) throws(StoreError) -> [UInt8] {
        let mac: [UInt8]
        do { mac = try HMACContext(key: key, digest: .sha256).authenticate(message) } catch { throw .keyDerivationFailed(what: what) }
        guard mac.count == Digest.sha256.byteCount else { throw .keyDerivationFailed(what: what) }
        return mac
    }
}
