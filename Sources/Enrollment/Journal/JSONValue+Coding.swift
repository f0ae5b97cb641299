/// `Codable` straight to and from ``JSONValue``, without going through JSON text.
///
/// Event payloads are `Codable` structs; the journal stores them as canonical JSON (see
/// ``JSONValue/canonicalString``). Before, every encode ran `JSONEncoder` and then parsed its
/// output back into a `JSONValue`, and every decode printed the object and ran `JSONDecoder`
/// on it. These coders walk the values directly. Their output matches Foundation's: optionals
/// that are nil are omitted, integral numbers are `.int`.
enum JSONValueCoder {
    static func encode<T: Encodable>(_ value: T) throws -> JSONValue {
        let encoder = ValueEncoder(codingPath: [])
        try value.encode(to: encoder)
        return encoder.storage.value
    }

    static func decode<T: Decodable>(_ type: T.Type, from value: JSONValue) throws -> T {
        try T(from: ValueDecoder(value: value, codingPath: []))
    }

    static func mismatch(_ type: Any.Type, _ value: JSONValue?, _ path: [any CodingKey]) -> DecodingError {
        DecodingError.typeMismatch(type, .init(codingPath: path, debugDescription: "found \(value.map { "\($0)" } ?? "nothing")"))
    }
}

// MARK: Encoding

/// A node being built: containers write into it, nested ones through references.
private final class EncodedNode {
    enum Kind { case empty, single(JSONValue), object([String: EncodedNode]), array([EncodedNode]) }
    var kind: Kind = .empty

    var value: JSONValue {
        switch kind {
        case .empty: .object([:])
        case .single(let value): value
        case .object(let members): .object(members.mapValues(\.value))
        case .array(let elements): .array(elements.map(\.value))
        }
    }
}

