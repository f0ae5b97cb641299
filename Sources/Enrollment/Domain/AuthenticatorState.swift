import OneTimePassword

public enum AuthenticatorStatus: String, Sendable, Codable, Hashable {
    case none, pending, active
}

/// A secret together with how the authenticator app was told to use it.
public struct Credential: Sendable, Hashable {
    public var secret: SecretField
    public var issuer: String
    public var account: String
    public var parameters: OTPParameters
    /// The latest RFC 6238 time step accepted for this secret; no step at or before it is accepted again.
    public var lastAcceptedStep: Int64?

    public init(secret: SecretField, issuer: String, account: String, parameters: OTPParameters, lastAcceptedStep: Int64? = nil) {
        self.secret = secret
        self.issuer = issuer
        self.account = account
        self.parameters = parameters
        self.lastAcceptedStep = lastAcceptedStep
    }

    init(_ issued: SecretIssued) {
        self.init(secret: issued.secret, issuer: issued.issuer, account: issued.account, parameters: issued.parameters)
    }
}

public struct PendingCredential: Sendable, Hashable {
    public var credential: Credential
    public var expiresAt: UnixTime
    /// True when this secret is to replace an active one.
    public var isReplacement: Bool
}

/// One user's stream folded into what the decider needs: the decider's state.
public struct AuthenticatorState: Sendable, Hashable {
    public var active: Credential?
    public var pending: PendingCredential?
    /// Consecutive wrong codes since the last success or lock.
    public var failedAttempts = 0
    /// How many locks so far; the next lock lasts `lockDuration * 2^lockCount`.
    public var lockCount = 0
    public var lockedUntil: UnixTime?
    /// The stream version this state reflects (0: no events).
    public var version: Int64 = 0
    /// A first secret expired unconfirmed and nothing was issued since: what was asked of it
    /// is refused as `enrollment_expired` (not `not_enrolled`), and status says it expired,
    /// before and after a command records the expiry alike.
    public var firstSecretExpired = false
    /// A new secret from regenerate expired unconfirmed and nothing was issued since: a code
    /// for it is refused as `replacement_expired` (the active secret is unchanged), not as
    /// `no_pending_secret`, before and after a command records the expiry alike.
    public var replacementExpired = false
    /// The digits of the secret that expired (while ``firstSecretExpired`` or
    /// ``replacementExpired``): a code typed for it is judged by its length, before and after a
    /// command records the expiry alike.
    public var expiredDigits: Int?

    public static let initial = AuthenticatorState()

    public var status: AuthenticatorStatus {
        if active != nil { return .active }
        if pending != nil { return .pending }
        return .none
    }

    /// The secret ConfirmCode would check now: the pending one if there is one, else the active one.
    public var current: Credential? { pending?.credential ?? active }

    public var currentRole: SecretRole? {
        if pending != nil { return .pending }
        if active != nil { return .active }
        return nil
    }

    /// The end of a lock on confirming that still runs at `now` (the decider records the unlock
    /// from its end on, so a state read without deciding may still hold a lock that is over).
    public func lockedUntil(at now: UnixTime) -> UnixTime? {
        lockedUntil.flatMap { now < $0 ? $0 : nil }
    }

    /// The pending secret that expires before a lock ending at `until` does (by default a lock
    /// lasts 15 minutes and a secret 10): waiting for that lock to end does not let it be
    /// confirmed, a new secret is needed then. `nil` when nothing is pending or it outlives the lock.
    public func pendingExpiring(beforeLockEnds until: UnixTime) -> PendingCredential? {
        pending.flatMap { $0.expiresAt <= until ? $0 : nil }
    }

    /// The secret a lock ending at `until` guards, when waiting for the lock's end does not let
    /// it be confirmed: a pending one that expires before then (`expiresAt` its expiry), or a
    /// replacement that already expired (`expiresAt` nil). A new QR code is needed after the lock.
    public func secretLost(beforeLockEnds until: UnixTime) -> (isReplacement: Bool, expiresAt: UnixTime?)? {
        if let pending = pendingExpiring(beforeLockEnds: until) { return (pending.isReplacement, pending.expiresAt) }
        return pending == nil && replacementExpired ? (true, nil) : nil
    }

