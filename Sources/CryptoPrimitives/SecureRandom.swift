import COpenSSL

/// Cryptographically secure random bytes from OpenSSL's DRBG (`RAND_bytes`), seeded by the OS.
///
/// Use it for TOTP secrets (RFC 4226 §4 R6 asks for at least 128 bits; 160 recommended)
/// and AES-GCM keys and nonces. The engine's decider never calls it: fresh secrets come in
/// through its context so replays stay deterministic.
public enum SecureRandom {
    /// `count` fresh random bytes. Throws ``CryptoError/randomFailed`` if the generator cannot
    /// be seeded or `count` is negative.
    public static func bytes(_ count: Int) throws -> [UInt8] {
        guard count >= 0, count <= Int(Int32.max) else { throw CryptoError.randomFailed }
        var bytes = [UInt8](repeating: 0, count: count)
        guard count > 0 else { return bytes }
        let status = bytes.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        guard status == 1 else {
            ERR_clear_error()
            throw CryptoError.randomFailed
        }
        return bytes
    }
}
