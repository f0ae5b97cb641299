import Enrollment
import Foundation
import Testing
import TestSupport

/// The times `enroll` prints (status, history, errors, JSON) are RFC 3339 UTC, computed without
/// Foundation's calendar for speed; GNU `date` is the independent reference.
@Suite("Timestamps")
struct TimestampsTests {
    @Test("times print as GNU date prints them: leap days, century years, year ends, 1970 to 9999")
    func matchesGNUDate() throws {
        var times: [UnixTime] = [
            0, 59, 86_399, 86_400, 951_782_399, 951_782_400, 951_868_800,  // 2000-02-29 (a leap century)
            1_709_164_800, 1_709_251_199, 1_709_251_200,  // 2024-02-29 and the day after
            4_107_542_399, 4_107_542_400, 4_107_628_800,  // 2100-02-28, 2100-03-01 (not a leap year)
            1_700_950_604, 1_764_421_576, 253_402_300_799,  // 9999-12-31T23:59:59
        ]
        var generator = SplitMix64(seed: 2026)  // the same 300 times on every run: a failure repeats
        for _ in 0..<300 { times.append(UnixTime.random(in: 0...253_402_300_799, using: &generator)) }
        let date = try Processes.tool("date", package: "coreutils")
        let input = times.map { "@\($0)" }.joined(separator: "\n") + "\n"
        let result = try Processes.run(date, ["-u", "-f", "-", "+%Y-%m-%dT%H:%M:%SZ"], input: Data(input.utf8))
        try #require(result.status == 0, "\(result.stderr)")
        let expected = result.stdout.split(separator: "\n").map(String.init)
        try #require(expected.count == times.count)
        for (time, reference) in zip(times, expected) {
            #expect(Timestamps.iso8601(time) == reference, "\(time)")
        }
    }

    @Test("times outside 1970-9999 still print as Foundation's ISO 8601 style does")
    func outsideTheFastRange() {
        for time: UnixTime in [-1, -86_401, 253_402_300_800] {
            #expect(Timestamps.iso8601(time) == Date(timeIntervalSince1970: TimeInterval(time)).formatted(.iso8601))
        }
        // Where Foundation clamps (Int64.min reads as 4713 BC), the stored number, as `@` parses it.
        #expect(Timestamps.iso8601(.min) == "@-9223372036854775808")
        #expect(Timestamps.iso8601(.max) == "@9223372036854775807")
    }

