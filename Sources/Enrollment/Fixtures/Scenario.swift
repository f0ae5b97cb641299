import Foundation
import OneTimePassword

/// A given/when/then scenario: the events already in a user's stream, one command at a fixed
/// time (with the code the user typed), and exactly the events it must produce — or the
/// refusal — plus, optionally, the authenticators projection row expected afterwards.
/// The format is described in Fixtures/README.md.
public struct Scenario: Sendable {
    public struct Given: Sendable {
        public var at: UnixTime
        public var event: EnrollmentEvent
    }

    public var name: String
    public var description: String
    public var user: String
    public var actor: String
    /// The first is the secret a command that issues one gets; a scenario has one command, so
    /// the others are never used.
    public var secrets: [Secret]
    public var policy: EnrollmentPolicy
    public var given: [Given]
    public var now: UnixTime
    public var command: EnrollmentCommand
    /// The expected events in fixture form (see ``FixtureEvent``).
    public var then: [[String: JSONValue]]
    /// The expected refusal code, `nil` when the command must be accepted.
    public var rejection: String?
    /// Expected fields of the user's authenticators row (only those listed are compared).
    public var state: [String: JSONValue]?

    /// Parses a scenario file's JSON.
    public init(json: String, name: String) throws(FixtureError) {
        func fail(_ reason: String) -> FixtureError { FixtureError(file: name, reason: reason) }
        // Duplicate members are refused: "last one wins" would let a fixture say one thing to a
        // reader and test another.
        let parsed: JSONValue
        do { parsed = try JSONParser.parse(json, rejectingDuplicates: true) } catch { throw fail(FixtureJSON.reason(error, in: json)) }
        guard case .object(let root) = parsed else {
            throw fail("it is \(parsed.canonicalString.prefix(20)), not a JSON object; a scenario is {\"given\": […], \"when\": {…}, \"then\": […]}")
        }
        self.name = name
        func string(_ object: [String: JSONValue], _ key: String) -> String? {
            if case .string(let value)? = object[key] { return value }
            return nil
        }
        func int(_ object: [String: JSONValue], _ key: String) -> Int64? {
            if case .int(let value)? = object[key] { return value }
            return nil
        }
        // A number the engine could not have been given (a time past 9999, a lock of 2^62 s)
        // is refused by name, not read as missing or folded into arithmetic that overflows.
        func number(_ object: [String: JSONValue], _ key: String, _ path: String, in range: ClosedRange<Int64>, _ what: String) throws(FixtureError) -> Int64? {
            guard let value = object[key] else { return nil }
            guard case .int(let number) = value, range.contains(number) else {
                throw fail("\(path) must be \(what), a whole number from \(range.lowerBound) to \(range.upperBound)")
            }
            return number
        }
        let times = EnrollmentEvent.timeRange
        description = string(root, "description") ?? ""
        user = string(root, "user") ?? "alice"
        // The same rules as everywhere else: a fixture must not test a user no command accepts.
        do { _ = try Validation.user(user) } catch { throw fail("user: \(error.message)") }

        secrets = []
        if case .array(let list)? = root["secrets"] {
            for (index, item) in list.enumerated() {
                guard case .string(let text) = item, let bytes = Base32.decode(text) else { throw fail("secrets[\(index)] is not a Base32 string") }
                // RFC 4226 §4 R6: at least 128 bits; an empty one would key HMAC with nothing.
                guard bytes.count >= 16 else { throw fail("secrets[\(index)] holds \(bytes.count) bytes; a secret has at least 16 (128 bits, RFC 4226 §4)") }
                secrets.append(Secret(bytes: bytes))
            }
        }

        policy = .default
        if case .object(let object)? = root["policy"] {
            let year: Int64 = 31_536_000
            if let value = try number(object, "pendingLifetime", "policy.pendingLifetime", in: 1...year, "seconds") { policy.pendingLifetime = value }
            if let value = try number(object, "maxFailedAttempts", "policy.maxFailedAttempts", in: 1...100, "a count") { policy.maxFailedAttempts = Int(value) }
            if let value = try number(object, "lockDuration", "policy.lockDuration", in: 1...year, "seconds") { policy.lockDuration = value }
            if let value = try number(object, "window", "policy.window", in: 0...10, "time steps") { policy.verifier = TOTPVerifier(window: Int(value)) }
        }

        guard case .object(let when)? = root["when"] else { throw fail("\"when\" is missing: give the command, e.g. {\"at\": 1764400030, \"command\": \"ConfirmCode\", \"code\": \"123456\"}") }
        guard let at = try number(when, "at", "when.at", in: times, "a Unix time") else { throw fail("when.at is missing: the Unix time the command is decided at") }
        now = at
        actor = string(when, "actor") ?? user
        command = try Self.command(when, fail: fail)

        given = []
        switch root["given"] {
        case nil, .null?, .array?: break
        case let value?: throw fail("\"given\" must be a list of events ([] for none), not \(value.canonicalString.prefix(20))")
        }
        if case .array(let list)? = root["given"] {
            var time = at
            for (index, item) in list.enumerated() {
                guard case .object(let object) = item else { throw fail("given[\(index)] is not an object") }
                if let eventTime = try number(object, "at", "given[\(index)].at", in: times, "a Unix time") { time = eventTime }
                given.append(Given(at: time, event: try FixtureEvent.event(from: object, file: name, index: "given[\(index)]")))
            }
            // A history the engine could never have written would test a state no user can be in.
            var state = AuthenticatorState.initial
            for (index, item) in given.enumerated() {
                if let obstacle = state.obstacle(to: item.event, at: item.at) {
                    throw fail("given[\(index)] (\(item.event.type.rawValue)) could not have been recorded after the events before it: \(obstacle)")
                }
                state = state.evolve(item.event)
            }
        }

        then = []
        if case .array(let list)? = root["then"] {
            for (index, item) in list.enumerated() {
                guard case .object(let object) = item else { throw fail("then[\(index)] is not an object") }
                // Parsed once to reject typos early; compared in fixture form.
                _ = try FixtureEvent.event(from: object, file: name, index: "then[\(index)]")
                then.append(object)
            }
        } else if let value = root["then"] {
            throw fail("\"then\" must be a list of the events expected ([] for none), not \(value.canonicalString.prefix(20))")
        } else {
            throw fail("\"then\" is missing: list the events expected ([] for none)")
        }
        rejection = string(root, "rejection")
        if let rejection, !EnrollmentRejection.codes.contains(rejection) {
            throw fail("rejection \"\(rejection.prefix(40))\" is not a refusal code; use one of \(EnrollmentRejection.codes.joined(separator: ", "))")
        }
        if case .object(let object)? = root["state"] { state = object } else { state = nil }
    }

