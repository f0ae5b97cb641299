import ArgumentParser
import Enrollment
import Foundation

/// How `history` and `audit` print entries: a readable table, or JSON Lines with `--json`.
///
/// The USER and ACTOR columns are as wide as the longest id among the first
/// ``widthLookahead`` entries (at least 16 characters): those entries are held back until then,
/// the rest are printed as they come, so a journal of any length streams. An id longer than
/// every one before it still gets a space after it.
struct HistoryPrinter {
    let json: Bool
    let showUser: Bool
    let output = OutputBuffer()
    private(set) var count = 0
    /// Entries whose row does not chain (``HistoryEntry/chained``), and the first one's position.
    private(set) var unchained = 0
    private(set) var firstUnchained: Int64?
    /// Entries whose event cannot be read (``HistoryEntry/unreadable``), the first one, and the
    /// first one whose row still chains (a newer release's event, or an edit with every hash
    /// after it recomputed).
    private(set) var unreadable = 0
    private(set) var firstUnreadable: HistoryEntry?
    private(set) var firstChainedUnreadable: HistoryEntry?
    /// Entries held back until the column widths are known.
    private var held: [HistoryEntry] = []
    private var widths: (user: Int, actor: Int)?

    static let widthLookahead = 1_000
    static let minimumIdWidth = 16
    /// Wider ids overflow their column rather than push every line this far.
    static let maximumIdWidth = 64

    init(json: Bool, showUser: Bool) {
        self.json = json
        self.showUser = showUser
    }

    mutating func print(_ entry: HistoryEntry) throws {
        count += 1
        if !entry.chained {
            unchained += 1
            if firstUnchained == nil { firstUnchained = entry.position }
        }
        if entry.unreadable != nil {
            unreadable += 1
            if firstUnreadable == nil { firstUnreadable = entry }
            if entry.chained && firstChainedUnreadable == nil { firstChainedUnreadable = entry }
        }
        if json {
            try output.line(entry.jsonObject.canonicalString)
            return
        }
        guard let widths else {
            held.append(entry)
            if held.count >= Self.widthLookahead { try settle() }
            return
        }
        try line(entry, widths: widths)
    }

    /// Prints what is held back (the header with it) and flushes. With no entries there is no
    /// header: the caller says there were none.
    mutating func finish() throws {
        if !json && widths == nil && !held.isEmpty { try settle() }
        try output.flush()
    }

    /// Fixes the widths from the entries held back, then prints the header and them.
    private mutating func settle() throws {
        func width(_ ids: [String]) -> Int {
            min(max(Self.minimumIdWidth, ids.map(TextField.displayWidth).max() ?? 0), Self.maximumIdWidth)
        }
        let widths = (user: width(held.map { TextField.quoted($0.user) }), actor: width(held.map { TextField.quoted($0.actor) }))
        self.widths = widths
        var columns = [pad("TIME", 20)]
        if showUser { columns.append(pad("USER", widths.user)) }
        columns += [pad("EVENT", 22), pad("ACTOR", widths.actor), pad("OUTCOME", 9), "DETAILS"]
        try output.line(columns.joined(separator: " "))
        for entry in held { try line(entry, widths: widths) }
        held = []
    }

    private func line(_ entry: HistoryEntry, widths: (user: Int, actor: Int)) throws {
        var columns = [pad(entry.timeUnreadable ? "(time unreadable)" : Timestamps.iso8601(entry.time), 20)]
        // A user id or actor with spaces in it is quoted: it must not read as more columns.
        if showUser { columns.append(pad(TextField.quoted(entry.user), widths.user)) }
        // The type is as stored: an unreadable row's may hold anything.
        columns += [pad(TextField.quoted(entry.type), 22), pad(TextField.quoted(entry.actor), widths.actor), pad(entry.outcome.rawValue, 9),
                    (entry.chained ? "" : Self.unchainedMark) + TextField.escaped(entry.unreadable.map(Self.unreadableMark) ?? entry.details)
                        + (entry.correlationId.map { " [correlation \(Self.shownCorrelation($0))]" } ?? "")]
        try output.line(columns.joined(separator: " "))
    }

    /// A correlation id as the text shows it: quoted (JSON's escapes) when it holds a space, a
    /// quote or a bracket, which would make `[correlation a] [b]` read as two marks.
    static func shownCorrelation(_ id: String) -> String {
        guard id.contains(where: { " \"[]\\".contains($0) }) else { return TextField.escaped(id) }
        let data = (try? JSONSerialization.data(withJSONObject: [id], options: [.withoutEscapingSlashes])) ?? Data()
        let array = String(decoding: data, as: UTF8.self)
        return TextField.escaped(String(array.dropFirst().dropLast()))
    }

