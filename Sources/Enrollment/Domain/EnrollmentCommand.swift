import OneTimePassword

/// How a new secret is to be set up in the authenticator app.
public struct EnrollmentOptions: Sendable, Hashable, Codable {
    public var issuer: String
    /// The account name shown in the app; defaults to the user id.
    public var account: String?
    public var parameters: OTPParameters

    public static let defaultIssuer = "Enrollment"

    public init(issuer: String = EnrollmentOptions.defaultIssuer, account: String? = nil, parameters: OTPParameters = .default) {
        self.issuer = issuer
        self.account = account
        self.parameters = parameters
    }
}

/// What a user (or an administrator on their behalf) asks of their authenticator.
public enum EnrollmentCommand: Sendable, Hashable {
    /// "+": issue a first secret and show it as a QR code.
    case requestEnrollment(EnrollmentOptions)
    /// Verify: the code the app shows, checked against the pending secret.
    case confirmCode(String)
    /// The eye icon: show the QR code of the secret a confirmation would check now.
    case revealQRCode
    /// The same secret as text instead of a QR code, for typing into an app by hand (`GET
    /// /me/totp/secret`, `enroll reveal --format uri`): recorded with its form, so the audit
    /// tells it apart from the eye icon.
    case revealSecretText
    /// Issue a replacement secret; the active one stays in use until the replacement is confirmed.
    /// `nil` keeps the active secret's issuer, account and parameters.
    case regenerateSecret(EnrollmentOptions?)
    /// Cancel a regenerate: discard the new secret awaiting its first code; the active one
    /// stays in use, as it would after the new one expired.
    case cancelRegenerate
    case removeAuthenticator

    /// Commands that only show or forget what the journal holds: they take any user id a
    /// journal may hold (``Validation/recordedUser(_:)``), so that every user there can be
    /// removed.
    var actsOnRecordedUser: Bool {
        switch self {
        case .revealQRCode, .revealSecretText, .removeAuthenticator: true
        default: false
        }
    }

    /// The command's name as it appears in audit and idempotency records.
    public var name: String {
        switch self {
        case .requestEnrollment: "RequestEnrollment"
        case .confirmCode: "ConfirmCode"
        case .revealQRCode: "RevealQR"
        case .revealSecretText: "RevealSecretText"
        case .regenerateSecret: "RegenerateSecret"
        case .cancelRegenerate: "CancelRegenerate"
        case .removeAuthenticator: "RemoveAuthenticator"
        }
    }

    /// Every ``name`` a command record may hold.
    public static let names: Set<String> = [
        "RequestEnrollment", "ConfirmCode", "RevealQR", "RevealSecretText", "RegenerateSecret", "CancelRegenerate", "RemoveAuthenticator",
    ]

    /// A recorded command name (``name``) as a person reads it: the `enroll` command that runs
    /// it, then the name itself (`enroll confirm (ConfirmCode)`); an unknown name as it is.
    public static func described(_ name: String) -> String {
        let commandLine: String? = switch name {
        case "RequestEnrollment": "enroll request"
        case "ConfirmCode": "enroll confirm"
        case "RevealQR": "enroll reveal"
        case "RevealSecretText": "enroll reveal --format uri"
        case "RegenerateSecret": "enroll regenerate"
        case "CancelRegenerate": "enroll cancel"
        case "RemoveAuthenticator": "enroll remove"
        default: nil
        }
        return commandLine.map { "`\($0)` (\(name))" } ?? name
    }

