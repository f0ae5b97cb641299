import Foundation

/// Reading a fixture file's JSON so that a syntax problem is named where it is: a fixture is
/// edited by hand, and "not a JSON object" sends its author looking for a missing brace when
/// the file holds a bad byte, a stray `}` after the object or a number no double holds.
enum FixtureJSON {
    /// The file's bytes as text, or why they are not UTF-8 JSON text (RFC 8259 §8.1: UTF-8;
    /// a leading byte order mark is ignored, as that section allows).
    static func text(of data: Data, file: String, what: String = "it") throws(FixtureError) -> String {
        var bytes = [UInt8](data)
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { bytes.removeFirst(3) }
        if let text = String(validating: bytes, as: UTF8.self) { return text }
        var iterator = bytes.makeIterator()
        var parser = Unicode.UTF8.ForwardParser()
        var offset = 0
        while case .valid(let scalar) = parser.parseScalar(from: &iterator) { offset += scalar.count }
        guard offset < bytes.count else { return String(decoding: bytes, as: UTF8.self) }
        let (line, column) = position(of: offset, in: bytes)
        throw FixtureError(file: file, reason: "\(what) is not UTF-8 text: byte \(offset + 1) (line \(line), column \(column)) is 0x\(String(bytes[offset], radix: 16, uppercase: true)); save the file as UTF-8")
    }

    /// Why `text` does not parse, for a one-line message (`text` is what was parsed).
    static func reason(_ failure: JSONParser.Failure, in text: String) -> String {
        let bytes = Array(text.utf8)
        func at(_ offset: Int) -> String { place(of: offset, in: bytes) }
        switch failure {
        case .duplicateMember(let member, let offset):
            return "the member \"\(member.prefix(40))\" appears more than once in an object (again at \(at(offset))); keep one"
        case .tooDeep:
            return "arrays and objects are nested deeper than \(JSONParser.maximumDepth) levels"
        case .numberOutOfRange(let offset):
            let number = bytes[offset...].prefix { !whitespace.contains($0) && !delimiters.contains($0) }
            return "the number \(String(decoding: number.prefix(40), as: UTF8.self)) at \(at(offset)) is out of range (no double holds it)"
        case .unpairedSurrogate(let offset):
            let escape = String(decoding: bytes[offset..<min(offset + 6, bytes.count)], as: UTF8.self)
            return "the escape \(escape) at \(at(offset)) is an unpaired surrogate (RFC 8259 §7: \\ud800-\\udbff must be followed by \\udc00-\\udfff); write the pair, or the character itself"
        case .trailingData(let offset):
            return "\(character(at: offset, in: bytes)) at \(at(offset)) follows the end of the JSON value; a file holds one object, so remove what follows it"
        case .unexpected where bytes.allSatisfy(whitespace.contains):
            return "the file is empty"
        case .unexpected(let offset) where offset >= bytes.count:
            return "the JSON ends early (at \(at(offset))): a string, array or object is not closed"
        case .unexpected(let offset) where bytes[offset] < 0x20 && !whitespace.contains(bytes[offset]):
            return "the control character \(character(at: offset, in: bytes)) at \(at(offset)) is not valid JSON; inside a string, escape it (\\u00\(String(bytes[offset], radix: 16, uppercase: true).leftPadded(to: 2)))"
        case .unexpected(let offset):
            return "\(character(at: offset, in: bytes)) at \(at(offset)) is not valid JSON there"
        }
    }

    /// "line L, column C" of a byte offset into `bytes`, for a message.
    static func place(of offset: Int, in bytes: [UInt8]) -> String {
        let (line, column) = position(of: offset, in: bytes)
        return "line \(line), column \(column)"
    }

    /// RFC 8259 §2: the whitespace between tokens, and what ends a number.
    private static let whitespace: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0D]
    private static let delimiters: Set<UInt8> = [UInt8(ascii: ","), UInt8(ascii: "]"), UInt8(ascii: "}")]

    /// The character starting at `offset`, quoted, or its code point when it does not print.
    private static func character(at offset: Int, in bytes: [UInt8]) -> String {
        let scalar = String(decoding: bytes[offset...].prefix(4), as: UTF8.self).unicodeScalars.first ?? "\u{FFFD}"
        if scalar.properties.generalCategory == .control || scalar.properties.isWhitespace || scalar == "\u{FFFD}" {
            return Validation.codePoint(scalar)
        }
        return "'\(scalar)'"
    }

    /// 1-based line and column (in characters, as editors count) of a byte offset.
    static func position(of offset: Int, in bytes: [UInt8]) -> (line: Int, column: Int) {
        let before = bytes[..<min(offset, bytes.count)]
        let lineStart = (before.lastIndex(of: 0x0A) ?? -1) + 1
        let line = before.reduce(1) { $0 + ($1 == 0x0A ? 1 : 0) }
        // Continuation bytes (10xxxxxx) do not start a character.
        let column = bytes[lineStart..<before.endIndex].reduce(1) { $0 + ($1 & 0xC0 == 0x80 ? 0 : 1) }
        return (line, column)
    }
}

private extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