    @Test("only the documented shapes parse, whole: no date with a space before the time, no trailing text, no fractions, no @ outside 0-9999")
    func onlyWholeShapes() {
        let taken: [(String, UnixTime)] = [
            ("2025-11-29", 1_764_374_400), ("2025-11-29T07:10:00Z", 1_764_400_200), ("2025-11-29T09:10:00+02:00", 1_764_400_200),
            ("2025-11-29T02:10:00-05:00", 1_764_400_200), ("@0", 0), ("@253402300799", 253_402_300_799),
            // RFC 3339 §5.6: "T" and "Z" may be lower case.
            ("2025-11-29t07:10:00z", 1_764_400_200), ("2025-11-29t09:10:00+02:00", 1_764_400_200),
        ]
        for (text, time) in taken { #expect(Timestamps.parse(text) == time, "\(text)") }
        for text in ["2025-11-29 23:59:59", "2025-11-29Tjunk", "2025-11-29 junk", "2025-11-29T07:10:00.5Z", "2025-11-29T07:10:00",
                     "2025-11-29T07:10Z", "2025-11-29T07:10:00Zjunk", "2025-11-29T07:10:00+02", "@-1", "@", "@1e9", "@ 5",
                     "@253402300800", "@99999999999999", " 2025-11-29", "2025-11-29\n", "yesterday", ""] {
            #expect(Timestamps.parse(text) == nil, "\(text) parsed as \(Timestamps.parse(text).map(Timestamps.iso8601) ?? "")")
            #expect(Timestamps.impossibility(in: text) != nil || Timestamps.malformation(in: text) != nil || Timestamps.outOfRange(in: text) != nil, "\(text): no reason given")
        }
    }

    @Test("an offset is RFC 3339's, hours 00 to 23 and minutes 00 to 59, all taken (+23:59, -23:59 too); minute 60 or hour 24 is refused saying so, not rolled over")
    func offsets() {
        // The Unix seconds GNU `date -u -d TEXT +%s` gives.
        let taken: [(String, UnixTime)] = [
            ("2025-11-29T07:13:06+23:59", 1_764_314_046), ("2025-11-29T07:13:06-23:59", 1_764_486_726),
            ("2025-11-29T07:13:06+15:00", 1_764_346_386), ("2025-11-29T07:13:06+05:45", 1_764_379_686),
            ("2025-11-29T07:13:06-00:00", 1_764_400_386),
        ]
        for (text, time) in taken { #expect(Timestamps.parse(text) == time, "\(text)") }
        for (text, reason) in [("2025-11-29T07:13:06+05:60", "there is no offset +05:60"), ("2025-11-29T07:13:06-24:00", "there is no offset -24:00")] {
            #expect(Timestamps.parse(text) == nil, "\(text) parsed as \(Timestamps.parse(text).map(Timestamps.iso8601) ?? "")")
            #expect(Timestamps.impossibility(in: text)?.hasPrefix(reason) == true, "\(text): \(Timestamps.impossibility(in: text) ?? "no reason")")
        }
    }

    @Test("a time before 1970 or after 9999 is refused with the same reason however it is written: @-1, 0000-01-01, an offset that puts 1970 or 9999 across the line")
    func outsideTheRangeWhicheverSpelling() {
        let before = "it is before 1970-01-01T00:00:00Z; times run from 1970-01-01 to 9999-12-31T23:59:59Z"
        let after = "it is after 9999-12-31T23:59:59Z; times run from 1970-01-01 to 9999-12-31T23:59:59Z"
        for (text, reason) in [("@-1", before), ("0000-01-01", before), ("1969-12-31T23:59:59Z", before), ("1970-01-01T00:30:00+01:00", before),
                               ("@253402300800", after), ("9999-12-31T23:59:59-00:01", after),
                               // Past what an Int64 holds: out of range all the same, not malformed.
                               ("@99999999999999999999", after), ("@-99999999999999999999", before)] {
            #expect(Timestamps.parse(text) == nil, "\(text) parsed as \(Timestamps.parse(text).map(Timestamps.iso8601) ?? "")")
            #expect(Timestamps.malformation(in: text) == nil && Timestamps.outOfRange(in: text) == reason, "\(text): \(Timestamps.malformation(in: text) ?? Timestamps.outOfRange(in: text) ?? "no reason")")
        }
        // The edges are in.
        for (text, time) in [("1970-01-01T01:00:00+01:00", 0), ("9999-12-31T23:59:59Z", 253_402_300_799)] as [(String, UnixTime)] {
            #expect(Timestamps.parse(text) == time && Timestamps.outOfRange(in: text) == nil, "\(text)")
        }
    }

    @Test("dates and times that do not exist are refused exactly where GNU date refuses them, never rolled over")
    func impossibleDatesMatchGNUDate() throws {
        let date = try Processes.tool("date", package: "coreutils")
        var generator = SplitMix64(seed: 20_261_128)
        var texts = ["2026-02-30", "2026-11-31", "2026-13-01", "2026-00-10", "2026-11-00", "2024-02-29", "2025-02-29",
                     "2000-02-29", "2100-02-29", "2026-11-28T42:00:00Z", "2026-11-28T18:99:00Z", "2026-11-28T24:00:00Z",
                     "2026-11-28T23:59:60Z", "2026-11-28T23:59:59Z", "2026-12-31T00:00:00Z"]
        for _ in 0..<120 {
            let year = [1999, 2000, 2024, 2025, 2026, 2100][generator.next(upTo: 6)]
            let day = String(format: "%04d-%02d-%02d", year, generator.next(upTo: 14), generator.next(upTo: 33))
            texts.append(generator.next(upTo: 2) == 0 ? day
                : day + String(format: "T%02d:%02d:%02dZ", generator.next(upTo: 26), generator.next(upTo: 62), generator.next(upTo: 62)))
        }
        for text in texts {
            let reference = try Processes.run(date, ["-u", "-d", text, "+%s"])
            let parsed = Timestamps.parse(text)
            if reference.status == 0 {
                #expect(parsed == Int64(reference.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(text)")
                #expect(Timestamps.impossibility(in: text) == nil, "\(text)")
            } else {
                #expect(parsed == nil, "\(text) does not exist but parsed as \(parsed.map(Timestamps.iso8601) ?? "")")
                #expect(Timestamps.impossibility(in: text) != nil, "\(text)")
            }
        }
    }
}
