/// Why the domain refused a command. Each case has a stable machine ``code`` (used in JSON
/// output, the HTTP API and fixtures) and a ``message`` that says what to do next.
public enum EnrollmentRejection: Error, Sendable, Hashable {
    case notEnrolled
    /// Regenerate while only a first secret awaits its code: there is nothing active to replace.
    case nothingToReplace
    case alreadyEnrolled
    case noPendingSecret
    /// Cancel with no new secret from regenerate awaiting its code.
    case nothingToCancel
    case invalidCode(remainingAttempts: Int)
    case codeReused
    case enrollmentExpired
    /// A code for a new secret from regenerate that expired unconfirmed: the active one stays.
    case replacementExpired
    case locked(until: UnixTime)
    /// The code is not `digits` ASCII digits. This is bad input: nothing is checked or recorded.
    case malformedCode(expectedDigits: Int)
    /// The secret cannot be opened (its data key is missing, or the sealed secret was altered).
    case secretUnavailable

    public var code: String {
        switch self {
        case .notEnrolled: "not_enrolled"
        case .nothingToReplace: "nothing_to_replace"
        case .alreadyEnrolled: "already_enrolled"
        case .noPendingSecret: "no_pending_secret"
        case .nothingToCancel: "nothing_to_cancel"
        case .invalidCode: "invalid_code"
        case .codeReused: "code_reused"
        case .enrollmentExpired: "enrollment_expired"
        case .replacementExpired: "replacement_expired"
        case .locked: "locked"
        case .malformedCode: "malformed_code"
        case .secretUnavailable: "secret_unavailable"
        }
    }

    /// Every machine code, for checking what a fixture or a client names.
    public static let codes = [
        "not_enrolled", "nothing_to_replace", "already_enrolled", "no_pending_secret", "nothing_to_cancel", "invalid_code", "code_reused",
        "enrollment_expired", "replacement_expired", "locked", "malformed_code", "secret_unavailable",
    ]

    public var message: String { message(lockedUntil: nil) }

    /// The message for a refusal made while confirming is locked until `lockedUntil` (`nil`: not
    /// locked). No new secret is issued during a lock (request and regenerate are refused as
    /// `locked`), so advice to get one, or to confirm one, waits for the lock's end.
    /// `pendingExpiresAt`: when the first secret awaiting its code expires (`nil`: not known),
    /// which tells whether it can still be confirmed once the lock ends.
    /// `user`: the user id the command named, for a message that says whom it is about (the
    /// command line, where a mistyped id is the likeliest cause of `not_enrolled`); `nil`: "this
    /// user" (the API, whose caller is the user).
    public func message(lockedUntil: UnixTime?, pendingExpiresAt: UnixTime? = nil, user: String? = nil) -> String {
        let who = user.map { "user \(TextField.quoted($0))" } ?? "this user"
        let then = lockedUntil.map { "once the lock on confirming ends at \(Timestamps.iso8601($0)) (after too many wrong codes), " } ?? ""
        return switch self {
        case .notEnrolled:
            "no authenticator is enrolled for \(who); request one first"
        case .nothingToReplace:
            switch (lockedUntil, pendingExpiresAt) {
            case (nil, _):
                "there is no active authenticator to replace yet, only a first secret awaiting its code; confirm it with a code from the app, or request again for a new QR code"
            // The lock outlasts that secret (by default it does: 15 minutes against 10).
            case (let until?, let expiry?) where expiry <= until:
                "there is no active authenticator to replace yet, only a first secret awaiting its code, whose QR code expires (at \(Timestamps.iso8601(expiry))) before confirming is unlocked; \(then)request again for a new QR code"
            case (_, _?):
                "there is no active authenticator to replace yet, only a first secret awaiting its code; \(then)confirm it with a code from the app, or request again for a new QR code"
            case (_, nil):
                "there is no active authenticator to replace yet, only a first secret awaiting its code; \(then)confirm it with a code from the app if its QR code has not expired by then, else request again for a new QR code"
            }
        case .alreadyEnrolled:
            "an authenticator is already active for \(who); use regenerate to replace it, or remove it first"
        case .noPendingSecret:
            "there is no pending secret to confirm: the authenticator is already active; \(then)use regenerate to replace it"
        case .nothingToCancel:
            "there is no new secret from regenerate awaiting its code, so nothing was cancelled; an active authenticator stays as it is, and a first secret awaiting its code is discarded with remove"
        case .invalidCode(let remaining):
            "the code is not correct; check the authenticator app's clock and type the code it shows now (\(remaining) attempt\(remaining == 1 ? "" : "s") left before a lock)"
        case .codeReused:
            "this code, or a later one, was already used; if a secret awaits its first code, wait for the app to show the next code and type that one"
        case .enrollmentExpired:
            "the secret expired before it was confirmed; \(then)request again to get a new QR code"
        case .replacementExpired:
            "the new secret from regenerate expired before it was confirmed, so nothing changed: the authenticator already active stays in use (keep its entry in the app and delete any entry added from the expired QR code, unless the app replaced the active entry with that one: then show the active QR code again and scan it); \(then)regenerate again for a new QR code"
        case .locked(let until):
            "confirmation is locked until \(Timestamps.iso8601(until)) after too many wrong codes; try again after that time"
        case .malformedCode(let digits):
            "a code is exactly \(digits) ASCII digits (0-9) with nothing else; type the \(digits) digits the app shows"
        case .secretUnavailable:
            "the secret cannot be opened: its data key is missing (as in an imported copy), or the sealed secret was altered (verifying the journal's hash chain tells which); remove the authenticator, then request a new one"
        }
    }

    /// Malformed input is reported as bad input (exit 2, HTTP 400), not as a domain refusal.
    public var isBadInput: Bool {
        if case .malformedCode = self { return true }
        return false
    }

    /// A refusal that holds only for a while (a lock, until its end): one that records nothing
    /// is not kept in the command record, so that a retry of its id after the lock is decided again.
    public var lapses: Bool {
        if case .locked = self { return true }
        return false
    }
}
