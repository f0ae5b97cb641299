import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Who is rebuilding a projection: an exclusive `flock` on a small file beside the database,
/// `DB-rebuild-NAME.lock`, held for the whole run.
///
/// The shadow table's checkpoint tells a rebuild where to resume, but not whether the run that
/// wrote it is still going: without this, a second `rebuild-projections` (a cron run beside a
/// manual one) resumed from a live run's checkpoint and made the live one fail. The kernel
/// releases the lock when its process ends however it ends (even `kill -9`), so an interrupted
/// run never leaves a stale lock behind, and the next run resumes. The file stays (empty); it
/// holds nothing but the lock.
final class RebuildLease {
    private let descriptor: Int32

    private init(descriptor: Int32) { self.descriptor = descriptor }

    deinit { close(descriptor) }

    /// Beside the file itself: two runs that reach one database by different names (a symbolic
    /// link) lock one file.
    static func path(of projection: String, database: String) -> String {
        FileManager.resolvingLinks(database) + "-rebuild-" + projection + ".lock"
    }

    /// Takes the lease, or throws ``StoreError/rebuildInProgress(name:)`` when another run holds
    /// it. `nil` when there is no file to lock beside (an in-memory database) or it cannot be
    /// created (a read-only directory, where the rebuild's own writes then fail and say why).
    ///
    /// The file is made readable by all (it holds nothing): a `flock` needs only a descriptor,
    /// so a run under another account (root after an upgrade, then the service's account) still
    /// locks the same file. One that exists but this account cannot open at all (left by an
    /// older release, mode 0600) is refused by name: running without the lock would let two
    /// runs take the same shadow table.
    static func acquire(_ projection: String, database: String) throws(StoreError) -> RebuildLease? {
        guard !database.isEmpty, database != ":memory:" else { return nil }
        let file = path(of: projection, database: database)
        var descriptor = open(file, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o644)
        if descriptor < 0 {
            guard errno != ENOENT, FileManager.default.fileExists(atPath: file) else { return nil }
            descriptor = try openExisting(file)
        } else {
            makeReadableByAll(descriptor)
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            close(descriptor)
            throw .rebuildInProgress(name: projection)
        }
        return RebuildLease(descriptor: descriptor)
    }

    /// Whether a run holds the lease now (what `--status` reports as running, not interrupted).
    /// A lock file this account cannot open is refused by name, as ``acquire(_:database:)`` does:
    /// "not running" would be a guess.
    static func isHeld(_ projection: String, database: String) throws(StoreError) -> Bool {
        guard !database.isEmpty, database != ":memory:" else { return false }
        let file = path(of: projection, database: database)
        guard FileManager.default.fileExists(atPath: file) else { return false }
        let descriptor = try openExisting(file)
        defer { close(descriptor) }
        if flock(descriptor, LOCK_SH | LOCK_NB) == 0 {
            flock(descriptor, LOCK_UN)
            return false
        }
        return errno == EWOULDBLOCK
    }

    /// `open` gave the new file 0644 less the umask, which a strict one (077, systemd's
    /// `UMask=0077`) leaves 0600; a file of this account's that others cannot read, new or left
    /// so by an older release, is made readable by them here (any other bits left as they are).
    private static func makeReadableByAll(_ descriptor: Int32) {
        var info = stat()
        guard fstat(descriptor, &info) == 0, info.st_uid == geteuid(), info.st_mode & 0o044 != 0o044 else { return }
        fchmod(descriptor, (info.st_mode & 0o777) | 0o044)
    }

    /// The existing lock file, opened for reading (enough for `flock`).
    private static func openExisting(_ file: String) throws(StoreError) -> Int32 {
        let descriptor = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard descriptor >= 0 else { throw .rebuildLockUnusable(path: file, reason: String(cString: strerror(errno))) }
        return descriptor
    }
}
