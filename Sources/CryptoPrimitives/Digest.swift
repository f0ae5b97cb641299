/// The hash functions RFC 6238 §1.2 allows for TOTP (and RFC 4226 HOTP's SHA-1).
///
/// The raw values are the spellings used both by the Key URI Format's `algorithm`
/// parameter and by OpenSSL's digest fetching, so one string serves both.
public enum Digest: String, Sendable, Codable, CaseIterable, Hashable {
    case sha1 = "SHA1"
    case sha256 = "SHA256"
    case sha512 = "SHA512"

    /// Output size in bytes; also the largest MAC ``HMACContext`` writes for this digest.
    public var byteCount: Int {
        switch self {
        case .sha1: 20
        case .sha256: 32
        case .sha512: 64
        }
    }

    /// Input block size in bytes, the length HMAC pads its key to (RFC 2104 §2).
    public var blockByteCount: Int {
        switch self {
        case .sha1, .sha256: 64
        case .sha512: 128
        }
    }
}
