/// A black-and-white raster image, and its encoding as a PNG file.
///
/// Kept to what a QR code needs: two colours, so the PNG is 1-bit greyscale (colour type 0, bit
/// depth 1), the smallest format every decoder accepts.
struct Bitmap: Sendable, Equatable {
    let width: Int
    let height: Int
    /// Row-major, `true` for a dark pixel.
    private(set) var pixels: [Bool]

    /// A light image of the given size.
    init(width: Int, height: Int) {
        self.width = width
        self.height = height
        self.pixels = Array(repeating: false, count: width * height)
    }

    subscript(x: Int, y: Int) -> Bool {
        get { pixels[y * width + x] }
        set { pixels[y * width + x] = newValue }
    }

    /// Darkens a rectangle, clipped to the image.
    mutating func fill(x: Int, y: Int, width rectWidth: Int, height rectHeight: Int) {
        for row in max(0, y)..<min(height, y + rectHeight) {
            for column in max(0, x)..<min(width, x + rectWidth) {
                pixels[row * width + column] = true
            }
        }
    }

    /// The image as a PNG file (PNG specification, ISO/IEC 15948): signature, `IHDR`, one `IDAT`
    /// holding a zlib stream of the filtered scanlines, and `IEND`.
    func png() -> [UInt8] {
        // Each scanline is filter type 0 (None) followed by the pixels, eight to a byte, most
        // significant bit first; in greyscale a set bit is white, so dark pixels are 0 bits.
        let rowBytes = (width + 7) / 8
        var scanlines: [UInt8] = []
        scanlines.reserveCapacity((rowBytes + 1) * height)
        for y in 0..<height {
            scanlines.append(0)
            for byteIndex in 0..<rowBytes {
                var byte: UInt8 = 0
                for bit in 0..<8 {
                    let x = byteIndex * 8 + bit
                    if x < width, !self[x, y] { byte |= 0x80 >> UInt8(bit) }
                }
                scanlines.append(byte)
            }
        }

        var header: [UInt8] = []
        header.appendBigEndian(UInt32(width))
        header.appendBigEndian(UInt32(height))
        // Bit depth 1, colour type 0 (greyscale), compression 0, filter 0, no interlace.
        header += [1, 0, 0, 0, 0]

        var file: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
        file.appendChunk("IHDR", header)
        file.appendChunk("IDAT", Zlib.compress(scanlines, stride: rowBytes + 1))
        file.appendChunk("IEND", [])
        return file
    }
}

extension [UInt8] {
    mutating func appendBigEndian(_ value: UInt32) {
        append(UInt8(truncatingIfNeeded: value >> 24))
        append(UInt8(truncatingIfNeeded: value >> 16))
        append(UInt8(truncatingIfNeeded: value >> 8))
        append(UInt8(truncatingIfNeeded: value))
    }

    /// A PNG chunk: length, type, data, and the CRC-32 of type and data.
    mutating func appendChunk(_ type: StaticString, _ data: [UInt8]) {
        let typeBytes = type.withUTF8Buffer { Array($0) }
        appendBigEndian(UInt32(data.count))
        append(contentsOf: typeBytes)
        append(contentsOf: data)
        appendBigEndian(CRC32.checksum(typeBytes + data))
    }
}