private struct ValueEncoder: Encoder {
    let storage = EncodedNode()
    var codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        if case .object = storage.kind {} else { storage.kind = .object([:]) }
        return KeyedEncodingContainer(KeyedValueEncoder<Key>(node: storage, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        if case .array = storage.kind {} else { storage.kind = .array([]) }
        return UnkeyedValueEncoder(node: storage, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleValueEncoder(node: storage, codingPath: codingPath)
    }
}

/// Scalars as JSON values; an integral Double becomes `.int`, as JSONEncoder's output reads back.
private func scalar<T: Encodable>(_ value: T, path: [any CodingKey]) throws -> JSONValue? {
    switch value {
    case let value as String: return .string(value)
    case let value as Bool: return .bool(value)
    case let value as Int: return .int(Int64(value))
    case let value as Int64: return .int(value)
    case let value as Int32: return .int(Int64(value))
    case let value as Int16: return .int(Int64(value))
    case let value as Int8: return .int(Int64(value))
    case let value as UInt8: return .int(Int64(value))
    case let value as UInt16: return .int(Int64(value))
    case let value as UInt32: return .int(Int64(value))
    case let value as UInt:
        guard let exact = Int64(exactly: value) else { throw EncodingError.invalidValue(value, .init(codingPath: path, debugDescription: "too large")) }
        return .int(exact)
    case let value as UInt64:
        guard let exact = Int64(exactly: value) else { throw EncodingError.invalidValue(value, .init(codingPath: path, debugDescription: "too large")) }
        return .int(exact)
    case let value as Double: return try number(value, path: path)
    case let value as Float: return try number(Double(value), path: path)
    case let value as JSONValue: return value
    default: return nil
    }
}

private func number(_ value: Double, path: [any CodingKey]) throws -> JSONValue {
    guard value.isFinite else { throw EncodingError.invalidValue(value, .init(codingPath: path, debugDescription: "not a finite number")) }
    if value == value.rounded(), let exact = Int64(exactly: value) { return .int(exact) }
    return .double(value)
}

private func encoded<T: Encodable>(_ value: T, path: [any CodingKey]) throws -> EncodedNode {
    let node = EncodedNode()
    if let scalar = try scalar(value, path: path) {
        node.kind = .single(scalar)
    } else {
        let encoder = ValueEncoder(codingPath: path)
        try value.encode(to: encoder)
        node.kind = encoder.storage.kind
    }
    return node
}

private struct KeyedValueEncoder<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: EncodedNode
    var codingPath: [any CodingKey]

    private func set(_ child: EncodedNode, for key: Key) {
        guard case .object(var members) = node.kind else { return }
        node.kind = .empty  // keeps `members` uniquely referenced while it is changed
        members[key.stringValue] = child
        node.kind = .object(members)
    }

    mutating func encodeNil(forKey key: Key) throws {
        let child = EncodedNode()
        child.kind = .single(.null)
        set(child, for: key)
    }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        set(try encoded(value, path: codingPath + [key]), for: key)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type, forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let child = EncodedNode()
        child.kind = .object([:])
        set(child, for: key)
        return KeyedEncodingContainer(KeyedValueEncoder<NestedKey>(node: child, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let child = EncodedNode()
        child.kind = .array([])
        set(child, for: key)
        return UnkeyedValueEncoder(node: child, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder {
        guard let key = Key(stringValue: "super") else { return ValueEncoder(codingPath: codingPath) }
        return superEncoder(forKey: key)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        let encoder = ValueEncoder(codingPath: codingPath + [key])
        set(encoder.storage, for: key)
        return encoder
    }
}

private struct IndexKey: CodingKey {
    var stringValue: String { "\(intValue ?? 0)" }
    var intValue: Int?
    init(_ index: Int) { intValue = index }
    init?(stringValue: String) { return nil }
    init?(intValue: Int) { self.intValue = intValue }
}

private struct UnkeyedValueEncoder: UnkeyedEncodingContainer {
    let node: EncodedNode
    var codingPath: [any CodingKey]
    var count: Int {
        if case .array(let elements) = node.kind { return elements.count }
        return 0
    }

    private func append(_ child: EncodedNode) {
        guard case .array(var elements) = node.kind else { return }
        node.kind = .empty
        elements.append(child)
        node.kind = .array(elements)
    }

    mutating func encodeNil() throws {
        let child = EncodedNode()
        child.kind = .single(.null)
        append(child)
    }

    mutating func encode<T: Encodable>(_ value: T) throws {
        append(try encoded(value, path: codingPath + [IndexKey(count)]))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let child = EncodedNode()
        child.kind = .object([:])
        let path = codingPath + [IndexKey(count)]
        append(child)
        return KeyedEncodingContainer(KeyedValueEncoder<NestedKey>(node: child, codingPath: path))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let child = EncodedNode()
        child.kind = .array([])
        let path = codingPath + [IndexKey(count)]
        append(child)
        return UnkeyedValueEncoder(node: child, codingPath: path)
    }

    mutating func superEncoder() -> any Encoder {
        let encoder = ValueEncoder(codingPath: codingPath + [IndexKey(count)])
        append(encoder.storage)
        return encoder
    }
}

private struct SingleValueEncoder: SingleValueEncodingContainer {
    let node: EncodedNode
    var codingPath: [any CodingKey]

    mutating func encodeNil() throws { node.kind = .single(.null) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        node.kind = try encoded(value, path: codingPath).kind
    }
}

// MARK: Decoding

private struct ValueDecoder: Decoder {
    let value: JSONValue
    var codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let members) = value else { throw JSONValueCoder.mismatch([String: Any].self, value, codingPath) }
        return KeyedDecodingContainer(KeyedValueDecoder<Key>(members: members, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let elements) = value else { throw JSONValueCoder.mismatch([Any].self, value, codingPath) }
        return UnkeyedValueDecoder(elements: elements, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        SingleValueDecoder(value: value, codingPath: codingPath)
    }
}

/// Decodes `T` from one JSON value: scalars directly, anything else through its own `init(from:)`.
private func decodeValue<T: Decodable>(_ type: T.Type, from value: JSONValue, path: [any CodingKey]) throws -> T {
    func integer<I: FixedWidthInteger>(_ type: I.Type) throws -> I {
        switch value {
        case .int(let number):
            if let exact = I(exactly: number) { return exact }
        case .double(let number):
            if let exact = I(exactly: number) { return exact }
        default: break
        }
        throw JSONValueCoder.mismatch(type, value, path)
    }
    func cast<V>(_ value: V) throws -> T {
        guard let result = value as? T else { throw JSONValueCoder.mismatch(type, .null, path) }
        return result
    }
    switch type {
    case is String.Type:
        guard case .string(let text) = value else { throw JSONValueCoder.mismatch(type, value, path) }
        return try cast(text)
    case is Bool.Type:
        guard case .bool(let flag) = value else { throw JSONValueCoder.mismatch(type, value, path) }
        return try cast(flag)
    case is Int.Type: return try cast(try integer(Int.self))
    case is Int64.Type: return try cast(try integer(Int64.self))
    case is Int32.Type: return try cast(try integer(Int32.self))
    case is UInt8.Type: return try cast(try integer(UInt8.self))
    case is UInt32.Type: return try cast(try integer(UInt32.self))
    case is UInt64.Type: return try cast(try integer(UInt64.self))
    case is Double.Type:
        switch value {
        case .int(let number): return try cast(Double(number))
        case .double(let number): return try cast(number)
        default: throw JSONValueCoder.mismatch(type, value, path)
        }
    case is JSONValue.Type:
        return try cast(value)
    default:
        return try T(from: ValueDecoder(value: value, codingPath: path))
    }
}

private struct KeyedValueDecoder<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let members: [String: JSONValue]
    var codingPath: [any CodingKey]
    var allKeys: [Key] { members.keys.compactMap { Key(stringValue: $0) } }

    func contains(_ key: Key) -> Bool { members[key.stringValue] != nil }

    private func member(_ key: Key) throws -> JSONValue {
        guard let value = members[key.stringValue] else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "no value for \(key.stringValue)"))
        }
        return value
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        if case .null = try member(key) { return true }
        return false
    }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try decodeValue(type, from: try member(key), path: codingPath + [key])
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try ValueDecoder(value: try member(key), codingPath: codingPath + [key]).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try ValueDecoder(value: try member(key), codingPath: codingPath + [key]).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { ValueDecoder(value: members["super"] ?? .null, codingPath: codingPath) }

