import Foundation
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// When each thread's current wait for a lock began (``EnrollmentDatabase/busyHandler(timeout:)``).
final class BusyWaits: Sendable {
    let starts = Mutex<[UInt: ContinuousClock.Instant]>([:])
}

/// Whether an ``EnrollmentDatabase`` is still open, and the calls that use it: each holds a
/// shared lock while it runs, `close` the exclusive one, so a close waits for the calls in
/// flight and no call starts on a closed connection.
final class Lifecycle: @unchecked Sendable {
    private let lock = UnsafeMutablePointer<pthread_rwlock_t>.allocate(capacity: 1)
    /// Read and written under `lock` only.
    private var closed = false

    init() {
        lock.initialize(to: pthread_rwlock_t())
        pthread_rwlock_init(lock, nil)
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    /// Runs `body` while the database is open, or throws ``StoreError/closed(_:)``. Calls nest
    /// (glibc's read locks prefer readers, so a waiting `close` cannot block a nested call).
    func using<T>(_ path: String, _ body: () throws -> T) throws -> T {
        pthread_rwlock_rdlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        guard !closed else { throw StoreError.closed(path) }
        let calls = ThreadCalls.current
        calls.using.append(ObjectIdentifier(self))
        defer { calls.using.removeLast() }
        return try body()
    }

    /// Runs `body`, a call on the database's connection, from inside ``using(_:_:)``. On a single
    /// connection (`single`) a call from inside another one on this thread (a callback) is
    /// refused (``StoreError/reentrantCall(_:)``): GRDB would stop the process.
    func accessing<T>(_ path: String, single: Bool, _ body: () throws -> T) throws -> T {
        guard single else { return try body() }
        let calls = ThreadCalls.current, id = ObjectIdentifier(self)
        if calls.accessing.contains(id) { throw StoreError.reentrantCall(path) }
        calls.accessing.append(id)
        defer { calls.accessing.removeLast() }
        return try body()
    }

    /// Runs `body` when no call is in flight, unless an earlier close succeeded; a `body` that
    /// throws (the connection stays open) leaves the database open. From inside a call on this
    /// thread (a callback) it would wait for itself: refused (``StoreError/closedFromInside(_:)``).
    func close(_ path: String, _ body: () throws -> Void) throws {
        if ThreadCalls.current.using.contains(ObjectIdentifier(self)) { throw StoreError.closedFromInside(path) }
        pthread_rwlock_wrlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        guard !closed else { return }
        try body()
        closed = true
    }
}

/// The databases whose calls the current thread is inside (``Lifecycle``), innermost last.
final class ThreadCalls {
    var using: [ObjectIdentifier] = []
    var accessing: [ObjectIdentifier] = []

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key) { pointer in
            if let pointer { Unmanaged<ThreadCalls>.fromOpaque(pointer).release() }
        }
        return key
    }()

    /// This thread's, made on its first call.
    static var current: ThreadCalls {
        if let pointer = pthread_getspecific(key) { return Unmanaged<ThreadCalls>.fromOpaque(pointer).takeUnretainedValue() }
        let calls = ThreadCalls()
        pthread_setspecific(key, Unmanaged.passRetained(calls).toOpaque())
        return calls
    }
}
