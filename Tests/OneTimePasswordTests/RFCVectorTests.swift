import OneTimePassword
import Testing

/// Published test vectors: if any of these fail, codes disagree with every authenticator app.
@Suite("RFC test vectors")
struct RFCVectorTests {
    static let seed20 = Array("12345678901234567890".utf8)
    static let seed32 = Array("12345678901234567890123456789012".utf8)
    static let seed64 = Array("1234567890123456789012345678901234567890123456789012345678901234".utf8)

    struct TOTPVector: Sendable, CustomTestStringConvertible {
        let time: Int64
        let algorithm: Digest
        let code: String
        var testDescription: String { "\(algorithm.rawValue) at \(time)" }
    }

    /// RFC 6238 Appendix B, with the per-algorithm seeds from the reference implementation.
    static let rfc6238: [TOTPVector] = [
        .init(time: 59, algorithm: .sha1, code: "94287082"),
        .init(time: 59, algorithm: .sha256, code: "46119246"),
        .init(time: 59, algorithm: .sha512, code: "90693936"),
        .init(time: 1_111_111_109, algorithm: .sha1, code: "07081804"),
        .init(time: 1_111_111_109, algorithm: .sha256, code: "68084774"),
        .init(time: 1_111_111_109, algorithm: .sha512, code: "25091201"),
        .init(time: 1_111_111_111, algorithm: .sha1, code: "14050471"),
        .init(time: 1_111_111_111, algorithm: .sha256, code: "67062674"),
        .init(time: 1_111_111_111, algorithm: .sha512, code: "99943326"),
        .init(time: 1_234_567_890, algorithm: .sha1, code: "89005924"),
        .init(time: 1_234_567_890, algorithm: .sha256, code: "91819424"),
        .init(time: 1_234_567_890, algorithm: .sha512, code: "93441116"),
        .init(time: 2_000_000_000, algorithm: .sha1, code: "69279037"),
        .init(time: 2_000_000_000, algorithm: .sha256, code: "90698825"),
        .init(time: 2_000_000_000, algorithm: .sha512, code: "38618901"),
        .init(time: 20_000_000_000, algorithm: .sha1, code: "65353130"),
        .init(time: 20_000_000_000, algorithm: .sha256, code: "77737706"),
        .init(time: 20_000_000_000, algorithm: .sha512, code: "47863826"),
    ]

    static func seed(for algorithm: Digest) -> [UInt8] {
        switch algorithm {
        case .sha1: seed20
        case .sha256: seed32
        case .sha512: seed64
        }
    }

    @Test("RFC 6238 Appendix B codes", arguments: rfc6238)
    func totpAppendixB(vector: TOTPVector) throws {
        let parameters = OTPParameters(algorithm: vector.algorithm, digits: 8, period: 30)
        let code = try TOTP.code(secret: Self.seed(for: vector.algorithm), at: vector.time, parameters: parameters)
        #expect(code == vector.code)
    }

    @Test("RFC 6238 Appendix B codes are accepted by the verifier at their own time", arguments: rfc6238)
    func verifierAcceptsAppendixB(vector: TOTPVector) {
        let parameters = OTPParameters(algorithm: vector.algorithm, digits: 8, period: 30)
        let step = TOTPVerifier(window: 0).matchingStep(
            for: vector.code, secret: Self.seed(for: vector.algorithm), parameters: parameters, at: vector.time)
        #expect(step == vector.time / 30)
    }

    @Test("RFC 6238 Appendix B time steps (T in hex)")
    func appendixBTimeSteps() {
        #expect(TOTP.timeStep(at: 59, period: 30) == 0x1)
        #expect(TOTP.timeStep(at: 1_111_111_109, period: 30) == 0x23523EC)
        #expect(TOTP.timeStep(at: 1_111_111_111, period: 30) == 0x23523ED)
        #expect(TOTP.timeStep(at: 1_234_567_890, period: 30) == 0x273EF07)
        #expect(TOTP.timeStep(at: 2_000_000_000, period: 30) == 0x3F940AA)
        #expect(TOTP.timeStep(at: 20_000_000_000, period: 30) == 0x27BC86AA)
    }

    /// RFC 4226 Appendix D: HMAC-SHA-1 with the ASCII seed, counters 0-9.
    static let rfc4226: [(counter: UInt64, hmac: String, truncated: UInt32, code: String)] = [
        (0, "cc93cf18508d94934c64b65d8ba7667fb7cde4b0", 0x4c93cf18, "755224"),
        (1, "75a48a19d4cbe100644e8ac1397eea747a2d33ab", 0x41397eea, "287082"),
        (2, "0bacb7fa082fef30782211938bc1c5e70416ff44", 0x82fef30, "359152"),
        (3, "66c28227d03a2d5529262ff016a1e6ef76557ece", 0x66ef7655, "969429"),
        (4, "a904c900a64b35909874b33e61c5938a8e15ed1c", 0x61c5938a, "338314"),
        (5, "a37e783d7b7233c083d4f62926c7a25f238d0316", 0x33c083d4, "254676"),
        (6, "bc9cd28561042c83f219324d3c607256c03272ae", 0x7256c032, "287922"),
        (7, "a4fb960c0bc06e1eabb804e5b397cdc4b45596fa", 0x4e5b397, "162583"),
        (8, "1b3c89f65e6c9e883012052823443f048b4332db", 0x2823443f, "399871"),
        (9, "1637409809a679dc698207310c8c7fc07290d9e5", 0x2679dc69, "520489"),
    ]

    @Test("RFC 4226 Appendix D HOTP codes for counters 0-9")
    func hotpAppendixD() throws {
        for vector in Self.rfc4226 {
            let code = try HOTP.code(secret: Self.seed20, counter: vector.counter)
            #expect(code == vector.code, "counter \(vector.counter)")
        }
    }

    @Test("RFC 4226 Appendix D intermediate HMAC-SHA-1 and truncated values")
    func hotpAppendixDIntermediates() throws {
        let hmac = try HMACContext(key: Self.seed20, digest: .sha1)
        for vector in Self.rfc4226 {
            var counter = vector.counter.bigEndian
            let message = withUnsafeBytes(of: &counter) { Array($0) }
            let mac = hmac.authenticate(message)
            #expect(hex(mac) == vector.hmac, "counter \(vector.counter)")
            #expect(mac.count == 20)
            let offset = Int(mac[19] & 0x0F)
            let truncated = (UInt32(mac[offset] & 0x7F) << 24) | (UInt32(mac[offset + 1]) << 16)
                | (UInt32(mac[offset + 2]) << 8) | UInt32(mac[offset + 3])
            #expect(truncated == vector.truncated, "counter \(vector.counter)")
        }
    }
}

func hex(_ bytes: [UInt8]) -> String {
    let digits = Array("0123456789abcdef".utf8)
    var output: [UInt8] = []
    for byte in bytes {
        output.append(digits[Int(byte >> 4)])
        output.append(digits[Int(byte & 0x0F)])
    }
    return String(decoding: output, as: UTF8.self)
}