    /// Folds one event in. Pure: the same events always give the same state.
    public func evolve(_ event: EnrollmentEvent) -> AuthenticatorState {
        var next = self
        next.version += 1
        switch event {
        case .enrollmentRequested(let issued):
            next.pending = PendingCredential(credential: Credential(issued), expiresAt: issued.expiresAt, isReplacement: false)
            next.active = nil
            next.firstSecretExpired = false
            next.replacementExpired = false
            next.expiredDigits = nil
        case .secretRegenerated(let issued):
            next.pending = PendingCredential(credential: Credential(issued), expiresAt: issued.expiresAt, isReplacement: true)
            next.replacementExpired = false
            next.expiredDigits = nil
        case .authenticatorActivated(let activated):
            if var credential = next.pending?.credential {
                credential.lastAcceptedStep = activated.step
                next.active = credential
            }
            next.pending = nil
            next.replacementExpired = false
            next.failedAttempts = 0
            next.lockCount = 0
            next.lockedUntil = nil
        case .codeRejected(let rejected):
            next.failedAttempts = rejected.failedAttempts
        case .pendingSecretExpired(let expired):
            next.expiredDigits = next.pending?.credential.parameters.digits
            next.pending = nil
            if expired.replacement { next.replacementExpired = true } else { next.firstSecretExpired = true }
        case .replacementCancelled:
            next.pending = nil
        case .qrCodeRevealed, .codeRefusedWhileLocked:
            break
        case .confirmationLocked(let locked):
            next.lockedUntil = locked.until
            next.lockCount = locked.lockNumber
            next.failedAttempts = 0
        case .confirmationUnlocked:
            next.lockedUntil = nil
        case .authenticatorRemoved:
            next = AuthenticatorState(version: next.version)
        }
        return next
    }

    /// Why the decider could never have recorded `event` at `time` in this state (`nil`: it
    /// could); see ``StateShape/obstacle(to:at:)``.
    public func obstacle(to event: EnrollmentEvent, at time: UnixTime) -> String? { shape.obstacle(to: event, at: time) }

    /// What ``obstacle(to:at:)`` looks at.
    public var shape: StateShape {
        StateShape(
            version: version, hasActive: active != nil, pendingIsReplacement: pending?.isReplacement,
            pendingExpiresAt: pending?.expiresAt, lockedUntil: lockedUntil, failedAttempts: failedAttempts, lockCount: lockCount,
            firstSecretExpired: firstSecretExpired, replacementExpired: replacementExpired)
    }

    /// Folds a sequence of events, starting from this state.
    public func evolve<S: Sequence>(_ events: S) -> AuthenticatorState where S.Element == EnrollmentEvent {
        events.reduce(self) { $0.evolve($1) }
    }
}

extension AuthenticatorState {
    init(version: Int64) {
        self.init()
        self.version = version
    }
}

/// The part of a user's state that says which events can come next: whether a secret is
/// active, whether one is pending (a replacement or not, until when), whether confirmation is
/// locked (until when), and the throttling counters. Small enough to keep for every user of a
/// journal being imported.
///
/// ``AuthenticatorState/evolve(_:)`` is total: it folds any event. Histories written by hand
/// or brought in from outside (a fixture's `given` events, an imported export) must also be
/// ones the decider could have produced; ``obstacle(to:at:)`` says why an event could not have
/// been. ``evolve(_:)`` folds events at this level, as the state's fold does (a test checks
/// both agree on every event of the recorded traffic).
public struct StateShape: Sendable, Hashable {
    public var version: Int64 = 0
    public var hasActive = false
    /// `nil`: nothing pending; otherwise whether the pending secret is a replacement.
    public var pendingIsReplacement: Bool?
    /// When the pending secret expires (the decider records the expiry from then on).
    public var pendingExpiresAt: UnixTime?
    /// When the lock ends (`nil`: not locked; the decider records the unlock from then on).
    public var lockedUntil: UnixTime?
    public var locked: Bool { lockedUntil != nil }
    /// Consecutive wrong codes, and locks so far (each lock is numbered one more).
    public var failedAttempts = 0
    public var lockCount = 0
    /// A first secret expired unconfirmed and nothing was issued since: it is still sealed under
    /// the user's data key, so removing it (which destroys that key) is possible.
    public var firstSecretExpired = false
    /// A replacement expired unconfirmed and nothing was issued since: during a lock, a code is
    /// then refused unchecked (CodeRefusedWhileLocked), as for a pending secret.
    public var replacementExpired = false

