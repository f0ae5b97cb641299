import Foundation
import CryptoPrimitives
import GRDB

/// Why an import was refused. Nothing is written when any line is refused.
public enum ArchiveError: Error, Sendable, Hashable {
    case fileUnreadable(path: String, reason: String)
    case notEmpty(path: String, events: Int64)
    case malformedLine(line: Int, reason: String)
    case outOfSequence(line: Int, expected: Int64, found: Int64)
    case brokenChain(line: Int, position: Int64)
    case undecodable(line: Int, reason: String)
    /// An event the decider could never have recorded after the stream's events before it.
    case impossibleEvent(line: Int, position: Int64, stream: String, type: String, reason: String)
    case empty(path: String)
    /// The file ends without the end line `export` writes after its last row: it was cut at a
    /// line boundary (an export killed before it finished, a copy interrupted).
    case unfinished(path: String, lines: Int, position: Int64)
    /// The path names a directory (bad input: an export is one file).
    case isDirectory(path: String)
    /// The file is an SQLite database (an enrollment database given where its export goes).
    case isDatabase(path: String)
    /// The file's chain does not reach the anchor it was imported against (`import --anchor`).
    case anchorMismatch(ChainAnchor, AnchorMismatch)
    /// The new database's path was taken by another process while the import ran (another
    /// import, or a command creating a database there): the import is not placed there.
    case createdMeanwhile(path: String)
    /// The imported database could not be given its name (`link(2)` failed for another reason
    /// than the name being taken).
    case unplaceable(path: String, reason: String)

    public var code: String {
        switch self {
        case .fileUnreadable: "file_unreadable"
        case .notEmpty: "database_not_empty"
        case .malformedLine: "malformed_line"
        case .outOfSequence: "out_of_sequence"
        case .brokenChain: "broken_chain"
        case .undecodable: "undecodable_event"
        case .impossibleEvent: "impossible_event"
        case .empty: "empty_file"
        case .unfinished: "export_unfinished"
        case .isDirectory, .isDatabase: "not_a_file"
        case .anchorMismatch: "anchor_mismatch"
        case .createdMeanwhile: "database_created_meanwhile"
        case .unplaceable: "database_unplaceable"
        }
    }

    public var message: String {
        switch self {
        case .fileUnreadable(let path, let reason):
            "cannot read \(path) (\(reason)); pass the path of a file written by `enroll export`"
        case .notEmpty(let path, let events):
            "\(path) already holds \(events) event\(events == 1 ? "" : "s"); import only into a new database (pass --db with a path that does not exist yet)"
        case .malformedLine(let line, let reason):
            "line \(line) is not a journal row (\(reason)); import only files written by `enroll export`"
        case .outOfSequence(let line, let expected, let found):
            "line \(line) has position \(found) where \(expected) was expected: the file was cut, reordered or edited; export it again"
        case .brokenChain(let line, let position) where position <= 1:
            "line \(line) (position \(position)) does not match its hash: the file was modified; export it again from an intact journal"
        case .brokenChain(let line, let position):
            // A line edited with its hash recomputed chains itself and breaks the next one.
            "line \(line) (position \(position)) does not chain from the line before it: this line was edited, or the one before it was edited and its hash recomputed; export it again from an intact journal"
        case .undecodable(let line, let reason):
            "line \(line) holds an event this version cannot read (\(reason)); upgrade enroll or export again"
        case .impossibleEvent(let line, let position, let stream, let type, let reason):
            "line \(line) (position \(position)): \(type) could not have followed the events before it in \(stream.prefix(64))'s stream (\(reason)): the file was edited or not written by enroll; export it again from an intact journal"
        case .empty(let path):
            "\(path) holds no events; pass a file written by `enroll export`"
        case .unfinished(let path, let lines, let position):
            "\(path) ends after line \(lines) (position \(position)) without the end line `enroll export` writes last: it was cut (an export killed before it finished, or a copy interrupted); export it again, or copy the whole file (a file exported before exports had end lines imports with --anchor as its export printed it, or with --no-end-line)"
        case .isDirectory(let path):
            "\(path) is a directory, not an export; pass the path of a file written by `enroll export`"
        case .isDatabase(let path):
            "\(path) is an SQLite database, not an export; pass a file written by `enroll export` (to import a database, export it first: `enroll export --db \(TextField.shellPath(path)) --output FILE`)"
        case .anchorMismatch(let anchor, .shorter(let head)):
            "the file ends at position \(head), before the anchor at position \(anchor.position): it was cut (lines are missing from its end); export it again, or copy the whole file"
        case .anchorMismatch(let anchor, .rewritten):
            "the file's chain does not have the anchor's hash at position \(anchor.position): it is not the journal the anchor was taken from, or it was rewritten with its hashes recomputed; export it again from that journal"
        case .createdMeanwhile(let path):
            "\(path) was created by another process while this import ran (another import, or a command); it was left as it is and nothing was imported into it: import only into a new database (pass --db with a path that does not exist yet)"
        case .unplaceable(let path, let reason) where reason.hasPrefix("its directory could not be synced"):
            "the imported database could not be named \(path) durably (\(reason)); nothing was imported: check the disk (dmesg), or import into a directory on another disk"
        case .unplaceable(let path, let reason):
            "the imported database could not be named \(path) (\(reason)); nothing was imported: import into a directory on a local file system that allows hard links"
        }
    }
}