    /// The command's arguments, one canonical byte string per meaning, for telling a retry
    /// from another command under the same id (``KeyRing/argumentsMAC(of:)``); `nil` for a
    /// command that takes none. A code is among them, so this is only ever stored as a MAC.
    var canonicalArguments: [UInt8]? {
        func options(_ options: EnrollmentOptions) -> String {
            let parameters = options.parameters
            // NUL cannot occur in validated text; U+0001 marks "no account" apart from any account.
            return [options.issuer, options.account ?? "\u{1}", parameters.algorithm.rawValue, "\(parameters.digits)", "\(parameters.period)"]
                .joined(separator: "\u{0}")
        }
        let text: String
        switch self {
        case .requestEnrollment(let settings): text = "\(name)\u{0}\(options(settings))"
        case .confirmCode(let code): text = "\(name)\u{0}\(code)"
        case .regenerateSecret(let settings): text = "\(name)\u{0}" + (settings.map(options) ?? "\u{1}keep")
        case .revealQRCode, .revealSecretText, .cancelRegenerate, .removeAuthenticator: return nil
        }
        return Array(text.utf8)
    }

    /// This command and the same one spelt otherwise, to the same effect: a request's account
    /// left out, or given as the user id it defaults to; a regenerate that keeps everything, or
    /// names exactly the settings of `active` (the active secret's), which it keeps. A repeated
    /// command id is a retry when its arguments are any of these.
    public func spellings(for user: String, active: EnrollmentOptions? = nil) -> [EnrollmentCommand] {
        switch self {
        case .requestEnrollment(var options):
            switch options.account {
            case nil: options.account = user
            case let account? where account.utf8.elementsEqual(user.utf8): options.account = nil
            default: return [self]
            }
            return [self, .requestEnrollment(options)]
        case .regenerateSecret(let options):
            // Its settings, the active secret's for those left out; an account that is the user
            // id may be spelt as left out, as the decider fills it in (the command line leaves
            // it out, since a user id may hold what a typed account may not).
            guard let resolved = options ?? active else { return [self] }
            func forms(_ options: EnrollmentOptions) -> [EnrollmentOptions] {
                var other = options
                switch options.account {
                case nil: other.account = user
                case let account? where account.utf8.elementsEqual(user.utf8): other.account = nil
                default: return [options]
                }
                return [options, other]
            }
            let keepsAll = active.map { active in forms(resolved).contains { forms(active).contains($0) } } ?? false
            return [self] + forms(resolved).map { .regenerateSecret($0) } + (keepsAll ? [.regenerateSecret(nil)] : [])
        default:
            return [self]
        }
    }

    /// How a reveal shows the secret; nil for the commands that are not reveals.
    public var revealForm: RevealForm? {
        switch self {
        case .revealQRCode: .qrCode
        case .revealSecretText: .text
        default: nil
        }
    }

    /// Whether deciding this command may need a fresh secret from the context.
    public var needsFreshSecret: Bool {
        switch self {
        case .requestEnrollment, .regenerateSecret: true
        default: false
        }
    }
}

/// A typed code is kept out of descriptions and reflection (`print`, string interpolation in a
/// log line, `dump`, a test failure expanding an envelope), as a ``Secret`` is: `confirmCode(6
/// characters, not shown)`. Every other command shows as it is.
extension EnrollmentCommand: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        switch self {
        case .confirmCode(let code): "confirmCode(\(code.count) characters, not shown)"
        case .requestEnrollment(let options): "requestEnrollment(\(options))"
        case .regenerateSecret(let options): "regenerateSecret(\(options.map { "\($0)" } ?? "nil"))"
        case .revealQRCode: "revealQRCode"
        case .revealSecretText: "revealSecretText"
        case .cancelRegenerate: "cancelRegenerate"
        case .removeAuthenticator: "removeAuthenticator"
        }
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        switch self {
        case .confirmCode(let code): Mirror(self, children: ["confirmCode": "\(code.count) characters, not shown"], displayStyle: .enum)
        case .requestEnrollment(let options): Mirror(self, children: ["requestEnrollment": options], displayStyle: .enum)
        case .regenerateSecret(let options): Mirror(self, children: ["regenerateSecret": options as Any], displayStyle: .enum)
        default: Mirror(self, children: [:], displayStyle: .enum)
        }
    }
}
