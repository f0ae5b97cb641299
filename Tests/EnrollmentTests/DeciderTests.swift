import Enrollment
import Foundation
import OneTimePassword
import Testing

/// The rules, decided as a pure function: every command's success and every refusal.
struct DeciderTests {
    let secret = Secret(bytes: Array("12345678901234567890".utf8))
    let replacement = Secret(bytes: Array("abcdefghijabcdefghij".utf8))
    let t0: UnixTime = 1_764_400_000

    func context(_ now: UnixTime, fresh: Secret? = nil) -> DecisionContext {
        DecisionContext(now: now, user: "alice", freshSecret: fresh)
    }

    func code(_ secret: Secret, at time: UnixTime, _ parameters: OTPParameters = .default) throws -> String {
        try TOTP.code(secret: secret.bytes, at: time, parameters: parameters)
    }

    func run(_ commands: [(EnrollmentCommand, UnixTime, Secret?)], from state: AuthenticatorState = .initial) -> (AuthenticatorState, [Decision]) {
        var state = state
        var decisions: [Decision] = []
        for (command, time, fresh) in commands {
            let decision = EnrollmentDecider.decide(command, state: state, context: context(time, fresh: fresh))
            state = state.evolve(decision.events)
            decisions.append(decision)
        }
        return (state, decisions)
    }

    var pending: AuthenticatorState {
        run([(.requestEnrollment(EnrollmentOptions(issuer: "ACME")), t0, secret)]).0
    }

    func active() throws -> AuthenticatorState {
        run([(.confirmCode(try code(secret, at: t0 + 30)), t0 + 30, nil)], from: pending).0
    }

    @Test("request issues a pending secret that expires after 10 minutes")
    func request() {
        let decision = EnrollmentDecider.decide(.requestEnrollment(EnrollmentOptions(issuer: "ACME")), state: .initial, context: context(t0, fresh: secret))
        #expect(decision.rejection == nil)
        guard case .enrollmentRequested(let issued)? = decision.events.first else {
            Issue.record("expected EnrollmentRequested, got \(decision.events)")
            return
        }
        #expect(issued.secret == .open(secret))
        #expect(issued.account == "alice")
        #expect(issued.expiresAt == t0 + 600)
        #expect(AuthenticatorState.initial.evolve(decision.events).status == .pending)
    }

