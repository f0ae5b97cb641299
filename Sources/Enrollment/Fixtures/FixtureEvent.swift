import Foundation
import OneTimePassword

/// Why a fixture file cannot be replayed (as opposed to replaying and failing).
public struct FixtureError: Error, Sendable, Hashable, CustomStringConvertible {
    public var file: String
    public var reason: String
    /// Whether the format's description helps (not for a path that names nothing).
    public var aboutFormat: Bool

    public init(file: String, reason: String, aboutFormat: Bool = true) {
        self.file = file
        self.reason = reason
        self.aboutFormat = aboutFormat
    }

    public var code: String { "malformed_fixture" }
    public var description: String { "\(file): \(reason)" + (aboutFormat && !reason.contains("Fixtures/README.md") ? "; see Fixtures/README.md for the format" : "") }
}

/// Why a fixture secret of `count` bytes could not have come from the engine, naming it as
/// `name`; `nil` when it could. RFC 4226 §4 R6 asks for at least 128 bits (an empty one would
/// key HMAC with nothing), and the engine issues at most ``EnrollmentPolicy/longestSecret``.
func secretLengthProblem(_ name: String, _ count: Int) -> String? {
    if count < 16 { return "\(name) holds \(count) bytes; a secret has at least 16 (128 bits, RFC 4226 §4)" }
    let longest = EnrollmentPolicy.longestSecret
    if count > longest { return "\(name) holds \(count) bytes; a secret has at most \(longest) (the engine issues none longer)" }
    return nil
}

/// Events as fixtures write them: the event's fields in the journal's JSON (current schema
/// unless `schemaVersion` says otherwise) plus `type`, with the secret in Base32 under
/// `secret` instead of sealed (fixture secrets are test secrets, and Base32 is what
/// authenticator apps and `oathtool` take). `"secret": null` is a forgotten secret.
///
/// ```json
/// {"type": "EnrollmentRequested", "secret": "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", "issuer": "ACME",
///  "account": "alice", "algorithm": "SHA1", "digits": 6, "period": 30, "expiresAt": 1764400600}
/// ```
public enum FixtureEvent {
    /// The fixture form of an event (without `at`).
    public static func object(for event: EnrollmentEvent) -> [String: JSONValue] {
        let encoded = try? EventCodec.encode(event) { secret in secret.bytes }
        guard let encoded, case .object(var object)? = try? JSONValue.parse(encoded.data) else { return ["type": .string(event.type.rawValue)] }
        let sealed = object.removeValue(forKey: "sealedSecret")
        switch event {
        case .enrollmentRequested(let issued), .secretRegenerated(let issued):
            // Also when the codec writes nothing for a forgotten secret: `null` is its spelling.
            if case .open(let secret) = issued.secret {
                object["secret"] = .string(Base32.encode(secret.bytes))
            } else {
                object["secret"] = .null
            }
        default:
            if let sealed { object["secret"] = sealed }
        }
        object["type"] = .string(event.type.rawValue)
        return object
    }

    /// Reads a fixture event; `schemaVersion` (default: the current one) selects the upcasters.
    public static func event(from object: [String: JSONValue], file: String, index: String) throws(FixtureError) -> EnrollmentEvent {
        func fail(_ reason: String) -> FixtureError { FixtureError(file: file, reason: "\(index): \(reason)") }
        guard case .string(let typeName)? = object["type"] else { throw fail("\"type\" is missing") }
        guard let type = EventType(rawValue: typeName) else {
            throw fail("unknown event type \"\(typeName)\"; use one of \(EventType.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        // A missing secret would otherwise read as a forgotten one: `null` is that spelling, and
        // a forgotten key (or a typo) must not silently test a crypto-shredded secret.
        if type == .enrollmentRequested || type == .secretRegenerated, object["secret"] == nil {
            if object["sealedSecret"] != nil {
                throw fail("\(typeName) has no member \"sealedSecret\" in a fixture: give the Base32 secret under \"secret\", or null for a forgotten one")
            }
            throw fail("\(typeName): \"secret\" is missing; give the Base32 secret, or null for a forgotten one")
        }
        var fields = object
        fields.removeValue(forKey: "type")
        fields.removeValue(forKey: "at")
        var schemaVersion = EventCodec.currentVersions[type] ?? 1
        if let version = fields.removeValue(forKey: "schemaVersion") {
            guard case .int(let value) = version else { throw fail("\"schemaVersion\" must be an integer") }
            schemaVersion = Int(value)
        }
        // The secret itself, handed to the event by `open` below: the codec reads the event's
        // shape, with a placeholder of a sealed secret's size where the journal holds the box.
        var given: [UInt8]?
        if let secret = fields.removeValue(forKey: "secret") {
            switch secret {
            case .string(let text):
                guard let bytes = Base32.decode(text) else { throw fail("\"secret\" is not Base32") }
                if let problem = secretLengthProblem("\"secret\"", bytes.count) { throw fail(problem) }
                given = bytes
                fields["sealedSecret"] = .string(Data(count: SecretField.sealedByteCountMinimum).base64EncodedString())
            case .null:
                fields["sealedSecret"] = .null
            default:
                throw fail("\"secret\" must be a Base32 string or null")
            }
        }
        let event: EnrollmentEvent
        do {
            event = try EventCodec.decode(
                type: typeName, schemaVersion: schemaVersion, data: JSONValue.object(fields).canonicalString,
                open: { _ in given.map { .open(Secret(bytes: $0)) } ?? .forgotten })
        } catch {
            // The codec's message speaks of a journal position and restoring the journal; a
            // fixture has neither, so only why this event cannot be read is said.
            guard case .undecodableEvent(_, _, let reason) = error else { throw fail("\(typeName) does not decode: \(error.message)") }
            // The codec names the first member missing; the README's table has them all.
            throw fail("\(typeName) does not decode: \(reason)" + (reason.hasSuffix("is missing)") ? "; Fixtures/README.md lists each event's members" : ""))
        }
        // A member the event does not have (a typo, a field of another event) would otherwise be
        // ignored, and the fixture would say something it does not test. (Older schema versions
        // only lack members the current one has.)
        // (`secret` is a member only of the events that issue one: `object(for:)` has it there.)
        let known = Set(Self.object(for: event).keys).union(["type", "at", "schemaVersion"])
        if let unknown = object.keys.sorted().first(where: { !known.contains($0) }) {
            throw fail("\(typeName) has no member \"\(unknown.prefix(40))\"; its members are \(known.subtracting(["type", "at", "schemaVersion"]).sorted().joined(separator: ", "))")
        }
        return event
    }
}
