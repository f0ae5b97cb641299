import ArgumentParser
import CSignals
import Enrollment
import Foundation
import Logging

/// `rebuild-projections`: rebuilds read models from the journal after their shape changed,
/// while other processes keep appending.
@main
struct RebuildProjections: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rebuild-projections",
        abstract: "Rebuild projections from the enrollment journal into a shadow table and swap it in.",
        discussion: """
            Run it when a reader refuses a stale projection (after an upgrade changed its schema version), \
            or to build a projection added since the database was created. Other processes may keep \
            appending meanwhile. If it is interrupted (even with kill -9) run it again: it resumes from its \
            checkpoint, unless that checkpoint is past the journal's head, its table's columns changed or the \
            journal was rewritten under it (it then starts over and says why); --restart discards an \
            interrupted rebuild and starts over, e.g. after its shadow table was edited by hand. A projection that a newer version of enroll wrote is refused (exit 3) unless \
            --allow-downgrade is given. Exit codes: 0 done, 2 bad usage, 3 storage failure, \
            130 or 143 stopped by Ctrl-C or SIGTERM (what was rebuilt is kept: run it again to resume).
            """,
        version: EnrollmentVersion.description)

    @Option(name: .long, help: ArgumentHelp("The enrollment database (env ENROLL_DB, default ./enrollment.sqlite).", valueName: "path"))
    var db: String?

    @Option(name: .long, help: ArgumentHelp("Rebuild this projection (repeatable): \(Projections.all.map(\.name).joined(separator: ", ")).", valueName: "name"))
    var projection: [String] = []

    @Flag(name: .long, help: "Rebuild every projection.")
    var all = false

    @Flag(name: .long, help: "List each projection's stored and code schema versions, position and lag, whether its table has the columns this code builds, and what an interrupted rebuild left; change nothing.")
    var status = false

    // Unconditional, so that `--batch-size -1` reaches validate() rather than reading as an option.
    @Option(name: .customLong("batch-size"), parsing: .unconditional, help: ArgumentHelp("Most events per transaction, 1 to 100000000 (default: as many as half a second allows; smaller holds the write lock for less time, but each batch is a durable commit: batches of 1 to 10 events run at a few thousand events per second at best).", valueName: "n"))
    var batchSizeText: String?

    @Option(name: .customLong("threads"), parsing: .unconditional, help: ArgumentHelp(
        "Threads that read and decode the journal ahead of the fold, 0-64 (default: one per core up to 4, \(ProjectionRebuilder.readAheadThreads(for: ProcessInfo.processInfo.activeProcessorCount)) here; 0 keeps the rebuild to one core).", valueName: "n"))
    var threadsText: String?

    /// The options' numbers; a text that is none is refused by ``validate()``.
    var threads: Int? { threadsText.flatMap { Int($0) } }
    var batchSize: Int? { batchSizeText.flatMap { Int($0) } }

    @Option(name: .customLong("busy-timeout"), parsing: .unconditional, help: ArgumentHelp(
        "Seconds to wait for another writer's lock before giving up with exit 3, 0-600 (env ENROLL_BUSY_TIMEOUT; default 10).", valueName: "seconds"))
    var busyTimeout: String?

    @Flag(name: .customLong("allow-downgrade"), help: "Rebuild even a projection a newer version of enroll wrote, down to this version's schema (the newer version's readers will then refuse it).")
    var allowDowngrade = false

    @Flag(name: .long, help: "Discard what an interrupted rebuild left (its NAME_rebuild shadow table and checkpoint) and fold from position 0, instead of resuming it.")
    var restart = false

    @Flag(name: .customLong("accept-missing-events"), help: "Rebuild even a projection that has applied events past the journal's end (rows deleted from it): it is the evidence `enroll verify`, `history` and `audit` report the loss by, so run `enroll verify` first.")
    var acceptMissingEvents = false

    @Flag(name: .long, help: "Print JSON (one object per projection) instead of text.")
    var json = false

    var databasePath: String { db ?? ProcessInfo.processInfo.environment["ENROLL_DB"] ?? "./enrollment.sqlite" }

    func validate() throws {
        // Two of them given is refused here; none, only in `run()`: the parser reports an
        // unknown option (`--bogus`, a typo of one of them) after `validate()`, and "choose one"
        // would hide it.
        guard [status, all, !projection.isEmpty].filter({ $0 }).count <= 1 else { throw Self.chooseOne }
        // What changes a rebuild means nothing to --status, which changes nothing: refused, not ignored.
        if status, let given = [(restart, "--restart"), (acceptMissingEvents, "--accept-missing-events"), (allowDowngrade, "--allow-downgrade")].first(where: \.0) {
            throw ValidationError("\(given.1) goes with --projection NAME or --all; --status changes nothing")
        }
        // As enroll refuses it: an empty path is a mistake in the command line, not a missing file.
        if let problem = StoreError.databasePathProblem(databasePath, option: db) { throw ValidationError(problem) }
        for name in projection where Projections.named(name) == nil {
            throw ValidationError("unknown projection '\(name)'; the projections are \(Projections.all.map(\.name).joined(separator: ", "))")
        }
        do { _ = try busyTimeoutSeconds() } catch {
            Self.refusalCode = error.code
            throw ValidationError(error.message)
        }
        if let text = threadsText, Int(text) == nil {
            throw ValidationError("--threads must be a whole number from 0 to 64, not '\(Validation.excerpt(text))'; pass 0 to read on the rebuild's own connection")
        }
        if let text = batchSizeText, Int(text) == nil {
            throw ValidationError("--batch-size must be a whole number of at least 1, not '\(Validation.excerpt(text))'; pass --batch-size with how many events each transaction may apply")
        }
        if let threads, !(0...64).contains(threads) { throw ValidationError("--threads must be 0 to 64, not \(threads); pass 0 to read on the rebuild's own connection") }
        if let batchSize, !(1...ProjectionRebuilder.maxBatchSize).contains(batchSize) {
            throw ValidationError("--batch-size must be 1 to \(ProjectionRebuilder.maxBatchSize), not \(batchSize); pass --batch-size with how many events each transaction may apply")
        }
    }

    func busyTimeoutSeconds() throws(InputError) -> TimeInterval {
        try DatabaseOptions.busyTimeoutSetting(option: busyTimeout, environment: ProcessInfo.processInfo.environment["ENROLL_BUSY_TIMEOUT"])
    }

    static let chooseOne = ValidationError("choose one of --projection NAME, --all or --status")

    func run() throws {
        guard status || all || !projection.isEmpty else { throw Self.chooseOne }
        let database: EnrollmentDatabase
        do {
            // --status changes nothing: not even an older journal's schema, which the first
            // rebuild (or enroll command) upgrades.
            var options = DatabaseOptions(busyTimeout: try busyTimeoutSeconds(), create: false)
            options.upgrades = !status
            database = try EnrollmentDatabase(path: databasePath, options: options)
        } catch {
            throw Failure(error, database: databasePath)
        }
        var rebuilder = ProjectionRebuilder(database: database)
        if let batchSize { rebuilder.batchSize = batchSize }
        if let threads { rebuilder.readAheadThreads = threads }
        rebuilder.allowsDowngrade = allowDowngrade
        rebuilder.restart = restart
        if status {
            try showStatus(rebuilder)
            return
        }
        // Each named projection once, in the order first named.
        var named = Set<String>()
        let targets = all ? Projections.all : projection.filter { named.insert($0).inserted }.compactMap(Projections.named)
        // A checkpoint past the journal's head is how readers tell that rows were deleted from
        // its end: a rebuild would fold what is left and erase that, without a word.
        let states: [ProjectionState]
        do { states = try rebuilder.status(readingLocks: false) } catch { throw Failure(error, database: databasePath) }
        let ahead = Dictionary(states.map { ($0.name, $0.ahead) }, uniquingKeysWith: { first, _ in first })
        if !acceptMissingEvents, let target = targets.first(where: { (ahead[$0.name] ?? 0) > 0 }), let count = ahead[target.name] {
            let verify = "enroll verify" + StoreError.databaseArgument(databasePath)
            throw Failure(code: "journal_damaged", message: """
                the \(target.name) projection has applied \(count) event\(count == 1 ? "" : "s") past the journal's end: rows were deleted from it, and this \
                projection is how `enroll verify`, `history` and `audit` report that; run `\(verify)`, and once the loss is accounted for, \
                `\(command((all ? "--all" : targets.map { "--projection \($0.name)" }.joined(separator: " ")) + " --accept-missing-events"))`
                """)
        }
        Interruption.install(json: json, restart: restart)
        for target in targets {
            let bar = ProgressBar(json ? .off : ProgressBar.canRedraw ? .bar : .lines)
            let summary: RebuildSummary
            do {
                summary = try rebuilder.rebuild(target) { bar.show($0) }
            } catch {
                bar.finish()
                var failure = Failure(error, database: databasePath)
                // An SQLite error no check foresaw, while an interrupted run's shadow table is
                // still there: the way out that does not need the sqlite3 shell.
                if !restart, case .sqlite = error,
                   (try? rebuilder.status(readingLocks: false))?.first(where: { $0.name == target.name })?.rebuildCheckpoint != nil {
                    failure.message += "; if the interrupted rebuild's shadow table is at fault, `\(command("--restart --projection \(target.name)"))` discards it and starts over"
                }
                throw failure
            }
            bar.finish()
            if json {
                Output.json([
                    "projection": summary.projection, "schemaVersion": summary.schemaVersion, "position": summary.position,
                    "resumedFrom": summary.resumedFrom, "applied": summary.applied, "rows": summary.rows,
                    "seconds": (summary.elapsed * 1000).rounded() / 1000, "discarded": summary.discarded,
                    "restored": summary.kept.restored, "notRestored": summary.kept.notRestored,
                    "droppedColumns": summary.kept.droppedColumns, "brokenViews": summary.kept.brokenViews,
                ])
            } else {
                let rate = summary.elapsed > 0 ? Int(Double(summary.applied) / summary.elapsed) : Int(summary.applied)
                let resumed = summary.resumedFrom > 0 ? ", resumed from position \(summary.resumedFrom)" : ""
                var discarded = summary.discarded.map { "; \($0)" } ?? ""
                let kept = summary.kept
                if !kept.restored.isEmpty {
                    discarded += "; created again on the new table: \(kept.restored.joined(separator: ", "))"
                }
                if !kept.notRestored.isEmpty {
                    discarded += "; NOT kept, as they no longer fit (adapt and create by hand): \(kept.notRestored.joined(separator: ", "))"
                }
                if !kept.droppedColumns.isEmpty {
                    discarded += "; columns of the old table not in the new one, their values not carried over: \(kept.droppedColumns.joined(separator: ", "))"
                }
                if !kept.brokenViews.isEmpty {
                    discarded += "; views kept that no longer read (adapt them): \(kept.brokenViews.joined(separator: ", "))"
                }
                if let count = ahead[summary.projection], count > 0 {
                    discarded += "; it had applied \(count) event\(count == 1 ? "" : "s") past the journal's end, which readers no longer report"
                }
                Output.line("\(summary.projection) v\(summary.schemaVersion): rebuilt \(summary.applied) events in \(String(format: "%.1f", summary.elapsed)) s (\(rate) events/s)\(resumed), \(summary.rows) row\(summary.rows == 1 ? "" : "s"), swapped in at position \(summary.position)\(discarded)")
            }
        }
    }

    /// This tool's command line with `arguments`, naming the database when it is not the default.
    func command(_ arguments: String) -> String {
        "rebuild-projections" + StoreError.databaseArgument(databasePath) + " " + arguments
    }

    func showStatus(_ rebuilder: ProjectionRebuilder) throws {
        let states: [ProjectionState]
        do { states = try rebuilder.status() } catch { throw Failure(error, database: databasePath) }
        let pending = rebuilder.database.pendingUpgrades
        if json {
            for state in states {
                // A damaged checkpoint's version and position mean nothing: left out.
                let known = state.checkpointDamage == nil
                Output.json([
                    "projection": state.name, "storedVersion": known ? state.storedVersion : nil, "codeVersion": state.codeVersion,
                    "position": known ? state.position : nil, "head": state.head, "lag": known ? state.lag : nil, "current": state.isServing,
                    "rebuildCheckpoint": state.rebuildCheckpoint,
                    "rebuildRunning": state.rebuildRunning, "rebuildWillDiscard": state.rebuildDiscard,
                    "newerRebuildShadowVersion": state.newerShadowVersion,
                    "tableProblem": state.tableProblem.map { "its table \($0)" },
                    "ahead": state.ahead > 0 ? state.ahead : nil,
                    // The journal's schema steps not applied yet, on each line as the text says it once.
                    "journalUpgradesPending": pending.isEmpty ? nil : pending,
                ])
            }
            return
        }
        func pad(_ text: String, _ width: Int) -> String { text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count) }
        Output.line(pad("PROJECTION", 22) + pad("STORED", 8) + pad("CODE", 6) + pad("POSITION", 10) + pad("HEAD", 10) + pad("LAG", 8) + "STATE")
        for state in states {
            var description: String
            if state.storedVersion == nil {
                description = "missing: run \(command("--projection \(state.name)"))"
            } else if let damage = state.checkpointDamage {
                // Before every reading of its version and position, which mean nothing now.
                description = "damaged: its table \(damage): run \(command("--projection \(state.name)"))"
            } else if state.isNewer {
                description = "newer (schema v\(state.storedVersion ?? 0), code v\(state.codeVersion)): written by a newer version of enroll; upgrade rebuild-projections"
            } else if state.ahead > 0 {
                // Rows deleted from the journal's end come first, whatever else is true of it: a
                // rebuild is refused until they are accounted for (--accept-missing-events).
                let also = !state.isCurrent ? " (also stale (schema v\(state.storedVersion ?? 0), code v\(state.codeVersion)))"
                    : state.tableProblem != nil ? " (also damaged)" : ""
                description = "ahead of the journal by \(state.ahead) event\(state.ahead == 1 ? "" : "s"): events are missing from the journal; run enroll verify" + StoreError.databaseArgument(databasePath) + also
            } else if !state.isCurrent {
                description = "stale (schema v\(state.storedVersion ?? 0), code v\(state.codeVersion)): run \(command("--projection \(state.name)"))"
            } else if let problem = state.tableProblem {
                description = "damaged: its table \(problem): run \(command("--projection \(state.name)"))"
            } else if state.lag > 0 {
                description = "lagging \(state.lag) event\(state.lag == 1 ? "" : "s"): run \(command("--projection \(state.name)"))"
            } else {
                description = "current"
            }
            if state.rebuildRunning {
                description += "; a rebuild is running" + (state.rebuildCheckpoint.map { " (at position \($0))" } ?? "")
            } else if let checkpoint = state.rebuildCheckpoint, let reason = state.rebuildDiscard {
                description += "; the next rebuild will discard the interrupted one's shadow table at position \(checkpoint) and start over: \(reason)"
            } else if let checkpoint = state.rebuildCheckpoint {
                description += "; an interrupted rebuild will resume from position \(checkpoint) (--restart starts over instead)"
            } else if let version = state.newerShadowVersion {
                description += "; an interrupted rebuild by a newer version of enroll left its shadow table (schema v\(version)): upgrade rebuild-projections, or --allow-downgrade discards it"
            }
            // A damaged checkpoint's version and position mean nothing: shown as unknown.
            let known = state.checkpointDamage == nil
            Output.line(
                pad(state.name, 22) + pad(known ? state.storedVersion.map(String.init) ?? "-" : "?", 8) + pad(String(state.codeVersion), 6)
                    + pad(known ? String(state.position) : "?", 10) + pad(String(state.head), 10) + pad(known ? String(state.lag) : "?", 8) + description)
        }
        if !pending.isEmpty {
            Output.line("The journal is of an older schema (to apply: \(pending.joined(separator: ", "))): the first rebuild, or the first enroll command, upgrades it, once.")
        }
    }
}

