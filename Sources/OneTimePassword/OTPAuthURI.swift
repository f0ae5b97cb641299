/// An `otpauth://totp/` key URI, the payload of the enrollment QR code.
///
/// Format: <https://github.com/google/google-authenticator/wiki/Key-Uri-Format>
///
/// ```
/// otpauth://totp/ACME%20Co:alice%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30
/// ```
public struct OTPAuthURI: Sendable, Hashable {
    public var issuer: String
    public var account: String
    public var secret: [UInt8]
    public var parameters: OTPParameters

    public init(issuer: String, account: String, secret: [UInt8], parameters: OTPParameters) {
        self.issuer = issuer
        self.account = account
        self.secret = secret
        self.parameters = parameters
    }

    /// The URI text.
    ///
    /// The label is `ISSUER:ACCOUNT` with each part percent-encoded (RFC 3986 §2.3
    /// unreserved characters kept, UTF-8 for everything else, space as `%20` because several
    /// apps show a `+` literally) and the separating colon literal. The issuer is repeated
    /// as a parameter, as the format recommends, so apps that read either one agree.
    /// `algorithm`, `digits` and `period` are always present: apps that ignore a missing
    /// parameter disagree on its default less often than on a present one. An empty issuer
    /// is left out of both places.
    public var string: String {
        var text = "otpauth://totp/"
        if !issuer.isEmpty {
            text += Self.percentEncode(issuer) + ":"
        }
        text += Self.percentEncode(account)
        text += "?secret=" + Base32.encode(secret)
        if !issuer.isEmpty {
            text += "&issuer=" + Self.percentEncode(issuer)
        }
        text += "&algorithm=" + parameters.algorithm.rawValue
        text += "&digits=\(parameters.digits)"
        text += "&period=\(parameters.period)"
        return text
    }

    /// Parses an `otpauth://totp/` URI.
    ///
    /// Accepts the separator colon literal or as `%3A`, `+` in query values as a space
    /// (form encoding), parameters in any order and case-insensitive algorithm names;
    /// missing `algorithm`, `digits` and `period` take the format's defaults. Unknown
    /// parameters (such as `image`) are ignored.
    ///
    /// Throws ``OTPAuthURIError``.
    public init(parsing string: String) throws {
        let prefix = "otpauth://"
        guard string.utf8.count > prefix.utf8.count,
            string.lowercased().hasPrefix(prefix)
        else { throw OTPAuthURIError.notOTPAuth }
        let rest = string.dropFirst(prefix.count)

        guard let slash = rest.firstIndex(of: "/") else { throw OTPAuthURIError.missingLabel }
        let type = rest[..<slash].lowercased()
        guard type == "totp" else { throw OTPAuthURIError.unsupportedType(type) }

        let afterType = rest[rest.index(after: slash)...]
        let rawLabel: Substring
        let rawQuery: Substring
        if let question = afterType.firstIndex(of: "?") {
            rawLabel = afterType[..<question]
            rawQuery = afterType[afterType.index(after: question)...]
        } else {
            rawLabel = afterType
            rawQuery = ""
        }

        // The label's issuer prefix ends at the first literal ':' or, failing that, the
        // first "%3A": an encoded colon inside an issuer we wrote is always followed by a
        // literal separator, so trying the literal one first keeps it intact.
        var labelIssuer: String?
        let labelAccount: String
        if let colon = rawLabel.firstIndex(of: ":") {
            labelIssuer = try Self.percentDecode(rawLabel[..<colon], plusIsSpace: false, in: "label")
            labelAccount = try Self.percentDecode(rawLabel[rawLabel.index(after: colon)...], plusIsSpace: false, in: "label")
        } else if let encoded = Self.encodedColon(in: rawLabel) {
            labelIssuer = try Self.percentDecode(rawLabel[..<encoded.lowerBound], plusIsSpace: false, in: "label")
            labelAccount = try Self.percentDecode(rawLabel[encoded.upperBound...], plusIsSpace: false, in: "label")
        } else {
            labelAccount = try Self.percentDecode(rawLabel, plusIsSpace: false, in: "label")
        }
        // The format allows optional spaces after the colon.
        let account = String(labelAccount.drop { $0 == " " })
        guard !account.isEmpty else { throw OTPAuthURIError.missingLabel }

        var query: [String: String] = [:]
        for pair in rawQuery.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = try Self.percentDecode(parts[0], plusIsSpace: true, in: "").lowercased()
            let value = parts.count > 1 ? try Self.percentDecode(parts[1], plusIsSpace: true, in: name) : ""
            guard query[name] == nil else { throw OTPAuthURIError.duplicateParameter(name) }
            query[name] = value
        }

