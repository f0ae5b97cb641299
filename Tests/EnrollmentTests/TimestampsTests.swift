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
        var generator = SystemRandomNumberGenerator()
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
        ]
        for (text, time) in taken { #expect(Timestamps.parse(text) == time, "\(text)") }
        for text in ["2025-11-29 23:59:59", "2025-11-29Tjunk", "2025-11-29 junk", "2025-11-29T07:10:00.5Z", "2025-11-29T07:10:00",
                     "2025-11-29T07:10Z", "2025-11-29T07:10:00Zjunk", "2025-11-29T07:10:00+02", "@-1", "@", "@1e9", "@ 5",
                     "@253402300800", "@99999999999999", " 2025-11-29", "2025-11-29\n", "yesterday", ""] {
            #expect(Timestamps.parse(text) == nil, "\(text) parsed as \(Timestamps.parse(text).map(Timestamps.iso8601) ?? "")")
            #expect(Timestamps.impossibility(in: text) != nil || Timestamps.malformation(in: text) != nil, "\(text): no reason given")
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