/// How many events an export wrote or an import loaded, and where the chain ends.
public struct ArchiveExtent: Sendable, Hashable {
    public var events: Int64
    /// The last row's position and hash (what `enroll verify` would print for that journal):
    /// a copy that reaches it with that hash is whole up to there. `nil` when no row was written.
    public var anchor: ChainAnchor?
    /// An export only: what shows that the journal written is not as enroll appended it (the
    /// first row that does not chain, or rows missing from its end), `nil` when nothing does.
    /// The rows are written as stored all the same (they are the evidence), but the anchor
    /// then vouches for nothing.
    public var damage: String?
    /// An export only: why the journal's own records (its projections' checkpoints, its command
    /// records) could not be read to tell rows deleted from its end (a table dropped by hand),
    /// `nil` when they were read. The rows still chain, and the anchor vouches for them.
    public var unchecked: String?
    /// An import only: whether the file ended with export's ``JournalArchive/End`` line (which
    /// then matched its rows).
    public var ended = false
}

/// The journal as JSON Lines: one row per line, exactly as stored, secrets still sealed.
///
/// Each line is a JSON object with sorted keys: `position`, `streamId`, `streamVersion`,
/// `eventId`, `type`, `schemaVersion`, `data` and `metadata` (objects, exactly the stored JSON),
/// `recordedAt` (Unix seconds) and `hash` (hex). Because rows are exported unchanged, the hash
/// chain still verifies after an import, and an export is also a recorded-journal fixture.
/// Secrets stay sealed under data keys the export does not carry: an imported journal's
/// secrets read as forgotten.
public enum JournalArchive {
    /// One row as a line (without the newline).
    public static func line(for row: RecordedEvent) -> String {
        func embedded(_ text: String) -> JSONValue {
            // Stored JSON is canonical; anything else (a hand-edited row) is kept verbatim as a string.
            if let value = try? JSONValue.parse(text), case .object = value, value.canonicalString == text { return value }
            return .string(text)
        }
        return JSONValue.object([
            "position": .int(row.position), "streamId": .string(row.streamId), "streamVersion": .int(row.streamVersion),
            "eventId": .string(row.eventId), "type": .string(row.type), "schemaVersion": .int(Int64(row.schemaVersion)),
            "data": embedded(row.data), "metadata": embedded(row.metadataJSON), "recordedAt": .int(row.recordedAt),
            "hash": .string(Hex.string(row.hash)),
        ]).canonicalString
    }

    /// The members of an exported line, exactly.
    static let members: Set<String> = [
        "position", "streamId", "streamVersion", "eventId", "type", "schemaVersion", "data", "metadata", "recordedAt", "hash",
    ]

    /// The members the engine writes for each type of event, learnt from the events read: an
    /// event's data with a member its type does not have (a `lockedUntil` beside `until`) would
    /// be ignored by every reader, yet read by a person as part of the record, so it is refused.
    struct EventMembers {
        private var known: [String: Set<String>] = [:]

        /// Why `data`, decoded as `event`, is not what the engine writes, if so: a member its
        /// type does not have (older schema versions only lack members the current one writes),
        /// or a sealedSecret that is not text (readers take null for a forgotten secret; export
        /// leaves the member out). Text that is no AES-256-GCM box the decoder refuses already.
        mutating func problem(in data: String, of event: EnrollmentEvent) -> String? {
            guard case .object(let object)? = try? JSONValue.parse(data) else { return nil }
            let type = event.type.rawValue
            if let sealed = object["sealedSecret"] {
                guard case .string = sealed else { return "its \(type) data's " + EventCodec.notASealedSecret }
            }
            if let known = known[type], object.keys.allSatisfy(known.contains) { return nil }
            // Optional members appear only in some events: learn this one's.
            let written = (try? EventCodec.encode(event) { $0.bytes }).flatMap { try? JSONValue.parse($0.data) }
            if case .object(let members)? = written { known[type, default: []].formUnion(members.keys) }
            let all = known[type] ?? []
            return object.keys.sorted().first { !all.contains($0) }.map {
                "its \(type) data has a member '\(Validation.excerpt($0))' that no \(type) has"
            }
        }
    }

