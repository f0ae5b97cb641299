import Foundation
import GRDB

/// The outcome of replaying one fixture file.
public struct FixtureResult: Sendable, Hashable {
    public var name: String
    /// What was checked, for the report: "3 events" or "10412 events, 2 projections".
    public var summary: String
    /// Readable differences between expected and actual, one block per mismatch.
    public var failures: [String]

    public var passed: Bool { failures.isEmpty }
}

/// Replays fixtures: the test suite runs every file under Fixtures/ through it, and so does
/// `enroll replay`.
///
/// - A scenario (`*.json`) folds its `given` events into state, decides its `when` command with
///   the pure ``EnrollmentDecider`` at the fixture's time with the fixture's secrets, and
///   compares the events (exhaustively, in order) and the refusal with `then` and
///   `rejection`. Its events also go through a real journal and the inline projections in an
///   in-memory database, and the user's authenticators row is compared with `state`.
/// - A recorded journal (`*.jsonl`, as `enroll export` writes it) is imported into an
///   in-memory database (hash chain and decoding checked) and every projection table is
///   compared row for row with the sibling `*.expected.json`.
public enum FixtureRunner {
    /// Fixture files under `paths`, in the order given: a file is taken as it is, a directory's
    /// fixtures are found recursively and sorted, and a file named twice runs once.
    public static func discover(_ paths: [String]) throws(FixtureError) -> [String] {
        var files: [String] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                // A path that names nothing (a typo) is kept: replaying it is its ERROR, in its
                // turn, and the fixtures named beside it still run. One that cannot name a file
                // (too long, through a file) stops the command.
                var status = stat()
                if stat(path, &status) != 0 && errno == ENOENT {
                    files.append(path)
                    continue
                }
                throw FixtureError(file: path, reason: "no such file or directory")
            }
            guard isDirectory.boolValue else {
                files.append(path)
                continue
            }
            let base = URL(fileURLWithPath: path)
            let enumerator = FileManager.default.enumerator(at: base, includingPropertiesForKeys: nil)
            var found: [String] = []
            while let url = enumerator?.nextObject() as? URL {
                // An .expected.json with no journal beside it (a scenario saved under that name,
                // or a journal since removed) is run, so its ERROR says so, not passed over.
                let orphan = url.lastPathComponent.hasSuffix(".expected.json")
                    && !FileManager.default.fileExists(atPath: String(url.path.dropLast(".expected.json".count)) + ".jsonl")
                if isFixture(url.lastPathComponent) || orphan { found.append(url.path) }
            }
            files += found.sorted()
        }
        var seen = Set<String>()
        return files.filter { seen.insert(URL(fileURLWithPath: $0).standardizedFileURL.path).inserted }
    }

    /// Scenarios are `.json`, recorded journals `.jsonl`; `*.expected.json` belong to a journal.
    public static func isFixture(_ fileName: String) -> Bool {
        (fileName.hasSuffix(".json") && !fileName.hasSuffix(".expected.json")) || fileName.hasSuffix(".jsonl")
    }

    /// Replays one file. Throws when the file cannot be read or is not a fixture.
    public static func run(path: String, name: String? = nil) throws(FixtureError) -> FixtureResult {
        let name = name ?? path
        var status = stat()
        if lstat(path, &status) != 0 && errno == ENOENT {
            throw FixtureError(file: name, reason: "no such file or directory; check the path", aboutFormat: false)
        }
        if path.hasSuffix(".expected.json") {
            // Named by mistake (tab completion stops at the shared stem): it is not a scenario.
            let journal = String(path.dropLast(".expected.json".count)) + ".jsonl"
            guard FileManager.default.fileExists(atPath: journal) else {
                throw FixtureError(file: name, reason: "a *.expected.json holds the expected tables of a recorded journal, not a scenario, but \(journal) is missing; replay the journal, or rename the scenario")
            }
            throw FixtureError(file: name, reason: "it holds the expected tables of the recorded journal \(journal), not a scenario; replay \(journal)")
        }
        if path.hasSuffix(".jsonl") {
            let expectedPath = String(path.dropLast(".jsonl".count)) + ".expected.json"
            guard let expectedData = FileManager.default.contents(atPath: expectedPath) else {
                throw FixtureError(file: name, reason: "the expected projection state \(expectedPath) is missing; write the tables the journal must produce there, or replay a journal that has one")
            }
            let expectedText = try FixtureJSON.text(of: expectedData, file: name, what: "its .expected.json")
            guard let handle = FileHandle(forReadingAtPath: path) else { throw FixtureError(file: name, reason: "cannot be read (\(String(cString: strerror(errno))))", aboutFormat: false) }
            defer { try? handle.close() }
            return try runJournal(lines: LineReader(handle: handle, path: path), expected: expectedText, name: name)
        }
        return try run(Scenario(json: FixtureJSON.text(of: contents(of: path, name: name), file: name), name: name))
    }

    /// The whole file, read as a stream, so that a pipe (`replay <(…)`, /dev/stdin) is read too;
    /// no more than ``maxScenarioBytes`` (`/dev/zero` is no scenario, and never ends).
    private static func contents(of path: String, name: String) throws(FixtureError) -> Data {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw FixtureError(file: name, reason: "cannot be read (\(String(cString: strerror(errno))))", aboutFormat: false) }
        defer { close(descriptor) }
        var data = Data()
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let count = read(descriptor, &chunk, chunk.count)
            if count < 0 {
                if errno == EINTR { continue }
                throw FixtureError(file: name, reason: "cannot be read (\(String(cString: strerror(errno))))", aboutFormat: false)
            }
            if count == 0 { return data }
            data.append(contentsOf: chunk[0..<count])
            if data.count > maxScenarioBytes {
                throw FixtureError(file: name, reason: "it is longer than \(maxScenarioBytes >> 20) MiB, which no scenario is")
            }
        }
    }

    /// Far more than a scenario holds (a few kilobytes).
    static let maxScenarioBytes = 16 << 20

    // MARK: Scenarios

    public static func run(_ scenario: Scenario) throws(FixtureError) -> FixtureResult {
        var failures: [String] = []
        let state = AuthenticatorState.initial.evolve(scenario.given.map(\.event))
        let fresh = scenario.command.needsFreshSecret ? scenario.secrets.first : nil
        let context = DecisionContext(now: scenario.now, user: scenario.user, freshSecret: fresh, policy: scenario.policy)
        // A code as the user typed it goes through what every interface does first (spaces
        // dropped, 6 to 8 ASCII digits or `invalid_code_format`), so that a scenario's refusal
        // is the one users get.
        var command = scenario.command(after: state), inputRefusal: String?
        if case .confirmCode(let typed) = command {
            do { command = .confirmCode(try Validation.typedCode(typed)) } catch { inputRefusal = error.code }
        }
        let decision = inputRefusal == nil ? EnrollmentDecider.decide(command, state: state, context: context) : Decision(events: [])
        let refusal = inputRefusal ?? decision.rejection?.code

        let expected = scenario.then.map { object in
            JSONValue.object(object.filter { $0.key != "at" && $0.key != "schemaVersion" }).canonicalString
        }
        let actual = decision.events.map { JSONValue.object(FixtureEvent.object(for: $0)).canonicalString }
        if expected != actual {
            failures.append("events differ (- expected, + actual):\n" + diff(expected, actual))
        }
        if refusal != scenario.rejection {
            // A scenario with no `secrets` gives a command that issues one no randomness, which
            // the decider refuses as it refuses a secret it cannot open: said, since the code
            // alone points at a data key.
            let noSecrets = scenario.command.needsFreshSecret && fresh == nil && refusal == EnrollmentRejection.secretUnavailable.code
                ? "\n(the scenario has no \"secrets\": \(scenario.command.name) issues a secret and without one is refused as secret_unavailable; give \"secrets\": [\"BASE32\"] for the secret it is to issue)"
                : ""
            failures.append("refusal differs:\n- \(scenario.rejection ?? "(accepted)")\n+ \(refusal ?? "(accepted)")" + noSecrets)
        }
        if let expectedState = scenario.state {
            do {
                let row = try projectedRow(scenario, decision: decision)
                // (A field the row does not have is refused when the file is read.)
                let keys = expectedState.keys.sorted()
                let want = keys.map { "\($0): \((expectedState[$0] ?? .null).canonicalString)" }
                let got = keys.map { "\($0): \((row[$0] ?? .null).canonicalString)" }
                if want != got { failures.append("authenticators row differs (- expected, + actual):\n" + diff(want, got)) }
            } catch {
                failures.append("the projection could not be built: \(error)")
            }
        }
        return FixtureResult(name: scenario.name, summary: "\(scenario.given.count) given, \(decision.events.count) new event\(decision.events.count == 1 ? "" : "s")", failures: failures)
    }

    /// The user's authenticators row after the given events and the decision, built through a
    /// real journal and the inline projections in an in-memory database. Secrets are not
    /// stored at all (projections never need them).
    static func projectedRow(_ scenario: Scenario, decision: Decision) throws -> [String: JSONValue] {
        let queue = try DatabaseQueue()
        try EnrollmentDatabase.migrator.migrate(queue)
        return try queue.write { db in
            try ProjectionStatus.createMissing(in: db)
            var batches: [([EnrollmentEvent], UnixTime, String)] = scenario.given.enumerated().map { ([$0.element.event], $0.element.at, "given-\($0.offset + 1)") }
            if !decision.badInput { batches.append((decision.events, scenario.now, "when")) }
            var version: Int64 = 0
            for (events, time, commandId) in batches where !events.isEmpty {
                let metadata = EventMetadata(actor: commandId == "when" ? scenario.actor : scenario.user, commandId: commandId)
                let rows = try events.map { event in
                    let encoded = try EventCodec.encode(event) { _ in [] }
                    return NewEvent(eventId: "\(commandId)-\(UUID().uuidString)", type: encoded.type, schemaVersion: encoded.schemaVersion, data: encoded.data, metadata: metadata.recording(event), recordedAt: time)
                }
                let recorded = try EventJournal.append(rows, to: scenario.user, expectedVersion: version, in: db)
                version += Int64(recorded.count)
                try ProjectionStatus.applyInline(Array(zip(events, recorded)), in: db)
            }
            let summary = try AuthenticatorsProjection().read(user: scenario.user, in: db) ?? .none(user: scenario.user)
            let data = try JSONEncoder().encode(summary)
            guard case .object(let object) = try JSONDecoder().decode(JSONValue.self, from: data) else { return [:] }
            return object
        }
    }

    // MARK: Recorded journals

    static func runJournal<Lines: Sequence>(lines: Lines, expected expectedText: String, name: String) throws(FixtureError) -> FixtureResult where Lines.Element == String {
        let shape = FixtureError(file: name, reason: "its .expected.json must be {\"projections\": {NAME: [rows…]}}")
        // As in scenarios: "last one wins" would let the file say one thing to a reader (a row
        // that must be active, a table that must be empty) and check another.
        let parsed: JSONValue
        do {
            parsed = try JSONParser.parse(expectedText, rejectingDuplicates: true)
        } catch {
            if case .duplicateMember(let member, let offset) = error {
                throw FixtureError(file: name, reason: "its .expected.json names the member \"\(member.prefix(40))\" more than once in an object (again at \(FixtureJSON.place(of: offset, in: Array(expectedText.utf8)))); keep one")
            }
            throw FixtureError(file: name, reason: "its .expected.json is not JSON: \(FixtureJSON.reason(error, in: expectedText))")
        }
        guard case .object(let root) = parsed, case .object(let tables)? = root["projections"] else { throw shape }
        if let unknown = root.keys.sorted().first(where: { $0 != "projections" }) {
            throw FixtureError(file: name, reason: "its .expected.json has a member \"\(unknown.prefix(40))\" besides \"projections\"; remove it")
        }
        var expected: [String: [[String: JSONValue]]] = [:]
        for (table, value) in tables {
            guard case .array(let rows) = value else { throw FixtureError(file: name, reason: "projections.\(table) must be a list of rows") }
            expected[table] = try rows.enumerated().map { (index, row) throws(FixtureError) in
                guard case .object(let columns) = row else {
                    throw FixtureError(file: name, reason: "projections.\(table)[\(index)] must be a row, {COLUMN: value, …}")
                }
                return columns
            }
        }
        let actual: [String: ProjectionTable]
        let count: Int64
        do {
            let queue = try DatabaseQueue()
            try EnrollmentDatabase.migrator.migrate(queue)
            // Recorded journals from before exports had end lines carry none; one that is there is checked.
            count = try JournalArchive.importLines(lines, source: name, into: queue, path: ":memory:", requireEnd: false).events
            actual = try queue.read { db in try projectionContents(in: db) }
        } catch ArchiveError.empty {
            // `enroll export` refuses an empty journal, so no export looks like this.
            throw FixtureError(file: name, reason: "it holds no journal rows, and `enroll export` never writes an empty file; export a journal with events")
        } catch let error as ArchiveError {
            // What `enroll import` refuses as bad input (exit 2) is a broken file, not a
            // projection that changed its output: CI must be able to tell the two apart.
            throw FixtureError(file: name, reason: "the journal does not import: \(error.message)")
        } catch let error as StoreError {
            return FixtureResult(name: name, summary: "import refused", failures: ["the journal does not import: \(error.message)"])
        } catch {
            return FixtureResult(name: name, summary: "import refused", failures: ["the journal does not import: \(error)"])
        }
        var failures: [String] = []
        for (table, rows) in expected.sorted(by: { $0.key < $1.key }) {
            guard let got = actual[table] else {
                failures.append("projection \(table) does not exist in this code")
                continue
            }
            // Named like the scenario's `state`: a misspelt column would otherwise only make
            // every row look missing.
            let columns = Set(got.columns)
            let unknown = Set(rows.flatMap(\.keys)).subtracting(columns).sorted()
            if !unknown.isEmpty {
                failures.append("projection \(table): the expected rows name \(unknown.joined(separator: ", ")), which its table does not have; its columns are \(got.columns.sorted().joined(separator: ", "))")
            }
            if let difference = rowDiff(rows, got) { failures.append("projection \(table) differs (- expected, + actual):\n" + difference) }
        }
        for table in actual.keys.sorted() where tables[table] == nil {
            failures.append("projection \(table) has no expected rows in the .expected.json; add them")
        }
        return FixtureResult(name: name, summary: "\(count) events, \(tables.count) projection\(tables.count == 1 ? "" : "s")", failures: failures)
    }

    /// A projection's table as a recorded journal's expected rows are compared with it.
    struct ProjectionTable {
        /// Every column, in the table's order.
        var columns: [String]
        /// The primary key's columns, read from the table (so a new projection needs nothing here).
        var key: [String]
        /// Each row, column name → value (blobs as lowercase hex).
        var rows: [[String: JSONValue]]
    }

    /// Every projection table as sorted canonical JSON rows (column name → value).
    public static func projectionTables(in db: Database) throws -> [String: [String]] {
        try projectionContents(in: db).mapValues { table in table.rows.map { JSONValue.object($0).canonicalString }.sorted() }
    }

    static func projectionContents(in db: Database) throws -> [String: ProjectionTable] {
        var tables: [String: ProjectionTable] = [:]
        for projection in Projections.all {
            let rows = try Row.fetchAll(db, sql: "SELECT * FROM \"\(projection.name)\"")
            tables[projection.name] = ProjectionTable(
                columns: try db.columns(in: projection.name).map(\.name),
                key: try db.primaryKey(projection.name).columns,
                rows: rows.map { row in
                    var object: [String: JSONValue] = [:]
                    for (column, value) in row {
                        switch value.storage {
                        case .null: object[column] = .null
                        case .int64(let number): object[column] = .int(number)
                        case .double(let number): object[column] = .double(number)
                        case .string(let text): object[column] = .string(text)
                        case .blob(let data): object[column] = .string(Hex.string(Array(data)))
                        }
                    }
                    return object
                })
        }
        return tables
    }

    // MARK: Differences

    /// A line diff (longest common subsequence): two spaces for lines in both, `-` expected only, `+` actual only.
    static func diff(_ expected: [String], _ actual: [String]) -> String {
        let n = expected.count, m = actual.count
        var lcs = Array(repeating: Array(repeating: 0, count: m + 1), count: n + 1)
        for i in stride(from: n - 1, through: 0, by: -1) {
            for j in stride(from: m - 1, through: 0, by: -1) {
                lcs[i][j] = expected[i] == actual[j] ? lcs[i + 1][j + 1] + 1 : max(lcs[i + 1][j], lcs[i][j + 1])
            }
        }
        var lines: [String] = []
        var i = 0, j = 0
        while i < n || j < m {
            if i < n, j < m, expected[i] == actual[j] {
                lines.append("  " + expected[i]); i += 1; j += 1
            } else if i < n, j == m || lcs[i + 1][j] >= lcs[i][j + 1] {
                lines.append("- " + expected[i]); i += 1
            } else {
                lines.append("+ " + actual[j]); j += 1
            }
        }
        return lines.joined(separator: "\n")
    }

    /// Expected rows against a table's, paired by the table's primary key: a row both sides
    /// have shows only the columns that differ (one wrong cell among 23 columns reads as that
    /// cell), a row one side lacks shows whole, and a key expected more than once is named (a
    /// table holds one row per key). At most 20 of each kind; nil when the rows agree.
    static func rowDiff(_ expected: [[String: JSONValue]], _ table: ProjectionTable) -> String? {
        func key(_ row: [String: JSONValue]) -> String {
            table.key.map { "\($0) \(row[$0]?.canonicalString ?? "(left out)")" }.joined(separator: ", ")
        }
        func whole(_ row: [String: JSONValue]) -> String { JSONValue.object(row).canonicalString }
        var wanted: [String: [[String: JSONValue]]] = [:]
        for row in expected { wanted[key(row), default: []].append(row) }
        var found: [String: [String: JSONValue]] = [:]
        for row in table.rows { found[key(row)] = row }

        var repeated: [String] = [], differing: [String] = [], missing: [String] = []
        for name in wanted.keys.sorted() {
            let rows = wanted[name] ?? []
            if rows.count > 1 { repeated.append("row \(name) is expected \(rows.count) times; a table holds one row per key") }
            guard let actual = found[name] else {
                missing += rows.map { "- " + whole($0) }
                continue
            }
            var seen: Set<String> = []
            for row in rows where seen.insert(whole(row)).inserted {
                var lines = ["row \(name):"]
                for column in table.columns.sorted() where row[column] != actual[column] {
                    let got = actual[column] ?? .null
                    var want = row[column]?.canonicalString ?? "(left out)"
                    // SQLite has no boolean type: a flag is stored as 0 or 1, and `false` would
                    // otherwise look like the right value.
                    if case .bool? = row[column], case .int = got { want += " (SQLite has no booleans: write 0 or 1)" }
                    lines += ["- \(column): \(want)", "+ \(column): \(got.canonicalString)"]
                }
                if lines.count > 1 { differing.append(lines.joined(separator: "\n")) }
            }
        }
        let unexpected = found.keys.filter { wanted[$0] == nil }.sorted().compactMap { found[$0].map { "+ " + whole($0) } }
        guard !(repeated.isEmpty && differing.isEmpty && missing.isEmpty && unexpected.isEmpty) else { return nil }
        var lines = ["\(expected.count) rows expected, \(table.rows.count) found; \(missing.count) missing, \(unexpected.count) unexpected, \(differing.count) with other values"]
        lines += repeated.prefix(20)
        lines += differing.prefix(20)
        lines += missing.prefix(20)
        lines += unexpected.prefix(20)
        return lines.joined(separator: "\n")
    }

    /// For large sorted row sets: the rows only one side has (at most 20 of each).
    static func setDiff(_ expected: [String], _ actual: [String]) -> String {
        let want = Set(expected), got = Set(actual)
        let missing = expected.filter { !got.contains($0) }
        let extra = actual.filter { !want.contains($0) }
        var lines = ["\(expected.count) rows expected, \(actual.count) found; \(missing.count) missing, \(extra.count) unexpected"]
        lines += missing.prefix(20).map { "- " + $0 }
        lines += extra.prefix(20).map { "+ " + $0 }
        return lines.joined(separator: "\n")
    }
}
