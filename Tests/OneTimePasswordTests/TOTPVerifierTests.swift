import OneTimePassword
import Testing

@Suite("TOTP verifier")
struct TOTPVerifierTests {
    static let secret = Array("12345678901234567890".utf8)
    static let parameters = OTPParameters.default
    /// Mid-step, so ±1 step is unambiguous: step 37_037_037 runs 1_111_111_110...1_111_111_139.
    static let now: Int64 = 1_111_111_125
    static let step = TOTP.timeStep(at: now, period: 30)

    static func code(atStep step: Int64, parameters: OTPParameters = parameters) throws -> String {
        try TOTP.code(secret: secret, at: step * Int64(parameters.period), parameters: parameters)
    }

    @Test("The current code matches and reports the current step")
    func currentStep() throws {
        let result = TOTPVerifier().matchingStep(
            for: try Self.code(atStep: Self.step), secret: Self.secret, parameters: Self.parameters, at: Self.now)
        #expect(result == Self.step)
    }

    @Test("Default window accepts the previous and next step and says which", arguments: [-1, 1])
    func adjacentSteps(offset: Int64) throws {
        let code = try Self.code(atStep: Self.step + offset)
        let result = TOTPVerifier().matchingStep(for: code, secret: Self.secret, parameters: Self.parameters, at: Self.now)
        #expect(result == Self.step + offset)
    }

    @Test("Default window rejects codes two or more steps away", arguments: [-3, -2, 2, 3])
    func distantSteps(offset: Int64) throws {
        let code = try Self.code(atStep: Self.step + offset)
        let result = TOTPVerifier().matchingStep(for: code, secret: Self.secret, parameters: Self.parameters, at: Self.now)
        #expect(result == nil)
    }

    @Test("Window 0 accepts only the current step")
    func windowZero() throws {
        let verifier = TOTPVerifier(window: 0)
        #expect(verifier.matchingStep(for: try Self.code(atStep: Self.step), secret: Self.secret, parameters: Self.parameters, at: Self.now) == Self.step)
        #expect(verifier.matchingStep(for: try Self.code(atStep: Self.step - 1), secret: Self.secret, parameters: Self.parameters, at: Self.now) == nil)
        #expect(verifier.matchingStep(for: try Self.code(atStep: Self.step + 1), secret: Self.secret, parameters: Self.parameters, at: Self.now) == nil)
    }

    @Test("Window 2 accepts two steps either side but not three")
    func windowTwo() throws {
        let verifier = TOTPVerifier(window: 2)
        for offset: Int64 in -2...2 {
            let code = try Self.code(atStep: Self.step + offset)
            #expect(verifier.matchingStep(for: code, secret: Self.secret, parameters: Self.parameters, at: Self.now) == Self.step + offset)
        }
        for offset: Int64 in [-3, 3] {
            let code = try Self.code(atStep: Self.step + offset)
            #expect(verifier.matchingStep(for: code, secret: Self.secret, parameters: Self.parameters, at: Self.now) == nil)
        }
    }

    @Test("A code for another secret does not match")
    func wrongSecret() throws {
        let code = try Self.code(atStep: Self.step)
        let other = Array("09876543210987654321".utf8)
        #expect(TOTPVerifier().matchingStep(for: code, secret: other, parameters: Self.parameters, at: Self.now) == nil)
    }

    @Test("SHA-256, 8 digits, 60 s codes verify under the same parameters and not under the defaults")
    func otherParameters() throws {
        let parameters = OTPParameters(algorithm: .sha256, digits: 8, period: 60)
        let code = try TOTP.code(secret: Self.secret, at: Self.now, parameters: parameters)
        let verifier = TOTPVerifier()
        #expect(verifier.matchingStep(for: code, secret: Self.secret, parameters: parameters, at: Self.now) == Self.now / 60)
        #expect(verifier.matchingStep(for: code, secret: Self.secret, parameters: OTPParameters(algorithm: .sha1, digits: 8, period: 60), at: Self.now) == nil)
    }

    @Test("A code whose step was already accepted is reported as reused")
    func reusedSameStep() throws {
        let code = try Self.code(atStep: Self.step)
        let result = TOTPVerifier().verify(
            code: code, secret: Self.secret, parameters: Self.parameters, at: Self.now, lastAcceptedStep: Self.step)
        #expect(result == .reused(step: Self.step))
    }

    @Test("A previous-step code after the current step was accepted is reported as reused")
    func reusedOlderStep() throws {
        let code = try Self.code(atStep: Self.step - 1)
        let result = TOTPVerifier().verify(
            code: code, secret: Self.secret, parameters: Self.parameters, at: Self.now, lastAcceptedStep: Self.step)
        #expect(result == .reused(step: Self.step - 1))
    }

    @Test("A newer code after an older step was accepted matches")
    func freshAfterAccepted() throws {
        let code = try Self.code(atStep: Self.step + 1)
        let verifier = TOTPVerifier()
        #expect(verifier.verify(code: code, secret: Self.secret, parameters: Self.parameters, at: Self.now, lastAcceptedStep: Self.step) == .matched(step: Self.step + 1))
        #expect(verifier.verify(code: code, secret: Self.secret, parameters: Self.parameters, at: Self.now, lastAcceptedStep: nil) == .matched(step: Self.step + 1))
        #expect(verifier.verify(code: "000000", secret: Self.secret, parameters: Self.parameters, at: Self.now, lastAcceptedStep: Self.step) == .noMatch)
    }

