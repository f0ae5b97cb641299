import Foundation
import Testing
import TestSupport

@testable import QRCode

/// otpauth URIs shaped like the ones the engine hands out: a percent-encoded account, a
/// percent-encoded non-ASCII issuer, and a long SHA-512 key that needs a larger symbol.
enum Fixtures {
    static let alice =
        "otpauth://totp/Example:alice%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=Example"
    static let zurich =
        "otpauth://totp/Z%C3%BCrich%20Bank:bob?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        + "&issuer=Z%C3%BCrich%20Bank&algorithm=SHA1&digits=6&period=30"
    static let longSHA512 =
        "otpauth://totp/ACME%20Corporation%20Europe:john.doe%2Bsecurity%40subsidiary.example.com"
        + "?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
        + "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJ"
        + "&issuer=ACME%20Corporation%20Europe&algorithm=SHA512&digits=8&period=60"

    static let uris = [alice, zurich, longSHA512]
}

/// A file in a fresh temporary directory, removed by the caller with `cleanUp()`.
struct TemporaryFile {
    let url: URL

    init(named name: String, contents: [UInt8]) throws {
        let directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("QRCodeTests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        url = directory.appendingPathComponent(name)
        try Data(contents).write(to: url)
    }

    func cleanUp() {
        try? FileManager.default.removeItem(at: url.deletingLastPathComponent())
    }
}

/// Runs external tools the way a person checking the output by hand would. A missing tool is
/// a failure that names the Debian package to install, never a skip: a missing scanner must
/// not let an unscannable code pass.
enum Tool {
    /// The text of the one QR code in an image file, as decoded by the real `zbarimg`.
    static func scan(_ file: URL) throws -> String {
        let zbarimg = try Processes.tool("zbarimg", package: "zbar-tools")
        let output = try Processes.output(zbarimg, ["--quiet", "--raw", file.path])
        // zbarimg ends each decoded symbol with a newline.
        return output.hasSuffix("\n") ? String(output.dropLast()) : output
    }

    /// Scans PNG bytes by writing them to a temporary file.
    static func scan(png: [UInt8]) throws -> String {
        let file = try TemporaryFile(named: "code.png", contents: png)
        defer { file.cleanUp() }
        return try scan(file.url)
    }
}

/// A PNG file split into chunks, to check the structure every decoder relies on.
struct PNGChunks {
    struct Chunk {
        let type: String
        let data: [UInt8]
        let storedCRC: UInt32
        let computedCRC: UInt32
    }

    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    let chunks: [Chunk]

    init(_ file: [UInt8]) throws {
        guard file.starts(with: Self.signature) else { throw Malformed(reason: "no PNG signature") }
        var offset = Self.signature.count
        var chunks: [Chunk] = []
        while offset < file.count {
            guard offset + 12 <= file.count else { throw Malformed(reason: "truncated chunk header") }
            let length = Int(Self.bigEndian(file, at: offset))
            let typeRange = (offset + 4)..<(offset + 8)
            let dataRange = (offset + 8)..<(offset + 8 + length)
            guard dataRange.upperBound + 4 <= file.count else { throw Malformed(reason: "truncated chunk") }
            chunks.append(
                Chunk(
                    type: String(decoding: file[typeRange], as: UTF8.self),
                    data: Array(file[dataRange]),
                    storedCRC: Self.bigEndian(file, at: dataRange.upperBound),
                    computedCRC: CRC32.checksum(file[typeRange.lowerBound..<dataRange.upperBound])))
            offset = dataRange.upperBound + 4
        }
        self.chunks = chunks
    }

    struct Malformed: Error { let reason: String }

    static func bigEndian(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        bytes[offset..<(offset + 4)].reduce(0) { $0 << 8 | UInt32($1) }
    }
}

/// Turns the half-block text a terminal would show back into the picture a phone camera would
/// see, so the terminal rendering can be scanned like the others.
enum TerminalPicture {
    /// - Parameters:
    ///   - text: the output of `terminalString(invert:)`.
    ///   - glyphsAreLight: whether the terminal paints glyphs lighter than its background
    ///     (a dark theme).
    ///   - margin: cells of bare terminal background drawn around the text, as on a real screen.
    static func bitmap(of text: String, glyphsAreLight: Bool, margin: Int = 4, scale: Int = 6) throws -> Bitmap {
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let columns = lines.map { $0.unicodeScalars.count }.max() ?? 0
        let rows = lines.count * 2
        var image = Bitmap(width: (columns + 2 * margin) * scale, height: (rows + 2 * margin) * scale)
        // Start with everything "glyph-free": dark on a dark theme, light on a light one.
        let backgroundIsDark = glyphsAreLight
        func paint(row: Int, column: Int, covered: Bool) {
            let dark = covered ? !glyphsAreLight : backgroundIsDark
            if dark {
                image.fill(x: column * scale, y: row * scale, width: scale, height: scale)
            } else {
                image.clear(x: column * scale, y: row * scale, width: scale, height: scale)
            }
        }
        for row in 0..<(rows + 2 * margin) {
            for column in 0..<(columns + 2 * margin) { paint(row: row, column: column, covered: false) }
        }
        for (lineIndex, line) in lines.enumerated() {
            for (columnIndex, scalar) in line.unicodeScalars.enumerated() {
                let halves: (top: Bool, bottom: Bool)
                switch scalar {
                case " ": halves = (false, false)
                case "▀": halves = (true, false)
                case "▄": halves = (false, true)
                case "█": halves = (true, true)
                default: throw UnexpectedGlyph(scalar: scalar)
                }
                let column = columnIndex + margin
                let top = lineIndex * 2 + margin
                paint(row: top, column: column, covered: halves.top)
                paint(row: top + 1, column: column, covered: halves.bottom)
            }
        }
        return image
    }

    struct UnexpectedGlyph: Error { let scalar: Unicode.Scalar }
}

extension Bitmap {
    /// Clears a rectangle to light; `fill` only darkens.
    mutating func clear(x: Int, y: Int, width rectWidth: Int, height rectHeight: Int) {
        for row in y..<(y + rectHeight) {
            for column in x..<(x + rectWidth) { self[column, row] = false }
        }
    }
}
