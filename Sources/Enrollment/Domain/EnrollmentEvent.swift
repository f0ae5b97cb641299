import CryptoPrimitives
import OneTimePassword

/// Seconds since the Unix epoch: the granularity of TOTP time steps and of every time in the journal.
public typealias UnixTime = Int64

/// A secret as an event carries it. Events decided in memory hold the secret itself; the
/// journal stores it sealed under the user's data key, and reading it back opens it only when
/// that key still exists (see ``KeyRing``). After removal the key is destroyed and the secret
/// reads back as ``forgotten`` (crypto-shredding): the event and its hash stay intact.
public enum SecretField: Sendable, Hashable, CustomStringConvertible {
    case open(Secret)
    /// Read without a key ring (projections, audit): the sealed box, untouched.
    case sealed([UInt8])
    /// The data key that sealed it has been destroyed.
    case forgotten

    public var secret: Secret? {
        if case .open(let secret) = self { return secret }
        return nil
    }

    /// The fewest bytes a sealed secret has: an AES-256-GCM box of a nonce, a tag, and a secret
    /// of at least 16 bytes (RFC 4226 §4). Anything shorter stored as one was not sealed by
    /// enroll: readers refuse it rather than take it for a forgotten secret.
    public static let sealedByteCountMinimum = AESGCM.nonceByteCount + AESGCM.tagByteCount + 16

    public var description: String {
        switch self {
        case .open: "secret(redacted)"
        case .sealed: "secret(sealed)"
        case .forgotten: "secret(forgotten)"
        }
    }
}

/// Which of a user's secrets an event refers to.
public enum SecretRole: String, Sendable, Codable, Hashable {
    /// The secret awaiting its first correct code (first enrollment or replacement).
    case pending
    /// The secret that is in use for sign-in.
    case active
}

/// A secret was issued: first enrollment (``EnrollmentEvent/enrollmentRequested(_:)``) or a
/// replacement (``EnrollmentEvent/secretRegenerated(_:)``).
public struct SecretIssued: Sendable, Hashable {
    public var secret: SecretField
    public var issuer: String
    public var account: String
    public var parameters: OTPParameters
    /// After this time the secret can no longer be confirmed (a new request is needed).
    public var expiresAt: UnixTime

    public init(secret: SecretField, issuer: String, account: String, parameters: OTPParameters, expiresAt: UnixTime) {
        self.secret = secret
        self.issuer = issuer
        self.account = account
        self.parameters = parameters
        self.expiresAt = expiresAt
    }
}

public struct AuthenticatorActivated: Sendable, Hashable, Codable {
    /// The RFC 6238 time step whose code was accepted; never accepted again for this secret.
    public var step: Int64
    /// True when a regenerated secret replaced a previously active one.
    public var replacedPrevious: Bool
    public init(step: Int64, replacedPrevious: Bool) {
        self.step = step
        self.replacedPrevious = replacedPrevious
    }
}

public struct CodeRejected: Sendable, Hashable, Codable {
    /// The stable machine code of the refusal (`invalid_code` or `code_reused`).
    public var reason: String
    public var target: SecretRole
    /// Consecutive failed confirmations after this one (RFC 4226 §7.3 throttling).
    public var failedAttempts: Int
    /// Wrong codes still allowed before confirmation locks (0: this one locked it). Added in
    /// schema version 2; version 1 events are upcast (see ``EventCodec/upcasters``).
    public var remainingAttempts: Int

    /// `remainingAttempts` defaults to what the default policy leaves after `failedAttempts`.
    public init(reason: String, target: SecretRole, failedAttempts: Int, remainingAttempts: Int? = nil) {
        self.reason = reason
        self.target = target
        self.failedAttempts = failedAttempts
        self.remainingAttempts = remainingAttempts ?? Self.defaultRemainingAttempts(afterFailures: failedAttempts)
    }

    /// Attempts left under the default policy after `failures` consecutive wrong codes. Total
    /// for any count: the v1 upcaster calls it on a stored value before the decoder's range
    /// check refuses an absurd one.
    public static func defaultRemainingAttempts(afterFailures failures: Int) -> Int {
        let limit = EnrollmentPolicy.default.maxFailedAttempts
        return failures >= limit ? 0 : limit - max(failures, 0)
    }
}

