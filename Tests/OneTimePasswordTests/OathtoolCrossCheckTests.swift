import Foundation
import OneTimePassword
import Testing

/// Agreement with an independent implementation (oath-toolkit's `oathtool`), run as a real
/// subprocess, over inputs the RFC vectors do not cover: odd secret lengths, 7 digits,
/// periods other than 30 s.
@Suite("Cross-check against oathtool")
struct OathtoolCrossCheckTests {
    static let oathtool = "/usr/bin/oathtool"

    /// Records a failure that says how to install oathtool if it is missing. Absence is a
    /// failure, not a skip: a silently skipped cross-check proves nothing.
    static func requireOathtool() -> Bool {
        guard FileManager.default.isExecutableFile(atPath: oathtool) else {
            Issue.record("oathtool not found at \(oathtool); run `apt-get install oathtool` to enable this cross-check")
            return false
        }
        return true
    }

    /// Runs oathtool and returns its trimmed standard output, or records its error output.
    static func run(_ arguments: [String]) throws -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: oathtool)
        process.arguments = arguments
        let output = Pipe()
        let errors = Pipe()
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let errorData = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            Issue.record("oathtool \(arguments.joined(separator: " ")) failed: \(String(decoding: errorData, as: UTF8.self))")
            return nil
        }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    @Test("TOTP codes equal oathtool's for 60 random secrets, times, algorithms, digits and periods")
    func randomTOTP() throws {
        guard Self.requireOathtool() else { return }
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
        guard Self.requireOathtool() else { return }
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

/// A seeded generator so a failing cross-check can be reproduced exactly.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
