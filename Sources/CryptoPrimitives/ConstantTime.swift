import COpenSSL

/// Compares two byte strings in time that depends only on their lengths (`CRYPTO_memcmp`),
/// so an attacker probing a MAC or token learns nothing from how long a mismatch takes.
/// Different lengths return `false` immediately: lengths are not secret here.
public func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    guard a.count == b.count else { return false }
    guard !a.isEmpty else { return true }
    return a.withUnsafeBytes { left in
        b.withUnsafeBytes { right in
            enroll_CRYPTO_memcmp(left.baseAddress, right.baseAddress, left.count) == 0
        }
    }
}

/// Overwrites `bytes` with zeros in a way the optimiser may not remove (`OPENSSL_cleanse`),
/// for secrets that are done with. The array keeps its length.
///
/// Swift arrays may have been copied before this call (copy-on-write, reallocation);
/// only the storage `bytes` refers to now is wiped.
public func secureZero(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { buffer in
        if let base = buffer.baseAddress {
            enroll_OPENSSL_cleanse(base, buffer.count)
        }
    }
}