    /// One line of an export (`number` counts from 1, for errors), a row or the end line.
    public static func entry(from line: String, number: Int) throws(ArchiveError) -> Entry {
        let object = try object(in: line, number: number)
        if object["end"] != nil { return .end(try end(from: object, number: number)) }
        return .row(try row(from: object, number: number))
    }

    /// The JSON object a line holds. An export is the audit copy: a line that could be read two
    /// ways (a member named twice, at any depth, where readers disagree on which one counts) is
    /// refused, not read one way and dropped the other.
    private static func object(in line: String, number: Int) throws(ArchiveError) -> [String: JSONValue] {
        let parsed: JSONValue
        do {
            parsed = try JSONParser.parse(line, rejectingDuplicates: true)
        } catch {
            if case .duplicateMember(let name, _) = error {
                throw .malformedLine(line: number, reason: "it names '\(Validation.excerpt(name))' twice")
            }
            throw .malformedLine(line: number, reason: Self.notAnObject)
        }
        guard case .object(let object) = parsed else { throw .malformedLine(line: number, reason: Self.notAnObject) }
        return object
    }

    /// Parses one line's object back into the row it was exported from.
    private static func row(from object: [String: JSONValue], number: Int) throws(ArchiveError) -> RecordedEvent {
        // A member export never writes is refused too.
        if let unknown = object.keys.filter({ !Self.members.contains($0) }).min() {
            throw .malformedLine(line: number, reason: "it has a member '\(Validation.excerpt(unknown))' that export does not write")
        }
        func int(_ key: String) throws(ArchiveError) -> Int64 {
            guard case .int(let value)? = object[key] else { throw .malformedLine(line: number, reason: "\(key) is missing or not an integer") }
            return value
        }
        func string(_ key: String) throws(ArchiveError) -> String {
            guard case .string(let value)? = object[key] else { throw .malformedLine(line: number, reason: "\(key) is missing or not a string") }
            return value
        }
        func json(_ key: String) throws(ArchiveError) -> String {
            switch object[key] {
            case .object(let value)?: return JSONValue.object(value).canonicalString
            case .string(let value)?: return value
            default: throw .malformedLine(line: number, reason: "\(key) is missing or not an object")
            }
        }
        let hashText = try string("hash")
        guard let hash = Hex.bytes(hashText), hash.count == 32 else { throw .malformedLine(line: number, reason: "hash is not 64 hex digits") }
        let metadataJSON = try json("metadata")
        if case .object(let members)? = object["metadata"], let unknown = members.keys.filter({ !Self.metadataMembers.contains($0) }).min() {
            throw .malformedLine(line: number, reason: "its metadata has a member '\(Validation.excerpt(unknown))' that export does not write")
        }
        guard let metadata = try? JSONDecoder().decode(EventMetadata.self, from: Data(metadataJSON.utf8)) else {
            throw .malformedLine(line: number, reason: "metadata has no actor and command id")
        }
        let schemaVersion = try int("schemaVersion")
        guard let version = Int(exactly: schemaVersion) else { throw .malformedLine(line: number, reason: "schemaVersion is out of range") }
        let row = RecordedEvent(
            position: try int("position"), streamId: try string("streamId"), streamVersion: try int("streamVersion"),
            eventId: try string("eventId"), type: try string("type"), schemaVersion: version, data: try json("data"),
            metadata: metadata, metadataJSON: metadataJSON, recordedAt: try int("recordedAt"), hash: hash)
        if let reason = unwritable(row) { throw .malformedLine(line: number, reason: reason) }
        return row
    }

    /// What `export` writes after its last row: how many rows it wrote and the last one's
    /// position and hash. A file cut at a line boundary (an export killed before it finished, a
    /// copy interrupted) has no end line, or one its rows do not reach: `import` tells it from a
    /// whole file, which the hash chain alone cannot (a prefix of a chain is a chain).
    /// It is no seal: whoever edits the rows can write an end line to match, as they can
    /// recompute the hashes. Only an anchor kept elsewhere (`import --anchor`) catches that.
    public struct End: Sendable, Hashable {
        public var events: Int64
        /// The last row's position and hash as written; `nil` when no row was.
        public var anchor: ChainAnchor?

        public init(events: Int64, anchor: ChainAnchor?) {
            self.events = events
            self.anchor = anchor
        }

