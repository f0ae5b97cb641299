import Enrollment
import Foundation
import Hummingbird

/// An error as the API answers it: the WSO2 Identity Server error shape
/// `{"code", "message", "description", "traceId"}` with a fitting HTTP status.
///
/// `code` is a stable machine code (the engine's rejection and input codes are reused, so the
/// command line and the API name a refusal the same way); `message` says what went wrong in a
/// few words and `description` what to do next. Nothing here ever carries a secret, a code or a
/// token.
public struct APIError: Error, Sendable, Equatable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var description: String
    /// Seconds until a lock lifts or a throttle allows again (sent as `Retry-After`).
    public var retryAfter: Int64?
    /// Extra fields a client may act on (the lock's end, attempts left); never secrets.
    public var details: Details
    /// The methods the path accepts, sent as `Allow` with a 405 (RFC 9110 §15.5.6).
    public var allow: [HTTPRequest.Method] = []
    /// What the operator needs to find the cause of a 5xx (a storage error's full message,
    /// naming a path or a journal position): logged with the trace id, never sent to the client.
    public var logDetail: String?
    /// Close the connection after this answer (a request body left unread on it).
    public var closesConnection = false
    /// The first outcome of a command id, answered again to a retry (`Idempotent-Replayed: true`).
    public var replayed = false
    /// A 401's `WWW-Authenticate` (RFC 6750 §3): `error="invalid_token"` once a token was sent
    /// and refused, so that a client knows to get another; the bare challenge when none was.
    public var challenge = "Bearer"
    /// Why a token was refused, in a few words (a 401's message after "not authenticated: "):
    /// logged with the access line, for the operator of the identity provider.
    public var refusedBecause: String?

    public struct Details: Sendable, Equatable, Codable {
        public var remainingAttempts: Int?
        public var lockedUntil: String?
        public var expectedDigits: Int?

        public init(remainingAttempts: Int? = nil, lockedUntil: String? = nil, expectedDigits: Int? = nil) {
            self.remainingAttempts = remainingAttempts
            self.lockedUntil = lockedUntil
            self.expectedDigits = expectedDigits
        }
    }

    public init(
        _ status: HTTPResponse.Status, code: String, message: String, description: String,
        retryAfter: Int64? = nil, details: Details = Details()
    ) {
        self.status = status
        self.code = code
        self.message = message
        self.description = description
        self.retryAfter = retryAfter
        self.details = details
    }

    // MARK: Authentication

    /// `tokenSent`: a token was sent and refused (else the header was missing or not Bearer).
    static func unauthenticated(_ why: String, tokenSent: Bool = true) -> APIError {
        var error = APIError(
            .unauthorized, code: "unauthenticated", message: "not authenticated: \(why)",
            description: "send 'Authorization: Bearer <JWT>' with a token signed by the configured key whose 'sub' is the user, whose 'exp' is in the future and whose 'nbf' (if any) is past; with the 'iss' and 'aud' the server is configured to accept")
        if tokenSent { error.challenge = #"Bearer error="invalid_token""# }
        error.refusedBecause = why
        return error
    }

    /// A token that passed every check but whose `sub` cannot be a user id here: 403, since
    /// signing in again would bring a token with the same subject.
    static func unusableSubject(_ reason: String) -> APIError {
        var error = APIError(
            .forbidden, code: "unusable_subject",
            message: "the token is valid, but its subject cannot be used as a user id here (\(split(reason).0.prefix(160)))",
            description: "user ids are 1 to 256 bytes of printable UTF-8 without '/' or '\\', without a space at either end, and a new one not in parentheses or brackets like them (as the engine's own actor, (system)) nor holding a character no font draws; ask the identity provider's administrator to give this account such a subject")
        // In the access log too: what the operator takes to the identity provider.
        error.refusedBecause = String(split(reason).0.prefix(160))
        return error
    }

    // MARK: Bad input

    static func badRequest(_ code: String, _ message: String, _ description: String) -> APIError {
        APIError(.badRequest, code: code, message: message, description: description)
    }

    static func bodyTooLarge(limit: Int?) -> APIError {
        APIError(
            .contentTooLarge, code: "body_too_large",
            message: limit.map { "the request body is larger than \($0) bytes" } ?? "the request body is too large",
            description: "send a JSON object such as {\"action\": \"VALIDATE\", \"verificationCode\": \"123456\"}; it is never more than a few dozen bytes")
    }

    /// The client closed the connection before its request's body was complete. Nobody reads
    /// this answer; its status is for the access log, where a client's abort must not read as
    /// a malformed request (nginx's 499, "client closed request").
    static let clientClosed = APIError(
        HTTPResponse.Status(code: 499, reasonPhrase: "Client Closed Request"), code: "client_closed_request",
        message: "the connection closed before the request was complete", description: "send the whole request")

    /// The server closed the connection before the request's body was complete: nothing came
    /// for `--idle-timeout` (a stalled client, or a proxy that does not forward the rest), or
    /// the server is stopping. For the access log only, like ``clientClosed`` (nginx logs 408).
    static let closedByServer = APIError(
        .requestTimeout, code: "request_timeout",
        message: "the server closed the connection before the request was complete (nothing came for --idle-timeout, the body took longer than that, or the server is stopping)",
        description: "send the whole request without pausing")

    /// The server began to stop while the request's body was still coming: nothing of it was
    /// run. The connection closes after this answer (the rest of the body is not read).
    static let serverStopping = {
        var error = APIError(
            .serviceUnavailable, code: "server_stopping", message: "the server is stopping and did not wait for the rest of this request, which was not run",
            description: "send the request again in a moment (to this server once it is back, or to another)", retryAfter: 1)
        error.closesConnection = true
        return error
    }()

    /// Statuses of answers written for the access log only, never sent.
    static let logOnlyStatuses: Set<Int> = [clientClosed.status.code, closedByServer.status.code]

    static func notFound(path: String) -> APIError {
        APIError(
            .notFound, code: "not_found", message: "there is nothing at \(path)",
            description: "the API lives under /api/users/v1/me/totp and the page at /myaccount")
    }

    static func methodNotAllowed(_ method: HTTPRequest.Method, path: String, allowed: [HTTPRequest.Method]) -> APIError {
        var error = APIError(
            .methodNotAllowed, code: "method_not_allowed", message: "\(method.rawValue.prefix(32)) is not accepted on \(path)",
            description: "use \(allowed.map(\.rawValue).joined(separator: ", ")) (the Allow header); the README's API table says what each does")
        error.allow = allowed
        return error
    }

    // MARK: From the engine

    /// A domain refusal as an HTTP error. `now` computes Retry-After for a lock. `lockedUntil`:
    /// confirming is locked until then (no new secret is issued meanwhile), so the advice to get
    /// one, or to confirm one, waits for that time, which the body's `lockedUntil` gives too.
    static func rejection(_ rejection: EnrollmentRejection, now: UnixTime, lockedUntil: UnixTime? = nil, pendingExpiresAt: UnixTime? = nil) -> APIError {
        let status: HTTPResponse.Status
        var retryAfter: Int64?
        var details = Details()
        switch rejection {
        case .notEnrolled: status = .notFound
        case .alreadyEnrolled, .nothingToReplace, .noPendingSecret, .nothingToCancel, .enrollmentExpired, .replacementExpired, .secretUnavailable, .codeReused: status = .conflict
        case .invalidCode(let remaining):
            status = .conflict
            details.remainingAttempts = remaining
        case .locked(let until):
            status = .tooManyRequests
            retryAfter = max(1, until - now)
            details.lockedUntil = Timestamps.iso8601(until)
        case .malformedCode(let digits):
            status = .badRequest
            details.expectedDigits = digits
        }
        var (message, description) = split(rejection.message(lockedUntil: lockedUntil, pendingExpiresAt: pendingExpiresAt))
        // What to do, in this API's terms rather than the command line's.
        let then = lockedUntil.map { "after the lock on VALIDATE ends (\(Timestamps.iso8601($0))), " } ?? ""
        switch rejection {
        case .notEnrolled: description = "INIT (\"+\" on the page) gives a QR code to scan"
        case .nothingToReplace: description = "\(then)VALIDATE the first secret with a code from the app, or INIT (\"+\") again for a new QR code"
        case .alreadyEnrolled: description = "REFRESH (Regenerate on the page) replaces it; DELETE (Remove) removes it"
        case .noPendingSecret: description = "\(then)REFRESH (Regenerate on the page) issues a replacement secret to verify"
        case .enrollmentExpired: description = "\(then)INIT (\"+\" on the page) gives a new QR code"
        case .nothingToCancel: description = "nothing was cancelled: CANCEL discards only a REFRESH's new secret awaiting its code; DELETE (Remove on the page) discards a first one"
        case .replacementExpired: description = "the active secret is unchanged; VIEW (the eye icon on the page) shows its QR code to scan again; \(then)REFRESH (Regenerate on the page) gives a new QR code"
        case .secretUnavailable: description = "DELETE (Remove on the page) the authenticator, then INIT (\"+\") a new one"
        default: break
        }
        switch rejection {
        case .nothingToReplace, .noPendingSecret, .enrollmentExpired, .replacementExpired:
            details.lockedUntil = lockedUntil.map(Timestamps.iso8601)
        default: break
        }
        return APIError(status, code: rejection.code, message: message, description: description, retryAfter: retryAfter, details: details)
    }

    static func input(_ error: InputError) -> APIError {
        let (message, description) = split(error.message)
        return APIError(.badRequest, code: error.code, message: message, description: description)
    }

    /// An `Idempotency-Key` retried after the secret its first answer showed stopped being the
    /// current one: the replay would show it again with nothing recorded.
    /// `nil`: the enrollment changed in a way that makes the same action another command.
    static func idempotencyKeySpent(_ because: SpentSecret?) -> APIError {
        if because == .lockEnded {
            return APIError(
                .conflict, code: "idempotency_key_spent",
                message: "this Idempotency-Key's first answer was a lock that has ended since, so it is not given again",
                description: "send a code again with a new Idempotency-Key (if the QR code expired meanwhile, INIT or REFRESH for a new one first)")
        }
        let why = switch because {
        case .destroyed?: "the authenticator was removed since"
        case .confirmed?: "that secret has been confirmed since"
        case .replaced?: "a newer secret has replaced it since"
        case .expired?: "that secret expired unconfirmed since"
        case .cancelled?: "that new secret was cancelled since"
        case .lockEnded?: "the lock has ended since"
        case nil: "the enrollment has been confirmed or removed since"
        }
        return APIError(
            .conflict, code: "idempotency_key_spent",
            message: "this Idempotency-Key's first answer showed a secret that is no longer current (\(why)), so it is not shown again",
            description: "send a new Idempotency-Key: INIT or REFRESH for a new secret, VIEW for the current QR code")
    }

    /// An `Idempotency-Key` sent again with another body (another code, other settings): 422, as
    /// the IETF's Idempotency-Key draft (draft-ietf-httpapi-idempotency-key-header, §2.7) asks,
    /// rather than the first outcome passed off as this request's.
    static func idempotencyKeyReused() -> APIError {
        APIError(
            .init(code: 422, reasonPhrase: "Unprocessable Content"), code: "idempotency_key_reused",
            message: "this Idempotency-Key was already used for a request with another body",
            description: "send the same body to retry that request, or a new Idempotency-Key for a new attempt")
    }

    /// Storage failures are the server's fault, not the caller's: 503 when retrying may help
    /// (busy, conflicts, a full disk, which the operator frees while the server runs), else 500.
    /// The details (paths) go to the log, not to the client.
    static func store(_ error: StoreError) -> APIError {
        switch error {
        case .keyFileMismatch, .keyFileRetired:
            // After `enroll keys rotate`, a server still holding the old key file: it must be
            // restarted with the new one. Not the caller's fault, and over once it is.
            var apiError = APIError(
                .serviceUnavailable, code: "service_reconfiguring", message: "the enrollment service is being reconfigured",
                description: "try again later; the server log says what the operator must do", retryAfter: 60)
            apiError.logDetail = error.message + " (after `enroll keys rotate`, restart every `enroll serve` with --key-file NEW; after a backup from before a rotation was restored, restore the key file of that time too, or restart with it)"
            return apiError
        case .diskFull:
            // As /health says it (503 disk_full), and over without a restart once space is freed.
            // One description for both: a probe made no request to record.
            var apiError = APIError(
                .serviceUnavailable, code: error.code, message: "the enrollment database cannot take writes: its disk is full",
                description: "try again later; nothing is recorded while its disk is full", retryAfter: 60)
            apiError.logDetail = error.message
            return apiError
        case .busy, .tooManyConflicts, .conflict:
            var apiError = APIError(
                .serviceUnavailable, code: error.code, message: "the enrollment database is busy",
                description: "try again in a moment", retryAfter: 1)
            apiError.logDetail = error.message
            return apiError
        default:
            var apiError = APIError(
                .internalServerError, code: error.code, message: "the enrollment database cannot be used",
                description: "tell the operator this response's traceId (also in its X-Trace-Id header); the server log names the problem under it")
            apiError.logDetail = error.message
            return apiError
        }
    }

    /// The engine's messages read "what went wrong; what to do": the first part becomes the
    /// message, the rest the description.
    static func split(_ text: String) -> (String, String) {
        guard let separator = text.range(of: "; ") else { return (text, text) }
        return (String(text[..<separator.lowerBound]), String(text[separator.upperBound...]))
    }

    // MARK: Response

    /// The JSON body; optional fields are left out when empty.
    struct Body: Codable, Equatable {
        var code: String
        var message: String
        var description: String
        var traceId: String
        var remainingAttempts: Int?
        var lockedUntil: String?
        var expectedDigits: Int?
    }

    func response(traceId: String) -> Response {
        let (headers, body) = encoded(traceId: traceId)
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: body))
    }

    /// The headers and the JSON body of this error: what ``response(traceId:)`` sends, and what
    /// ``MalformedRequestHandler`` writes below the router.
    func encoded(traceId: String) -> (headers: HTTPFields, body: ByteBuffer) {
        let body = Body(
            code: code, message: message, description: description, traceId: traceId,
            remainingAttempts: details.remainingAttempts, lockedUntil: details.lockedUntil,
            expectedDigits: details.expectedDigits)
        var headers = HTTPFields()
        headers[.contentType] = "application/json; charset=utf-8"
        headers[.cacheControl] = "no-store"
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        if !allow.isEmpty { headers[.allow] = allow.map(\.rawValue).joined(separator: ", ") }
        if status == .unauthorized { headers[.wwwAuthenticate] = challenge }
        // RFC 9110 §15.5.16: a 415 for a content coding says which codings are accepted.
        if code == "unsupported_content_encoding" { headers[.acceptEncoding] = "identity" }
        if closesConnection { headers[.connection] = "close" }
        if replayed { headers[TOTPRoutes.replayedHeader] = "true" }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(body)) ?? Data("{\"code\":\"\(code)\"}".utf8)
        return (headers, ByteBuffer(bytes: data))
    }
}
