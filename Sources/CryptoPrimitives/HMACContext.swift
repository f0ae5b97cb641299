import COpenSSL

/// A keyed HMAC (RFC 2104) context, created once per key and used for any number of messages.
///
/// Keying HMAC costs two hash compressions (the ipad and opad blocks), as much as a whole
/// short-message MAC. A TOTP verification computes several MACs under one key, so the key is
/// absorbed once into an inner and an outer digest state, and each message starts from a
/// copy of those states: the same work as `EVP_MAC_init(ctx, NULL, 0, NULL)` on a keyed
/// `EVP_MAC` context (see ../shared/peers/raw_hmac.c, beside the repository).
///
/// Two ways to hold those states, the same MACs either way:
/// - **Direct**, when OpenSSL's `default` provider serves the digest (the usual case): the
///   states are OpenSSL's own SHA-1/SHA-256/SHA-512 state structs, held by value in one small
///   buffer (`Sources/COpenSSL/include/keyed_hmac.h`), and starting a message is a struct copy. The
///   default provider's digests are these very functions, so only EVP's dispatch is left out:
///   through `EVP_MD_CTX` every copy of a keyed state freed and allocated a provider context
///   and wiped the old one, which cost more than the hashing (BENCHMARKS.md, step 22).
/// - **Through EVP** (`EVPHMAC`), whenever OpenSSL's configuration puts another provider in
///   charge (`fips`, a hardware provider) or none at all: the provider chosen by the operator
///   computes every MAC, and a digest no provider offers fails here, closed, as before.
///
/// RFC 2202 / RFC 4231 / RFC 4226 vectors, and OpenSSL's one-shot `HMAC()` for every key
/// length 0–200, pin the result of both.
///
/// Noncopyable: the key-derived states are wiped and freed when the context ends. Not
/// `Sendable`. Make one per verification.
///
/// ```swift
/// let hmac = try HMACContext(key: secret, digest: .sha1)
/// let mac = hmac.authenticate(counterBytes)
/// ```
public struct HMACContext: ~Copyable {
    /// The inner (`K ⊕ ipad`) and outer (`K ⊕ opad`) states, held directly; nil through EVP.
    private let direct: UnsafeMutablePointer<enroll_hmac_key>?
    /// The states as EVP digest contexts, when the default provider does not serve the digest.
    private let evp: EVPHMAC?

    /// The MAC length in bytes (20, 32 or 64).
    public let length: Int

    /// The digest the MAC is computed with.
    public let digest: Digest

    /// Keys a fresh context. The padded key exists only in a stack buffer that is cleansed
    /// before returning; the caller still owns (and should ``secureZero(_:)``) its array.
    public init(key: [UInt8], digest: Digest) throws {
        try self.init(key: key, digest: digest, throughEVP: false)
    }

    /// `throughEVP`: the EVP path even where the direct one would serve (the tests compare both).
    init(key: [UInt8], digest: Digest, throughEVP: Bool) throws {
        if !throughEVP, FetchedDigests.shared.servedByDefaultProvider(digest) {
            let keyed = UnsafeMutablePointer<enroll_hmac_key>.allocate(capacity: 1)
            let initialised = key.withUnsafeBufferPointer { bytes in
                enroll_hmac_key_init(keyed, digest.keyedHMACIdentifier, bytes.baseAddress, bytes.count)
            }
            guard initialised == 1 else {
                // The C side has wiped the states already.
                keyed.deallocate()
                throw CryptoError.fromOpenSSL("HMAC-\(digest.rawValue) keying")
            }
            (direct, evp) = (keyed, nil)
        } else {
            (direct, evp) = (nil, try EVPHMAC(key: key, digest: digest))
        }
        self.digest = digest
        self.length = digest.byteCount
    }

    deinit {
        if let direct {
            enroll_hmac_key_clear(direct)
            direct.deallocate()
        }
    }

