import Enrollment
import Foundation

/// One comparison: the engine's figure, its baseline's, and the goal for their ratio.
struct Comparison {
    var name: String
    var ours: Double
    var baseline: Double
    var baselineName: String
    var unit: String
    /// Goal on ours/baseline: at least `goal` when `higherIsBetter`, else at most.
    var goal: Double?
    var higherIsBetter = true

    var ratio: Double { ours / baseline }
    var met: Bool? {
        guard let goal, ratio.isFinite else { return nil }
        return higherIsBetter ? ratio >= goal : ratio <= goal
    }
}

struct Benchmark {
    let options: Options
    var smoke: Bool { options.smoke }
    var repetitions: Int { options.repetitions ?? (smoke ? 1 : 3) }
    var users: Int { options.users ?? (smoke ? 20 : 10_000) }
    /// The one-writer FULL run: the issue's 10 000 users too (`--full-users` shortens it on a
    /// slow shared disk, where every command waits for an fsync of milliseconds).
    var fullUsers: Int { options.fullUsers ?? users }
    var clients: Int { options.clients ?? (smoke ? 4 : 64) }
    var journalEvents: Int { options.journalEvents ?? (smoke ? 2_000 : 1_000_000) }
    /// The large journal's users: 10 000 for a million events (100 events each).
    var journalUsers: Int { max(1, min(10_000, journalEvents / 20)) }
    var verifications: Int { smoke ? 2_000 : 300_000 }

    /// The options by which a full run departs from the issue's sizes (10 000 users, a
    /// 1 000 000-event journal, 64 clients, at least 3 repetitions): its ratios do not compare
    /// with those BENCHMARKS.md holds, and the table says so.
    var departures: [String] {
        guard !smoke else { return [] }
        var changed: [String] = []
        if users != 10_000 { changed.append("--users \(users)") }
        if fullUsers != users { changed.append("--full-users \(fullUsers)") }
        if journalEvents != 1_000_000 { changed.append("--journal-events \(journalEvents)") }
        if clients != 64 { changed.append("--clients \(clients)") }
        if repetitions < 3 { changed.append("--repetitions \(repetitions)") }
        return changed
    }

    func log(_ text: String) {
        FileHandle.standardError.write(Data("[\(Timestamp.now)] \(text)\n".utf8))
    }

    enum Timestamp {
        static var now: String {
            let formatter = DateFormatter()
            formatter.dateFormat = "HH:mm:ss"
            return formatter.string(from: Date())
        }
    }

