import Foundation

/// Formatting of journal times for people (history, errors) and for JSON.
public enum Timestamps {
    /// `2026-11-29T13:06:16Z` (RFC 3339 §5.6, UTC).
    ///
    /// Years 1970-9999 are computed with integer arithmetic (``civilDate(day:)``): Foundation's ISO
    /// 8601 format style sets up a calendar, time zones and ICU data on first use, about half a
    /// millisecond of every `enroll status` (BENCHMARKS.md). Other times go through Foundation,
    /// whose output this matches, up to ±2^40 s (some 35 000 years): no command writes such a
    /// time, and Foundation clamps one edited into a database to a wrong date, so it is shown
    /// as stored, `@SECONDS` (the form ``parse(_:)`` reads).
    public static func iso8601(_ time: UnixTime) -> String {
        guard (0...253_402_300_799).contains(time) else {
            guard (-(1 << 40)...(1 << 40)).contains(time) else { return "@\(time)" }
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

    /// Parses `2026-11-29T13:06:16Z`, `2026-11-29` (midnight UTC) or `@1764421576`. A date or
    /// time that does not exist (`2026-02-30`, hour 42, offset `+05:60`) is `nil`: Foundation's
    /// parser rolls it over into another day or hour, which would filter by a time nobody typed
    /// (``impossibility(in:)`` says why). So is a time outside 1970-9999 (``outOfRange(in:)``),
    /// however it is written: no event carries one.
    ///
    /// Only those shapes, whole: `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM:SS` followed by `Z` or an offset
    /// `±HH:MM` (RFC 3339 §5.6: hours 00-23, minutes 00-59), and `@` with whole seconds.
    /// Foundation's parsers read a prefix and drop the rest, so `2026-11-29 23:59:59` would
    /// silently mean midnight, and they take fractions they then ignore (``malformation(in:)``
    /// says what is wrong).
    public static func parse(_ text: String) -> UnixTime? {
        seconds(in: text).flatMap { (0...latest).contains($0) ? $0 : nil }
    }

    /// `text` with a lowercase `t` between date and time and `z` for UTC in capitals, which
    /// RFC 3339 §5.6 allows ("may alternatively be lower case").
    private static func capitalized(_ text: String) -> String {
        var bytes = Array(text.utf8)
        if bytes.count > 10, bytes[10] == UInt8(ascii: "t") { bytes[10] = UInt8(ascii: "T") }
        if bytes.count == 20, bytes[19] == UInt8(ascii: "z") { bytes[19] = UInt8(ascii: "Z") }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `@`, an optional `-` and digits only: whole seconds, whether or not an Int64 holds them.
    private static func isUnixSeconds(_ text: String) -> Bool {
        let digits = text.utf8.dropFirst(text.hasPrefix("@-") ? 2 : 1)
        return text.hasPrefix("@") && !digits.isEmpty && digits.allSatisfy(isDigit)
    }

    /// The Unix seconds `text` names in one of the shapes ``parse(_:)`` takes, in range or not
    /// (`@-1`, `0000-01-01`); `nil` when it names none. Integer arithmetic: Foundation refuses
    /// valid offsets such as `+23:59` and takes `+05:60`.
    private static func seconds(in text: String) -> UnixTime? {
        if text.hasPrefix("@") { return isUnixSeconds(text) ? Int64(text.dropFirst()) : nil }
        let text = capitalized(text)
        if impossibility(in: text) != nil || malformation(in: text) != nil { return nil }
        let bytes = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int64 { range.reduce(0) { $0 * 10 + Int64(bytes[$1] - UInt8(ascii: "0")) } }
        let day = days(year: number(0..<4), month: number(5..<7), day: number(8..<10))
        guard bytes.count > 10 else { return day * 86_400 }
        let time = number(11..<13) * 3_600 + number(14..<16) * 60 + number(17..<19)
        // `+02:00` is two hours ahead of UTC: its UTC time is two hours earlier.
        let offset = bytes.count == 25 ? (number(20..<22) * 3_600 + number(23..<25) * 60) * (bytes[19] == UInt8(ascii: "-") ? -1 : 1) : 0
        return day * 86_400 + time - offset
    }

    /// Days from 1970-01-01 to a proleptic Gregorian date, by H. Hinnant's `days_from_civil`
    /// (the inverse of ``civilDate(day:)``).
    static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let year = month <= 2 ? year - 1 : year
        let era = (year >= 0 ? year : year - 399) / 400
        let yearOfEra = year - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// Why `text`, a time ``parse(_:)`` would otherwise read, is refused: it is before 1970
    /// or after 9999, whichever way it is written; `nil` for a time in range or another shape.
    public static func outOfRange(in text: String) -> String? {
        func beyond(before: Bool) -> String {
            "it is \(before ? "before 1970-01-01T00:00:00Z" : "after \(iso8601(latest))"); times run from 1970-01-01 to \(iso8601(latest))"
        }
        // More seconds than an Int64 holds is out of range too, not malformed.
        if isUnixSeconds(text), seconds(in: text) == nil { return beyond(before: text.hasPrefix("@-")) }
        guard let time = seconds(in: text), !(0...latest).contains(time) else { return nil }
        return beyond(before: time < 0)
    }

    /// 9999-12-31T23:59:59Z, the last time RFC 3339 can write.
    static let latest: UnixTime = 253_402_300_799

    private static func isDigit(_ byte: UInt8) -> Bool { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }

    /// Why `text` is not one of the shapes ``parse(_:)`` takes; `nil` when it is.
    public static func malformation(in text: String) -> String? {
        if text.hasPrefix("@") {
            // A whole number out of range, even past Int64, is ``outOfRange(in:)``'s to name.
            return isUnixSeconds(text) ? nil : "@ takes whole Unix seconds from 0 to \(latest)"
        }
        let bytes = Array(capitalized(text).utf8)
        func digits(_ range: Range<Int>) -> Bool { range.upperBound <= bytes.count && range.allSatisfy { isDigit(bytes[$0]) } }
        func byte(_ index: Int, _ expected: Character) -> Bool { index < bytes.count && bytes[index] == expected.asciiValue }
        guard digits(0..<4), byte(4, "-"), digits(5..<7), byte(7, "-"), digits(8..<10) else {
            return "it does not start with a date, YYYY-MM-DD"
        }
        if bytes.count == 10 { return nil }
        guard byte(10, "T"), digits(11..<13), byte(13, ":"), digits(14..<16), byte(16, ":"), digits(17..<19) else {
            return byte(10, " ")
                ? "write a 'T' between the date and the time, and Z for UTC or an offset such as +02:00"
                : "after the date comes THH:MM:SS and then Z or an offset such as +02:00, or nothing"
        }
        if bytes.count == 20 && byte(19, "Z") { return nil }
        if bytes.count == 25, byte(19, "+") || byte(19, "-"), digits(20..<22), byte(22, ":"), digits(23..<25) { return nil }
        if byte(19, ".") { return "fractions of a second are not taken; give whole seconds" }
        return "after the time comes Z for UTC or an offset such as +02:00, and nothing else"
    }

    /// Why `text`, shaped like `YYYY-MM-DD` with an optional `THH:MM[:SS]` and offset, names no real
    /// date or time (month 13, February 30, hour 24, minute or second 60, offset `+05:60`); `nil` when it does or when it
    /// has another shape (left to the parser to refuse). Days follow the proleptic Gregorian
    /// calendar (RFC 3339 §5.7); a leap second is refused, as Unix time has none.
    public static func impossibility(in text: String) -> String? {
        let bytes = Array(capitalized(text).utf8)
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= bytes.count, range.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[$0]) })
            else { return nil }
            return range.reduce(0) { $0 * 10 + Int(bytes[$1] - UInt8(ascii: "0")) }
        }
        func separator(_ index: Int, _ characters: String) -> Bool {
            index < bytes.count && characters.utf8.contains(bytes[index])
        }
        guard let year = number(0..<4), separator(4, "-"), let month = number(5..<7), separator(7, "-"), let day = number(8..<10)
        else { return nil }
        guard (1...12).contains(month) else { return "there is no month \(month); months run from 01 to 12" }
        let days = daysIn(month: month, year: year)
        guard (1...days).contains(day) else { return "\(monthNames[month - 1]) \(year) has no day \(day); its days run from 01 to \(days)" }
        guard separator(10, "Tt "), let hour = number(11..<13), separator(13, ":"), let minute = number(14..<16) else { return nil }
        guard hour <= 23 else { return "there is no hour \(hour); hours run from 00 to 23" }
        guard minute <= 59 else { return "there is no minute \(minute); minutes run from 00 to 59" }
        guard separator(16, ":"), let second = number(17..<19) else { return nil }
        guard second <= 59 else { return "there is no second \(second); seconds run from 00 to 59" }
        // RFC 3339 §5.6: time-numoffset is ("+" / "-") time-hour ":" time-minute.
        guard separator(19, "+-"), let offsetHour = number(20..<22), separator(22, ":"), let offsetMinute = number(23..<25) else { return nil }
        guard offsetHour <= 23, offsetMinute <= 59 else {
            return "there is no offset \(String(decoding: bytes[19..<25], as: UTF8.self)); an offset's hours run from 00 to 23 and its minutes from 00 to 59"
        }
        return nil
    }

    static let monthNames = [
        "January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December",
    ]

    /// Days in `month` (1-12) of `year` in the proleptic Gregorian calendar.
    static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }
}
