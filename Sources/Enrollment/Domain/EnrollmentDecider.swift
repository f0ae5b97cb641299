import OneTimePassword

/// The enrollment rules as a pure function: given the user's state, a command and the context,
/// which events happen. No I/O, no clock, no randomness (see ``DecisionContext``).
public enum EnrollmentDecider {
    /// The events `command` causes in `state`, and the refusal if it is refused.
    ///
    /// - `state` is the fold of the user's whole stream, with secrets open (the handler opens
    ///   them with the user's data key).
    /// - Housekeeping comes first and is returned even with a refusal: a pending secret past its
    ///   life expires (`PendingSecretExpired`), a lock past its end lifts (`ConfirmationUnlocked`).
    /// - A refusal may carry events that must be appended too: a wrong code is `CodeRejected`,
    ///   the one that reaches the limit also `ConfirmationLocked`, a replayed code is recorded.
    /// - A code that is not the secret's digits is `malformedCode` with no events at all (bad
    ///   input, nothing recorded); for a first secret past its life, `enrollmentExpired`.
    /// - Request and regenerate need `context.freshSecret`, as long as
    ///   ``EnrollmentPolicy/secretLength(for:)`` of ``issuingOptions(for:state:)``'s algorithm;
    ///   without one they are refused as `secretUnavailable`.
    public static func decide(_ command: EnrollmentCommand, state: AuthenticatorState, context: DecisionContext) -> Decision {
        // Bad input is refused before anything else, so nothing is recorded for it.
        if case .confirmCode(let code) = command, let expected = typedDigits(state, now: context.now),
           !expected.contains(where: { isWellFormed(code, digits: $0) }) {
            // A first secret past its life takes no code at all: say so, rather than ask for
            // the right number of digits only to refuse them next. Still nothing recorded.
            let firstExpired = state.firstSecretExpired
                || state.pending.map { !$0.isReplacement && state.livePending(at: context.now) == nil } ?? false
            return Decision(events: [], rejection: firstExpired ? .enrollmentExpired : .malformedCode(expectedDigits: expected[0]), badInput: true)
        }

        // Housekeeping first: a pending secret past its lifetime expires, and a lock past its end
        // lifts. Both are recorded, so the audit shows when they happened.
        var events: [EnrollmentEvent] = []
        var state = state
        func record(_ event: EnrollmentEvent) {
            events.append(event)
            state = state.evolve(event)
        }
        if let pending = state.pending, context.now >= pending.expiresAt {
            record(.pendingSecretExpired(PendingSecretExpired(replacement: pending.isReplacement, expiredAt: pending.expiresAt)))
        }
        // Now or recorded earlier: a command for the expired first secret learns it expired.
        let expiredFirstEnrollment = state.firstSecretExpired
        if let until = state.lockedUntil, context.now >= until {
            record(.confirmationUnlocked(ConfirmationUnlocked(lockNumber: state.lockCount)))
        }

        func refuse(_ rejection: EnrollmentRejection) -> Decision {
            Decision(events: events, rejection: rejection)
        }
        // No new secret while confirming is locked: it could not be confirmed until the lock
        // ends, and would expire first (a pending lifetime of 10 minutes, a lock of 15 or more).
        // Nothing is recorded (the next command records any expiry): the refusal holds only
        // until the lock's end, so it is not kept for a retry of its command id either.
        let lockedOut = state.lockedUntil.map { Decision(events: [], rejection: .locked(until: $0)) }

        switch command {
        case .requestEnrollment(let options):
            guard state.active == nil else { return refuse(.alreadyEnrolled) }
            if let lockedOut { return lockedOut }
            guard let secret = context.freshSecret else { return refuse(.secretUnavailable) }
            record(.enrollmentRequested(issue(secret, options, context)))

        case .regenerateSecret(let options):
            guard let active = state.active else {
                if expiredFirstEnrollment { return refuse(.enrollmentExpired) }
                return refuse(state.pending != nil ? .nothingToReplace : .notEnrolled)
            }
            if let lockedOut { return lockedOut }
            guard let secret = context.freshSecret else { return refuse(.secretUnavailable) }
            record(.secretRegenerated(issue(secret, options ?? Self.options(of: active), context)))

        case .cancelRegenerate:
            guard let pending = state.pending, pending.isReplacement else {
                if expiredFirstEnrollment { return refuse(.enrollmentExpired) }
                if state.replacementExpired { return refuse(.replacementExpired) }
                return refuse(state.status == .none ? .notEnrolled : .nothingToCancel)
            }
            record(.replacementCancelled(ReplacementCancelled(expiresAt: pending.expiresAt)))

        case .revealQRCode, .revealSecretText:
            guard let role = state.currentRole else {
                return refuse(expiredFirstEnrollment ? .enrollmentExpired : .notEnrolled)
            }
            // A secret that cannot be opened (its data key is gone, as in an imported copy)
            // cannot be shown: a reveal is recorded only when there is something to show.
            guard state.current?.secret.secret != nil else { return refuse(.secretUnavailable) }
            record(.qrCodeRevealed(QRCodeRevealed(target: role, shownAs: command.revealForm ?? .qrCode)))

        case .removeAuthenticator:
            // A first secret that expired unconfirmed is still sealed under the user's data key:
            // removing it destroys that key, as for a pending or an active secret (crypto-shredding).
            guard state.status != .none || expiredFirstEnrollment else { return refuse(.notEnrolled) }
            record(.authenticatorRemoved(AuthenticatorRemoved(hadActive: state.active != nil)))

        case .confirmCode(let code):
            if expiredFirstEnrollment { return refuse(.enrollmentExpired) }
            // A lock guards confirming a secret: with none pending (a replacement cancelled during
            // the lock) a code has nothing to confirm, and is answered as at any other time. An
            // expired replacement's code is told the lock, and that a new QR code is needed after it.
            if let until = state.lockedUntil, state.pending != nil || state.replacementExpired {
                // Not checked and not counted, but recorded: the audit shows every attempt.
                if let target = state.currentRole { record(.codeRefusedWhileLocked(CodeRefusedWhileLocked(target: target, lockedUntil: until))) }
                return refuse(.locked(until: until))
            }
            if let pending = state.pending {
                guard let secret = pending.credential.secret.secret else { return refuse(.secretUnavailable) }
                let verification = context.policy.verifier.verify(
                    code: code, secret: secret.bytes, parameters: pending.credential.parameters,
                    at: context.now, lastAcceptedStep: nil)
                if case .matched(let step) = verification {
                    record(.authenticatorActivated(AuthenticatorActivated(step: step, replacedPrevious: pending.isReplacement)))
                    return Decision(events: events)
                }
                return fail(reason: .invalidCode(remainingAttempts: 0), target: .pending, state: &state, events: &events, context: context)
            }
            guard let active = state.active else { return refuse(.notEnrolled) }
            // Nothing pending. A code that the active secret already accepted is a replay
            // (RFC 6238 §5.2), for instance the loser of two simultaneous confirmations.
            guard let secret = active.secret.secret else { return refuse(.secretUnavailable) }
            let verification = context.policy.verifier.verify(
                code: code, secret: secret.bytes, parameters: active.parameters,
                at: context.now, lastAcceptedStep: active.lastAcceptedStep)
            if case .reused = verification {
                return fail(reason: .codeReused, target: .active, state: &state, events: &events, context: context)
            }
            // A code typed for a new QR code that expired (now or earlier): it would not activate
            // anything, and "nothing to confirm, already active" would read as success.
            return refuse(state.replacementExpired ? .replacementExpired : .noPendingSecret)
        }
        return Decision(events: events)
    }

