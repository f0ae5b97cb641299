import Foundation
import GRDB
import GRDBSQLite

/// Steps and decodes a stretch of the journal on threads of their own, a few chunks ahead of
/// the fold that takes the events in position order: how a rebuild puts a second core to work.
///
/// Reading a row and decoding its event cost about twice what folding it does, so the rebuild
/// splits the stretch `(after, through]` into chunks of positions that ``readers`` threads decode,
/// each on a read-only connection of its own, while the rebuild's own thread folds them in order.
/// A reader that is done with a chunk takes the next one no reader has taken, so a reader that
/// gets less of the CPU (the fold's thread shares its core) takes fewer chunks rather than
/// holding up the others. No chunk is taken more than ``window`` chunks past the one the fold
/// takes next, so memory holds a few chunks whatever the journal's size.
///
/// The window is two rounds of chunks and one more, at most 9 (``defaultWindow(readers:)``):
/// while the fold waits for a late chunk *k*, the other readers go on past it. With one round
/// and one more (3 chunks for two readers), a reader waited each time its partner's chunk came
/// late, and on two cores the rebuild kept ~1.65 of them busy where it now keeps ~1.8. Until
/// step 33 (BENCHMARKS.md) reader *r* took chunks *r*, *r* + readers, … in turn: when the fold's
/// thread kept landing on one reader's core, the other reader ran up to the window's edge and
/// waited there (11 ms of a 50 ms rebuild, in some runs).
///
/// Consistency: the rebuild creates the read-ahead inside its write transaction, after it has
/// taken the write lock and read the head, so no one can commit meanwhile and every reader's
/// snapshot holds exactly the events the writer sees up to `through`. Rows are decoded as
/// ``EventJournal/scan(after:limit:in:_:)`` decodes them (secrets sealed, their bytes checked and
/// not kept), and a row that does not decode fails the fold at its position, in order, as a
/// scan would.
final class JournalReadAhead: @unchecked Sendable {
    /// A chunk's events in reverse position order (take them with `popLast()`).
    typealias Chunk = [(EnrollmentEvent, EventHeader)]

    let readers: Int
    let window: Int
    private let start: Int64
    private let end: Int64
    private let chunkSize: Int64
    private let chunkCount: Int

    // Guarded by `condition`.
    private let condition = NSCondition()
    private var ready: [Int: Result<Chunk, any Error>] = [:]
    private var taken = 0
    private var stopped = false
    private var running = 0
    /// The next chunk no reader has taken yet.
    private var claimed = 0

    /// Opens `readers` read-only connections to `path` and starts their threads. Throws when a
    /// connection cannot be opened (the caller then reads on its own connection instead).
    init(path: String, after start: Int64, through end: Int64, readers: Int, chunkSize: Int64 = 4_096) throws {
        self.readers = max(readers, 1)
        self.window = Self.defaultWindow(readers: self.readers)
        self.start = start
        self.end = max(end, start)
        self.chunkSize = max(chunkSize, 1)
        self.chunkCount = Int((self.end - start + self.chunkSize - 1) / self.chunkSize)
        var connections: [OpaquePointer] = []
        do {
            for _ in 0..<self.readers {
                connections.append(try Self.open(path))
            }
        } catch {
            connections.forEach { sqlite3_close($0) }
            throw error
        }
        running = connections.count
        for (index, connection) in connections.enumerated() {
            let reader = ReaderConnection(connection)
            let thread = Thread { [self] in read(on: reader) }
            thread.name = "enroll-read-ahead-\(index)"
            thread.start()
        }
    }

    /// Chunks ready or being decoded at most, counting the one the fold takes next: 5 for two
    /// readers, 9 for four and for more (`--threads 64` on a small machine must not hold 129
    /// chunks, ~70 MB; past the cores, more readers only wait their turn).
    static func defaultWindow(readers: Int) -> Int { min(2 * readers + 1, 9) }

    deinit { finish() }

    /// The next chunk in position order (its events last first), waiting for it if its reader
    /// is not done; `nil` after the last. Throws the error of a chunk that failed to read or decode.
    func next() throws -> Chunk? {
        condition.lock()
        guard taken < chunkCount else {
            condition.unlock()
            return nil
        }
        var result = ready.removeValue(forKey: taken)
        while result == nil {
            condition.wait()
            result = ready.removeValue(forKey: taken)
        }
        taken += 1
        condition.broadcast()
        condition.unlock()
        return try result?.get()
    }

    /// Stops the readers (the fold may end early: its batch is full or its time is up) and
    /// waits until they have closed their connections.
    func finish() {
        condition.lock()
        stopped = true
        condition.broadcast()
        while running > 0 { condition.wait() }
        ready.removeAll()
        condition.unlock()
    }