    public init(
        version: Int64 = 0, hasActive: Bool = false, pendingIsReplacement: Bool? = nil, pendingExpiresAt: UnixTime? = nil,
        lockedUntil: UnixTime? = nil, failedAttempts: Int = 0, lockCount: Int = 0, firstSecretExpired: Bool = false,
        replacementExpired: Bool = false
    ) {
        self.version = version
        self.hasActive = hasActive
        self.pendingIsReplacement = pendingIsReplacement
        self.pendingExpiresAt = pendingExpiresAt
        self.lockedUntil = lockedUntil
        self.failedAttempts = failedAttempts
        self.lockCount = lockCount
        self.firstSecretExpired = firstSecretExpired
        self.replacementExpired = replacementExpired
    }

    /// Why the decider could never have recorded `event` here at `time` (`nil`: it could).
    /// Before deciding, the decider records an expiry once a pending secret's time is up and
    /// an unlock once a lock's end has come, so nothing else about them can come after.
    public func obstacle(to event: EnrollmentEvent, at time: UnixTime) -> String? {
        if let expiresAt = pendingExpiresAt, time >= expiresAt, !event.isPendingSecretExpired {
            return "the pending secret expired at \(Timestamps.iso8601(expiresAt)), and its expiry is recorded before anything else"
        }
        if let until = lockedUntil, time >= until, !event.isUnlock, !event.isPendingSecretExpired {
            return "the lock ended at \(Timestamps.iso8601(until)), and its end is recorded before anything else"
        }
        switch event {
        case .enrollmentRequested(let issued):
            if hasActive { return "an authenticator is already active (a request is refused then)" }
            if issued.expiresAt < time { return "it expires at \(Timestamps.iso8601(issued.expiresAt)), before it was issued" }
        case .secretRegenerated(let issued):
            if !hasActive { return "no authenticator is active (only an active one is regenerated)" }
            if issued.expiresAt < time { return "it expires at \(Timestamps.iso8601(issued.expiresAt)), before it was issued" }
        case .authenticatorActivated(let activated):
            guard let replacement = pendingIsReplacement else { return "no secret is pending" }
            if locked { return "confirmation is locked" }
            if activated.replacedPrevious != replacement {
                return "replacedPrevious is \(activated.replacedPrevious) but the pending secret \(replacement ? "is" : "is not") a replacement"
            }
        case .codeRejected(let rejected):
            // A lock guards confirming a secret: with nothing pending (a replacement cancelled
            // during the lock, not one that expired) a code is checked against the active secret
            // for a replay, as at any other time; the decider records it so.
            if locked && !(rejected.reason == EnrollmentRejection.codeReused.code && rejected.target == .active && pendingIsReplacement == nil && !replacementExpired) {
                return "confirmation is locked (a code is refused then unchecked, as CodeRefusedWhileLocked)"
            }
            switch rejected.target {
            case .pending where pendingIsReplacement == nil: return "no secret is pending"
            case .active where pendingIsReplacement != nil || !hasActive:
                return "codes are checked against the active secret only when it is active and nothing is pending"
            default: break
            }
            // A wrong code counts one more; a replayed one is recorded but not counted.
            let expected = rejected.reason == EnrollmentRejection.codeReused.code ? failedAttempts : failedAttempts + 1
            if rejected.failedAttempts != expected {
                return "failedAttempts is \(rejected.failedAttempts) where \(expected) follows \(failedAttempts) earlier wrong code\(failedAttempts == 1 ? "" : "s")"
            }
        case .pendingSecretExpired(let expired):
            guard let replacement = pendingIsReplacement else { return "no secret is pending" }
            if let expiresAt = pendingExpiresAt {
                if expired.expiredAt != expiresAt {
                    return "it says the pending secret expired at \(Timestamps.iso8601(expired.expiredAt)), but that secret expires at \(Timestamps.iso8601(expiresAt)); make expiredAt \(expiresAt)"
                }
                if time < expiresAt {
                    return "it is recorded at \(Timestamps.iso8601(time)), before the pending secret expires at \(Timestamps.iso8601(expiresAt)); record it at \(expiresAt) or later"
                }
            }
            if expired.replacement != replacement {
                return "replacement is \(expired.replacement) but the pending secret \(replacement ? "is" : "is not") a replacement"
            }
        case .replacementCancelled(let cancelled):
            guard pendingIsReplacement == true else { return "no new secret from regenerate is pending" }
            if let expiresAt = pendingExpiresAt, cancelled.expiresAt != expiresAt {
                return "the pending secret expires at \(Timestamps.iso8601(expiresAt)), not at \(Timestamps.iso8601(cancelled.expiresAt))"
            }
        case .qrCodeRevealed(let revealed):
            let role: SecretRole? = pendingIsReplacement != nil ? .pending : hasActive ? .active : nil
            guard let role else { return "there is no secret to show" }
            if revealed.target != role { return "the secret shown is the \(role.rawValue) one, not the \(revealed.target.rawValue) one" }
        case .confirmationLocked(let lock):
            if pendingIsReplacement == nil && !hasActive { return "there is no secret to confirm" }
            if locked { return "confirmation is already locked" }
            // A lock follows the wrong code that reached the limit, and counts them.
            if failedAttempts == 0 || lock.failedAttempts != failedAttempts {
                return "a lock follows the wrong code that reached the limit, with its count (\(failedAttempts) wrong code\(failedAttempts == 1 ? "" : "s") so far, the lock says \(lock.failedAttempts))"
            }
            if lock.lockNumber != lockCount + 1 { return "lockNumber is \(lock.lockNumber) where \(lockCount + 1) follows \(lockCount) earlier lock\(lockCount == 1 ? "" : "s")" }
            if lock.until < time { return "it ends at \(Timestamps.iso8601(lock.until)), before it began" }
            let longest = EnrollmentPolicy.longestLock(number: lock.lockNumber)
            if lock.until - time > longest {
                return "it lasts until \(Timestamps.iso8601(lock.until)), longer than lock number \(lock.lockNumber) can last under any policy (\(longest / 86_400) days)"
            }
        case .codeRefusedWhileLocked(let refused):
            guard let until = lockedUntil else { return "confirmation is not locked" }
            if refused.lockedUntil != until { return "the lock lasts until \(Timestamps.iso8601(until)), not \(Timestamps.iso8601(refused.lockedUntil))" }
            let role: SecretRole? = pendingIsReplacement != nil ? .pending : hasActive ? .active : nil
            guard let role else { return "there is no secret to confirm" }
            if refused.target != role { return "a code is checked against the \(role.rawValue) secret, not the \(refused.target.rawValue) one" }
        case .confirmationUnlocked:
            guard let until = lockedUntil else { return "confirmation is not locked" }
            if time < until { return "the lock lasts until \(Timestamps.iso8601(until))" }
        case .authenticatorRemoved(let removed):
            if pendingIsReplacement == nil && !hasActive && !firstSecretExpired { return "there is no authenticator to remove" }
            if removed.hadActive != hasActive {
                return "hadActive is \(removed.hadActive) but an authenticator \(hasActive ? "is" : "is not") active"
            }
        }
        return nil
    }

