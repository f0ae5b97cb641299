import Foundation
import OneTimePassword

extension EventCodec {
    /// Decodes a row's event straight from its stored bytes, without a key ring (secrets stay
    /// sealed): what a rebuild does for every event of the journal.
    ///
    /// A row of its type's current schema version in the shape this code writes (one flat
    /// object of unescaped strings, integers, booleans and null) is read in place, without a
    /// ``JSONValue`` tree or `Codable`. Any other row (an older version that needs its
    /// ``upcasters``, escapes, a fraction, a nested value, a repeated key, an error) goes through
    /// ``decode(type:schemaVersion:data:position:open:)``, so both paths give the same event or
    /// the same error (JSONFastPathTests compares them).
    ///
    /// With `sealedBytes` ``SealedBytes/checked`` (what projections ask for: they never open a
    /// secret), a sealed secret read in place is checked as strictly as ever but its bytes are
    /// not kept: the event holds `.sealed([])`, and no array is made for it.
    public static func decode(
        type typeBytes: UnsafeRawBufferPointer, schemaVersion: Int, data: UnsafeRawBufferPointer, position: Int64,
        sealedBytes: SealedBytes = .kept
    ) throws(StoreError) -> EnrollmentEvent {
        if let type = EventType(utf8: typeBytes), schemaVersion == type.currentVersion,
           let event = decodeFlat(type, data, sealedBytes: sealedBytes) {
            return event
        }
        return try decode(
            type: String(decoding: typeBytes, as: UTF8.self), schemaVersion: schemaVersion,
            data: String(decoding: data, as: UTF8.self), position: position)
    }

    /// The event, if `data` is a flat object holding exactly what `type` needs (members of
    /// other events' shapes are ignored, as `Codable` ignores unknown keys); `nil` sends the row
    /// to the general path, as a member no event has does.
    private static func decodeFlat(_ type: EventType, _ data: UnsafeRawBufferPointer, sealedBytes: SealedBytes) -> EnrollmentEvent? {
        var fields = FlatFields(sealedBytes: sealedBytes)
        guard FlatJSONObject.forEachMember(in: data, { key, value in fields.set(key, value) }) else { return nil }
        switch type {
        case .enrollmentRequested: return fields.issued().map { .enrollmentRequested($0) }
        case .secretRegenerated: return fields.issued().map { .secretRegenerated($0) }
        case .authenticatorActivated:
            guard let step = fields.step, let replaced = fields.replacedPrevious else { return nil }
            return .authenticatorActivated(AuthenticatorActivated(step: step, replacedPrevious: replaced))
        case .codeRejected:
            guard let reason = fields.reason, let target = fields.target, let failed = fields.failedAttempts,
                  let remaining = fields.remainingAttempts
            else { return nil }
            return .codeRejected(CodeRejected(reason: reason, target: target, failedAttempts: failed, remainingAttempts: remaining))
        case .pendingSecretExpired:
            guard let replacement = fields.replacement, let expiredAt = fields.expiredAt else { return nil }
            return .pendingSecretExpired(PendingSecretExpired(replacement: replacement, expiredAt: expiredAt))
        case .replacementCancelled:
            return fields.expiresAt.map { .replacementCancelled(ReplacementCancelled(expiresAt: $0)) }
        case .qrCodeRevealed:
            return fields.target.map { .qrCodeRevealed(QRCodeRevealed(target: $0, shownAs: fields.shownAs ?? .qrCode)) }
        case .confirmationLocked:
            guard let until = fields.until, let lock = fields.lockNumber, let failed = fields.failedAttempts else { return nil }
            return .confirmationLocked(ConfirmationLocked(until: until, lockNumber: lock, failedAttempts: failed))
        case .codeRefusedWhileLocked:
            guard let target = fields.target, let until = fields.lockedUntil else { return nil }
            return .codeRefusedWhileLocked(CodeRefusedWhileLocked(target: target, lockedUntil: until))
        case .confirmationUnlocked:
            return fields.lockNumber.map { .confirmationUnlocked(ConfirmationUnlocked(lockNumber: $0)) }
        case .authenticatorRemoved:
            return fields.hadActive.map { .authenticatorRemoved(AuthenticatorRemoved(hadActive: $0)) }
        }
    }
}

/// What a decode without a key ring keeps of a sealed secret.
public enum SealedBytes: Sendable {
    /// The sealed box's bytes, for a reader that may open it (a command handler).
    case kept
    /// Nothing: the box is checked (strict Base64, long enough to be one) and the event holds
    /// `.sealed([])`. For projections, which never open secrets: a rebuild made an array for
    /// every secret it read only to free it (without them, +9% events/s on 100 000 events and
    /// +18% on 1 000 000: BENCHMARKS.md, step 31).
    case checked
}