    @Test("times an event carries never pass the year 9999, whatever the clock or the lock's doubling: every decided event reads back")
    func timesStayReadable() throws {
        let last: UnixTime = 253_402_300_799
        let late = EnrollmentDecider.decide(.requestEnrollment(EnrollmentOptions()), state: .initial, context: context(last - 10, fresh: secret))
        guard case .enrollmentRequested(let issued)? = late.events.first else {
            Issue.record("expected EnrollmentRequested, got \(late.events)")
            return
        }
        #expect(issued.expiresAt == last)
        // A week-long lock doubled nineteen times would end in the year 12075.
        var policy = EnrollmentPolicy.default
        policy.maxFailedAttempts = 1
        policy.lockDuration = 7 * 86_400
        var state = AuthenticatorState.initial.evolve(late.events)
        state.lockCount = 30
        let locked = EnrollmentDecider.decide(.confirmCode("000000"), state: state, context: DecisionContext(now: last - 10, user: "alice", policy: policy))
        #expect(locked.rejection == .locked(until: last))
        for event in late.events + locked.events {
            let encoded = try EventCodec.encode(event) { _ in [UInt8](repeating: 1, count: SecretField.sealedByteCountMinimum) }
            #expect(throws: Never.self, "\(encoded.type) must read back") {
                try EventCodec.decode(type: encoded.type, schemaVersion: encoded.schemaVersion, data: encoded.data)
            }
        }
    }

    @Test("a right code activates the pending secret and records the matched step")
    func confirm() throws {
        let now = t0 + 45
        let decision = EnrollmentDecider.decide(.confirmCode(try code(secret, at: now)), state: pending, context: context(now))
        #expect(decision.rejection == nil)
        #expect(decision.events == [.authenticatorActivated(AuthenticatorActivated(step: now / 30, replacedPrevious: false))])
        #expect(pending.evolve(decision.events).status == .active)
    }

    @Test("a code from the previous or next step is accepted (±1 window); two steps away is not")
    func window() throws {
        let now = t0 + 300
        for (offset, accepted) in [(-30, true), (30, true), (-60, false), (60, false)] {
            let typed = try code(secret, at: now + Int64(offset))
            let decision = EnrollmentDecider.decide(.confirmCode(typed), state: pending, context: context(now))
            #expect((decision.rejection == nil) == accepted, "offset \(offset)")
        }
    }

    @Test("a wrong code is refused, recorded, and counts towards the lock")
    func wrongCode() throws {
        let right = try code(secret, at: t0 + 60)
        let wrong = right == "000000" ? "111111" : "000000"
        let decision = EnrollmentDecider.decide(.confirmCode(wrong), state: pending, context: context(t0 + 60))
        #expect(decision.rejection == .invalidCode(remainingAttempts: 4))
        #expect(decision.events == [.codeRejected(CodeRejected(reason: "invalid_code", target: .pending, failedAttempts: 1))])
        let after = pending.evolve(decision.events)
        #expect(after.status == .pending)
        // A wrong code then a right one.
        let retry = EnrollmentDecider.decide(.confirmCode(right), state: after, context: context(t0 + 60))
        #expect(retry.rejection == nil)
        #expect(after.evolve(retry.events).status == .active)
    }

    @Test("five wrong codes lock confirmation for 15 minutes; the code is not checked while locked; each lock doubles")
    func throttling() throws {
        var state = pending
        var last: Decision?
        for attempt in 1...5 {
            last = EnrollmentDecider.decide(.confirmCode("000000"), state: state, context: context(t0 + Int64(attempt)))
            state = state.evolve(last?.events ?? [])
        }
        let lockedUntil = t0 + 5 + 900
        #expect(last?.rejection == .locked(until: lockedUntil))
        #expect(last?.events.last == .confirmationLocked(ConfirmationLocked(until: lockedUntil, lockNumber: 1, failedAttempts: 5)))
        // While locked even the right code is refused unchecked, and the attempt is recorded.
        let right = try code(secret, at: t0 + 100)
        let whileLocked = EnrollmentDecider.decide(.confirmCode(right), state: state, context: context(t0 + 100))
        #expect(whileLocked.rejection == .locked(until: lockedUntil))
        #expect(whileLocked.events == [.codeRefusedWhileLocked(CodeRefusedWhileLocked(target: .pending, lockedUntil: lockedUntil))])
        #expect(state.evolve(whileLocked.events).failedAttempts == state.failedAttempts, "not counted")
        // After the lock: unlocked (recorded), and five more failures lock for 30 minutes.
        var afterLock = DecisionContext(now: lockedUntil + 1, user: "alice")
        afterLock.policy.pendingLifetime = 100_000
        var longState = run([(.requestEnrollment(EnrollmentOptions()), t0, secret)]).0
        longState.pending?.expiresAt = t0 + 100_000
        longState = longState.evolve([.confirmationLocked(ConfirmationLocked(until: lockedUntil, lockNumber: 1, failedAttempts: 5))])
        var events: [EnrollmentEvent] = []
        for attempt in 0..<5 {
            afterLock.now = lockedUntil + 1 + Int64(attempt)
            let decision = EnrollmentDecider.decide(.confirmCode("000000"), state: longState, context: afterLock)
            longState = longState.evolve(decision.events)
            events += decision.events
        }
        #expect(events.first == .confirmationUnlocked(ConfirmationUnlocked(lockNumber: 1)))
        #expect(events.last == .confirmationLocked(ConfirmationLocked(until: lockedUntil + 5 + 1800, lockNumber: 2, failedAttempts: 5)))
    }

    @Test("confirming after the pending secret expired is refused with enrollment_expired, and the expiry is recorded")
    func expiry() throws {
        let late = t0 + 601
        let decision = EnrollmentDecider.decide(.confirmCode(try code(secret, at: late)), state: pending, context: context(late))
        #expect(decision.rejection == .enrollmentExpired)
        #expect(decision.events == [.pendingSecretExpired(PendingSecretExpired(replacement: false, expiredAt: t0 + 600))])
        #expect(decision.rejection?.message.contains("request again") == true)
        #expect(pending.evolve(decision.events).status == .none)
    }

    @Test("a code of the wrong length for an expired first secret is told the enrollment expired, with nothing recorded")
    func malformedCodeForExpiredSecret() throws {
        let late = t0 + 601
        for typed in ["12345", "12 34 56", "abcdef"] {
            let decision = EnrollmentDecider.decide(.confirmCode(typed), state: pending, context: context(late))
            #expect(decision.rejection == .enrollmentExpired, "\(typed)")
            #expect(decision.events.isEmpty && decision.badInput, "bad input records nothing")
            let recorded = pending.evolve([.pendingSecretExpired(PendingSecretExpired(replacement: false, expiredAt: t0 + 600))])
            #expect(EnrollmentDecider.decide(.confirmCode(typed), state: recorded, context: context(late)).rejection == .enrollmentExpired)
        }
        // Before the expiry the same input is malformed, as ever.
        #expect(EnrollmentDecider.decide(.confirmCode("12345"), state: pending, context: context(t0 + 599)).rejection == .malformedCode(expectedDigits: 6))
    }

    @Test("request when already active is refused with already_enrolled")
    func alreadyEnrolled() throws {
        let decision = EnrollmentDecider.decide(.requestEnrollment(EnrollmentOptions()), state: try active(), context: context(t0 + 100, fresh: replacement))
        #expect(decision.rejection == .alreadyEnrolled)
        #expect(decision.events.isEmpty)
    }

    @Test("commands on a user with nothing enrolled are refused with not_enrolled")
    func notEnrolled() {
        for command in [EnrollmentCommand.confirmCode("123456"), .revealQRCode, .regenerateSecret(nil), .removeAuthenticator] {
            let decision = EnrollmentDecider.decide(command, state: .initial, context: context(t0, fresh: replacement))
            #expect(decision.rejection == .notEnrolled, "\(command.name)")
            #expect(decision.events.isEmpty)
        }
    }

    @Test("confirming with nothing pending is refused with no_pending_secret, a code of any length alike; replaying the accepted code gives code_reused")
    func nothingPending() throws {
        let state = try active()
        let fresh = try code(secret, at: t0 + 90)
        let decision = EnrollmentDecider.decide(.confirmCode(fresh), state: state, context: context(t0 + 90))
        #expect(decision.rejection == .noPendingSecret)
        #expect(decision.events.isEmpty)
        // Not malformed_code ("type the 6 digits"): no secret awaits a code of any length.
        for typed in ["1234567", "12345678"] {
            let other = EnrollmentDecider.decide(.confirmCode(typed), state: state, context: context(t0 + 90))
            #expect(other.rejection == .noPendingSecret, "\(typed)")
            #expect(other.events.isEmpty)
        }
        let replay = EnrollmentDecider.decide(.confirmCode(try code(secret, at: t0 + 30)), state: state, context: context(t0 + 40))
        #expect(replay.rejection == .codeReused)
        // Recorded, but not counted toward the lock (see EnrollmentDecider.fail).
        #expect(replay.events == [.codeRejected(CodeRejected(reason: "code_reused", target: .active, failedAttempts: 0))])
    }

    @Test("replaying an accepted code many times is refused each time and never locks confirmation")
    func replaysDoNotLock() throws {
        var state = try active()
        let replayed = try code(secret, at: t0 + 30)
        for attempt in 1...(EnrollmentPolicy.default.maxFailedAttempts * 2) {
            let decision = EnrollmentDecider.decide(.confirmCode(replayed), state: state, context: context(t0 + 40))
            #expect(decision.rejection == .codeReused, "replay \(attempt)")
            state = state.evolve(decision.events)
        }
        #expect(state.lockedUntil == nil)
        #expect(state.failedAttempts == 0)
    }

    @Test("regenerate keeps the old secret active until a code from the new one is confirmed")
    func regenerate() throws {
        let state = try active()
        let (afterRegenerate, decisions) = run([(.regenerateSecret(nil), t0 + 100, replacement)], from: state)
        #expect(decisions[0].rejection == nil)
        #expect(afterRegenerate.status == .active)
        #expect(afterRegenerate.active?.secret == .open(secret))
        #expect(afterRegenerate.pending?.isReplacement == true)
        #expect(afterRegenerate.current?.secret == .open(replacement))
        // The old secret's code does not confirm the replacement.
        let old = EnrollmentDecider.decide(.confirmCode(try code(secret, at: t0 + 130)), state: afterRegenerate, context: context(t0 + 130))
        #expect(old.rejection == .invalidCode(remainingAttempts: 4))
        // The new one does, and replaces the old.
        let new = EnrollmentDecider.decide(.confirmCode(try code(replacement, at: t0 + 130)), state: afterRegenerate, context: context(t0 + 130))
        #expect(new.events == [.authenticatorActivated(AuthenticatorActivated(step: (t0 + 130) / 30, replacedPrevious: true))])
        #expect(afterRegenerate.evolve(new.events).active?.secret == .open(replacement))
    }

    @Test("an abandoned regenerate expires and the old secret is still active")
    func abandonedRegenerate() throws {
        let state = try active()
        let (afterRegenerate, _) = run([(.regenerateSecret(nil), t0 + 100, replacement)], from: state)
        let decision = EnrollmentDecider.decide(.revealQRCode, state: afterRegenerate, context: context(t0 + 100 + 601))
        #expect(decision.events == [
            .pendingSecretExpired(PendingSecretExpired(replacement: true, expiredAt: t0 + 700)),
            .qrCodeRevealed(QRCodeRevealed(target: .active)),
        ])
        let after = afterRegenerate.evolve(decision.events)
        #expect(after.status == .active)
        #expect(after.active?.secret == .open(secret))
    }

    @Test("a code for a new secret from regenerate that expired is refused as replacement_expired (not 'already active'), now and on later tries, counting nothing; the active secret is unchanged; a new regenerate clears it")
    func expiredReplacementCode() throws {
        let state = try active()
        let (afterRegenerate, _) = run([(.regenerateSecret(nil), t0 + 100, replacement)], from: state)
        let late = t0 + 100 + 601
        let first = EnrollmentDecider.decide(.confirmCode(try code(replacement, at: late)), state: afterRegenerate, context: context(late))
        #expect(first.rejection == .replacementExpired)
        #expect(first.events == [.pendingSecretExpired(PendingSecretExpired(replacement: true, expiredAt: t0 + 700))])
        let after = afterRegenerate.evolve(first.events)
        #expect(after.active?.secret == .open(secret) && after.failedAttempts == 0)
        let again = EnrollmentDecider.decide(.confirmCode(try code(replacement, at: late + 60)), state: after, context: context(late + 60))
        #expect(again.rejection == .replacementExpired && again.events.isEmpty)
        // A new QR code: its code activates it as usual.
        let (renewed, decisions) = run([
            (.regenerateSecret(nil), late + 90, secret), (.confirmCode(try code(secret, at: late + 120)), late + 120, nil),
        ], from: after)
        #expect(decisions.map(\.rejection) == [nil, nil])
        #expect(!renewed.replacementExpired && renewed.status == .active)
    }

    @Test("reveal shows the pending secret if there is one, else the active one")
    func reveal() throws {
        let pendingReveal = EnrollmentDecider.decide(.revealQRCode, state: pending, context: context(t0 + 10))
        #expect(pendingReveal.events == [.qrCodeRevealed(QRCodeRevealed(target: .pending))])
        let activeReveal = EnrollmentDecider.decide(.revealQRCode, state: try active(), context: context(t0 + 40))
        #expect(activeReveal.events == [.qrCodeRevealed(QRCodeRevealed(target: .active))])
    }

    @Test("remove, then enroll again")
    func removeAndEnrollAgain() throws {
        let (state, decisions) = run([
            (.removeAuthenticator, t0 + 50, nil),
            (.requestEnrollment(EnrollmentOptions()), t0 + 60, replacement),
        ], from: try active())
        #expect(decisions[0].events == [.authenticatorRemoved(AuthenticatorRemoved(hadActive: true))])
        #expect(decisions[1].rejection == nil)
        #expect(state.status == .pending)
        #expect(state.current?.secret == .open(replacement))
    }

    @Test("malformed codes are bad input: refused before anything is checked or recorded")
    func malformed() {
        for typed in ["", "12345", "1234567", "12a456", "١٢٣٤٥٦", "１２３４５６", "123 456", "123-456", String(repeating: "1", count: 10_000)] {
            let decision = EnrollmentDecider.decide(.confirmCode(typed), state: pending, context: context(t0 + 10))
            #expect(decision.rejection == .malformedCode(expectedDigits: 6), "\(typed.prefix(12))")
            #expect(decision.rejection?.isBadInput == true)
            #expect(decision.events.isEmpty)
        }
    }

    @Test("each algorithm and digit count activates with its own code")
    func algorithms() throws {
        for algorithm in Digest.allCases {
            for digits in 6...8 {
                let parameters = OTPParameters(algorithm: algorithm, digits: digits, period: 30)
                let state = run([(.requestEnrollment(EnrollmentOptions(parameters: parameters)), t0, secret)]).0
                let typed = try code(secret, at: t0 + 5, parameters)
                #expect(typed.count == digits)
                let decision = EnrollmentDecider.decide(.confirmCode(typed), state: state, context: context(t0 + 5))
                #expect(decision.rejection == nil, "\(algorithm) \(digits)")
            }
        }
    }

    @Test("every refusal has a stable machine code and a message that says what to do")
    func rejectionCodes() {
        let all: [EnrollmentRejection] = [.notEnrolled, .alreadyEnrolled, .noPendingSecret, .invalidCode(remainingAttempts: 2), .codeReused, .enrollmentExpired, .locked(until: t0), .malformedCode(expectedDigits: 6), .secretUnavailable]
        #expect(Set(all.map(\.code)).count == all.count)
        for rejection in all {
            #expect(rejection.code.allSatisfy { $0.isLowercase || $0 == "_" })
            #expect(!rejection.message.isEmpty && !rejection.message.contains("\n"))
        }
    }
}