        /// The line (without its newline): `{"end":{"anchor":"POSITION:HASH","events":N}}`.
        public var line: String {
            var members: [String: JSONValue] = ["events": .int(events)]
            if let anchor { members["anchor"] = .string(anchor.description) }
            return JSONValue.object(["end": .object(members)]).canonicalString
        }
    }

    /// One line of an export.
    public enum Entry: Sendable, Hashable {
        case row(RecordedEvent)
        case end(End)
    }

    private static func end(from object: [String: JSONValue], number: Int) throws(ArchiveError) -> End {
        func refuse(_ what: String) -> ArchiveError {
            .malformedLine(line: number, reason: "its end line \(what); an end line is `{\"end\":{\"anchor\":\"POSITION:HASH\",\"events\":N}}` as `enroll export` writes it")
        }
        guard object.count == 1, case .object(let members)? = object["end"] else { throw refuse("has members besides 'end'") }
        if let unknown = members.keys.filter({ $0 != "events" && $0 != "anchor" }).min() {
            throw refuse("has a member '\(Validation.excerpt(unknown))' that export does not write")
        }
        guard case .int(let events)? = members["events"], events >= 0 else { throw refuse("has no events count") }
        switch members["anchor"] {
        case nil where events == 0:
            return End(events: 0, anchor: nil)
        case .string(let text)? where events > 0:
            guard let anchor = ChainAnchor(text) else { throw refuse("has an anchor that is not POSITION:HASH") }
            return End(events: events, anchor: anchor)
        default:
            throw refuse(events == 0 ? "has an anchor but no events" : "has no anchor")
        }
    }

    static let metadataMembers: Set<String> = ["actor", "commandId", "correlationId"]
    static let notAnObject = "not a JSON object"

    /// Why no release could have recorded `row`'s ids and time, if so. The hash chain is public,
    /// so an edited file can carry a recomputed one: without these checks a user id or actor
    /// holding a line break or a terminal escape would print forged lines in `enroll audit`.
    /// The rules are those every release has kept (no control characters or path separators,
    /// the lengths), not all of today's: a journal an older release wrote (a user id with a space
    /// at its end, a correlation id of any length) still imports.
    static func unwritable(_ row: RecordedEvent) -> String? {
        let metadata = row.metadata
        if let problem = recordable("streamId", row.streamId, maxBytes: Validation.maxUserBytes, without: "/\\")
            ?? recordable("metadata.actor", metadata.actor, maxBytes: Validation.maxUserBytes, without: "/\\")
            ?? metadata.correlationId.flatMap({ recordable("metadata.correlationId", $0) }) {
            return problem
        }
        // Command ids and event ids (UUIDs, or an injected id source's): printable ASCII.
        for (member, id) in [("metadata.commandId", metadata.commandId), ("eventId", row.eventId)] {
            guard (1...128).contains(id.utf8.count), id.utf8.allSatisfy({ (0x21..<0x7F).contains($0) }) else {
                return "\(member) is not 1 to 128 printable ASCII characters without spaces"
            }
        }
        guard EnrollmentEvent.timeRange.contains(row.recordedAt) else {
            return "recordedAt \(row.recordedAt) is not a time between 1970 and 9999"
        }
        return nil
    }

    /// Why the issuer or account name of a secret-issuing `event` of `user` is one no release
    /// wrote, if so: they are printed by `status`, `history` and `audit`, a regenerate keeps
    /// them, and a ':' would split the app's label. An account equal to the user id is the
    /// default one, which may hold what a user id may.
    static func unwritableNames(in event: EnrollmentEvent, user: String) -> String? {
        switch event {
        case .enrollmentRequested(let issued), .secretRegenerated(let issued):
            let type = event.type.rawValue
            return recordable("its \(type) issuer", issued.issuer, maxCharacters: 128, without: ":")
                ?? recordable("its \(type) account", issued.account, maxBytes: Validation.maxUserBytes, without: issued.account == user ? "" : ":")
        default:
            return nil
        }
    }

    /// Why `text` (a stored id or name) could not have been recorded: empty, longer than
    /// `maxBytes` bytes or `maxCharacters` characters, holding one of `forbidden` or a control
    /// character.
    private static func recordable(_ member: String, _ text: String, maxBytes: Int? = nil, maxCharacters: Int? = nil, without forbidden: String = "") -> String? {
        if text.isEmpty { return "\(member) is empty" }
        if let maxBytes, text.utf8.count > maxBytes { return "\(member) is \(text.utf8.count) bytes long, more than \(maxBytes)" }
        if let maxCharacters, text.count > maxCharacters { return "\(member) is \(text.count) characters long, more than \(maxCharacters)" }
        if let found = text.first(where: forbidden.contains) { return "\(member) contains '\(found)'" }
        if let invisible = Validation.firstInvisible(in: text, recorded: true) { return "\(member) contains \(Validation.describeInvisible(invisible))" }
        return nil
    }