extension EventType {
    /// The type whose name these bytes spell, without making a `String`.
    init?(utf8 name: UnsafeRawBufferPointer) {
        switch name {
        case "EnrollmentRequested": self = .enrollmentRequested
        case "SecretRegenerated": self = .secretRegenerated
        case "AuthenticatorActivated": self = .authenticatorActivated
        case "CodeRejected": self = .codeRejected
        case "PendingSecretExpired": self = .pendingSecretExpired
        case "ReplacementCancelled": self = .replacementCancelled
        case "QRCodeRevealed": self = .qrCodeRevealed
        case "ConfirmationLocked": self = .confirmationLocked
        case "ConfirmationUnlocked": self = .confirmationUnlocked
        case "CodeRefusedWhileLocked": self = .codeRefusedWhileLocked
        case "AuthenticatorRemoved": self = .authenticatorRemoved
        default: return nil
        }
    }
}

extension Digest {
    /// The algorithm these bytes name, as `init(rawValue:)` reads it, without making a `String`.
    init?(utf8 name: UnsafeRawBufferPointer) {
        switch name {
        case "SHA1": self = .sha1
        case "SHA256": self = .sha256
        case "SHA512": self = .sha512
        default: return nil
        }
    }
}

extension SecretRole {
    /// The role these bytes name, as `init(rawValue:)` reads it, without making a `String`.
    init?(utf8 name: UnsafeRawBufferPointer) {
        switch name {
        case "pending": self = .pending
        case "active": self = .active
        default: return nil
        }
    }
}

/// Every member any event's flat shape has, each set at most once and only with its own JSON
/// type: a repeated key or another type sends the row to the general decoder.
private struct FlatFields {
    /// Whether a sealed secret's bytes are decoded into the event.
    let sealedBytes: SealedBytes
    var issuer: String?, account: String?, algorithm: Digest?, digits: Int?, period: Int?, expiresAt: Int64?
    var sealedSecret: SecretField?
    var step: Int64?, replacedPrevious: Bool?
    var reason: String?, target: SecretRole?, failedAttempts: Int?, remainingAttempts: Int?
    var shownAs: RevealForm?
    var replacement: Bool?, expiredAt: Int64?
    var until: Int64?, lockNumber: Int?, hadActive: Bool?, lockedUntil: Int64?

    mutating func set(_ key: UnsafeRawBufferPointer, _ value: FlatJSONObject.Value) -> Bool {
        func once<T>(_ field: inout T?, _ parsed: T?) -> Bool {
            guard field == nil, let parsed else { return false }
            field = parsed
            return true
        }
        // A number outside what the engine writes (``EnrollmentEvent/fieldOutOfRange``) also
        // goes to the general path, which refuses it naming the field: checked here on the
        // integers, before any event is built, so the rebuild's hot loop pays two comparisons.
        func within<T: Comparable>(_ parsed: T?, _ range: ClosedRange<T>) -> T? {
            parsed.flatMap { range.contains($0) ? $0 : nil }
        }
        let times = EnrollmentEvent.timeRange, counters = EnrollmentEvent.counterRange
        switch key {
        case "issuer": return once(&issuer, value.string)
        case "account": return once(&account, value.string)
        case "algorithm": return once(&algorithm, value.text.flatMap(Digest.init(utf8:)))
        case "digits": return once(&digits, within(value.int, 6...8))
        case "period": return once(&period, within(value.int, 1...3600))
        case "expiresAt": return once(&expiresAt, within(value.int64, times))
        case "sealedSecret":
            // As the general path: a null secret reads back as forgotten. Text that is not strict
            // Base64 of a sealed secret's length is left to the general path (and
            // `Data(base64Encoded:)`) to judge, and refuse.
            switch value {
            case .null: return once(&sealedSecret, .forgotten)
            case .text(let text):
                guard sealedBytes == .kept else {
                    return once(&sealedSecret, Base64.decodedCount(text).flatMap { $0 >= SecretField.sealedByteCountMinimum ? .sealed([]) : nil })
                }
                return once(&sealedSecret, Base64.decode(text).flatMap { $0.count >= SecretField.sealedByteCountMinimum ? .sealed($0) : nil })
            default: return false
            }
        case "step": return once(&step, within(value.int64, 0...times.upperBound))
        case "replacedPrevious": return once(&replacedPrevious, value.bool)
        case "reason": return once(&reason, value.string)
        case "target": return once(&target, value.text.flatMap(SecretRole.init(utf8:)))
        case "shownAs":
            // Only the one value ever written; anything else is the general path's to refuse.
            guard case .text(let form) = value, "text" ~= form else { return false }
            return once(&shownAs, .text)
        case "failedAttempts": return once(&failedAttempts, within(value.int, counters))
        case "remainingAttempts": return once(&remainingAttempts, within(value.int, counters))
        case "replacement": return once(&replacement, value.bool)
        case "expiredAt": return once(&expiredAt, within(value.int64, times))
        case "until": return once(&until, within(value.int64, times))
        case "lockedUntil": return once(&lockedUntil, within(value.int64, times))
        case "lockNumber": return once(&lockNumber, within(value.int, counters))
        case "hadActive": return once(&hadActive, value.bool)
        default:
            // A member no event has goes to the general path, which ignores it as `Codable` does,
            // but refuses it named twice: these fields cannot see an unknown key repeated, so
            // ignoring it here took a row every other reader refuses (found by fuzzing). This
            // code writes no such member, so the rebuild's rows never come this way.
            return false
        }
    }

