import Logging

/// The engine's log lines (notices such as a schema upgrade) for a command-line tool: handed to
/// `write` as one line of text, the message with its metadata in parentheses after it, for the
/// tool to print as its own `TOOL: note: …` on stderr (stdout carries its output, which may be
/// JSON; swift-log's default handler would print a server's log line there).
public struct DiagnosticLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .notice
    private let write: @Sendable (Logger.Level, String) -> Void

    public init(write: @escaping @Sendable (Logger.Level, String) -> Void) {
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        let details = all.isEmpty ? "" : " (" + all.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + ")"
        write(event.level, "\(event.message)\(details)")
    }
}
