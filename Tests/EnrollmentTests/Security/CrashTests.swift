import Enrollment
import Foundation
import OneTimePassword
import Testing
import TestSupport

/// kill -9 at random moments while `enroll` processes run one after another against one file.
@Suite("crashes", .serialized)
struct CrashTests {
    @Test("at least 50 enroll processes killed with SIGKILL mid-command: the journal verifies, nothing is half-written, every projection equals a rebuild")
    func killNine() throws {
        let seed = Self.seed("kill -9 run")
        var random = SplitMix64(seed: seed)
        let workspace = try Workspace()
        let enroll = try Processes.product("enroll")
        let users = ["u0", "u1", "u2", "u3"]
        var now: Int64 = 1_764_421_576
        #expect(try workspace.enroll(["request", "u0"], environment: ["ENROLL_NOW": "\(now)"]).status == 0)

        // How long one command takes here, so that kills land before, during and after its transaction.
        var durations: [TimeInterval] = []
        for _ in 0..<5 {
            let started = Date()
            _ = try workspace.enroll(["reveal", "u0", "--format", "uri"], environment: ["ENROLL_NOW": "\(now)"])
            durations.append(Date().timeIntervalSince(started))
        }
        let typical = durations.sorted()[2]

        var kills = 0, completed = 0, iterations = 0
        let deadline = Date().addingTimeInterval(120)
        while kills < 60 && iterations < 600 && Date() < deadline {
            iterations += 1
            now += 7
            let user = users[Int(random.next() % UInt64(users.count))]
            let arguments: [String]
            switch random.next() % 6 {
            case 0: arguments = ["request", user]
            case 1: arguments = ["regenerate", user]
            case 2: arguments = ["remove", user]
            case 3: arguments = ["reveal", user, "--format", "uri"]
            case 4: arguments = ["confirm", user, "000000"]
            default: arguments = ["confirm", user, try rightCode(for: user, workspace: workspace, at: now) ?? "123456"]
            }
            let process = Process()
            process.executableURL = URL(fileURLWithPath: enroll)
            process.arguments = arguments
            process.environment = ProcessInfo.processInfo.environment.merging([
                "ENROLL_DB": workspace.database, "ENROLL_KEY_FILE": workspace.keyFile, "ENROLL_NOW": "\(now)",
            ]) { $1 }
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            if random.next() % 10 < 7 {
                let delay = typical * 1.2 * Double(random.next() % 1000) / 1000
                Thread.sleep(forTimeInterval: delay)
                kill(process.processIdentifier, SIGKILL)
            }
            process.waitUntilExit()
            if process.terminationReason == .uncaughtSignal {
                kills += 1
                // Right after each crash the chain must verify (this also runs SQLite's recovery).
                let database = try EnrollmentDatabase(path: workspace.database, options: DatabaseOptions(create: false))
                let verification = try database.writer.read { db in try HashChain.verify(in: db) }
                #expect(verification.firstBreak == nil, "after kill \(kills) (seed \(seed)): \(String(describing: verification.firstBreak))")
            } else {
                completed += 1
                #expect(process.terminationStatus <= 3, "\(arguments) exited \(process.terminationStatus) (seed \(seed))")
            }
        }
        print("kill -9 run: seed \(seed), \(iterations) commands, \(kills) killed, \(completed) completed, typical \(Int(typical * 1000)) ms")
        #expect(kills >= 50, "only \(kills) processes were killed mid-command in \(iterations) runs (seed \(seed))")
        #expect(completed > 0)
        let summary = try JournalIntegrity.check(workspace.database)
        #expect(summary.events > 0)
        let verify = try workspace.enroll(["verify"])
        #expect(verify.status == 0, "\(verify.stdout) \(verify.stderr)")
        // The engine still works after all this.
        now += 7
        #expect(try workspace.enroll(["remove", "u0"], environment: ["ENROLL_NOW": "\(now)"]).status <= 1)
        #expect(try workspace.enroll(["request", "u0"], environment: ["ENROLL_NOW": "\(now)"]).status == 0)
    }

    /// The code the pending (else active) secret shows at `time`, read through the library.
    func rightCode(for user: String, workspace: Workspace, at time: Int64) throws -> String? {
        let service = try EnrollmentService.open(
            databasePath: workspace.database, keyFilePath: workspace.keyFile, options: DatabaseOptions(create: false))
        guard let credential = try service.load(user).current, let secret = credential.secret.secret else { return nil }
        return try TOTP.code(secret: secret.bytes, at: time, parameters: credential.parameters)
    }
}

extension CrashTests {
    /// The seed of a test's random moments: `CRASH_SEED` if set, else the time. Printed, so that
    /// a failing run repeats with `CRASH_SEED=<seed>`.
    static func seed(_ test: String) -> UInt64 {
        let seed = UInt64(ProcessInfo.processInfo.environment["CRASH_SEED"] ?? "") ?? UInt64(Date().timeIntervalSince1970)
        print("\(test): seed \(seed) (CRASH_SEED=\(seed) repeats it)")
        return seed
    }

