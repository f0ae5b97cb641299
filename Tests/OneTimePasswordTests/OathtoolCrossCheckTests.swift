import Foundation
import OneTimePassword
import Testing
import TestSupport

/// Agreement with an independent implementation (oath-toolkit's `oathtool`), run as a real
/// subprocess, over inputs the RFC vectors do not cover: odd secret lengths, 7 digits,
/// periods other than 30 s.
@Suite("Cross-check against oathtool")
struct OathtoolCrossCheckTests {
    /// oathtool's trimmed standard output. A missing oathtool is a failure naming its package,
    /// not a skip: a silently skipped cross-check proves nothing.
    static func run(_ arguments: [String]) throws -> String {
        let oathtool = try Processes.tool("oathtool", package: "oathtool")
        return try Processes.output(oathtool, arguments).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("TOTP codes equal oathtool's for 60 random secrets, times, algorithms, digits and periods")
    func randomTOTP() throws {
        var random = SplitMix64(seed: 0x7070_7465_7374)
        for _ in 0..<60 {
            let secret = (0..<Int.random(in: 10...64, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            let time = Int64.random(in: 0...4_102_444_800, using: &random)  // up to 2100-01-01
            let algorithm = Digest.allCases.randomElement(using: &random) ?? .sha1
            let digits = Int.random(in: 6...8, using: &random)
            let period = [15, 30, 30, 60, 90].randomElement(using: &random) ?? 30
            let parameters = OTPParameters(algorithm: algorithm, digits: digits, period: period)

            let ours = try TOTP.code(secret: secret, at: time, parameters: parameters)
            let theirs = try Self.run([
                "--totp=\(algorithm.rawValue)", "--digits=\(digits)", "--time-step-size=\(period)s",
                "--now=@\(time)", hex(secret),
            ])
            #expect(ours == theirs, "secret \(hex(secret)) time \(time) \(algorithm.rawValue) digits \(digits) period \(period)")
        }
    }

    @Test("HOTP codes equal oathtool's for several counters and digit counts")
    func hotp() throws {
        var random = SplitMix64(seed: 4226)
        for counter: UInt64 in [0, 1, 7, 255, 256, 65_537, 1 << 32, 123_456_789_012] {
            let secret = (0..<20).map { _ in UInt8.random(in: 0...255, using: &random) }
            let digits = Int.random(in: 6...8, using: &random)
            let ours = try HOTP.code(secret: secret, counter: counter, digits: digits)
            let theirs = try Self.run(["--hotp", "--counter=\(counter)", "--digits=\(digits)", hex(secret)])
            #expect(ours == theirs, "secret \(hex(secret)) counter \(counter) digits \(digits)")
        }
    }
}
