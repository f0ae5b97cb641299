/// A zlib stream writer (RFC 1950) around DEFLATE stored blocks (RFC 1951 section 3.2.4).
///
/// Stored blocks do not compress, but they need no Huffman coding, cannot be decoded wrongly, and
/// every PNG reader accepts them. A QR code image is small enough that the size does not matter.
enum Zlib {
    /// The largest payload of one stored block: its length field is 16 bits.
    private static let maxStoredBlock = 65_535

    static func compress(_ data: [UInt8]) -> [UInt8] {
        // CMF 0x78: deflate with a 32 KiB window; FLG 0x01 makes CMF*256+FLG a multiple of 31,
        // no preset dictionary, "fastest" level.
        var stream: [UInt8] = [0x78, 0x01]
        stream.reserveCapacity(data.count + data.count / maxStoredBlock * 5 + 16)
        var start = 0
        repeat {
            let end = min(data.count, start + maxStoredBlock)
            let isFinal = end == data.count
            let length = UInt16(end - start)
            // BFINAL in bit 0, BTYPE 00 (stored); the rest of the byte is padding to the boundary.
            stream.append(isFinal ? 1 : 0)
            stream.append(UInt8(truncatingIfNeeded: length))
            stream.append(UInt8(truncatingIfNeeded: length >> 8))
            stream.append(UInt8(truncatingIfNeeded: ~length))
            stream.append(UInt8(truncatingIfNeeded: ~length >> 8))
            stream.append(contentsOf: data[start..<end])
            start = end
        } while start < data.count
        stream.appendBigEndian(Adler32.checksum(data))
        return stream
    }
}
