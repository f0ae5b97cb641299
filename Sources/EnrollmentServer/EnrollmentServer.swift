import Enrollment
import Hummingbird
import Logging

/// The HTTP face of the engine: the My Account–compatible TOTP API under `/api/users/v1` and
/// the Authenticator App page at `/myaccount`, on Hummingbird 2.
///
/// ```swift
/// let verifier = try await TokenVerifier.make(.hmacSHA256(secret: key), clock: service.clock)
/// let app = EnrollmentServer.application(service: service, verifier: verifier, configuration: .init(port: 8080))
/// try await app.runService()   // SIGTERM/SIGINT (enroll-server adds SIGHUP): stop accepting, finish in-flight requests, exit
/// ```
public enum EnrollmentServer {
    /// The routes, without a socket: what the application serves and what tests drive.
    public static func router(
        service: EnrollmentService, verifier: TokenVerifier, configuration: ServerConfiguration,
        logger: Logger = Logger(label: "enrollment.access")
    ) -> Router<ServerRequestContext> {
        let router = Router(context: ServerRequestContext.self)
        router.add(middleware: AccessLogMiddleware(logger: logger, databasePath: service.database.path))
        let engine = Engine(service: service)
        TOTPRoutes(engine: engine, verifier: verifier, configuration: configuration).register(on: router)
        HealthRoute(engine: engine).register(on: router)
        MyAccountPage.register(on: router)
        return router
    }

    /// The methods `path` is served with (empty for a path that is not served), for the `Allow`
    /// header of a 405. Listed beside the routes they describe: ``TOTPRoutes/methods``,
    /// ``MyAccountPage/methods`` and ``HealthRoute/methods``.
    static func allowedMethods(path: String) -> [HTTPRequest.Method] {
        // As the router reads a path: by its non-empty components, so `/me//totp` and a trailing
        // `/` name the route they are served as.
        let route = "/" + path.split(separator: "/").joined(separator: "/")
        return TOTPRoutes.methods[route] ?? MyAccountPage.methods[route] ?? HealthRoute.methods[route] ?? []
    }

    /// HEAD (RFC 9110 §9.3.2): the GET answer's status and headers, with the length it would
    /// have sent and no content. Registered only where a GET is safe (the page, its assets,
    /// `status`, `history`): a GET of the QR code or of the secret text shows a secret and
    /// records that it was shown, so HEAD there is a 405 with `Allow`.
    static func head(_ get: Response) -> Response {
        var response = get
        response.body = ResponseBody()
        // After the body: setting one sets Content-Length to its own length (0), and RFC 9110
        // §8.6 allows only the GET's length here.
        if let length = get.body.contentLength { response.headers[.contentLength] = String(length) } else { response.headers[.contentLength] = nil }
        return response
    }

    static func nanoseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }

    /// The server. `onRunning` receives the bound port (useful with port 0) once it accepts
    /// connections. Graceful shutdown on SIGTERM and SIGINT comes from swift-service-lifecycle
    /// through `runService()`: the listener closes, in-flight requests finish (each engine
    /// command commits in one transaction or not at all), then the process exits.
    public static func application(
        service: EnrollmentService, verifier: TokenVerifier, configuration: ServerConfiguration,
        logger: Logger = Logger(label: "enrollment.server"),
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        Application(
            router: router(service: service, verifier: verifier, configuration: configuration),
            server: .http1(configuration: .init(
                additionalChannelHandlers: [
                    MalformedRequestHandler(logger: Logger(label: "enrollment.access"), idleTimeout: configuration.idleTimeout), HTTP1Installer(),
                    ExpectContinue(maxBodyBytes: configuration.maxBodyBytes),
                ],
                idleTimeout: .nanoseconds(nanoseconds(configuration.idleTimeout)))),
            configuration: .init(
                address: .hostname(configuration.host, port: configuration.port), serverName: "enroll",
                availableConnectionsDelegate: configuration.maxConnections.map { ConnectionLimit(maximum: $0, logger: logger) }),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? configuration.port) },
            logger: logger)
    }
}
