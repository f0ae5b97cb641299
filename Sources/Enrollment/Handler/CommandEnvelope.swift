import CryptoPrimitives
import Foundation
import OneTimePassword

/// A command addressed to one user's stream, with who sent it and an id that makes it
/// idempotent: handling the same id again returns the first outcome and appends nothing.
/// Without one given, the id is a new time-ordered UUID (``RandomUUID/timeOrdered()``).
public struct CommandEnvelope: Sendable, Hashable {
    public var commandId: String
    public var user: String
    public var actor: String
    public var correlationId: String?
    public var command: EnrollmentCommand
    /// Whether the sender may send this id again (it chose it: `--command-id`, an
    /// `Idempotency-Key`). A refusal that records no event is then kept in the command record,
    /// so that a retry gets the same refusal; one under an id nobody can repeat leaves nothing
    /// behind (no row, no write), as the journal itself does for it.
    public var retryable: Bool
    /// How the sender shows a secret that this command issues: a repeat of it records the
    /// secret shown again in this form. `nil`: as a QR code (a reveal's own form is its
    /// command's). The CLI's `--json` prints the otpauth URI as text.
    public var showsSecretAs: RevealForm?

    public init(
        commandId: String? = nil, user: String, actor: String? = nil, correlationId: String? = nil, command: EnrollmentCommand,
        retryable: Bool? = nil
    ) {
        self.commandId = commandId ?? RandomUUID.timeOrdered()
        self.user = user
        self.actor = actor ?? user
        self.correlationId = correlationId
        self.command = command
        self.retryable = retryable ?? (commandId != nil)
    }

    /// A command id for a key chosen by the sender (an HTTP `Idempotency-Key`, a job id), scoped
    /// to the user and the action: command ids are one namespace over all users, so a key
    /// passed through as it is would let one user's key refuse (or collide with) another's. The
    /// same user, action and key give the same id, so a retry replays the first outcome; the
    /// same key from another user or for another action is another command. `prefix` tells the
    /// id's origin in the audit (`enroll serve` uses `http-`).
    public static func commandId(user: String, action: String, key: String, prefix: String = "key-") -> String {
        let material = Array("idempotency\u{0}\(user)\u{0}\(action)\u{0}\(key)".utf8)
        return prefix + Hex.string(sha256(material))
    }
}

/// What handling a command produced.
public struct CommandOutcome: Sendable {
    public var commandId: String
    public var user: String
    /// The rows appended for this command (also for a refusal: failures are audited).
    public var recorded: [RecordedEvent]
    public var events: [EnrollmentEvent]
    /// The user's state after the command.
    public var state: AuthenticatorState
    public var rejection: EnrollmentRejection?
    /// True when this command id had been handled before and its first outcome is returned.
    public var replayed: Bool
    /// A replay that shows a secret again (the first outcome of a request, a regenerate or a
    /// reveal) records that showing as a reveal of its own (another command id, the repeat's
    /// actor): these rows, a `QRCodeRevealed` after any unlock or expiry that came due.
    /// `recorded` stays the first outcome's.
    public var shownAgain: [RecordedEvent] = []
    var shownAgainEvents: [EnrollmentEvent] = []
    /// The user's state before what this handling appended (nil when it appended nothing): what
    /// the inline projections may take instead of reading it back.
    var stateBefore: AuthenticatorState? = nil
    /// For a replayed refusal: when the lock on confirming that the user's state holds now ends
    /// (`state` is as of the first outcome).
    var lockEndNow: UnixTime? = nil

    public var accepted: Bool { rejection == nil }

    /// The end of a lock on confirming that runs at `now`, as the user's state holds it now (for a
    /// replay too, whose `state` is the first outcome's): the advice of a refusal waits for it.
    public func lockedUntil(at now: UnixTime) -> UnixTime? {
        replayed ? lockEndNow.flatMap { now < $0 ? $0 : nil } : state.lockedUntil(at: now)
    }

    /// When the secret awaiting its code expires, as far as this outcome knows it (not for a
    /// replay, whose state is the first outcome's): whether it outlives a lock.
    public var pendingExpiresAt: UnixTime? {
        replayed ? nil : state.pending?.expiresAt
    }

    /// This command removed an authenticator (and with it the data key that sealed its secrets).
    var destroyedADataKey: Bool { !replayed && events.contains { $0.type == .authenticatorRemoved } }

    /// Every event this handling appended, in position order: what the inline projections fold.
    var appended: [(EnrollmentEvent, RecordedEvent)] {
        replayed ? Array(zip(shownAgainEvents, shownAgain)) : Array(zip(events, recorded))
    }

    /// The first outcome shows a secret: it issued one (request, regenerate) or revealed one.
    var showsSecret: Bool { rejection == nil && events.contains(where: \.showsSecret) }
}

extension EnrollmentRejection: Codable {
    private enum Keys: String, CodingKey { case code, until, remainingAttempts, expectedDigits }

    /// Only what ``encode(to:)`` writes: an unknown code, or a value no refusal can hold (a
    /// negative count of attempts, digits no secret has), is an error, not some other refusal.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: Keys.self)
        func invalid(_ what: String) -> DecodingError {
            DecodingError.dataCorruptedError(forKey: .code, in: container, debugDescription: what)
        }
        switch try container.decode(String.self, forKey: .code) {
        case "not_enrolled": self = .notEnrolled
        case "nothing_to_replace": self = .nothingToReplace
        case "already_enrolled": self = .alreadyEnrolled
        case "no_pending_secret": self = .noPendingSecret
        case "nothing_to_cancel": self = .nothingToCancel
        case "invalid_code":
            let remaining = try container.decode(Int.self, forKey: .remainingAttempts)
            guard remaining >= 0 else { throw invalid("a negative count of attempts left") }
            self = .invalidCode(remainingAttempts: remaining)
        case "code_reused": self = .codeReused
        case "enrollment_expired": self = .enrollmentExpired
        case "replacement_expired": self = .replacementExpired
        case "locked": self = .locked(until: try container.decode(UnixTime.self, forKey: .until))
        case "malformed_code":
            let digits = try container.decode(Int.self, forKey: .expectedDigits)
            guard OTPParameters.allowedDigits.contains(digits) else { throw invalid("digits no secret has") }
            self = .malformedCode(expectedDigits: digits)
        case "secret_unavailable": self = .secretUnavailable
        default: throw invalid("a refusal code enroll does not write")
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: Keys.self)
        try container.encode(code, forKey: .code)
        switch self {
        case .invalidCode(let remaining): try container.encode(remaining, forKey: .remainingAttempts)
        case .locked(let until): try container.encode(until, forKey: .until)
        case .malformedCode(let digits): try container.encode(digits, forKey: .expectedDigits)
        default: break
        }
    }
}