    /// In terminal columns (``TextField/displayWidth(_:)``): ids in any script line up.
    private func pad(_ text: String, _ width: Int) -> String { TextField.padded(text, to: width) }

    /// What `history` and `audit` do: the entries `filter` selects, streamed; `none` when there
    /// are none (text only); then the chain check (``checkChain(deletedEnd:)``).
    static func show(_ filter: AuditFilter, showUser: Bool, global: ReadOptions, none: String) throws {
        var printer = HistoryPrinter(json: global.json, showUser: showUser)
        let (database, trail) = try global.reporting {
            let database = try global.openExisting()
            if let user = filter.user, Validation.isSpaced(user) { try Validation.spacedUser(user, recorded: try database.holds(user)) }
            return (database, AuditTrail(database: database))
        }
        // A long listing into a file or a pipe says how far it has come, on stderr (into a
        // terminal, the listing itself shows it).
        let head = Terminal.isTerminal ? nil : try? database.read { db in try EventJournal.head(in: db) }
        let progress = head.map { ProgressLine(doing: showUser ? "listing" : "listing the history", total: $0, unit: "journal positions") }
        do {
            try global.reporting {
                try trail.forEach(filter) { entry in
                    try printer.print(entry)
                    progress?.reach(entry.position)
                }
            }
        } catch {
            // The entries before the one that failed are still shown, as when they streamed.
            try? printer.finish()
            throw error
        }
        try printer.finish()
        if printer.count == 0 && !global.json { Terminal.line(none) }
        let deletedEnd = try global.reporting { try trail.deletedEnd(of: filter.user) }
        do { try printer.checkChain(deletedEnd: deletedEnd) } catch { throw global.failure(error) }
    }

    /// Before the details of an entry whose row does not chain.
    static let unchainedMark = "[HASH CHAIN BROKEN HERE] "

    /// In place of the details of an entry whose event cannot be read: only why, never the row's data.
    static func unreadableMark(_ reason: String) -> String { "[UNREADABLE: \(reason)]" }

    /// After the listing: rows that do not chain, or rows deleted from the end (`deletedEnd`,
    /// ``AuditTrail/deletedEnd(of:)``), fail the command (exit 1), once every entry has been
    /// shown, marked, so that the reader sees them and a script cannot miss them. Rows whose
    /// event cannot be read are named with them; an edited one does not chain. If every such
    /// row chains and nothing else is wrong, the chain holds events this release cannot read
    /// (a newer release wrote them, or the hashes after an edit were recomputed):
    /// `undecodable_event` (exit 3), as every command reading them fails.
    func checkChain(deletedEnd: String?) throws(CLIFailure) {
        var problems: [String] = []
        if let firstUnchained {
            let rows = unchained == 1 ? "1 of the events shown does" : "\(unchained) of the events shown do"
            problems.append("\(rows) not match the journal's hash chain (the first at position \(firstUnchained)): it, or a row before it, was changed or deleted outside enroll")
        }
        if let deletedEnd { problems.append(deletedEnd) }
        if let first = firstUnreadable, !problems.isEmpty {
            let rows = unreadable == 1 ? "1 of the events shown cannot be read" : "\(unreadable) of the events shown cannot be read"
            problems.append("\(rows) (the first at position \(first.position), type \(TextField.quoted(first.type.count > 40 ? String(first.type.prefix(40)) + "…" : first.type)): \(first.unreadable ?? ""))")
        }
        if problems.isEmpty, let first = firstChainedUnreadable {
            throw CLIFailure.store(.undecodableEvent(position: first.position, type: TextField.quoted(first.type), reason: first.unreadable ?? ""))
        }
        guard !problems.isEmpty else { return }
        // Exit 1, as a refusal: its line ends with the code, as theirs do.
        throw CLIFailure(
            code: "chain_broken",
            message: problems.joined(separator: "; ") + "; run `enroll verify` to see where and how, and restore the journal from a backup or an export",
            exitCode: CLIExit.refused, showsCode: true)
    }
}