    /// Writes the journal, streaming, to `write` (one call per line, newline included), and then
    /// its ``End`` line if every row chains (``ArchiveExtent/damage`` is `nil`). Returns the
    /// number of rows written and the last one's position and hash, as stored.
    @discardableResult
    public static func export(from reader: any DatabaseReader, path: String = "(database)", to write: (String) throws -> Void) throws -> ArchiveExtent {
        // An EnrollmentDatabase's writer: refused once it is closed, as its own calls are.
        if let database = EnrollmentDatabase.owning(reader) {
            return try database.onWriter { try exportOpen(from: reader, path: path, to: write) }
        }
        return try exportOpen(from: reader, path: path, to: write)
    }

    private static func exportOpen(from reader: any DatabaseReader, path: String, to write: (String) throws -> Void) throws -> ArchiveExtent {
        struct WriteFailure: Error { let error: any Error }
        // The caller's errors pass through as they are; the database's become a StoreError.
        func emit(_ text: String) throws {
            do { try write(text + "\n") } catch { throw WriteFailure(error: error) }
        }
        do {
            return try reader.read { db in
                var written = ArchiveExtent(events: 0)
                let rows = try StoredRow.fetchCursor(db, sql: "SELECT \(HashChain.typedColumns()) FROM events ORDER BY position").map(\.event)
                // Each row is checked against the chain as `history` checks the rows it shows, so
                // that an export (and the anchor it prints) never passes off an edited journal.
                var previous = HashChain.genesis
                while let row = try rows.next() {
                    try emit(line(for: row))
                    written.events += 1
                    if written.damage == nil, row.position != written.events || HashChain.hash(of: row, previous: previous) != row.hash {
                        written.damage = "the row at position \(row.position) does not follow the hash chain"
                    }
                    previous = row.hash
                    written.anchor = ChainAnchor(position: row.position, hash: row.hash)
                }
                if written.damage == nil {
                    // Rows deleted from the end leave the chain whole: the records written with them tell.
                    let head = written.anchor?.position ?? 0
                    do {
                        written.damage = try HashChain.deletedEnd(head: head, in: db)
                            ?? HashChain.crossCheck(in: db, limit: 1000).first { $0.kind == .commandPastStream }.map(\.detail)
                    } catch {
                        // A table the check reads, dropped by hand: the export is the way back
                        // (`enroll import`), so the rows, which chain, are vouched for, and the
                        // caller says what could not be checked.
                        written.unchecked = (error as? DatabaseError)?.message ?? "\(error)"
                    }
                }
                // Last, the end line, which vouches that the file is whole as the anchor does: a
                // file without it was cut, or holds a journal that does not chain (written as
                // evidence, which `import` then refuses unless told the file has no end line).
                if written.damage == nil { try emit(End(events: written.events, anchor: written.anchor).line) }
                return written
            }
        } catch let failure as WriteFailure {
            throw failure.error
        } catch {
            throw StoreError(error, path: path)
        }
    }

    /// Loads an export into a database whose journal is empty, in one transaction.
    ///
    /// Every line is checked before anything is kept: positions run 1, 2, 3…, each hash chains
    /// from the previous one (so the file is exactly what was exported), stream versions run
    /// 1, 2, 3… per user, every event decodes (old schema versions are upcast) and could have
    /// followed the user's events before it (``StateShape/obstacle(to:at:)``). With an
    /// `anchor` (kept from `enroll export` or `enroll verify`), the imported chain must also
    /// reach its position with its hash (``HashChain/check(_:in:)``). A file's ``End`` line must
    /// match the rows before it and be its last, and with `requireEnd` a file without one is
    /// refused (``ArchiveError/unfinished(path:lines:position:)``): either way a file cut at a
    /// line boundary is refused. The projections are then built up to the head. Returns the
    /// number of events imported and the anchor the chain reached. `progress` is called once per
    /// event checked and inserted (the command line's progress line).
    @discardableResult
    public static func importLines<Lines: Sequence>(
        _ lines: Lines, source: String, into database: EnrollmentDatabase, anchor: ChainAnchor? = nil, requireEnd: Bool = true,
        committing: () -> Void = {}, progress: () -> Void = {}
    ) throws -> ArchiveExtent
    where Lines.Element == String {
        try database.onWriter {
            try importLines(
                lines, source: source, into: database.writer, path: database.path, anchor: anchor, requireEnd: requireEnd, committing: committing,
                progress: progress)
        }
    }