    static func command(_ when: [String: JSONValue], fail: (String) -> FixtureError) throws(FixtureError) -> EnrollmentCommand {
        func options() throws(FixtureError) -> EnrollmentOptions {
            var options = EnrollmentOptions()
            if case .string(let issuer)? = when["issuer"] { options.issuer = issuer }
            if case .string(let account)? = when["account"] { options.account = account }
            if case .string(let name)? = when["algorithm"] {
                guard let digest = Digest(rawValue: name.uppercased()) else { throw fail("when.algorithm \"\(name)\" is not SHA1, SHA256 or SHA512") }
                options.parameters.algorithm = digest
            }
            if case .int(let digits)? = when["digits"] { options.parameters.digits = Int(digits) }
            if case .int(let period)? = when["period"] { options.parameters.period = Int(period) }
            return options
        }
        guard case .string(let name)? = when["command"] else { throw fail("when.command is missing") }
        switch name {
        case "RequestEnrollment": return .requestEnrollment(try options())
        case "ConfirmCode":
            guard let value = when["code"] else { throw fail("when.code is missing: the code the user typed, as a string") }
            guard case .string(let code) = value else {
                throw fail("when.code must be a string, the code exactly as typed (leading zeros included), not \(value.canonicalString.prefix(20))")
            }
            return .confirmCode(code)
        case "RevealQR": return .revealQRCode
        case "RevealSecretText": return .revealSecretText
        case "RegenerateSecret":
            let keys = Set(when.keys).subtracting(["at", "command", "actor"])
            return .regenerateSecret(keys.isEmpty ? nil : try options())
        case "RemoveAuthenticator": return .removeAuthenticator
        default:
            throw fail("unknown command \"\(name)\"; use RequestEnrollment, ConfirmCode, RevealQR, RevealSecretText, RegenerateSecret or RemoveAuthenticator")
        }
    }
}
