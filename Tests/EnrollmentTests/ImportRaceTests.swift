import Foundation
import Testing
import TestSupport

/// `enroll import` into a new path while other processes create a database there
/// (findings-20 F6): a refused import must never remove a database it did not fill.
///
/// The export is fed through a FIFO, so each import is held at a known point (it has set up
/// its database and waits for the file's lines) while the other process acts.
@Suite("Import races")
struct ImportRaceTests {
    /// A workspace with a journal of a few users and its export, as `enroll export` wrote it.
    func exported() throws -> (Workspace, export: String, anchor: String) {
        let workspace = try Workspace()
        for (offset, user) in ["alice", "bob", "carol"].enumerated() {
            let result = try workspace.enroll(["request", user], environment: ["ENROLL_NOW": "\(1_790_000_000 + offset)"])
            try #require(result.status == 0, "\(result.stderr)")
        }
        let export = workspace.path("journal.jsonl")
        let (result, json) = try workspace.enrollJSON(["export", "--output", export])
        try #require(result.status == 0, "\(result.stderr)")
        return (workspace, export, try #require(json["anchor"] as? String))
    }

    /// `enroll import FIFO --db PATH --json`, started now on another thread; `wait()` gives its result.
    final class BackgroundImport: @unchecked Sendable {
        private let done = DispatchSemaphore(value: 0)
        private var result: Result<Processes.Result, any Error> = .failure(CancellationError())

        init(_ workspace: Workspace, source: String, into database: String) {
            nonisolated(unsafe) let workspace = workspace
            DispatchQueue.global().async {
                self.result = Result { try workspace.enroll(["import", source, "--db", database, "--json"]) }
                self.done.signal()
            }
        }

        func wait() throws -> Processes.Result {
            done.wait()
            return try result.get()
        }
    }

    /// Writes `file` into the FIFO at `path` (blocks until the reader has opened it) and closes it.
    func feed(_ path: String, with file: String) throws {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: file))
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.write(contentsOf: bytes)
        try handle.close()
    }

    /// Waits until a file whose name starts with `prefix` appears in the workspace (the
    /// import has created its database, under its own name or a temporary one).
    func waitForFile(startingWith prefix: String, in workspace: Workspace) throws {
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            let names = try FileManager.default.contentsOfDirectory(atPath: workspace.directory.path)
            if names.contains(where: { $0.hasPrefix(prefix) }) { return }
            usleep(5_000)
        }
        Issue.record("no file named \(prefix)… appeared within 20 s")
        throw CancellationError()
    }

    func leftovers(of name: String, in workspace: Workspace) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: workspace.directory.path).filter { $0.hasPrefix(name + ".import-") }
    }

    @Test("an import into a new path that a command fills meanwhile is refused (exit 2) and leaves that database as the command wrote it; nothing of the import is left behind")
    func commandWinsTheNewPath() throws {
        let (workspace, export, _) = try exported()
        let fifo = workspace.path("feed.fifo")
        try #require(mkfifo(fifo, 0o600) == 0)
        let target = workspace.path("new.sqlite")
        let key = workspace.path("new.key")
        let importing = BackgroundImport(workspace, source: fifo, into: target)
        // The import has set up its database and waits for the export's lines.
        try waitForFile(startingWith: "new.sqlite", in: workspace)
        let request = try workspace.enroll(["request", "dora", "--db", target, "--key-file", key], environment: ["ENROLL_NOW": "1790000100"])
        try #require(request.status == 0, "\(request.stderr)")
        try feed(fifo, with: export)
        let refused = try importing.wait()

        #expect(refused.status == 2, "\(refused.stdout)\(refused.stderr)")
        #expect(refused.stdout.contains("\"error\":\"database_created_meanwhile\""), "\(refused.stdout)")
        #expect(refused.stdout.contains("new.sqlite was created by another process while this import ran") && !refused.stdout.contains(".import-"), "\(refused.stdout)")
        // dora's request is still there, read by the sqlite3 shell and by enroll.
        #expect(FileManager.default.fileExists(atPath: target), "the refused import removed the database the request created")
        #expect(try SQLite3.query(target, "SELECT stream_id || ' ' || type FROM events ORDER BY position") == "dora EnrollmentRequested")
        let status = try workspace.enroll(["status", "dora", "--db", target, "--key-file", key])
        #expect(status.status == 0 && status.stdout.contains("user: dora"), "\(status.stdout)\(status.stderr)")
        #expect(try leftovers(of: "new.sqlite", in: workspace).isEmpty)
        // Importing into it again (it exists and holds an event): refused, and still left alone.
        let again = try workspace.enroll(["import", export, "--db", target])
        #expect(again.status == 2 && again.stderr.contains("already holds 1 event; import only into a new database"), "\(again.stderr)")
        #expect(try SQLite3.query(target, "SELECT count(*) FROM events") == "1")
    }

    @Test("of two imports into one new path at once, the first to finish keeps it (exit 0, its anchor verifies) and the second is refused (exit 2) without removing it")
    func twoImportsOneNewPath() throws {
        let (workspace, export, anchor) = try exported()
        let first = workspace.path("first.fifo"), second = workspace.path("second.fifo")
        try #require(mkfifo(first, 0o600) == 0 && mkfifo(second, 0o600) == 0)
        let target = workspace.path("new.sqlite")
        let winner = BackgroundImport(workspace, source: first, into: target)
        let loser = BackgroundImport(workspace, source: second, into: target)
        // Both have started (neither found a database at the path) and wait for their lines.
        let deadline = Date().addingTimeInterval(20)
        while try leftovers(of: "new.sqlite", in: workspace).filter({ $0.split(separator: "-").last?.allSatisfy(\.isNumber) == true }).count < 2 {
            if Date() >= deadline {
                // End the imports waiting for their lines (an empty file) rather than leave them.
                for fifo in [first, second] { close(open(fifo, O_WRONLY | O_NONBLOCK)) }
                Issue.record("the two imports did not both start within 20 s")
                return
            }
            usleep(5_000)
        }
        try feed(first, with: export)
        let won = try winner.wait()
        #expect(won.status == 0 && won.stdout.contains("\"anchor\":\"\(anchor)\""), "\(won.stdout)\(won.stderr)")
        try feed(second, with: export)
        let lost = try loser.wait()
        #expect(lost.status == 2 && lost.stdout.contains("\"error\":\"database_created_meanwhile\""), "\(lost.stdout)\(lost.stderr)")

        #expect(FileManager.default.fileExists(atPath: target), "the refused import removed the database the other import created")
        let verified = try workspace.enroll(["verify", "--db", target, "--anchor", anchor])
        #expect(verified.status == 0 && verified.stdout.hasPrefix("Verified 3 events"), "\(verified.stdout)\(verified.stderr)")
        #expect(try leftovers(of: "new.sqlite", in: workspace).isEmpty)
    }

    /// `enroll import FIFO --db new.sqlite --json` started (through bash, which first runs
    /// `prelude`), its export's first line fed, once it has set its database up aside.
    func startImport(_ workspace: Workspace, export: String, prelude: String = "", waitingFor started: String = "new.sqlite.import-") throws -> (Process, writer: FileHandle, stdout: Pipe, stderr: Pipe) {
        let fifo = workspace.path("feed.fifo")
        try #require(mkfifo(fifo, 0o600) == 0)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Processes.tool("bash", package: "bash"))
        process.arguments = ["-c", prelude + #"exec "$0" "$@""#, try Processes.product("enroll"), "import", fifo, "--db", workspace.path("new.sqlite"), "--json"]
        let stdout = Pipe(), stderr = Pipe()
        (process.standardOutput, process.standardError) = (stdout, stderr)
        try process.run()
        let writer = try #require(FileHandle(forWritingAtPath: fifo))  // once the import opens it
        let first = try #require(try String(contentsOfFile: export, encoding: .utf8).split(separator: "\n").first)
        try writer.write(contentsOf: Data((first + "\n").utf8))
        try waitForFile(startingWith: started, in: workspace)
        return (process, writer, stdout, stderr)
    }

    @Test("an import into an empty file, interrupted while it reads, says the file now holds an enrollment database with no events (it was given the journal's schema first), not that it was left as it was")
    func interruptedImportIntoEmptyFile() throws {
        let (workspace, export, _) = try exported()
        #expect(FileManager.default.createFile(atPath: workspace.path("new.sqlite"), contents: Data()))
        // Filled in place: its write-ahead log appears once it has the schema.
        let (process, writer, _, stderr) = try startImport(workspace, export: export, waitingFor: "new.sqlite-wal")
        kill(process.processIdentifier, SIGINT)
        process.waitUntilExit()
        try writer.close()
        let said = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(said == "enroll: interrupted; nothing was imported: \(workspace.path("new.sqlite")) now holds an enrollment database with no events; run the same command again\n", "\(said)")
        let audit = try workspace.enroll(["audit", "--db", workspace.path("new.sqlite")])
        #expect(audit.status == 0 && audit.stdout == "No events match.\n", "\(audit.stdout)\(audit.stderr)")
    }

    @Test("an import interrupted by Ctrl-C, SIGTERM or SIGHUP while it reads says in one line that nothing was imported (with --json, also as one JSON object), creates no database and leaves nothing beside it", arguments: [SIGINT, SIGTERM, SIGHUP])
    func interruptedImport(_ signal: Int32) throws {
        let (workspace, export, _) = try exported()
        let (process, writer, stdout, stderr) = try startImport(workspace, export: export)
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        try writer.close()
        #expect(process.terminationReason == .uncaughtSignal && process.terminationStatus == signal, "status \(process.terminationStatus)")
        let said = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let message = "interrupted; nothing was imported, and no database was created at \(workspace.path("new.sqlite")); run the same command again"
        #expect(said == "enroll: \(message)\n", "\(said)")
        let json = String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: String]
        #expect(object == ["error": "interrupted", "message": message], "\(json)")
        #expect(!FileManager.default.fileExists(atPath: workspace.path("new.sqlite")))
        #expect(try leftovers(of: "new.sqlite", in: workspace).isEmpty)
    }

    @Test("an import started with SIGHUP ignored (nohup, a closed terminal) is not ended by it: it imports the whole file")
    func importUnderNohup() throws {
        let (workspace, export, anchor) = try exported()
        let (process, writer, stdout, _) = try startImport(workspace, export: export, prelude: "trap '' HUP; ")
        kill(process.processIdentifier, SIGHUP)
        usleep(200_000)
        #expect(process.isRunning, "SIGHUP ended an import started with it ignored")
        let rest = try String(contentsOfFile: export, encoding: .utf8).split(separator: "\n").dropFirst().map { $0 + "\n" }.joined()
        try writer.write(contentsOf: Data(rest.utf8))
        try writer.close()
        process.waitUntilExit()
        let json = String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationReason == .exit && process.terminationStatus == 0 && json.contains("\"anchor\":\"\(anchor)\""), "\(process.terminationStatus): \(json)")
    }
}
