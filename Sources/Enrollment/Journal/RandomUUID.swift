import CryptoPrimitives
import Foundation

/// Version-4 UUIDs (RFC 9562 §5.4) as lower-case strings, from OpenSSL's CSPRNG.
///
/// Every command needs one per event (and callers often one for the command id). Foundation's
/// `UUID()` on Linux opens, reads and closes /dev/urandom for each, three system calls where
/// `RAND_bytes` needs none; profiling the command path showed it.
public enum RandomUUID {
    public static func string() -> String {
        guard var bytes = try? SecureRandom.bytes(16) else { return UUID().uuidString.lowercased() }
        bytes[6] = (bytes[6] & 0x0F) | 0x40  // version 4
        bytes[8] = (bytes[8] & 0x3F) | 0x80  // variant 10 (RFC 9562)
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
