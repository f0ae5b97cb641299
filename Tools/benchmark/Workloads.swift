import CryptoPrimitives
import Enrollment
import Foundation
import OneTimePassword

/// The engine's side of each figure.
enum Workloads {
    static let now: UnixTime = 1_764_000_000
    static let masterKey = [UInt8](repeating: 9, count: 32)

    // MARK: TOTP

    /// ±1-window verifications of a right code per second (three HMACs each).
    static func totpVerificationsPerSecond(_ count: Int) throws -> Double {
        let secret = Array("12345678901234567890".utf8)
        let code = try TOTP.code(secret: secret, at: now)
        let verifier = TOTPVerifier(window: 1)
        var matched = 0
        let elapsed = seconds {
            for _ in 0..<count {
                if case .matched = verifier.verify(code: code, secret: secret, parameters: .default, at: now, lastAcceptedStep: nil) {
                    matched += 1
                }
            }
        }
        guard matched == count else { throw BenchmarkError("the verifier refused a right code (\(matched) of \(count))") }
        return Double(count) / elapsed
    }

    // MARK: Commands

    static func freshService(_ path: String, durability: Durability) throws -> EnrollmentService {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
        let database = try EnrollmentDatabase(path: path, options: DatabaseOptions(durability: durability, concurrentReads: true))
        return try EnrollmentService(database: database, keyRing: try KeyRing(masterKey: masterKey), clock: FixedClock(now))
    }

    /// The code the user's authenticator app would show for the secret just issued.
    static func code(for outcome: CommandOutcome) throws -> String {
        guard outcome.accepted, let secret = outcome.state.pending?.credential.secret.secret else {
            throw BenchmarkError("request for \(outcome.user) was refused: \(String(describing: outcome.rejection))")
        }
        return try TOTP.code(secret: secret.bytes, at: now)
    }

    static func requireAccepted(_ outcome: CommandOutcome) throws {
        guard outcome.accepted else { throw BenchmarkError("confirm for \(outcome.user) was refused: \(String(describing: outcome.rejection))") }
    }

    /// Request then confirm for `users` users, one command at a time through the synchronous
    /// handler: commands per second.
    static func oneWriter(path: String, durability: Durability, users: Int) throws -> Double {
        let service = try freshService(path, durability: durability)
        let elapsed = try seconds {
            for index in 0..<users {
                let user = "user-\(index)"
                let requested = try service.handle(CommandEnvelope(user: user, command: .requestEnrollment(EnrollmentOptions())))
                try requireAccepted(try service.handle(CommandEnvelope(user: user, command: .confirmCode(try code(for: requested)))))
            }
        }
        return Double(2 * users) / elapsed
    }

    struct Concurrent {
        var commandsPerSecond: Double
        var p50: Double
        var p99: Double
    }

    /// `clients` concurrent callers of ``GroupCommitHandler``, each doing request then confirm
    /// for its share of `users`: durable commands per second and per-command latency.
    static func concurrent(path: String, clients: Int, users: Int, durability: Durability = .full) async throws -> Concurrent {
        let service = try freshService(path, durability: durability)
        let handler = GroupCommitHandler(service: service)
        let start = ContinuousClock.now
        let latencies = try await withThrowingTaskGroup(of: [Double].self) { group in
            for client in 0..<clients {
                group.addTask {
                    var latencies: [Double] = []
                    for index in stride(from: client, to: users, by: clients) {
                        let user = "user-\(index)"
                        var began = ContinuousClock.now
                        let requested = try await handler.handle(CommandEnvelope(user: user, command: .requestEnrollment(EnrollmentOptions())))
                        latencies.append((ContinuousClock.now - began).seconds)
                        let code = try code(for: requested)
                        began = ContinuousClock.now
                        try requireAccepted(try await handler.handle(CommandEnvelope(user: user, command: .confirmCode(code))))
                        latencies.append((ContinuousClock.now - began).seconds)
                    }
                    return latencies
                }
            }
            return try await group.reduce(into: [Double]()) { $0 += $1 }
        }
        let elapsed = (ContinuousClock.now - start).seconds
        return Concurrent(
            commandsPerSecond: Double(latencies.count) / elapsed,
            p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99))
    }

    // MARK: Growth

    /// The median latency of a confirm (a fresh user's request first, not timed) on each of two
    /// existing journals with caught-up projections (the growth figure: a small one and a large
    /// one), in seconds. The confirms alternate between them, one each in turn, so that both
    /// medians come from the same seconds: an fsync's time on a shared machine drifts by tens of
    /// percent from one minute to the next, which timing all of one journal and then all of the
    /// other would put into their ratio.
    static func confirmLatency(paths: (small: String, large: String), durability: Durability, samples: Int, tag: String) throws -> (small: Double, large: Double) {
        let services = try [paths.small, paths.large].map { path in
            let database = try EnrollmentDatabase(path: path, options: DatabaseOptions(durability: durability, create: false))
            return try EnrollmentService(database: database, keyRing: try KeyRing(masterKey: JournalFixture.masterKey), clock: FixedClock(now))
        }
        var latencies: [[Double]] = [[], []]
        for index in 0..<samples {
            // Which journal goes first alternates too.
            for which in index % 2 == 0 ? [0, 1] : [1, 0] {
                let service = services[which], user = "growth-\(tag)-\(index)"
                let requested = try service.handle(CommandEnvelope(user: user, command: .requestEnrollment(EnrollmentOptions())))
                let code = try code(for: requested)
                var confirmed: CommandOutcome?
                latencies[which].append(try seconds { confirmed = try service.handle(CommandEnvelope(user: user, command: .confirmCode(code))) })
                if let confirmed { try requireAccepted(confirmed) }
            }
        }
        return (median(latencies[0]), median(latencies[1]))
    }

    /// Median wall time of a whole process, run `samples` times.
    /// `enroll status USER` as a whole process and the sqlite3 command line reading the same row,
    /// alternated: per repetition, the median wall time of `samples` runs of each, in seconds.
    static func statusProcess(enroll: String, database: String, user: String, samples: Int, repetitions: Int) throws -> (status: [Double], sqlite: [Double]) {
        _ = try processTime(enroll, ["status", user, "--db", database], samples: 2, expect: user)
        var statusTimes: [Double] = [], sqliteTimes: [Double] = []
        for _ in 0..<repetitions {
            statusTimes.append(try processTime(enroll, ["status", user, "--db", database], samples: samples, expect: user))
            sqliteTimes.append(try processTime(
                "/usr/bin/sqlite3", [database, "SELECT * FROM authenticators WHERE user_id = '\(user)'"], samples: samples, expect: user))
        }
        return (statusTimes, sqliteTimes)
    }

    static func processTime(_ executable: String, _ arguments: [String], samples: Int, expect: String) throws -> Double {
        var times: [Double] = []
        for _ in 0..<samples {
            var output = ""
            times.append(try seconds { output = try run(executable, arguments) })
            guard output.contains(expect) else { throw BenchmarkError("\(executable) printed \(output.prefix(200)), expected \(expect)") }
        }
        return median(times)
    }
}
