import Enrollment

/// An export's text as tests read and write it: rows, then export's end line.
enum ExportText {
    /// The rows of `text` (an export, or a recorded journal), without its end line.
    static func rows(_ text: String) throws -> [RecordedEvent] {
        try text.split(separator: "\n").enumerated().compactMap { index, line in
            switch try JournalArchive.entry(from: String(line), number: index + 1) {
            case .row(let row): row
            case .end: nil
            }
        }
    }

    /// `rows` as `enroll export` writes them, end line included.
    static func text(_ rows: [RecordedEvent]) -> String {
        rows.map { JournalArchive.line(for: $0) + "\n" }.joined() + end(after: rows).line + "\n"
    }

    /// The end line export writes after `rows`.
    static func end(after rows: [RecordedEvent]) -> JournalArchive.End {
        JournalArchive.End(events: Int64(rows.count), anchor: rows.last.map { ChainAnchor(position: $0.position, hash: $0.hash) })
    }
}