    static let malformed: [String] = [
        "", "1", "12345", "1234567", "12345a", "abcdef", "ABCDEF",
        "١٢٣٤٥٦",  // Arabic-Indic digits
        "۱۲۳۴۵۶",  // Extended Arabic-Indic digits
        "１２３４５６",  // full-width digits
        "123 456", "123-456", " 12345", "12345 ", "+12345", "-12345", "12345\n", "1234\u{0}6",
        "１23456", "12345６",
        String(repeating: "1", count: 10_000),
        String(repeating: "١", count: 10_000),
    ]

    @Test("Malformed input never matches and never traps", arguments: malformed)
    func malformedCodes(code: String) {
        let verifier = TOTPVerifier(window: 10)
        #expect(verifier.matchingStep(for: code, secret: Self.secret, parameters: Self.parameters, at: Self.now) == nil)
        #expect(verifier.verify(code: code, secret: Self.secret, parameters: Self.parameters, at: Self.now, lastAcceptedStep: nil) == .noMatch)
    }

    @Test("Unicode digits spelling the right code are still rejected")
    func unicodeDigitsOfTheRightCode() throws {
        let code = try Self.code(atStep: Self.step)
        let fullWidth = String(String.UnicodeScalarView(code.unicodeScalars.compactMap { Unicode.Scalar($0.value - 0x30 + 0xFF10) }))
        let arabic = String(String.UnicodeScalarView(code.unicodeScalars.compactMap { Unicode.Scalar($0.value - 0x30 + 0x0660) }))
        #expect(fullWidth.count == 6 && arabic.count == 6)
        #expect(TOTPVerifier().matchingStep(for: fullWidth, secret: Self.secret, parameters: Self.parameters, at: Self.now) == nil)
        #expect(TOTPVerifier().matchingStep(for: arabic, secret: Self.secret, parameters: Self.parameters, at: Self.now) == nil)
    }

    @Test("Extreme clocks, windows and invalid parameters give no match instead of trapping")
    func extremes() throws {
        let code = try Self.code(atStep: Self.step)
        for window in [Int.min, -1, Int.max] {
            _ = TOTPVerifier(window: window).matchingStep(for: code, secret: Self.secret, parameters: Self.parameters, at: Self.now)
        }
        for time in [Int64.min, -1, 0, Int64.max] {
            _ = TOTPVerifier(window: 3).matchingStep(for: "123456", secret: Self.secret, parameters: Self.parameters, at: time)
            _ = TOTPVerifier(window: 3).matchingStep(for: "123456", secret: Self.secret, parameters: OTPParameters(period: 1), at: time)
        }
        let last = try TOTP.code(secret: Self.secret, at: Int64.max, parameters: OTPParameters(period: 1))
        #expect(TOTPVerifier(window: 3).matchingStep(for: last, secret: Self.secret, parameters: OTPParameters(period: 1), at: Int64.max) == Int64.max)
        #expect(TOTPVerifier().matchingStep(for: code, secret: Self.secret, parameters: OTPParameters(digits: 6, period: 0), at: Self.now) == nil)
        #expect(TOTPVerifier().matchingStep(for: "1234567890", secret: Self.secret, parameters: OTPParameters(digits: 10), at: Self.now) == nil)
        #expect(TOTPVerifier().matchingStep(for: code, secret: [], parameters: Self.parameters, at: Self.now) == nil)
    }

    @Test("Times before the epoch use step 0, and the step-0 code verifies there")
    func beforeEpoch() throws {
        #expect(TOTP.timeStep(at: -1, period: 30) == 0)
        #expect(TOTP.timeStep(at: Int64.min, period: 30) == 0)
        #expect(TOTP.timeStep(at: 29, period: 30) == 0)
        #expect(TOTP.timeStep(at: 30, period: 30) == 1)
        #expect(TOTP.timeStep(at: 100, period: 0) == 0)
        let code = try TOTP.code(secret: Self.secret, at: -100)
        #expect(code == (try TOTP.code(secret: Self.secret, at: 0)))
        #expect(TOTPVerifier().matchingStep(for: code, secret: Self.secret, parameters: Self.parameters, at: -5) == 0)
    }

    @Test("Out-of-range digits and periods are refused with a code and advice")
    func parameterErrors() {
        #expect(throws: OTPParameterError.digits(5)) { try TOTP.code(secret: Self.secret, at: 0, parameters: OTPParameters(digits: 5)) }
        #expect(throws: OTPParameterError.digits(9)) { try HOTP.code(secret: Self.secret, counter: 0, digits: 9) }
        #expect(throws: OTPParameterError.period(0)) { try TOTP.code(secret: Self.secret, at: 0, parameters: OTPParameters(period: 0)) }
        #expect(throws: OTPParameterError.period(3601)) { try OTPParameters(period: 3601).validate() }
        #expect(OTPParameterError.digits(9).code == "otp.invalid_digits")
        #expect(OTPParameterError.digits(9).message.contains("6 to 8"))
        #expect(OTPParameterError.period(0).message.contains("1 to 3600"))
    }

    @Test("Concurrent verifications of different secrets each get their own answer")
    func concurrentVerifications() async throws {
        let secrets = (0..<32).map { index in (0..<20).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) } }
        let codes = try secrets.map { try TOTP.code(secret: $0, at: Self.now) }
        let results = await withTaskGroup(of: (Int, Int64?).self) { group in
            for index in secrets.indices {
                let secret = secrets[index]
                let code = codes[index]
                group.addTask {
                    var step: Int64?
                    for _ in 0..<200 {
                        step = TOTPVerifier().matchingStep(for: code, secret: secret, parameters: .default, at: Self.now)
                    }
                    return (index, step)
                }
            }
            var collected: [Int: Int64?] = [:]
            for await (index, step) in group { collected[index] = step }
            return collected
        }
        #expect(results.count == secrets.count)
        #expect(results.values.allSatisfy { $0 == Self.step })
    }
}