    /// A failed confirmation is recorded; reaching the limit locks confirmation (RFC 4226 §7.3).
    ///
    /// A replayed code is recorded but not counted: it proves nothing about guessing (the code
    /// was right once and its step is burned), and counting it would let the losers of a
    /// double submit, or anyone replaying an observed code, lock the user out.
    private static func fail(
        reason: EnrollmentRejection, target: SecretRole, state: inout AuthenticatorState,
        events: inout [EnrollmentEvent], context: DecisionContext
    ) -> Decision {
        if case .codeReused = reason {
            let remaining = max(context.policy.maxFailedAttempts - state.failedAttempts, 0)
            events.append(.codeRejected(CodeRejected(reason: reason.code, target: target, failedAttempts: state.failedAttempts, remainingAttempts: remaining)))
            return Decision(events: events, rejection: reason)
        }
        let failures = state.failedAttempts + 1
        let limit = context.policy.maxFailedAttempts
        let rejected = EnrollmentEvent.codeRejected(CodeRejected(
            reason: reason.code, target: target, failedAttempts: failures, remainingAttempts: max(limit - failures, 0)))
        events.append(rejected)
        state = state.evolve(rejected)
        if failures >= limit {
            let number = state.lockCount + 1
            let until = latest(context.now, plus: context.policy.lockDuration(number: number))
            let locked = EnrollmentEvent.confirmationLocked(ConfirmationLocked(until: until, lockNumber: number, failedAttempts: failures))
            events.append(locked)
            state = state.evolve(locked)
            return Decision(events: events, rejection: .locked(until: until))
        }
        if case .invalidCode = reason {
            return Decision(events: events, rejection: .invalidCode(remainingAttempts: limit - failures))
        }
        return Decision(events: events, rejection: reason)
    }

