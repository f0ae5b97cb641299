import OneTimePassword

/// Bad input, refused before anything is read or written (the command line's exit code 2,
/// HTTP 400). Each message names the problem and what to type instead.
public enum InputError: Error, Sendable, Hashable {
    case invalidUser(String)
    /// Who acts (`--actor`), recorded in each event's metadata: a user id's rules, its own name.
    case invalidActor(String)
    case invalidIssuer(String)
    case invalidAccount(String)
    case invalidDigits(Int)
    case invalidPeriod(Int)
    case invalidAlgorithm(String)
    case invalidCommandId(String)
    /// A correlation id given by the embedding code (recorded in each event's metadata).
    case invalidCorrelationId(String)
    /// A command id already used for another command or user: replaying the first outcome
    /// would answer a different question. `command` and `user` name the first command when it
    /// was the same user's; another user's command is not described (`nil`): command ids are
    /// one namespace over all users, and the refusal must not tell who used the id.
    case commandIdReused(id: String, command: String?, user: String?)
    /// A command id already used for the same command with other arguments (another code,
    /// other settings): a retry must repeat the command exactly.
    case commandIdArgumentsDiffer(id: String, command: String)
    /// A command id whose command showed a secret that is no longer the one in use: a retry
    /// would show it again without a record (a replay appends nothing), so it is refused.
    case commandIdSpent(id: String, because: SpentSecret)
    /// A code that is not 6 to 8 ASCII digits: refused before the journal is read.
    case invalidCode(String)
    /// A number option that is not a whole number (`--digits x`, `--period 1e99`).
    case notANumber(option: String, value: String, expected: String)
    /// Issuer and account names whose otpauth URI is longer than a QR code holds: refused
    /// before a secret is issued that could never be shown.
    case namesTooLong(uriBytes: Int, limit: Int)

    public var code: String {
        switch self {
        case .invalidUser: "invalid_user"
        case .invalidActor: "invalid_actor"
        case .invalidIssuer: "invalid_issuer"
        case .invalidAccount: "invalid_account"
        case .invalidDigits: "invalid_digits"
        case .invalidPeriod: "invalid_period"
        case .invalidAlgorithm: "invalid_algorithm"
        case .invalidCommandId: "invalid_command_id"
        case .invalidCorrelationId: "invalid_correlation_id"
        case .commandIdReused: "command_id_reused"
        case .commandIdArgumentsDiffer: "command_id_arguments_differ"
        case .commandIdSpent: "command_id_spent"
        case .invalidCode: "invalid_code_format"
        case .notANumber: "not_a_number"
        case .namesTooLong: "names_too_long"
        }
    }

    public var message: String {
        switch self {
        case .invalidUser(let reason): "invalid user id: \(reason); use 1 to 256 bytes of printable UTF-8 without '/' or '\\', and no space at either end"
        case .invalidActor(let reason):
            "invalid actor: \(reason); use 1 to 256 bytes of printable UTF-8 without '/' or '\\', or leave the actor out to record the user as the actor"
        case .invalidIssuer(let reason): "invalid issuer: \(reason); use 1 to 128 printable characters without ':', and no space at either end"
        case .invalidAccount(let reason): "invalid account name: \(reason); use 1 to 256 bytes of printable UTF-8 without ':', and no space at either end"
        case .invalidDigits(let digits): "digits must be 6, 7 or 8, not \(digits); use 6, 7 or 8 (6 is what most authenticator apps expect)"
        case .invalidPeriod(let period): "period must be between 1 and 3600 seconds, not \(period); use 30 (the common choice)"
        case .invalidAlgorithm(let name): "unsupported algorithm '\(name)'; use SHA1, SHA256 or SHA512"
        case .invalidCommandId(let reason): "invalid command id: \(reason); use 1 to 128 printable ASCII characters"
        case .invalidCorrelationId(let reason): "invalid correlation id: \(reason); use 1 to 256 bytes of printable UTF-8, and no space at either end"
        case .commandIdReused(let id, let command?, let user?):
            "command id '\(Validation.excerpt(id))' was already used for \(EnrollmentCommand.described(command)) of '\(Validation.excerpt(user))'; use a new command id for another command (the same id repeats only the same command)"
        case .commandIdReused(let id, _, _):
            "command id '\(Validation.excerpt(id))' was already used for another user's command; use a new command id (command ids are shared by all users: the same id repeats only the same command of the same user)"
        case .commandIdArgumentsDiffer(let id, let command):
            "command id '\(Validation.excerpt(id))' was already used for \(EnrollmentCommand.described(command)) with other arguments; a retry must repeat them exactly, and a new attempt needs a new command id"
        case .commandIdSpent(let id, let because):
            switch because {
            case .destroyed:
                "command id '\(Validation.excerpt(id))' already issued a secret that has been destroyed since (the authenticator was removed); use a new command id to request again"
            case .confirmed:
                "command id '\(Validation.excerpt(id))' already showed a secret that has been confirmed since; it is not shown again under that id: reveal it (which is recorded) with a new command id"
            case .replaced:
                "command id '\(Validation.excerpt(id))' already showed a secret that a newer one has replaced since; reveal the current one (which is recorded) with a new command id"
            case .expired:
                "command id '\(Validation.excerpt(id))' already issued a secret that has expired unconfirmed since; use a new command id to request again"
            case .cancelled:
                "command id '\(Validation.excerpt(id))' already issued a new secret from regenerate that was cancelled since; use a new command id to regenerate again"
            case .lockEnded:
                "command id '\(Validation.excerpt(id))' was refused while the authenticator was locked, and that lock has ended since; send a code again with a new command id (if the QR code expired meanwhile, request or regenerate a new one first)"
            }
        case .invalidCode(let reason): "invalid code: \(reason); type the 6 to 8 digits (0-9) the authenticator app shows, nothing else"
        // An environment variable set to nothing (`ENROLL_NOW= enroll …`): most likely meant unset.
        case .notANumber(let option, "", let expected) where !option.hasPrefix("-"):
            "\(option) is set but empty; set it to \(expected), or unset it"
        case .notANumber(let option, let value, let expected):
            "\(option) must be \(expected), not '\(Validation.excerpt(value))'; \(option.hasPrefix("-") ? "pass \(option)" : "set \(option) to") a value in that range"
        case .namesTooLong(let bytes, let limit):
            "the issuer and account name make the QR code's otpauth URI \(bytes) bytes, more than a QR code holds (\(limit)); use shorter names (in the URI a character other than A-Z, a-z, 0-9, '-', '.', '_' and '~' takes 3 to 12 bytes)"
        }
    }
}

/// Why a command id's first outcome cannot be given again (``InputError/commandIdSpent(id:because:)``):
/// the secret it showed is no longer current, or the lock it reported is over.
public enum SpentSecret: String, Sendable, Hashable {
    /// The authenticator was removed and the data key that sealed the secret destroyed.
    case destroyed
    /// The pending secret it showed is now the active one.
    case confirmed
    /// Another secret was issued (or removed and issued) since.
    case replaced
    /// The pending secret it showed expired unconfirmed.
    case expired
    /// The new secret from regenerate it showed was cancelled unconfirmed.
    case cancelled
    /// Its refusal was `locked`, recorded with an event (the wrong code that set the lock, or a
    /// code sent during it), and the lock has ended: answering `locked` again would send the
    /// caller back to wait for a time already past.
    case lockEnded
}
