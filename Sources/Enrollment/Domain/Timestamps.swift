import Foundation

/// Formatting of journal times for people (history, errors) and for JSON.
public enum Timestamps {
    /// `2026-11-29T13:06:16Z`.
    public static func iso8601(_ time: UnixTime) -> String {
        Date(timeIntervalSince1970: TimeInterval(time)).formatted(.iso8601)
    }

    /// Parses `2026-11-29T13:06:16Z`, `2026-11-29` (midnight UTC) or `@1764421576`.
    public static func parse(_ text: String) -> UnixTime? {
        if text.hasPrefix("@"), let seconds = Int64(text.dropFirst()) { return seconds }
        if let date = try? Date(text, strategy: .iso8601) { return UnixTime(date.timeIntervalSince1970) }
        let day = Date.ISO8601FormatStyle(timeZone: TimeZone(identifier: "UTC") ?? .current).year().month().day()
        if let date = try? Date(text, strategy: day) { return UnixTime(date.timeIntervalSince1970) }
        return nil
    }
}
