import ArgumentParser
import Enrollment
import Foundation

extension CLIFailure {
    static func archive(_ error: ArchiveError) -> CLIFailure {
        switch error {
        case .fileUnreadable, .unplaceable: return CLIFailure(code: error.code, message: error.message, exitCode: CLIExit.environment)
        // As `verify --anchor`: a well-formed file that is not the journal the anchor vouches for.
        case .anchorMismatch:
            return CLIFailure(code: error.code, message: error.message, exitCode: CLIExit.refused, showsCode: true)
        default: return CLIFailure(code: error.code, message: error.message, exitCode: CLIExit.badInput)
        }
    }
}

/// `--anchor POSITION:HASH`, as `verify` and `export` print it: what `verify` and `import`
/// check a journal against.
struct AnchorOption: ParsableArguments {
    // Unconditional, so that `--anchor -1:…` reaches validate() rather than reading as an option.
    @Option(parsing: .unconditional, help: ArgumentHelp("An anchor printed by an earlier verify or export, to check the journal against.", valueName: "position:hash"))
    var anchor: String?

    func validate() throws {
        guard let anchor else { return }
        switch ChainAnchor.parse(anchor) {
        case .success: return
        case .failure(.malformed):
            throw CodedValidation.error(AnchorSyntaxError.malformed, message: "--anchor must be POSITION:HASH as `enroll verify` prints it (a position, a colon, 64 hex digits), not '\(Validation.excerpt(anchor, limit: 80))'")
        case .failure(.positionOutOfRange(let position)):
            throw CodedValidation.error(AnchorSyntaxError.positionOutOfRange(position), message: "--anchor position must be 1 or more (journal positions start at 1), not \(position); pass an anchor as `enroll verify` printed it")
        }
    }

    /// The anchor given, once validate() has accepted it.
    var expected: ChainAnchor? { anchor.flatMap(ChainAnchor.init) }
}

/// `enroll export`: the journal as JSON Lines.
struct ExportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "export",
        abstract: "Write the journal as JSON Lines, one event per line, exactly as stored (secrets stay sealed).",
        discussion: """
            Each line holds position, streamId, streamVersion, eventId, type, schemaVersion, data, metadata, \
            recordedAt and hash, so `enroll import` can check the hash chain. The data keys are not exported: \
            in an imported copy no secret can be opened (history says its key is not in that database). With a NAME.expected.json beside it (the projection tables it must produce; see Fixtures/README.md), an export NAME.jsonl is also a recorded-journal fixture for `enroll replay`.
            """)

    @OptionGroup var global: ReadOptions

    @Option(name: [.customShort("o"), .customLong("output")], help: ArgumentHelp("Write to this file (atomically) instead of stdout ('-': stdout).", valueName: "file"))
    var outputOption: String?
    var output: String? { OutputFile.named(outputOption) }

    func validate() throws {
        if let output { _ = try OutputFile.resolve(output, protecting: global.protectedFiles) }
    }

    func run() throws {
        let database = try global.reporting { try global.openExisting() }
        let total = (try? database.read { db in try EventJournal.head(in: db) }) ?? 0
        let progress = ProgressLine(doing: "exporting", total: total)
        let written: ArchiveExtent
        if let requested = output {
            // Written beside the file its links lead to, then renamed over it (never over a
            // device, the database or the key file).
            let file: OutputFile
            do { file = try OutputFile.open(requested, protecting: global.protectedFiles, mode: nil, json: global.json) } catch let failure as CLIFailure { throw global.failure(failure) }
            do {
                let buffer = file.buffer()
                written = try global.reporting { try JournalArchive.export(from: database.writer, path: database.path) { try buffer.write($0); progress.advance() } }
                try buffer.flush()
                try file.commit()
            } catch {
                file.discard()
                if let failure = error as? CLIFailure { throw global.failure(failure) }
                throw error
            }
        } else {
            // stdout holds the export: the message goes to stderr alone.
            InterruptionCleanup.removeOnSignal([], saying: "the export on standard output was cut before its end line, so `enroll import` refuses it; export again")
            let buffer = OutputBuffer()
            written = try global.reporting { try JournalArchive.export(from: database.writer, path: database.path) { try buffer.write($0); progress.advance() } }
            try buffer.flush()
            InterruptionCleanup.done()
        }
        let count = written.events
        let events = "\(count) event\(count == 1 ? "" : "s")"
        // The anchor lets whoever receives the file check that it arrived whole. It is a line of
        // its own, `Anchor: POSITION:HASH` and nothing else, so that it can be copied as it is.
        // A damaged journal is written all the same (the rows as stored are the evidence), but
        // gets no anchor: one would vouch for what the chain does not.
        let kept = written.damage == nil ? written.anchor : nil
        let summary = written.damage != nil ? "no anchor: the journal is not as enroll appended it."
            : kept == nil ? "the journal is empty, so there is no anchor."
            : "`enroll import FILE --anchor POSITION:HASH` with the anchor below refuses a copy that does not reach it."
        let anchor = kept.map { "\nAnchor: \($0)" } ?? ""
        if let output {
            if global.json {
                Terminal.json(["exported": count, "output": output, "anchor": kept?.description, "chainBroken": written.damage == nil ? nil : true])
            } else {
                Terminal.line("Exported \(events) to \(Terminal.visible(output)); \(summary)\(anchor)")
            }
        } else {
            // stdout holds the export itself: the summary goes to stderr.
            Terminal.diagnosticLine("enroll: exported \(events); \(summary)\(anchor)")
        }
        if let unchecked = written.unchecked {
            Terminal.warning("the rows chain, but the journal's own records could not be read to tell rows deleted from its end (\(unchecked)); compare the anchor with one taken before, or with `enroll verify` on a backup", hint: nil)
        }
        if let damage = written.damage {
            // As `history` and `audit` refuse a journal whose rows they show do not chain.
            throw global.failure(CLIFailure(
                code: "chain_broken",
                message: "the export holds the journal's rows as stored, yet \(damage); run `enroll verify` to see where and how, and export again from a backup or an intact journal",
                exitCode: CLIExit.refused, showsCode: true))
        }
    }
}