/// `enroll history USER`: one user's timeline.
struct HistoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "history",
        abstract: "Show USER's enrollment history: time, event, actor, outcome and details (never a secret or a code).",
        discussion: """
            With --json, prints JSON Lines: one object per event with its position, stream version, type, \
            recorded-at time, actor, command id, outcome and the event's fields (secrets shown as "sealed" \
            or "forgotten"). A row whose event cannot be read is listed with [UNREADABLE: REASON] (JSON: \
            "unreadable") and never its data. Needs no key file.
            """)

    @OptionGroup var global: ReadOptions

    @OptionGroup var subject: UserArgument
    var user: String { subject.user }

    func run() throws {
        try HistoryPrinter.show(AuditFilter(user: user), showUser: false, global: global, none: "No events recorded for \(TextField.quoted(user)).")
    }
}

/// `enroll audit`: every user's events, filtered, streamed.
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "List events across all users, filtered by time, user, actor and type; streams any journal size.",
        discussion: """
            TIME is 2026-11-29T13:06:16Z, 2026-11-29 (midnight UTC) or @UNIXSECONDS. --since is inclusive, \
            --until exclusive. --type may be repeated; types: \(EventType.allCases.map(\.rawValue).joined(separator: ", ")); \
            a row whose stored type is none of these (edited outside enroll) is shown under any --type. \
            With --json, prints JSON Lines as `enroll history --json` does. \
            Master key rotations are not events of the journal: `enroll keys history` lists them.
            """)

    @OptionGroup var global: ReadOptions

    @Option(help: ArgumentHelp("Only events recorded at or after TIME.", valueName: "time"))
    var since: String?

    @Option(help: ArgumentHelp("Only events recorded before TIME.", valueName: "time"))
    var until: String?

    @Option(help: ArgumentHelp("Only this user's events.", valueName: "user"))
    var user: String?

    @Option(help: ArgumentHelp("Only events recorded with this actor: who acted (a user, an operator's --actor, or (system) for expiries and the ends of locks).", valueName: "name"))
    var actor: String?

    @Option(name: .customLong("correlation-id"), help: ArgumentHelp("Only events of commands given this correlation id (--correlation-id; for enroll serve, a request's X-Trace-Id).", valueName: "id"))
    var correlationId: String?

    @Option(help: ArgumentHelp("Only events of this type (repeatable).", valueName: "type"))
    var type: [String] = []

    // Unconditional, so that `--limit -1` reaches the range check rather than reading as an option.
    @Option(parsing: .unconditional, help: ArgumentHelp("At most this many events.", valueName: "n"))
    var limit: String?

    func filter() throws -> AuditFilter {
        func time(_ text: String?, _ option: String) throws -> UnixTime? {
            guard let text else { return nil }
            guard let time = Timestamps.parse(text) else {
                throw ValidationError("--\(option) '\(Validation.excerpt(text, limit: 80))' is not a time\(Self.reason(text)); use 2026-11-29T13:06:16Z, 2026-11-29 or @UNIXSECONDS")
            }
            return time
        }
        var types: Set<EventType> = []
        for name in type {
            guard let match = EventType.allCases.first(where: { $0.rawValue.lowercased() == name.lowercased() }) else {
                throw ValidationError("unknown event type '\(name)'; use one of \(EventType.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            types.insert(match)
        }
        if let user { do { _ = try Validation.recordedUser(user) } catch { throw CodedValidation.error(error) } }
        let limit = try limit.map { text in
            // Any whole number is read, so that `--limit abc` and `--limit 0` get the same line.
            guard let limit = Int(text) else {
                throw ValidationError("--limit must be a whole number of at least 1, not '\(Validation.excerpt(text))'; pass --limit with how many events to show")
            }
            guard limit >= 1 else { throw ValidationError("--limit must be at least 1, not \(limit); pass --limit with how many events to show") }
            return limit
        }
        if let correlationId {
            do { _ = try Validation.recordedCorrelationId(correlationId) } catch { throw CodedValidation.error(error) }
        }
        if let actor, actor != EventMetadata.systemActor {
            do { _ = try Validation.recordedUser(actor) } catch {
                let reason = if case .invalidUser(let reason) = error { reason } else { error.message }
                throw CodedValidation.error(InputError.invalidActor(reason), message: "--actor '\(TextField.escaped(String(actor.prefix(40))))' is no actor enroll records (\(reason)); pass a user id, an operator's --actor name, or (system)")
            }
        }
        let filter = AuditFilter(since: try time(since, "since"), until: try time(until, "until"), user: user, types: types, limit: limit, actor: actor, correlationId: correlationId)
        if let since = filter.since, let until = filter.until, until <= since {
            throw ValidationError("--until must be later than --since")
        }
        return filter
    }

    func validate() throws { _ = try filter() }

    /// ` (February 2026 has no day 30; …)` for a date or time that does not exist, is malformed or
    /// is outside 1970-9999, else nothing.
    static func reason(_ text: String) -> String {
        (Timestamps.impossibility(in: text) ?? Timestamps.malformation(in: text) ?? Timestamps.outOfRange(in: text)).map { " (\($0))" } ?? ""
    }

    func run() throws {
        try HistoryPrinter.show(try filter(), showUser: true, global: global, none: "No events match.")
    }
}

extension CommandOptions {
    /// Opens an existing database for reading the journal: no key file is needed.
    func openExisting() throws -> EnrollmentDatabase {
        try EnrollmentDatabase(path: databasePath, options: DatabaseOptions(create: false))
    }
}

/// `enroll activity`: the auditors' daily counts per issuer (the enrollment_activity projection).
struct ActivityCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "activity",
        abstract: "Count enrollments per day and issuer: requested, regenerated, confirmed, abandoned, failed codes, locks, removed.",
        discussion: """
            Days are UTC and whole: --since and --until take days (YYYY-MM-DD), both inclusive. \
            "abandoned" counts pending secrets never confirmed: one that expired, on the day the \
            journal recorded the expiry (the next command for that user records it), and one that a \
            new request, a new regeneration or a removal discarded, on that command's day. Expiries no command \
            has recorded yet (a user who never came back) are counted on the day they expired, in an \
            UNRECORDED column (JSON: unrecordedExpiries). "failed" \
            counts wrong or reused codes, and codes refused while locked. Counts without an issuer of their own are under the secret \
            concerned: a code under the secret it was checked against, a lock under the secret being \
            confirmed, a removal under the active secret (the pending one if none is active); a removal \
            that only forgets a first secret already recorded as expired counts nothing (that secret \
            counted as abandoned then), though audit lists its AuthenticatorRemoved. Reads the enrollment_activity projection (refused with exit 3 if it must be \
            rebuilt first: run rebuild-projections). With --json, prints one JSON object per row.
            """)

    @OptionGroup var global: ReadOptions

    @Option(help: ArgumentHelp("First day (YYYY-MM-DD, UTC; a TIME `audit` takes only at 00:00:00Z: activity counts whole days).", valueName: "day"))
    var since: String?

    @Option(help: ArgumentHelp("Last day (YYYY-MM-DD, UTC), inclusive: counted through its end.", valueName: "day"))
    var until: String?

    @Option(help: ArgumentHelp("Only this issuer.", valueName: "name"))
    var issuer: String?

    func day(_ text: String?, _ option: String) throws -> String? {
        guard let text else { return nil }
        guard let time = Timestamps.parse(text) else {
            throw ValidationError("--\(option) '\(Validation.excerpt(text, limit: 80))' is not a day\(AuditCommand.reason(text)); use YYYY-MM-DD, e.g. 2026-11-29")
        }
        // Counts are per whole UTC day: a time inside a day would be widened to it, silently
        // counting events outside the window asked for (what `audit` with the same TIME shows).
        let day = EnrollmentActivityProjection.day(of: time)
        guard time % 86_400 == 0 else {
            throw ValidationError("--\(option) '\(Validation.excerpt(text, limit: 80))' is not the start of a UTC day: activity counts whole days; give YYYY-MM-DD, e.g. \(day)")
        }
        return day
    }

    func validate() throws {
        if issuer?.isEmpty == true { throw ValidationError("--issuer is empty; pass an issuer's name, or leave --issuer out for every issuer") }
        if let first = try day(since, "since"), let last = try day(until, "until"), last < first {
            throw ValidationError("--until must not be before --since")
        }
    }

    /// Why `error` asks for `name`'s rebuild, in a few words, or nil when a rebuild is not its
    /// remedy (a newer release's projection, missing events, a database being created).
    static func rebuildReason(_ error: StoreError) -> (name: String, reason: String)? {
        switch error {
        case .staleProjection(let name, 0, _): (name, "\(name) has no checkpoint")
        case .staleProjection(let name, let stored, let code): (name, "\(name) is at schema version \(stored), this code needs \(code)")
        case .laggingProjection(let name, let position, let head) where position < head: (name, "\(name) has folded \(position) of the journal's \(head) events")
        case .damagedProjection(let name, let problem): (name, "\(name)'s table \(problem)")
        default: nil
        }
    }

    /// Activity reads both projections: when both must be rebuilt, one refusal says so, rather
    /// than one naming the first and, once it is rebuilt, another naming the second.
    static func bothStale(_ error: StoreError, in database: EnrollmentDatabase) -> CLIFailure? {
        guard let first = rebuildReason(error) else { return nil }
        let other: StoreError? = try? database.read { db in
            do { try ProjectionStatus.requireCurrent(AuthenticatorsProjection(), in: db) } catch let error as StoreError { return error }
            return nil
        }
        // The authenticators projection refused first (enrollment_activity is current): named alone.
        guard let other, let second = rebuildReason(other), second.name != first.name else { return nil }
        return CLIFailure(code: error.code, message: "both projections activity reads must be rebuilt first (\(first.reason); \(second.reason)); run `rebuild-projections --all`", exitCode: CLIExit.environment)
    }

    func run() throws {
        let first = try day(since, "since"), last = try day(until, "until")
        let now = global.clock.now()
        let (counted, unrecorded) = try global.reporting {
            let database = try global.openExisting()
            do {
                return try database.read { db in
                    (try EnrollmentActivityProjection().read(from: first, through: last, issuer: issuer, in: db),
                     try AuthenticatorsProjection().unrecordedExpiries(before: now, from: first, through: last, issuer: issuer, in: db))
                }
            } catch let error as StoreError {
                guard var failure = Self.bothStale(error, in: database) else { throw error }
                failure.json = global.json
                failure.message = global.naming(failure.message)
                throw failure
            } catch {
                throw StoreError(error, path: database.path)
            }
        }
        // Expiries no command has recorded yet, on the day and under the issuer they expired.
        var rows = counted
        for expiry in unrecorded {
            if let index = rows.firstIndex(where: { $0.day == expiry.day && $0.issuer == expiry.issuer }) {
                rows[index].unrecordedExpiries = expiry.count
            } else {
                var row = ActivityCount(day: expiry.day, issuer: expiry.issuer)
                row.unrecordedExpiries = expiry.count
                rows.append(row)
            }
        }
        rows.sort { ($0.day, $0.issuer) < ($1.day, $1.issuer) }
        let output = OutputBuffer()
        if global.json {
            for row in rows {
                try output.line(JSONValue.object([
                    "day": .string(row.day), "issuer": .string(row.issuer), "requested": .int(Int64(row.requested)),
                    "regenerated": .int(Int64(row.regenerated)), "confirmed": .int(Int64(row.confirmed)),
                    "abandoned": .int(Int64(row.abandoned)), "failedCodes": .int(Int64(row.failedCodes)),
                    "locks": .int(Int64(row.locks)), "removed": .int(Int64(row.removed)),
                    "unrecordedExpiries": .int(Int64(row.unrecordedExpiries)),
                ]).canonicalString)
            }
        } else if rows.isEmpty {
            try output.line(issuer.map { "No enrollment activity recorded for the issuer '\(Terminal.visible(String($0.prefix(80))))' in that range (issuers match exactly, case included)." }
                ?? "No enrollment activity recorded in that range.")
        } else {
            // Each cell ends with a space, even one that fills its column.
            func pad(_ text: String, _ width: Int) -> String { TextField.padded(text, to: width - 1) + " " }
            let unrecordedColumn = rows.contains { $0.unrecordedExpiries > 0 }
            var columns = ["REQUESTED", "REGENERATED", "CONFIRMED", "ABANDONED", "FAILED", "LOCKS", "REMOVED"]
            if unrecordedColumn { columns.append("UNRECORDED*") }
            // As wide as the longest issuer (up to 64 characters) and a space.
            // Quoted when it holds a space (as ids are), so that an issuer cannot pass for another
            // issuer's row followed by counts.
            let issuerWidth = min(max(20, (rows.map { TextField.displayWidth(TextField.quoted($0.issuer)) }.max() ?? 0) + 1), 65)
            try output.line(pad("DAY", 12) + pad("ISSUER", issuerWidth) + columns.map { pad($0, 12) }.joined())
            for row in rows {
                var counts = [row.requested, row.regenerated, row.confirmed, row.abandoned, row.failedCodes, row.locks, row.removed]
                if unrecordedColumn { counts.append(row.unrecordedExpiries) }
                try output.line(pad(row.day, 12) + pad(TextField.quoted(row.issuer), issuerWidth) + counts.map { pad(String($0), 12) }.joined())
            }
            if unrecordedColumn {
                try output.line(
                    "* pending secrets that expired unconfirmed that day and that no command has recorded yet (the user has not come back; `enroll status USER` shows each as expired); once one is recorded it counts as ABANDONED on that command's day")
            }
        }
        try output.flush()
    }
}
