/// A zlib stream writer (RFC 1950) around a small DEFLATE encoder (RFC 1951).
///
/// The encoder emits one block with the fixed Huffman codes (RFC 1951 section 3.2.6) and looks for
/// back-references at only two distances: one byte (runs of a single value, i.e. long stretches of
/// light or dark pixels) and one scanline (a row repeating the row above, which is how every module
/// taller than one pixel looks). That is all the redundancy a QR code image has, so it shrinks a PNG
/// by a factor of ten or more without a general-purpose matcher or a dependency on zlib.
enum Zlib {
    /// - Parameter stride: the distance, in bytes, at which a repeat of earlier data is likely
    ///   (a PNG scanline including its filter byte). Ignored when larger than DEFLATE's window.
    static func compress(_ data: [UInt8], stride: Int = 0) -> [UInt8] {
        // CMF 0x78: deflate with a 32 KiB window; FLG 0x01 makes CMF*256+FLG a multiple of 31,
        // no preset dictionary, "fastest" level.
        var writer = BitWriter(bytes: [0x78, 0x01])
        Deflate.encodeFixedBlock(data, stride: stride, into: &writer)
        var stream = writer.finish()
        stream.appendBigEndian(Adler32.checksum(data))
        return stream
    }
}

/// Packs values into bytes least significant bit first, as DEFLATE requires (RFC 1951 section 3.1.1).
struct BitWriter {
    private(set) var bytes: [UInt8]
    private var pending: UInt32 = 0
    private var pendingCount = 0

    init(bytes: [UInt8] = []) {
        self.bytes = bytes
    }

    /// Appends the low `count` bits of `value`, least significant first (for header fields and
    /// extra bits).
    mutating func write(_ value: Int, bits count: Int) {
        pending |= UInt32(value) << UInt32(pendingCount)
        pendingCount += count
        while pendingCount >= 8 {
            bytes.append(UInt8(truncatingIfNeeded: pending))
            pending >>= 8
            pendingCount -= 8
        }
    }

    /// Appends a Huffman code, which DEFLATE stores most significant bit first.
    mutating func write(code: Int, length: Int) {
        var reversed = 0
        for bit in 0..<length where code & (1 << bit) != 0 {
            reversed |= 1 << (length - 1 - bit)
        }
        write(reversed, bits: length)
    }

    /// Pads the last byte with zero bits and returns everything written.
    mutating func finish() -> [UInt8] {
        if pendingCount > 0 { write(0, bits: 8 - pendingCount) }
        return bytes
    }
}

enum Deflate {
    /// DEFLATE's window: no back-reference may reach further.
    static let maxDistance = 32_768
    static let minMatch = 3
    static let maxMatch = 258

    /// Base match length for length codes 257 to 285, and their extra bits (RFC 1951 section 3.2.5).
    static let lengthBases = [
        3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258,
    ]
    static let lengthExtraBits = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0]
    /// Base distance for distance codes 0 to 29, and their extra bits.
    static let distanceBases = [
        1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097,
        6145, 8193, 12289, 16385, 24577,
    ]
    static let distanceExtraBits = [
        0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
    ]

    /// Writes `data` as a single final block with the fixed Huffman codes.
    static func encodeFixedBlock(_ data: [UInt8], stride: Int, into writer: inout BitWriter) {
        writer.write(1, bits: 1)  // BFINAL
        writer.write(1, bits: 2)  // BTYPE 01: fixed Huffman codes
        let distances = stride > 1 && stride <= maxDistance ? [stride, 1] : [1]

        var position = 0
        while position < data.count {
            var best = (length: 0, distance: 0)
            for distance in distances where distance <= position {
                let limit = min(maxMatch, data.count - position)
                var length = 0
                while length < limit, data[position + length] == data[position + length - distance] {
                    length += 1
                }
                if length > best.length { best = (length, distance) }
            }
            if best.length >= minMatch {
                writeMatch(length: best.length, distance: best.distance, into: &writer)
                position += best.length
            } else {
                writeLiteral(Int(data[position]), into: &writer)
                position += 1
            }
        }
        writeLiteral(256, into: &writer)  // end of block
    }

    /// A literal byte, or 256 for end of block, or a length code 257 to 285, in the fixed code.
    private static func writeLiteral(_ symbol: Int, into writer: inout BitWriter) {
        switch symbol {
        case 0...143: writer.write(code: 0x30 + symbol, length: 8)
        case 144...255: writer.write(code: 0x190 + symbol - 144, length: 9)
        case 256...279: writer.write(code: symbol - 256, length: 7)
        default: writer.write(code: 0xC0 + symbol - 280, length: 8)
        }
    }

    private static func writeMatch(length: Int, distance: Int, into writer: inout BitWriter) {
        let lengthIndex = lastIndex(in: lengthBases, notAbove: length)
        writeLiteral(257 + lengthIndex, into: &writer)
        writer.write(length - lengthBases[lengthIndex], bits: lengthExtraBits[lengthIndex])

        let distanceIndex = lastIndex(in: distanceBases, notAbove: distance)
        writer.write(code: distanceIndex, length: 5)  // fixed distance codes are all 5 bits
        writer.write(distance - distanceBases[distanceIndex], bits: distanceExtraBits[distanceIndex])
    }

    /// The index of the largest base that is at most `value`; the tables are ascending.
    private static func lastIndex(in bases: [Int], notAbove value: Int) -> Int {
        var index = 0
        while index + 1 < bases.count, bases[index + 1] <= value { index += 1 }
        return index
    }
}