/// A storage failure, reported in one line with exit code 3.
struct Failure: Error, CustomStringConvertible {
    let code: String
    var message: String
    init(code: String, message: String) {
        self.code = code
        self.message = message
    }
    /// `database`: the `--db` the tool was given, named in the commands the message suggests.
    init(_ error: any Error, database: String) {
        code = (error as? StoreError)?.code ?? "storage_failure"
        message = StoreError.naming((error as? StoreError)?.message ?? "\(error)", database: database)
    }
    var description: String { message }
}

extension RebuildProjections {
    /// The code of an input refusal made while the command line was read (`--busy-timeout` as
    /// enroll words it), for `--json`; `nil`: the parser's own, `usage`. The tool is single-threaded.
    nonisolated(unsafe) static var refusalCode: String?

    /// Whether the command line asks for JSON (`--json` before any `--`), also when it cannot be parsed.
    static var wantsJSON: Bool { CommandLine.arguments.dropFirst().prefix { $0 != "--" }.contains("--json") }

    static func main() {
        enroll_fail_writes_past_size_limit()
        // The engine's notices (a schema upgrade) as this tool's own lines on stderr.
        LoggingSystem.bootstrap { _ in DiagnosticLogHandler { level, text in Output.diagnostic(text, kind: level >= .warning ? "warning" : "note") } }
        do {
            var command = try parseAsRoot()
            try command.run()
            Output.finish(0)
        } catch let failure as Failure {
            // With --json, a failure is one JSON object on stdout too, as for enroll.
            if wantsJSON { Output.json(["error": failure.code, "message": failure.message]) }
            Output.error(failure.message)
            Foundation.exit(3)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                Output.line(fullMessage(for: error))
                Output.finish(0)
            }
            let message = RebuildProjections.message(for: error).split(separator: "\n").first.map(String.init) ?? "invalid usage"
            if wantsJSON { Output.json(["error": refusalCode ?? "usage", "message": message]) }
            Output.error(message + " (see rebuild-projections --help)")
            Foundation.exit(2)
        }
    }
}