    /// The same, into any GRDB writer whose schema is migrated (an in-memory queue for fixtures).
    /// `streamLimit`: the users whose streams are held at once (``StreamShapes``). `committing`
    /// is called once everything is checked and written, just before the transaction commits:
    /// from then on the import may be in the database.
    static func importLines<Lines: Sequence>(
        _ lines: Lines, source: String, into writer: any DatabaseWriter, path: String, anchor expected: ChainAnchor? = nil,
        requireEnd: Bool, streamLimit: Int = StreamShapes.defaultLimit, committing: () -> Void = {}, progress: () -> Void = {}
    ) throws -> ArchiveExtent
    where Lines.Element == String {
        do {
            return try writer.write { db -> ArchiveExtent in
                let existing = try EventJournal.head(in: db)
                guard existing == 0 else { throw ArchiveError.notEmpty(path: path, events: existing) }
                var previous = HashChain.genesis
                var position: Int64 = 0
                // Each user's stream as far as the file has come: its version, and what
                // can happen next (a forged or edited history the engine could never have
                // written is refused, not folded into projections no command would produce).
                var streams = StreamShapes(limit: streamLimit)
                var members = EventMembers()
                var end: (line: Int, end: End)?
                var number = 0
                for (index, text) in lines.enumerated() {
                    number = index + 1
                    if text.allSatisfy(\.isWhitespace) { continue }
                    if let end {
                        throw ArchiveError.malformedLine(line: number, reason: "it follows the end line (line \(end.line)): the file holds more than one export, or was edited; import one whole export")
                    }
                    let row: RecordedEvent
                    do {
                        switch try Self.entry(from: text, number: number) {
                        case .row(let read):
                            row = read
                        case .end(let read):
                            let reached = position == 0 ? nil : ChainAnchor(position: position, hash: previous)
                            guard read.events == position, read.anchor == reached else {
                                throw ArchiveError.malformedLine(line: number, reason: "its end line says \(Self.describe(read.events, read.anchor)), but the rows before it are \(Self.describe(position, reached)): rows were removed or added, or the end line edited; export it again")
                            }
                            end = (number, read)
                            continue
                        }
                    } catch ArchiveError.malformedLine(_, Self.notAnObject) where (lines as? LineReader)?.lastLineUnterminated == true {
                        throw ArchiveError.malformedLine(line: number, reason: "it ends the file in the middle of an event, without a newline: the file was cut; copy the whole file, or export it again")
                    }
                    guard row.position == position + 1 else { throw ArchiveError.outOfSequence(line: number, expected: position + 1, found: row.position) }
                    guard HashChain.hash(of: row, previous: previous) == row.hash else { throw ArchiveError.brokenChain(line: number, position: row.position) }
                    let stream = BinaryString(row.streamId)
                    let shape = try streams.shape(of: stream, in: db)
                    guard row.streamVersion == shape.version + 1 else {
                        throw ArchiveError.malformedLine(line: number, reason: "stream version \(row.streamVersion) of \(row.streamId) where \(shape.version + 1) was expected")
                    }
                    let event: EnrollmentEvent
                    do {
                        event = try EventCodec.decode(type: row.type, schemaVersion: row.schemaVersion, data: row.data, position: row.position)
                    } catch {
                        // A forged sealed secret is no event of a newer release: the line is refused
                        // as not a journal row, with no advice to upgrade.
                        if case .undecodableEvent(_, _, "its " + EventCodec.notASealedSecret)? = error as? StoreError {
                            throw ArchiveError.malformedLine(line: number, reason: "its \(row.type) data's " + EventCodec.notASealedSecret)
                        }
                        throw ArchiveError.undecodable(line: number, reason: (error as? StoreError)?.message ?? "\(error)")
                    }
                    if let problem = unwritableNames(in: event, user: row.streamId) ?? members.problem(in: row.data, of: event) {
                        throw ArchiveError.malformedLine(line: number, reason: problem)
                    }
                    if let obstacle = shape.obstacle(to: event, at: row.recordedAt) {
                        throw ArchiveError.impossibleEvent(line: number, position: row.position, stream: row.streamId, type: row.type, reason: obstacle)
                    }
                    try EventJournal.insertVerbatim(row, in: db)
                    streams.remember(shape.evolve(event), of: stream)
                    progress()
                    previous = row.hash
                    position = row.position
                }
                // The lines ended early (an I/O error, a line too long to be an export's):
                // nothing of them is committed.
                if let reader = lines as? LineReader, let failure = reader.failure { throw failure }
                guard position > 0 else { throw ArchiveError.empty(path: source) }
                if end == nil, requireEnd { throw ArchiveError.unfinished(path: source, lines: number, position: position) }
                // The same check as `verify --anchor`, on the rows just inserted, before commit.
                if let expected, let mismatch = try HashChain.check(expected, in: db) {
                    throw ArchiveError.anchorMismatch(expected, mismatch)
                }
                // The projections' folds hold users of their own: the streams' memory is given back first.
                streams = StreamShapes(limit: 0)
                try ProjectionRebuilder.catchUpAll(in: db)
                committing()
                return ArchiveExtent(events: position, anchor: ChainAnchor(position: position, hash: previous), ended: end != nil)
            }
        } catch let error as ArchiveError {
            throw error
        } catch {
            throw StoreError(error, path: path)
        }
    }