    /// The names and parameters a command that issues a secret issues it with: a request's own,
    /// a regenerate's own or else the active secret's. `nil` for a command that issues none, or
    /// a regenerate with nothing active (which is refused). The handler asks, to make a secret
    /// of the right length (``EnrollmentPolicy/secretLength(for:)``) before deciding.
    public static func issuingOptions(for command: EnrollmentCommand, state: AuthenticatorState) -> EnrollmentOptions? {
        switch command {
        case .requestEnrollment(let options): options
        case .regenerateSecret(let options): options ?? state.active.map(Self.options(of:))
        default: nil
        }
    }

    private static func options(of active: Credential) -> EnrollmentOptions {
        EnrollmentOptions(issuer: active.issuer, account: active.account, parameters: active.parameters)
    }

    private static func issue(_ secret: Secret, _ options: EnrollmentOptions, _ context: DecisionContext) -> SecretIssued {
        SecretIssued(
            secret: .open(secret), issuer: options.issuer, account: options.account ?? context.user,
            parameters: options.parameters, expiresAt: latest(context.now, plus: context.policy.pendingLifetime))
    }

    /// `time + seconds`, but never past the last time an event may carry
    /// (``EnrollmentEvent/timeRange``): a clock near the year 9999 must not write an event that
    /// no reader accepts.
    private static func latest(_ time: UnixTime, plus seconds: Int64) -> UnixTime {
        let (sum, overflow) = time.addingReportingOverflow(seconds)
        return overflow ? EnrollmentEvent.timeRange.upperBound : min(sum, EnrollmentEvent.timeRange.upperBound)
    }

    /// The lengths a typed code may have, the first one that of the secret it confirms: the
    /// pending one, also when it expires now, or the one that expired unconfirmed (the answer is
    /// then that it expired, before and after a command records that alike). For a replacement
    /// that expired, the active secret's length too: a replay of its code is told apart. `nil`:
    /// no secret to judge a code by: with only an active secret, nothing awaits a code, whatever
    /// its length (one as long as the active secret's is still checked for a replay of it).
    static func typedDigits(_ state: AuthenticatorState, now: UnixTime) -> [Int]? {
        if let pending = state.pending {
            let digits = pending.credential.parameters.digits
            guard pending.isReplacement, now >= pending.expiresAt, let active = state.active else { return [digits] }
            return [digits, active.parameters.digits]
        }
        if let expired = state.expiredDigits, state.firstSecretExpired || state.replacementExpired {
            return [expired] + (state.replacementExpired ? state.active.map { [$0.parameters.digits] } ?? [] : [])
        }
        return nil
    }

    /// Exactly `digits` ASCII digits. Unicode digits, spaces and dashes are refused as malformed.
    public static func isWellFormed(_ code: String, digits: Int) -> Bool {
        let utf8 = code.utf8
        return utf8.count == digits && utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }
    }
}
