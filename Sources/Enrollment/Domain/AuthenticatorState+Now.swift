/// A state as of a moment rather than as recorded: a pending secret past its expiry is over
/// even before a command records the expiry (the next command does; until then the stream and
/// the authenticators projection still hold it as pending). `enroll status`, the CLI's other
/// answers and the API's status all say it this way, through these.
extension PendingCredential {
    /// Whether a pending secret that expires at `expiresAt` can still be confirmed at `now`.
    public static func isOpen(expiresAt: UnixTime, at now: UnixTime) -> Bool { now < expiresAt }
}

extension AuthenticatorState {
    /// The pending secret still open at `now` (`nil` once it is past its expiry).
    public func livePending(at now: UnixTime) -> PendingCredential? {
        pending.flatMap { PendingCredential.isOpen(expiresAt: $0.expiresAt, at: now) ? $0 : nil }
    }

    /// ``status`` as of `now`: a first secret past its expiry leaves none (an active
    /// authenticator stays active whatever became of a replacement).
    public func status(at now: UnixTime) -> AuthenticatorStatus {
        if active != nil { return .active }
        return livePending(at: now) != nil ? .pending : .none
    }
}
