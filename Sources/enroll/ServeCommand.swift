import ArgumentParser
import CryptoPrimitives
import Enrollment
import EnrollmentServer
import Foundation
import Logging

/// `enroll serve`: the My Account–compatible HTTP API and the Authenticator App page.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the TOTP API (/api/users/v1/me/totp) and the Authenticator App page (/myaccount).",
        discussion: """
            Requests carry 'Authorization: Bearer <JWT>'; the token's 'sub' is the user. Tokens are \
            checked with HS256 and a shared secret (env ENROLL_JWT_SECRET, or --jwt-secret-file) or \
            with RS256/ES256 and a public key (--jwt-public-key). --demo prints a page address with \
            a ready token for a demo user (with a random secret unless one is given). SIGTERM or \
            Ctrl-C stops accepting connections, lets requests in flight finish, and exits. Access \
            logs go to stderr and never contain tokens, secrets or codes.
            """)

    @OptionGroup var global: GlobalOptions
    @OptionGroup var secretOptions: SecretOptions

    @Option(help: ArgumentHelp("The address to listen on.", valueName: "host"))
    var host = "127.0.0.1"

    @Option(help: ArgumentHelp("The port to listen on (0: any free port; the address is printed).", valueName: "port"))
    var port = 8080

    @Option(name: .customLong("jwt-secret-file"), help: ArgumentHelp("A file holding the HS256 secret (at least 32 bytes).", valueName: "path"))
    var jwtSecretFile: String?

    @Option(name: .customLong("jwt-public-key"), help: ArgumentHelp("A PEM public key (RSA: RS256, P-256: ES256) that signs the tokens.", valueName: "pem-file"))
    var jwtPublicKey: String?

    @Flag(help: "Print the page's address with a token for the demo user (a random HS256 secret unless one is given).")
    var demo = false

    @Option(name: .customLong("demo-user"), help: ArgumentHelp("The user the --demo token speaks for.", valueName: "user"))
    var demoUser = "demo"

    @Option(name: .customLong("max-body-bytes"), help: ArgumentHelp("Request bodies beyond this size are refused with 413.", valueName: "bytes"))
    var maxBodyBytes = 4096

    @Option(name: .customLong("max-writes-per-minute"), help: ArgumentHelp("Requests that change or reveal (POST, DELETE, GET of the QR code or secret) per user per minute before 429 (0: no limit).", valueName: "n"))
    var maxWritesPerMinute = 60

    func validate() throws {
        guard (0...100_000).contains(maxWritesPerMinute) else { throw ValidationError("--max-writes-per-minute must be 0 to 100000, not \(maxWritesPerMinute)") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0 to 65535, not \(port)") }
        guard (64...1_048_576).contains(maxBodyBytes) else { throw ValidationError("--max-body-bytes must be 64 to 1048576, not \(maxBodyBytes)") }
        if jwtPublicKey != nil && jwtSecretFile != nil {
            throw ValidationError("give either --jwt-secret-file (HS256) or --jwt-public-key (RS256/ES256), not both")
        }
        if demo && jwtPublicKey != nil {
            throw ValidationError("--demo signs its own token with an HS256 secret; drop --jwt-public-key")
        }
        do { _ = try Validation.user(demoUser) } catch { throw ValidationError(error.message) }
        if secretOptions.account != nil {
            throw ValidationError("--account would give every user the same account name; the server uses each user's id (drop --account)")
        }
    }

    func run() async throws {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
            return handler
        }
        let key = try tokenKey()
        let options = try global.reporting { try secretOptions.options() }
        let service = try global.reporting { try global.service(create: true, concurrentReads: true) }
        let verifier: TokenVerifier
        do {
            verifier = try await TokenVerifier.make(key, clock: service.clock)
        } catch {
            throw CLIFailure.usage(error.message)
        }
        let demoToken: String? = try await demoToken(key: key, clock: service.clock)
        let configuration = ServerConfiguration(
            host: host, port: port, maxBodyBytes: maxBodyBytes, enrollmentOptions: options, maxWritesPerMinute: maxWritesPerMinute)
        let shownHost = host.contains(":") ? "[\(host)]" : host
        let demoUser = demoUser
        let app = EnrollmentServer.application(service: service, verifier: verifier, configuration: configuration) { bound in
            let base = "http://\(shownHost):\(bound)"
            Terminal.line("Listening on \(base) (API \(base)/api/users/v1/me/totp, page \(base)/myaccount)")
            if let demoToken {
                Terminal.line("Open \(base)/myaccount#token=\(demoToken)")
                Terminal.line("(demo user '\(demoUser)'; the token is valid for 8 hours)")
            }
        }
        do {
            try await app.runService()
        } catch {
            throw CLIFailure(code: "serve_failed", message: "cannot serve on \(host):\(port): \(error); pick another --port or stop what uses it", exitCode: CLIExit.environment)
        }
    }

    /// With --demo, a HS256 token for the demo user, valid for 8 hours.
    func demoToken(key: TokenKey, clock: any EnrollmentClock) async throws -> String? {
        guard demo, case .hmacSHA256(let secret) = key else { return nil }
        return try await TokenIssuer(secret: secret).token(for: demoUser, expiresAt: clock.now() + 8 * 3600)
    }

    /// The token key, from the options and the environment (see the discussion above).
    func tokenKey() throws -> TokenKey {
        if let jwtPublicKey {
            guard let pem = try? String(contentsOfFile: jwtPublicKey, encoding: .utf8) else {
                throw CLIFailure.usage("cannot read the public key file '\(jwtPublicKey)'; pass a readable PEM file to --jwt-public-key")
            }
            return .publicKeyPEM(pem)
        }
        if let jwtSecretFile {
            guard let data = FileManager.default.contents(atPath: jwtSecretFile) else {
                throw CLIFailure.usage("cannot read the secret file '\(jwtSecretFile)'; pass a readable file to --jwt-secret-file")
            }
            return .hmacSHA256(secret: Array(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines).utf8))
        }
        if let secret = ProcessInfo.processInfo.environment["ENROLL_JWT_SECRET"], !secret.isEmpty {
            return .hmacSHA256(secret: Array(secret.utf8))
        }
        if demo {
            do { return .hmacSHA256(secret: try SecureRandom.bytes(32)) } catch {
                throw CLIFailure(code: "no_randomness", message: "no randomness for the demo secret: \(error)", exitCode: CLIExit.environment)
            }
        }
        throw CLIFailure.usage("no token key: set ENROLL_JWT_SECRET, or pass --jwt-secret-file or --jwt-public-key (or --demo to try the page)")
    }
}
