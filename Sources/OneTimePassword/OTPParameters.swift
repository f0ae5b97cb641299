/// How codes are computed: hash, number of digits and time-step length (RFC 6238 §4).
///
/// The defaults (SHA-1, 6 digits, 30 s) are the only combination every authenticator app
/// honours; Google Authenticator, for one, ignores other values on some platforms.
public struct OTPParameters: Sendable, Codable, Hashable {
    public var algorithm: Digest
    public var digits: Int
    public var period: Int

    /// Digit counts accepted: RFC 4226 §5.3 requires at least 6; more than 8 is not
    /// supported by common apps and would exceed the 31-bit truncated value's precision.
    public static let allowedDigits = 6...8

    /// Periods accepted, in seconds: a step must be at least a second and at most an hour.
    public static let allowedPeriods = 1...3600

    public init(algorithm: Digest = .sha1, digits: Int = 6, period: Int = 30) {
        self.algorithm = algorithm
        self.digits = digits
        self.period = period
    }

    public static let `default` = OTPParameters()

    /// Throws ``OTPParameterError`` if `digits` or `period` is out of range.
    public func validate() throws {
        guard Self.allowedDigits.contains(digits) else { throw OTPParameterError.digits(digits) }
        guard Self.allowedPeriods.contains(period) else { throw OTPParameterError.period(period) }
    }

    /// Whether ``validate()`` would succeed.
    public var isValid: Bool {
        Self.allowedDigits.contains(digits) && Self.allowedPeriods.contains(period)
    }
}

/// Out-of-range ``OTPParameters``.
public enum OTPParameterError: Error, Equatable, Sendable {
    case digits(Int)
    case period(Int)

    public var code: String {
        switch self {
        case .digits: "otp.invalid_digits"
        case .period: "otp.invalid_period"
        }
    }

    public var message: String {
        switch self {
        case let .digits(value):
            "A code must have 6 to 8 digits, but \(value) was given; use 6 (the default) unless the authenticator needs more."
        case let .period(value):
            "The time step must be 1 to 3600 seconds, but \(value) was given; use 30 (the default) unless the authenticator needs another."
        }
    }
}
