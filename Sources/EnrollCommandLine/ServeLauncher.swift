import ArgumentParser
import Enrollment
import Foundation

/// The options of `enroll serve`, declared once for both executables: `enroll` parses them (for
/// its help and to refuse bad input) and hands the command line to `enroll-server`, which
/// parses them again and runs the HTTP server.
public struct ServeOptions: ParsableArguments {
    public static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the TOTP API (/api/users/v1/me/totp) and the Authenticator App page (/myaccount).",
        discussion: """
            Requests carry 'Authorization: Bearer <JWT>'; the token's 'sub' is the user. Tokens are \
            checked with HS256 and a shared secret (env ENROLL_JWT_SECRET, or --jwt-secret-file) or \
            with RS256/ES256 and a public key (--jwt-public-key); 'exp' is required, 'nbf' is \
            honoured (both with --jwt-leeway seconds of leeway, 30 by default), and 'iss' and 'aud' \
            are checked when --jwt-issuer and --jwt-audience are given. --demo prints a page address with \
            a ready token for a demo user, signed with a random secret (so not with \
            ENROLL_JWT_SECRET or --jwt-secret-file, which it refuses). GET /health \
            (no token) answers 200 while the journal can be read with the key file, else 503. SIGTERM, \
            Ctrl-C or SIGHUP stops accepting connections, lets requests in flight finish, and exits. Access \
            logs go to stderr and never contain tokens, secrets or codes; LOG_LEVEL (trace, debug, \
            info, notice, warning, error or critical; default info) sets how much is logged.
            """)

    @OptionGroup public var global: GlobalOptions
    @OptionGroup public var secretOptions: SecretSettings

    @Option(help: ArgumentHelp("The address to listen on.", valueName: "host"))
    public var host = "127.0.0.1"

    // The numbers are parsed unconditionally, so that `--port -1` reaches validate()'s range
    // check instead of reading as a missing value followed by an option named '-1'.
    @Option(parsing: .unconditional, help: ArgumentHelp("The port to listen on (0: any free port; the address is printed).", valueName: "port"))
    public var port = 8080

    @Option(name: .customLong("jwt-secret-file"), help: ArgumentHelp("A file holding the HS256 secret (at least 32 random bytes: fewer than 8 different characters, or jwt.io's example, is refused; whitespace and newlines at either end are not part of it).", valueName: "path"))
    public var jwtSecretFile: String?

    @Option(name: .customLong("jwt-public-key"), help: ArgumentHelp("A PEM public key (RSA: RS256, P-256: ES256) that signs the tokens.", valueName: "pem-file"))
    public var jwtPublicKey: String?

    @Option(name: .customLong("jwt-issuer"), help: ArgumentHelp("Accept only tokens whose 'iss' claim is this (env ENROLL_JWT_ISSUER; default: 'iss' is not checked).", valueName: "issuer"))
    public var jwtIssuer: String?

    @Option(name: .customLong("jwt-audience"), help: ArgumentHelp("Accept only tokens whose 'aud' claim names this (env ENROLL_JWT_AUDIENCE; default: 'aud' is not checked).", valueName: "audience"))
    public var jwtAudience: String?

    // Text, so that the option and ENROLL_JWT_LEEWAY are refused with one message.
    @Option(name: .customLong("jwt-leeway"), parsing: .unconditional, help: ArgumentHelp("Seconds by which a token's 'exp' and 'nbf' are stretched, for an identity provider's clock that differs from this server's, 0-300 (env ENROLL_JWT_LEEWAY; default 30).", valueName: "seconds"))
    public var jwtLeeway: String?

    @Flag(help: "Print the page's address with a token for the demo user, signed with a random HS256 secret (not with a real one: refused with ENROLL_JWT_SECRET or --jwt-secret-file).")
    public var demo = false

    @Option(name: .customLong("demo-user"), help: ArgumentHelp("The user the --demo token speaks for.", valueName: "user"))
    public var demoUser = "demo"

    @Option(name: .customLong("max-body-bytes"), parsing: .unconditional, help: ArgumentHelp("Request bodies beyond this size are refused with 413.", valueName: "bytes"))
    public var maxBodyBytes = 4096

    @Option(name: .customLong("max-writes-per-minute"), parsing: .unconditional, help: ArgumentHelp("Requests that change or reveal (POST, DELETE, GET of the QR code or secret) per user per minute before 429 (0: no limit).", valueName: "n"))
    public var maxWritesPerMinute = 60

    // Text, read by enroll-server (its ServeCommand.idleTimeout), so that a bad value is refused with
    // the same message whether it came from the option or from ENROLL_IDLE_TIMEOUT.
    @Option(name: .customLong("idle-timeout"), parsing: .unconditional, help: ArgumentHelp("Close a connection that sends nothing for this long, such as one stalled halfway through its headers, or whose request's head or body takes longer in all (0.1 to 3600; env ENROLL_IDLE_TIMEOUT; default 30). Time spent answering does not count.", valueName: "seconds"))
    public var idleTimeout: String?

    public init() {}

    /// The issuer and audience tokens must name: the options, else the environment (an empty
    /// one is refused by ``validate()``).
    public var tokenAcceptance: (issuer: String?, audience: String?) {
        (jwtIssuer ?? Environment["ENROLL_JWT_ISSUER"], jwtAudience ?? Environment["ENROLL_JWT_AUDIENCE"])
    }

    /// The option, else ENROLL_JWT_LEEWAY, else 30 seconds.
    public func tokenLeeway() throws -> Int64 {
        let (source, text) = jwtLeeway.map { ("--jwt-leeway", $0) } ?? ("ENROLL_JWT_LEEWAY", Environment["ENROLL_JWT_LEEWAY"] ?? "30")
        guard let seconds = Int64(text), (0...300).contains(seconds) else {
            throw ValidationError("\(source) must be a whole number of seconds from 0 to 300, not '\(Validation.excerpt(text))'; 30 allows the usual drift between clocks, 0 none")
        }
        return seconds
    }

    public func validate() throws {
        guard (0...100_000).contains(maxWritesPerMinute) else { throw ValidationError("--max-writes-per-minute must be 0 to 100000, not \(maxWritesPerMinute); pass 0 for no limit") }
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0 to 65535, not \(port); pass 0 for any free port") }
        guard (64...1_048_576).contains(maxBodyBytes) else { throw ValidationError("--max-body-bytes must be 64 to 1048576, not \(maxBodyBytes); pass a size in that range") }
        if jwtPublicKey != nil && jwtSecretFile != nil {
            throw ValidationError("give either --jwt-secret-file (HS256) or --jwt-public-key (RS256/ES256), not both")
        }
        if demo && jwtPublicKey != nil {
            throw ValidationError("--demo signs its own token with an HS256 secret; drop --jwt-public-key")
        }
        // --demo prints its token (to the terminal, or a service's log): signed with the real
        // secret, it would be a credential for the demo user valid for 8 hours. A demo signs
        // with a random secret only this process knows.
        if demo && jwtSecretFile != nil {
            throw ValidationError("--demo prints a token, and signed with --jwt-secret-file's secret it would be a real credential; drop --jwt-secret-file (--demo makes a random secret) or drop --demo")
        }
        if demo, let secret = Environment["ENROLL_JWT_SECRET"], !secret.isEmpty {
            throw ValidationError("--demo prints a token, and signed with ENROLL_JWT_SECRET it would be a real credential; unset ENROLL_JWT_SECRET (--demo makes a random secret) or drop --demo")
        }
        do { _ = try Validation.user(demoUser) } catch { throw CodedValidation.error(error, message: "--demo-user: \(error.message)") }
        _ = try tokenLeeway()
        // An empty issuer or audience (a template's missing variable, say) would check nothing,
        // while whoever set it believes tokens for other applications are refused.
        for (name, option, variable, claim) in [("--jwt-issuer", jwtIssuer, "ENROLL_JWT_ISSUER", "iss"), ("--jwt-audience", jwtAudience, "ENROLL_JWT_AUDIENCE", "aud")] {
            if option?.isEmpty == true {
                throw ValidationError("\(name) must not be empty; give the '\(claim)' your identity provider puts in its tokens, or leave the option out to accept any")
            }
            if option == nil, Environment[variable]?.isEmpty == true {
                throw ValidationError("\(variable) is set but empty; set it to the '\(claim)' your identity provider puts in its tokens, or unset it to accept any")
            }
        }
        // Every user's QR code must be drawable, the longest user id's too.
        do {
            try Validation.fitsQRCode(try secretOptions.options(), account: Validation.longestEncodedUser)
        } catch InputError.namesTooLong(let bytes, let limit) {
            throw ValidationError("--issuer is too long for a QR code: with a 256-byte user id the otpauth URI would be \(bytes) bytes, more than a QR code holds (\(limit)); use a shorter issuer (in the URI a character other than A-Z, a-z, 0-9, '-', '.', '_' and '~' takes 3 to 12 bytes)")
        }
    }
}