        guard let secretText = query["secret"], !secretText.isEmpty else { throw OTPAuthURIError.missingSecret }
        guard let secret = Base32.decode(secretText), !secret.isEmpty else { throw OTPAuthURIError.invalidSecret }

        let issuer: String
        switch (labelIssuer, query["issuer"]) {
        case let (label?, parameter?):
            guard label == parameter else { throw OTPAuthURIError.issuerMismatch(label: label, parameter: parameter) }
            issuer = parameter
        case let (label?, nil): issuer = label
        case let (nil, parameter?): issuer = parameter
        case (nil, nil): issuer = ""
        }

        var parameters = OTPParameters.default
        if let text = query["algorithm"] {
            guard let algorithm = Digest(rawValue: text.uppercased()) else { throw OTPAuthURIError.invalidAlgorithm(text) }
            parameters.algorithm = algorithm
        }
        if let text = query["digits"] {
            guard let digits = Int(text) else { throw OTPAuthURIError.invalidDigits(text) }
            parameters.digits = digits
        }
        if let text = query["period"] {
            guard let period = Int(text) else { throw OTPAuthURIError.invalidPeriod(text) }
            parameters.period = period
        }
        do {
            try parameters.validate()
        } catch let error as OTPParameterError {
            throw OTPAuthURIError.invalidParameters(error)
        }

        self.init(issuer: issuer, account: account, secret: secret, parameters: parameters)
    }

    /// The range of the first `%3A` (either case) in `text`.
    private static func encodedColon(in text: Substring) -> Range<Substring.Index>? {
        var index = text.startIndex
        while let percent = text[index...].firstIndex(of: "%") {
            let next = text.index(after: percent)
            if text[next...].prefix(2).uppercased() == "3A" {
                return percent..<text.index(next, offsetBy: 2)
            }
            index = next
        }
        return nil
    }

    /// RFC 3986 §2.3 unreserved characters.
    private static func isUnreserved(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"),
            UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
            true
        default: false
        }
    }

    /// Percent-encodes every byte of the UTF-8 form that is not unreserved (RFC 3986 §2.1).
    static func percentEncode(_ text: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var output: [UInt8] = []
        output.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if isUnreserved(byte) {
                output.append(byte)
            } else {
                output.append(UInt8(ascii: "%"))
                output.append(hex[Int(byte >> 4)])
                output.append(hex[Int(byte & 0x0F)])
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Decodes `%XX` escapes; the result must be valid UTF-8. `field` names where `text` came
    /// from for the error (see ``OTPAuthURIError/malformedPercentEncoding(parameter:)``), which
    /// never carries `text` itself: for `secret=` that is the secret.
    static func percentDecode(_ text: Substring, plusIsSpace: Bool, in field: String) throws -> String {
        var output: [UInt8] = []
        output.reserveCapacity(text.utf8.count)
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    throw OTPAuthURIError.malformedPercentEncoding(parameter: field)
                }
                output.append(high << 4 | low)
            case UInt8(ascii: "+") where plusIsSpace:
                output.append(UInt8(ascii: " "))
            default:
                output.append(byte)
            }
        }
        guard let decoded = String(validating: output, as: UTF8.self) else {
            throw OTPAuthURIError.malformedPercentEncoding(parameter: field)
        }
        return decoded
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// The URI carries the secret in plain text (``string``), so neither its description nor its
/// reflection shows the secret or its Base32 text: `"\(uri)"`, `dump(uri)` or a test failure
/// expanding the value must not put it in a log. Use ``string`` where the secret is meant to go.
extension OTPAuthURI: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        "OTPAuthURI(issuer: \(String(reflecting: issuer)), account: \(String(reflecting: account)), secret: redacted (\(secret.count) bytes), "
            + "\(parameters.algorithm.rawValue), \(parameters.digits) digits, \(parameters.period) s)"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(self, children: ["issuer": issuer, "account": account, "secretByteCount": secret.count, "parameters": parameters], displayStyle: .struct)
    }
}