    func superDecoder(forKey key: Key) throws -> any Decoder { ValueDecoder(value: try member(key), codingPath: codingPath + [key]) }
}

private struct UnkeyedValueDecoder: UnkeyedDecodingContainer {
    let elements: [JSONValue]
    var codingPath: [any CodingKey]
    var currentIndex = 0
    var count: Int? { elements.count }
    var isAtEnd: Bool { currentIndex >= elements.count }

    init(elements: [JSONValue], codingPath: [any CodingKey]) {
        self.elements = elements
        self.codingPath = codingPath
    }

    private mutating func next() throws -> (JSONValue, [any CodingKey]) {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(JSONValue.self, .init(codingPath: codingPath, debugDescription: "the array has no more elements"))
        }
        defer { currentIndex += 1 }
        return (elements[currentIndex], codingPath + [IndexKey(currentIndex)])
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd, case .null = elements[currentIndex] else { return false }
        currentIndex += 1
        return true
    }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let (value, path) = try next()
        return try decodeValue(type, from: value, path: path)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let (value, path) = try next()
        return try ValueDecoder(value: value, codingPath: path).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let (value, path) = try next()
        return try ValueDecoder(value: value, codingPath: path).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        let (value, path) = try next()
        return ValueDecoder(value: value, codingPath: path)
    }
}

private struct SingleValueDecoder: SingleValueDecodingContainer {
    let value: JSONValue
    var codingPath: [any CodingKey]

    func decodeNil() -> Bool {
        if case .null = value { return true }
        return false
    }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try decodeValue(type, from: value, path: codingPath)
    }
}
