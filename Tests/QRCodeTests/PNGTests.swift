import Testing
import TestSupport

@testable import QRCode

@Suite("PNG files")
struct PNGTests {
    @Test("A PNG has the signature, IHDR, IDAT, IEND and valid CRCs", arguments: [1, 3, 8])
    func structure(scale: Int) throws {
        let code = try QRCode(encoding: Fixtures.alice)
        let png = try PNGChunks(code.png(scale: scale))
        #expect(png.chunks.map(\.type) == ["IHDR", "IDAT", "IEND"])
        for chunk in png.chunks {
            #expect(chunk.storedCRC == chunk.computedCRC, "CRC of \(chunk.type)")
        }
        let header = try #require(png.chunks.first).data
        let pixels = UInt32((code.size + 8) * scale)
        #expect(header.count == 13)
        #expect(PNGChunks.bigEndian(header, at: 0) == pixels)
        #expect(PNGChunks.bigEndian(header, at: 4) == pixels)
        // 1-bit greyscale, deflate, adaptive filtering, no interlace.
        #expect(Array(header[8...]) == [1, 0, 0, 0, 0])
        #expect(png.chunks.last?.data.isEmpty == true)
    }

    @Test("The image data decompresses to scanlines that match the modules")
    func pixelsMatchModules() throws {
        let code = try QRCode(encoding: Fixtures.zurich)
        let scale = 2
        let png = try PNGChunks(code.png(scale: scale))
        let idat = try #require(png.chunks.first { $0.type == "IDAT" }).data
        let scanlines = try Inflate.zlib(idat)
        let side = (code.size + 8) * scale
        let rowBytes = (side + 7) / 8
        #expect(scanlines.count == (rowBytes + 1) * side)
        for y in 0..<side {
            let row = Array(scanlines[(y * (rowBytes + 1))..<((y + 1) * (rowBytes + 1))])
            #expect(row[0] == 0, "filter type None")
            for x in 0..<side {
                let white = row[1 + x / 8] & (0x80 >> UInt8(x % 8)) != 0
                let dark = code.isDark(row: y / scale - 4, column: x / scale - 4)
                #expect(white != dark, "pixel \(x), \(y)")
            }
        }
    }

    @Test("Compressed data round-trips, whatever its shape", arguments: [0, 1, 7, 64])
    func deflateRoundTrips(stride: Int) throws {
        var generator = SplitMix64(seed: 42)
        let samples: [[UInt8]] = [
            [],
            [7],
            Array(repeating: 0, count: 100_000),
            (0..<70_000).map { UInt8(truncatingIfNeeded: $0 &* 31) },
            (0..<20_000).map { _ in UInt8(truncatingIfNeeded: generator.next() % 3) },
            (0..<20_000).map { _ in UInt8(truncatingIfNeeded: generator.next()) },
        ]
        for data in samples {
            #expect(try Inflate.zlib(Zlib.compress(data, stride: stride)) == data)
        }
    }

    @Test("A typical code's PNG is a few kilobytes, not tens")
    func pngIsCompact() throws {
        let code = try QRCode(encoding: Fixtures.alice)
        let png = code.png(scale: 8)
        let side = (code.size + 8) * 8
        let uncompressed = ((side + 7) / 8 + 1) * side
        #expect(png.count * 8 < uncompressed, "\(png.count) bytes")
    }

    @Test("Rows wider than DEFLATE's 32 KiB window still make a valid PNG")
    func wideImage() throws {
        // 320,000 pixels are 40,000 bytes a row, so a row cannot refer back to the one above.
        var bitmap = Bitmap(width: 320_000, height: 2)
        bitmap.fill(x: 0, y: 0, width: 11_000, height: 1)
        let png = try PNGChunks(bitmap.png())
        #expect(png.chunks.allSatisfy { $0.storedCRC == $0.computedCRC })
        let idat = try #require(png.chunks.first { $0.type == "IDAT" }).data
        let scanlines = try Inflate.zlib(idat)
        #expect(scanlines.count == 2 * ((bitmap.width + 7) / 8 + 1))
    }