public struct PendingSecretExpired: Sendable, Hashable, Codable {
    /// True when the expired secret was a replacement (the active one stays in use).
    public var replacement: Bool
    public var expiredAt: UnixTime
    public init(replacement: Bool, expiredAt: UnixTime) {
        self.replacement = replacement
        self.expiredAt = expiredAt
    }
}

/// The user cancelled a regenerate: the new secret awaiting its first code is discarded before
/// it expired, and the active one stays in use (as after an expiry, but asked for).
public struct ReplacementCancelled: Sendable, Hashable, Codable {
    /// When the cancelled secret would have expired (what its `SecretRegenerated` says).
    public var expiresAt: UnixTime
    public init(expiresAt: UnixTime) { self.expiresAt = expiresAt }
}

/// How a secret was shown again: what an auditor needs to tell a picture to scan from text
/// that can be read, copied and pasted.
public enum RevealForm: String, Sendable, Hashable, CaseIterable {
    /// A QR code (the eye icon, `enroll reveal` as an image or in the terminal).
    case qrCode
    /// The secret as text: Base32 (`GET /me/totp/secret`) or the otpauth URI (`enroll reveal
    /// --format uri`), for typing into an app by hand.
    case text
}

public struct QRCodeRevealed: Sendable, Hashable {
    public var target: SecretRole
    /// Stored as `"shownAs": "text"` for ``RevealForm/text`` and not at all for a QR code, so a
    /// QR code's event is written byte for byte as before the member existed (and every older
    /// event reads as a QR code). Any other value, `null` included, is refused: one stored form
    /// per event, as the journal's canonical JSON has for everything else.
    public var shownAs: RevealForm

    public init(target: SecretRole, shownAs: RevealForm = .qrCode) {
        self.target = target
        self.shownAs = shownAs
    }
}

extension QRCodeRevealed: Codable {
    private enum Keys: String, CodingKey { case target, shownAs }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        target = try container.decode(SecretRole.self, forKey: .target)
        shownAs = .qrCode
        if container.contains(.shownAs) {
            guard try container.decode(String.self, forKey: .shownAs) == RevealForm.text.rawValue else {
                throw DecodingError.dataCorruptedError(forKey: .shownAs, in: container, debugDescription: "shownAs is \"text\" or absent")
            }
            shownAs = .text
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(target, forKey: .target)
        if shownAs == .text { try container.encode(RevealForm.text.rawValue, forKey: .shownAs) }
    }
}

public struct ConfirmationLocked: Sendable, Hashable, Codable {
    public var until: UnixTime
    /// 1 for the first lock; each further lock doubles the duration.
    public var lockNumber: Int
    public var failedAttempts: Int
    public init(until: UnixTime, lockNumber: Int, failedAttempts: Int) {
        self.until = until
        self.lockNumber = lockNumber
        self.failedAttempts = failedAttempts
    }
}

/// A code typed while confirmation was locked: refused without being checked or counted, and
/// recorded so that the audit shows every attempt, the ones during a lock included.
public struct CodeRefusedWhileLocked: Sendable, Hashable, Codable {
    /// The secret the code was typed for (the pending one, else the active one).
    public var target: SecretRole
    /// When the lock ends.
    public var lockedUntil: UnixTime
    public init(target: SecretRole, lockedUntil: UnixTime) {
        self.target = target
        self.lockedUntil = lockedUntil
    }
}

public struct ConfirmationUnlocked: Sendable, Hashable, Codable {
    public var lockNumber: Int
    public init(lockNumber: Int) { self.lockNumber = lockNumber }
}

public struct AuthenticatorRemoved: Sendable, Hashable, Codable {
    public var hadActive: Bool
    public init(hadActive: Bool) { self.hadActive = hadActive }
}

/// Everything that can happen to a user's authenticator. The journal stores these; the state
/// and every projection are folds over them.
public enum EnrollmentEvent: Sendable, Hashable {
    case enrollmentRequested(SecretIssued)
    case secretRegenerated(SecretIssued)
    case authenticatorActivated(AuthenticatorActivated)
    case codeRejected(CodeRejected)
    case pendingSecretExpired(PendingSecretExpired)
    case replacementCancelled(ReplacementCancelled)
    case qrCodeRevealed(QRCodeRevealed)
    case confirmationLocked(ConfirmationLocked)
    case codeRefusedWhileLocked(CodeRefusedWhileLocked)
    case confirmationUnlocked(ConfirmationUnlocked)
    case authenticatorRemoved(AuthenticatorRemoved)

