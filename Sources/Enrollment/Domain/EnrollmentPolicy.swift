import OneTimePassword

/// The tunable rules of enrollment. Defaults follow the issue: a pending secret lives 10
/// minutes; 5 wrong codes lock confirmation for 15 minutes, doubling with each further lock up
/// to a day (RFC 4226 §7.3); codes are accepted within ±1 time step (RFC 6238 §5.2).
public struct EnrollmentPolicy: Sendable, Hashable {
    /// Seconds a new secret waits for its first code before it expires (at least 1).
    public var pendingLifetime: Int64 = 600 { didSet { pendingLifetime = max(pendingLifetime, 1) } }
    /// Wrong codes in a row that lock confirmation (at least 1).
    public var maxFailedAttempts = 5 { didSet { maxFailedAttempts = max(maxFailedAttempts, 1) } }
    /// Seconds the first lock lasts (1 s to a week, ``longestLockDuration``, as the command
    /// line takes it: a longer lock would write a journal that import and replay refuse); each
    /// further lock doubles.
    public var lockDuration: Int64 = 900 {
        didSet { lockDuration = min(max(lockDuration, 1), Self.longestLockDuration) }
    }
    /// How codes are checked: ±1 time step by default (RFC 6238 §5.2).
    public var verifier = TOTPVerifier(window: 1)

    public init() {}

    public static let `default` = EnrollmentPolicy()

    /// How many random bytes a new secret for `algorithm` gets: the hash's output length, 20
    /// bytes for SHA-1 (RFC 4226 §4 R6 recommends 160 bits), 32 for SHA-256 and 64 for SHA-512
    /// (RFC 2104 §3 strongly discourages an HMAC key shorter than the output; RFC 6238
    /// Appendix B's seeds have these lengths). A longer secret only makes the QR code denser.
    public static func secretLength(for algorithm: Digest) -> Int {
        algorithm.byteCount
    }

    /// The longest secret the engine issues: 64 bytes, for SHA-512.
    public static let longestSecret = Digest.allCases.map(secretLength(for:)).max() ?? 64

    /// The longest first lock an operator may set (`--lock-minutes` at most 10 080: a week).
    public static let longestLockDuration: Int64 = 10_080 * 60

    /// Where doubling stops: a day. Unbounded, the twentieth lock of a user whose app's clock
    /// is wrong (or whose token someone else holds) would run to the year 9999, with no way
    /// out but removing the authenticator; a day at a time still allows an attacker five
    /// guesses a day of a million codes.
    public static let lockCeiling: Int64 = 86_400

    /// The duration of lock number `n` (1-based): base × 2^(n-1), at most ``lockCeiling``, or
    /// the first lock's duration when that is longer (it then does not grow).
    public func lockDuration(number n: Int) -> Int64 {
        return min(lockDuration << Int64(Self.doublings(n)), max(lockDuration, Self.lockCeiling))
    }

    /// The longest lock number `n` can be in a journal: what one that claims more was not
    /// written by the decider (an imported or replayed history is refused). Releases before
    /// ``lockCeiling`` doubled without it, up to 20 times a week's first lock, and their
    /// journals still import.
    public static func longestLock(number n: Int) -> Int64 {
        longestLockDuration << Int64(doublings(n))
    }

    /// Lock `n` doubles the first `n - 1` times, 0 to 20 (clamped before subtracting: `Int.min`).
    private static func doublings(_ n: Int) -> Int {
        min(max(n, 1), 21) - 1
    }
}

/// Everything from outside that a decision may depend on. The decider itself has no clock,
/// no randomness and no I/O: the handler fills this in, and fixtures fix it.
public struct DecisionContext: Sendable {
    public var now: UnixTime
    /// The user the stream belongs to (the default account name in the app).
    public var user: String
    /// A fresh secret, provided only for commands that issue one.
    public var freshSecret: Secret?
    public var policy: EnrollmentPolicy

    public init(now: UnixTime, user: String, freshSecret: Secret? = nil, policy: EnrollmentPolicy = .default) {
        self.now = now
        self.user = user
        self.freshSecret = freshSecret
        self.policy = policy
    }
}

/// What the decider answers: the events to append (also for a refusal: failures belong to the
/// audit) and, when the command was refused, why.
public struct Decision: Sendable, Hashable {
    public var events: [EnrollmentEvent]
    public var rejection: EnrollmentRejection?
    /// A refusal of bad input (a code of the wrong length, also when it is answered
    /// `enrollment_expired`): nothing is written for it, not even its command id, so that the
    /// same id sent again with the input corrected is decided afresh.
    public var badInput: Bool

    public init(events: [EnrollmentEvent], rejection: EnrollmentRejection? = nil, badInput: Bool = false) {
        self.events = events
        self.rejection = rejection
        self.badInput = badInput || (rejection?.isBadInput ?? false)
    }
}
