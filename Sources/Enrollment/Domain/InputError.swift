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
    /// would answer a different question.
    case commandIdReused(id: String, command: String, user: String)
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
            "invalid actor: \(reason); use 1 to 256 bytes of printable UTF-8 without '/' or '\\', or leave out --actor to record the user as the actor"
        case .invalidIssuer(let reason): "invalid issuer: \(reason); use 1 to 128 printable characters without ':', and no space at either end"
        case .invalidAccount(let reason): "invalid account name: \(reason); use 1 to 256 bytes of printable UTF-8 without ':', and no space at either end"
        case .invalidDigits(let digits): "digits must be 6, 7 or 8, not \(digits); pass --digits 6, 7 or 8"
        case .invalidPeriod(let period): "period must be between 1 and 3600 seconds, not \(period); pass --period 30 (the common choice)"
        case .invalidAlgorithm(let name): "unsupported algorithm '\(name)'; pass --algorithm SHA1, SHA256 or SHA512"
        case .invalidCommandId(let reason): "invalid command id: \(reason); use 1 to 128 printable ASCII characters"
        case .invalidCorrelationId(let reason): "invalid correlation id: \(reason); use 1 to 256 bytes of printable UTF-8"
        case .commandIdReused(let id, let command, let user):
            "command id '\(Validation.excerpt(id))' was already used for \(command) of '\(Validation.excerpt(user))'; use a new command id for another command (the same id repeats only the same command)"
        case .commandIdArgumentsDiffer(let id, let command):
            "command id '\(Validation.excerpt(id))' was already used for \(command) with other arguments; a retry must repeat them exactly, and a new attempt needs a new command id"
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
            }
        case .invalidCode(let reason): "invalid code: \(reason); type the 6 to 8 digits (0-9) the authenticator app shows, nothing else"
        case .notANumber(let option, let value, let expected):
            "\(option) must be \(expected), not '\(Validation.excerpt(value))'; \(option.hasPrefix("-") ? "pass \(option)" : "set \(option) to") a value in that range"
        case .namesTooLong(let bytes, let limit):
            "the issuer and account name make the QR code's otpauth URI \(bytes) bytes, more than a QR code holds (\(limit)); use shorter names (in the URI a character other than A-Z, a-z, 0-9, '-', '.', '_' and '~' takes 3 to 12 bytes)"
        }
    }
}

/// Why a command id's secret cannot be shown again (``InputError/commandIdSpent(id:because:)``).
public enum SpentSecret: String, Sendable, Hashable {
    /// The authenticator was removed and the data key that sealed the secret destroyed.
    case destroyed
    /// The pending secret it showed is now the active one.
    case confirmed
    /// Another secret was issued (or removed and issued) since.
    case replaced
    /// The pending secret it showed expired unconfirmed.
    case expired
}

/// Validation of what users type, shared by the command line and the HTTP API.
public enum Validation {
    public static let maxUserBytes = 256

    public static func user(_ user: String) throws(InputError) -> String {
        try identity(user, error: InputError.invalidUser)
    }

    /// Who acts on a user's behalf: recorded like a user id, so held to the same rules, but
    /// refused under its own name so that the message points at `--actor`, not the user.
    public static func actor(_ actor: String) throws(InputError) -> String {
        try identity(actor, error: InputError.invalidActor)
    }

    private static func identity(_ text: String, error: (String) -> InputError) throws(InputError) -> String {
        if text.isEmpty { throw error("it is empty") }
        if text.utf8.count > maxUserBytes { throw error("it is \(text.utf8.count) bytes long") }
        try printable(text, label: "it", error: error)
        if text.contains("/") || text.contains("\\") { throw error("it contains a path separator") }
        try untrimmed(text, error: error)
        return text
    }

    public static func options(_ options: EnrollmentOptions) throws(InputError) -> EnrollmentOptions {
        let issuer = options.issuer
        if issuer.isEmpty { throw .invalidIssuer("it is empty") }
        if issuer.count > 128 { throw .invalidIssuer("it is \(issuer.count) characters long") }
        try printable(issuer, label: "it", error: InputError.invalidIssuer)
        try untrimmed(issuer, error: InputError.invalidIssuer)
        if issuer.contains(":") { throw .invalidIssuer("it contains ':', which separates issuer and account in the QR code's label") }
        if let account = options.account {
            if account.isEmpty { throw .invalidAccount("it is empty") }
            if account.utf8.count > 256 { throw .invalidAccount("it is \(account.utf8.count) bytes long") }
            try printable(account, label: "it", error: InputError.invalidAccount)
            try untrimmed(account, error: InputError.invalidAccount)
            if account.contains(":") { throw .invalidAccount("it contains ':'") }
        }
        guard (6...8).contains(options.parameters.digits) else { throw .invalidDigits(options.parameters.digits) }
        guard (1...3600).contains(options.parameters.period) else { throw .invalidPeriod(options.parameters.period) }
        return options
    }

    /// The most bytes of text a QR code holds at the error correction enrollment QR codes use
    /// (level M, version 40, byte mode: ISO/IEC 18004 Table 7).
    public static let qrCodeCapacity = 2_331

