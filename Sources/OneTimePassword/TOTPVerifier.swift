/// Checks a code a person typed against a secret, tolerating clock drift of ±`window` steps
/// (RFC 6238 §5.2) and refusing replays of an already-accepted step (§5.2, "the verifier
/// MUST NOT accept the second attempt of the OTP after the successful validation").
///
/// Every step in the window is computed and compared, whichever matches, and comparisons
/// are XOR-accumulated integers rather than string equality, so the time taken does not
/// reveal how close a guess was or which step it hit. One ``HMACContext`` is keyed per
/// verification and re-initialised per step; nothing is allocated per step.
///
/// ```swift
/// let verifier = TOTPVerifier(window: 1)
/// switch verifier.verify(code: typed, secret: secret, parameters: .default,
///                        at: now, lastAcceptedStep: state.lastStep) {
/// case .matched(let step): // accept, remember `step`
/// case .reused: // tell the user to wait for the next code
/// case .noMatch: // wrong code
/// }
/// ```
public struct TOTPVerifier: Sendable, Hashable {
    /// Steps accepted on each side of the current one. RFC 6238 §5.2 recommends at most one.
    /// Negative values act as 0 and values above ``maximumWindow`` as ``maximumWindow``.
    public var window: Int

    /// The largest window honoured: wider windows multiply the chance of a guessed code
    /// matching and the HMACs per attempt, so they are capped rather than trusted.
    public static let maximumWindow = 10

    public init(window: Int = 1) {
        self.window = window
    }

    /// The step whose code equals `code` within the window, preferring the current step,
    /// then the nearest earlier, then the nearest later one. nil for no match, for a code
    /// that is not exactly `parameters.digits` ASCII digits, or for invalid `parameters`.
    public func matchingStep(for code: String, secret: [UInt8], parameters: OTPParameters, at unixTime: Int64) -> Int64? {
        switch verify(code: code, secret: secret, parameters: parameters, at: unixTime, lastAcceptedStep: nil) {
        case let .matched(step): step
        case .reused, .noMatch: nil
        }
    }

    /// Like ``matchingStep(for:secret:parameters:at:)``, but steps at or before
    /// `lastAcceptedStep` count only as ``TOTPVerification/reused(step:)``: a code already
    /// used to sign in, or an older one, must not work again.
    public func verify(
        code: String, secret: [UInt8], parameters: OTPParameters, at unixTime: Int64, lastAcceptedStep: Int64?
    ) -> TOTPVerification {
        guard parameters.isValid, let typed = Self.parse(code, digits: parameters.digits) else { return .noMatch }
        guard let hmac = try? HMACContext(key: secret, digest: parameters.algorithm) else { return .noMatch }

        let modulus = HOTP.modulus(digits: parameters.digits)
        let center = TOTP.timeStep(at: unixTime, period: parameters.period)
        let width = min(max(window, 0), Self.maximumWindow)

        // Masks are all-ones or zero; selection by masking keeps the loop free of branches
        // that depend on the secret or on how many steps match.
        var freshStep: UInt64 = 0
        var freshFound: UInt64 = 0
        var reusedStep: UInt64 = 0
        var reusedFound: UInt64 = 0
        for rank in 0...(2 * width) {
            // Order of preference: 0, -1, +1, -2, +2, ...
            let offset = Int64(rank % 2 == 1 ? -(rank + 1) / 2 : rank / 2)
            let (step, overflow) = center.addingReportingOverflow(offset)
            // Steps before the epoch or past Int64 do not exist; which ones those are depends
            // only on the clock, which is public.
            if overflow || step < 0 { continue }

            let equal = Self.equalMask(HOTP.truncatedValue(hmac, counter: UInt64(step)), typed: typed, modulus: modulus)
            let fresh: UInt64 = (lastAcceptedStep.map { step > $0 } ?? true) ? ~0 : 0

            let takeFresh = equal & fresh & ~freshFound
            freshStep = (UInt64(bitPattern: step) & takeFresh) | (freshStep & ~takeFresh)
            freshFound |= takeFresh

            let takeReused = equal & ~fresh & ~reusedFound
            reusedStep = (UInt64(bitPattern: step) & takeReused) | (reusedStep & ~takeReused)
            reusedFound |= takeReused
        }
        if freshFound != 0 { return .matched(step: Int64(bitPattern: freshStep)) }
        if reusedFound != 0 { return .reused(step: Int64(bitPattern: reusedStep)) }
        return .noMatch
    }

    /// All ones when `truncated` (a step's RFC 4226 §5.3 truncation, nil when OpenSSL failed
    /// to compute its HMAC) reduced modulo `modulus` is `typed`, else zero. A step whose HMAC
    /// failed never matches: read as any fixed value, it would make the one code that value
    /// reduces to valid at every step (fail closed). Branch-free, like the loop it serves.
    @inline(__always)
    static func equalMask(_ truncated: UInt32?, typed: UInt32, modulus: UInt32) -> UInt64 {
        let computed: UInt64 = truncated == nil ? 0 : ~0
        let difference = UInt64(((truncated ?? 0) % modulus) ^ typed)
        // (d | -d) has its top bit set exactly when d != 0.
        return (((difference | (0 &- difference)) >> 63) &- 1) & computed
    }

    /// The typed code as an integer, if it is exactly `digits` ASCII digits. Unicode digits
    /// (Arabic-Indic, full-width) are multi-byte in UTF-8, so they fail the length or the
    /// byte-range check; nothing here can trap, however long the input.
    static func parse(_ code: String, digits: Int) -> UInt32? {
        let utf8 = code.utf8
        guard utf8.count == digits else { return nil }
        var value: UInt32 = 0
        for byte in utf8 {
            let digit = byte &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            value = value * 10 + UInt32(digit)
        }
        return value
    }
}

/// The outcome of ``TOTPVerifier/verify(code:secret:parameters:at:lastAcceptedStep:)``.
public enum TOTPVerification: Equatable, Sendable {
    /// The code belongs to `step`, later than any step accepted before.
    case matched(step: Int64)
    /// The code belongs to `step`, which was already accepted or precedes one that was.
    case reused(step: Int64)
    /// The code is wrong, malformed, or outside the window.
    case noMatch
}
