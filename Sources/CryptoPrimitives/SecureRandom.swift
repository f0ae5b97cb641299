import COpenSSL
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Cryptographically secure random bytes from OpenSSL's DRBG (`RAND_bytes`), seeded by the OS.
///
/// Use it for TOTP secrets (RFC 4226 §4 R6 asks for at least 128 bits; 160 recommended)
/// and AES-GCM keys and nonces. The engine's decider never calls it: fresh secrets come in
/// through its context so replays stay deterministic.
///
/// Small draws (up to ``pooledLimit`` bytes: nonces, ids, keys, secrets) come from a block of
/// ``blockSize`` bytes that one `RAND_bytes` call fills. Each `RAND_bytes` call has a fixed
/// cost (the DRBG's locks, its fork check, re-keying its AES state after every request) that
/// was 7–8% of a group-committed command's CPU at six small draws per command
/// (BENCHMARKS.md, step 21). Bytes handed out are wiped from the block at once, so none is
/// ever given twice, and a block filled in another process (before a `fork`) is never used:
/// the child fills its own.
public enum SecureRandom {
    /// The largest draw served from the block; larger ones call `RAND_bytes` directly.
    public static let pooledLimit = 64
    /// Bytes asked of `RAND_bytes` at a time for small draws.
    public static let blockSize = 4096

    private struct Block: ~Copyable {
        var bytes = [UInt8](repeating: 0, count: SecureRandom.blockSize)
        /// Bytes before this offset were handed out (and wiped); the block starts empty.
        var next = SecureRandom.blockSize
        /// The process that filled the block.
        var owner: pid_t = 0
    }

    private static let block = Mutex(Block())

    /// `count` fresh random bytes. Throws ``CryptoError/randomFailed`` if the generator cannot
    /// be seeded or `count` is negative.
    public static func bytes(_ count: Int) throws -> [UInt8] {
        guard count >= 0, count <= Int(Int32.max) else { throw CryptoError.randomFailed }
        var bytes = [UInt8](repeating: 0, count: count)
        guard count > 0 else { return bytes }
        if count <= pooledLimit {
            try bytes.withUnsafeMutableBytes { try take(into: $0) }
            return bytes
        }
        try bytes.withUnsafeMutableBufferPointer { try fill($0.baseAddress!, count) }
        return bytes
    }

    /// Copies the block's next `buffer.count` bytes into `buffer` and wipes them in the block,
    /// refilling it first if it holds too few or another process filled it.
    private static func take(into buffer: UnsafeMutableRawBufferPointer) throws {
        let pid = getpid()
        try block.withLock { block in
            if block.next + buffer.count > block.bytes.count || block.owner != pid {
                try block.bytes.withUnsafeMutableBufferPointer { try fill($0.baseAddress!, $0.count) }
                block.next = 0
                block.owner = pid
            }
            block.bytes.withUnsafeMutableBytes { bytes in
                let taken = UnsafeMutableRawBufferPointer(rebasing: bytes[block.next..<(block.next + buffer.count)])
                buffer.copyMemory(from: UnsafeRawBufferPointer(taken))
                enroll_OPENSSL_cleanse(taken.baseAddress, taken.count)
            }
            block.next += buffer.count
        }
    }

    private static func fill(_ start: UnsafeMutablePointer<UInt8>, _ count: Int) throws {
        guard enroll_RAND_bytes(start, Int32(count)) == 1 else {
            enroll_ERR_clear_error()
            throw CryptoError.randomFailed
        }
    }
}