/// `enroll import FILE`: an export into a new database.
struct ImportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Load a file written by `enroll export` into an empty database, re-verifying every event.",
        discussion: """
            Positions must run 1, 2, 3…, every hash must chain, every event must decode; otherwise nothing \
            is written and the error names the first bad line (exit 2). The file must end with the end line \
            export writes after its last event, so a file cut short (an export killed before it finished, a \
            copy interrupted) is refused (exit 2, export_unfinished). With --anchor (as `enroll export` \
            or `enroll verify` printed it), a file whose chain does not reach that position with that hash \
            is refused too (exit 1, as `verify --anchor`); a file exported before exports had end lines \
            imports with it. The projections are built afterwards; the anchor the file reached is printed.
            """)

    @OptionGroup var global: CommandOptions<Loads>

    @Argument(help: ArgumentHelp("The JSON Lines file to load.", valueName: "file"))
    var file: String

    func validate() throws {
        // As for every other path: an empty one names nothing, and is not a file that cannot be read.
        if file.isEmpty { throw ValidationError("the file to import must not be empty; pass the path of a file written by `enroll export`") }
    }

    /// The events in a regular file (its lines, less the end line export writes last), counted
    /// before the import so that its progress lines say how far it is (a tenth of a second per
    /// 150 MB, read again from the page cache by the import); `nil` for a pipe, which can be read
    /// only once.
    static func eventCount(of path: String) -> Int64? {
        var status = stat()
        guard stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { return nil }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var lines: Int64 = 0
        // The start of the line being read, kept up to the length of an end line's opening.
        let endOpening = Array(#"{"end":"#.utf8)
        var lineStart: [UInt8] = [], lastLineStart: [UInt8] = []
        while true {
            let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            for byte in buffer[..<count] {
                if byte == UInt8(ascii: "\n") {
                    lines += 1
                    lastLineStart = lineStart
                    lineStart.removeAll(keepingCapacity: true)
                } else if lineStart.count < endOpening.count {
                    lineStart.append(byte)
                }
            }
        }
        if !lineStart.isEmpty { (lines, lastLineStart) = (lines + 1, lineStart) }
        return lastLineStart == endOpening ? lines - 1 : lines
    }

    static func regularFileSize(_ path: String) -> Int64? {
        var status = stat()
        guard stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { return nil }
        return Int64(status.st_size)
    }

    /// `8 MB`, rounded up.
    static func megabytes(_ bytes: Int64) -> String { "\((bytes + 999_999) / 1_000_000) MB" }

    @OptionGroup var anchor: AnchorOption

    @Flag(help: "Import a file without the end line export writes last (one exported before exports had end lines): nothing then shows that it was not cut, unless --anchor is given.")
    var noEndLine = false

    func run() throws {
        let path = global.databasePath
        let imported: ArchiveExtent
        let expected = anchor.expected
        // An anchor shows on its own that the file reaches it, end line or not.
        let requireEnd = expected == nil && !noEndLine
        let options = DatabaseOptions(durability: global.durabilityLevel, create: true)
        // Nothing at the path at all (lstat: not even a dangling link): a new database, built
        // aside and named only once it is whole, so that nothing at the path is ever removed.
        var status = stat()
        let isNew = lstat(path, &status) != 0 && errno == ENOENT
        // An empty file, or a link to no file yet: opened, it holds the journal's schema.
        let noDatabaseYet = !isNew && (stat(path, &status) != 0 || status.st_size == 0)
        do {
            // Interrupted before its end, nothing was imported; then what it says follows where
            // the import stands (the counting of the file's events comes after this, as it can
            // take seconds).
            let again = "run the same command again"
            // The files a new database is built under: its temporary name is a second one once placed.
            let temporary = isNew ? ["", "-wal", "-shm", "-journal"].map { JournalArchive.temporaryPath(for: path) + $0 } : []
            InterruptionCleanup.removeOnSignal(
                temporary,
                saying: isNew ? "nothing was imported, and no database was created at \(path); \(again)"
                    : "nothing was imported, and \(path) is left as it was; \(again)",
                json: global.json)
            let verify = "`enroll verify\(StoreError.databaseArgument(path))`"
            let progress = ProgressLine(doing: "importing", total: Self.eventCount(of: file))
            if isNew {
                imported = try JournalArchive.importFile(
                    file, intoNewDatabaseAt: path, options: options, anchor: expected, requireEnd: requireEnd,
                    placed: { InterruptionCleanup.removeOnSignal(temporary, saying: "the import had finished: \(path) holds it (\(verify) checks it)", json: global.json) }
                ) { progress.advance() }
            } else {
                // An existing (empty) database is filled in place; refused, it is left as it was.
                // Interrupted, its one transaction is never committed, unless it was committing.
                let database = try EnrollmentDatabase(path: path, options: options)
                if noDatabaseYet {
                    InterruptionCleanup.removeOnSignal(
                        [], saying: "nothing was imported: \(path) now holds an enrollment database with no events; \(again)", json: global.json)
                }
                imported = try JournalArchive.importFile(
                    file, into: database, anchor: expected, requireEnd: requireEnd,
                    committing: {
                        InterruptionCleanup.removeOnSignal(
                            [], saying: "the import was being committed: \(path) may hold all of it (\(verify) shows whether it does; if it holds no events, \(again))",
                            json: global.json)
                    }
                ) { progress.advance() }
            }
            InterruptionCleanup.done()
        } catch {
            var failure: CLIFailure
            switch error {
            case let error as ArchiveError: failure = .archive(error)
            case let error as StoreError:
                failure = .store(error)
                // How much is enough: the database (about the file's size) and, until the one
                // transaction is checkpointed, its write-ahead log.
                if case .diskFull = error, let size = Self.regularFileSize(file) {
                    failure.message += "; an import needs up to about twice the file's size free while it runs (\(Self.megabytes(2 * size)) for \(file)): the new database and its write-ahead log"
                }
            default: throw error
            }
            // A failure of the database being built aside names the path the user gave.
            failure.message = failure.message.replacingOccurrences(of: JournalArchive.temporaryPath(for: path), with: path)
            throw global.failure(failure)
        }
        let count = imported.events
        if global.json {
            Terminal.json([
                "imported": count, "database": global.databasePath, "anchor": imported.anchor?.description, "matchesAnchor": expected?.description,
                "endLine": imported.ended,
            ])
        } else {
            let ending = imported.ended ? ", and the file ends with export's end line (it was not cut)"
                : expected == nil ? "; the file has no end line, so nothing shows that it was not cut" : ""
            Terminal.line("Imported \(count) event\(count == 1 ? "" : "s") into \(Terminal.visible(global.databasePath)); the hash chain verified\(ending).")
            if let expected { Terminal.line("It holds the anchor \(expected).") }
            if let reached = imported.anchor {
                if expected == nil { Terminal.line("Compare the anchor below with the one `enroll export` printed for the file.") }
                Terminal.line("Anchor: \(reached)")
            }
        }
    }
}

