import COpenSSL

/// Failures from the OpenSSL-backed primitives.
///
/// `code` is stable for logs and API responses; `message` tells a person what to do next.
public enum CryptoError: Error, Equatable, Sendable {
    /// The system random generator (`RAND_bytes`) failed or a negative count was asked for.
    case randomFailed
    /// A key (or nonce) had the wrong number of bytes.
    case keyLength(expected: Int, actual: Int)
    /// AES-GCM tag check failed: wrong key, wrong associated data, or the box was altered.
    case authenticationFailed
    /// A sealed box is too short to hold a nonce and a tag.
    case malformedSealedBox
    /// OpenSSL refused an operation; the payload is OpenSSL's own error text.
    case openSSL(String)

    public var code: String {
        switch self {
        case .randomFailed: "crypto.random_failed"
        case .keyLength: "crypto.key_length"
        case .authenticationFailed: "crypto.authentication_failed"
        case .malformedSealedBox: "crypto.malformed_sealed_box"
        case .openSSL: "crypto.openssl"
        }
    }

    public var message: String {
        switch self {
        case .randomFailed:
            "The system random generator could not produce bytes; check that the OS entropy source is available and retry."
        case let .keyLength(expected, actual):
            "The key must be \(expected) bytes but \(actual) were given; supply a key of exactly \(expected) bytes."
        case .authenticationFailed:
            "The sealed data could not be authenticated: the key or associated data is wrong, or the data was altered. Use the key it was sealed with."
        case .malformedSealedBox:
            "The sealed data is too short to contain a 12-byte nonce and a 16-byte tag; it was truncated or is not a sealed box."
        case let .openSSL(detail):
            "OpenSSL reported an error (\(detail)); check the OpenSSL 3 installation (libssl-dev / libcrypto)."
        }
    }

    /// Drains OpenSSL's thread-local error queue into a single `.openSSL` error.
    static func fromOpenSSL(_ operation: String) -> CryptoError {
        var details: [String] = []
        while true {
            let error = enroll_ERR_get_error()
            if error == 0 { break }
            var buffer = [CChar](repeating: 0, count: 256)
            enroll_ERR_error_string_n(error, &buffer, buffer.count)
            let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
            details.append(String(decoding: bytes, as: UTF8.self))
        }
        return .openSSL(details.isEmpty ? operation : "\(operation): \(details.joined(separator: "; "))")
    }
}
