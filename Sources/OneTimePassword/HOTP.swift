/// HMAC-based one-time passwords (RFC 4226).
public enum HOTP {
    /// 10^digits for the allowed digit counts, so no floating point or loop is needed.
    static func modulus(digits: Int) -> UInt32 {
        switch digits {
        case 6: 1_000_000
        case 7: 10_000_000
        default: 100_000_000
        }
    }

    /// RFC 4226 §5.3 dynamic truncation: the low nibble of the last MAC byte picks an offset,
    /// and the 31 bits from there (top bit masked so signed and unsigned readers agree) are
    /// the code before reduction modulo 10^digits.
    @inline(__always)
    static func truncate(_ mac: UnsafeRawBufferPointer) -> UInt32 {
        let offset = Int(mac[mac.count - 1] & 0x0F)
        return (UInt32(mac[offset] & 0x7F) << 24)
            | (UInt32(mac[offset + 1]) << 16)
            | (UInt32(mac[offset + 2]) << 8)
            | UInt32(mac[offset + 3])
    }

    /// The truncated value for `counter` under a keyed context, or nil if OpenSSL failed.
    /// Allocation-free: the counter and MAC live on the stack.
    @inline(__always)
    static func truncatedValue(_ hmac: borrowing HMACContext, counter: UInt64) -> UInt32? {
        // RFC 4226 §5.1: the counter is 8 bytes, big-endian.
        var message = counter.bigEndian
        return withUnsafeBytes(of: &message) { input in
            withUnsafeTemporaryAllocation(byteCount: 64, alignment: 8) { output in
                let length = hmac.authenticate(input, into: output)
                guard length >= 20 else { return nil }
                return truncate(UnsafeRawBufferPointer(rebasing: output[0..<length]))
            }
        }
    }

    /// Formats `value` as exactly `digits` ASCII digits, zero-padded (RFC 4226 §5.3).
    static func format(_ value: UInt32, digits: Int) -> String {
        var bytes = [UInt8](repeating: UInt8(ascii: "0"), count: digits)
        var rest = value
        for index in stride(from: digits - 1, through: 0, by: -1) {
            bytes[index] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The HOTP value for `counter` (RFC 4226 §5.3 dynamic truncation), zero-padded to `digits`.
    ///
    /// Throws ``OTPParameterError/digits(_:)`` unless `digits` is 6...8, or a ``CryptoError``
    /// if OpenSSL cannot key HMAC.
    public static func code(secret: [UInt8], counter: UInt64, algorithm: Digest = .sha1, digits: Int = 6) throws -> String {
        guard OTPParameters.allowedDigits.contains(digits) else { throw OTPParameterError.digits(digits) }
        let hmac = try HMACContext(key: secret, digest: algorithm)
        guard let value = truncatedValue(hmac, counter: counter) else {
            throw CryptoError.openSSL("HMAC-\(algorithm.rawValue) failed")
        }
        return format(value % modulus(digits: digits), digits: digits)
    }
}
