import ArgumentParser
import Enrollment
import Foundation

/// The limits an operator may tune: throttling of wrong codes (RFC 4226 §7.3) and how long a
/// writer waits for another process's write lock. Each also reads an environment variable so
/// that a deployment sets it once; an option on the command line wins.
/// `Kind`: the lock's limits are shown only to commands that decide (``CommandKind/decides``).
struct LimitOptions<Kind: CommandKind>: ParsableArguments {
    @Option(name: .customLong("max-failed-attempts"), parsing: .unconditional, help: ArgumentHelp(
        "Wrong codes in a row before confirmation is locked, 1-100 (env ENROLL_MAX_FAILED_ATTEMPTS; default 5).", valueName: "n",
        visibility: Kind.decides ? .default : .hidden))
    var maxFailedAttempts: String?

    @Option(name: .customLong("lock-minutes"), parsing: .unconditional, help: ArgumentHelp(
        "How long the first lock lasts, 1-10080 minutes; each further lock doubles it (env ENROLL_LOCK_MINUTES; default 15).", valueName: "minutes",
        visibility: Kind.decides ? .default : .hidden))
    var lockMinutes: String?

    @Option(name: .customLong("busy-timeout"), parsing: .unconditional, help: ArgumentHelp(
        "Seconds to wait for another writer's lock before giving up (exit 3; under `enroll serve`, 503 database_busy), 0-600 (env ENROLL_BUSY_TIMEOUT; default 10).", valueName: "seconds"))
    var busyTimeout: String?
}

/// The environment variables ``LimitOptions`` reads (a command line that sets none of them needs
/// no limit validated: ``StatusFastPath``).
enum LimitVariables {
    static let all = ["ENROLL_MAX_FAILED_ATTEMPTS", "ENROLL_LOCK_MINUTES", "ENROLL_BUSY_TIMEOUT"]
}

extension LimitOptions {
    func validate() throws {
        do {
            _ = try policy()
            _ = try busyTimeoutSeconds()
        } catch {
            throw CodedValidation.error(error)
        }
    }

    /// The enrollment rules with the operator's throttling.
    func policy() throws(InputError) -> EnrollmentPolicy {
        var policy = EnrollmentPolicy.default
        if let attempts = try Self.value(maxFailedAttempts, option: "--max-failed-attempts", env: "ENROLL_MAX_FAILED_ATTEMPTS", range: 1...100) {
            policy.maxFailedAttempts = attempts
        }
        if let minutes = try Self.value(lockMinutes, option: "--lock-minutes", env: "ENROLL_LOCK_MINUTES", range: 1...Int(EnrollmentPolicy.longestLockDuration / 60)) {
            policy.lockDuration = Int64(minutes) * 60
        }
        return policy
    }

    func busyTimeoutSeconds() throws(InputError) -> TimeInterval {
        try DatabaseOptions.busyTimeoutSetting(option: busyTimeout, environment: Environment["ENROLL_BUSY_TIMEOUT"])
    }

    /// The option's value, else the environment variable's; and the name to blame if it is wrong.
    private static func setting(_ option: String?, option name: String, env: String) -> (String?, String) {
        if let option { return (option, name) }
        if let value = Environment[env] { return (value, env) }
        return (nil, name)
    }

    private static func value(_ option: String?, option name: String, env: String, range: ClosedRange<Int>) throws(InputError) -> Int? {
        let (text, blamed) = setting(option, option: name, env: env)
        guard let text else { return nil }
        let expected = "a whole number from \(range.lowerBound) to \(range.upperBound)"
        let number = try Validation.number(text, option: blamed, expected: expected)
        guard range.contains(number) else { throw .notANumber(option: blamed, value: text, expected: expected) }
        return number
    }
}
