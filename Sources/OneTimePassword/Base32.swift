/// Base32 (RFC 4648 §6, alphabet `A-Z2-7`), the encoding authenticator apps expect for
/// secrets in `otpauth://` URIs and for manual entry.
public enum Base32 {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".utf8)

    /// Encodes without `=` padding: the Key URI Format says to omit it, and people typing
    /// a secret by hand should not have to type it.
    public static func encode(_ bytes: [UInt8]) -> String {
        var output: [UInt8] = []
        output.reserveCapacity((bytes.count * 8 + 4) / 5)
        var buffer: UInt32 = 0
        var bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | UInt32(byte)
            bits += 8
            while bits >= 5 {
                bits -= 5
                output.append(alphabet[Int((buffer >> UInt32(bits)) & 0x1F)])
            }
        }
        if bits > 0 {
            output.append(alphabet[Int((buffer << UInt32(5 - bits)) & 0x1F)])
        }
        return String(decoding: output, as: UTF8.self)
    }

    /// Decodes text a person may have typed or pasted.
    ///
    /// Letters are case-insensitive and spaces are ignored (apps show secrets in groups of
    /// four). `=` padding is accepted only as a trailing run that completes an 8-character
    /// block. Returns nil for any other character (including `-`, and the digits 0, 1, 8, 9
    /// that RFC 4648 leaves out to avoid confusion with O, I and B) and for a length no byte
    /// string encodes to (1, 3 or 6 characters in the last block). Unused trailing bits are
    /// ignored, as most authenticator apps do.
    public static func decode(_ text: String) -> [UInt8]? {
        var symbols: [UInt8] = []
        symbols.reserveCapacity(text.utf8.count)
        var padding = 0
        for byte in text.utf8 {
            if byte == UInt8(ascii: " ") { continue }
            if byte == UInt8(ascii: "=") {
                padding += 1
                continue
            }
            // Padding may only trail the data.
            guard padding == 0, let value = value(of: byte) else { return nil }
            symbols.append(value)
        }
        let remainder = symbols.count % 8
        // RFC 4648 §6: a final quantum of 8, 16, 24 or 32 bits leaves 2, 4, 5 or 7 symbols.
        guard [0, 2, 4, 5, 7].contains(remainder) else { return nil }
        if padding > 0 {
            guard remainder != 0, remainder + padding == 8 else { return nil }
        }

        var output: [UInt8] = []
        output.reserveCapacity(symbols.count * 5 / 8)
        var buffer: UInt32 = 0
        var bits = 0
        for symbol in symbols {
            buffer = (buffer << 5) | UInt32(symbol)
            bits += 5
            if bits >= 8 {
                bits -= 8
                output.append(UInt8(truncatingIfNeeded: buffer >> UInt32(bits)))
            }
        }
        return output
    }

    private static func value(of byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): byte - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): byte - UInt8(ascii: "a")
        case UInt8(ascii: "2")...UInt8(ascii: "7"): byte - UInt8(ascii: "2") + 26
        default: nil
        }
    }
}