extension DeciderTests {
    @Test("every refusal reads back from its stored JSON as itself; an unknown code or an impossible value is an error, not another refusal")
    func rejectionsRoundTrip() throws {
        let all: [EnrollmentRejection] = [
            .notEnrolled, .nothingToReplace, .alreadyEnrolled, .noPendingSecret, .nothingToCancel, .invalidCode(remainingAttempts: 3), .codeReused,
            .enrollmentExpired, .replacementExpired, .locked(until: 1_764_400_900), .malformedCode(expectedDigits: 8), .secretUnavailable,
        ]
        #expect(Set(all.map(\.code)) == Set(EnrollmentRejection.codes))
        for rejection in all {
            let stored = try JSONEncoder().encode(rejection)
            #expect(try JSONDecoder().decode(EnrollmentRejection.self, from: stored) == rejection, "\(String(decoding: stored, as: UTF8.self))")
        }
        for text in [#"{"code":"nope"}"#, #"{}"#, #"{"code":42}"#, #"{"code":"invalid_code","remainingAttempts":-5}"#, #"{"code":"invalid_code"}"#,
                     #"{"code":"malformed_code","expectedDigits":40}"#, #"{"code":"locked"}"#] {
            #expect(throws: (any Error).self, "\(text)") { try JSONDecoder().decode(EnrollmentRejection.self, from: Data(text.utf8)) }
        }
    }

