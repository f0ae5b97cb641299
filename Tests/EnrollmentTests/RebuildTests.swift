import Foundation
import Synchronization
import GRDB
import GRDBSQLite
import Testing
@testable import Enrollment
import TestSupport

/// Rebuilding projections: from the library, and with the rebuild-projections tool as a process.
@Suite("Rebuilding projections")
struct RebuildTests {
    /// Every projection table, sorted, as the test compares them.
    func tables(_ path: String) throws -> [String: [String]] {
        let queue = try DatabaseQueue(path: path)
        defer { try? queue.close() }
        return try queue.read { db in try FixtureRunner.projectionTables(in: db) }
    }

    static let trafficJournal = FixtureTests.root.appendingPathComponent("journals/traffic-10k.jsonl").path

    /// The recorded 10 000-event journal imported into the workspace's database (with `enroll import`).
    func importTraffic(_ workspace: Workspace) throws {
        let result = try workspace.enroll(["import", Self.trafficJournal])
        try #require(result.status == 0, "\(result.stderr)")
    }

    /// Runs `rebuild-projections --projection authenticators` while this process appends
    /// requests (`during0`, `during1`…) until it ends; returns how many got in meanwhile.
    func rebuildWhileAppending(_ workspace: Workspace, batchSize: Int) throws -> Int {
        let rebuild = Process()
        rebuild.executableURL = URL(fileURLWithPath: try Processes.product("rebuild-projections"))
        rebuild.arguments = ["--db", workspace.database, "--projection", "authenticators", "--batch-size", String(batchSize)]
        rebuild.standardOutput = FileHandle.nullDevice
        rebuild.standardError = FileHandle.nullDevice
        try rebuild.run()
        var during = 0
        while rebuild.isRunning && during < 40 {
            let result = try workspace.enroll(["request", "during\(during)"])
            #expect(result.status == 0, "\(result.stderr)")
            during += 1
        }
        rebuild.waitUntilExit()
        #expect(rebuild.terminationStatus == 0)
        #expect(during > 0, "the rebuild ended before any concurrent append")
        return during
    }

    func checkpoint(_ name: String, in path: String) throws -> (version: Int, position: Int64)? {
        let queue = try DatabaseQueue(path: path, configuration: { var c = Configuration(); c.readonly = true; return c }())
        defer { try? queue.close() }
        return try queue.read { db in
            try ProjectionCheckpoint.load(name, in: db).map { ($0.schemaVersion, $0.position) }
        }
    }

    @Test("a rebuilt projection equals the inline-maintained one row for row on 100 000 events, read on the rebuild's connection or by threads ahead of the fold", arguments: [
        (batchSize: 10_000, readAheadThreads: 0),
        (batchSize: 1_000_000, readAheadThreads: 2),
        (batchSize: 30_001, readAheadThreads: 3),
    ])
    func rebuiltEqualsInline(_ setting: (batchSize: Int, readAheadThreads: Int)) throws {
        let workspace = try Workspace()
        try SyntheticDatabases.copy(events: 100_000, to: workspace.database)
        let inline = try tables(workspace.database)
        #expect(inline["authenticators"]?.count ?? 0 > 400)
        #expect(inline["enrollment_activity"]?.count ?? 0 > 10)

        let database = try EnrollmentDatabase(path: workspace.database, options: DatabaseOptions(durability: .normal))
        var progressCalls = 0
        for projection in Projections.all {
            var rebuilder = ProjectionRebuilder(database: database, batchSize: setting.batchSize)
            rebuilder.readAheadThreads = setting.readAheadThreads
            let summary = try rebuilder.rebuild(projection) { progress in
                progressCalls += 1
                #expect(progress.position <= progress.head)
            }
            #expect(summary.applied >= 100_000 && summary.resumedFrom == 0 && summary.position == summary.applied)
        }
        #expect(progressCalls >= 2 * (100_000 / setting.batchSize))
        try database.writer.close()
        let rebuilt = try tables(workspace.database)
        for name in inline.keys.sorted() {
            let before = inline[name] ?? [], after = rebuilt[name] ?? []
            #expect(before.count == after.count, "\(name): \(before.count) inline rows, \(after.count) rebuilt")
            #expect(before == after, "\(name) differs:\n\(FixtureRunner.setDiff(before, after))")
        }
    }

    @Test("the chunks read ahead are two rounds of the threads and one more, and never more than 9 whatever `--threads` asks")
    func readAheadWindow() {
        #expect([1, 2, 3, 4, 5, 64].map { JournalReadAhead.defaultWindow(readers: $0) } == [3, 5, 7, 9, 9, 9])
    }

    @Test("a reader thread's connection keeps a small page cache (64 KiB, not SQLite's 2 MB): it steps each page once")
    func readAheadPageCache() throws {
        let workspace = try Workspace()
        try SyntheticDatabases.copy(events: 1_000, to: workspace.database)
        let connection = try JournalReadAhead.open(workspace.database)
        defer { sqlite3_close(connection) }
        var statement: OpaquePointer?
        #expect(sqlite3_prepare_v2(connection, "PRAGMA cache_size", -1, &statement, nil) == SQLITE_OK)
        defer { sqlite3_finalize(statement) }
        #expect(sqlite3_step(statement) == SQLITE_ROW)
        #expect(sqlite3_column_int64(statement, 0) == -64)
    }

    @Test("threads reading ahead hand each chunk over whole and every chunk once, in order: taking an event moves it out of the chunk, never copies the chunk")
    func readAheadHandsChunksOverUnshared() throws {
        let workspace = try Workspace()
        try SyntheticDatabases.copy(events: 100_000, to: workspace.database)
        // Small chunks, so that hundreds of them meet the fold just as their readers let go.
        let readAhead = try JournalReadAhead(path: workspace.database, after: 0, through: 100_000, readers: 2, chunkSize: 256)
        defer { readAhead.finish() }
        var chunks = 0, copied = 0, events = 0
        var last: Int64 = 0
        while var chunk = try readAhead.next() {
            chunks += 1
            let storage = chunk.withUnsafeBufferPointer { UInt(bitPattern: $0.baseAddress) }
            // A chunk its reader still held a reference to is copied whole by the first pop.
            guard let (_, header) = chunk.popLast() else { continue }
            if chunk.withUnsafeBufferPointer({ UInt(bitPattern: $0.baseAddress) }) != storage { copied += 1 }
            #expect(header.position == last + 1, "chunk \(chunks) starts at \(header.position) after \(last)")
            events += 1 + chunk.count
            last = chunk.first?.1.position ?? header.position
        }
        #expect(chunks == 391 && events == 100_000 && last == 100_000)
        #expect(copied == 0, "\(copied) of \(chunks) chunks were copied when their first event was taken")
    }

    @Test("threads reading ahead stop where a batch's time runs out, and the next batch goes on from there: the result is the same")
    func readAheadStopsEarly() throws {
        let workspace = try Workspace()
        try SyntheticDatabases.copy(events: 100_000, to: workspace.database)
        let inline = try tables(workspace.database)
        let database = try EnrollmentDatabase(path: workspace.database, options: DatabaseOptions(durability: .normal))
        var rebuilder = ProjectionRebuilder(database: database, batchDuration: .milliseconds(2))
        rebuilder.readAheadThreads = 2
        rebuilder.pause = .zero
        var batches = 0
        let summary = try rebuilder.rebuild(AuthenticatorsProjection()) { _ in batches += 1 }
        #expect(summary.applied >= 100_000)
        #expect(batches >= 3, "one batch of 2 ms should not fold 100 000 events")
        try database.writer.close()
        #expect(try tables(workspace.database)["authenticators"] == inline["authenticators"])
    }