    /// Each user's ``StateShape`` as far as an import has come, for the users seen most
    /// recently: past `limit` users it forgets them all, and reads a forgotten user's stream
    /// back from the rows inserted so far (folded as they were), so that an import's memory
    /// does not grow with the number of users (~90 bytes a user held: 98 304 users fill a
    /// dictionary of 2^17 buckets as far as Swift fills one, three quarters).
    struct StreamShapes {
        static let defaultLimit = 98_304
        let limit: Int
        private var shapes: [BinaryString: StateShape] = [:]
        /// Whether users were forgotten: until then a user not held has no events yet.
        private var forgotten = false

        init(limit: Int) { self.limit = limit }

        func shape(of stream: BinaryString, in db: Database) throws -> StateShape {
            if let shape = shapes[stream] { return shape }
            var shape = StateShape()
            guard forgotten else { return shape }
            try EventJournal.events(of: stream.string, in: db) { event, _ in
                shape = shape.evolve(event)
                return true
            }
            return shape
        }

        mutating func remember(_ shape: StateShape, of stream: BinaryString) {
            if shapes.count >= limit, shapes[stream] == nil {
                shapes.removeAll(keepingCapacity: true)
                forgotten = true
            }
            shapes[stream] = shape
        }
    }

    /// `12 events ending at 12:HASH`, or `no events`.
    private static func describe(_ events: Int64, _ anchor: ChainAnchor?) -> String {
        guard let anchor else { return "no events" }
        return "\(events) event\(events == 1 ? "" : "s") ending at \(anchor)"
    }

    /// Imports an export file into a new database at `path`, which did not exist when the
    /// import started.
    ///
    /// The database is built under a temporary name beside `path`
    /// (``temporaryPath(for:)``), checkpointed and closed, then given its name with `link(2)`,
    /// which fails if the name was taken meanwhile: of two imports (or an import and a command)
    /// racing for one new path, the loser is refused with
    /// ``ArchiveError/createdMeanwhile(path:)`` and nothing at `path` is ever removed. A refused
    /// or failed import leaves nothing behind: only the temporary files, which no other process
    /// knows of, are removed (a kill -9 leaves them; the next import into `path` with the same
    /// process id removes them, and they hold nothing a copy of the export does not).
    /// `placed` is called as soon as the database has its name: from then on it is at `path`.
    @discardableResult
    public static func importFile(
        _ file: String, intoNewDatabaseAt path: String, options: DatabaseOptions, anchor: ChainAnchor? = nil, requireEnd: Bool = true,
        placed: () -> Void = {}, progress: () -> Void = {}
    ) throws -> ArchiveExtent {
        let temporary = temporaryPath(for: path)
        func discard() { for suffix in ["", "-wal", "-shm", "-journal"] { unlink(temporary + suffix) } }
        discard()  // a leftover of a killed run that had the same process id
        defer { discard() }
        let extent: ArchiveExtent
        do {
            let database = try EnrollmentDatabase(path: temporary, options: options)
            extent = try importFile(file, into: database, anchor: anchor, requireEnd: requireEnd, progress: progress)
            // Every committed page into the main file and the connection closed before the
            // file gets its name: the name must never show a database whose log is elsewhere.
            _ = try database.writer.writeWithoutTransaction { db in try db.checkpoint(.truncate) }
            try database.writer.close()
        } catch let error as ArchiveError {
            throw error
        } catch {
            throw StoreError(error, path: temporary)
        }
        // link(2), unlike rename(2), never replaces: the name goes to the first import to finish.
        guard link(temporary, path) == 0 else {
            let failure = errno
            if failure == EEXIST { throw ArchiveError.createdMeanwhile(path: path) }
            throw ArchiveError.unplaceable(path: path, reason: String(cString: strerror(failure)))
        }
        placed()
        // The new name must survive a crash as the commit does: one the disk did not confirm is
        // taken back (link(2) replaced nothing) and the import refused.
        if let failure = UnnamedFile.syncDirectory(of: path) {
            unlink(path)
            throw ArchiveError.unplaceable(path: path, reason: "its directory could not be synced: \(String(cString: strerror(failure)))")
        }
        return extent
    }