/// Output with write(2): `FileHandle.write` traps on a failed write (a full disk, a closed
/// stdout). A failed write to stdout is remembered, and the run ends with one line and exit 3
/// instead of a silent success (``finish(_:)``).
enum Output {
    /// The `errno` of the first write to stdout that failed (0: none). The tool is single-threaded.
    nonisolated(unsafe) static var stdoutFailure: Int32 = 0

    static func line(_ text: String) { write(Array((text + "\n").utf8), to: STDOUT_FILENO) }

    /// One line: control characters in a path it echoes are escaped (``TextField/escaped(_:quotes:)``).
    static func error(_ text: String) { diagnostic(text, kind: "error") }

    /// One line on stderr: `rebuild-projections: KIND: TEXT` (error, warning, note).
    static func diagnostic(_ text: String, kind: String) {
        write(Array(("rebuild-projections: \(kind): " + TextField.escaped(text, marks: false) + "\n").utf8), to: STDERR_FILENO)
    }

    static func json(_ object: [String: Any?]) {
        let data = (try? JSONSerialization.data(withJSONObject: object.compactMapValues { $0 }, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        write(Array(data) + [UInt8(ascii: "\n")], to: STDOUT_FILENO)
    }

    static func write(_ bytes: [UInt8], to descriptor: Int32) {
        bytes.withUnsafeBytes { buffer in
            guard let start = buffer.baseAddress else { return }
            var offset = 0
            while offset < buffer.count {
                let written = Foundation.write(descriptor, start + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    // A reader that went away (EPIPE) ends the output quietly, as for any tool.
                    if descriptor == STDOUT_FILENO && errno != EPIPE && stdoutFailure == 0 { stdoutFailure = errno }
                    return
                }
                offset += written
            }
        }
    }

    /// Exits with `code`, or with 3 and one line if some output could not be written.
    static func finish(_ code: Int32) -> Never {
        if stdoutFailure != 0 {
            error("could not write the output (\(String(cString: strerror(stdoutFailure)))); make room or send the output elsewhere")
            Foundation.exit(3)
        }
        Foundation.exit(code)
    }
}

/// Ctrl-C or SIGTERM in the middle of a rebuild: the batch in progress is abandoned (as after a
/// kill -9, SQLite rolls it back) and the checkpoint of the last committed one stays. Clear the
/// progress bar and say how to go on, instead of leaving the prompt on a half-drawn bar.
enum Interruption {
    /// The messages are made before any signal arrives, and the handler is C's
    /// (Sources/CSignals): a signal handler may only call async-signal-safe functions, and one
    /// in Swift could allocate. With --json, the same as one JSON object on stdout, as every
    /// other failure is. Delivered even when the parent left the signals blocked.
    /// `restart`: the command was given --restart, which would start over rather than resume.
    static func install(json: Bool, restart: Bool) {
        // With --json no bar is drawn, so there is none to clear.
        let clear = !json && ProgressBar.canRedraw ? "\r\u{1B}[2K" : ""
        let text = restart
            ? "interrupted; what was committed stays: run the same command without --restart to resume (with it, it starts over; --status shows where it stands)"
            : "interrupted; what was committed stays: run the same command again to resume (--status shows where it stands)"
        let message = clear + "rebuild-projections: " + text + "\n"
        let jsonMessage = json ? JSONValue.object(["error": .string("interrupted"), "message": .string(text)]).canonicalString + "\n" : nil
        precondition(enroll_exit_on_signal(jsonMessage, message) == 0, "memory for the interruption's message")
    }
}

/// Progress on stderr: on a terminal a one-line bar redrawn at most ten times a second; into a
/// pipe or a log (cron, systemd) a line every five seconds (`ENROLL_PROGRESS_SECONDS`, 0-3600, as
/// for `enroll`'s long work; 0: a line each time the rebuild reports), so a long rebuild shows it
/// is alive; nothing with --json.
final class ProgressBar {
    enum Mode { case bar, lines, off }
    let mode: Mode
    var lastDraw = Date.distantPast
    var drawn = false

    init(_ mode: Mode) { self.mode = mode }

    /// Whether stderr is a terminal that can redraw a line: not `TERM=dumb` (Emacs' shell, some
    /// CI consoles), which shows `\r` and escape sequences as they are.
    static var canRedraw: Bool {
        isatty(STDERR_FILENO) == 1 && ProcessInfo.processInfo.environment["TERM"] != "dumb"
    }

    /// Seconds between lines into a pipe: `ENROLL_PROGRESS_SECONDS`, else 5; a value it cannot be
    /// gets a warning and the default.
    static let lineSeconds: TimeInterval = {
        guard let text = ProcessInfo.processInfo.environment["ENROLL_PROGRESS_SECONDS"] else { return 5 }
        if let seconds = Int(text), (0...3600).contains(seconds) { return TimeInterval(seconds) }
        Output.write(
            Array("rebuild-projections: warning: ENROLL_PROGRESS_SECONDS is \"\(TextField.escaped(String(text.prefix(40)), marks: false))\", not a whole number of seconds from 0 to 3600; progress lines come every 5 seconds\n".utf8),
            to: STDERR_FILENO)
        return 5
    }()

    func show(_ progress: RebuildProgress) {
        let interval: TimeInterval = mode == .bar ? 0.1 : Self.lineSeconds
        guard mode != .off, Date().timeIntervalSince(lastDraw) >= interval || (mode == .bar && progress.remaining == 0) else { return }
        // The first line after the interval, not at once: a short rebuild prints only its result.
        if mode == .lines && lastDraw == .distantPast && interval > 0 { lastDraw = Date(); return }
        lastDraw = Date()
        // A journal with a gap in its positions (rows deleted outside enroll) can make the
        // estimate absurd: past 99 hours it is not shown.
        let eta = progress.estimatedSecondsLeft.flatMap { seconds in
            seconds.isFinite && seconds < 360_000 ? Int(seconds.rounded(.up)) : nil
        }.map { String(format: "%ld:%02ld", $0 / 60, $0 % 60) } ?? "--:--"
        let rate = Int(min(progress.eventsPerSecond, 1e15))
        if mode == .lines {
            let line = String(format: "rebuild-projections: %@ %ld%% (%lld/%lld events, %ld events/s, about %@ left)\n",
                progress.projection, Int(progress.fraction * 100), progress.position, progress.head, rate, eta)
            Output.write(Array(line.utf8), to: STDERR_FILENO)
            return
        }
        let width = 30
        let filled = Int(progress.fraction * Double(width))
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let line = String(format: "\r%@ [%@] %3ld%%  %lld/%lld events  %ld events/s  ETA %@ ",
            progress.projection, bar, Int(progress.fraction * 100), progress.position, progress.head, rate, eta)
        Output.write(Array(line.utf8), to: STDERR_FILENO)
        drawn = true
    }

    func finish() {
        if drawn { Output.write(Array("\r\u{1B}[2K".utf8), to: STDERR_FILENO) }
    }
}