    /// Folds one event in, as ``AuthenticatorState/evolve(_:)`` does.
    public func evolve(_ event: EnrollmentEvent) -> StateShape {
        var next = self
        next.version += 1
        switch event {
        case .enrollmentRequested(let issued):
            next.pendingIsReplacement = false
            next.pendingExpiresAt = issued.expiresAt
            next.hasActive = false
            next.firstSecretExpired = false
            next.replacementExpired = false
        case .secretRegenerated(let issued):
            next.pendingIsReplacement = true
            next.pendingExpiresAt = issued.expiresAt
            next.replacementExpired = false
        case .authenticatorActivated:
            if pendingIsReplacement != nil { next.hasActive = true }
            next.replacementExpired = false
            next.pendingIsReplacement = nil
            next.pendingExpiresAt = nil
            next.lockedUntil = nil
            next.failedAttempts = 0
            next.lockCount = 0
        case .codeRejected(let rejected):
            next.failedAttempts = rejected.failedAttempts
        case .pendingSecretExpired(let expired):
            if expired.replacement { next.replacementExpired = true } else { next.firstSecretExpired = true }
            next.pendingIsReplacement = nil
            next.pendingExpiresAt = nil
        case .replacementCancelled:
            next.pendingIsReplacement = nil
            next.pendingExpiresAt = nil
        case .confirmationLocked(let lock):
            next.lockedUntil = lock.until
            next.lockCount = lock.lockNumber
            next.failedAttempts = 0
        case .confirmationUnlocked:
            next.lockedUntil = nil
        case .authenticatorRemoved:
            next = StateShape(version: next.version)
        case .qrCodeRevealed, .codeRefusedWhileLocked:
            break
        }
        return next
    }
}

extension EnrollmentEvent {
    var isPendingSecretExpired: Bool { if case .pendingSecretExpired = self { true } else { false } }

    /// The command that recorded it showed the user a secret: it issued one or revealed one.
    var showsSecret: Bool {
        switch self {
        case .enrollmentRequested, .secretRegenerated, .qrCodeRevealed: true
        default: false
        }
    }
    var isUnlock: Bool { if case .confirmationUnlocked = self { true } else { false } }
}
