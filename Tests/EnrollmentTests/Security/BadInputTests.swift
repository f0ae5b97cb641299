import Foundation
import Testing
import TestSupport

/// One row of the README's bad-input table (the table is the single source of these cases).
struct BadInputCase: Sendable, CustomTestStringConvertible {
    var input: String
    var command: String
    var exitCode: Int32
    var message: String

    var testDescription: String { input }

    /// The rows between `<!-- bad-input:begin -->` and `<!-- bad-input:end -->` in README.md.
    static let all: [BadInputCase] = {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("README.md")
        guard let text = try? String(contentsOf: readme, encoding: .utf8),
              let begin = text.range(of: "<!-- bad-input:begin -->"),
              let end = text.range(of: "<!-- bad-input:end -->", range: begin.upperBound..<text.endIndex)
        else { return [] }
        return text[begin.upperBound..<end.lowerBound].split(separator: "\n").dropFirst(2).compactMap { line in
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).dropFirst().dropLast()
                .map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count == 4, let exit = Int32(cells[2]) else { return nil }
            let command = cells[1].hasPrefix("`") && cells[1].hasSuffix("`") ? String(cells[1].dropFirst().dropLast()) : cells[1]
            return BadInputCase(input: cells[0], command: command, exitCode: exit, message: cells[3])
        }
    }()
}

/// Every file in `directory` with its bytes: what a refused command must leave untouched.
func directorySnapshot(_ directory: URL) -> [String: Data] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    var files: [String: Data] = [:]
    for name in names {
        files[name] = FileManager.default.contents(atPath: directory.appendingPathComponent(name).path)
    }
    return files
}

/// Bad input of every kind the README lists: one line naming the problem and what to do, the
/// documented exit code, and not one byte changed in the database or key files.
@Suite("bad input")
struct BadInputTests {
    static let now: Int64 = 1_764_421_576

    @Test("the README's table has a row for every kind of bad input the issue lists")
    func tableIsComplete() {
        let inputs = BadInputCase.all.map(\.input)
        #expect(inputs.count >= 40, "README.md bad-input table not found or too short")
        for kind in ["code: letters", "code: too short", "code: Arabic-Indic digits", "code: full-width digits", "code: only spaces",
                     "code: dash inside", "code: empty", "code: 10 000 digits", "user: empty", "user: over 256 bytes",
                     "user: control character", "user: invalid UTF-8", "user: path separator", "option: unsupported algorithm",
                     "option: 5 digits", "option: 9 digits", "option: period zero", "option: period negative",
                     "option: period absurdly large", "option: issuer with ':'", "file: database is not SQLite",
                     "file: truncated database", "file: journal from a newer schema", "file: key file of the wrong length",
                     "file: fixture that is not JSON", "file: fixture that is JSON of the wrong shape"] {
            #expect(inputs.contains(kind), "no README row for \(kind)")
        }
    }

    /// A directory where alice has a pending secret, with the odd files the table refers to.
    static func prepare() throws -> Workspace {
        let workspace = try Workspace()
        let request = try workspace.enroll(["request", "alice"], environment: ["ENROLL_NOW": "\(now)"])
        #expect(request.status == 0, "setup failed: \(request.stderr)")
        let database = try Data(contentsOf: URL(fileURLWithPath: workspace.database))
        try Data("this is not a database\n".utf8).write(to: URL(fileURLWithPath: workspace.path("not-a-database.sqlite")))
        try database.prefix(database.count / 2).write(to: URL(fileURLWithPath: workspace.path("truncated.sqlite")))
        try database.write(to: URL(fileURLWithPath: workspace.path("newer.sqlite")))
        let sqlite = try Processes.tool("sqlite3", package: "sqlite3")
        let newer = try Processes.run(sqlite, [workspace.path("newer.sqlite"), "INSERT INTO grdb_migrations VALUES ('v99-from-the-future')"])
        #expect(newer.status == 0, "\(newer.stderr)")
        let foreign = try Processes.run(sqlite, [workspace.path("foreign.sqlite"), "CREATE TABLE important(x); INSERT INTO important VALUES ('precious')"])
        #expect(foreign.status == 0, "\(foreign.stderr)")
        try FileManager.default.createSymbolicLink(atPath: workspace.path("loop1.sqlite"), withDestinationPath: "loop2.sqlite")
        try FileManager.default.createSymbolicLink(atPath: workspace.path("loop2.sqlite"), withDestinationPath: "loop1.sqlite")
        try FileManager.default.createSymbolicLink(atPath: workspace.path("dangling-dir.sqlite"), withDestinationPath: "/nonexistent-enroll-dir/x.sqlite")
        // Another application built on GRDB keeps its own migrations in a grdb_migrations table.
        let grdbApp = try Processes.run(sqlite, [workspace.path("grdb-app.sqlite"), "CREATE TABLE grdb_migrations(identifier TEXT PRIMARY KEY); INSERT INTO grdb_migrations VALUES ('createUsers'); CREATE TABLE users(x)"])
        #expect(grdbApp.status == 0, "\(grdbApp.stderr)")
        try Data((Data(repeating: 7, count: 16).base64EncodedString() + "\n").utf8).write(to: URL(fileURLWithPath: workspace.path("short.key")))
        try Data("not a key!\n".utf8).write(to: URL(fileURLWithPath: workspace.path("garbage.key")))
        try Data().write(to: URL(fileURLWithPath: workspace.path("empty.key")))
        try Data((Data((0..<32).map { UInt8($0) }).base64EncodedString() + "\n").utf8).write(to: URL(fileURLWithPath: workspace.path("other.key")))
        try Data("not json {\n".utf8).write(to: URL(fileURLWithPath: workspace.path("not-json.json")))
        try Data("{\"given\": 5}\n".utf8).write(to: URL(fileURLWithPath: workspace.path("wrong-shape.json")))
        try Data("[1, 2]\n".utf8).write(to: URL(fileURLWithPath: workspace.path("array.json")))
        // An export cut at a line boundary: its first row without the rest or the end line.
        let export = try workspace.enroll(["export"])
        #expect(export.status == 0, "setup failed: \(export.stderr)")
        try Data((export.stdout.split(separator: "\n")[0] + "\n").utf8).write(to: URL(fileURLWithPath: workspace.path("cut.jsonl")))
        return workspace
    }