    func run() async throws {
        // The temporary directory, unless it is on tmpfs (Debian 13's /tmp, say): then beside the
        // current directory, where the repository's disk is.
        let temporary = FileManager.default.temporaryDirectory.path
        let scratch = Machine.inMemory(Machine.fileSystem(of: temporary)) ? FileManager.default.currentDirectoryPath : temporary
        let work = options.work ?? URL(fileURLWithPath: scratch).appendingPathComponent(".enroll-benchmark-\(getpid())").path
        // Judged where the directory is or would be made, before anything is made there.
        let fileSystem = Machine.fileSystem(of: Machine.nearestExisting(work))
        if Machine.inMemory(fileSystem) && !smoke {
            throw BenchmarkError("the work directory \(work) is on \(fileSystem) (memory): an fsync there reaches no disk, so no FULL figure would be durable; pass --work DIR with a directory on a disk")
        }
        try FileManager.default.createDirectory(atPath: work, withIntermediateDirectories: true)
        defer { if options.work == nil { try? FileManager.default.removeItem(atPath: work) } }
        Interruption.handle(removing: options.work == nil ? work : nil)
        let rawHMAC = options.peers + "/raw_hmac", rawSQLite = options.peers + "/raw_sqlite"
        let enroll = options.enroll ?? URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("enroll").path
        guard FileManager.default.isExecutableFile(atPath: enroll) else { throw BenchmarkError("no enroll binary at \(enroll); build it or pass --enroll PATH") }

        var figures: [String: Any] = [:]
        var comparisons: [Comparison] = []
        var machine = Machine.describe()
        machine["work_file_system"] = fileSystem
        log("machine: \(Machine.summary(machine))")

        // 1. TOTP verification against raw HMAC with a keyed context (three HMACs per ±1 window).
        log("TOTP verification")
        _ = try Workloads.totpVerificationsPerSecond(verifications / 10)  // warm-up
        var totp: [Double] = [], hmac: [Double] = []
        for _ in 0..<repetitions {
            totp.append(try Workloads.totpVerificationsPerSecond(verifications))
            let raw = try runJSON(rawHMAC, ["SHA1", String(verifications * 3)])
            hmac.append(try number(raw, "keyed_context_reinit_per_s"))
        }
        figures["totp_verifications_per_s"] = median(totp)
        figures["raw_hmac_keyed_per_s"] = median(hmac)
        comparisons.append(Comparison(
            name: "TOTP verify (±1) vs raw HMAC/3", ours: median(totp), baseline: median(hmac) / 3,
            baselineName: "raw_hmac keyed/3", unit: "verif/s", goal: 0.6))

        // 2. One writer, request + confirm per user, against raw single-row inserts.
        for durability in [Durability.full, .normal] {
            let users = durability == .full ? fullUsers : users
            log("one writer at \(durability.rawValue): \(users) users, \(2 * users) commands")
            _ = try Workloads.oneWriter(path: work + "/warmup.sqlite", durability: durability, users: max(1, users / 20))
            var ours: [Double] = [], raw: [Double] = []
            for repetition in 0..<repetitions {
                let level = durability == .full ? "2" : "1"
                raw.append(try number(try runJSON(rawSQLite, [work + "/raw-\(repetition).sqlite", String(2 * users), "1", level]), "append_rows_per_s"))
                ours.append(try Workloads.oneWriter(path: work + "/one-writer-\(repetition).sqlite", durability: durability, users: users))
            }
            let key = durability.rawValue.lowercased()
            figures["one_writer_\(key)_commands_per_s"] = median(ours)
            figures["raw_sqlite_\(key)_rows_per_s"] = median(raw)
            figures["one_writer_\(key)_users"] = users
            comparisons.append(Comparison(
                name: "commands/s one writer \(durability.rawValue) vs raw inserts", ours: median(ours), baseline: median(raw),
                baselineName: "raw_sqlite 1 row/txn", unit: "cmd/s", goal: durability == .full ? 0.7 : 0.4))
        }

        // 3. Many concurrent callers through the group-commit handler at FULL.
        log("\(clients) concurrent clients at FULL (group commit)")
        _ = try await Workloads.concurrent(path: work + "/warmup.sqlite", clients: clients, users: max(clients, users / 20))
        var concurrent: [Workloads.Concurrent] = [], rawBeside: [Double] = []
        for repetition in 0..<repetitions {
            // The raw FULL rate again right before: a shared disk's fsync time changes by the minute.
            rawBeside.append(try number(try runJSON(rawSQLite, [work + "/raw-gc-\(repetition).sqlite", String(2 * fullUsers), "1", "2"]), "append_rows_per_s"))
            concurrent.append(try await Workloads.concurrent(path: work + "/concurrent-\(repetition).sqlite", clients: clients, users: users))
        }
        let concurrentRate = median(concurrent.map(\.commandsPerSecond))
        figures["group_commit_full_commands_per_s"] = concurrentRate
        figures["group_commit_p50_ms"] = median(concurrent.map(\.p50)) * 1000
        figures["group_commit_p99_ms"] = median(concurrent.map(\.p99)) * 1000
        figures["group_commit_clients"] = clients
        let rawFull = median(rawBeside)
        figures["raw_sqlite_full_rows_per_s_beside_group_commit"] = rawFull
        comparisons.append(Comparison(
            name: "\(clients) clients FULL, group commit vs raw inserts", ours: concurrentRate, baseline: rawFull,
            baselineName: "raw_sqlite FULL 1 row/txn", unit: "cmd/s", goal: 6))

        // 4. Projection rebuild of a large journal, in a child process, against a raw ordered scan.
        let big = work + "/journal-big.sqlite", small = work + "/journal-small.sqlite", tiny = work + "/journal-tiny.sqlite"
        log("building three journals to rebuild: \(journalEvents) events (\(journalUsers) users), \(journalEvents / 10) and \(journalEvents / 100)")
        let perUser = max(2, journalEvents / journalUsers)
        let generation = try seconds { try JournalFixture.make(path: big, users: journalUsers, eventsPerUser: perUser) }
        figures["fixture_build_seconds"] = generation
        try JournalFixture.make(path: small, users: journalUsers, eventsPerUser: max(2, perUser / 10))
        try JournalFixture.make(path: tiny, users: max(1, journalUsers / 10), eventsPerUser: max(2, perUser / 10))
        let me = CommandLine.arguments[0]
        func rebuild(_ path: String, _ projection: String = AuthenticatorsProjection().name) throws -> [String: Any] {
            try runJSON(me, ["rebuild-child", path, projection])
        }
        log("rebuilding the projection")
        var rebuildRates: [Double] = [], cpuRates: [Double] = [], scanRates: [Double] = [], peaks: [Double] = [], smallPeaks: [Double] = []
        _ = try rebuild(tiny)
        for _ in 0..<repetitions {
            let result = try rebuild(big)
            rebuildRates.append(try number(result, "events_per_s"))
            cpuRates.append(try number(result, "events_per_cpu_s"))
            peaks.append(try number(result, "peak_memory_mb"))
            scanRates.append(try RawScan.rowsPerSecond(path: big))
            smallPeaks.append(try number(try rebuild(small), "peak_memory_mb"))
        }
        figures["rebuild_events"] = perUser * journalUsers
        figures["rebuild_events_per_s"] = median(rebuildRates)
        figures["rebuild_events_per_cpu_s"] = median(cpuRates)
        figures["raw_scan_rows_per_s"] = median(scanRates)
        figures["rebuild_peak_memory_mb_large"] = peaks.max() ?? .nan
        figures["rebuild_peak_memory_mb_small"] = smallPeaks.max() ?? .nan
        comparisons.append(Comparison(
            name: "rebuild \(perUser * journalUsers) events vs raw ordered scan", ours: median(rebuildRates), baseline: median(scanRates),
            baselineName: "raw SQLite scan", unit: "events/s", goal: 0.3))
        comparisons.append(Comparison(
            name: "rebuild peak memory, \(perUser * journalUsers) events, absolute", ours: peaks.max() ?? .nan, baseline: 150,
            baselineName: "150 MB", unit: "MB", goal: 1, higherIsBetter: false))
        comparisons.append(Comparison(
            name: "rebuild peak memory, \(perUser * journalUsers) vs \(perUser / 10 * journalUsers) events", ours: peaks.max() ?? .nan,
            baseline: smallPeaks.max() ?? .nan, baselineName: "smaller journal", unit: "MB", goal: 1.2, higherIsBetter: false))

        // 5. Growth: confirm latency on a small and a large journal; status as a whole process.
        log("growth")
        // Every projection caught up, so confirms update them all inline as in production.
        for path in [tiny, big] {
            let all = try rebuild(path, "all")
            if path == big { figures["rebuild_all_projections_events_per_s"] = try number(all, "events_per_s") }
        }
        var growth: [String: Double] = [:]
        let samples = smoke ? 5 : 200
        for durability in [Durability.full, .normal] {
            let key = durability.rawValue.lowercased()
            _ = try Workloads.confirmLatency(paths: (tiny, big), durability: durability, samples: samples / 5 + 1, tag: "warm-\(key)")
            var smallLatency: [Double] = [], bigLatency: [Double] = []
            for repetition in 0..<repetitions {
                let latency = try Workloads.confirmLatency(paths: (tiny, big), durability: durability, samples: samples, tag: "\(key)-\(repetition)")
                smallLatency.append(latency.small)
                bigLatency.append(latency.large)
            }
            growth[key + "_small"] = median(smallLatency)
            growth[key + "_large"] = median(bigLatency)
            figures["confirm_latency_\(key)_ms_\(journalEvents / 100)_events"] = median(smallLatency) * 1000
            figures["confirm_latency_\(key)_ms_\(perUser * journalUsers)_events"] = median(bigLatency) * 1000
            comparisons.append(Comparison(
                name: "confirm latency \(durability.rawValue), \(perUser * journalUsers) vs \(journalEvents / 100) events",
                ours: median(bigLatency) * 1000, baseline: median(smallLatency) * 1000, baselineName: "small journal",
                unit: "ms", goal: 1.3, higherIsBetter: false))
        }
        let someone = JournalFixture.userName(journalUsers / 2)
        let (statusTimes, sqliteTimes) = try Workloads.statusProcess(
            enroll: enroll, database: big, user: someone, samples: smoke ? 2 : 30, repetitions: repetitions)
        figures["enroll_status_process_ms"] = median(statusTimes) * 1000
        figures["sqlite3_cli_process_ms"] = median(sqliteTimes) * 1000
        comparisons.append(Comparison(
            name: "`enroll status` process vs sqlite3 CLI, \(perUser * journalUsers) events", ours: median(statusTimes) * 1000,
            baseline: median(sqliteTimes) * 1000, baselineName: "sqlite3 CLI", unit: "ms", goal: 3, higherIsBetter: false))

        // 6. Python peers on the same workload.
        var peerFailure: (any Error)?, peerDurability: String?
        if let python = options.python, let script = options.pyPeers {
            do {
                log("python peers (eventsourcing, pyotp)")
                // eventsourcing sets WAL and leaves synchronous at the SQLite default of the Python it
                // runs on, which is FULL (2) where SQLite is built as Debian builds it: checked, not assumed.
                // On a file in WAL, as the peer's database is: SQLite may default otherwise there.
                let probe = "import os, sqlite3, tempfile; d = tempfile.mkdtemp(); c = sqlite3.connect(os.path.join(d, 'p.sqlite'));"
                    + " c.execute('PRAGMA journal_mode=WAL'); print(c.execute('PRAGMA synchronous').fetchone()[0]); c.close();"
                    + " [os.remove(os.path.join(d, f)) for f in os.listdir(d)]; os.rmdir(d)"
                let synchronous = try benchmark.run(python, ["-c", probe]).trimmingCharacters(in: .whitespacesAndNewlines)
                figures["eventsourcing_sqlite_synchronous"] = synchronous
                if synchronous != "2" {
                    peerDurability = "the Python peer's SQLite defaults to synchronous=\(synchronous), not FULL (2): its command rates are not at our durability"
                    log(peerDurability ?? "")
                }
                let peerUsers = smoke ? 20 : min(users, 5_000)
                var pyotp: [Double] = [], esCommands: [Double] = [], esRebuild: [Double] = []
                var ourTotp: [Double] = [], ourFull: [Double] = [], ourGroup: [Double] = [], ourRebuild: [Double] = []
                for repetition in 0..<(smoke ? 1 : min(repetitions, 3)) {
                    // Ours again right beside each peer run: a shared machine's CPU and fsync time
                    // change by the minute, so only back-to-back figures compare.
                    ourTotp.append(try Workloads.totpVerificationsPerSecond(verifications))
                    // The peer's workload exactly: its users, a request then a confirm each, so that the
                    // rebuild below folds the same events over the same users as the peer's fold.
                    let journal = work + "/peer-full-\(repetition).sqlite"
                    ourFull.append(try Workloads.oneWriter(path: journal, durability: .full, users: peerUsers))
                    ourGroup.append(try await Workloads.concurrent(
                        path: work + "/peer-group-\(repetition).sqlite", clients: clients, users: max(clients, peerUsers)).commandsPerSecond)
                    let rebuilt = try rebuild(journal)
                    ourRebuild.append(try number(rebuilt, "events_per_s"))
                    let result = try runJSON(python, [script, "--users", String(peerUsers), "--verifications", String(smoke ? 200 : 20_000)])
                    pyotp.append(try number(result, "pyotp_verifications_per_s"))
                    esCommands.append(try number(result, "eventsourcing_commands_per_s"))
                    esRebuild.append(try number(result, "eventsourcing_rebuild_events_per_s"))
                    let (ours, theirs) = (try number(rebuilt, "events"), try number(result, "eventsourcing_events"))
                    guard ours == theirs else { throw BenchmarkError("the rebuild folded \(Int(ours)) events where the peer folded \(Int(theirs)): not the same workload") }
                }
                figures["peer_workload_users"] = peerUsers
                figures["peer_workload_events"] = 2 * peerUsers
                figures["rebuild_peer_workload_events_per_s"] = median(ourRebuild)
                figures["pyotp_verifications_per_s"] = median(pyotp)
                figures["eventsourcing_commands_per_s"] = median(esCommands)
                figures["eventsourcing_rebuild_events_per_s"] = median(esRebuild)
                comparisons.append(Comparison(
                    name: "TOTP verify vs pyotp", ours: median(ourTotp), baseline: median(pyotp), baselineName: "pyotp", unit: "verif/s", goal: 15))
                comparisons.append(Comparison(
                    name: "commands/s one writer FULL vs eventsourcing", ours: median(ourFull),
                    baseline: median(esCommands), baselineName: "eventsourcing", unit: "cmd/s", goal: 10))
                // The peer's program runs its commands one after another: it has no concurrent form.
                comparisons.append(Comparison(
                    name: "commands/s group commit FULL, \(clients) clients vs eventsourcing", ours: median(ourGroup),
                    baseline: median(esCommands), baselineName: "eventsourcing, one client", unit: "cmd/s", goal: 10))
                comparisons.append(Comparison(
                    name: "rebuild (\(2 * peerUsers) events, \(peerUsers) users) vs eventsourcing fold", ours: median(ourRebuild), baseline: median(esRebuild),
                    baselineName: "eventsourcing, same events", unit: "events/s", goal: 10))
            } catch {
                // A child the interruption killed is no failure of the peers: the handler ends the run.
                Interruption.haltIfInterrupted()
                // The other figures are measured by now: they are written, and the run fails after.
                log("the comparison with the Python peers failed: \(error)")
                peerFailure = error
            }
        } else {
            log("python peers skipped (no --python)")
        }

        let absolute = Comparison(
            name: "group commit FULL, absolute", ours: concurrentRate, baseline: 10_000, baselineName: "10 000 cmd/s", unit: "cmd/s", goal: 1)
        comparisons.insert(absolute, at: 0)

        Interruption.haltIfInterrupted()
        let failures = (peerFailure.map { ["the comparison with the Python peers failed, so its rows are missing: \($0)"] } ?? [])
            + (peerDurability.map { [$0] } ?? [])
        print(Self.table(comparisons, figures: figures, machine: machine, smoke: smoke, departures: departures, failures: failures))
        try Self.write(
            comparisons, figures: figures, machine: machine, options: options, repetitions: repetitions, departures: departures,
            failures: failures, to: options.output)
        log("results written to \(options.output)")
        if let peerFailure {
            throw BenchmarkError("the comparison with the Python peers failed (\(peerFailure)); the other figures are in \(options.output), marked incomplete")
        }
        if let peerDurability {
            throw BenchmarkError("\(peerDurability); the results are in \(options.output), marked incomplete")
        }
    }