/// Why an `otpauth://` URI was refused.
public enum OTPAuthURIError: Error, Equatable, Sendable {
    case notOTPAuth
    case unsupportedType(String)
    case missingLabel
    case missingSecret
    case invalidSecret
    case issuerMismatch(label: String, parameter: String)
    case invalidAlgorithm(String)
    case invalidDigits(String)
    case invalidPeriod(String)
    case invalidParameters(OTPParameterError)
    case duplicateParameter(String)
    /// A broken `%`-escape, or bytes that are not UTF-8, in the value of the query parameter
    /// `parameter` (`"label"`: the label before `?`; `""`: a parameter's name). The value
    /// itself is not carried: for `secret` it would put the secret in an error message.
    case malformedPercentEncoding(parameter: String)

    public var code: String {
        switch self {
        case .notOTPAuth: "otpauth.not_otpauth"
        case .unsupportedType: "otpauth.unsupported_type"
        case .missingLabel: "otpauth.missing_label"
        case .missingSecret: "otpauth.missing_secret"
        case .invalidSecret: "otpauth.invalid_secret"
        case .issuerMismatch: "otpauth.issuer_mismatch"
        case .invalidAlgorithm: "otpauth.invalid_algorithm"
        case .invalidDigits: "otpauth.invalid_digits"
        case .invalidPeriod: "otpauth.invalid_period"
        case let .invalidParameters(error): "otpauth.\(error.code)"
        case .duplicateParameter: "otpauth.duplicate_parameter"
        case .malformedPercentEncoding: "otpauth.malformed_percent_encoding"
        }
    }

    public var message: String {
        switch self {
        case .notOTPAuth:
            "The text is not an otpauth:// URI; paste the whole URI from the QR code, starting with otpauth://."
        case let .unsupportedType(type):
            "Only time-based (otpauth://totp/) keys are supported, not '\(type)'; enroll a TOTP key instead."
        case .missingLabel:
            "The URI has no account label after otpauth://totp/; add ISSUER:ACCOUNT (or just ACCOUNT) before the '?'."
        case .missingSecret:
            "The URI has no secret parameter; add secret=<Base32 key>."
        case .invalidSecret:
            "The secret is not valid Base32 (letters A-Z and digits 2-7); check it was copied completely and without other characters."
        case let .issuerMismatch(label, parameter):
            "The label names issuer '\(label)' but the issuer parameter says '\(parameter)'; make them the same."
        case let .invalidAlgorithm(text):
            "The algorithm '\(text)' is not supported; use SHA1, SHA256 or SHA512."
        case let .invalidDigits(text):
            "The digits parameter '\(text)' is not a number; use 6, 7 or 8."
        case let .invalidPeriod(text):
            "The period parameter '\(text)' is not a number of seconds; use a whole number such as 30."
        case let .invalidParameters(error):
            error.message
        case let .duplicateParameter(name):
            "The parameter '\(name)' appears more than once; keep only one."
        case let .malformedPercentEncoding(parameter):
            "\(Self.place(of: parameter)) has a broken %-escape or is not UTF-8; each % must be followed by two hex digits."
        }
    }

    /// Where a malformed escape was, as the start of a sentence.
    private static func place(of parameter: String) -> String {
        switch parameter {
        case "label": "The label (ISSUER:ACCOUNT)"
        case "": "A parameter name"
        default: "The value of the parameter '\(parameter.prefix(32))'"
        }
    }
}
