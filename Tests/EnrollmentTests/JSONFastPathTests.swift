import Foundation
import OneTimePassword
import Testing
import TestSupport
@testable import Enrollment

/// The journal's own JSON parser and coders (the fast path that replaced Foundation's
/// JSONDecoder/JSONEncoder round trips), checked against Foundation's JSONSerialization and
/// JSONEncoder as independent implementations.
@Suite("JSON fast path")
struct JSONFastPathTests {
    /// JSONSerialization's reading of `text`, as a JSONValue (integers that fit stay integers).
    static func foundation(_ text: String) throws -> JSONValue {
        func convert(_ any: Any) -> JSONValue {
            switch any {
            case is NSNull: return .null
            case let number as NSNumber:
                switch String(cString: number.objCType) {
                case "c": return .bool(number.boolValue)
                case "d", "f": return .double(number.doubleValue)
                default: return .int(number.int64Value)
                }
            case let text as String: return .string(text)
            case let array as [Any]: return .array(array.map(convert))
            case let object as [String: Any]: return .object(object.mapValues(convert))
            default: return .null
            }
        }
        return convert(try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]))
    }

    static let valid = [
        #"{"a":1,"b":[true,false,null],"c":{"d":"e"}}"#,
        #"  { "spaced" : [ 1 , 2 ] , "x" : -0 }  "#,
        #"{"escapes":"\"\\\/\b\f\n\r\t","unicode":"\u00e9\u4e2d\ud83d\ude00","raw":"é中😀"}"#,
        "0", "-1", "123456789012", "9223372036854775807", "1.5", "-2.25e3", "1E2", "0.001",
        #"[]"#, #"{}"#, #""just a string""#, "42", "true", "null",
        #"{"sealedSecret":"q3J0/cW9+yZ2V0aGlz==","algorithm":"SHA1","digits":6,"period":30,"expiresAt":1764000600}"#,
    ]

    @Test("Valid JSON parses to the same values as Foundation's JSONSerialization", arguments: valid)
    func parsesLikeFoundation(_ text: String) throws {
        #expect(try JSONValue.parse(text) == (try Self.foundation(text)))
    }

    static let invalid = [
        "", " ", "{", "}", #"{"a" 1}"#, #"{a:1}"#, "01", "1.", ".5", "-", "1e", "+1",
        "tru", "nul", #""unterminated"#, "\"tab\there\"", #""\x""#, #""\ud800""#, #""\udc00""#, #""\ud800\u0041""#,
        #""\u12""#, "[1] 2", "{} {}", "NaN", "Infinity", "1e999",
    ]

    @Test("Invalid JSON is refused, as Foundation refuses it", arguments: invalid)
    func refusesLikeFoundation(_ text: String) {
        #expect(throws: (any Error).self) { try JSONValue.parse(text) }
        #expect(throws: (any Error).self) { try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) }
    }

    @Test("Integers are exact across the whole Int64 range; beyond it they are doubles")
    func integerRange() throws {
        #expect(try JSONValue.parse("-9223372036854775808") == .int(.min))
        #expect(try JSONValue.parse("9223372036854775807") == .int(.max))
        #expect(try JSONValue.parse("9223372036854775808") == .double(9_223_372_036_854_775_808))
    }

    @Test("Trailing commas are refused (RFC 8259), although Foundation's reader tolerates them")
    func trailingCommas() {
        for text in ["[1,]", #"{"a":1,}"#] {
            #expect(throws: JSONParser.Failure.self) { try JSONParser.parse(text) }
        }
    }

    @Test("Duplicate member names: JSONValue.parse keeps the last (RFC 8259 leaves it open; the journal's readers ask with rejectingDuplicates and refuse the row); duplicateMember finds them at any depth")
    func duplicateMembers() throws {
        #expect(try JSONValue.parse(#"{"sub":"alice","sub":"bob"}"#) == .object(["sub": .string("bob")]))
        #expect(JSONValue.duplicateMember(in: #"{"sub":"alice","sub":"bob"}"#) == "sub")
        #expect(JSONValue.duplicateMember(in: #"{"a":[{"x":1,"y":2,"x":3}]}"#) == "x")
        #expect(JSONValue.duplicateMember(in: #"{"a":{"x":1},"b":{"x":1}}"#) == nil)
        #expect(JSONValue.duplicateMember(in: #"{"a":1,"#) == nil)
    }

    @Test("isStrictJSON (request bodies): UTF-8 only, no lone surrogate, nothing after the value; a leading byte order mark is ignored")
    func strictBodies() {
        let accepted = [#"{"action":"INIT"}"#, " {\"a\":\"\\ud83d\\ude00\"}\r\n", "\u{FEFF}{\"a\":1}", #"{"a":"é"}"#]
        for text in accepted { #expect(JSONValue.isStrictJSON(Array(text.utf8)), "\(text)") }
        let refused: [[UInt8]] = [
            Array(#"{"a":1}"#.utf8) + [0], Array(#"{"a":"\ud800"}"#.utf8), Array(#"{"a":"\udc00"}"#.utf8),
            Array(#"{"a":"\ud800\u0041"}"#.utf8), Array(#"{"a":"#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8),
            [0xFF, 0xFE] + Array(#"{"a":1}"#.utf16).flatMap { [UInt8($0 & 0xFF), UInt8($0 >> 8)] }, [],
        ]
        for bytes in refused { #expect(!JSONValue.isStrictJSON(bytes), "\(bytes.prefix(24))") }
    }

    @Test("Nesting deeper than the limit is refused instead of exhausting the stack")
    func depthLimit() throws {
        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        #expect(throws: JSONParser.Failure.tooDeep) { try JSONParser.parse(deep) }
        let fine = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(try JSONValue.parse(fine) != .null)
    }

    nonisolated(unsafe) static let payloads: [(String, any Encodable)] = [
        ("activated", AuthenticatorActivated(step: 58_800_000, replacedPrevious: true)),
        ("rejected", CodeRejected(reason: "invalid_code", target: .pending, failedAttempts: 3)),
        ("expired", PendingSecretExpired(replacement: false, expiredAt: 1_764_000_600)),
        ("cancelled", ReplacementCancelled(expiresAt: 1_764_000_600)),
        ("refused-while-locked", CodeRefusedWhileLocked(target: .pending, lockedUntil: 1_764_003_600)),
        ("revealed", QRCodeRevealed(target: .active)),
        ("revealed-as-text", QRCodeRevealed(target: .pending, shownAs: .text)),
        ("locked", ConfirmationLocked(until: 1_764_003_600, lockNumber: 2, failedAttempts: 5)),
        ("unlocked", ConfirmationUnlocked(lockNumber: 2)),
        ("removed", AuthenticatorRemoved(hadActive: true)),
        ("metadata", EventMetadata(actor: "admin \"root\"", commandId: "a/b\\c\u{1}é", correlationId: nil)),
        ("metadata-correlated", EventMetadata(actor: "alice", commandId: "c1", correlationId: "req-9")),
    ]

    @Test("Payloads encode to exactly the bytes of Foundation's JSONEncoder with sorted keys")
    func encodesLikeFoundation() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        for (name, payload) in Self.payloads {
            let ours = try JSONValueCoder.encode(payload).canonicalString
            let theirs = String(decoding: try encoder.encode(payload), as: UTF8.self)
            // Both are JSON for the same value; byte equality holds except where the two
            // escape control characters differently, so compare parsed values too.
            #expect(try Self.foundation(ours) == (try Self.foundation(theirs)), "\(name)")
            if !name.hasPrefix("metadata") { #expect(ours == theirs, "\(name)") }
        }
    }

    @Test("Events and metadata written member by member are exactly the bytes of the Codable path through JSONValue, for every type, awkward strings and extreme numbers")
    func canonicalObjectMatchesCodable() throws {
        struct IssuedReference: Encodable {
            var sealedSecret: String?
            var issuer: String, account: String
            var algorithm: Digest
            var digits: Int, period: Int
            var expiresAt: Int64
        }
        let strings = ["Example", "", "quote \" back \\ slash / tab \t nl \n cr \r", "\u{1}\u{1f}\u{7f}", "é中😀", "caf\u{E9}", "cafe\u{301}", String(repeating: "x", count: 300)]
        let numbers: [Int64] = [0, 1, -1, 1_764_000_600, .max, .min]
        var checked = 0
        for (index, text) in strings.enumerated() {
            let number = numbers[index % numbers.count], small = Int(truncatingIfNeeded: number)
            let other = strings[(index + 1) % strings.count]
            for secret in [SecretField.open(Secret(bytes: Array(0..<20))), .sealed(Array(repeating: 7, count: 48)), .forgotten] {
                for algorithm in Digest.allCases {
                    let issued = SecretIssued(secret: secret, issuer: text, account: other, parameters: OTPParameters(algorithm: algorithm, digits: small, period: ~small), expiresAt: number)
                    let sealed: String? = switch secret {
                    case .open(let open): Data(open.bytes).base64EncodedString()
                    case .sealed(let bytes): Data(bytes).base64EncodedString()
                    case .forgotten: nil
                    }
                    let expected = try reference(IssuedReference(
                        sealedSecret: sealed, issuer: text, account: other, algorithm: algorithm, digits: small, period: ~small, expiresAt: number))
                    for event in [EnrollmentEvent.enrollmentRequested(issued), .secretRegenerated(issued)] {
                        #expect(try EventCodec.encode(event) { $0.bytes }.data == expected, "\(event.type)")
                        checked += 1
                    }
                }
            }
            for role in [SecretRole.pending, .active] {
                let pairs: [(EnrollmentEvent, String)] = [
                    (.authenticatorActivated(AuthenticatorActivated(step: number, replacedPrevious: index % 2 == 0)), try reference(AuthenticatorActivated(step: number, replacedPrevious: index % 2 == 0))),
                    (.codeRejected(CodeRejected(reason: text, target: role, failedAttempts: small, remainingAttempts: ~small)), try reference(CodeRejected(reason: text, target: role, failedAttempts: small, remainingAttempts: ~small))),
                    (.pendingSecretExpired(PendingSecretExpired(replacement: index % 2 == 1, expiredAt: number)), try reference(PendingSecretExpired(replacement: index % 2 == 1, expiredAt: number))),
                    (.replacementCancelled(ReplacementCancelled(expiresAt: number)), try reference(ReplacementCancelled(expiresAt: number))),
                    (.qrCodeRevealed(QRCodeRevealed(target: role)), try reference(QRCodeRevealed(target: role))),
                    (.qrCodeRevealed(QRCodeRevealed(target: role, shownAs: .text)), try reference(QRCodeRevealed(target: role, shownAs: .text))),
                    (.confirmationLocked(ConfirmationLocked(until: number, lockNumber: small, failedAttempts: ~small)), try reference(ConfirmationLocked(until: number, lockNumber: small, failedAttempts: ~small))),
                    (.codeRefusedWhileLocked(CodeRefusedWhileLocked(target: role, lockedUntil: number)), try reference(CodeRefusedWhileLocked(target: role, lockedUntil: number))),
                    (.confirmationUnlocked(ConfirmationUnlocked(lockNumber: small)), try reference(ConfirmationUnlocked(lockNumber: small))),
                    (.authenticatorRemoved(AuthenticatorRemoved(hadActive: index % 2 == 0)), try reference(AuthenticatorRemoved(hadActive: index % 2 == 0))),
                ]
                for (event, expected) in pairs {
                    #expect(try EventCodec.encode(event) { $0.bytes }.data == expected, "\(event.type)")
                    checked += 1
                }
            }
            for correlation in [nil, other] {
                let metadata = EventMetadata(actor: text, commandId: other, correlationId: correlation)
                #expect(metadata.canonicalJSON == (try reference(metadata)))
                checked += 1
            }
        }
        // Every event type was written (none left to the Codable path by a missing case).
        #expect(checked == strings.count * (3 * Digest.allCases.count * 2 + 2 * 10 + 2))
    }

    @Test("Every event type survives encode then decode unchanged, secrets sealed and opened")
    func roundTrip() throws {
        let secret = Secret(bytes: Array(0..<20))
        let issued = SecretIssued(secret: .open(secret), issuer: "Example/Org", account: "ann@example.com", parameters: OTPParameters(algorithm: .sha256, digits: 8, period: 60), expiresAt: 1_764_000_600)
        let events: [EnrollmentEvent] = [
            .enrollmentRequested(issued), .secretRegenerated(issued),
            .authenticatorActivated(AuthenticatorActivated(step: 1, replacedPrevious: false)),
            .codeRejected(CodeRejected(reason: "code_reused", target: .active, failedAttempts: 1)),
            .pendingSecretExpired(PendingSecretExpired(replacement: true, expiredAt: 5)),
            .replacementCancelled(ReplacementCancelled(expiresAt: 7)),
            .codeRefusedWhileLocked(CodeRefusedWhileLocked(target: .active, lockedUntil: 9)),
            .qrCodeRevealed(QRCodeRevealed(target: .pending)),
            .qrCodeRevealed(QRCodeRevealed(target: .active, shownAs: .text)),
            .confirmationLocked(ConfirmationLocked(until: 9, lockNumber: 1, failedAttempts: 5)),
            .confirmationUnlocked(ConfirmationUnlocked(lockNumber: 1)),
            .authenticatorRemoved(AuthenticatorRemoved(hadActive: false)),
        ]
        let key = [UInt8](repeating: 3, count: 32)
        for event in events {
            let encoded = try EventCodec.encode(event) { try KeyRing.seal($0, dataKey: key, stream: "ann") }
            #expect(!encoded.data.contains(Data(secret.bytes).base64EncodedString()))
            let decoded = try EventCodec.decode(type: encoded.type, schemaVersion: encoded.schemaVersion, data: encoded.data) { sealed in
                KeyRing.open(sealed, dataKey: key, stream: "ann")
            }
            #expect(decoded == event)
            // Stored form is canonical: parsing and printing it again gives the same bytes.
            #expect(try JSONValue.parse(encoded.data).canonicalString == encoded.data)
        }
    }

    @Test("A row whose fields have the wrong types is refused with the event's position")
    func wrongShape() {
        #expect(throws: StoreError.self) {
            try EventCodec.decode(type: "AuthenticatorActivated", schemaVersion: 1, data: #"{"step":"soon","replacedPrevious":true}"#, position: 7)
        }
        #expect(throws: StoreError.self) {
            try EventCodec.decode(type: "QRCodeRevealed", schemaVersion: 1, data: #"{"target":"nobody"}"#, position: 8)
        }
        #expect(throws: StoreError.self) {
            try EventCodec.decode(type: "ConfirmationUnlocked", schemaVersion: 1, data: #"{"lockNumber":1.5}"#, position: 9)
        }
    }

    @Test("A field out of what the engine writes (a tampered journal, a hand-written fixture) is refused by both decoders, naming it", arguments: [
        ("CodeRejected", #"{"failedAttempts":9223372036854775807,"reason":"invalid_code","remainingAttempts":4,"target":"pending"}"#, "failedAttempts"),
        ("CodeRejected", #"{"failedAttempts":1,"reason":"invalid_code","remainingAttempts":-1,"target":"pending"}"#, "remainingAttempts"),
        ("ConfirmationLocked", #"{"failedAttempts":5,"lockNumber":-9223372036854775808,"until":9}"#, "lockNumber"),
        ("ConfirmationLocked", #"{"failedAttempts":5,"lockNumber":1,"until":9223372036854775807}"#, "until"),
        ("ConfirmationUnlocked", #"{"lockNumber":1000001}"#, "lockNumber"),
        ("AuthenticatorActivated", #"{"replacedPrevious":false,"step":-1}"#, "step"),
        ("PendingSecretExpired", #"{"expiredAt":-5,"replacement":true}"#, "expiredAt"),
        ("ReplacementCancelled", #"{"expiresAt":253402300800}"#, "expiresAt"),
        ("CodeRefusedWhileLocked", #"{"lockedUntil":-1,"target":"pending"}"#, "lockedUntil"),
        ("EnrollmentRequested", #"{"account":"a","algorithm":"SHA1","digits":60,"expiresAt":1,"issuer":"i","period":30}"#, "digits"),
        ("SecretRegenerated", #"{"account":"a","algorithm":"SHA1","digits":6,"expiresAt":1,"issuer":"i","period":0}"#, "period"),
    ])
    func outOfRange(_ row: (type: String, data: String, field: String)) {
        let (inPlace, general, _) = Self.decodedBothWays(type: row.type, version: row.type == "CodeRejected" ? 2 : 1, data: Array(row.data.utf8))
        for result in [inPlace, general] {
            guard case .failure(let error) = result else {
                Issue.record("\(row.type) with \(row.field) out of range was decoded: \(result)")
                continue
            }
            #expect(error.message.contains(row.field) && error.message.contains("position 3"), "\(error.message)")
        }
    }

    /// The rebuild's decoder (a row's bytes read in place) against the general one (a
    /// `JSONValue` tree, `Codable`, upcasters): the same event or the same error, for what this
    /// code writes and for every odd shape a journal could hold.
    static let rows: [(type: String, version: Int, data: String)] = {
        let issued = SecretIssued(
            secret: .sealed(Array(0..<48)), issuer: "Example/Org", account: "ann@example.com",
            parameters: OTPParameters(algorithm: .sha512, digits: 8, period: 60), expiresAt: 1_764_000_600)
        let events: [EnrollmentEvent] = [
            .enrollmentRequested(issued), .secretRegenerated(issued),
            .authenticatorActivated(AuthenticatorActivated(step: 1, replacedPrevious: false)),
            .codeRejected(CodeRejected(reason: "code_reused", target: .active, failedAttempts: 1)),
            .pendingSecretExpired(PendingSecretExpired(replacement: true, expiredAt: -5)),
            .replacementCancelled(ReplacementCancelled(expiresAt: 1_764_000_600)),
            .replacementCancelled(ReplacementCancelled(expiresAt: -1)),
            .codeRefusedWhileLocked(CodeRefusedWhileLocked(target: .pending, lockedUntil: 1_764_000_600)),
            .qrCodeRevealed(QRCodeRevealed(target: .pending)),
            .qrCodeRevealed(QRCodeRevealed(target: .pending, shownAs: .text)),
            .confirmationLocked(ConfirmationLocked(until: 9, lockNumber: 1, failedAttempts: 5)),
            .confirmationUnlocked(ConfirmationUnlocked(lockNumber: 1)),
            .authenticatorRemoved(AuthenticatorRemoved(hadActive: false)),
        ]
        // Sealed secrets of the size of a real box, so that issued events take the fast path.
        let box = [UInt8](repeating: 7, count: SecretField.sealedByteCountMinimum)
        let written = events.compactMap { try? EventCodec.encode($0) { _ in box } }.map { ($0.type, $0.schemaVersion, $0.data) }
        let secret = #"{"account":"a","algorithm":"SHA1","digits":6,"expiresAt":1,"issuer":"i","period":30"#
        let odd: [(String, Int, String)] = [
            ("CodeRejected", 1, #"{"failedAttempts":2,"reason":"invalid_code","target":"pending"}"#),  // upcast
            ("CodeRejected", 3, #"{"failedAttempts":2,"reason":"invalid_code","remainingAttempts":3,"target":"pending"}"#),
            ("CodeRejected", 0, #"{"failedAttempts":2,"reason":"invalid_code","remainingAttempts":3,"target":"pending"}"#),
            ("Unheard", 1, #"{}"#),
            ("QRCodeRevealed", 1, #" { "target" : "active" } "#),
            ("QRCodeRevealed", 1, #"{"target":"active","extra":[1,{"x":2}]}"#),
            ("QRCodeRevealed", 1, #"{"target":"active","extra":"x","more":null,"n":-0}"#),
            ("QRCodeRevealed", 1, #"{"target":"act\u0069ve"}"#),
            ("QRCodeRevealed", 1, #"{"target":"pending","target":"active"}"#),
            // A member no event has, named twice: refused by both (the in-place decoder once took it).
            ("QRCodeRevealed", 1, #"{"extra":1,"target":"active","extra":2}"#),
            ("EnrollmentRequested", 1, secret + #","digWts":6,"digWts":6}"#),
            ("EnrollmentRequested", 1, secret + #","digWts":6}"#),
            ("QRCodeRevealed", 1, #"{"target":"pending"} x"#),
            ("QRCodeRevealed", 1, #"{"target":"pending",}"#),
            ("QRCodeRevealed", 1, #"{"target":"nobody"}"#),
            ("QRCodeRevealed", 1, "{\"target\":\"act\tive\"}"),
            ("QRCodeRevealed", 1, #"{}"#),
            ("QRCodeRevealed", 1, #"[]"#),
            ("QRCodeRevealed", 1, ""),
            ("QRCodeRevealed", 1, #"{"shownAs":"text","shownAs":"text","target":"pending"}"#),
            ("QRCodeRevealed", 1, #"{"shownAs":"te\u0078t","target":"pending"}"#),
            ("QRCodeRevealed", 1, #"{"shownAs":"text"}"#),
            ("CodeRejected", 2, #"{"failedAttempts":2,"reason":"invalid_code","remainingAttempts":3,"shownAs":"telepathy","target":"pending"}"#),
            ("ConfirmationUnlocked", 1, #"{"lockNumber":2.0}"#),
            ("ConfirmationUnlocked", 1, #"{"lockNumber":2e0}"#),
            ("ConfirmationUnlocked", 1, #"{"lockNumber":02}"#),
            ("ConfirmationUnlocked", 1, #"{"lockNumber":-7}"#),
            ("ConfirmationUnlocked", 1, #"{"lockNumber":99999999999999999999}"#),
            ("ConfirmationUnlocked", 1, #"{"lockNumber":"2"}"#),
            ("AuthenticatorRemoved", 1, #"{"hadActive":1}"#),
            ("AuthenticatorRemoved", 1, #"{"hadActive":true}"#),
            ("AuthenticatorActivated", 1, #"{"replacedPrevious":false,"step":9223372036854775807}"#),
            ("EnrollmentRequested", 1, secret + "}"),
            ("EnrollmentRequested", 1, secret + #","sealedSecret":null}"#),
            ("EnrollmentRequested", 1, secret + #","sealedSecret":""}"#),
            ("EnrollmentRequested", 1, secret + #","sealedSecret":"AAEC"}"#),
            ("EnrollmentRequested", 1, secret + #","sealedSecret":"AAE="}"#),
            ("EnrollmentRequested", 1, secret + #","sealedSecret":"AAF="}"#),  // padding bits set
            ("EnrollmentRequested", 1, secret + #","sealedSecret":"AA=="}"#),
            ("EnrollmentRequested", 1, secret + #","sealedSecret":"AAE"}"#),
            ("EnrollmentRequested", 1, secret + #","sealedSecret":"A*E="}"#),
            ("EnrollmentRequested", 1, secret + #","sealedSecret":"AAEC\n"}"#),
            ("EnrollmentRequested", 1, secret + #","sealedSecret":7}"#),
            ("SecretRegenerated", 1, #"{"account":"a","algorithm":"MD5","digits":6,"expiresAt":1,"issuer":"i","period":30}"#),
            ("SecretRegenerated", 1, #"{"account":"a","algorithm":"SHA1","digits":6,"expiresAt":1,"period":30}"#),
            ("SecretRegenerated", 1, #"{"account":"ünï","algorithm":"SHA1","digits":6,"expiresAt":1,"issuer":"中","period":30}"#),
        ]
        return written + odd
    }()

    /// Both decoders' answers for one row, the in-place one also as projections call it (a
    /// sealed secret's bytes checked, not kept).
    static func decodedBothWays(type: String, version: Int, data: [UInt8]) -> (
        inPlace: Result<EnrollmentEvent, StoreError>, general: Result<EnrollmentEvent, StoreError>, checked: Result<EnrollmentEvent, StoreError>
    ) {
        let text = String(decoding: data, as: UTF8.self)
        let general = Result { () throws(StoreError) in try EventCodec.decode(type: type, schemaVersion: version, data: text, position: 3) }
        func inPlace(_ sealedBytes: SealedBytes) -> Result<EnrollmentEvent, StoreError> {
            Array(type.utf8).withUnsafeBytes { typeBytes in
                Array(text.utf8).withUnsafeBytes { dataBytes in
                    Result { () throws(StoreError) in
                        try EventCodec.decode(type: typeBytes, schemaVersion: version, data: dataBytes, position: 3, sealedBytes: sealedBytes)
                    }
                }
            }
        }
        return (inPlace(.kept), general, inPlace(.checked))
    }

    /// The event as a projection's read may give it: a sealed secret without its bytes.
    static func withoutSealedBytes(_ result: Result<EnrollmentEvent, StoreError>) -> Result<EnrollmentEvent, StoreError> {
        result.map { event in
            switch event {
            case .enrollmentRequested(var issued) where issued.secret != .forgotten:
                issued.secret = .sealed([])
                return .enrollmentRequested(issued)
            case .secretRegenerated(var issued) where issued.secret != .forgotten:
                issued.secret = .sealed([])
                return .secretRegenerated(issued)
            default: return event
            }
        }
    }

    /// Whether the projections' read agrees with the full one: the same event with the sealed
    /// bytes left out (or, for a row only the general path reads, with them), or the same error.
    static func checkedAgrees(_ decoded: (inPlace: Result<EnrollmentEvent, StoreError>, general: Result<EnrollmentEvent, StoreError>, checked: Result<EnrollmentEvent, StoreError>)) -> Bool {
        decoded.checked == decoded.inPlace || decoded.checked == withoutSealedBytes(decoded.inPlace)
    }

    @Test("The rebuild's in-place decoder gives the general decoder's event or error for every row", arguments: 0..<rows.count)
    func inPlaceDecoderAgrees(_ index: Int) {
        let row = Self.rows[index]
        let decoded = Self.decodedBothWays(type: row.type, version: row.version, data: Array(row.data.utf8))
        #expect(decoded.inPlace == decoded.general, "\(row.type) v\(row.version) \(row.data)")
        #expect(Self.checkedAgrees(decoded), "\(row.type) v\(row.version) \(row.data): \(decoded.checked) against \(decoded.inPlace)")
    }

    @Test("Read as projections read it, a written secret is still checked but its sealed bytes are not kept")
    func projectionsKeepNoSealedBytes() throws {
        let box = Data((0..<SecretField.sealedByteCountMinimum).map { UInt8($0) }).base64EncodedString()
        let secret = #"{"account":"a","algorithm":"SHA1","digits":6,"expiresAt":1,"issuer":"i","period":30,"sealedSecret":""#
        let written = Self.decodedBothWays(type: "EnrollmentRequested", version: 1, data: Array((secret + box + #""}"#).utf8))
        guard case .success(.enrollmentRequested(let kept)) = written.inPlace, case .success(.enrollmentRequested(let checked)) = written.checked else {
            Issue.record("\(written)")
            return
        }
        #expect(kept.secret == .sealed((0..<SecretField.sealedByteCountMinimum).map { UInt8($0) }))
        #expect(checked.secret == .sealed([]))
        // One byte short of a sealed box: refused either way, with the same error.
        let short = Data(count: SecretField.sealedByteCountMinimum - 1).base64EncodedString()
        let refused = Self.decodedBothWays(type: "EnrollmentRequested", version: 1, data: Array((secret + short + #""}"#).utf8))
        guard case .failure(let error) = refused.checked else {
            Issue.record("a box one byte short was read as \(refused.checked)")
            return
        }
        #expect(refused.inPlace == .failure(error) && refused.general == .failure(error))
    }

    @Test("Both decoders read shownAs \"text\" as a secret shown as text and its absence as a QR code, and refuse any other value", arguments: [
        (#"{"shownAs":"text","target":"pending"}"#, RevealForm.text),
        (#"{"target":"active","shownAs":"text"}"#, .text),
        (#"{"target":"pending"}"#, .qrCode),
        (#"{"shownAs":"telepathy","target":"pending"}"#, nil),
        (#"{"shownAs":"qrCode","target":"pending"}"#, nil),
        (#"{"shownAs":"TEXT","target":"pending"}"#, nil),
        (#"{"shownAs":null,"target":"pending"}"#, nil),
        (#"{"shownAs":1,"target":"pending"}"#, nil),
        (#"{"shownAs":true,"target":"pending"}"#, nil),
    ] as [(String, RevealForm?)])
    func shownAsBothWays(_ row: (data: String, form: RevealForm?)) {
        let decoded = Self.decodedBothWays(type: "QRCodeRevealed", version: 1, data: Array(row.data.utf8))
        #expect(decoded.inPlace == decoded.general, "\(row.data)")
        for result in [decoded.inPlace, decoded.general] {
            switch (result, row.form) {
            case (.success(.qrCodeRevealed(let revealed)), let form?): #expect(revealed.shownAs == form, "\(row.data)")
            case (.failure, nil): break
            default: Issue.record("\(row.data) decoded as \(result), expected \(row.form.map { "\($0)" } ?? "a refusal")")
            }
        }
    }

    @Test("Rows mutated at random (seeded: JSON punctuation, digits, escapes, spaces) decode the same in place and in general")
    func mutatedRowsAgree() {
        // xorshift64*: deterministic, so a failure replays.
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ bound: Int) -> Int {
            state ^= state >> 12
            state ^= state << 25
            state ^= state >> 27
            return Int((state &* 0x2545_F491_4F6C_DD1D) % UInt64(bound))
        }
        let alphabet = Array(#"{}[],:"\ 0123456789.-+eEtruefalsnul=/ASHé"#.utf8) + [0x09, 0x0A, 0x00, 0x1F, 0xFF]
        var disagreements: [String] = []
        var fastPathAnswers = 0
        for row in Self.rows {
            for _ in 0..<1_500 {
                var data = Array(row.data.utf8)
                for _ in 0...next(3) {
                    let position = data.isEmpty ? 0 : next(data.count)
                    switch next(3) {
                    case 0 where !data.isEmpty: data[position] = alphabet[next(alphabet.count)]
                    case 1 where !data.isEmpty: data.remove(at: position)
                    default: data.insert(alphabet[next(alphabet.count)], at: position)
                    }
                }
                let decoded = Self.decodedBothWays(type: row.type, version: row.version, data: data)
                if case .success = decoded.inPlace { fastPathAnswers += 1 }
                if decoded.inPlace != decoded.general || !Self.checkedAgrees(decoded), disagreements.count < 5 {
                    disagreements.append("\(row.type) v\(row.version) \(String(decoding: data, as: UTF8.self))")
                }
            }
        }
        #expect(disagreements.isEmpty, "\(disagreements)")
        #expect(fastPathAnswers > 1_000, "the mutations should leave many rows decodable")
    }
}

@Suite("Sealed secrets' Base64")
struct Base64Tests {
    /// What the rebuild's decoder must accept: exactly the strings Foundation decodes and
    /// encodes back to themselves (strict RFC 4648 §4: the alphabet, padding only at the end,
    /// the bits padding stands for zero), decoded to Foundation's bytes.
    static func foundation(_ text: String) -> [UInt8]? {
        guard let data = Data(base64Encoded: text), data.base64EncodedString() == text else { return nil }
        return Array(data)
    }

    static func decode(_ text: String) -> [UInt8]? {
        Array(text.utf8).withUnsafeBytes { Base64.decode($0) }
    }

    /// What projections use: the same checks, no bytes made.
    static func decodedCount(_ text: String) -> Int? {
        Array(text.utf8).withUnsafeBytes { Base64.decodedCount($0) }
    }

    @Test("Every length of bytes encoded by Foundation decodes back to them")
    func roundTrips() {
        var generator = SplitMix64(seed: 7)
        for length in 0...96 {
            let bytes = (0..<length).map { _ in UInt8(truncatingIfNeeded: generator.next()) }
            let text = Data(bytes).base64EncodedString()
            #expect(Self.decode(text) == bytes, "\(text)")
            #expect(Self.decodedCount(text) == length, "\(text)")
        }
    }

    @Test("Strings near Base64 (seeded: symbols, padding anywhere, spaces, lengths) are read as Foundation reads them back, or refused")
    func nearMisses() {
        var generator = SplitMix64(seed: 11)
        let symbols = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
        let odd = Array("==== -_.\n\u{0}é".utf8)
        var accepted = 0
        for _ in 0..<20_000 {
            let length = generator.next(upTo: 14)
            var bytes = (0..<length).map { _ in symbols[generator.next(upTo: symbols.count)] }
            // Half the time a padding or foreign byte: mostly in the last two places, else anywhere.
            if length > 0, generator.next(upTo: 2) == 0 {
                let place = generator.next(upTo: 3) > 0 ? length - 1 - generator.next(upTo: min(length, 2)) : generator.next(upTo: length)
                bytes[place] = odd[generator.next(upTo: odd.count)]
            }
            let text = String(decoding: bytes, as: UTF8.self)
            let expected = Self.foundation(text)
            if expected != nil { accepted += 1 }
            #expect(Self.decode(text) == expected, "\(text.debugDescription)")
            #expect(Self.decodedCount(text) == expected?.count, "\(text.debugDescription)")
        }
        // Both kinds were tried.
        #expect(accepted > 1_000 && accepted < 19_000)
    }
}

@Suite("Random identifiers")
struct RandomUUIDTests {
    @Test("Default command ids are version-7 UUIDs: distinct, read back by Foundation, carrying the time, later ones sorting after")
    func versionSeven() throws {
        let before = Date()
        let first = (0..<500).map { _ in CommandEnvelope(user: "alice", command: .revealQRCode).commandId }
        Thread.sleep(forTimeInterval: 0.003)
        let later = (0..<500).map { _ in RandomUUID.timeOrdered() }
        let ids = first + later
        #expect(Set(ids).count == ids.count)
        for id in ids.prefix(50) + ids.suffix(50) {
            let parsed = try #require(UUID(uuidString: id))
            #expect(parsed.uuidString.lowercased() == id)
            let bytes = withUnsafeBytes(of: parsed.uuid) { Array($0) }
            #expect(bytes[6] >> 4 == 7 && bytes[8] >> 6 == 2, "\(id) is not version 7, variant 10")
            let milliseconds = bytes.prefix(6).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            #expect(abs(Double(milliseconds) / 1000 - before.timeIntervalSince1970) < 60, "\(id) does not carry the time")
        }
        // 3 ms apart: every later id sorts (as text, as SQLite compares the key) after every first one.
        #expect(first.max()! < later.min()!)
    }

    @Test("Event and command ids are distinct version-4 UUIDs that Foundation reads back")
    func versionFour() {
        let ids = (0..<1000).map { _ in RandomUUID.string() }
        #expect(Set(ids).count == ids.count)
        for id in ids.prefix(50) {
            let parsed = UUID(uuidString: id)
            #expect(parsed?.uuidString.lowercased() == id)
            let bytes = parsed.map { withUnsafeBytes(of: $0.uuid) { Array($0) } } ?? []
            #expect(bytes.count == 16 && bytes[6] >> 4 == 4 && bytes[8] >> 6 == 2, "\(id) is not version 4, variant 10")
        }
    }
}

/// The bytes the Codable path through JSONValue writes for `value`.
private func reference(_ value: some Encodable) throws -> String { try JSONValueCoder.encode(value).canonicalString }
