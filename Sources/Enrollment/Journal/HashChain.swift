import CryptoPrimitives

/// Tamper evidence for the journal: each row's hash is
/// `SHA-256(previous hash ‖ canonical(row))`, the first row chaining to 32 zero bytes.
///
/// The canonical encoding is every stored column except the hash, in a fixed order, each as a
/// 4-byte big-endian length followed by its UTF-8 bytes (integers in decimal). Length prefixes
/// make the encoding unambiguous, so no two different rows encode alike.
public enum HashChain {
    public static let genesis = [UInt8](repeating: 0, count: 32)

    public static func hash(
        previous: [UInt8], position: Int64, streamId: String, streamVersion: Int64, eventId: String,
        type: String, schemaVersion: Int, data: String, metadata: String, recordedAt: UnixTime
    ) -> [UInt8] {
        var bytes = previous
        bytes.reserveCapacity(previous.count + data.utf8.count + metadata.utf8.count + 160)
        for field in [String(position), streamId, String(streamVersion), eventId, type, String(schemaVersion), data, metadata, String(recordedAt)] {
            let utf8 = field.utf8
            let count = UInt32(truncatingIfNeeded: utf8.count)
            bytes.append(contentsOf: [UInt8(count >> 24), UInt8((count >> 16) & 0xFF), UInt8((count >> 8) & 0xFF), UInt8(count & 0xFF)])
            bytes.append(contentsOf: utf8)
        }
        return sha256(bytes)
    }
}
