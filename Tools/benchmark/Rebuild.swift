import Enrollment
import Foundation
import GRDB
import GRDBSQLite

/// The projection rebuild (the library's ``ProjectionRebuilder``, as `rebuild-projections`
/// runs it), in a child process (`benchmark rebuild-child DB [PROJECTION|all]`) so that its peak
/// memory is its own. A fourth argument sets the batch duration in seconds: under a profiler
/// (callgrind runs ~50 times slower) a long one keeps the run to the same single batch.
enum RebuildChild {
    static func run(_ arguments: [String]) -> Int32 {
        guard let path = arguments.first else {
            FileHandle.standardError.write(Data("usage: benchmark rebuild-child DB [PROJECTION|all] [READ-AHEAD-THREADS] [BATCH-SECONDS]\n".utf8))
            return 2
        }
        let which = arguments.dropFirst().first ?? AuthenticatorsProjection().name
        // Read-ahead threads (the library's default when not given): alternating runs with 0
        // and the default compare the rebuild with and without them in the same minutes.
        let threads = arguments.dropFirst(2).first.flatMap { Int($0) }
        let batchSeconds = arguments.dropFirst(3).first.flatMap { Double($0) }
        do {
            let database = try EnrollmentDatabase(path: path, options: DatabaseOptions(durability: .full, create: false))
            let projections = which == "all" ? Projections.all : Projections.all.filter { $0.name == which }
            guard !projections.isEmpty else { throw BenchmarkError("no projection named \(which)") }
            var result: [String: Any] = [:]
            var total = 0
            let cpuBefore = cpuSeconds()
            let elapsed = try seconds {
                for projection in projections {
                    var rebuilder = ProjectionRebuilder(database: database)
                    if let threads { rebuilder.readAheadThreads = threads }
                    if let batchSeconds { rebuilder.batchDuration = .milliseconds(Int(batchSeconds * 1000)) }
                    let summary = try rebuilder.rebuild(projection)
                    result["\(projection.name)_events_per_s"] = Double(summary.applied) / summary.elapsed
                    total += Int(summary.applied)
                }
            }
            result["events"] = total
            result["seconds"] = elapsed
            result["events_per_s"] = Double(total) / elapsed
            result["events_per_cpu_s"] = Double(total) / (cpuSeconds() - cpuBefore)
            result["peak_memory_mb"] = peakMemoryMB()
            let json = try JSONSerialization.data(withJSONObject: result)
            FileHandle.standardOutput.write(json + Data("\n".utf8))
            return 0
        } catch {
            FileHandle.standardError.write(Data("rebuild failed: \(error)\n".utf8))
            return 3
        }
    }
}

/// The ceiling for a rebuild: every column of every row of the journal stepped through in
/// position order with the SQLite C API, nothing decoded.
enum RawScan {
    static func rowsPerSecond(path: String) throws -> Double {
        var connection: OpaquePointer?
        guard sqlite3_open_v2(path, &connection, SQLITE_OPEN_READONLY, nil) == SQLITE_OK, let connection else {
            throw BenchmarkError("cannot open \(path) for the raw scan")
        }
        defer { sqlite3_close(connection) }
        var statement: OpaquePointer?
        let sql = "SELECT position, stream_id, stream_version, event_id, type, schema_version, data, metadata, recorded_at, hash FROM events ORDER BY position"
        guard sqlite3_prepare_v2(connection, sql, -1, &statement, nil) == SQLITE_OK, let statement else {
            throw BenchmarkError("cannot prepare the raw scan")
        }
        defer { sqlite3_finalize(statement) }
        var rows = 0
        var bytes = 0
        let elapsed = seconds {
            while sqlite3_step(statement) == SQLITE_ROW {
                rows += 1
                _ = sqlite3_column_text(statement, 6)
                bytes += Int(sqlite3_column_bytes(statement, 6))
            }
        }
        guard rows > 0, bytes > 0 else { throw BenchmarkError("the raw scan read nothing from \(path)") }
        return Double(rows) / elapsed
    }
}