    @Test("a path with a line break or a terminal escape echoed in an error is shown escaped: still one line (no forged second message), no escape sequence reaching the terminal; enroll and rebuild-projections alike")
    func echoedControlCharactersAreEscaped() throws {
        let workspace = try Self.prepare()
        let path = workspace.path("x\u{1B}[31mRED\nenroll: note: fake.sqlite")
        for (tool, arguments) in [("enroll", ["status", "alice", "--db", path]), ("rebuild-projections", ["--db", path, "--all"])] {
            let result = try Processes.run(try Processes.product(tool), arguments, directory: workspace.directory)
            #expect(result.status == 3, "\(tool): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1 && !result.stderr.contains("\u{1B}"), "\(tool): \(result.stderr.debugDescription)")
            #expect(result.stderr.contains("x\\u001b[31mRED\\nenroll: note: fake.sqlite"), "\(tool): \(result.stderr.debugDescription)")
        }
    }

    @Test("a 100 000-character argument echoed in an error is cut (its start and end kept), so one bad argument cannot flood a log; the line still ends with its remedy")
    func longArgumentsAreCut() throws {
        let workspace = try Self.prepare()
        let long = String(repeating: "a", count: 100_000)
        for (arguments, remedy) in [
            (["audit", "--type", long], "use one of EnrollmentRequested"),
            (["status", "alice", "--db", workspace.path(long)], "give a shorter path"),
            (["history", "alice", "--db", "/" + Array(repeating: "dir", count: 2_000).joined(separator: "/") + "/x.sqlite"], "give a shorter path"),
            (["confirm", "alice", "123456", "--key-file", long], "--key-file"),
            (["replay", long], "Fixtures/README.md"),
            (["audit", "--type", long, "--json"], "use one of EnrollmentRequested"),
        ] {
            let result = try workspace.enroll(arguments)
            #expect(result.status != 0)
            let output = arguments.contains("--json") ? result.stdout : result.stderr
            #expect(output.utf8.count < 1_000, "\(arguments.prefix(2)): \(output.utf8.count) bytes")
            #expect(output.contains(remedy), "\(arguments.prefix(2)): \(output.prefix(600))")
            if arguments.contains(long) { #expect(output.contains("aaa…aaa"), "\(arguments.prefix(2)): \(output.prefix(600))") }
        }
    }

    @Test("bad input is refused with one line, the documented exit code, and no byte changed", arguments: BadInputCase.all)
    func refused(_ row: BadInputCase) throws {
        let workspace = try Self.prepare()
        let before = directorySnapshot(workspace.directory)
        let bash = try Processes.tool("bash", package: "bash")
        let path = Processes.productsDirectory.path + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        let result = try Processes.run(bash, ["-c", row.command], environment: [
            "PATH": path, "ENROLL_DB": workspace.database, "ENROLL_KEY_FILE": workspace.keyFile, "ENROLL_NOW": "\(Self.now)",
        ], directory: workspace.directory)

        #expect(result.status == row.exitCode, "exit \(result.status), stderr: \(result.stderr)")
        let lines = result.stderr.split(separator: "\n", omittingEmptySubsequences: false).filter { !$0.isEmpty }
        if row.command.hasPrefix("enroll replay") {
            // replay reports each file on stdout, one line per problem.
            #expect(result.stdout.split(separator: "\n").contains { $0.contains(row.message) }, "stdout: \(result.stdout)")
            #expect(lines.count <= 1, "stderr: \(result.stderr)")
        } else {
            #expect(lines.count == 1, "expected one line on stderr, got: \(result.stderr)")
            #expect(result.stderr.hasPrefix("enroll: error: "))
            #expect(result.stderr.contains(row.message), "stderr: \(result.stderr)")
        }
        #expect(!result.stderr.contains("Fatal error"))
        let after = directorySnapshot(workspace.directory)
        #expect(Set(after.keys) == Set(before.keys), "files appeared or vanished: \(Set(after.keys).symmetricDifference(before.keys))")
        for (name, bytes) in before {
            #expect(after[name] == bytes, "\(name) changed")
        }
    }
}
