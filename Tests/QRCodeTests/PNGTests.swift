import Testing

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
        let scanlines = try Inflate.stored(idat)
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

    @Test("Large images split their data across several stored blocks")
    func multipleBlocks() throws {
        let data = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        #expect(try Inflate.stored(Zlib.compress(data)) == data)
        #expect(try Inflate.stored(Zlib.compress([])) == [])
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

/// Reads back a zlib stream made of stored blocks, checking the header and the Adler-32 trailer.
enum Inflate {
    struct Malformed: Error { let reason: String }

    static func stored(_ stream: [UInt8]) throws -> [UInt8] {
        guard stream.count >= 6 else { throw Malformed(reason: "too short") }
        guard stream[0] & 0x0F == 8, (UInt16(stream[0]) << 8 | UInt16(stream[1])) % 31 == 0 else {
            throw Malformed(reason: "bad zlib header")
        }
        var output: [UInt8] = []
        var offset = 2
        while true {
            let header = stream[offset]
            guard header & 0b110 == 0 else { throw Malformed(reason: "not a stored block") }
            let length = Int(stream[offset + 1]) | Int(stream[offset + 2]) << 8
            let complement = Int(stream[offset + 3]) | Int(stream[offset + 4]) << 8
            guard length ^ complement == 0xFFFF else { throw Malformed(reason: "LEN/NLEN mismatch") }
            output += stream[(offset + 5)..<(offset + 5 + length)]
            offset += 5 + length
            if header & 1 == 1 { break }
        }
        guard PNGChunks.bigEndian(stream, at: offset) == Adler32.checksum(output) else {
            throw Malformed(reason: "Adler-32 mismatch")
        }
        guard offset + 4 == stream.count else { throw Malformed(reason: "trailing bytes") }
        return output
    }
}
