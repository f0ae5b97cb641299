import ArgumentParser
import CryptoPrimitives
import EnrollCommandLine
import Enrollment
import EnrollmentServer
import Foundation
import Logging

/// `enroll serve` (and `enroll-server`): the My Account–compatible HTTP API and the
/// Authenticator App page. The options are ``ServeOptions``, shared with `enroll`, which hands
/// `enroll serve …` to this executable.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = ServeOptions.configuration

    @OptionGroup var options: ServeOptions

    func run() async throws {
        do {
            try await serve()
        } catch let failure as CLIFailure {
            throw failure.reported(asJSON: options.global.printsJSON)
        }
    }

    private func serve() async throws {
        let logLevel = try Self.logLevel(ProcessInfo.processInfo.environment["LOG_LEVEL"])
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = logLevel
            return handler
        }
        let key = try tokenKey()
        let acceptance = TokenAcceptance(issuer: options.tokenAcceptance.issuer, audience: options.tokenAcceptance.audience, leeway: try options.tokenLeeway())
        let global = options.global
        let enrollmentOptions = try global.reporting { try options.secretOptions.options() }
        // Everything the operator typed is checked before the database and key file are created.
        let verifier: TokenVerifier
        do {
            verifier = try await TokenVerifier.make(key, clock: global.clock, accepting: acceptance)
        } catch {
            throw CLIFailure.usage((options.jwtPublicKey.map { "--jwt-public-key \($0): " } ?? "") + error.message)
        }
        if case .publicKeyPEM = key, let secret = ProcessInfo.processInfo.environment["ENROLL_JWT_SECRET"], !secret.isEmpty {
            // Left over from an HS256 setup, it would look in force while it is not.
            Terminal.warning(
                "ENROLL_JWT_SECRET is set, and ignored: with --jwt-public-key only tokens signed by that key's private key are accepted, HS256 tokens are refused",
                hint: "unset ENROLL_JWT_SECRET")
        }
        if let problem = ListenAddress.problem(host: options.host, port: options.port) { throw problem }
        let idleTimeout = try options.idleTimeout.map { try Self.idleTimeout($0, source: "--idle-timeout") }
            ?? Self.idleTimeout(ProcessInfo.processInfo.environment["ENROLL_IDLE_TIMEOUT"], source: "ENROLL_IDLE_TIMEOUT")
        let service = try global.reporting { try global.service(create: true, concurrentReads: true) }
        let serverLog = Logger(label: "enrollment.server")
        // Which files, so that the logs of two servers on one host can be told apart.
        serverLog.info(
            "serving \(service.database.path) with the key file \(service.keyRing?.keyFilePath ?? "(none)") at synchronous=\(service.database.options.durability.rawValue)")
        // A projection that is not current (after an upgrade, until rebuild-projections runs)
        // does not stop the API, which folds each user's stream, but `enroll status` and the
        // reports refuse it: said once here, with the command that mends it.
        for projection in Projections.all {
            do {
                try service.database.read { db in try ProjectionStatus.requireCurrent(projection, in: db) }
            } catch let error as StoreError {
                serverLog.notice(
                    "\(StoreError.naming(error.message, database: service.database.path)) (the API goes on: it reads each user's own events)",
                    metadata: ["code": "\(error.code)"])
            } catch {}
        }
        if !options.demo && (acceptance.audience == nil || acceptance.issuer == nil) {
            // Any token the key verifies is taken: an identity provider that signs tokens for
            // other applications too would sign this server's way in for them.
            let missing = [acceptance.issuer == nil ? "--jwt-issuer" : nil, acceptance.audience == nil ? "--jwt-audience" : nil].compactMap { $0 }
            serverLog.notice(
                "tokens are not checked for \(missing.map { $0 == "--jwt-issuer" ? "iss" : "aud" }.joined(separator: " or ")): any token the key verifies is accepted, including one the identity provider issued for another application; set \(missing.joined(separator: " and ")) unless the key signs tokens for this server alone")
        }
        if global.clock is FixedClock {
            // Every event would be recorded at one moment, and codes checked against it: right
            // for tests and demonstrations, never for users' enrollments.
            Terminal.warning(
                "ENROLL_NOW is set: the server's clock stands still at \(Timestamps.iso8601(global.clock.now())); every event is recorded at that time, and codes and the tokens' exp and nbf are checked against it",
                hint: "unset ENROLL_NOW unless this is a test")
        }
        if !Self.isLoopback(options.host) {
            // Bearer tokens and QR codes (secrets) cross the network: in clear, unless a proxy
            // that terminates TLS stands in front, which this process cannot see.
            Terminal.warning(
                "serving plain HTTP on \(options.host): access tokens and secrets cross the network unencrypted unless a proxy that terminates TLS (HTTPS) stands in front",
                hint: "put the server behind such a proxy, or listen on 127.0.0.1 with the proxy on the same host")
        }
        let maxConnections = Self.connectionLimit(descriptors: Self.raiseDescriptorLimit(logger: Logger(label: "enrollment.server")))
        let demoToken: String? = try await demoToken(key: key, clock: global.clock, acceptance: acceptance)
        let (host, port) = (options.host, options.port)
        let configuration = ServerConfiguration(
            host: host, port: port, maxBodyBytes: options.maxBodyBytes, enrollmentOptions: enrollmentOptions,
            maxWritesPerMinute: options.maxWritesPerMinute, idleTimeout: idleTimeout, maxConnections: maxConnections)
        let shownHost = host.contains(":") ? "[\(host)]" : host
        // Every address (0.0.0.0, ::) is no address to open: the printed links go to this
        // machine's loopback, which the server listens on as well.
        let linkHost = host == "0.0.0.0" ? "127.0.0.1" : host == "::" ? "[::1]" : shownHost
        let demoUser = options.demoUser
        let json = global.printsJSON
        // Which files this server serves (opened by their absolute paths), for whoever reads its log or output later.
        let (databaseFile, keyFile) = (service.database.path, service.keyRing?.keyFilePath)
        let app = EnrollmentServer.application(service: service, verifier: verifier, configuration: configuration) { bound in
            let base = "http://\(shownHost):\(bound)"
            let link = "http://\(linkHost):\(bound)"
            let (api, page) = ("\(link)/api/users/v1/me/totp", "\(link)/myaccount")
            if json {
                // One object, once listening: a script that asked for --port 0 learns the port.
                Terminal.json([
                    "listening": base, "port": bound, "api": api, "page": page, "health": "\(link)/health",
                    "database": databaseFile, "keyFile": keyFile,
                    "demoPage": demoToken.map { "\(page)#token=\($0)" }, "demoUser": demoToken.map { _ in demoUser },
                ])
                return
            }
            Terminal.line("Listening on \(base) (API \(api), page \(page))")
            Terminal.line("Serving \(TextField.shellWord(databaseFile))" + (keyFile.map { " with the key file \(TextField.shellWord($0))" } ?? ""))
            if let demoToken {
                Terminal.line("Open \(page)#token=\(demoToken)")
                Terminal.line("(demo user '\(demoUser)'; the token is valid for 8 hours)")
            }
        }
        do {
            // SIGHUP too: a closed terminal or a service manager's reload would otherwise end
            // the process at once, cutting off requests in flight.
            try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint, .sighup])
            // After SIGTERM, Ctrl-C or SIGHUP: the listener closed and every request in flight was
            // answered. Said in the log, so that a clean stop reads differently from a crash.
            Logger(label: "enrollment.server").info("Server stopped: no longer listening, every request in flight answered")
        } catch {
            throw CLIFailure(code: "serve_failed", message: "cannot serve on \(shownHost):\(port) (\(error)); check --host and --port", exitCode: CLIExit.environment)
        }
        // Closed here, before the process exits, rather than whenever the last reference goes
        // (which at exit may be never): the last connection checkpoints the log and removes it.
        do {
            try service.database.close()
        } catch {
            Logger(label: "enrollment.server").warning(
                "the database's connections did not all close (\(error)); its write-ahead log stays beside it, and the next process to open the database replays it")
        }
    }

    /// 127.0.0.0/8, ::1 and localhost: reachable from this host only.
    static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// Every connection holds a file descriptor. The soft limit a service manager or shell
    /// hands down is often 1 024 (systemd's default), far below the hard limit. As most servers
    /// do, the soft limit is raised to the hard one (at most 1 048 576), and the start says so.
    /// Returns the soft limit in force (nil if it cannot be read).
    static func raiseDescriptorLimit(logger: Logger) -> Int? {
        var limit = rlimit()
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return nil }
        let target = min(limit.rlim_max, 1 << 20)
        guard limit.rlim_cur < target else { return Int(clamping: limit.rlim_cur) }
        let before = limit.rlim_cur
        limit.rlim_cur = target
        if setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 {
            logger.info("open file limit raised from \(before) to \(target) (one descriptor per connection)")
            return Int(clamping: target)
        }
        logger.warning("open file limit stays \(before) (one descriptor per connection): \(String(cString: strerror(errno)))")
        return Int(clamping: before)
    }

    /// Descriptors kept for everything but connections: the database's connections (the
    /// writer's and the readers', each with its log), the logs, the event loops' own.
    static let reservedDescriptors = 64

    /// The most connections held at once: the open-file limit less ``reservedDescriptors``,
    /// so that the server stops accepting before `accept` fails for want of a descriptor
    /// (``ConnectionLimit``). Under a limit too small for that reserve (below 128), half of
    /// what is left past the ~24 descriptors the process itself holds, at least 1. Nil when the
    /// limit is unknown.
    static func connectionLimit(descriptors: Int?) -> Int? {
        descriptors.map { $0 >= 128 ? $0 - reservedDescriptors : max(1, ($0 - 24) / 2) }
    }

    /// `LOG_LEVEL`: one of swift-log's levels (default info). A value that is none of them is
    /// refused rather than silently ignored, as a typo would leave the operator without the
    /// lines they asked for.
    static func logLevel(_ text: String?) throws -> Logger.Level {
        guard let text else { return .info }
        guard let level = Logger.Level(rawValue: text.lowercased()) else {
            let levels = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
            throw CLIFailure.usage("LOG_LEVEL must be one of \(levels), not '\(text.prefix(32))'; unset it for info")
        }
        return level
    }

    /// `--idle-timeout`, else `ENROLL_IDLE_TIMEOUT` (seconds, fractions allowed): how long a
    /// connection may send nothing before it is closed; neither, ``ServerConfiguration/defaultIdleTimeout``.
    static func idleTimeout(_ text: String?, source: String) throws -> Duration {
        guard let text else { return ServerConfiguration.defaultIdleTimeout }
        // Decimal digits and one point only: Double would also read "inf", "nan", "0x1p4" and "1e3".
        let plain = !text.isEmpty && text.utf8.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || $0 == UInt8(ascii: ".") }
        guard plain, let seconds = Double(text), (0.1...3600).contains(seconds) else {
            let fix = source.hasPrefix("--") ? "drop it for the default of 30" : "unset it for the default of 30"
            throw CLIFailure.usage("\(source) must be a number of seconds from 0.1 to 3600, not '\(text.prefix(32))'; \(fix)")
        }
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }

    /// With --demo, a HS256 token for the demo user, valid for 8 hours, signed with the random
    /// secret ``tokenKey()`` made: ``ServeOptions/validate()`` refuses --demo with a real secret,
    /// as this token is printed.
    func demoToken(key: TokenKey, clock: any EnrollmentClock, acceptance: TokenAcceptance) async throws -> String? {
        guard options.demo, case .hmacSHA256(let secret) = key else { return nil }
        return try await TokenIssuer(secret: secret).token(for: options.demoUser, expiresAt: clock.now() + 8 * 3600, acceptance: acceptance)
    }

    /// The bytes of the key or secret file at `path` (`what` names it), or a one-line refusal
    /// ending in `remedy`: a pipe would hold the start up waiting for a writer, and a file far
    /// larger than any key (a log, a disk image, given by mistake) is not read whole to be refused.
    static func keyFileBytes(_ path: String, what: String, remedy: String) throws -> [UInt8] {
        let problem: String
        switch SmallFile.read(path, limit: 65_536) {
        case .contents(let bytes): return bytes
        case .notRegular(let kind): problem = "is \(kind.description), not a file"
        case .tooLarge(let size): problem = "holds \(size) bytes, far more than a key (is it the right file?)"
        case .unreadable(let failure): problem = "cannot be read (\(String(cString: strerror(failure))))"
        }
        throw CLIFailure.usage("the \(what) '\(path)' \(problem); \(remedy)")
    }

    /// The token key, from the options and the environment (see the discussion in ``ServeOptions``).
    func tokenKey() throws -> TokenKey {
        if let jwtPublicKey = options.jwtPublicKey {
            let remedy = "pass a readable PEM file of the key that signs the tokens to --jwt-public-key"
            let data = try Self.keyFileBytes(jwtPublicKey, what: "public key file", remedy: remedy)
            guard let pem = String(validating: data, as: UTF8.self) else {
                throw CLIFailure.usage("the public key file '\(jwtPublicKey)' is not text; \(remedy)")
            }
            return .publicKeyPEM(pem)
        }
        if let jwtSecretFile = options.jwtSecretFile {
            let data = try Self.keyFileBytes(
                jwtSecretFile, what: "secret file", remedy: "pass a readable file that holds the HS256 secret to --jwt-secret-file")
            if let exposure = KeyRing.exposure(of: jwtSecretFile, what: "the JWT secret file", grants: "it signs a token for any user") {
                Terminal.warning(exposure.problem, hint: exposure.fix)
            }
            return .hmacSHA256(secret: Array(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines).utf8))
        }
        if let secret = ProcessInfo.processInfo.environment["ENROLL_JWT_SECRET"], !secret.isEmpty {
            return .hmacSHA256(secret: Array(secret.utf8))
        }
        if options.demo {
            do { return .hmacSHA256(secret: try SecureRandom.bytes(32)) } catch {
                throw CLIFailure(code: "no_randomness", message: "no randomness for the demo secret: \(error)", exitCode: CLIExit.environment)
            }
        }
        throw CLIFailure.usage("no token key: set ENROLL_JWT_SECRET, or pass --jwt-secret-file or --jwt-public-key (or --demo to try the page)")
    }
}