    @Test("CRC-32 and Adler-32 match their published check values")
    func checksums() {
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
        #expect(CRC32.checksum([]) == 0)
        #expect(Adler32.checksum(Array("Wikipedia".utf8)) == 0x11E6_0398)
        #expect(Adler32.checksum([]) == 1)
        // Long enough to exercise the deferred modulo.
        #expect(Adler32.checksum(Array(repeating: 0xFF, count: 100_000)) == 0x149A_302C)
    }
}

/// An independent zlib reader for the two DEFLATE block types the encoder could emit (stored and
/// fixed Huffman), checking the header and the Adler-32 trailer. Written from RFC 1951 rather than
/// from the encoder, so a shared misunderstanding would also have to fool `zbarimg`'s real zlib.
enum Inflate {
    struct Malformed: Error { let reason: String }

    private struct BitReader {
        let bytes: [UInt8]
        var bitPosition: Int

        mutating func bits(_ count: Int) throws -> Int {
            var value = 0
            for index in 0..<count {
                guard bitPosition / 8 < bytes.count else { throw Malformed(reason: "ran out of data") }
                let bit = Int(bytes[bitPosition / 8] >> UInt8(bitPosition % 8)) & 1
                value |= bit << index
                bitPosition += 1
            }
            return value
        }

        /// One fixed-code literal/length symbol: codes are read most significant bit first.
        mutating func fixedSymbol() throws -> Int {
            var code = 0
            for length in 1...9 {
                code = code << 1 | (try bits(1))
                switch (length, code) {
                case (7, 0...0b0010111): return 256 + code
                case (8, 0b0011_0000...0b1011_1111): return code - 0b0011_0000
                case (8, 0b1100_0000...0b1100_0111): return 280 + code - 0b1100_0000
                case (9, 0b1_1001_0000...0b1_1111_1111): return 144 + code - 0b1_1001_0000
                default: continue
                }
            }
            throw Malformed(reason: "invalid fixed code")
        }

        mutating func alignToByte() { bitPosition = (bitPosition + 7) / 8 * 8 }
    }

    static func zlib(_ stream: [UInt8]) throws -> [UInt8] {
        guard stream.count >= 6 else { throw Malformed(reason: "too short") }
        guard stream[0] & 0x0F == 8, (UInt16(stream[0]) << 8 | UInt16(stream[1])) % 31 == 0 else {
            throw Malformed(reason: "bad zlib header")
        }
        var reader = BitReader(bytes: stream, bitPosition: 16)
        var output: [UInt8] = []
        var isFinal = false
        while !isFinal {
            isFinal = try reader.bits(1) == 1
            switch try reader.bits(2) {
            case 0:
                reader.alignToByte()
                let length = try reader.bits(16)
                guard try reader.bits(16) == length ^ 0xFFFF else { throw Malformed(reason: "LEN/NLEN mismatch") }
                for _ in 0..<length { output.append(UInt8(try reader.bits(8))) }
            case 1:
                while true {
                    let symbol = try reader.fixedSymbol()
                    if symbol < 256 {
                        output.append(UInt8(symbol))
                        continue
                    }
                    if symbol == 256 { break }
                    let lengthIndex = symbol - 257
                    guard lengthIndex < Deflate.lengthBases.count else { throw Malformed(reason: "bad length code") }
                    let length = Deflate.lengthBases[lengthIndex] + (try reader.bits(Deflate.lengthExtraBits[lengthIndex]))
                    var distanceCode = 0
                    for _ in 0..<5 { distanceCode = distanceCode << 1 | (try reader.bits(1)) }
                    guard distanceCode < 30 else { throw Malformed(reason: "bad distance code") }
                    let distance = Deflate.distanceBases[distanceCode] + (try reader.bits(Deflate.distanceExtraBits[distanceCode]))
                    guard distance <= output.count else { throw Malformed(reason: "distance before start") }
                    for _ in 0..<length { output.append(output[output.count - distance]) }
                }
            default:
                throw Malformed(reason: "unexpected block type")
            }
        }
        reader.alignToByte()
        let trailer = reader.bitPosition / 8
        guard trailer + 4 == stream.count else { throw Malformed(reason: "trailing or missing bytes") }
        guard PNGChunks.bigEndian(stream, at: trailer) == Adler32.checksum(output) else {
            throw Malformed(reason: "Adler-32 mismatch")
        }
        return output
    }
}