    @Test("enroll killed with SIGKILL while it writes a key file (a first request) or a QR code to --output leaves no second copy of the key or the secret beside them")
    func killNineLeavesNoCopies() throws {
        let seed = Self.seed("kill -9 while writing files")
        var random = SplitMix64(seed: seed)
        let workspace = try Workspace()
        let enroll = try Processes.product("enroll")
        #expect(try workspace.enroll(["request", "alice"]).status == 0)
        for index in 0..<60 {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: enroll)
            process.currentDirectoryURL = workspace.directory
            process.arguments = index % 2 == 0
                ? ["request", "u\(index)", "--db", "new\(index).sqlite", "--key-file", "new\(index).key"]
                : ["reveal", "alice", "--format", "uri", "--output", "qr\(index).uri", "--db", workspace.database, "--key-file", workspace.keyFile]
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            usleep(UInt32(random.next() % 40_000))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: workspace.directory.path)
            .filter { $0.contains(".tmp-") || $0.contains(".partial-") || $0.contains(".link-") }
        #expect(leftovers.isEmpty, "copies left by killed processes (seed \(seed)): \(leftovers)")
    }

    @Test("export --output interrupted by Ctrl-C, SIGTERM (a cron job's timeout) or SIGHUP, at moments spread over its first milliseconds, ends as the signal says, says the file was not written, and leaves no cut FILE.partial-PID beside the file", arguments: [SIGINT, SIGTERM, SIGHUP])
    func interruptedExportLeavesNoPartialFile(_ signal: Int32) throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["import", RebuildTests.trafficJournal]).status == 0)
        func partials() throws -> [String] {
            try FileManager.default.contentsOfDirectory(atPath: workspace.directory.path).filter { $0.contains(".partial-") }
        }
        let seed = Self.seed("interrupted export")
        var random = SplitMix64(seed: seed)
        // A handler that allocated crashed in malloc now and then (SIGABRT, the file left), when
        // the signal came while the command was inside malloc itself: try it a number of times.
        for attempt in 0..<10 {
            let errors = workspace.path("stderr-\(attempt)")
            try #require(FileManager.default.createFile(atPath: errors, contents: nil))
            let process = try startExport(workspace, stderr: try #require(FileHandle(forWritingAtPath: errors)))
            let deadline = Date().addingTimeInterval(20)
            while process.isRunning, Date() < deadline, try partials().isEmpty { usleep(500) }
            if attempt > 0 { usleep(UInt32(random.next() % 10_000)) }
            try #require(process.isRunning, "the export ended before it could be interrupted")
            kill(process.processIdentifier, signal)
            process.waitUntilExit()
            #expect(process.terminationReason == .uncaughtSignal && process.terminationStatus == signal, "attempt \(attempt) (seed \(seed)): status \(process.terminationStatus)")
            let left = try partials()
            #expect(left.isEmpty, "attempt \(attempt) (seed \(seed)): left behind: \(left)")
            let said = try String(contentsOfFile: errors, encoding: .utf8)
            #expect(said == "enroll: interrupted; journal.jsonl was not written (a file of that name is left as it was); run the command again\n", "attempt \(attempt) (seed \(seed)): \(said)")
            #expect(!FileManager.default.fileExists(atPath: workspace.path("journal.jsonl")))
        }
    }

    @Test("an export killed with SIGKILL leaves its FILE.partial-PID, which import refuses as cut (exit 2, nothing created), whether it ends mid-line or at a line boundary")
    func killedExportIsRefusedByImport() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["import", RebuildTests.trafficJournal]).status == 0)
        let process = try startExport(workspace)
        // Killed once part of the journal is written (a 10 000-event export is some 5 MB).
        func partial() throws -> String? {
            try FileManager.default.contentsOfDirectory(atPath: workspace.directory.path).first { $0.contains(".partial-") }
        }
        let deadline = Date().addingTimeInterval(20)
        var written = 0
        while process.isRunning, Date() < deadline {
            if let name = try partial() { written = (try? FileManager.default.attributesOfItem(atPath: workspace.path(name))[.size] as? Int) ?? 0 }
            if written > 100_000 { break }
            usleep(200)
        }
        try #require(process.isRunning && written > 100_000, "the export ended before it could be killed")
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let name = try #require(try partial(), "SIGKILL leaves the partial file")
        let text = try String(contentsOfFile: workspace.path(name), encoding: .utf8)
        // Cut wherever the kill came, and cut at the last line boundary (a copy of whole lines).
        let boundary = workspace.path("boundary.jsonl")
        let lastNewline = try #require(text.lastIndex(of: "\n"))
        try String(text[...lastNewline]).write(toFile: boundary, atomically: true, encoding: .utf8)
        let rows = text.split(separator: "\n", omittingEmptySubsequences: true).count - (text.hasSuffix("\n") ? 0 : 1)
        for (file, codes) in [(workspace.path(name), ["export_unfinished", "malformed_line"]), (boundary, ["export_unfinished"])] {
            let target = workspace.path("copy.sqlite")
            let (result, error) = try workspace.enrollJSON(["import", file, "--db", target])
            #expect(result.status == 2 && codes.contains(error["error"] as? String ?? ""), "\(file): \(result.stdout)\(result.stderr)")
            #expect((error["message"] as? String ?? "").contains("it was cut") || (error["message"] as? String ?? "").contains("the file was cut"), "\(error)")
            #expect(!FileManager.default.fileExists(atPath: target), "a refused import left a database")
        }
        let refused = try workspace.enroll(["import", boundary, "--db", workspace.path("copy.sqlite")])
        #expect(refused.stderr.contains("boundary.jsonl ends after line \(rows) (position \(rows)) without the end line"), "\(refused.stderr)")
    }

    /// `enroll export --output journal.jsonl` of the workspace's journal, started.
    func startExport(_ workspace: Workspace, stderr: FileHandle = .nullDevice) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Processes.product("enroll"))
        process.currentDirectoryURL = workspace.directory
        process.arguments = ["export", "--output", "journal.jsonl", "--db", workspace.database]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = stderr
        try process.run()
        return process
    }
}
