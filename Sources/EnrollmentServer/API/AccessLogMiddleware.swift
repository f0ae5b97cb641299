import Enrollment
import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Turns every error into the API's error body and writes one access line per request.
///
/// The access line is structured (swift-log metadata): method, path, status, duration, trace
/// id and the authenticated user. It never holds the query string, a header, or a body, nor
/// the segments of a path no route serves, so no token, secret or code can reach the log
/// through it. Every 5xx answer also writes one error
/// line with the trace id, the error code and what went wrong (``APIError/logDetail``, or the
/// type of an error the routes did not anticipate), since the client is told the log names it.
struct AccessLogMiddleware: RouterMiddleware {
    typealias Context = ServerRequestContext
    let logger: Logger
    /// The server's database: the commands a logged error suggests (`enroll verify`,
    /// `rebuild-projections …`) name it, so that the operator who copies them acts on it.
    var databasePath = ""

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        var response: Response
        var refusal: APIError?
        do {
            // Every command the request runs records it as its correlation id.
            response = try await ServerRequestContext.$currentTraceId.withValue(context.traceId) { try await next(request, context) }
        } catch {
            var apiError = error as? APIError ?? Self.translate(error, request: request)
            if !(error is APIError), apiError.logDetail == nil { apiError.logDetail = "unexpected \(String(reflecting: type(of: error)))" }
            logServerError(apiError, context: context)
            response = apiError.response(traceId: context.traceId)
            refusal = apiError
        }
        response.headers[Self.traceHeader] = context.traceId
        // JSON is never to be sniffed as something else (answers carry secrets and user input).
        if response.headers[.xContentTypeOptions] == nil { response.headers[.xContentTypeOptions] = "nosniff" }
        let elapsed = ContinuousClock.now - start
        let milliseconds = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
        var metadata: Logger.Metadata = [
            "method": "\(request.method.rawValue)",
            // Quoted as the user is: the HTTP parser lets `"` and `\` through in a path, which
            // unquoted would end a logfmt field early and hide the ones after it.
            "path": "\(TextField.quoted(refusal?.code == "not_found" ? Self.shape(ofUnknownPath: request.uri.path) : request.uri.path))",
            "status": "\(response.status.code)",
            "duration_ms": "\(String(format: "%.1f", milliseconds))",
            "trace_id": "\(context.traceId)",
        ]
        if let user = context.record.user { metadata["user"] = "\(TextField.quoted(user))" }
        // Which POST it was: an operator tells guessing (VALIDATE) from revealing (VIEW).
        if let action = context.record.action { metadata["action"] = "\(action)" }
        if let code = context.record.refusal { metadata["code"] = "\(code)" }
        if let refusal {
            metadata["code"] = "\(refusal.code)"
            // Why a token was refused (expired, another audience, a bad signature…): what an
            // operator needs to mend an identity provider's set-up, and never the token itself.
            if let why = refusal.refusedBecause { metadata["reason"] = "\(TextField.quoted(why))" }
        }
        // An idempotent retry answered with the first outcome, nothing done again.
        if response.headers[TOTPRoutes.replayedHeader] == "true" { metadata["replayed"] = "true" }
        if let address = context.channel.remoteAddress?.ipAddress { metadata["client"] = "\(address)" }
        logger.info("request", metadata: metadata)
        return response
    }

    /// One error line for a 5xx: the trace id the client was given, the stable code and the
    /// detail. APIError messages and details never carry a secret, a code or a token.
    func logServerError(_ error: APIError, context: Context) {
        guard error.status.code >= 500 else { return }
        let detail = error.logDetail ?? error.message
        // Quoted, as the access line's fields are: the detail may name the user (a token's
        // `sub`), whose spaces and `=` would otherwise forge fields after it. A path's combining
        // marks are kept as they are, so that the command it suggests can be copied.
        var metadata: Logger.Metadata = [
            "trace_id": "\(context.traceId)", "code": "\(error.code)",
            "error": "\"\(TextField.escaped(databasePath.isEmpty ? detail : StoreError.naming(detail, database: databasePath), quotes: true, marks: false))\"",
        ]
        if let user = context.record.user { metadata["user"] = "\(TextField.quoted(user))" }
        // A request cut short by the server's own stop is part of every deploy, not a fault: a
        // notice, so that an alert on the error rate does not fire at each one.
        logger.log(level: error.code == APIError.serverStopping.code ? .notice : .error, "request failed", metadata: metadata)
    }


    static let traceHeader = HTTPField.Name("X-Trace-Id")!

    /// The words of the server's own routes (`api`, `users`, `v1`, `me`, `totp`, `status`…).
    static let routeWords: Set<Substring> = Set(
        [TOTPRoutes.methods, MyAccountPage.methods, HealthRoute.methods].flatMap(\.keys).flatMap { $0.split(separator: "/") })

    /// A path no route serves, as the access log writes it: the words of the server's own routes
    /// kept and every other segment written `…`. A client may put anything in a path it gets
    /// wrong (`/me/SECRET/CODE`), and the log carries no secret or code.
    static func shape(ofUnknownPath path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false)
            .map { $0.isEmpty || routeWords.contains($0) ? String($0) : "…" }
            .joined(separator: "/")
    }

    /// Errors raised by Hummingbird itself (no route, wrong method, body too large) in the API's shape.
    static func translate(_ error: any Error, request: Request) -> APIError {
        guard let httpError = error as? any HTTPResponseError else {
            return APIError(
                .internalServerError, code: "internal_error", message: "the server failed unexpectedly",
                description: "tell the operator the trace id; the server log has the details")
        }
        let path = String(request.uri.path.prefix(200))
        // The router answers 404 for a path it knows under another method: that is a 405.
        let allowed = EnrollmentServer.allowedMethods(path: path)
        switch httpError.status {
        case .notFound where !allowed.isEmpty, .methodNotAllowed: return .methodNotAllowed(request.method, path: path, allowed: allowed)
        case .notFound: return .notFound(path: path)
        case .contentTooLarge: return .bodyTooLarge(limit: nil)
        default:
            return APIError(
                httpError.status, code: "http_\(httpError.status.code)", message: httpError.status.reasonPhrase,
                description: "check the request against the README's API table")
        }
    }
}