    /// The event type as stored in the journal's `type` column.
    public var type: EventType {
        switch self {
        case .enrollmentRequested: .enrollmentRequested
        case .secretRegenerated: .secretRegenerated
        case .authenticatorActivated: .authenticatorActivated
        case .codeRejected: .codeRejected
        case .pendingSecretExpired: .pendingSecretExpired
        case .replacementCancelled: .replacementCancelled
        case .qrCodeRevealed: .qrCodeRevealed
        case .confirmationLocked: .confirmationLocked
        case .codeRefusedWhileLocked: .codeRefusedWhileLocked
        case .confirmationUnlocked: .confirmationUnlocked
        case .authenticatorRemoved: .authenticatorRemoved
        }
    }
}

public enum EventType: String, Sendable, Codable, CaseIterable, Hashable {
    case enrollmentRequested = "EnrollmentRequested"
    case secretRegenerated = "SecretRegenerated"
    case authenticatorActivated = "AuthenticatorActivated"
    case codeRejected = "CodeRejected"
    case pendingSecretExpired = "PendingSecretExpired"
    case replacementCancelled = "ReplacementCancelled"
    case qrCodeRevealed = "QRCodeRevealed"
    case confirmationLocked = "ConfirmationLocked"
    case codeRefusedWhileLocked = "CodeRefusedWhileLocked"
    case confirmationUnlocked = "ConfirmationUnlocked"
    case authenticatorRemoved = "AuthenticatorRemoved"
}

extension EnrollmentEvent {
    /// Times an event may carry: 1970-01-01 to 9999-12-31 (UTC), what the engine can write.
    static let timeRange: ClosedRange<UnixTime> = 0...253_402_300_799
    /// Counters an event may carry (failed attempts, lock numbers): far beyond any policy, far
    /// below where adding one more could overflow.
    static let counterRange: ClosedRange<Int> = 0...1_000_000

    /// The first field outside what the engine could have written (a tampered journal, a
    /// hand-written fixture), described for an error message; nil when every field is in range.
    /// The decoders refuse such an event, so the decider never folds, say, a failure count of
    /// 2^63 − 1 into arithmetic that would overflow.
    var fieldOutOfRange: String? {
        func time(_ name: String, _ value: UnixTime) -> String? {
            Self.timeRange.contains(value) ? nil : "\(name) \(value) is not a time between 1970 and 9999"
        }
        func counter(_ name: String, _ value: Int) -> String? {
            Self.counterRange.contains(value) ? nil : "\(name) \(value) is not between 0 and \(Self.counterRange.upperBound)"
        }
        switch self {
        case .enrollmentRequested(let issued), .secretRegenerated(let issued):
            if !(6...8).contains(issued.parameters.digits) { return "digits \(issued.parameters.digits) is not 6, 7 or 8" }
            if !(1...3600).contains(issued.parameters.period) { return "period \(issued.parameters.period) is not between 1 and 3600 seconds" }
            return time("expiresAt", issued.expiresAt)
        case .authenticatorActivated(let activated):
            return (0...Self.timeRange.upperBound).contains(activated.step) ? nil : "step \(activated.step) is not a time step between 1970 and 9999"
        case .codeRejected(let rejected):
            return counter("failedAttempts", rejected.failedAttempts) ?? counter("remainingAttempts", rejected.remainingAttempts)
        case .pendingSecretExpired(let expired):
            return time("expiredAt", expired.expiredAt)
        case .replacementCancelled(let cancelled):
            return time("expiresAt", cancelled.expiresAt)
        case .confirmationLocked(let locked):
            return time("until", locked.until) ?? counter("lockNumber", locked.lockNumber) ?? counter("failedAttempts", locked.failedAttempts)
        case .codeRefusedWhileLocked(let refused):
            return time("lockedUntil", refused.lockedUntil)
        case .confirmationUnlocked(let unlocked):
            return counter("lockNumber", unlocked.lockNumber)
        case .qrCodeRevealed, .authenticatorRemoved:
            return nil
        }
    }
}
