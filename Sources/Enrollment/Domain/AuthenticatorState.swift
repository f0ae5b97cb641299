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

    /// Folds one event in. Pure: the same events always give the same state.
    public func evolve(_ event: EnrollmentEvent) -> AuthenticatorState {
        var next = self
        next.version += 1
        switch event {
        case .enrollmentRequested(let issued):
            next.pending = PendingCredential(credential: Credential(issued), expiresAt: issued.expiresAt, isReplacement: false)
            next.active = nil
        case .secretRegenerated(let issued):
            next.pending = PendingCredential(credential: Credential(issued), expiresAt: issued.expiresAt, isReplacement: true)
        case .authenticatorActivated(let activated):
            if var credential = next.pending?.credential {
                credential.lastAcceptedStep = activated.step
                next.active = credential
            }
            next.pending = nil
            next.failedAttempts = 0
            next.lockCount = 0
            next.lockedUntil = nil
        case .codeRejected(let rejected):
            next.failedAttempts = rejected.failedAttempts
        case .pendingSecretExpired:
            next.pending = nil
        case .qrCodeRevealed:
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

    /// Why the decider could never have recorded `event` in this state (`nil`: it could). The
    /// fold itself is total and takes any event; this is for histories written by hand, such as
    /// a fixture's `given` events, which must be ones the engine could have produced.
    public func obstacle(to event: EnrollmentEvent) -> String? {
        let locked = lockedUntil != nil
        switch event {
        case .enrollmentRequested:
            if active != nil { return "an authenticator is already active (a request is refused then)" }
        case .secretRegenerated:
            if active == nil { return "no authenticator is active (only an active one is regenerated)" }
        case .authenticatorActivated(let activated):
            guard let pending else { return "no secret is pending" }
            if locked { return "confirmation is locked" }
            if activated.replacedPrevious != pending.isReplacement {
                return "replacedPrevious is \(activated.replacedPrevious) but the pending secret \(pending.isReplacement ? "is" : "is not") a replacement"
            }
        case .codeRejected(let rejected):
            if locked { return "confirmation is locked (a code is refused then without a record)" }
            switch rejected.target {
            case .pending where pending == nil: return "no secret is pending"
            case .active where pending != nil || active == nil: return "codes are checked against the active secret only when it is active and nothing is pending"
            default: break
            }
        case .pendingSecretExpired(let expired):
            guard let pending else { return "no secret is pending" }
            if expired.replacement != pending.isReplacement {
                return "replacement is \(expired.replacement) but the pending secret \(pending.isReplacement ? "is" : "is not") a replacement"
            }
        case .qrCodeRevealed(let revealed):
            guard let role = currentRole else { return "there is no secret to show" }
            if revealed.target != role { return "the secret shown is the \(role.rawValue) one, not the \(revealed.target.rawValue) one" }
        case .confirmationLocked:
            if current == nil { return "there is no secret to confirm" }
            if locked { return "confirmation is already locked" }
        case .confirmationUnlocked:
            if !locked { return "confirmation is not locked" }
        case .authenticatorRemoved(let removed):
            if status == .none { return "there is no authenticator to remove" }
            if removed.hadActive != (active != nil) {
                return "hadActive is \(removed.hadActive) but an authenticator \(active != nil ? "is" : "is not") active"
            }
        }
        return nil
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
