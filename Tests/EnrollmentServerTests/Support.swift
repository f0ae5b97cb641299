import Enrollment
import EnrollmentServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import Synchronization
import Testing
import TestSupport

/// A server on a fresh database in a temp directory (removed afterwards), driven without a socket.
final class Harness: Sendable {
    static let secret = Array("test-secret-of-at-least-thirty-two-bytes!".utf8)
    static let start: UnixTime = 1_800_000_000

    let directory: URL
    let clock = FixedClock(Harness.start)
    let service: EnrollmentService
    let issuer: TokenIssuer
    let logs = LogCapture()
    let configuration: ServerConfiguration

    init(digits: Int = 6, maxBodyBytes: Int = 4096, maxWritesPerMinute: Int = 0) async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("server-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        service = try EnrollmentService.open(
            databasePath: directory.appendingPathComponent("enrollment.sqlite").path,
            keyFilePath: directory.appendingPathComponent("enrollment.key").path, clock: clock)
        issuer = await TokenIssuer(secret: Self.secret)
        var options = EnrollmentOptions(issuer: "ACME")
        options.parameters.digits = digits
        configuration = ServerConfiguration(maxBodyBytes: maxBodyBytes, enrollmentOptions: options, maxWritesPerMinute: maxWritesPerMinute)
    }

    deinit { try? FileManager.default.removeItem(at: directory) }

    var databasePath: String { directory.appendingPathComponent("enrollment.sqlite").path }

    func token(_ user: String, lifetime: Int64 = 3600) async throws -> String {
        try await issuer.token(for: user, expiresAt: clock.now() + lifetime)
    }

    /// Runs `body` against the application, verifying tokens with `key` (HS256 by default).
    func test(
        key: TokenKey = .hmacSHA256(secret: Harness.secret), accepting acceptance: TokenAcceptance = TokenAcceptance(),
        _ body: @Sendable (Client) async throws -> Void
    ) async throws {
        let verifier = try await TokenVerifier.make(key, clock: clock, accepting: acceptance)
        let logger = Logger(label: "test.access") { _ in logs.handler() }
        let router = EnrollmentServer.router(service: service, verifier: verifier, configuration: configuration, logger: logger)
        let app = Application(router: router)
        try await app.test(.router) { client in try await body(Client(client: client)) }
    }
}

/// The test client with the API's paths and JSON bodies.
struct Client: Sendable {
    let client: any TestClientProtocol
    static let totp = "/api/users/v1/me/totp"

    @discardableResult
    func request(
        _ method: HTTPRequest.Method, _ path: String = Client.totp, token: String?, json: String? = nil,
        headers extra: HTTPFields = [:]
    ) async throws -> TestResponse {
        var headers = extra
        if let token { headers[.authorization] = "Bearer \(token)" }
        if json != nil && headers[.contentType] == nil { headers[.contentType] = "application/json" }
        return try await client.execute(uri: path, method: method, headers: headers, body: json.map { ByteBuffer(string: $0) })
    }

    func action(_ action: String, token: String, code: String? = nil, key: String? = nil) async throws -> TestResponse {
        var body: [String: String] = ["action": action]
        if let code { body["verificationCode"] = code }
        let json = String(decoding: try JSONEncoder().encode(body), as: UTF8.self)
        var headers: HTTPFields = [:]
        if let key { headers[HTTPField.Name("Idempotency-Key")!] = key }
        return try await request(.post, token: token, json: json, headers: headers)
    }
}

extension TestResponse {
    var object: [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]) ?? [:]
    }
    var text: String { String(buffer: body) }
    subscript(_ key: String) -> String? { object[key].map { "\($0)" } }

    /// The otpauth URI inside `qrCodeUrl` (base64, as WSO2 sends it).
    var otpauthURI: String? {
        guard let encoded = object["qrCodeUrl"] as? String, let data = Data(base64Encoded: encoded) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}

/// Query items of an otpauth URI, parsed with Foundation (not our own parser).
func uriParameter(_ uri: String, _ name: String) -> String? {
    URLComponents(string: uri)?.queryItems?.first { $0.name == name }?.value
}

/// The code oathtool (an independent RFC 6238 implementation) computes for `uri` at `time`.
func oathtoolCode(uri: String, at time: UnixTime) throws -> String {
    let secret = try #require(uriParameter(uri, "secret"))
    let digits = uriParameter(uri, "digits") ?? "6"
    return try run("oathtool", ["--totp", "-b", "-d", digits, "--now", "@\(time)", secret])
        .trimmingCharacters(in: .whitespacesAndNewlines)
}

/// The Debian package of each tool the server tests run (Tools/install-deps.sh installs them).
private let toolPackages = [
    "sqlite3": "sqlite3", "openssl": "openssl", "oathtool": "oathtool", "rsvg-convert": "librsvg2-bin",
    "zbarimg": "zbar-tools", "node": "nodejs",
]

/// Runs a tool found on the PATH (a missing one fails the test naming its package, never skips
/// it) and returns its stdout; fails the test, quoting its stderr, when it exits non-zero.
@discardableResult
func run(_ tool: String, _ arguments: [String], input: Data? = nil) throws -> String {
    let path = try Processes.tool(tool, package: toolPackages[tool] ?? tool)
    let result = try Processes.run(path, arguments, input: input)
    #expect(result.status == 0, "\(tool) \(arguments.first ?? "") exited with \(result.status): \(result.stderr)")
    return result.stdout
}

/// Every log line written during a test, as text (message and metadata).
final class LogCapture: Sendable {
    private let lines = Mutex<[String]>([])
    var all: String { lines.withLock { $0.joined(separator: "\n") } }
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    func handler() -> some LogHandler { CapturingHandler(capture: self) }

    struct CapturingHandler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .trace
        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }
        func log(event: LogEvent) {
            let all = metadata.merging(event.metadata ?? [:]) { $1 }
            capture.append("\(event.level) \(event.message) \(all.map { "\($0)=\($1)" }.sorted().joined(separator: " "))")
        }
    }
}