    static func format(_ value: Double) -> String {
        if !value.isFinite { return "n/a" }
        if value >= 100 { return grouped(Int(value.rounded())) }
        if value >= 10 { return String(format: "%.1f", value) }
        return String(format: "%.2f", value)
    }

    /// 1234567 as "1 234 567", as BENCHMARKS.md writes figures.
    static func grouped(_ number: Int) -> String {
        var digits = String(number.magnitude), groups: [Substring] = []
        while digits.count > 3 {
            groups.insert(digits.suffix(3), at: 0)
            digits.removeLast(3)
        }
        groups.insert(Substring(digits), at: 0)
        return (number < 0 ? "-" : "") + groups.joined(separator: " ")
    }

    static func table(
        _ comparisons: [Comparison], figures: [String: Any], machine: [String: Any], smoke: Bool, departures: [String] = [],
        failures: [String] = []
    ) -> String {
        var lines: [String] = failures.map { "INCOMPLETE RUN: " + $0 }
        if smoke {
            lines.append("SMOKE RUN: tiny sizes, one repetition; goals are not judged.")
        } else {
            lines.append("Ratios: ours / baseline, the median of the repetitions; goal met?")
            if !departures.isEmpty {
                lines.append(
                    "REDUCED RUN (\(departures.joined(separator: ", "))): judged against the same goals, but at other sizes than the"
                        + " issue's, so these ratios do not compare with BENCHMARKS.md's; run Tools/benchmark.sh alone for those.")
            }
        }
        let header = ["comparison", "ratio", "goal", "met", "ours", "baseline", "unit"]
        var rows: [[String]] = [header]
        for comparison in comparisons {
            let goal = comparison.goal.map { (comparison.higherIsBetter ? "≥ " : "≤ ") + format($0) } ?? ""
            let met = smoke ? "-" : comparison.met.map { $0 ? "yes" : "NO" } ?? ""
            rows.append([
                comparison.name, format(comparison.ratio) + "×", goal, met, format(comparison.ours),
                format(comparison.baseline) + " (" + comparison.baselineName + ")", comparison.unit,
            ])
        }
        let widths = (0..<header.count).map { column in rows.map { $0[column].count }.max() ?? 0 }
        for row in rows {
            lines.append(zip(row, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  "))
        }
        lines.append("")
        lines.append("Figures (the measurements behind the ratios, also in the JSON file)")
        for key in figures.keys.sorted() {
            let value = figures[key]
            lines.append("  \(key): \((value as? Double).map(format) ?? "\(value ?? "")")")
        }
        lines.append("Machine: \(Machine.summary(machine))")
        return lines.joined(separator: "\n")
    }

    static func write(
        _ comparisons: [Comparison], figures: [String: Any], machine: [String: Any], options: Options, repetitions: Int,
        departures: [String] = [], failures: [String] = [], to path: String
    ) throws {
        func clean(_ value: Double) -> Any { value.isFinite ? (value * 1000).rounded() / 1000 : NSNull() }
        let object: [String: Any] = [
            "smoke": options.smoke,
            "repetitions": repetitions,
            // The options that took the run away from the issue's sizes (empty: a comparable run).
            "departures": departures,
            // What failed, leaving rows out (empty: every comparison ran).
            "failures": failures,
            "date": ISO8601DateFormatter().string(from: Date()),
            "machine": machine,
            "ratios": comparisons.map { comparison -> [String: Any] in
                [
                    "name": comparison.name, "ratio": clean(comparison.ratio), "goal": comparison.goal.map(clean) ?? NSNull(),
                    "goal_is_minimum": comparison.higherIsBetter, "met": options.smoke ? NSNull() : (comparison.met ?? NSNull()) as Any,
                    "ours": clean(comparison.ours), "baseline": clean(comparison.baseline), "baseline_name": comparison.baselineName,
                    "unit": comparison.unit,
                ]
            },
            "figures": figures.mapValues { value -> Any in (value as? Double).map(clean) ?? value },
        ]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: URL(fileURLWithPath: path))
    }
}
