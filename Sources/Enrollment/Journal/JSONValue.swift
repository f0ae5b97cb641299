import Foundation

/// A JSON value, for upcasting old event shapes field by field and for canonical output
/// (object keys sorted, no insignificant whitespace) so that equal events encode to equal bytes.
public enum JSONValue: Sendable, Hashable, Codable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Int64.self) { self = .int(value) }
        else if let value = try? container.decode(Double.self) { self = .double(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// Parses JSON text (see ``JSONParser``: bytes straight to values, no Foundation decoder).
    public static func parse(_ text: String) throws -> JSONValue {
        try JSONParser.parse(text)
    }

    /// Whether `bytes` are one JSON text as RFC 8259 has it: UTF-8 (§8.1; a leading byte order
    /// mark is ignored, as §8.1 allows), no lone surrogate escape (§7, §8.2), nothing but
    /// whitespace after the value (a NUL included). Foundation's decoder is laxer (it guesses
    /// UTF-16 and UTF-32, keeps a lone surrogate, stops at a NUL), so the API checks request
    /// bodies with this before decoding them.
    public static func isStrictJSON(_ bytes: some Collection<UInt8>) -> Bool {
        strictJSONProblem(bytes) == nil
    }

    /// What keeps `bytes` from being one JSON text as ``isStrictJSON(_:)`` has it, in a few
    /// words with the byte offset where it is ("unexpected ',' at byte 17"), or `nil`. Names
    /// no more than one byte of the input, escaped: it may be anything a client sent.
    public static func strictJSONProblem(_ bytes: some Collection<UInt8>) -> String? {
        let marked = bytes.starts(with: [0xEF, 0xBB, 0xBF])
        let unmarked = marked ? bytes.dropFirst(3) : bytes[...]
        guard let text = String(validating: unmarked, as: UTF8.self) else { return "it is not UTF-8" }
        let utf8 = Array(text.utf8), shift = marked ? 3 : 0
        func at(_ offset: Int) -> String {
            guard offset < utf8.count else { return "it ends too early (after byte \(offset + shift))" }
            let byte = utf8[offset]
            let shown = (0x21..<0x7F).contains(byte) ? "'\(Character(Unicode.Scalar(byte)))'" : String(format: "byte 0x%02X", byte)
            return "unexpected \(shown) at byte \(offset + shift)"
        }
        do throws(JSONParser.Failure) {
            _ = try JSONParser.parse(text)
            return nil
        } catch {
            switch error {
            // A control character in a string, a quote missing: at it.
            case .unexpected(let offset): return at(offset)
            case .unpairedSurrogate(let offset): return "the escape at byte \(offset + shift) is half of a surrogate pair (\\ud800-\\udfff), which no text holds"
            case .tooDeep: return "it nests deeper than \(JSONParser.maximumDepth) levels"
            case .trailingData(let offset): return "more follows the value, from byte \(offset + shift) (one JSON value only)"
            case .numberOutOfRange(let offset): return "the number at byte \(offset + shift) is too large"
            case .duplicateMember(let name, _): return "it names '\(TextField.escaped(String(name.prefix(32))))' twice"
            }
        }
    }

    /// The first member name an object in `text` repeats (at any depth), or nil when there is
    /// none or `text` is not JSON (the caller's own decoder reports that). Readers that must
    /// not pick one of two values silently (JWT claims, RFC 7519 §4; API request bodies) ask
    /// this before decoding.
    /// A leading byte order mark is passed over, as ``isStrictJSON(_:)`` and Foundation's
    /// decoder pass it over.
    public static func duplicateMember(in text: String) -> String? {
        do {
            _ = try JSONParser.parse(unmarked(text), rejectingDuplicates: true)
            return nil
        } catch {
            if case .duplicateMember(let name, _) = error { return name }
            return nil
        }
    }

    /// The names of the members of the object `text` holds (a leading byte order mark passed
    /// over, as ``duplicateMember(in:)`` does), or nil when it holds no JSON object.
    public static func memberNames(in text: String) -> [String]? {
        guard case .object(let members)? = try? JSONParser.parse(unmarked(text)) else { return nil }
        return Array(members.keys)
    }

    private static func unmarked(_ text: String) -> String {
        text.unicodeScalars.first == "\u{FEFF}" ? String(text.unicodeScalars.dropFirst()) : text
    }

    static func decode<T: Decodable>(_ object: [String: JSONValue]) throws -> T {
        try JSONValueCoder.decode(T.self, from: .object(object))
    }

    /// Sorted keys, no spaces: the form stored in the journal and hashed.
    public var canonicalString: String {
        var out = ""
        write(to: &out)
        return out
    }

    private func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .int(let value): out += String(value)
        case .double(let value): out += value.isFinite ? "\(value)" : "null"
        case .string(let value): JSONValue.writeString(value, to: &out)
        case .array(let values):
            out += "["
            for (index, value) in values.enumerated() {
                if index > 0 { out += "," }
                value.write(to: &out)
            }
            out += "]"
        case .object(let object):
            out += "{"
            // The members sorted by key (the same order as sorting the keys), each value taken
            // with its key rather than hashed for again.
            for (index, member) in object.sorted(by: { $0.key < $1.key }).enumerated() {
                if index > 0 { out += "," }
                JSONValue.writeString(member.key, to: &out)
                out += ":"
                member.value.write(to: &out)
            }
            out += "}"
        }
    }

    /// `value` as a JSON string in canonical form (also ``CanonicalObject``'s strings).
    static func writeString(_ value: String, to out: inout String) {
        out += "\""
        // Most strings (ids, names, base64) need no escape: appended whole, not scalar by scalar.
        if !value.utf8.contains(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") || $0 < 0x20 }) {
            out += value
            out += "\""
            return
        }
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let object) = self { return object[key] }
        return nil
    }
}
