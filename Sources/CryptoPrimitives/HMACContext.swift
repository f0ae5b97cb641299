import COpenSSL

/// A keyed HMAC (RFC 2104) context, created once per key and re-initialised per message.
///
/// Keying HMAC costs two hash compressions (the ipad and opad blocks), as much as the MAC
/// itself. A TOTP verification computes several MACs under one key, so the context is keyed
/// once and then reset with `EVP_MAC_init(ctx, NULL, 0, NULL)`, which returns to the keyed
/// state without touching the key (see /work/shared/peers/raw_hmac.c): about 0.2 µs per MAC
/// instead of about 1 µs for the one-shot `HMAC()` call.
///
/// Not `Sendable`: the OpenSSL context is mutated by every call. Make one per verification.
///
/// ```swift
/// let hmac = try HMACContext(key: secret, digest: .sha1)
/// let mac = hmac.authenticate(counterBytes)
/// ```
public final class HMACContext {
    private let context: OpaquePointer

    /// The MAC length in bytes (20, 32 or 64).
    public let length: Int

    /// The digest the MAC is computed with.
    public let digest: Digest

    /// Keys a fresh context. OpenSSL copies `key` into its own secure memory and cleanses it
    /// on `deinit`; the caller still owns (and should ``secureZero(_:)``) its array.
    public init(key: [UInt8], digest: Digest) throws {
        guard let template = HMACTemplates.shared.template(for: digest) else {
            throw CryptoError.fromOpenSSL("HMAC-\(digest.rawValue) is unavailable")
        }
        // Duplicating a context that already holds the digest avoids re-fetching the digest
        // by name on every key (about a fifth of the cost of a whole verification).
        guard let context = EVP_MAC_CTX_dup(template) else {
            throw CryptoError.fromOpenSSL("EVP_MAC_CTX_dup")
        }
        let keyed = key.withUnsafeBufferPointer { buffer -> Int32 in
            // An empty key is valid HMAC (RFC 2104 pads it with zeros), but a NULL pointer
            // means "keep the old key" to EVP_MAC_init, so pass a real address.
            if let base = buffer.baseAddress {
                return EVP_MAC_init(context, base, buffer.count, nil)
            }
            var placeholder: UInt8 = 0
            return EVP_MAC_init(context, &placeholder, 0, nil)
        }
        guard keyed == 1 else {
            EVP_MAC_CTX_free(context)
            throw CryptoError.fromOpenSSL("EVP_MAC_init")
        }
        self.context = context
        self.digest = digest
        self.length = EVP_MAC_CTX_get_mac_size(context)
    }

    deinit {
        // The HMAC provider cleanses its key copy and the ipad/opad states when freed.
        EVP_MAC_CTX_free(context)
    }

    /// Computes HMAC(key, message) into `output` without allocating.
    ///
    /// - Returns: the MAC length written, or 0 when `output` is shorter than ``length`` or
    ///   OpenSSL fails (callers treat 0 as "no MAC", which never matches anything).
    public func authenticate(_ message: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Int {
        guard output.count >= length, let out = output.baseAddress else { return 0 }
        guard EVP_MAC_init(context, nil, 0, nil) == 1 else { return 0 }
        if let bytes = message.baseAddress, message.count > 0 {
            guard EVP_MAC_update(context, bytes.assumingMemoryBound(to: UInt8.self), message.count) == 1 else {
                return 0
            }
        }
        var written = 0
        guard EVP_MAC_final(context, out.assumingMemoryBound(to: UInt8.self), &written, output.count) == 1 else {
            return 0
        }
        return written
    }

    /// Computes HMAC(key, message) as a new array. Returns an empty array if OpenSSL fails.
    public func authenticate(_ message: [UInt8]) -> [UInt8] {
        var mac = [UInt8](repeating: 0, count: length)
        let written = message.withUnsafeBytes { input in
            mac.withUnsafeMutableBytes { output in authenticate(input, into: output) }
        }
        return Array(mac.prefix(written))
    }
}

@available(*, unavailable, message: "HMACContext mutates its OpenSSL context on every call; create one per task")
extension HMACContext: Sendable {}

/// One unkeyed HMAC context per digest, with the digest already fetched, to duplicate from.
///
/// `@unchecked Sendable` because the contexts are never mutated after creation and never
/// freed: the only use is `EVP_MAC_CTX_dup`, which takes a `const` source, and
/// openssl-threads(7) allows concurrent calls that only read a shared object.
private final class HMACTemplates: @unchecked Sendable {
    static let shared = HMACTemplates()

    private let sha1: OpaquePointer?
    private let sha256: OpaquePointer?
    private let sha512: OpaquePointer?

    private init() {
        let mac = EVP_MAC_fetch(nil, "HMAC", nil)
        defer { EVP_MAC_free(mac) }
        func make(_ digest: Digest) -> OpaquePointer? {
            guard let mac, let context = EVP_MAC_CTX_new(mac) else { return nil }
            let configured = digest.rawValue.withCString { name -> Int32 in
                var params = [
                    OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, UnsafeMutablePointer(mutating: name), 0),
                    OSSL_PARAM_construct_end(),
                ]
                return EVP_MAC_CTX_set_params(context, &params)
            }
            guard configured == 1 else {
                EVP_MAC_CTX_free(context)
                return nil
            }
            return context
        }
        sha1 = make(.sha1)
        sha256 = make(.sha256)
        sha512 = make(.sha512)
    }

    func template(for digest: Digest) -> OpaquePointer? {
        switch digest {
        case .sha1: sha1
        case .sha256: sha256
        case .sha512: sha512
        }
    }
}
