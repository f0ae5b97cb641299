import COpenSSL
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// SHA-256 (FIPS 180-4) of `data`; 32 bytes. Used for fingerprints and hash chains, never for
/// passwords or secrets that need a slow hash.
public func sha256(_ data: [UInt8]) -> [UInt8] {
    data.withUnsafeBytes { sha256($0) }
}

/// SHA-256 of any contiguous bytes (`Data`, `ArraySlice<UInt8>`, buffers).
public func sha256<D: ContiguousBytes>(_ data: D) -> [UInt8] {
    data.withUnsafeBytes { sha256($0) }
}

/// SHA-256 of raw memory; the other overloads funnel here.
public func sha256(_ data: UnsafeRawBufferPointer) -> [UInt8] {
    var digest = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
    digest.withUnsafeMutableBufferPointer { output in
        // EVP_Digest cannot fail for an in-memory SHA-256 short of allocation failure, in
        // which case the all-zero array is returned; that never equals a real digest.
        // A nil address with count 0 is fine: EVP_DigestUpdate returns early on empty input.
        // The fetched digest: the legacy `EVP_sha256()` made OpenSSL 3 look the implementation
        // up by name on every call (a hash per journal row in the chain).
        _ = enroll_EVP_Digest(data.baseAddress, data.count, output.baseAddress, nil, FetchedDigests.shared.digest(.sha256) ?? enroll_EVP_sha256(), nil)
    }
    return digest
}
