import COpenSSL

/// AES-256-GCM (NIST SP 800-38D) authenticated encryption, used to keep TOTP secrets
/// encrypted at rest.
///
/// A sealed box is `nonce (12) || ciphertext || tag (16)`: self-contained, so the journal
/// stores one blob. Pass the owning record's identity as associated data so a box copied to
/// another record fails to open.
public enum AESGCM {
    public static let keyByteCount = 32
    public static let nonceByteCount = 12
    public static let tagByteCount = 16

    /// The cipher, fetched from the default provider once: the legacy `EVP_aes_256_gcm()`
    /// handle made OpenSSL 3 look the implementation up by name (a lock and string
    /// comparisons) on every seal and open, several per command. Never freed, and only read:
    /// OpenSSL reference-counts it atomically when a context uses it (openssl-threads(7)).
    nonisolated(unsafe) private static let cipher: OpaquePointer? = enroll_EVP_CIPHER_fetch(nil, "AES-256-GCM", nil)

    /// AES-256-GCM. Returns nonce(12) || ciphertext || tag(16). `nonce` nil → 12 random bytes.
    ///
    /// Never reuse a nonce with the same key (SP 800-38D §8): pass an explicit nonce only
    /// for deterministic tests.
    public static func seal(
        _ plaintext: [UInt8], key: [UInt8], authenticating aad: [UInt8] = [], nonce: [UInt8]? = nil
    ) throws -> [UInt8] {
        guard key.count == keyByteCount else {
            throw CryptoError.keyLength(expected: keyByteCount, actual: key.count)
        }
        let nonce = try nonce ?? SecureRandom.bytes(nonceByteCount)
        guard nonce.count == nonceByteCount else {
            throw CryptoError.openSSL("AES-GCM nonce must be \(nonceByteCount) bytes, got \(nonce.count)")
        }
        guard plaintext.count <= Int(Int32.max) - 16, aad.count <= Int(Int32.max) else {
            throw CryptoError.openSSL("AES-GCM input too large")
        }
        guard let context = enroll_EVP_CIPHER_CTX_new() else { throw CryptoError.fromOpenSSL("EVP_CIPHER_CTX_new") }
        defer { enroll_EVP_CIPHER_CTX_free(context) }

        var ciphertext = [UInt8](repeating: 0, count: plaintext.count + 16)
        var tag = [UInt8](repeating: 0, count: tagByteCount)
        var length: Int32 = 0
        var total = 0
        guard enroll_EVP_EncryptInit_ex(context, cipher ?? enroll_EVP_aes_256_gcm(), nil, key, nonce) == 1 else {
            throw CryptoError.fromOpenSSL("EVP_EncryptInit_ex")
        }
        if !aad.isEmpty {
            guard enroll_EVP_EncryptUpdate(context, nil, &length, aad, Int32(aad.count)) == 1 else {
                throw CryptoError.fromOpenSSL("EVP_EncryptUpdate(aad)")
            }
        }
        if !plaintext.isEmpty {
            guard enroll_EVP_EncryptUpdate(context, &ciphertext, &length, plaintext, Int32(plaintext.count)) == 1 else {
                throw CryptoError.fromOpenSSL("EVP_EncryptUpdate")
            }
            total = Int(length)
        }
        let finished = ciphertext.withUnsafeMutableBufferPointer { buffer in
            enroll_EVP_EncryptFinal_ex(context, buffer.baseAddress.map { $0 + total }, &length)
        }
        guard finished == 1 else { throw CryptoError.fromOpenSSL("EVP_EncryptFinal_ex") }
        total += Int(length)
        guard enroll_EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, Int32(tagByteCount), &tag) == 1 else {
            throw CryptoError.fromOpenSSL("EVP_CTRL_GCM_GET_TAG")
        }
        return nonce + ciphertext.prefix(total) + tag
    }

    /// Opens a box made by ``seal(_:key:authenticating:nonce:)``.
    ///
    /// Throws ``CryptoError/authenticationFailed`` on a wrong key, wrong `aad` or any altered
    /// byte, and ``CryptoError/malformedSealedBox`` if `box` is shorter than nonce + tag.
    public static func open(_ box: [UInt8], key: [UInt8], authenticating aad: [UInt8] = []) throws -> [UInt8] {
        guard key.count == keyByteCount else {
            throw CryptoError.keyLength(expected: keyByteCount, actual: key.count)
        }
        guard box.count >= nonceByteCount + tagByteCount else { throw CryptoError.malformedSealedBox }
        guard box.count <= Int(Int32.max), aad.count <= Int(Int32.max) else {
            throw CryptoError.openSSL("AES-GCM input too large")
        }
        let nonce = Array(box.prefix(nonceByteCount))
        var tag = Array(box.suffix(tagByteCount))
        let ciphertext = Array(box[nonceByteCount..<(box.count - tagByteCount)])

        guard let context = enroll_EVP_CIPHER_CTX_new() else { throw CryptoError.fromOpenSSL("EVP_CIPHER_CTX_new") }
        defer { enroll_EVP_CIPHER_CTX_free(context) }

        var plaintext = [UInt8](repeating: 0, count: ciphertext.count + 16)
        var length: Int32 = 0
        var total = 0
        guard enroll_EVP_DecryptInit_ex(context, cipher ?? enroll_EVP_aes_256_gcm(), nil, key, nonce) == 1 else {
            throw CryptoError.fromOpenSSL("EVP_DecryptInit_ex")
        }
        if !aad.isEmpty {
            guard enroll_EVP_DecryptUpdate(context, nil, &length, aad, Int32(aad.count)) == 1 else {
                throw CryptoError.fromOpenSSL("EVP_DecryptUpdate(aad)")
            }
        }
        if !ciphertext.isEmpty {
            guard enroll_EVP_DecryptUpdate(context, &plaintext, &length, ciphertext, Int32(ciphertext.count)) == 1 else {
                throw CryptoError.fromOpenSSL("EVP_DecryptUpdate")
            }
            total = Int(length)
        }
        guard enroll_EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, Int32(tagByteCount), &tag) == 1 else {
            throw CryptoError.fromOpenSSL("EVP_CTRL_GCM_SET_TAG")
        }
        let verified = plaintext.withUnsafeMutableBufferPointer { buffer in
            enroll_EVP_DecryptFinal_ex(context, buffer.baseAddress.map { $0 + total }, &length)
        }
        guard verified == 1 else {
            // The tag mismatch leaves nothing useful on the error queue; don't leak it to the
            // next caller on this thread either.
            enroll_ERR_clear_error()
            secureZero(&plaintext)
            throw CryptoError.authenticationFailed
        }
        total += Int(length)
        let result = Array(plaintext.prefix(total))
        secureZero(&plaintext)
        return result
    }
}
