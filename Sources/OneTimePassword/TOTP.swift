/// Time-based one-time passwords (RFC 6238): HOTP with the counter derived from the clock.
public enum TOTP {
    /// The time step T = floor((t - T0) / X) of RFC 6238 §4.2, with T0 = 0.
    ///
    /// Times before the epoch are clamped to step 0 (RFC 6238 counts forward from T0; no
    /// authenticator shows codes for 1969), and a `period` below 1 yields 0 instead of
    /// trapping. Never traps, for any input.
    public static func timeStep(at unixTime: Int64, period: Int) -> Int64 {
        guard period >= 1, unixTime > 0 else { return 0 }
        return unixTime / Int64(period)
    }

    /// The code shown by an authenticator at `unixTime`.
    ///
    /// Throws ``OTPParameterError`` for out-of-range parameters, or a ``CryptoError`` if
    /// OpenSSL cannot key HMAC.
    public static func code(secret: [UInt8], at unixTime: Int64, parameters: OTPParameters = .default) throws -> String {
        try parameters.validate()
        let step = timeStep(at: unixTime, period: parameters.period)
        return try HOTP.code(
            secret: secret, counter: UInt64(step), algorithm: parameters.algorithm, digits: parameters.digits)
    }
}
