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
    }
}
