import COpenSSL

/// A keyed HMAC (RFC 2104) context, created once per key and re-initialised per message.
///
/// Keying HMAC costs two hash compressions (the ipad and opad blocks), as much as a whole
/// short-message MAC. A TOTP verification computes several MACs under one key, so the key is
/// absorbed once into an inner and an outer digest state, and each message starts from a
/// copy of those states: the same work as `EVP_MAC_init(ctx, NULL, 0, NULL)` on a keyed
/// `EVP_MAC` context (see ../shared/peers/raw_hmac.c, beside the repository), about 0.2 µs per MAC instead of
/// about 1 µs for the one-shot `HMAC()` call.
///
/// The construction is RFC 2104 §2 over `EVP_MD_CTX` rather than an `EVP_MAC` context because
/// creating and keying an `EVP_MAC` context allocates about nine objects (MAC context,
/// HMAC_CTX, three digest contexts and their provider states, a key copy), which made the
/// per-verification setup cost more than two of the MACs themselves; three digest contexts
/// halve that. RFC 2202 / RFC 4231 / RFC 4226 vectors pin the result to OpenSSL's HMAC.
///
/// Not `Sendable`: the digest contexts are mutated by every call. Make one per verification.
///
/// ```swift
/// let hmac = try HMACContext(key: secret, digest: .sha1)
/// let mac = hmac.authenticate(counterBytes)
/// ```
public final class HMACContext {
    /// State after absorbing `K ⊕ ipad`.
    private let inner: OpaquePointer
    /// State after absorbing `K ⊕ opad`.
    private let outer: OpaquePointer
    /// Scratch state each message is computed in.
    private let work: OpaquePointer

    /// The MAC length in bytes (20, 32 or 64).
    public let length: Int

    /// The digest the MAC is computed with.
    public let digest: Digest

    /// Keys a fresh context. The padded key exists only in a stack buffer that is cleansed
    /// before returning; the caller still owns (and should ``secureZero(_:)``) its array.
    public init(key: [UInt8], digest: Digest) throws {
        guard let md = FetchedDigests.shared.digest(digest) else {
            throw CryptoError.fromOpenSSL("digest \(digest.rawValue) is unavailable")
        }
        guard let inner = EVP_MD_CTX_new() else { throw CryptoError.fromOpenSSL("EVP_MD_CTX_new") }
        guard let outer = EVP_MD_CTX_new() else {
            EVP_MD_CTX_free(inner)
            throw CryptoError.fromOpenSSL("EVP_MD_CTX_new")
        }
        guard let work = EVP_MD_CTX_new() else {
            EVP_MD_CTX_free(inner)
            EVP_MD_CTX_free(outer)
            throw CryptoError.fromOpenSSL("EVP_MD_CTX_new")
        }
        self.inner = inner
        self.outer = outer
        self.work = work
        self.digest = digest
        self.length = digest.byteCount
        // From here on deinit frees the contexts if keying throws.

        let blockSize = digest.blockByteCount
        let keyed = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 128) { pad -> Bool in
            defer { OPENSSL_cleanse(pad.baseAddress, pad.count) }
            pad.initialize(repeating: 0)
            // RFC 2104 §2: a key longer than the block is replaced by its hash; a shorter one
            // is padded with zeros to the block size.
            if key.count > blockSize {
                var hashedLength: UInt32 = 0
                let hashed = key.withUnsafeBytes { bytes in
                    EVP_Digest(bytes.baseAddress, bytes.count, pad.baseAddress, &hashedLength, md, nil)
                }
                guard hashed == 1 else { return false }
            } else {
                for index in key.indices { pad[index] = key[index] }
            }
            for index in 0..<blockSize { pad[index] ^= 0x36 }
            guard EVP_DigestInit_ex(inner, md, nil) == 1,
                EVP_DigestUpdate(inner, pad.baseAddress, blockSize) == 1
            else { return false }
            for index in 0..<blockSize { pad[index] ^= 0x36 ^ 0x5C }
            guard EVP_DigestInit_ex(outer, md, nil) == 1,
                EVP_DigestUpdate(outer, pad.baseAddress, blockSize) == 1
            else { return false }
            return true
        }
        guard keyed else { throw CryptoError.fromOpenSSL("HMAC-\(digest.rawValue) keying") }
    }

    deinit {
        // OpenSSL's digest providers free their state with OPENSSL_clear_free, so the
        // key-derived inner and outer states are wiped here.
        EVP_MD_CTX_free(inner)
        EVP_MD_CTX_free(outer)
        EVP_MD_CTX_free(work)
    }

    /// Computes HMAC(key, message) into `output` without allocating Swift memory.
    ///
    /// - Returns: the MAC length written, or 0 when `output` is shorter than ``length`` or
    ///   OpenSSL fails (callers treat 0 as "no MAC", which never matches anything).
    public func authenticate(_ message: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Int {
        guard output.count >= length, let out = output.baseAddress?.assumingMemoryBound(to: UInt8.self) else {
            return 0
        }
        var written: UInt32 = 0
        // H(K ⊕ opad || H(K ⊕ ipad || message)); the inner hash is staged in `output`.
        guard EVP_MD_CTX_copy_ex(work, inner) == 1,
            EVP_DigestUpdate(work, message.baseAddress, message.count) == 1,
            EVP_DigestFinal_ex(work, out, &written) == 1,
            EVP_MD_CTX_copy_ex(work, outer) == 1,
            EVP_DigestUpdate(work, out, Int(written)) == 1,
            EVP_DigestFinal_ex(work, out, &written) == 1
        else { return 0 }
        return Int(written)
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

@available(*, unavailable, message: "HMACContext mutates its OpenSSL contexts on every call; create one per task")
extension HMACContext: Sendable {}

/// The three digests, fetched from the default provider once.
///
/// Passing a legacy `EVP_sha1()` handle to `EVP_DigestInit_ex` makes OpenSSL 3 fetch the
/// implementation by name on every call; a fetched `EVP_MD` skips that lookup.
/// `@unchecked Sendable` because the objects are immutable and never freed, and OpenSSL
/// only reference-counts them atomically when a context uses them (openssl-threads(7)).
final class FetchedDigests: @unchecked Sendable {
    static let shared = FetchedDigests()

    private let sha1: OpaquePointer?
    private let sha256: OpaquePointer?
    private let sha512: OpaquePointer?

    private init() {
        sha1 = EVP_MD_fetch(nil, Digest.sha1.rawValue, nil)
        sha256 = EVP_MD_fetch(nil, Digest.sha256.rawValue, nil)
        sha512 = EVP_MD_fetch(nil, Digest.sha512.rawValue, nil)
    }

    func digest(_ digest: Digest) -> OpaquePointer? {
        switch digest {
        case .sha1: sha1
        case .sha256: sha256
        case .sha512: sha512
        }
    }
}