    @Test("every event the decider records, over seeded random sequences of every command (locks, regenerates cancelled during a lock, replayed codes, expiries), is one the journal's import check accepts: import refuses nothing the engine writes")
    func everyDecidedEventIsPossible() throws {
        /// SplitMix64: the same sequences on every run.
        struct SplitMix: RandomNumberGenerator {
            var state: UInt64
            mutating func next() -> UInt64 {
                state &+= 0x9E37_79B9_7F4A_7C15
                var z = state
                z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
                z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
                return z ^ (z >> 31)
            }
        }
        var checked = 0, replaysWhileLocked = 0
        for seed in 1...100 {
            var random = SplitMix(state: UInt64(seed))
            var policy = EnrollmentPolicy()
            policy.maxFailedAttempts = [1, 1, 2, 3][Int.random(in: 0..<4, using: &random)]
            policy.lockDuration = 120
            var state = AuthenticatorState.initial, time = t0
            var activationCode: String?
            for _ in 0..<400 {
                time += [0, 0, 0, 0, 1, 1, 1, 15, 61, 700][Int.random(in: 0..<10, using: &random)]
                let fresh = Secret(bytes: (0..<20).map { _ in UInt8.random(in: 0...255, using: &random) })
                let command: EnrollmentCommand
                switch Int.random(in: 0..<10, using: &random) {
                case 0: command = .requestEnrollment(EnrollmentOptions())
                case 1: command = .regenerateSecret(nil)
                case 2: command = .cancelRegenerate
                case 3: command = .revealQRCode
                case 4 where Int.random(in: 0..<3, using: &random) == 0: command = .removeAuthenticator
                case 4, 5: command = .confirmCode("000000")
                case 6, 7:
                    if let pending = state.pending, let secret = pending.credential.secret.secret {
                        command = .confirmCode(try TOTP.code(secret: secret.bytes, at: time, parameters: pending.credential.parameters))
                    } else {
                        command = .confirmCode("000000")
                    }
                default: command = .confirmCode(activationCode ?? "000000")
                }
                let decision = EnrollmentDecider.decide(command, state: state, context: DecisionContext(now: time, user: "alice", freshSecret: fresh, policy: policy))
                for event in decision.events {
                    let obstacle = state.obstacle(to: event, at: time)
                    #expect(obstacle == nil, "seed \(seed), \(command.name) at \(time): \(event.type) \(obstacle ?? "")")
                    if case .codeRejected = event, state.lockedUntil != nil { replaysWhileLocked += 1 }
                    if case .authenticatorActivated = event, case .confirmCode(let code) = command { activationCode = code }
                    state = state.evolve(event)
                    checked += 1
                }
            }
        }
        #expect(checked > 10_000)
        #expect(replaysWhileLocked > 0, "no sequence reached a replayed code during a lock")
    }
}
