import Testing

@testable import QRCode

@Suite("Encoding text into a symbol")
struct EncodingTests {
    @Test("A symbol is square with a valid version size and finder patterns in three corners")
    func symbolShape() throws {
        let code = try QRCode(encoding: Fixtures.alice)
        // Version v has 4v + 17 modules per side (ISO/IEC 18004 section 5.3.1).
        #expect((code.size - 17) % 4 == 0)
        #expect((21...177).contains(code.size))
        let last = code.size - 1
        for (row, column) in [(0, 0), (0, last), (last, 0)] {
            #expect(code.isDark(row: row, column: column))
        }
        // The light separator around the top-left finder pattern.
        #expect(!code.isDark(row: 7, column: 0))
        #expect(!code.isDark(row: 0, column: 7))
    }

    @Test("Positions outside the symbol read as the light quiet zone")
    func outsideIsLight() throws {
        let code = try QRCode(encoding: Fixtures.alice)
        #expect(!code.isDark(row: -1, column: 0))
        #expect(!code.isDark(row: 0, column: -4))
        #expect(!code.isDark(row: code.size, column: 0))
        #expect(!code.isDark(row: 0, column: code.size + 3))
    }

    @Test("Longer text and stronger error correction need a larger symbol")
    func sizeGrows() throws {
        let short = try QRCode(encoding: Fixtures.alice)
        let long = try QRCode(encoding: Fixtures.longSHA512)
        #expect(long.size > short.size)
        let low = try QRCode(encoding: Fixtures.longSHA512, errorCorrection: .low)
        let high = try QRCode(encoding: Fixtures.longSHA512, errorCorrection: .high)
        #expect(high.size > low.size)
    }

    @Test("Encoding is deterministic and case-sensitive")
    func equality() throws {
        #expect(try QRCode(encoding: Fixtures.alice) == QRCode(encoding: Fixtures.alice))
        #expect(try QRCode(encoding: "otpauth://totp/a?secret=ABC") != QRCode(encoding: "otpauth://totp/A?secret=ABC"))
    }

    @Test("Text that fills a version 40 symbol is accepted")
    func largestTextFits() throws {
        let code = try QRCode(encoding: String(repeating: "a", count: 2331), errorCorrection: .medium)
        #expect(code.size == 177)
    }

    @Test("Text too long for any QR code is a typed error that says the limit", arguments: QRCode.ErrorCorrection.allCases)
    func textTooLong(level: QRCode.ErrorCorrection) throws {
        let limit = level.byteModeCapacity
        let text = "otpauth://totp/x?secret=" + String(repeating: "A", count: limit)
        let error = #expect(throws: QRCodeError.self) {
            try QRCode(encoding: text, errorCorrection: level)
        }
        #expect(error == .textTooLong(byteCount: text.utf8.count, limit: limit, errorCorrection: level))
        #expect(error?.code == "qr.text_too_long")
        #expect(error?.message.contains("at most \(limit)") == true)
    }

    @Test("Byte counts, not characters, decide whether text fits")
    func multibyteTextTooLong() throws {
        // 1166 two-byte characters are 2332 bytes: one over the medium limit.
        let error = #expect(throws: QRCodeError.self) {
            try QRCode(encoding: String(repeating: "ü", count: 1166))
        }
        #expect(error == .textTooLong(byteCount: 2332, limit: 2331, errorCorrection: .medium))
    }

    @Test("Empty text is a typed error")
    func emptyText() throws {
        let error = #expect(throws: QRCodeError.self) { try QRCode(encoding: "") }
        #expect(error == .emptyText)
        #expect(error?.code == "qr.empty_text")
    }

    @Test("Every error has a distinct stable code and a message")
    func errorCodes() {
        let errors: [QRCodeError] = [
            .emptyText, .textTooLong(byteCount: 3000, limit: 2331, errorCorrection: .medium), .encoderFailed(errno: 12),
        ]
        #expect(Set(errors.map(\.code)).count == errors.count)
        for error in errors {
            #expect(error.code.hasPrefix("qr."))
            #expect(!error.message.isEmpty)
            #expect(error.description.contains(error.code))
        }
    }
}
