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
    /// The `when` command as written. A `RegenerateSecret` naming some options keeps the rest
    /// from the active secret when it is decided (``command(after:)``), as `enroll regenerate`
    /// does; here they are the defaults.
    public var command: EnrollmentCommand
    /// The `when` object, for ``command(after:)``.
    private var when: [String: JSONValue] = [:]
    /// The expected events in fixture form (see ``FixtureEvent``).
    public var then: [[String: JSONValue]]
    /// The expected refusal code, `nil` when the command must be accepted.
    public var rejection: String?
    /// Expected fields of the user's authenticators row (only those listed are compared).
    public var state: [String: JSONValue]?

    /// The members a scenario has (Fixtures/README.md). Any other is refused: a misspelt
    /// `rejections` or `State` would otherwise be ignored, and the check it meant to make would
    /// silently disappear from a scenario that still passes.
    public static let members = ["description", "user", "secrets", "policy", "given", "when", "then", "rejection", "state"]
    /// The refusals a scenario can expect: the decider's, and a code that is not 6 to 8 digits
    /// (spaces aside), which every interface refuses before the decider sees it.
    static let rejections = EnrollmentRejection.codes + [InputError.invalidCode("").code]
    /// The rules a scenario's `policy` overrides.
    public static let policyMembers = ["pendingLifetime", "maxFailedAttempts", "lockDuration", "window"]

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
        try Self.refuseUnknown(in: root, allowed: Self.members, "the scenario", fail: fail)
        self.name = name
        // An optional member of the wrong type is refused, not read as absent.
        func string(_ object: [String: JSONValue], _ key: String, _ path: String) throws(FixtureError) -> String? {
            switch object[key] {
            case nil, .null?: return nil
            case .string(let value)?: return value
            case let value?: throw fail("\(path) must be a string, not \(value.canonicalString.prefix(20))")
            }
        }
        func list(_ key: String, _ what: String) throws(FixtureError) -> [JSONValue]? {
            switch root[key] {
            case nil, .null?: return nil
            case .array(let list)?: return list
            case let value?: throw fail("\"\(key)\" must be a list of \(what) ([] for none), not \(value.canonicalString.prefix(20))")
            }
        }
        func object(_ key: String, _ example: String) throws(FixtureError) -> [String: JSONValue]? {
            switch root[key] {
            case nil, .null?: return nil
            case .object(let object)?: return object
            case let value?: throw fail("\"\(key)\" must be an object, e.g. \(example), not \(value.canonicalString.prefix(20))")
            }
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
        description = try string(root, "description", "\"description\"") ?? ""
        user = try string(root, "user", "\"user\"") ?? "alice"
        // The same rules as everywhere else: a fixture must not test a user no command accepts.
        do { _ = try Validation.user(user) } catch { throw fail("user: \(error.message)") }

        secrets = []
        for (index, item) in (try list("secrets", "Base32 secrets") ?? []).enumerated() {
            guard case .string(let text) = item, let bytes = Base32.decode(text) else { throw fail("secrets[\(index)] is not a Base32 string") }
            if let problem = secretLengthProblem("secrets[\(index)]", bytes.count) { throw fail(problem) }
            secrets.append(Secret(bytes: bytes))
        }

        policy = .default
        if let object = try object("policy", "{\"maxFailedAttempts\": 3}") {
            try Self.refuseUnknown(in: object, allowed: Self.policyMembers, "policy", fail: fail)
            let year: Int64 = 31_536_000
            if let value = try number(object, "pendingLifetime", "policy.pendingLifetime", in: 1...year, "seconds") { policy.pendingLifetime = value }
            if let value = try number(object, "maxFailedAttempts", "policy.maxFailedAttempts", in: 1...100, "a count") { policy.maxFailedAttempts = Int(value) }
            // At most a week, as the policy holds it (a longer lock is no journal import accepts).
            if let value = try number(object, "lockDuration", "policy.lockDuration", in: 1...EnrollmentPolicy.longestLockDuration, "seconds") { policy.lockDuration = value }
            if let value = try number(object, "window", "policy.window", in: 0...10, "time steps") { policy.verifier = TOTPVerifier(window: Int(value)) }
        }

        let whenExample = "{\"at\": 1764400030, \"command\": \"ConfirmCode\", \"code\": \"123456\"}"
        guard let when = try object("when", whenExample) else { throw fail("\"when\" is missing: give the command, e.g. \(whenExample)") }
        guard let at = try number(when, "at", "when.at", in: times, "a Unix time") else { throw fail("when.at is missing: the Unix time the command is decided at") }
        now = at
        actor = try string(when, "actor", "when.actor") ?? user
        // As `--actor`: a fixture must not test an actor no command accepts.
        do { _ = try Validation.actor(actor) } catch {
            guard case .invalidActor(let reason) = error else { throw fail("when.actor: \(error.message)") }
            throw fail("when.actor is not an actor enroll accepts: \(reason); use 1 to 256 bytes of printable UTF-8 without '/' or '\\', or leave it out to record the user as the actor")
        }
        command = try Self.command(when, fail: fail)
        self.when = when
        // As ENROLL_NOW for the command line: a secret issued must have its whole life before the
        // last time an event may carry, not one cut short to it (or expired as it is shown).
        if command.needsFreshSecret, at > times.upperBound - policy.pendingLifetime {
            throw fail("when.at \(at) leaves the secret \(command.name) issues less than its lifetime (\(policy.pendingLifetime) s) before \(Timestamps.iso8601(times.upperBound)), the last time an event may carry; decide it at \(times.upperBound - policy.pendingLifetime) at the latest")
        }

        given = []
        if let list = try list("given", "events") {
            var time: UnixTime?
            for (index, item) in list.enumerated() {
                guard case .object(let object) = item else { throw fail("given[\(index)] is not an object") }
                if let eventTime = try number(object, "at", "given[\(index)].at", in: times, "a Unix time") { time = eventTime }
                // A time carries over from the event before; the first has none to take.
                guard let time else { throw fail("given[\(index)].at is missing: the first event has no event before it to take its time from; give the Unix time it was recorded") }
                given.append(Given(at: time, event: try FixtureEvent.event(from: object, file: name, index: "given[\(index)]")))
            }
            // A history the engine could never have written would test a state no user can be in.
            var state = AuthenticatorState.initial
            for (index, item) in given.enumerated() {
                if let obstacle = state.obstacle(to: item.event, at: item.at) {
                    throw fail("given[\(index)] (\(item.event.type.rawValue)) could not have been recorded after the events before it: \(obstacle)")
                }
                // Names no release wrote, as `enroll import` refuses them.
                if let problem = JournalArchive.unwritableNames(in: item.event, user: user) {
                    throw fail("given[\(index)] (\(item.event.type.rawValue)) holds a name enroll never records: \(problem)")
                }
                state = state.evolve(item.event)
            }
        }

        then = []
        guard let expected = try list("then", "the events expected") else { throw fail("\"then\" is missing: list the events expected ([] for none)") }
        for (index, item) in expected.enumerated() {
            guard case .object(let object) = item else { throw fail("then[\(index)] is not an object") }
            // Parsed once to reject typos early; compared in fixture form.
            _ = try FixtureEvent.event(from: object, file: name, index: "then[\(index)]")
            // The command's events are recorded when it is decided: another time could never
            // match, and ignoring it would let the file claim what is not checked.
            if let time = object["at"], time != .int(at) {
                throw fail("then[\(index)].at is \(time.canonicalString.prefix(20)), but the command's events are recorded at when.at (\(at)); leave it out or make it \(at)")
            }
            then.append(object)
        }
        rejection = try string(root, "rejection", "\"rejection\"")
        if let rejection, !Self.rejections.contains(rejection) {
            throw fail("rejection \"\(rejection.prefix(40))\" is not a refusal code; use one of \(Self.rejections.joined(separator: ", "))")
        }
        state = try object("state", "{\"status\": \"active\"}")
        if let state {
            // A field the row does not have (a misspelt `failedAttempt`) could never match: the
            // scenario would FAIL as if the engine were wrong.
            try Self.refuseUnknown(in: state, allowed: Array(Self.stateFields), "state", fail: fail)
            try Self.refuseMistyped(state, like: Self.stateSpecimen, "state", fail: fail)
        }
    }

    /// The authenticators row's fields, set or not (its JSON leaves out the unset ones).
    static let stateFields = Set(Mirror(reflecting: AuthenticatorSummary.none(user: "alice")).children.compactMap(\.label))

    /// An authenticators row with every field set, in JSON: what type each `state` field holds.
    static let stateSpecimen: [String: JSONValue] = {
        var row = AuthenticatorSummary.none(user: "alice")
        row.status = .active
        (row.issuer, row.account, row.algorithm, row.digits, row.period) = ("ACME", "alice", "SHA1", 6, 30)
        (row.pendingExpiresAt, row.requestedAt, row.activatedAt, row.lastRevealedAt, row.lockedUntil) = (0, 0, 0, 0, 0)
        row.remainingAttempts = 0
        row.replacement = .init(issuer: "ACME", account: "alice", algorithm: "SHA1", digits: 6, period: 30)
        guard case .object(let fields)? = try? JSONValueCoder.encode(row) else { return [:] }
        return fields
    }()

    /// Refuses a value of another type than `specimen`'s member of the same name (`null`, absent,
    /// goes with any), and in a nested object a member the specimen's does not have: it could
    /// never equal the row's, and the scenario would FAIL as if the engine were wrong. (A field
    /// the row does not have at all is refused before, by name.)
    static func refuseMistyped(_ object: [String: JSONValue], like specimen: [String: JSONValue], _ path: String, fail: (String) -> FixtureError) throws(FixtureError) {
        for key in object.keys.sorted() {
            guard let value = object[key], value != .null, let expected = specimen[key] else { continue }
            switch (expected, value) {
            case (.string, .string), (.int, .int), (.bool, .bool): continue
            case (.object(let members), .object(let given)):
                try refuseUnknown(in: given, allowed: Array(members.keys), "\(path).\(key)", fail: fail)
                try refuseMistyped(given, like: members, "\(path).\(key)", fail: fail)
            default:
                let kind = switch expected {
                case .string: "a string"
                case .int: "a whole number"
                case .bool: "true or false"
                default: "an object, e.g. \(expected.canonicalString)"
                }
                throw fail("\(path).\(key) must be \(kind), not \(value.canonicalString.prefix(20))")
            }
        }
    }

    /// Refuses a member `object` does not have, naming it and the ones it has.
    static func refuseUnknown(in object: [String: JSONValue], allowed: [String], _ path: String, fail: (String) -> FixtureError) throws(FixtureError) {
        if let unknown = object.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw fail("\(path) has no member \"\(unknown.prefix(40))\"; its members are \(allowed.sorted().joined(separator: ", "))")
        }
    }

    /// The options a command that issues a secret takes; the members every `when` has.
    static let optionMembers = ["issuer", "account", "algorithm", "digits", "period"]
    static let whenMembers = ["at", "command", "actor"]

    /// The command as decided after `state`: a `RegenerateSecret` that names some options takes
    /// the others from the active secret (what is left out is kept, as `enroll regenerate`
    /// keeps it), not from the defaults.
    public func command(after state: AuthenticatorState) -> EnrollmentCommand {
        guard case .regenerateSecret(.some) = command, let active = state.active else { return command }
        let kept = EnrollmentOptions(issuer: active.issuer, account: active.account, parameters: active.parameters)
        return (try? Self.command(when, keeping: kept, fail: { FixtureError(file: "", reason: $0) })) ?? command
    }

    static func command(
        _ when: [String: JSONValue], keeping kept: EnrollmentOptions = EnrollmentOptions(), fail: (String) -> FixtureError
    ) throws(FixtureError) -> EnrollmentCommand {
        func string(_ key: String) throws(FixtureError) -> String? {
            switch when[key] {
            case nil, .null?: return nil
            case .string(let value)?: return value
            case let value?: throw fail("when.\(key) must be a string, not \(value.canonicalString.prefix(20))")
            }
        }
        func integer(_ key: String) throws(FixtureError) -> Int? {
            switch when[key] {
            case nil, .null?: return nil
            case .int(let value)?: return Int(value)
            case let value?: throw fail("when.\(key) must be a whole number, not \(value.canonicalString.prefix(20))")
            }
        }
        func options(keeping kept: EnrollmentOptions = EnrollmentOptions()) throws(FixtureError) -> EnrollmentOptions {
            var options = kept
            if let issuer = try string("issuer") { options.issuer = issuer }
            if let account = try string("account") { options.account = account }
            if let name = try string("algorithm") {
                guard let digest = Digest(rawValue: name.uppercased()) else { throw fail("when.algorithm \"\(name)\" is not SHA1, SHA256 or SHA512") }
                options.parameters.algorithm = digest
            }
            if let digits = try integer("digits") { options.parameters.digits = digits }
            if let period = try integer("period") { options.parameters.period = period }
            // Held to the rules `enroll request` and `regenerate` hold typed settings to: a
            // fixture must not pass on a secret the engine would never issue (9 digits, an
            // issuer with ':'). What is kept from the active secret was checked when it was issued.
            let (issuer, account) = (try string("issuer"), try string("account"))
            do throws(InputError) {
                _ = try Validation.options(try Validation.naming(EnrollmentOptions(parameters: options.parameters), issuer: issuer, account: account))
            } catch {
                let member = switch error {
                case .invalidIssuer: "issuer"
                case .invalidAccount: "account"
                case .invalidDigits: "digits"
                case .invalidPeriod: "period"
                default: "settings"
                }
                throw fail("when.\(member): \(error.message)")
            }
            return options
        }
        guard let command = when["command"] else { throw fail("when.command is missing: name the command, e.g. \"ConfirmCode\"") }
        guard case .string(let name) = command else { throw fail("when.command must be a string, the command's name (e.g. \"ConfirmCode\"), not \(command.canonicalString.prefix(20))") }
        // What the command takes; a misspelt option (`digts`) would otherwise leave the default.
        let takes: [String]
        switch name {
        case "RequestEnrollment", "RegenerateSecret": takes = optionMembers
        case "ConfirmCode": takes = ["code"]
        case "RevealQR", "RevealSecretText", "CancelRegenerate", "RemoveAuthenticator": takes = []
        default:
            throw fail("unknown command \"\(name.prefix(40))\"; use RequestEnrollment, ConfirmCode, RevealQR, RevealSecretText, RegenerateSecret, CancelRegenerate or RemoveAuthenticator")
        }
        try refuseUnknown(in: when, allowed: whenMembers + takes, "when (\(name))", fail: fail)
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
            let keys = Set(when.keys).subtracting(whenMembers)
            return .regenerateSecret(keys.isEmpty ? nil : try options(keeping: kept))
        case "CancelRegenerate": return .cancelRegenerate
        default: return .removeAuthenticator  // the only name left (checked above)
        }
    }
}