/// `enroll verify`: walks the hash chain.
struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check the journal's hash chain; name the first position where a row was modified, deleted, inserted or reordered.",
        discussion: """
            An intact journal prints its anchor, POSITION:HASH. Keep it outside the database (a ticket, \
            a log, another system): `enroll verify --anchor POSITION:HASH` later also catches rows \
            rewritten with recomputed hashes, and rows deleted from the end, up to that position. \
            On an intact chain the projections are folded again from the journal and compared with \
            the stored tables row by row. Exit 0 when every event verifies (and matches the anchor) \
            and the projections agree, 1 when the chain is broken, does not match the anchor or the \
            projections disagree, 2 for a malformed anchor, 3 when the database cannot be read.
            """)

    @OptionGroup var global: ReadOptions

    @OptionGroup var anchor: AnchorOption

    func run() throws {
        let database = try global.reporting { try global.openExisting() }
        let expected = anchor.expected
        let progress = ProgressLine(doing: "verifying", total: try? database.read { db in try EventJournal.head(in: db) })
        let (result, mismatch, findings) = try global.reporting {
            do {
                return try database.read { db -> (ChainVerification, AnchorMismatch?, [OutsideChainFinding]) in
                    let result = try HashChain.verify(in: db) { progress.advance() }
                    guard result.isIntact else { return (result, nil, []) }
                    let findings = try HashChain.crossCheck(in: db, limit: Self.findingsShown + 1)
                    guard let expected else { return (result, nil, findings) }
                    return (result, try HashChain.check(expected, in: db), findings)
                }
            } catch {
                throw StoreError(error, path: database.path)
            }
        }
        if let found = result.firstBreak {
            if global.json {
                Terminal.json([
                    "intact": false, "verified": result.verified, "head": result.head, "position": found.position,
                    "earliestChanged": found.earliestChanged, "tampering": found.tampering.rawValue, "detail": found.detail,
                ])
            }
            Terminal.error("the hash chain breaks at position \(found.position) (\(found.tampering.rawValue)): \(found.detail); \(Self.vouched(result.verified, before: found))", hint: "restore the journal from a backup or an export")
            throw ExitCode(CLIExit.refused)
        }
        if let expected, let mismatch {
            if global.json {
                Terminal.json([
                    "intact": false, "verified": result.verified, "head": result.head, "position": expected.position,
                    "tampering": "anchor", "error": "anchor_mismatch", "detail": mismatch.message(for: expected),
                ])
            }
            // The remedy inside the message and the code last, as every refusal with a code.
            Terminal.error(mismatch.message(for: expected) + "; if the anchor is right, restore the journal from a backup or an export taken before the change", hint: "anchor_mismatch")
            throw ExitCode(CLIExit.refused)
        }
        if !findings.isEmpty {
            let shown = findings.prefix(Self.findingsShown)
            if global.json {
                Terminal.json([
                    "intact": false, "verified": result.verified, "head": result.head, "tampering": "outside-chain",
                    "detail": shown[0].detail, "findings": shown.map { ["kind": $0.kind.rawValue, "stream": $0.stream, "detail": $0.detail] },
                    "moreFindings": findings.count > Self.findingsShown ? true : nil,
                ])
            }
            for finding in shown { Terminal.error(finding.detail, hint: nil) }
            if findings.count > Self.findingsShown {
                Terminal.error("more tables disagree with the journal than the \(Self.findingsShown) shown", hint: nil)
            }
            throw ExitCode(CLIExit.refused)
        }
        progress.stage("the hash chain is intact; comparing the projections with the journal")
        let projections = try checkProjections(database, chain: result)
        let reversals = result.timeReversals
        if global.json {
            var report: [String: Any?] = ["intact": true, "verified": result.verified, "head": result.head, "anchor": result.anchor?.description]
            report["projectionsChecked"] = projections.checked
            if !projections.skipped.isEmpty { report["projectionsSkipped"] = Dictionary(uniqueKeysWithValues: projections.skipped.map { ($0.name, global.naming($0.reason)) }) }
            if let expected { report["matchesAnchor"] = expected.description }
            if let reversals {
                report["timeGoesBack"] = [
                    "positions": reversals.count, "firstPosition": reversals.firstPosition,
                    "recordedAt": Timestamps.iso8601(reversals.firstTime), "after": Timestamps.iso8601(reversals.timeBefore),
                ] as [String: Any]
            }
            Terminal.json(report)
        } else {
            Terminal.line("Verified \(result.verified) event\(result.verified == 1 ? "" : "s"): the hash chain is intact.")
            if let expected { Terminal.line("It still holds the anchor \(expected).") }
            if !projections.checked.isEmpty {
                Terminal.line("The projections agree with the journal (\(projections.checked.joined(separator: ", ")) folded again and compared row by row).")
            }
            for (name, reason) in projections.skipped { Terminal.line("note: \(name) was not compared with the journal: \(global.naming(reason))") }
            if let anchor = result.anchor {
                Terminal.line("Keep the anchor below outside the database: `enroll verify\(StoreError.databaseArgument(global.databasePath)) --anchor POSITION:HASH` checks the journal against it.")
                Terminal.line("Anchor: \(anchor)")
            } else {
                // No `Anchor:` line: a script copying it would keep this sentence as an anchor.
                Terminal.line("No anchor yet: the journal is empty, so there is nothing to anchor; verify again once it holds events.")
            }
            if let reversals {
                Terminal.line(
                    "note: recorded times go back by more than \(TimeReversals.tolerance) s at \(reversals.count) position\(reversals.count == 1 ? "" : "s") (first at position \(reversals.firstPosition): "
                        + "\(Timestamps.iso8601(reversals.firstTime)) after \(Timestamps.iso8601(reversals.timeBefore))); "
                        + "event times are the clock of the process that appended them (a clock set back, or ENROLL_NOW)")
            }
        }
    }

    /// The projections (what `status`, `activity` and the API read) folded again from the
    /// journal the chain vouches for and compared with the stored tables, which nothing chains.
    /// Disagreeing rows are tampering (or a bug): listed, then exit 1.
    private func checkProjections(_ database: EnrollmentDatabase, chain: ChainVerification) throws -> ProjectionCheck.Report {
        let report = try global.reporting {
            do {
                return try ProjectionCheck.run(database)
            } catch StoreError.undecodableEvent(let position, let type, let reason) {
                // The chain vouches for the row: no edit, but a newer release's event.
                throw global.failure(CLIFailure(
                    code: "undecodable_event",
                    message: "the hash chain is intact, but the event at position \(position) (\(Validation.excerpt(type))) cannot be read (\(reason)): a newer release of enroll wrote it; upgrade enroll to compare the projections, and keep the journal as it is",
                    exitCode: CLIExit.environment, showsCode: true))
            } catch {
                throw StoreError(error, path: database.path)
            }
        }
        guard !report.agrees else { return report }
        // A table dropped or altered by hand cannot be compared row by row; it is named first,
        // with the rebuild of that projection alone.
        let rows = "the projections disagree with the journal in \(report.total) row\(report.total == 1 ? "" : "s"): \(report.differences.first?.description ?? "")"
        let damaged = report.damaged.map { "the \($0.name) projection's table \($0.problem)" }
        let summary = report.damaged.isEmpty ? rows : damaged.joined(separator: "; ") + (report.total > 0 ? "; \(rows)" : "")
        let fix = report.damaged.count == 1 && report.total == 0 ? "--projection \(report.damaged[0].name)" : "--all"
        if global.json {
            Terminal.json([
                "intact": false, "verified": chain.verified, "head": chain.head, "anchor": chain.anchor?.description,
                "tampering": "projections", "detail": summary, "projectionDifferences": report.total,
                "differences": report.differences.map(\.description),
                "damagedProjections": report.damaged.isEmpty ? nil : Dictionary(uniqueKeysWithValues: report.damaged.map { ($0.name, "its table " + $0.problem) }),
            ])
        } else {
            Terminal.line("Verified \(chain.verified) event\(chain.verified == 1 ? "" : "s"): the hash chain is intact.")
            for (name, problem) in report.damaged { Terminal.line("\(name): its table \(problem)") }
            for difference in report.differences { Terminal.line(difference.description) }
            if report.total > report.differences.count { Terminal.line("… and \(report.total - report.differences.count) more") }
        }
        // Rows that disagree, with no anchor to vouch for the journal: the journal may be what
        // changed, rewritten with every hash after the change recomputed, and a rebuild would
        // replace the only rows that still show it.
        let hint = report.total > 0 && anchor.expected == nil
            ? "the hash chain holds, but so does a journal rewritten with every hash after the change recomputed: check it against an anchor kept outside the database (`enroll verify --anchor POSITION:HASH`) or a backup first, since `rebuild-projections \(fix)` folds the projections from the journal again and replaces the rows listed"
            : "the journal is intact: run `rebuild-projections \(fix)` to fold the projections from it again"
        Terminal.error(summary, hint: global.naming(hint))
        throw ExitCode(CLIExit.refused)
    }

    /// How many disagreements between the journal and the tables outside it are listed.
    static let findingsShown = 20

    /// What the walk vouches for before a break: the rows before the earliest that may have changed.
    static func vouched(_ verified: Int64, before found: ChainBreak) -> String {
        let events = "\(verified) event\(verified == 1 ? "" : "s")"
        if verified == 0 { return "no event verified" }
        if found.earliestChanged == found.position { return "\(events) before it verified" }
        return "the \(events) before position \(found.earliestChanged) verified"
    }
}

extension CommandOptions {
    var durabilityLevel: Durability { Durability(rawValue: durability.uppercased()) ?? .full }
}