    /// Computes HMAC(key, message) into `output` without allocating.
    ///
    /// - Returns: the MAC length written, or 0 when `output` is shorter than ``length`` or
    ///   OpenSSL fails (callers treat 0 as "no MAC", which never matches anything).
    public func authenticate(_ message: UnsafeRawBufferPointer, into output: UnsafeMutableRawBufferPointer) -> Int {
        guard output.count >= length, let out = output.baseAddress?.assumingMemoryBound(to: UInt8.self) else {
            return 0
        }
        if let direct { return enroll_hmac(direct, message.baseAddress, message.count, out) }
        return evp?.authenticate(message, into: out) ?? 0
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

/// HMAC's keyed states as three `EVP_MD_CTX` (inner, outer, and one each message is computed
/// in), for digests served by a provider other than `default`: RFC 2104 §2 over EVP, since
/// creating and keying an `EVP_MAC` context allocates about nine objects.
final class EVPHMAC {
    /// State after absorbing `K ⊕ ipad`.
    private let inner: OpaquePointer
    /// State after absorbing `K ⊕ opad`.
    private let outer: OpaquePointer
    /// Scratch state each message is computed in.
    private let work: OpaquePointer

    init(key: [UInt8], digest: Digest) throws {
        guard let md = FetchedDigests.shared.digest(digest) else {
            throw CryptoError.fromOpenSSL("digest \(digest.rawValue) is unavailable")
        }
        guard let inner = enroll_EVP_MD_CTX_new() else { throw CryptoError.fromOpenSSL("EVP_MD_CTX_new") }
        guard let outer = enroll_EVP_MD_CTX_new() else {
            enroll_EVP_MD_CTX_free(inner)
            throw CryptoError.fromOpenSSL("EVP_MD_CTX_new")
        }
        guard let work = enroll_EVP_MD_CTX_new() else {
            enroll_EVP_MD_CTX_free(inner)
            enroll_EVP_MD_CTX_free(outer)
            throw CryptoError.fromOpenSSL("EVP_MD_CTX_new")
        }
        self.inner = inner
        self.outer = outer
        self.work = work
        // From here on deinit frees the contexts if keying throws.

        let blockSize = digest.blockByteCount
        let keyed = withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 128) { pad -> Bool in
            defer { enroll_OPENSSL_cleanse(pad.baseAddress, pad.count) }
            pad.initialize(repeating: 0)
            // RFC 2104 §2: a key longer than the block is replaced by its hash; a shorter one
            // is padded with zeros to the block size.
            if key.count > blockSize {
                var hashedLength: UInt32 = 0
                let hashed = key.withUnsafeBytes { bytes in
                    enroll_EVP_Digest(bytes.baseAddress, bytes.count, pad.baseAddress, &hashedLength, md, nil)
                }
                guard hashed == 1 else { return false }
            } else {
                for index in key.indices { pad[index] = key[index] }
            }
            for index in 0..<blockSize { pad[index] ^= 0x36 }
            guard enroll_EVP_DigestInit_ex(inner, md, nil) == 1,
                enroll_EVP_DigestUpdate(inner, pad.baseAddress, blockSize) == 1
            else { return false }
            for index in 0..<blockSize { pad[index] ^= 0x36 ^ 0x5C }
            guard enroll_EVP_DigestInit_ex(outer, md, nil) == 1,
                enroll_EVP_DigestUpdate(outer, pad.baseAddress, blockSize) == 1
            else { return false }
            return true
        }
        guard keyed else { throw CryptoError.fromOpenSSL("HMAC-\(digest.rawValue) keying") }
    }

    deinit {
        // OpenSSL's digest providers free their state with OPENSSL_clear_free, so the
        // key-derived inner and outer states are wiped here.
        enroll_EVP_MD_CTX_free(inner)
        enroll_EVP_MD_CTX_free(outer)
        enroll_EVP_MD_CTX_free(work)
    }

    /// H(K ⊕ opad || H(K ⊕ ipad || message)) into `out`; the inner hash is staged there.
    func authenticate(_ message: UnsafeRawBufferPointer, into out: UnsafeMutablePointer<UInt8>) -> Int {
        var written: UInt32 = 0
        guard enroll_EVP_MD_CTX_copy_ex(work, inner) == 1,
            enroll_EVP_DigestUpdate(work, message.baseAddress, message.count) == 1,
            enroll_EVP_DigestFinal_ex(work, out, &written) == 1,
            enroll_EVP_MD_CTX_copy_ex(work, outer) == 1,
            enroll_EVP_DigestUpdate(work, out, Int(written)) == 1,
            enroll_EVP_DigestFinal_ex(work, out, &written) == 1
        else { return 0 }
        return Int(written)
    }
}

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
        sha1 = enroll_EVP_MD_fetch(nil, Digest.sha1.rawValue, nil)
        sha256 = enroll_EVP_MD_fetch(nil, Digest.sha256.rawValue, nil)
        sha512 = enroll_EVP_MD_fetch(nil, Digest.sha512.rawValue, nil)
        directSHA1 = Self.isDefaultProvider(sha1)
        directSHA256 = Self.isDefaultProvider(sha256)
        directSHA512 = Self.isDefaultProvider(sha512)
    }

    /// Whether OpenSSL's `default` provider implements the digest as fetched, so that its
    /// functions may be called directly (``HMACContext``): decided once, from the
    /// configuration the process started with.
    private let directSHA1: Bool
    private let directSHA256: Bool
    private let directSHA512: Bool

    func servedByDefaultProvider(_ digest: Digest) -> Bool {
        switch digest {
        case .sha1: directSHA1
        case .sha256: directSHA256
        case .sha512: directSHA512
        }
    }

    private static func isDefaultProvider(_ md: OpaquePointer?) -> Bool {
        guard let md, let provider = enroll_EVP_MD_get0_provider(md), let name = enroll_OSSL_PROVIDER_get0_name(provider) else { return false }
        return strcmp(name, "default") == 0
    }

    func digest(_ digest: Digest) -> OpaquePointer? {
        switch digest {
        case .sha1: sha1
        case .sha256: sha256
        case .sha512: sha512
        }
    }
}