/// `enroll serve`: the HTTP server lives in the sibling executable `enroll-server`, so that the
/// HTTP stack (Hummingbird, swift-nio, jwt-kit) is not loaded by every short `enroll` command
/// (BENCHMARKS.md, "`enroll status` as a process"). Once the options are valid, this process
/// becomes `enroll-server` with the same arguments (same process id, so signals reach the server).
struct ServeLauncher: ParsableCommand {
    static let configuration = ServeOptions.configuration

    @OptionGroup var options: ServeOptions

    func run() throws {
        throw ServerExecutable.exec(arguments: Array(CommandLine.arguments.dropFirst())).reported(asJSON: options.global.printsJSON)
    }
}

/// Finds and starts `enroll-server`, installed beside `enroll`.
enum ServerExecutable {
    static let name = "enroll-server"

    /// `enroll-server` in the directory of the running executable. /proc/self/exe is the real
    /// file, so a symlink to `enroll` elsewhere (say in /usr/local/bin) still finds its sibling.
    static func path() -> String {
        var directory = "."
        #if os(Linux)
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        if length > 0 {
            let executable = String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            directory = (executable as NSString).deletingLastPathComponent
        }
        #else
        if let executable = Bundle.main.executableURL?.resolvingSymlinksInPath() {
            directory = executable.deletingLastPathComponent().path
        }
        #endif
        return directory + "/" + name
    }

    /// Replaces this process with `enroll-server ARGUMENTS`; returns the failure to report only
    /// if that is impossible.
    static func exec(arguments: [String]) -> CLIFailure {
        let server = path()
        guard access(server, X_OK) == 0 else {
            return CLIFailure(
                code: "server_missing",
                message: "`enroll serve` runs \(server), which is missing or not executable; build it with `swift build --product \(name)` and keep it beside enroll",
                exitCode: CLIExit.environment)
        }
        let argv = ([server] + arguments).map { strdup($0) } + [nil]
        execv(server, argv)
        let reason = String(cString: strerror(errno))
        return CLIFailure(code: "server_not_started", message: "cannot start \(server): \(reason)", exitCode: CLIExit.environment)
    }
}