    /// Moves the strings and the secret out (these fields are read once), rather than copying
    /// them into the event and releasing them with these fields.
    mutating func issued() -> SecretIssued? {
        guard issuer != nil, account != nil, let algorithm, let digits, let period, let expiresAt,
              let issuer = issuer.take(), let account = account.take()
        else { return nil }
        return SecretIssued(
            secret: sealedSecret.take() ?? .forgotten, issuer: issuer, account: account,
            parameters: OTPParameters(algorithm: algorithm, digits: digits, period: period), expiresAt: expiresAt)
    }
}

/// The members of a flat JSON object (RFC 8259), read in place: strings without escapes or
/// control characters, integers without fraction or exponent, `true`, `false`, `null`.
/// Anything else makes ``forEachMember(in:_:)`` return false, and the caller uses the full
/// parser (``JSONParser``) instead.
enum FlatJSONObject {
    enum Value {
        /// The bytes between the quotes.
        case text(UnsafeRawBufferPointer)
        case integer(Int64)
        case boolean(Bool)
        case null

        var text: UnsafeRawBufferPointer? {
            if case .text(let bytes) = self { return bytes }
            return nil
        }
        var string: String? { text.map { String(decoding: $0, as: UTF8.self) } }
        var int64: Int64? {
            if case .integer(let number) = self { return number }
            return nil
        }
        var int: Int? { int64.map { Int($0) } }
        var bool: Bool? {
            if case .boolean(let flag) = self { return flag }
            return nil
        }
    }

    /// Calls `body` with each member's key (the bytes between its quotes) and value, in order.
    /// Returns false as soon as the bytes are not such an object or `body` returns false.
    static func forEachMember(in bytes: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer, Value) -> Bool) -> Bool {
        var index = 0
        let end = bytes.count
        func skipWhitespace() {
            while index < end, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 { index += 1 }
        }
        func expect(_ byte: UInt8) -> Bool {
            skipWhitespace()
            guard index < end, bytes[index] == byte else { return false }
            index += 1
            return true
        }
        /// After the opening quote: the unescaped run up to the closing one.
        func text() -> UnsafeRawBufferPointer? {
            guard index < end, let base = bytes.baseAddress,
                  let quote = memchr(base + index, Int32(UInt8(ascii: "\"")), end - index)
            else { return nil }
            let run = UnsafeRawBufferPointer(start: base + index, count: UnsafeRawPointer(quote) - (base + index))
            // Without branches or an early exit, so that the compiler checks many bytes at once.
            var escapedOrControl: UInt8 = 0
            for byte in run { escapedOrControl |= (byte < 0x20 ? 1 : 0) | (byte == UInt8(ascii: "\\") ? 1 : 0) }
            guard escapedOrControl == 0 else { return nil }
            index += run.count + 1
            return run
        }
        func word(_ literal: StaticString) -> Bool {
            let count = literal.utf8CodeUnitCount
            guard index + count <= end else { return false }
            let matches = literal.withUTF8Buffer { $0.elementsEqual(bytes[index..<index + count]) }
            index += count
            return matches
        }
        func value() -> Value? {
            skipWhitespace()
            guard index < end else { return nil }
            switch bytes[index] {
            case UInt8(ascii: "\""):
                index += 1
                return text().map { .text($0) }
            case UInt8(ascii: "t"): return word("true") ? .boolean(true) : nil
            case UInt8(ascii: "f"): return word("false") ? .boolean(false) : nil
            case UInt8(ascii: "n"): return word("null") ? .null : nil
            default:
                // -?(0|[1-9][0-9]*), at most 18 digits (no overflow), and no fraction or exponent.
                let negative = bytes[index] == UInt8(ascii: "-")
                if negative { index += 1 }
                let start = index
                var number: Int64 = 0
                while index < end, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                    guard index - start < 18 else { return nil }
                    number = number * 10 + Int64(bytes[index] - UInt8(ascii: "0"))
                    index += 1
                }
                let digits = index - start
                guard digits >= 1, digits == 1 || bytes[start] != UInt8(ascii: "0") else { return nil }
                if index < end, bytes[index] == UInt8(ascii: ".") || bytes[index] | 0x20 == UInt8(ascii: "e") { return nil }
                return .integer(negative ? -number : number)
            }
        }
        guard expect(UInt8(ascii: "{")) else { return false }
        skipWhitespace()
        if index < end, bytes[index] == UInt8(ascii: "}") {
            index += 1
        } else {
            while true {
                guard expect(UInt8(ascii: "\"")), let key = text(), expect(UInt8(ascii: ":")), let member = value(),
                      body(key, member)
                else { return false }
                if expect(UInt8(ascii: ",")) { continue }
                guard expect(UInt8(ascii: "}")) else { return false }
                break
            }
        }
        skipWhitespace()
        return index == end
    }
}