    /// Checks that the otpauth URI of a secret issued with these names fits a QR code: the names
    /// are limited in characters, but percent-encoding makes a character up to 12 bytes (an emoji
    /// in both the label and the `issuer` parameter), so long non-ASCII names could otherwise
    /// issue a secret whose QR code can never be drawn.
    public static func fitsQRCode(_ options: EnrollmentOptions, account: String) throws(InputError) {
        // Percent-encoding at most triples a name's bytes; the rest of the URI is under 150 bytes
        // plus the Base32 secret. Names far below the limit (nearly all) need no URI built.
        let secretLength = EnrollmentPolicy.secretLength(for: options.parameters.algorithm)
        let bound = 6 * options.issuer.utf8.count + 3 * (options.account ?? account).utf8.count + 150 + 2 * secretLength
        if bound <= qrCodeCapacity { return }
        let uri = OTPAuthURI(
            issuer: options.issuer, account: options.account ?? account,
            secret: [UInt8](repeating: 0, count: secretLength), parameters: options.parameters)
        let bytes = uri.string.utf8.count
        if bytes > qrCodeCapacity { throw .namesTooLong(uriBytes: bytes, limit: qrCodeCapacity) }
    }

    /// The longest account part a user id can give a URI: 256 bytes, each percent-encoded.
    public static let longestEncodedUser = String(repeating: "\u{E9}", count: maxUserBytes / 2)

    public static func algorithm(_ name: String) throws(InputError) -> Digest {
        guard let digest = Digest(rawValue: name.uppercased()) else { throw .invalidAlgorithm(name) }
        return digest
    }

    public static func commandId(_ id: String) throws(InputError) -> String {
        guard !id.isEmpty, id.utf8.count <= 128 else { throw .invalidCommandId("it must be 1 to 128 characters") }
        guard id.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { throw .invalidCommandId("it contains spaces, control or non-ASCII characters") }
        return id
    }

    /// A correlation id (a request id, a trace id): recorded and exported, so no control
    /// characters that could forge lines where it is printed.
    public static func correlationId(_ id: String) throws(InputError) -> String {
        if id.isEmpty { throw .invalidCorrelationId("it is empty") }
        if id.utf8.count > maxUserBytes { throw .invalidCorrelationId("it is \(id.utf8.count) bytes long") }
        try printable(id, label: "it", error: InputError.invalidCorrelationId)
        return id
    }

    /// A code as typed: 6 to 8 ASCII digits. The reason names what is wrong without echoing
    /// the code (it may be long, or a real code typed into the wrong place).
    public static func code(_ code: String) throws(InputError) -> String {
        let utf8 = code.utf8
        if utf8.isEmpty { throw .invalidCode("it is empty") }
        if utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
            guard (6...8).contains(utf8.count) else { throw .invalidCode("it has \(utf8.count) digits") }
            return code
        }
        if utf8.count > 64 { throw .invalidCode("it is \(code.count) characters long") }
        let scalars = code.unicodeScalars
        if scalars.contains(" ") { throw .invalidCode("it contains spaces") }
        if scalars.contains(where: { $0.properties.isWhitespace }) {
            throw .invalidCode("it contains whitespace (a line break, tab or other blank)")
        }
        if scalars.contains(where: { $0.properties.generalCategory == .dashPunctuation }) { throw .invalidCode("it contains a dash") }
        if scalars.contains(where: { !$0.isASCII && $0.properties.numericType == .decimal }) {
            throw .invalidCode("it contains non-ASCII digits (for example Arabic-Indic or full-width ones)")
        }
        throw .invalidCode("it contains characters other than the digits 0-9")
    }

    /// A code as a person types it: apps show codes in groups ("123 456"), and people copy them
    /// with a space at either end, so ASCII spaces are dropped before ``code(_:)`` checks the
    /// rest. Returns the digits. The command line and the API take codes through this; the
    /// library's commands take digits only.
    public static func typedCode(_ typed: String) throws(InputError) -> String {
        guard typed.utf8.contains(UInt8(ascii: " ")) else { return try code(typed) }
        let digits = String(typed.unicodeScalars.filter { $0 != " " }.map(Character.init))
        if digits.isEmpty { throw .invalidCode("it is empty") }
        return try code(digits)
    }

    /// A whole number typed for `option` (so that `--period -5` or `--period 1e99` get our message).
    public static func number(_ text: String, option: String, expected: String) throws(InputError) -> Int {
        guard let value = Int(text) else { throw .notANumber(option: option, value: text, expected: expected) }
        return value
    }

    /// At most 40 characters of `text`, for echoing user input in an error message.
    static func excerpt(_ text: String) -> String {
        let cleaned = String(text.unicodeScalars.map { $0.properties.generalCategory == .control ? "?" : Character($0) })
        return cleaned.count > 40 ? String(cleaned.prefix(40)) + "…" : cleaned
    }

    /// " alice" and "alice" would be two users (or issuers) that look the same everywhere they
    /// are shown: a space at either end is refused rather than silently kept or trimmed.
    private static func untrimmed(_ text: String, error: (String) -> InputError) throws(InputError) {
        if text.first?.isWhitespace == true || text.last?.isWhitespace == true {
            throw error("it begins or ends with a space")
        }
    }

    private static func printable(_ text: String, label: String, error: (String) -> InputError) throws(InputError) {
        for scalar in text.unicodeScalars {
            if scalar == "\u{FFFD}" { throw error("\(label) is not valid UTF-8") }
            if isControl(scalar) { throw error("\(label) contains control characters") }
        }
    }

    /// C0 and C1 controls, DEL, and the invisible format and separator characters: refused in
    /// every id and name, and escaped wherever a stored one is printed (``TextField``).
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        // ASCII, what names and ids almost always are, needs no Unicode lookup.
        if scalar.value < 0x7F { return scalar.value < 0x20 }
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator: return true
        default: return false
        }
    }
}