    /// A reader's thread: the next chunk no reader has taken, again and again, each less than
    /// ``window`` past the next one the fold takes.
    private func read(on reader: ReaderConnection) {
        let connection = reader.connection
        var statement: OpaquePointer?
        defer {
            sqlite3_finalize(statement)
            // Ends the read transaction the first SELECT began.
            sqlite3_exec(connection, "COMMIT", nil, nil, nil)
            sqlite3_close(connection)
            condition.lock()
            running -= 1
            condition.broadcast()
            condition.unlock()
        }
        let sql = "SELECT \(EventJournal.scanColumns) FROM events WHERE position > ? AND position <= ? ORDER BY position"
        let prepared = sqlite3_exec(connection, "BEGIN", nil, nil, nil) == SQLITE_OK
            && sqlite3_prepare_v2(connection, sql, -1, &statement, nil) == SQLITE_OK
        while true {
            condition.lock()
            while !stopped && claimed < chunkCount && claimed >= taken + window { condition.wait() }
            let index = claimed
            let stop = stopped || index >= chunkCount
            if !stop { claimed += 1 }
            condition.unlock()
            if stop { return }
            var chunk: Chunk = []
            let result: Result<Chunk, any Error>
            do {
                guard prepared, let statement else { throw Self.failure(connection, SQLITE_ERROR) }
                try fill(&chunk, index: index, from: statement, on: connection)
                result = .success(consume chunk)
            } catch {
                result = .failure(error)
            }
            // The fold stops at the first failure, in order: nothing after it is needed.
            let failed = if case .failure = result { true } else { false }
            condition.lock()
            // Moved in, not copied: this thread must hold no reference to the chunk once the
            // fold can take it, or the fold's first `popLast()` finds the storage shared and
            // copies all 4 096 events (and retains their strings) to take one.
            ready[index] = consume result
            condition.broadcast()
            condition.unlock()
            if failed { return }
        }
    }

    /// Decodes chunk `index` into `chunk`.
    private func fill(_ chunk: inout Chunk, index: Int, from statement: OpaquePointer, on connection: OpaquePointer) throws {
        let low = start + Int64(index) * chunkSize
        sqlite3_bind_int64(statement, 1, low)
        sqlite3_bind_int64(statement, 2, min(low + chunkSize, end))
        chunk.reserveCapacity(Int(chunkSize))
        try EventJournal.decodeRows(of: statement, failure: { Self.failure(connection, $0) }, sealedBytes: .checked) { event, header in
            chunk.append((event, header))
            return true
        }
        // Last event first: the fold pops them off the end, moving each out of the chunk
        // instead of copying it (a copy retains the event's strings and arrays, atomically, on
        // memory this thread's core wrote: +30% CPU per event). Reversed through a buffer
        // pointer, whose swaps move the events; the array's own swaps copied each one through
        // the runtime's generic tuple copy.
        chunk.withUnsafeMutableBufferPointer { $0.reverse() }
    }

    /// Each reader connection's page cache, in KiB (SQLite's default is 2 000). A reader steps
    /// its chunks' leaf pages once each, in order, and comes back only to the few interior
    /// pages above them, so a small cache loses nothing; it reuses the same few buffers while
    /// they are warm in the CPU's caches instead of touching 2 MB of fresh memory per reader
    /// (~1 000 page faults fewer per rebuild). 100 000 events, alternated with the default:
    /// +5 to +9% events/s; 1 000 000 events +6%, peak memory 41.5 → 37.5 MB (BENCHMARKS.md, step 32).
    static let pageCacheKiB = 64

    static func open(_ path: String) throws -> OpaquePointer {
        var connection: OpaquePointer?
        let code = sqlite3_open_v2(path, &connection, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nil)
        guard code == SQLITE_OK, let connection else {
            let error = failure(connection, code)
            sqlite3_close(connection)
            throw error
        }
        sqlite3_busy_timeout(connection, 5_000)
        // A performance setting only: were it refused, the reader would work with SQLite's default.
        sqlite3_exec(connection, "PRAGMA cache_size = -\(pageCacheKiB)", nil, nil, nil)
        return connection
    }

    /// SQLite's error as GRDB reports it, so that the rebuild maps it like any other (a
    /// corrupt file, a full disk…).
    private static func failure(_ connection: OpaquePointer?, _ code: Int32) -> DatabaseError {
        let message = connection.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(code))
        return DatabaseError(resultCode: ResultCode(rawValue: code), message: message)
    }
}

/// A connection handed to exactly one reader thread, which alone uses and closes it.
private struct ReaderConnection: @unchecked Sendable {
    let connection: OpaquePointer
    init(_ connection: OpaquePointer) { self.connection = connection }
}