    /// Whether the regular file at `path` begins with SQLite's header (a pipe is not read here:
    /// what this read took would be missing from the import).
    static func startsAsDatabase(_ path: String) -> Bool {
        var status = stat()
        guard stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG else { return false }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var header = [UInt8](repeating: 0, count: 16)
        return read(descriptor, &header, 16) == 16 && header == Array("SQLite format 3\0".utf8)
    }

    /// The name a new database is built under before ``importFile(_:intoNewDatabaseAt:options:anchor:requireEnd:progress:)``
    /// gives it its own: beside it (a hard link cannot cross file systems), one per process.
    public static func temporaryPath(for path: String) -> String {
        path + ".import-\(getpid())"
    }

    /// Loads an export file (see ``importLines(_:source:into:anchor:requireEnd:progress:)``).
    @discardableResult
    public static func importFile(
        _ path: String, into database: EnrollmentDatabase, anchor: ChainAnchor? = nil, requireEnd: Bool = true,
        committing: () -> Void = {}, progress: () -> Void = {}
    ) throws -> ArchiveExtent {
        // A directory opens for reading on Linux and reads as empty: say what it is instead.
        if FileManager.isDirectory(path) { throw ArchiveError.isDirectory(path: path) }
        if startsAsDatabase(path) { throw ArchiveError.isDatabase(path: path) }
        guard let handle = FileHandle(forReadingAtPath: path) else {
            var status = stat()
            let reason = stat(path, &status) == 0 ? "permission denied" : errno == ENOENT ? "no such file" : String(cString: strerror(errno))
            throw ArchiveError.fileUnreadable(path: path, reason: reason)
        }
        defer { try? handle.close() }
        return try importLines(
            LineReader(handle: handle, path: path), source: path, into: database, anchor: anchor, requireEnd: requireEnd, committing: committing,
            progress: progress)
    }
}

/// The lines of a file, read in chunks (a journal export need not fit in memory).
///
/// A read that fails, or a line longer than ``maxLineBytes``, ends the lines early and is kept
/// in ``failure``: ``JournalArchive/importLines(_:source:into:anchor:requireEnd:progress:)`` checks it before it commits,
/// so an I/O error is never taken for the end of the file (a shorter journal imported as if
/// whole). Each byte is looked at once: a long line is not searched again after every chunk.
public final class LineReader: Sequence, IteratorProtocol {
    /// Longer than any export line (an event is a few hundred bytes): what is longer is not an export.
    public static let maxLineBytes = 16 << 20

    let handle: FileHandle
    private var buffer: [UInt8] = []
    /// The first byte not yet returned, and how many bytes after it hold no newline.
    private var start = 0, scanned = 0
    private var finished = false
    private var lines = 0
    /// Why the lines ended early, if they did.
    public private(set) var failure: ArchiveError?
    /// Whether the line last returned ended the file without a newline: if it cannot be read,
    /// the file was most likely cut in the middle of it.
    public private(set) var lastLineUnterminated = false
    let path: String

    public init(handle: FileHandle, path: String = "the file") {
        self.handle = handle
        self.path = path
    }

    public func next() -> String? {
        while true {
            if let newline = buffer[(start + scanned)...].firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer[start..<newline], as: UTF8.self)
                start = newline + 1
                scanned = 0
                lines += 1
                return line
            }
            scanned = buffer.count - start
            if finished {
                guard start < buffer.count else { return nil }
                // A last line without its newline (an editor or a copy dropped it) is still a line.
                defer { (start, scanned) = (buffer.count, 0) }
                lines += 1
                lastLineUnterminated = true
                return String(decoding: buffer[start...], as: UTF8.self)
            }
            if scanned > Self.maxLineBytes {
                return stop(.malformedLine(line: lines + 1, reason: "it is longer than \(Self.maxLineBytes >> 20) MiB, so this is not a file written by `enroll export`"))
            }
            if start > 0 {
                buffer.removeSubrange(0..<start)
                start = 0
            }
            do {
                let chunk = try handle.read(upToCount: 1 << 16) ?? Data()
                if chunk.isEmpty { finished = true } else { buffer.append(contentsOf: chunk) }
            } catch {
                let posix = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError ?? (error as NSError)
                let reason = posix.domain == NSPOSIXErrorDomain ? String(cString: strerror(Int32(posix.code))) : "\(error)"
                return stop(.fileUnreadable(path: path, reason: "reading line \(lines + 1) failed: \(reason)"))
            }
        }
    }

    private func stop(_ failure: ArchiveError) -> String? {
        self.failure = failure
        finished = true
        (start, scanned) = (buffer.count, 0)
        return nil
    }
}
