import Foundation

/// Formatting of journal times for people (history, errors) and for JSON.
public enum Timestamps {
    /// `2026-11-29T13:06:16Z` (RFC 3339 §5.6, UTC).
    ///
    /// Years 1970-9999 are computed with integer arithmetic (``civilDate(day:)``): Foundation's ISO
    /// 8601 format style sets up a calendar, time zones and ICU data on first use, about half a
    /// millisecond of every `enroll status` (BENCHMARKS.md). Other times go through Foundation,
    /// whose output this matches.
    public static func iso8601(_ time: UnixTime) -> String {
        guard (0...253_402_300_799).contains(time) else {
            return Date(timeIntervalSince1970: TimeInterval(time)).formatted(.iso8601)
        }
        let date = civilDate(day: time / 86_400), second = time % 86_400
        return zeroPadded(date.year, 4) + "-" + zeroPadded(date.month, 2) + "-" + zeroPadded(date.day, 2) + "T"
            + zeroPadded(second / 3_600, 2) + ":" + zeroPadded(second / 60 % 60, 2) + ":" + zeroPadded(second % 60, 2) + "Z"
    }

    /// The proleptic Gregorian date of a day counted from 1970-01-01, by H. Hinnant's
    /// `civil_from_days`: days are counted from 0000-03-01 in 400-year eras of 146 097 days, each
    /// year starting in March so that a leap day is the last day of its year.
    static func civilDate(day days: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthFromMarch = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthFromMarch + 2) / 5 + 1
        let month = monthFromMarch < 10 ? monthFromMarch + 3 : monthFromMarch - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    /// `value` in decimal, with leading zeros up to `width` digits.
    static func zeroPadded(_ value: Int64, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(width - text.count, 0)) + text
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
