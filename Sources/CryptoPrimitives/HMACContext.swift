import COpenSSL

/// A keyed HMAC (RFC 2104) context, created once per key and used for any number of messages.
///
/// Keying HMAC costs two hash compressions (the ipad and opad blocks), as much as a whole
/// short-message MAC. A TOTP verification computes several MACs under one key, so the key is
/// absorbed once into an inner and an outer digest state, and each message starts from a
/// copy of those states: the same work as `EVP_MAC_init(ctx, NULL, 0, NULL)` on a keyed
/// `EVP_MAC` context (see ../shared/peers/raw_hmac.c, beside the repository).
///
/// The states are OpenSSL's own SHA-1/SHA-256/SHA-512 state structs, held by value in one
/// small buffer (`Sources/COpenSSL/keyed_hmac.h`): starting a message is a struct copy. Through
/// `EVP_MD_CTX` every copy of a keyed state freed and allocated a provider context and wiped
/// the old one, and keying created three contexts; that bookkeeping cost more than the hashing
/// (BENCHMARKS.md, step 22). The hashing itself is OpenSSL's, CPU extensions and all. RFC 2202
/// / RFC 4231 / RFC 4226 vectors, and OpenSSL's one-shot `HMAC()` for every key length 0–200,
/// pin the result.
///
/// Noncopyable: the key-derived states live in one buffer, wiped and freed when the context
/// ends. Not `Sendable`. Make one per verification.
///
/// ```swift
/// let hmac = try HMACContext(key: secret, digest: .sha1)
/// let mac = hmac.authenticate(counterBytes)
/// ```
public struct HMACContext: ~Copyable {
    /// The inner (`K ⊕ ipad`) and outer (`K ⊕ opad`) states.
    private let keyed: UnsafeMutablePointer<enroll_hmac_key>

    /// The MAC length in bytes (20, 32 or 64).
    public let length: Int

    /// The digest the MAC is computed with.
    public let digest: Digest

    /// Keys a fresh context. The padded key exists only in a stack buffer that is cleansed
    /// before returning; the caller still owns (and should ``secureZero(_:)``) its array.
    public init(key: [UInt8], digest: Digest) throws {
        let keyed = UnsafeMutablePointer<enroll_hmac_key>.allocate(capacity: 1)
        let initialised = key.withUnsafeBufferPointer { bytes in
            enroll_hmac_key_init(keyed, digest.keyedHMACIdentifier, bytes.baseAddress, bytes.count)
        }
        guard initialised == 1 else {
            // The C side has wiped the states already.
            keyed.deallocate()
            throw CryptoError.fromOpenSSL("HMAC-\(digest.rawValue) keying")
        }
        self.keyed = keyed
        self.digest = digest
        self.length = digest.byteCount
    }

    deinit {
        enroll_hmac_key_clear(keyed)
        keyed.deallocate()
    }

    /// Computes HMAC(key, message) into `output` without allocating.
    ///
    /// - Returns: the MAC length written, or 0 when `output` is shorter than ``length`` or
    ///   OpenSSL fails (callers treat 0 as "no MAC", which never matches anything).
    public func authenticate(_ message: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Int {
        guard output.count >= length, let out = output.baseAddress?.assumingMemoryBound(to: UInt8.self) else {
            return 0
        }
        return enroll_hmac(keyed, message.baseAddress, message.count, out)
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

@available(*, unavailable, message: "HMACContext's states are one task's; create one per task")
extension HMACContext: Sendable {}

extension Digest {
    /// The digest's number in `keyed_hmac.h`.
    var keyedHMACIdentifier: Int32 {
        switch self {
        case .sha1: ENROLL_HMAC_SHA1
        case .sha256: ENROLL_HMAC_SHA256
        case .sha512: ENROLL_HMAC_SHA512
        }
    }
}

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