    @Test("threads reading ahead see exactly each batch's events while another process appends between batches: the tool's result equals a plain rebuild's")
    func readAheadUnderConcurrentAppends() throws {
        let workspace = try Workspace()
        try SyntheticDatabases.copy(events: 100_000, to: workspace.database)
        try Data((Data(SyntheticJournal.masterKey).base64EncodedString() + "\n").utf8).write(to: URL(fileURLWithPath: workspace.keyFile))
        chmod(workspace.keyFile, 0o600)
        let sqlite3 = try Processes.tool("sqlite3", package: "sqlite3")
        try #require(try Processes.run(sqlite3, [workspace.database, "UPDATE projection_checkpoints SET schema_version = 0 WHERE name = 'authenticators'"]).status == 0)

        // Batches of 20 000 events: each is read ahead by threads; requests get in between them.
        let during = try rebuildWhileAppending(workspace, batchSize: 20_000)
        #expect(try workspace.enrollJSON(["status", "during0"]).1["status"] as? String == "pending")

        // The same journal rebuilt from scratch on the rebuild's own connection, in one batch.
        let copy = workspace.path("plain.sqlite")
        try FileManager.default.copyItem(atPath: workspace.database, toPath: copy)
        let database = try EnrollmentDatabase(path: copy, options: DatabaseOptions(durability: .normal))
        var plain = ProjectionRebuilder(database: database)
        plain.readAheadThreads = 0
        let summary = try plain.rebuild(AuthenticatorsProjection())
        #expect(summary.applied >= 100_000 + Int64(during))
        try database.writer.close()
        let expected = try tables(copy)["authenticators"] ?? []
        let actual = try tables(workspace.database)["authenticators"] ?? []
        #expect(actual.count == expected.count && actual == expected, "\(FixtureRunner.setDiff(expected, actual))")
    }

    @Test("an event that does not decode fails the rebuild at its position, with or without threads reading ahead; the old table stays")
    func readAheadUndecodable() throws {
        var messages: [String] = []
        for threads in [0, 2] {
            let workspace = try Workspace()
            try SyntheticDatabases.copy(events: 100_000, to: workspace.database)
            let before = try tables(workspace.database)
            let queue = try DatabaseQueue(path: workspace.database)
            try queue.write { db in try db.execute(sql: "UPDATE events SET data = '{\"broken\": ' WHERE position = 54321") }
            try queue.close()
            let database = try EnrollmentDatabase(path: workspace.database, options: DatabaseOptions(durability: .normal))
            var rebuilder = ProjectionRebuilder(database: database)
            rebuilder.readAheadThreads = threads
            do {
                try rebuilder.rebuild(AuthenticatorsProjection())
                Issue.record("the rebuild went past an undecodable event (\(threads) threads)")
            } catch {
                messages.append(error.message)
            }
            try database.writer.close()
            #expect(try tables(workspace.database) == before)
        }
        #expect(messages.count == 2 && messages[0] == messages[1], "\(messages)")
        #expect(messages.first?.contains("54321") == true, "\(messages)")
    }

    @Test("folds that forget what they hold past their memory cap still rebuild every row exactly, in small batches")
    func boundedFolds() throws {
        let lines = try String(contentsOfFile: Self.trafficJournal, encoding: .utf8).split(separator: "\n").map(String.init)
        let queue = try DatabaseQueue()
        try EnrollmentDatabase.migrator.migrate(queue)
        // Imported in one pass: folds that never reach their caps.
        _ = try JournalArchive.importLines(lines, source: "traffic", into: queue, path: ":memory:", requireEnd: true)
        try queue.write { db in
            let folds: [(any Projection, any ProjectionFold)] = [
                (AuthenticatorsProjection(), AuthenticatorsFold(table: "bounded", tableMayHoldUnseenRows: false, rowLimit: 7)),
                (EnrollmentActivityProjection(), EnrollmentActivityFold(table: "bounded", knowsEveryIssuer: true, userLimit: 5)),
            ]
            for (projection, start) in folds {
                try projection.createTable(named: "bounded", in: db)
                var fold = start
                var position: Int64 = 0
                var batches = 0
                while try ProjectionRebuilder.fold(into: &fold, after: &position, limit: 997, in: db) > 0 {
                    try fold.flush(in: db)
                    batches += 1
                }
                let head = try EventJournal.head(in: db)
                #expect(batches >= 10 && position == head)
                let expected = try Row.fetchAll(db, sql: "SELECT * FROM \"\(projection.name)\" ORDER BY 1, 2")
                #expect(expected.count > 7)
                #expect(try Row.fetchAll(db, sql: "SELECT * FROM bounded ORDER BY 1, 2") == expected, "\(projection.name)")
                try db.execute(sql: "DROP TABLE bounded")
            }
        }
    }

