@testable import OneTimePassword
import Testing

/// The verifier compares each step's code through `TOTPVerifier.equalMask`, which receives the
/// step's truncated HMAC, or nil when OpenSSL failed to compute it. An OpenSSL failure cannot be
/// provoked from here, so the mask is exercised with the nil it would receive.
@Suite("TOTP verifier fails closed")
struct VerifierFailClosedTests {
    @Test("A step whose HMAC failed matches no typed code, the one its failure value would reduce to included", arguments: [6, 7, 8])
    func failedStepMatchesNothing(digits: Int) {
        var modulus: UInt32 = 1
        for _ in 0..<digits { modulus *= 10 }
        // The codes a failure read as 0 or as UInt32.max would produce (967295 for 6 digits).
        for typed in [0, UInt32.max % modulus, modulus - 1] {
            #expect(TOTPVerifier.equalMask(nil, typed: typed, modulus: modulus) == 0, "\(typed) matched a failed HMAC")
        }
    }

    @Test("With six digits, none of the million codes matches a failed step")
    func noSixDigitCodeMatchesAFailedStep() {
        var matched: UInt64 = 0
        for typed in UInt32(0)..<1_000_000 { matched |= TOTPVerifier.equalMask(nil, typed: typed, modulus: 1_000_000) }
        #expect(matched == 0)
    }

    @Test("A computed step still matches exactly its own code (reduced modulo 10^digits)")
    func computedStepMatchesItsCode() {
        // RFC 4226 Appendix D, count 0: truncated 1284755224, HOTP 755224 (6 digits).
        #expect(TOTPVerifier.equalMask(1_284_755_224, typed: 755_224, modulus: 1_000_000) == ~0)
        #expect(TOTPVerifier.equalMask(1_284_755_224, typed: 755_225, modulus: 1_000_000) == 0)
        #expect(TOTPVerifier.equalMask(1_284_755_224, typed: 84_755_224, modulus: 100_000_000) == ~0)
    }
}