/// Matches bytes against a literal in a `switch`, without making a `String`.
@inline(__always)
private func ~= (pattern: StaticString, bytes: UnsafeRawBufferPointer) -> Bool {
    guard pattern.utf8CodeUnitCount == bytes.count, let start = bytes.baseAddress else { return false }
    return memcmp(pattern.utf8Start, start, bytes.count) == 0
}

/// Standard Base64 (RFC 4648 §4) with padding, strictly: what `Data(base64Encoded:)` accepts
/// for the secrets this code writes. `nil` for anything else.
enum Base64 {
    private static let values: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, byte) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
            table[Int(byte)] = UInt8(index)
        }
        return table
    }()

    static func decode(_ text: UnsafeRawBufferPointer) -> [UInt8]? {
        var valid = true
        let decoded = [UInt8](unsafeUninitializedCapacity: text.count / 4 * 3) { out, initialized in
            if let count = read(text, into: out) { initialized = count } else { valid = false }
        }
        return valid ? decoded : nil
    }

    /// How many bytes `text` decodes to, if ``decode(_:)`` accepts it: the same checks, nothing
    /// written.
    static func decodedCount(_ text: UnsafeRawBufferPointer) -> Int? {
        read(text, into: nil)
    }

    /// Checks `text` and, given a buffer of `text.count / 4 * 3` bytes, decodes it there;
    /// returns the decoded length, or `nil` when `text` is not strict Base64.
    @inline(__always)
    private static func read(_ text: UnsafeRawBufferPointer, into out: UnsafeMutableBufferPointer<UInt8>?) -> Int? {
        let count = text.count
        guard count % 4 == 0 else { return nil }
        guard count > 0 else { return 0 }
        let padding = (text[count - 1] == UInt8(ascii: "=") ? 1 : 0) + (text[count - 2] == UInt8(ascii: "=") ? 1 : 0)
        let groups = count / 4
        // Every group but the last is four symbols and no padding: a lookup per symbol and the
        // four values or-ed together to find a byte outside the alphabet (one branch per group).
        // The last group goes by hand.
        return values.withUnsafeBufferPointer { table -> Int? in
            for group in 0..<groups - 1 {
                let a = table[Int(text[group * 4])], b = table[Int(text[group * 4 + 1])]
                let c = table[Int(text[group * 4 + 2])], d = table[Int(text[group * 4 + 3])]
                if (a | b | c | d) & 0x80 != 0 { return nil }
                if let out {
                    let bits = UInt32(a) << 18 | UInt32(b) << 12 | UInt32(c) << 6 | UInt32(d)
                    out[group * 3] = UInt8(truncatingIfNeeded: bits >> 16)
                    out[group * 3 + 1] = UInt8(truncatingIfNeeded: bits >> 8)
                    out[group * 3 + 2] = UInt8(truncatingIfNeeded: bits)
                }
            }
            var bits: UInt32 = 0
            for offset in 0..<4 {
                // Padding stands for bits that must be zero (checked below).
                let value = offset >= 4 - padding ? 0 : table[Int(text[count - 4 + offset])]
                if value & 0x80 != 0 { return nil }
                bits = bits << 6 | UInt32(value)
            }
            // Refuse rather than guess: the bits padding stands for must be zero.
            let kept = 3 - padding
            if bits & ((1 << (8 * UInt32(padding))) - 1) != 0 { return nil }
            let last = (groups - 1) * 3
            if let out {
                for index in 0..<kept { out[last + index] = UInt8(truncatingIfNeeded: bits >> (16 - 8 * UInt32(index))) }
            }
            return last + kept
        }
    }
}
