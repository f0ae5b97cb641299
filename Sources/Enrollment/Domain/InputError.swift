import OneTimePassword

/// Bad input, refused before anything is read or written (the command line's exit code 2,
/// HTTP 400). Each message names the problem and what to type instead.
public enum InputError: Error, Sendable, Hashable {
    case invalidUser(String)
    case invalidIssuer(String)
    case invalidAccount(String)
    case invalidDigits(Int)
    case invalidPeriod(Int)
    case invalidAlgorithm(String)
    case invalidCommandId(String)

    public var code: String {
        switch self {
        case .invalidUser: "invalid_user"
        case .invalidIssuer: "invalid_issuer"
        case .invalidAccount: "invalid_account"
        case .invalidDigits: "invalid_digits"
        case .invalidPeriod: "invalid_period"
        case .invalidAlgorithm: "invalid_algorithm"
        case .invalidCommandId: "invalid_command_id"
        }
    }

    public var message: String {
        switch self {
        case .invalidUser(let reason): "invalid user id: \(reason); use 1 to 256 bytes of printable UTF-8 without '/' or '\\'"
        case .invalidIssuer(let reason): "invalid issuer: \(reason); use 1 to 128 printable characters without ':'"
        case .invalidAccount(let reason): "invalid account name: \(reason); use 1 to 256 printable characters without ':'"
        case .invalidDigits(let digits): "digits must be 6, 7 or 8, not \(digits); pass --digits 6, 7 or 8"
        case .invalidPeriod(let period): "period must be between 1 and 3600 seconds, not \(period); pass --period 30 (the common choice)"
        case .invalidAlgorithm(let name): "unsupported algorithm '\(name)'; pass --algorithm SHA1, SHA256 or SHA512"
        case .invalidCommandId(let reason): "invalid command id: \(reason); use 1 to 128 printable ASCII characters"
        }
    }
}

/// Validation of what users type, shared by the command line and the HTTP API.
public enum Validation {
    public static let maxUserBytes = 256

    public static func user(_ user: String) throws(InputError) -> String {
        if user.isEmpty { throw .invalidUser("it is empty") }
        if user.utf8.count > maxUserBytes { throw .invalidUser("it is \(user.utf8.count) bytes long") }
        try printable(user, label: "it", error: InputError.invalidUser)
        if user.contains("/") || user.contains("\\") { throw .invalidUser("it contains a path separator") }
        return user
    }

    public static func options(_ options: EnrollmentOptions) throws(InputError) -> EnrollmentOptions {
        let issuer = options.issuer
        if issuer.isEmpty { throw .invalidIssuer("it is empty") }
        if issuer.count > 128 { throw .invalidIssuer("it is \(issuer.count) characters long") }
        try printable(issuer, label: "it", error: InputError.invalidIssuer)
        if issuer.contains(":") { throw .invalidIssuer("it contains ':', which separates issuer and account in the QR code's label") }
        if let account = options.account {
            if account.isEmpty { throw .invalidAccount("it is empty") }
            if account.utf8.count > 256 { throw .invalidAccount("it is too long") }
            try printable(account, label: "it", error: InputError.invalidAccount)
            if account.contains(":") { throw .invalidAccount("it contains ':'") }
        }
        guard (6...8).contains(options.parameters.digits) else { throw .invalidDigits(options.parameters.digits) }
        guard (1...3600).contains(options.parameters.period) else { throw .invalidPeriod(options.parameters.period) }
        return options
    }

    public static func algorithm(_ name: String) throws(InputError) -> Digest {
        guard let digest = Digest(rawValue: name.uppercased()) else { throw .invalidAlgorithm(name) }
        return digest
    }

    public static func commandId(_ id: String) throws(InputError) -> String {
        guard !id.isEmpty, id.utf8.count <= 128 else { throw .invalidCommandId("it must be 1 to 128 characters") }
        guard id.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { throw .invalidCommandId("it contains spaces, control or non-ASCII characters") }
        return id
    }

    private static func printable(_ text: String, label: String, error: (String) -> InputError) throws(InputError) {
        for scalar in text.unicodeScalars {
            if scalar == "\u{FFFD}" { throw error("\(label) is not valid UTF-8") }
            if scalar.properties.generalCategory == .control || scalar.properties.generalCategory == .format
                || scalar.properties.generalCategory == .lineSeparator || scalar.properties.generalCategory == .paragraphSeparator {
                throw error("\(label) contains control characters")
            }
        }
    }
}