    @Test("an import that holds few users' streams at once (past its cap it forgets them and folds a user's rows back) imports the same journal, and refuses a forged history with the same error as one that holds them all")
    func boundedImport() throws {
        let rows = try FixtureTests.traffic()
        func imported(_ rows: [RecordedEvent], streamLimit: Int) throws -> Result<[[Row]], ArchiveError> {
            let queue = try DatabaseQueue()
            try EnrollmentDatabase.migrator.migrate(queue)
            do {
                _ = try JournalArchive.importLines(
                    ExportText.text(rows).split(separator: "\n").map(String.init), source: "traffic", into: queue, path: ":memory:",
                    requireEnd: true, streamLimit: streamLimit)
            } catch let error as ArchiveError {
                return .failure(error)
            }
            return .success(try queue.read { db in
                try ["events", AuthenticatorsProjection().name, EnrollmentActivityProjection().name].map { try Row.fetchAll(db, sql: "SELECT * FROM \"\($0)\" ORDER BY 1, 2") }
            })
        }
        let whole = try imported(rows, streamLimit: .max)
        guard case .success(let tables) = whole else { Issue.record("\(whole)"); return }
        #expect(tables[0].count == rows.count && tables[1].count > 3)
        #expect(try imported(rows, streamLimit: 3) == whole)
        // The first user's stream, long forgotten by the journal's end: an event no command
        // could have recorded after it, and one whose stream version skips one.
        let first = rows[0]
        let versions = Int64(rows.filter { $0.streamId == first.streamId }.count)
        for (type, data, version) in [("ConfirmationUnlocked", #"{"lockNumber":9}"#, versions + 1), ("QRCodeRevealed", #"{"target":"active"}"#, versions + 2)] {
            var forged = rows
            forged.append(RecordedEvent(
                position: Int64(rows.count + 1), streamId: first.streamId, streamVersion: version, eventId: "forged-0001", type: type,
                schemaVersion: 1, data: data, metadata: first.metadata, metadataJSON: first.metadataJSON, recordedAt: rows.last!.recordedAt + 1, hash: []))
            FixtureTests.rechain(&forged)
            let refused = try imported(forged, streamLimit: .max)
            guard case .failure = refused else { Issue.record("\(type) was imported"); continue }
            #expect(try imported(forged, streamLimit: 3) == refused, "\(type)")
        }
    }

    @Test("verify's fold into its scratch database, past the activity fold's user cap, looks the users it forgot up in the journal attached to it (it said the journal's events table was dropped, past 200 000 users)")
    func boundedFoldIntoScratch() throws {
        let workspace = try Workspace()
        let lines = try String(contentsOfFile: Self.trafficJournal, encoding: .utf8).split(separator: "\n").map(String.init)
        let journal = try DatabaseQueue(path: workspace.database)
        try EnrollmentDatabase.migrator.migrate(journal)
        _ = try JournalArchive.importLines(lines, source: "traffic", into: journal, path: workspace.database, requireEnd: true)
        let scratch = try DatabaseQueue(path: "")
        try journal.read { db in
            try scratch.inDatabase { memory in
                try ProjectionCheck.attachJournal(workspace.database, to: memory)
                let projection = EnrollmentActivityProjection()
                try projection.createTable(named: "bounded", in: memory)
                var fold = EnrollmentActivityFold(table: "bounded", knowsEveryIssuer: true, userLimit: 5)
                _ = try EventJournal.scan(after: 0, in: db) { event, header in
                    try fold.apply(event, header: header, in: memory)
                    return true
                }
                try fold.flush(in: memory)
                let expected = try Row.fetchAll(db, sql: "SELECT * FROM \"\(projection.name)\" ORDER BY 1, 2")
                #expect(expected.count > 7)
                #expect(try Row.fetchAll(memory, sql: "SELECT * FROM bounded ORDER BY 1, 2") == expected)
            }
        }
    }

    @Test("killed with SIGKILL midway, a second run resumes from its checkpoint and ends equal to the inline projection")
    func resumesAfterKill() throws {
        let workspace = try Workspace()
        try SyntheticDatabases.copy(events: 100_000, to: workspace.database)
        let inline = try tables(workspace.database)
        let tool = try Processes.product("rebuild-projections")

        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = ["--db", workspace.database, "--projection", "authenticators", "--batch-size", "200"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        var reached: Int64 = 0
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline && process.isRunning {
            if let shadow = try? checkpoint("authenticators_rebuild", in: workspace.database), shadow.position >= 2_000 {
                reached = shadow.position
                break
            }
            usleep(20_000)
        }
        try #require(process.isRunning, "the rebuild finished before it could be killed; make the journal larger")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal)
        try #require(reached > 0)
        let left = try #require(try checkpoint("authenticators_rebuild", in: workspace.database))
        #expect(left.position >= reached && left.position < 100_000)

        let status = try Processes.run(tool, ["--db", workspace.database, "--status"])
        #expect(status.stdout.contains("an interrupted rebuild will resume from position \(left.position)"), "\(status.stdout)")

        let second = try Processes.run(tool, ["--db", workspace.database, "--projection", "authenticators"])
        #expect(second.status == 0, "\(second.stderr)")
        #expect(second.stdout.contains("resumed from position \(left.position)"), "\(second.stdout)")
        #expect(second.stdout.split(separator: "\n").count == 1)
        #expect(try checkpoint("authenticators_rebuild", in: workspace.database) == nil)
        #expect(try tables(workspace.database)["authenticators"] == inline["authenticators"])
    }

    @Test("Ctrl-C or SIGTERM midway: exit 130/143 with one line saying how to resume (with --json also one JSON object on stdout; after --restart, to leave it out); the next run resumes and ends equal to the inline projection")
    func interruptedBySignal() throws {
        let workspace = try Workspace()
        try SyntheticDatabases.copy(events: 100_000, to: workspace.database)
        let inline = try tables(workspace.database)
        let tool = try Processes.product("rebuild-projections")
        for (signal, restart) in [(SIGINT, true), (SIGINT, false), (SIGTERM, false)] {
            // Interrupted only once this run has made progress of its own (past its handler's set-up).
            let start = (try? checkpoint("authenticators_rebuild", in: workspace.database))?.position ?? 0
            // (--restart first, while there is nothing to start over from, so that the shadow
            // table watched below is this run's.)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: tool)
            let json = signal == SIGTERM
            process.arguments = ["--db", workspace.database, "--projection", "authenticators", "--batch-size", "200"] + (json ? ["--json"] : []) + (restart ? ["--restart"] : [])
            let errors = Pipe(), output = Pipe()
            process.standardOutput = output
            process.standardError = errors
            try process.run()
            let deadline = Date().addingTimeInterval(60)
            while Date() < deadline && process.isRunning {
                if let shadow = try? checkpoint("authenticators_rebuild", in: workspace.database), shadow.position >= start + 2_000 { break }
                usleep(20_000)
            }
            try #require(process.isRunning, "the rebuild finished before it could be interrupted; make the journal larger")
            kill(process.processIdentifier, signal)
            process.waitUntilExit()
            let stderr = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            let stdout = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(process.terminationStatus == 128 + signal, "\(process.terminationReason) \(process.terminationStatus)")
            // Into a pipe, a slow machine may have printed a progress line (every 5 s) before.
            let lines = stderr.split(separator: "\n", omittingEmptySubsequences: false)
            let resume = restart
                ? "run the same command without --restart to resume (with it, it starts over; --status shows where it stands)"
                : "run the same command again to resume (--status shows where it stands)"
            #expect(lines.last == "" && lines.dropLast().last == "rebuild-projections: interrupted; what was committed stays: " + resume, "\(stderr)")
            #expect(lines.dropLast(2).allSatisfy { $0.hasPrefix("rebuild-projections: authenticators ") && $0.contains(" events/s, about ") }, "\(stderr)")
            if json {
                #expect(stdout == #"{"error":"interrupted","message":"interrupted; what was committed stays: run the same command again to resume (--status shows where it stands)"}"# + "\n", "\(stdout)")
            } else {
                #expect(stdout.isEmpty, "\(stdout)")
            }
        }
        let second = try Processes.run(tool, ["--db", workspace.database, "--projection", "authenticators"])
        #expect(second.status == 0 && second.stdout.contains("resumed from position"), "\(second.stdout) \(second.stderr)")
        #expect(try tables(workspace.database)["authenticators"] == inline["authenticators"])
    }

    @Test("into a pipe (a cron job, a systemd log), a long rebuild prints a progress line every five seconds instead of the terminal's bar")
    func progressLinesWhenPiped() throws {
        let workspace = try Workspace()
        try SyntheticDatabases.copy(events: 100_000, to: workspace.database)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Processes.product("rebuild-projections"))
        // One event per batch: long enough to report progress.
        process.arguments = ["--db", workspace.database, "--projection", "authenticators", "--batch-size", "1", "--threads", "0"]
        let errors = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = errors
        let started = Date()
        try process.run()
        // Blocking reads on a thread of its own until the first line (the serve tests' pattern).
        let firstLine = Mutex<String?>(nil)
        let reader = Thread {
            var bytes: [UInt8] = []
            while true {
                let chunk = errors.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                bytes += chunk
                if let newline = bytes.firstIndex(of: 10) {
                    firstLine.withLock { $0 = String(decoding: bytes[..<newline], as: UTF8.self) }
                    break
                }
            }
        }
        reader.start()
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline && process.isRunning && firstLine.withLock({ $0 }) == nil { usleep(50_000) }
        let elapsed = Date().timeIntervalSince(started)
        if process.isRunning { kill(process.processIdentifier, SIGINT) }
        process.waitUntilExit()
        let line = try #require(firstLine.withLock { $0 }, "no progress line within 60 s")
        #expect(line.hasPrefix("rebuild-projections: authenticators ") && line.contains("/100000 events") && line.contains(" left)"), "\(line)")
        #expect(!line.contains("\u{1B}") && !line.contains("\r"), "no terminal control characters into a pipe: \(line)")
        #expect(elapsed >= 4.5, "the first line comes after five seconds, not at once (\(elapsed) s)")

        // ENROLL_PROGRESS_SECONDS sets the interval, as for enroll's long work: 0, a line at once.
        let immediate = try Processes.run(
            try Processes.product("rebuild-projections"),
            ["--db", workspace.database, "--projection", "authenticators", "--batch-size", "5000", "--threads", "0"],
            environment: ["ENROLL_PROGRESS_SECONDS": "0"])
        #expect(immediate.status == 0, "\(immediate.stderr)")
        let lines = immediate.stderr.split(separator: "\n").filter { $0.hasPrefix("rebuild-projections: authenticators ") && $0.contains(" events/s") }
        #expect(lines.count >= 10, "a line per report of 20 batches: \(immediate.stderr)")
        let warned = try Processes.run(
            try Processes.product("rebuild-projections"), ["--db", workspace.database, "--projection", "authenticators", "--batch-size", "50000"],
            environment: ["ENROLL_PROGRESS_SECONDS": "soon"])
        #expect(warned.status == 0 && warned.stderr.hasPrefix("rebuild-projections: warning: ENROLL_PROGRESS_SECONDS is \"soon\", not a whole number of seconds from 0 to 3600"), "\(warned.stderr)")
    }

    @Test("a projection that appends did not keep up to date (its checkpoint behind the journal's head) is refused by readers naming the fix, never read as if current; a rebuild fixes it")
    func laggingProjectionRefused() throws {
        let workspace = try Workspace()
        try importTraffic(workspace)
        #expect(try workspace.enroll(["request", "lagger"]).status == 0)
        let sqlite3 = try Processes.tool("sqlite3", package: "sqlite3")
        // As if another version of enroll had appended the last events without updating them.
        try #require(try Processes.run(sqlite3, [workspace.database, "UPDATE projection_checkpoints SET position = position - 1"]).status == 0)

        // activity reads both, both lagging: one refusal names both.
        for (arguments, fix) in [(["status", "lagger"], "--projection authenticators"), (["status", "lagger", "--json"], "--projection authenticators"), (["activity"], "--all")] {
            let result = try workspace.enroll(arguments)
            #expect(result.status == 3, "\(arguments): \(result.stdout) \(result.stderr)")
            #expect(result.stderr.contains("`rebuild-projections --db \(workspace.database) \(fix)`"), "\(arguments): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(arguments): \(result.stderr)")
            #expect(!result.stdout.contains("status: none"), "\(arguments): \(result.stdout)")
        }
        let tool = try Processes.product("rebuild-projections")
        #expect(try Processes.run(tool, ["--db", workspace.database, "--all"]).status == 0)
        let fixed = try workspace.enrollJSON(["status", "lagger"])
        #expect(fixed.0.status == 0 && fixed.1["status"] as? String == "pending", "\(fixed.0.stderr)")
        #expect(try workspace.enroll(["activity"]).status == 0)
    }

    @Test("what an operator built on a projection table survives its rebuild: views reading it still read, its indexes and triggers are created again on the new table; one that no longer fits is named in the summary, and the rebuild still succeeds")
    func operatorObjectsSurvive() throws {
        let workspace = try Workspace()
        try importTraffic(workspace)
        let sqlite3 = try Processes.tool("sqlite3", package: "sqlite3")
        func query(_ sql: String) throws -> String {
            let result = try Processes.run(sqlite3, [workspace.database, sql])
            try #require(result.status == 0, "\(sql): \(result.stderr)")
            return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        _ = try query("""
            CREATE VIEW active_users AS SELECT user_id FROM authenticators WHERE status = 'active';
            CREATE VIEW by_day AS SELECT day, SUM(confirmed) AS confirmed FROM enrollment_activity GROUP BY day;
            CREATE INDEX auth_status ON authenticators(status);
            CREATE TABLE audit_log(user_id TEXT);
            CREATE TRIGGER auth_changed AFTER INSERT ON Authenticators BEGIN INSERT INTO audit_log VALUES (new.user_id); END;
            ALTER TABLE authenticators ADD COLUMN note TEXT;
            CREATE INDEX by_note ON authenticators(note);
            CREATE TRIGGER note_kept AFTER UPDATE ON authenticators BEGIN INSERT INTO audit_log VALUES (new.note); END;
            CREATE TRIGGER log_noted AFTER INSERT ON audit_log BEGIN SELECT note FROM authenticators LIMIT 1; END;
            CREATE TRIGGER events_touch AFTER INSERT ON events BEGIN UPDATE authenticators SET note = 'x' WHERE 0; END;
            CREATE TABLE zlog(x);
            CREATE TRIGGER events_log AFTER INSERT ON events BEGIN INSERT INTO zlog VALUES (new.position); END;
            CREATE TRIGGER zlog_noted AFTER INSERT ON zlog BEGIN SELECT note FROM authenticators LIMIT 1; END;
            CREATE TRIGGER events_good AFTER INSERT ON events BEGIN UPDATE authenticators SET status = status WHERE 0; END;
            CREATE VIEW noted AS SELECT user_id, note FROM authenticators WHERE note IS NOT NULL;
            """)
        let (active, days) = (try query("SELECT COUNT(*) FROM active_users"), try query("SELECT COUNT(*) FROM by_day"))
        let rebuilt = try Processes.run(try Processes.product("rebuild-projections"), ["--db", workspace.database, "--all"])
        #expect(rebuilt.status == 0, "\(rebuilt.stderr)")
        #expect(rebuilt.stdout.contains("; created again on the new table: index auth_status, trigger auth_changed"), "\(rebuilt.stdout)")
        #expect(rebuilt.stdout.contains("; NOT kept, as they no longer fit (adapt and create by hand): index by_note (no such column: note), which was: CREATE INDEX by_note ON authenticators(note)"), "\(rebuilt.stdout)")
        // A trigger that no longer fits would fail every later write to its table: not kept, and
        // named, whether it is the projection's own or another table's that writes to it; one
        // that only writes to such a table is not to blame, and stays.
        #expect(rebuilt.stdout.contains("trigger note_kept (no such column: new.note), which was: CREATE TRIGGER note_kept"), "\(rebuilt.stdout)")
        #expect(rebuilt.stdout.contains("trigger log_noted (no such column: note), which was: CREATE TRIGGER log_noted"), "\(rebuilt.stdout)")
        #expect(rebuilt.stdout.contains("trigger events_touch (no such column: note), which was: CREATE TRIGGER events_touch"), "\(rebuilt.stdout)")
        #expect(rebuilt.stdout.contains("trigger zlog_noted (no such column: note), which was: CREATE TRIGGER zlog_noted"), "\(rebuilt.stdout)")
        #expect(!rebuilt.stdout.contains("trigger events_log") && !rebuilt.stdout.contains("trigger events_good"), "\(rebuilt.stdout)")
        #expect(rebuilt.stdout.contains("; columns of the old table not in the new one, their values not carried over: note"), "\(rebuilt.stdout)")
        // A view that no longer reads is named and left as it is.
        #expect(rebuilt.stdout.contains("; views kept that no longer read (adapt them): noted (no such column: note), which is: CREATE VIEW noted"), "\(rebuilt.stdout)")
        #expect(try query("SELECT COUNT(*) FROM active_users") == active && active != "0")
        #expect(try query("SELECT COUNT(*) FROM by_day") == days && days != "0")
        #expect(try query("SELECT group_concat(name) FROM (SELECT name FROM sqlite_master WHERE tbl_name = 'authenticators' COLLATE NOCASE AND sql IS NOT NULL AND type != 'table' ORDER BY name)") == "auth_changed,auth_status")
        #expect(try query("SELECT count(*) FROM sqlite_master WHERE name IN ('log_noted', 'events_touch', 'zlog_noted')") == "0")
        // Good triggers whose writes only set off a broken one (another table's, or the
        // projection's own note_kept) stay.
        #expect(try query("SELECT group_concat(name) FROM (SELECT name FROM sqlite_master WHERE name IN ('events_log', 'events_good') ORDER BY name)") == "events_good,events_log")
        // The trigger works on the new table: a command that writes a row fires it.
        #expect(try workspace.enroll(["request", "newbie"]).status == 0)
        #expect(try query("SELECT DISTINCT user_id FROM audit_log") == "newbie")
        #expect(try workspace.enroll(["verify"]).status == 0)
    }

    @Test("a rebuild is refused by name (exit 3, projection_unwritable) while another table has a foreign key to the projection: replacing the table would delete its rows (ON DELETE CASCADE) or fail; nothing swapped, the old table and the other's rows kept")
    func unwritableSwapRefused() throws {
        let workspace = try Workspace()
        try importTraffic(workspace)
        let sqlite3 = try Processes.tool("sqlite3", package: "sqlite3")
        let setUp = try Processes.run(sqlite3, [workspace.database, """
            ALTER TABLE authenticators ADD COLUMN note TEXT;
            CREATE UNIQUE INDEX by_note ON authenticators(note);
            CREATE TABLE notes(n TEXT REFERENCES authenticators(note));
            CREATE TABLE tickets(user_id TEXT REFERENCES authenticators(user_id) ON DELETE CASCADE);
            INSERT INTO tickets SELECT user_id FROM authenticators LIMIT 3;
            """])
        try #require(setUp.status == 0, "\(setUp.stderr)")
        #expect(try workspace.enroll(["request", "before"]).status == 0, "writes work before the rebuild")
        let rebuilt = try Processes.run(try Processes.product("rebuild-projections"), ["--db", workspace.database, "--projection", "authenticators", "--json"])
        #expect(rebuilt.status == 3, "\(rebuilt.stdout) \(rebuilt.stderr)")
        #expect(rebuilt.stderr.contains("the rebuilt authenticators projection cannot be swapped in: the table notes has a foreign key to it") && rebuilt.stderr.contains("nothing was swapped"), "\(rebuilt.stderr)")
        #expect(rebuilt.stdout.contains("\"projection_unwritable\""), "\(rebuilt.stdout)")
        #expect(try SQLite3.query(workspace.database, "SELECT count(*) FROM pragma_table_info('authenticators') WHERE name = 'note'") == "1", "the old table stays")
        let after = try workspace.enroll(["request", "after"])
        #expect(after.status == 0, "commands still work: \(after.stderr)")
        // With only the cascading key left, refused as well, and its rows kept.
        #expect(try SQLite3.query(workspace.database, "DROP TABLE notes; DROP INDEX by_note; SELECT count(*) FROM tickets") == "3")
        let again = try Processes.run(try Processes.product("rebuild-projections"), ["--db", workspace.database, "--projection", "authenticators"])
        #expect(again.status == 3 && again.stderr.contains("the table tickets has a foreign key to it"), "\(again.stderr)")
        #expect(try SQLite3.query(workspace.database, "SELECT count(*) FROM tickets") == "3")
    }

    @Test("a stale projection is refused by readers while appends keep working; the tool rebuilds it while others append")
    func staleThenRebuiltUnderLoad() throws {
        let workspace = try Workspace()
        try importTraffic(workspace)
        let sqlite3 = try Processes.tool("sqlite3", package: "sqlite3")
        // Pretend the code moved on: the stored table is now of an older schema version.
        try #require(try Processes.run(sqlite3, [workspace.database, "UPDATE projection_checkpoints SET schema_version = 0 WHERE name = 'authenticators'"]).status == 0)
        let stalePosition = try #require(try checkpoint("authenticators", in: workspace.database)).position

        let refused = try workspace.enroll(["status", "user0001"])
        #expect(refused.status == 3)
        #expect(refused.stderr.contains("`rebuild-projections --db \(workspace.database) --projection authenticators`"), "\(refused.stderr)")
        let appended = try workspace.enroll(["request", "newcomer", "--issuer", "ACME"])
        #expect(appended.status == 0, "appends must keep working while a projection is stale: \(appended.stderr)")
        #expect(try checkpoint("authenticators", in: workspace.database)?.position == stalePosition, "a stale projection must not be updated inline")

        let tool = try Processes.product("rebuild-projections")
        let status = try Processes.run(tool, ["--db", workspace.database, "--status"])
        #expect(status.stdout.contains("stale (schema v0, code v\(AuthenticatorsProjection().schemaVersion))"), "\(status.stdout)")

        // Rebuild in small batches while another process keeps appending.
        _ = try rebuildWhileAppending(workspace, batchSize: 20)
        for index in 0..<3 {
            #expect(try workspace.enroll(["request", "after\(index)"]).status == 0)
        }

        let after = try Processes.run(tool, ["--db", workspace.database, "--status", "--json"])
        let rows = after.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let authenticators = try #require(rows.first { $0["projection"] as? String == "authenticators" })
        #expect(authenticators["current"] as? Bool == true && authenticators["lag"] as? Int == 0, "\(after.stdout)")
        let summary = try workspace.enrollJSON(["status", "during0"]).1
        #expect(summary["status"] as? String == "pending")
        #expect(try workspace.enrollJSON(["status", "newcomer"]).1["status"] as? String == "pending")

        // The result equals folding the whole journal from scratch.
        let export = try workspace.enroll(["export"])
        let queue = try DatabaseQueue()
        try EnrollmentDatabase.migrator.migrate(queue)
        _ = try JournalArchive.importLines(export.stdout.split(separator: "\n").map(String.init), source: "export", into: queue, path: ":memory:", requireEnd: true)
        let scratch = try queue.read { db in try FixtureRunner.projectionTables(in: db) }
        #expect(try tables(workspace.database)["authenticators"] == scratch["authenticators"])
    }

    @Test("a second rebuild of a projection while one runs refuses with a clear error and leaves the running one alone, which finishes; --status says it is running")
    func concurrentRebuilds() throws {
        let workspace = try Workspace()
        try importTraffic(workspace)
        let expected = try tables(workspace.database)["enrollment_activity"]
        let tool = try Processes.product("rebuild-projections")
        let arguments = ["--db", workspace.database, "--projection", "enrollment_activity", "--batch-size", "10"]
        let first = Process()
        first.executableURL = URL(fileURLWithPath: tool)
        first.arguments = arguments
        let firstError = Pipe()
        first.standardOutput = FileHandle.nullDevice
        first.standardError = firstError
        try first.run()
        let deadline = Date().addingTimeInterval(60)
        while first.isRunning && Date() < deadline {
            if let shadow = try? checkpoint("enrollment_activity_rebuild", in: workspace.database), shadow.position > 0 { break }
            usleep(10_000)
        }
        try #require(first.isRunning, "the first rebuild ended too soon")
        // Freeze the first between two batches (not while it holds the write lock), let the
        // second run to the end, then let the first go on: on a fast machine the first would
        // otherwise finish before the second even starts.
        let probe = try DatabaseQueue(path: workspace.database)
        while true {
            kill(first.processIdentifier, SIGSTOP)
            if (try? probe.inDatabase({ db in try db.execute(sql: "BEGIN IMMEDIATE; COMMIT") })) != nil { break }
            kill(first.processIdentifier, SIGCONT)
            usleep(1_000)
        }
        let second = try Processes.run(tool, arguments)
        // The same database by another name (a symbolic link): the same lock.
        let link = workspace.path("link.sqlite")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: workspace.database)
        let throughLink = try Processes.run(tool, ["--db", link] + arguments.dropFirst(2))
        let duringThroughLink = try Processes.run(tool, ["--db", link, "--status"])
        let during = try Processes.run(tool, ["--db", workspace.database, "--status"])
        let duringJSON = try Processes.run(tool, ["--db", workspace.database, "--status", "--json"])
        kill(first.processIdentifier, SIGCONT)
        first.waitUntilExit()
        let firstMessage = String(decoding: firstError.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(first.terminationStatus == 0, "the running rebuild was disturbed: \(firstMessage)")
        #expect(second.status == 3, "\(second.stderr)")
        #expect(second.stderr.contains("another rebuild-projections is rebuilding the enrollment_activity projection"), "\(second.stderr)")
        #expect(throughLink.status == 3 && throughLink.stderr.contains("another rebuild-projections is rebuilding the enrollment_activity projection"), "\(throughLink.stderr)")
        #expect(duringThroughLink.stdout.contains("a rebuild is running (at position"), "\(duringThroughLink.stdout)")
        #expect(during.stdout.contains("a rebuild is running (at position"), "\(during.stdout)")
        #expect(!during.stdout.contains("interrupted"), "\(during.stdout)")
        #expect(duringJSON.stdout.contains(#""rebuildRunning":true"#), "\(duringJSON.stdout)")
        #expect(try tables(workspace.database)["enrollment_activity"] == expected)
        #expect(try checkpoint("enrollment_activity_rebuild", in: workspace.database) == nil)
        let after = try Processes.run(tool, ["--db", workspace.database, "--status"])
        #expect(!after.stdout.contains("a rebuild is running"), "\(after.stdout)")
    }

    @Test("the rebuild lock holds across accounts: a lock file root's run left is readable by all whatever the umask and a run under another account honours it; one it cannot open (an older release's 0600) is refused by name (exit 3), never run without")
    func rebuildLockAcrossAccounts() throws {
        let workspace = try Workspace()
        try importTraffic(workspace)
        let tool = try Processes.product("rebuild-projections")
        // Under a strict umask (systemd's UMask=0077) the lock file is still readable by all.
        let sh = try Processes.tool("sh", package: "dash")
        let first = try Processes.run(sh, ["-c", "umask 077; exec \"$0\" --db \"$1\" --all", tool, workspace.database])
        #expect(first.status == 0, "\(first.stderr)")
        let lock = workspace.database + "-rebuild-authenticators.lock"
        var info = stat()
        #expect(stat(lock, &info) == 0 && info.st_mode & 0o044 == 0o044, "the lock file is not readable by all: \(String(info.st_mode, radix: 8))")
        var command = [tool]
        if getuid() == 0 {
            // As the service's account would, after root's run: the lock file stays root's.
            command = [try Processes.tool("setpriv", package: "util-linux"), "--reuid=65534", "--regid=65534", "--clear-groups", "--", tool]
            guard try Processes.run(command[0], Array(command.dropFirst()) + ["--help"]).status == 0 else {
                Issue.record("user nobody cannot run rebuild-projections; make the build directory world-readable to run this test")
                return
            }
            chmod(workspace.directory.path, 0o777)
            for suffix in ["", "-wal", "-shm"] { chmod(workspace.database + suffix, 0o666) }
        }
        func run(_ arguments: [String]) throws -> Processes.Result {
            try Processes.run(command[0], Array(command.dropFirst()) + ["--db", workspace.database] + arguments)
        }
        // A run in progress (this process holds the lock) is seen by the other account's runs.
        let held = open(lock, O_RDONLY)
        #expect(flock(held, LOCK_EX | LOCK_NB) == 0)
        let refused = try run(["--projection", "authenticators", "--restart"])
        #expect(refused.status == 3 && refused.stderr.contains("another rebuild-projections is rebuilding the authenticators projection"), "\(refused.stderr)")
        #expect(try run(["--status"]).stdout.contains("a rebuild is running"))
        close(held)

        guard getuid() == 0 else { return }
        // A lock file the other account cannot open at all.
        chmod(lock, 0o600)
        let before = try tables(workspace.database)
        for arguments in [["--projection", "authenticators", "--restart"], ["--status"]] {
            let result = try run(arguments)
            #expect(result.status == 3, "\(arguments): \(result.stdout) \(result.stderr)")
            #expect(result.stderr.contains("cannot open the rebuild lock file \(lock) (Permission denied)") && result.stderr.contains("chown"), "\(result.stderr)")
        }
        #expect(try tables(workspace.database) == before)
        // The other projection's lock file is its own: rebuilding it is not refused for this one.
        let other = try run(["--projection", "enrollment_activity"])
        #expect(other.status == 0, "\(other.stdout) \(other.stderr)")
    }

    @Test("on a terminal the tool draws a progress bar with events per second and time left, then a one-line summary")
    func progressBarOnTerminal() throws {
        let workspace = try Workspace()
        try importTraffic(workspace)
        let script = try Processes.tool("script", package: "bsdutils")
        let tool = try Processes.product("rebuild-projections")
        let result = try Processes.run(script, ["-qfec", "\(tool) --db \(workspace.database) --all --batch-size 100", "/dev/null"])
        #expect(result.status == 0, "\(result.stdout)")
        #expect(result.stdout.contains("events/s") && result.stdout.contains("ETA") && result.stdout.contains("█"), "\(result.stdout)")
        #expect(result.stdout.contains("authenticators v\(AuthenticatorsProjection().schemaVersion): rebuilt "))
        #expect(result.stdout.contains("enrollment_activity v\(EnrollmentActivityProjection().schemaVersion): rebuilt "))

        let piped = try Processes.run(tool, ["--db", workspace.database, "--all"])
        #expect(!piped.stderr.contains("█") && !piped.stdout.contains("█"), "no progress bar when not on a terminal")
        #expect(piped.stdout.split(separator: "\n").count == 2)
    }

    @Test("the tool refuses bad usage with one line and exit 2 (an unknown option by its name), a missing database with exit 3")
    func toolBadUsage() throws {
        let workspace = try Workspace()
        let tool = try Processes.product("rebuild-projections")
        for arguments in [["--db", workspace.database], ["--db", workspace.database, "--all", "--status"], ["--db", workspace.database, "--projection", "nope"], ["--all", "--batch-size", "0"]] {
            let result = try Processes.run(tool, arguments)
            #expect(result.status == 2, "\(arguments): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(arguments): \(result.stderr)")
        }
        // An unknown option alone (a typo of --all) is named, not hidden behind "choose one".
        let typo = try Processes.run(tool, ["--db", workspace.database, "--al"])
        #expect(typo.status == 2 && typo.stderr.contains("Unknown option '--al'"), "\(typo.stderr)")
        let none = try Processes.run(tool, ["--db", workspace.database])
        #expect(none.stderr == "rebuild-projections: error: choose one of --projection NAME, --all or --status (see rebuild-projections --help)\n", "\(none.stderr)")
        let missing = try Processes.run(tool, ["--db", workspace.database, "--all"])
        #expect(missing.status == 3 && missing.stderr.contains("no enrollment database"))
        #expect(!FileManager.default.fileExists(atPath: workspace.database))
        // With --json, a failure is one JSON object on stdout as well.
        for (arguments, status, code) in [(["--all", "--json"], Int32(3), "database_missing"), (["--json"], 2, "usage")] {
            let result = try Processes.run(tool, ["--db", workspace.database] + arguments)
            #expect(result.status == status, "\(arguments): \(result.stderr)")
            let object = try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
            #expect(object?["error"] as? String == code, "\(arguments): \(result.stdout)")
            // As enroll --json writes it: a path in a message reads as one (no `\/`).
            #expect(!result.stdout.contains("\\/"), "\(result.stdout)")
        }
    }

    @Test("a journal with a wide gap in its positions (a row's position rewritten outside enroll) is still rebuilt to its head, at once, rather than the same empty stretch read again and again")
    func gapInPositions() throws {
        let workspace = try Workspace()
        for user in ["alice", "bob", "carol"] { #expect(try workspace.enroll(["request", user]).status == 0) }
        _ = try SQLite3.query(workspace.database, "UPDATE events SET position = 50000000 WHERE position = 3")
        let tool = try Processes.product("rebuild-projections")
        // Threads reading ahead of the fold, which read a stretch of positions at a time: the
        // stretch after the first, with no event in it, used to be read again forever.
        let result = try Processes.run("/usr/bin/timeout", ["120", tool, "--db", workspace.database, "--all", "--json", "--threads", "2"])
        #expect(result.status == 0, "exit \(result.status) (124: still reading after 120 s): \(result.stdout) \(result.stderr)")
        #expect(try SQLite3.query(workspace.database, "SELECT user_id FROM authenticators ORDER BY user_id") == "alice\nbob\ncarol")
        #expect(try SQLite3.query(workspace.database, "SELECT position FROM projection_checkpoints WHERE name = 'authenticators'") == "50000000")
    }

    @Test("a negative --batch-size is refused by its range check (exit 2, naming the value), not as a missing value; a --batch-size or --threads that is no number names what is wanted")
    func negativeBatchSize() throws {
        let workspace = try Workspace()
        let tool = try Processes.product("rebuild-projections")
        for arguments in [["--all", "--batch-size", "-1"], ["--all", "--batch-size=-1"], ["--batch-size", "-5", "--all"], ["--all", "--batch-size", "9223372036854775807"]] {
            let result = try Processes.run(tool, ["--db", workspace.database] + arguments)
            #expect(result.status == 2, "\(arguments): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(arguments): \(result.stderr)")
            #expect(result.stderr.contains("--batch-size must be 1 to 100000000, not "), "\(arguments): \(result.stderr)")
            #expect(!result.stderr.contains("Missing value"), "\(arguments): \(result.stderr)")
        }
        // Not a number at all: the same kind of line, naming what is wanted (not the parser's
        // bare "The value … is invalid").
        for (option, value, wanted) in [("--batch-size", "abc", "a whole number of at least 1"), ("--batch-size", "1.5", "a whole number of at least 1"), ("--threads", "two", "a whole number from 0 to 64")] {
            let result = try Processes.run(tool, ["--db", workspace.database, "--all", option, value])
            #expect(result.status == 2, "\(option) \(value): \(result.stderr)")
            #expect(result.stderr.contains("\(option) must be \(wanted), not '\(value)'"), "\(option) \(value): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1)
        }
        #expect(!FileManager.default.fileExists(atPath: workspace.database))
    }

    @Test("--threads outside 0-64 is refused naming the value (exit 2, nothing created); --threads 0 rebuilds on one core")
    func threadsOption() throws {
        let workspace = try Workspace()
        let tool = try Processes.product("rebuild-projections")
        for value in ["-1", "65", "1000000"] {
            let result = try Processes.run(tool, ["--db", workspace.database, "--all", "--threads", value])
            #expect(result.status == 2, "\(value): \(result.stderr)")
            #expect(result.stderr.contains("--threads must be 0 to 64, not \(value)"), "\(value): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1)
        }
        #expect(!FileManager.default.fileExists(atPath: workspace.database))
        try importTraffic(workspace)
        let before = try tables(workspace.database)
        let rebuilt = try Processes.run(tool, ["--db", workspace.database, "--all", "--threads", "0"])
        #expect(rebuilt.status == 0, "\(rebuilt.stderr)")
        #expect(try tables(workspace.database) == before)
    }

    @Test("appenders get in within about one batch while a rebuild runs in one-event batches, instead of timing out")
    func appendersGetInDuringRebuild() throws {
        let workspace = try Workspace()
        try importTraffic(workspace)
        let tool = try Processes.product("rebuild-projections")
        let rebuild = Process()
        rebuild.executableURL = URL(fileURLWithPath: tool)
        // One event per transaction, back to back: the case that starved writers.
        rebuild.arguments = ["--db", workspace.database, "--all", "--batch-size", "1"]
        rebuild.standardOutput = FileHandle.nullDevice
        rebuild.standardError = FileHandle.nullDevice
        try rebuild.run()
        defer { if rebuild.isRunning { kill(rebuild.processIdentifier, SIGKILL); rebuild.waitUntilExit() } }
        let deadline = Date().addingTimeInterval(60)
        while rebuild.isRunning && Date() < deadline {
            if let shadow = try? checkpoint("authenticators_rebuild", in: workspace.database), shadow.position > 0 { break }
            usleep(10_000)
        }
        try #require(rebuild.isRunning, "the rebuild ended before the appenders started")

        // Ten appenders at once, each allowed 2 s for the write lock.
        let results = Mutex<[(Int32, TimeInterval, String)]>([])
        let enroll = try Processes.product("enroll")
        let environment = ["ENROLL_DB": workspace.database, "ENROLL_KEY_FILE": workspace.keyFile]
        DispatchQueue.concurrentPerform(iterations: 10) { index in
            let started = Date()
            let result = try? Processes.run(enroll, ["request", "cy\(index)", "--busy-timeout", "2"], environment: environment)
            results.withLock { $0.append((result?.status ?? -1, Date().timeIntervalSince(started), result?.stderr ?? "")) }
        }
        let stillRunning = rebuild.isRunning
        rebuild.waitUntilExit()
        #expect(rebuild.terminationStatus == 0)
        try #require(stillRunning, "the rebuild ended before the appenders did; make the journal larger")
        let outcomes = results.withLock { $0 }
        for (status, _, stderr) in outcomes {
            #expect(status == 0, "an appender gave up while the rebuild ran: \(stderr)")
        }
        // Each wait includes starting a process and deriving keys; the lock itself is free
        // within a few milliseconds (before: up to the whole rebuild, or the 2 s timeout).
        let slowest = outcomes.map(\.1).max() ?? .infinity
        #expect(slowest < 1.8, "the slowest appender took \(slowest) s")
        for index in 0..<10 {
            #expect(try workspace.enrollJSON(["status", "cy\(index)"]).1["status"] as? String == "pending")
        }
    }

    @Test("the tool waits --busy-timeout (or ENROLL_BUSY_TIMEOUT) for another writer's lock and names that timeout when it gives up")
    func busyTimeout() throws {
        let workspace = try Workspace()
        try importTraffic(workspace)
        let tool = try Processes.product("rebuild-projections")
        let holder = try SQLiteShellTransaction(workspace.database, begin: "BEGIN IMMEDIATE")
        defer { holder.end() }

        for (arguments, environment, seconds) in [(["--busy-timeout", "1"], [:], "1"), ([], ["ENROLL_BUSY_TIMEOUT": "1.5"], "1.5")] {
            let started = Date()
            let result = try Processes.run(tool, ["--db", workspace.database, "--all"] + arguments, environment: environment)
            let waited = Date().timeIntervalSince(started)
            #expect(result.status == 3, "\(arguments) \(environment): \(result.stderr)")
            #expect(result.stderr.contains("stayed locked by another writer for more than \(seconds) s (the busy timeout)"), "\(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
            let limit = Double(seconds) ?? 0
            #expect(waited >= limit && waited < limit + 5, "waited \(waited) s for a \(seconds) s timeout")
        }
        #expect(try checkpoint("authenticators_rebuild", in: workspace.database) == nil, "nothing was written")
    }

    @Test("a bad --busy-timeout or ENROLL_BUSY_TIMEOUT is refused as enroll refuses it (exit 2, one line)")
    func badBusyTimeout() throws {
        let workspace = try Workspace()
        let tool = try Processes.product("rebuild-projections")
        for (arguments, environment) in [(["--busy-timeout", "forever"], [:]), (["--busy-timeout", "-1"], [:]), ([], ["ENROLL_BUSY_TIMEOUT": "601"])] {
            let result = try Processes.run(tool, ["--db", workspace.database, "--all"] + arguments, environment: environment)
            let enroll = try workspace.enroll(["status", "alice"] + arguments, environment: environment)
            #expect(result.status == 2 && enroll.status == 2, "\(arguments) \(environment): \(result.stderr) / \(enroll.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
            // The same words as enroll's, after each tool's own prefix.
            let reason = enroll.stderr.components(separatedBy: "error: ").last?.components(separatedBy: " (see").first ?? "?"
            #expect(reason.contains("a number of seconds from 0 to 600"), "\(enroll.stderr)")
            #expect(result.stderr.contains(reason), "rebuild-projections: \(result.stderr), enroll: \(enroll.stderr)")
            // With --json, the same code as enroll's, not `usage`.
            let json = try Processes.run(tool, ["--db", workspace.database, "--all", "--json"] + arguments, environment: environment)
            let enrollJSON = try workspace.enroll(["status", "alice", "--json"] + arguments, environment: environment)
            let code = { (text: String) in (try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])?["error"] as? String }
            #expect(code(json.stdout) == "not_a_number" && code(enrollJSON.stdout) == "not_a_number", "\(json.stdout) / \(enrollJSON.stdout)")
        }
        #expect(!FileManager.default.fileExists(atPath: workspace.database))
    }

    @Test("an empty --db or ENROLL_DB, or one ending in '/', is refused as enroll refuses it (exit 2, one line naming it), by readers and writers alike, and creates nothing")
    func emptyDatabasePath() throws {
        let workspace = try Workspace()
        let tool = try Processes.product("rebuild-projections")
        let slash = "--db ends in '/', which names a directory, not a database file; give the file's path without it, such as enroll.sqlite"
        for (arguments, environment, expected) in [
            (["--db", ""], [String: String](), "--db must not be empty"),
            ([], ["ENROLL_DB": ""], "ENROLL_DB is set but empty; set it to the database's path, or unset it for ./enrollment.sqlite"),
            (["--db", "enroll.sqlite/"], [String: String](), slash),
            ([], ["ENROLL_DB": "enroll.sqlite/"], "ENROLL_DB ends in '/'"),
            (["--db", "enroll.sqlite/."], [String: String](), "--db ends in '/.', which names a directory, not a database file; give the file's path without it, such as enroll.sqlite"),
            ([], ["ENROLL_DB": "enroll.sqlite/x/.."], "ENROLL_DB ends in '/..', which names a directory, not a database file; give the file's path without it, such as enroll.sqlite"),
        ] {
            let result = try Processes.run(tool, arguments + ["--all"], environment: environment, directory: workspace.directory)
            let enroll = try Processes.run(try Processes.product("enroll"), ["status", "alice"] + arguments, environment: environment, directory: workspace.directory)
            let request = try Processes.run(try Processes.product("enroll"), ["request", "alice"] + arguments, environment: environment, directory: workspace.directory)
            #expect(result.status == 2 && enroll.status == 2 && request.status == 2, "\(arguments) \(environment): \(result.stderr) / \(enroll.stderr) / \(request.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1 && result.stderr.contains(expected), "\(result.stderr)")
            #expect(enroll.stderr.contains(expected) && request.stderr.contains(expected), "\(enroll.stderr) / \(request.stderr)")
            #expect(try FileManager.default.contentsOfDirectory(atPath: workspace.directory.path).filter { $0.hasPrefix("enroll") }.isEmpty)
        }
    }

    @Test("projections ahead of the journal (rows deleted from its end) are not rebuilt without --accept-missing-events: exit 3 naming enroll verify, nothing changed, history still reports the loss; with it, rebuilt and the summary says what was dropped")
    func aheadOfTheJournal() throws {
        let workspace = try Workspace()
        for user in ["a", "b", "c"] { #expect(try workspace.enroll(["request", user]).status == 0) }
        #expect(try workspace.enroll(["reveal", "b"]).status == 0)
        _ = try SQLite3.query(workspace.database, "DELETE FROM events WHERE position >= 3")
        let before = try SQLite3.query(workspace.database, "SELECT name || '@' || position FROM projection_checkpoints ORDER BY name")
        let tool = try Processes.product("rebuild-projections")
        for arguments in [["--all"], ["--projection", "authenticators"], ["--all", "--json"]] {
            let refused = try Processes.run(tool, ["--db", workspace.database] + arguments)
            #expect(refused.status == 3, "\(arguments): \(refused.stderr)")
            #expect(refused.stderr.contains("has applied 2 events past the journal's end") && refused.stderr.contains("enroll verify"), "\(refused.stderr)")
            #expect(refused.stderr.contains("--accept-missing-events"), "\(refused.stderr)")
        }
        #expect(try SQLite3.query(workspace.database, "SELECT name || '@' || position FROM projection_checkpoints ORDER BY name") == before)
        #expect(try workspace.enroll(["history", "a"]).status == 1)
        // Stale as well (an upgrade's new schema): --status still leads with the missing events.
        _ = try SQLite3.query(workspace.database, "UPDATE projection_checkpoints SET schema_version = schema_version - 1 WHERE name = 'authenticators'")
        let status = try Processes.run(tool, ["--db", workspace.database, "--status"])
        #expect(status.stdout.contains("ahead of the journal by 2 events: events are missing from the journal; run enroll verify --db \(workspace.database) (also stale (schema v"), "\(status.stdout)")
        let accepted = try Processes.run(tool, ["--db", workspace.database, "--all", "--accept-missing-events"])
        #expect(accepted.status == 0, "\(accepted.stderr)")
        #expect(accepted.stdout.contains("it had applied 2 events past the journal's end, which readers no longer report"), "\(accepted.stdout)")
        #expect(try workspace.enroll(["status", "a"]).status == 0)
    }

    @Test("a projection a newer version wrote: readers ask for an upgrade, the tool refuses it unless --allow-downgrade")
    func newerProjection() throws {
        let workspace = try Workspace()
        try importTraffic(workspace)
        let sqlite3 = try Processes.tool("sqlite3", package: "sqlite3")
        let code = AuthenticatorsProjection().schemaVersion
        try #require(try Processes.run(sqlite3, [workspace.database, "UPDATE projection_checkpoints SET schema_version = 7 WHERE name = 'authenticators'"]).status == 0)
        let rowsBefore = try Processes.run(sqlite3, [workspace.database, "SELECT * FROM authenticators ORDER BY 1"]).stdout

        let reader = try workspace.enroll(["status", "user0001"])
        #expect(reader.status == 3)
        #expect(reader.stderr.split(separator: "\n").count == 1, "\(reader.stderr)")
        #expect(reader.stderr.contains("the authenticators projection was written by a newer version of enroll (schema version 7; this code knows version \(code)); upgrade enroll"), "\(reader.stderr)")
        #expect(!reader.stderr.contains("run `rebuild-projections"), "\(reader.stderr)")

        let tool = try Processes.product("rebuild-projections")
        let status = try Processes.run(tool, ["--db", workspace.database, "--status"])
        #expect(status.stdout.contains("newer (schema v7, code v\(code))"), "\(status.stdout)")

        let refused = try Processes.run(tool, ["--db", workspace.database, "--all"])
        #expect(refused.status == 3, "\(refused.stdout) \(refused.stderr)")
        #expect(refused.stderr.split(separator: "\n").count == 1, "\(refused.stderr)")
        for part in ["authenticators projection", "schema version 7", "version \(code)", "--allow-downgrade"] {
            #expect(refused.stderr.contains(part), "\(part): \(refused.stderr)")
        }
        let after = try Processes.run(sqlite3, [workspace.database, "SELECT schema_version FROM projection_checkpoints WHERE name = 'authenticators'"])
        #expect(after.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "7", "the newer projection must be left alone")
        #expect(try Processes.run(sqlite3, [workspace.database, "SELECT * FROM authenticators ORDER BY 1"]).stdout == rowsBefore)
        #expect(try checkpoint("authenticators_rebuild", in: workspace.database) == nil)

        let help = try Processes.run(tool, ["--help"])
        #expect(help.stdout.contains("--allow-downgrade"))
        #expect(help.stdout.contains("130 or 143 stopped by Ctrl-C or SIGTERM"), "the exit codes an interrupted run gives: \(help.stdout)")
        // Options that change a rebuild mean nothing to --status: refused by name, not ignored.
        for option in ["--restart", "--accept-missing-events", "--allow-downgrade"] {
            let status = try Processes.run(tool, ["--db", workspace.database, "--status", option])
            #expect(status.status == 2 && status.stderr.contains("\(option) goes with --projection NAME or --all; --status changes nothing"), "\(status.stderr)")
        }
        let forced = try Processes.run(tool, ["--db", workspace.database, "--all", "--allow-downgrade"])
        #expect(forced.status == 0, "\(forced.stderr)")
        #expect(try checkpoint("authenticators", in: workspace.database)?.version == code)
        #expect(try workspace.enroll(["status", "user0001"]).status == 0)
    }
}
