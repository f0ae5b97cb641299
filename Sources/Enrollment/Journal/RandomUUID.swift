import CryptoPrimitives
import Foundation

/// UUIDs as lower-case strings, from OpenSSL's CSPRNG: random ones (version 4, RFC 9562 §5.4)
/// and time-ordered ones (version 7, §5.7).
///
/// Every command needs one per event (and callers often one for the command id). Foundation's
/// `UUID()` on Linux opens, reads and closes /dev/urandom for each, three system calls where
/// `RAND_bytes` needs none; profiling the command path showed it.
public enum RandomUUID {
    /// A version-4 UUID: 122 random bits.
    public static func string() -> String {
        guard var bytes = try? SecureRandom.bytes(16) else { return UUID().uuidString.lowercased() }
        bytes[6] = (bytes[6] & 0x0F) | 0x40  // version 4
        bytes[8] = (bytes[8] & 0x3F) | 0x80  // variant 10 (RFC 9562)
        return format(bytes)
    }

    /// A version-7 UUID: the Unix time in milliseconds (48 bits, from the system clock, not
    /// the injected one: it orders ids, it is not a time anyone reads), then 74 random bits.
    ///
    /// The default command id (``CommandEnvelope``). The `commands` table is keyed by it, so
    /// ids that grow with time are inserted at the right edge of its B-tree: a batch of
    /// commands writes a page or two of it, where random ids wrote a page per command, each
    /// also read before being written (`strace` of 12 000 group-committed commands: 44 612
    /// `pwrite`s and 22 700 `pread`s with random ids, 19 571 and 10 366 with these).
    public static func timeOrdered() -> String {
        guard var bytes = try? SecureRandom.bytes(16) else { return string() }
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let milliseconds = UInt64(max(now.tv_sec, 0)) &* 1000 &+ UInt64(max(now.tv_nsec, 0) / 1_000_000)
        for index in 0..<6 { bytes[index] = UInt8(truncatingIfNeeded: milliseconds >> (40 - 8 * index)) }
        bytes[6] = (bytes[6] & 0x0F) | 0x70  // version 7
        bytes[8] = (bytes[8] & 0x3F) | 0x80  // variant 10 (RFC 9562)
        return format(bytes)
    }

    /// 8-4-4-4-12 lower-case hexadecimal digits.
    static func format(_ bytes: [UInt8]) -> String {
        let hex = Array("0123456789abcdef".utf8)
        var text = [UInt8]()
        text.reserveCapacity(36)
        for (index, byte) in bytes.enumerated() {
            if index == 4 || index == 6 || index == 8 || index == 10 { text.append(UInt8(ascii: "-")) }
            text.append(hex[Int(byte >> 4)])
            text.append(hex[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
