import CryptoPrimitives
import Enrollment
import Foundation
import HTTPTypes
import Hummingbird
import NIOHTTP1
import OneTimePassword
import QRCode

/// The WSO2 Identity Server My Account TOTP API (`/api/users/v1/me/totp`), served by the engine.
///
/// | request | engine command | answer |
/// | --- | --- | --- |
/// | `POST {"action":"INIT"}` | RequestEnrollment | 200 QR of the new pending secret; 409 `already_enrolled` when one is active |
/// | `POST {"action":"VIEW"}` | RevealQR | 200 QR of the secret VALIDATE checks (pending, else active); 404 when none |
/// | `POST {"action":"REFRESH"}` | RegenerateSecret (RequestEnrollment while only a first secret is pending or expired) | 200 QR of the new pending secret; the active one stays in use until it is validated |
/// | `POST {"action":"VALIDATE","verificationCode":"…"}` | ConfirmCode | see ``validate(_:user:key:)`` |
/// | `POST {"action":"CANCEL"}` (extension) | CancelRegenerate | 200 `{"status":"active",…}`: REFRESH's new secret discarded, the active one unchanged; 409 `nothing_to_cancel` |
/// | `GET` | RevealQR | 200 `{"qrCodeUrl"}`; 404 when nothing is enrolled |
/// | `DELETE` | RemoveAuthenticator | 204; 404 when nothing is enrolled |
/// | `GET /secret` | RevealSecretText | 200 `{"secret"}` only while a secret awaits its first code |
/// | `GET /history` | (read only) | the caller's audit timeline, `?after=POSITION&limit=N` pages |
/// | `GET /status` (extension) | (read only) | what the page needs to draw the row; never a secret |
///
/// Every response that shows a QR code carries, besides WSO2's `qrCodeUrl` (base64 of the
/// otpauth URI), extensions a WSO2 client ignores: `qrCodeSvg` (the QR code drawn by libqrencode
/// on the server, so the page needs no script library), `status`, `digits`, `expiresAt` and
/// `replacementPending`.
struct TOTPRoutes {
    let engine: Engine
    let verifier: TokenVerifier
    let configuration: ServerConfiguration
    let throttle: WriteThrottle
    let turns = UserTurns()

    init(engine: Engine, verifier: TokenVerifier, configuration: ServerConfiguration) {
        self.engine = engine
        self.verifier = verifier
        self.configuration = configuration
        self.throttle = WriteThrottle(limit: configuration.maxWritesPerMinute)
    }

    static let basePath = "/api/users/v1"

    /// The most of a user's stream read to tell whose command recorded an expiry or a lock end
    /// (``history(_:context:)``); past it, such an entry's ids are left out.
    static let streamLimit = 100_000

    /// The methods each path below is served with (for the `Allow` header of a 405). HEAD only
    /// where GET is safe (``EnrollmentServer/head(_:)``).
    static let methods: [String: [HTTPRequest.Method]] = [
        basePath + "/me/totp": [.get, .post, .delete],
        basePath + "/me/totp/secret": [.get], basePath + "/me/totp/status": [.get, .head], basePath + "/me/totp/history": [.get, .head],
    ]

    func register(on router: Router<ServerRequestContext>) {
        let totp = router.group(RouterPath(Self.basePath + "/me/totp"))
        totp.post { request, context in try await post(request, context: context) }
        totp.get { request, context in try await view(request, context: context, action: "GET") }
        totp.delete { request, context in try await remove(request, context: context) }
        totp.get("secret") { request, context in try await secret(request, context: context) }
        totp.get("status") { request, context in try await status(request, context: context) }
        totp.get("history") { request, context in try await history(request, context: context) }
        totp.head("status") { request, context in EnrollmentServer.head(try await status(request, context: context)) }
        totp.head("history") { request, context in EnrollmentServer.head(try await history(request, context: context)) }
    }

    // MARK: Requests

    /// The body of `POST /me/totp`.
    struct ActionRequest: Decodable {
        var action: String
        var verificationCode: String?

        /// The names a body may hold; any other is refused (`unknown_member`).
        static let members: Set<String> = ["action", "verificationCode"]
    }

    enum Action: String, CaseIterable {
        case INIT, VIEW, REFRESH, VALIDATE
        /// An extension: cancel a REFRESH whose new secret awaits its code.
        case CANCEL
    }

    func post(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let user = try await authenticate(request, context: context)
        // Counted on arrival, whatever its outcome: a refused one too.
        try await admitWrite(user)
        // A body declared as something else (a form, text) is not read as JSON: 415. No
        // Content-Type at all is taken as JSON, as clients of this API commonly send.
        if let type = request.headers[.contentType], !Self.isJSON(type) {
            throw APIError(
                .unsupportedMediaType, code: "unsupported_media_type",
                message: "the body is declared as '\(type.prefix(60))', not JSON in UTF-8",
                description: "send the body as JSON with 'Content-Type: application/json'")
        }
        // A body in a content coding (gzip, br) would be read as the JSON it is not: 415 naming
        // the coding (RFC 9110 §8.4), not an "invalid body" about bytes never decoded. `identity`
        // is no coding.
        let codings = request.headers[values: .contentEncoding].flatMap { $0.split(separator: ",") }
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty && $0.lowercased() != "identity" }
        if let coding = codings.first {
            throw APIError(
                .unsupportedMediaType, code: "unsupported_content_encoding",
                message: "the body is sent with Content-Encoding '\(coding.prefix(32))', which this server does not decode",
                description: "send the JSON body uncompressed, without a Content-Encoding header")
        }
        let body = try await readBody(request, context: context)
        // Foundation's decoder keeps the first of two equal names: {"action":"VALIDATE",…,"action":"INIT"}
        // would run as VALIDATE while another reader sees INIT. Refuse the ambiguity instead.
        if let name = JSONValue.duplicateMember(in: String(decoding: body, as: UTF8.self)) {
            throw APIError.badRequest(
                "duplicate_member", "the body names '\(name.prefix(32))' more than once",
                "send each member once, e.g. {\"action\": \"VALIDATE\", \"verificationCode\": \"123456\"}")
        }
        let example = "send {\"action\": \"INIT\"}, VIEW, REFRESH, CANCEL, or {\"action\": \"VALIDATE\", \"verificationCode\": \"123456\"}"
        if let problem = JSONValue.strictJSONProblem(body) {
            throw APIError.badRequest("invalid_body", "the body is not valid JSON: \(problem)", example)
        }
        // A member this API does not take ("algorithm", "issuer") would be dropped without a word,
        // and the client would think it chose what the server's settings chose: refused by name.
        if let names = JSONValue.memberNames(in: String(decoding: body, as: UTF8.self)),
           let unknown = names.sorted().first(where: { !ActionRequest.members.contains($0) }) {
            throw APIError.badRequest(
                "unknown_member", "the body names '\(unknown.prefix(32))', which this API does not take",
                "send only 'action' (and 'verificationCode' for VALIDATE); a new secret's settings (algorithm, digits, period, issuer) are the server's own (enroll serve --help)")
        }
        let decoded: ActionRequest
        do {
            decoded = try JSONDecoder().decode(ActionRequest.self, from: body)
        } catch DecodingError.typeMismatch(_, let context) where context.codingPath.map(\.stringValue) == ["verificationCode"] {
            // A number would lose a code's leading zeros (012345 is not 12345): only a string is a code.
            throw APIError.badRequest(
                "invalid_verification_code", "'verificationCode' must be a string of digits, not a number or another JSON type",
                "send the code in quotes as the app shows it, e.g. {\"action\": \"VALIDATE\", \"verificationCode\": \"012345\"}")
        } catch DecodingError.keyNotFound {
            throw APIError.badRequest("invalid_body", "the body has no 'action'", example)
        } catch DecodingError.valueNotFound(_, let context) where !context.codingPath.isEmpty {
            // `null` where a string belongs.
            throw APIError.badRequest("invalid_body", "'\(context.codingPath.map(\.stringValue).joined(separator: "."))' must be a string, not null", example)
        } catch DecodingError.typeMismatch(_, let context) where !context.codingPath.isEmpty {
            throw APIError.badRequest("invalid_body", "'\(context.codingPath.map(\.stringValue).joined(separator: "."))' must be a string", example)
        } catch {
            throw APIError.badRequest("invalid_body", "the body is not a JSON object with a string 'action'", example)
        }
        guard let action = Action(rawValue: decoded.action) else {
            throw APIError.badRequest(
                "invalid_action", "unknown action '\(decoded.action.prefix(32))'",
                "use one of \(Action.allCases.map(\.rawValue).joined(separator: ", ")) (upper case)")
        }
        context.record.action = action.rawValue
        let key = try idempotencyKey(request)
        switch action {
        case .INIT:
            let outcome = try await run(.requestEnrollment(configuration.enrollmentOptions), user: user, action: action.rawValue, key: key)
            return try qrResponse(outcome)
        case .VIEW:
            return try await view(request, context: context, action: action.rawValue, user: user, key: key)
        case .REFRESH:
            // With no active secret, a first one (pending, or expired unconfirmed) is replaced by
            // a new request: a client asking REFRESH for a new QR code gets one. A VALIDATE that
            // activates the first secret (or a DELETE and INIT) landing after the state was read
            // makes the choice be made again on what it left, before anything is recorded under
            // the Idempotency-Key.
            return try await atVersionRead(user) { state in
                let firstSecretOnly = state.active == nil && (state.pending != nil || state.firstSecretExpired)
                let command: EnrollmentCommand = firstSecretOnly ? .requestEnrollment(configuration.enrollmentOptions) : .regenerateSecret(nil)
                return try qrResponse(try await run(command, user: user, action: action.rawValue, key: key, expectedVersion: state.version))
            }
        case .VALIDATE:
            guard let code = decoded.verificationCode else {
                throw APIError.badRequest(
                    "missing_verification_code", "VALIDATE needs a 'verificationCode'",
                    "send {\"action\": \"VALIDATE\", \"verificationCode\": \"123456\"} with the code the app shows")
            }
            let answer = try await validate(code, user: user, key: key)
            context.record.refusal = answer.refusal
            return answer.response
        case .CANCEL:
            let outcome = try await run(.cancelRegenerate, user: user, action: action.rawValue, key: key)
            return try json(TOTPResponse(state: try await stateNow(after: outcome)), replayed: outcome.replayed)
        }
    }

    /// VALIDATE: the code is checked against the secret awaiting confirmation.
    ///
    /// - right code for the pending secret: 200 `{"isValid": true}` (the secret is now active);
    /// - a wrong code, or a code already used: 200 `{"isValid": false, "reason", "remainingAttempts"}`
    ///   (the attempt is recorded and counts towards the lock);
    /// - the attempt that reaches the limit, and any attempt while locked: 429 `locked` with
    ///   `Retry-After` and `lockedUntil`;
    /// - the code that activated the active secret, sent again (a double submit's loser, a
    ///   replayed code): 200 `{"isValid": false, "reason": "code_reused"}`, recorded, not counted;
    /// - nothing pending but an active secret: 409 `no_pending_secret`. VALIDATE confirms an
    ///   enrollment; it is not a sign-in check, and answering `isValid` for the active secret
    ///   would make this endpoint a code oracle outside the sign-in flow;
    /// - a first secret that expired unconfirmed: 409 `enrollment_expired`; nothing: 404;
    /// - not 6 to 8 ASCII digits at all, spaces aside (empty, letters, other scripts' digits,
    ///   too long): 400 `invalid_code_format`, as the command line says it, whatever the user has;
    /// - 6 to 8 digits, but not the secret's number of them: 400 `malformed_code` with
    ///   `expectedDigits`, or 409 `enrollment_expired` for a first secret past its life
    ///   (nothing recorded either way, not even the `Idempotency-Key`).
    /// The answer, and the refusal it carries with its 200 (`invalid_code`, `code_reused`) for the access log.
    func validate(_ typed: String, user: String, key: String?) async throws -> (response: Response, refusal: String?) {
        // Checked before anything is read (`invalid_code_format`); spaces, as apps group a code
        // ("123 456"), are dropped first, as the command line and the page drop them.
        let code: String
        do { code = try Validation.typedCode(typed) } catch { throw APIError.input(error) }
        let outcome = try await run(.confirmCode(code), user: user, action: "VALIDATE", key: key, refusalsAreErrors: false)
        let current = try await stateNow(after: outcome)
        var body = TOTPResponse(state: current)
        // Attempts are counted only towards confirming a pending secret; a replay says how many
        // are left now, not then.
        // (None while a lock runs: its start set the count of wrong codes back to zero.)
        let lockedNow = current.lockedUntil.map { $0 > engine.now } ?? false
        let remainingNow = current.pending.map { _ in lockedNow ? 0 : max(0, engine.service.policy.maxFailedAttempts - current.failedAttempts) }
        switch outcome.rejection {
        case nil:
            body.isValid = true
        case .invalidCode(let remaining)?:
            body.isValid = false
            body.reason = "invalid_code"
            body.remainingAttempts = outcome.replayed ? remainingNow : remaining
        case .codeReused?:
            body.isValid = false
            body.reason = "code_reused"
            body.remainingAttempts = remainingNow
        case .locked(let until)?:
            var error = refusal(.locked(until: until), of: outcome)
            // The lock outlasts the QR code it guards: waiting for its end does not help by itself.
            if let lost = outcome.state.secretLost(beforeLockEnds: until) {
                let again = lost.isReplacement ? "REFRESH (Regenerate on the page)" : "INIT (\"+\" on the page)"
                let expiry = lost.expiresAt == nil ? "the QR code expired" : "the QR code expires before the lock ends"
                error.description = "\(expiry): after the lock ends, \(again) gives a new QR code"
            }
            throw error
        case let rejection?:
            throw refusal(rejection, of: outcome)
        }
        return (try json(body, replayed: outcome.replayed), body.reason)
    }

    /// GET /me/totp and VIEW: the QR code of the secret VALIDATE would check now.
    func view(_ request: Request, context: ServerRequestContext, action: String, user known: String? = nil, key: String? = nil) async throws -> Response {
        let user: String
        if let known {
            user = known
        } else {
            user = try await authenticate(request, context: context)
            try await admitWrite(user)
        }
        return try qrResponse(try await run(.revealQRCode, user: user, action: action, key: key))
    }

    func remove(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let user = try await authenticate(request, context: context)
        try await admitWrite(user)
        let outcome = try await run(.removeAuthenticator, user: user, action: "DELETE", key: try idempotencyKey(request))
        // 204 has no content, so no Content-Type either (RFC 9110 §8.3, §15.3.5).
        var headers: HTTPFields = [.cacheControl: "no-store"]
        if outcome.replayed { headers[Self.replayedHeader] = "true" }
        return Response(status: .noContent, headers: headers)
    }

    /// GET /me/totp/secret: the Base32 secret for typing into an app by hand, only while it
    /// awaits its first code (afterwards the secret is never shown as text again).
    func secret(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let user = try await authenticate(request, context: context)
        try await admitWrite(user)
        // The reveal is written only at the version the pending secret was read at: the decider
        // would show the active secret too (as `enroll reveal --format uri` may), and a
        // VALIDATE or CANCEL landing in between would leave the journal saying the active secret
        // was shown while this caller heard 409.
        return try await atVersionRead(user) { state in
            guard state.livePending(at: engine.now) != nil else {
                if state.active != nil {
                    let lock = state.lockedUntil(at: engine.now)
                    let refresh = lock.map { "after the lock on VALIDATE ends (\(Timestamps.iso8601($0))), REFRESH" } ?? "REFRESH"
                    throw APIError(
                        .conflict, code: "no_pending_secret", message: "the secret is shown as text only while it awaits its first code",
                        description: "use {\"action\": \"VIEW\"} to see the QR code, or \(refresh) for a new secret",
                        details: .init(lockedUntil: lock.map(Timestamps.iso8601)))
                }
                let expired = state.firstSecretExpired || state.pending != nil
                throw APIError.rejection(expired ? .enrollmentExpired : .notEnrolled, now: engine.now, lockedUntil: state.lockedUntil(at: engine.now))
            }
            // Recorded as the eye icon is, saying it was shown as text: showing a secret belongs in the audit.
            let outcome = try await run(.revealSecretText, user: user, action: "SECRET", key: nil, expectedVersion: state.version)
            guard let secret = outcome.state.pending?.credential.secret.secret else {
                throw APIError.rejection(.noPendingSecret, now: engine.now)
            }
            return try json(["secret": Base32.encode(secret.bytes)], replayed: false)
        }
    }

    /// Reads `user`'s state and answers from it with `body`, whose command must be run with
    /// `expectedVersion: state.version`: if another command lands in between, nothing is
    /// recorded, and the new state is read and judged again. Such requests of one user take
    /// turns in this process (``UserTurns``), so only another process's commands, or this one's
    /// other actions, can land in between.
    func atVersionRead(_ user: String, _ body: (AuthenticatorState) async throws -> Response) async throws -> Response {
        do {
            return try await turns.run(user) {
                for _ in 0..<engine.service.maxAttempts {
                    do {
                        return try await body(try await load(user))
                    } catch StoreError.conflict {
                        continue
                    }
                }
                throw APIError.store(.tooManyConflicts(stream: user, attempts: engine.service.maxAttempts))
            }
        } catch is CancellationError {
            // Cancelled while waiting for its turn: the client went away, and nothing was run.
            throw APIError.clientClosed
        }
    }

    /// GET /me/totp/status: the row's state for the page, read without recording anything.
    func status(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let user = try await authenticate(request, context: context)
        let state = try await load(user)
        return try json(StatusResponse(state: state, now: engine.now), replayed: false)
    }

    /// GET /me/totp/history: the caller's own timeline from the audit trail (issue 3), oldest
    /// first, at most `limit` (1-500, default 100) entries, after the first `after` of them.
    /// Entries name secrets only as "sealed"/"forgotten" and never hold a code.
    func history(_ request: Request, context: ServerRequestContext) async throws -> Response {
        let user = try await authenticate(request, context: context)
        let query = Self.queryParameters(request.uri.query)
        // A parameter named twice would be read one way here and another way by a proxy or a
        // log reader, as a JSON member named twice would: refused, like those.
        for name in ["after", "limit"] where query.filter({ $0.name == name }).count > 1 {
            throw APIError.badRequest(
                "duplicate_parameter", "the query names '\(name)' more than once", "pass each of 'after' and 'limit' at most once")
        }
        let after = try Self.integer(query.first { $0.name == "after" }?.value, name: "after", range: 0...Int64.max, default: 0)
        let limit = try Self.integer(query.first { $0.name == "limit" }?.value, name: "limit", range: 1...500, default: 100)
        let (entries, deletedEnd): ([HistoryEntry], String?)
        do {
            (entries, deletedEnd) = try await engine.history(of: user, skipping: after, limit: Int(limit))
        } catch let error as StoreError {
            throw APIError.store(error)
        }
        // Without the journal's positions, which count everyone's events, and without the
        // correlation and command ids of what another actor did (an operator's ticket, an
        // incident's name as a `--command-id`, also where a repeat's details name it): those of
        // the user's own commands stay, with the expiries and lock ends they found. An expiry or
        // lock end (recorded by `(system)`) keeps them only when its command recorded an event
        // of the caller's too, anywhere in the stream: who sent a command that recorded nothing
        // else is not in the journal. Ids compared byte for byte, as streams are (`café`
        // composed and decomposed are two users).
        func isCaller(_ actor: String) -> Bool { actor.utf8.elementsEqual(user.utf8) }
        var callersCommands = Set(entries.filter { isCaller($0.actor) }.map(\.commandId))
        if entries.contains(where: { $0.actor == EventMetadata.systemActor && !callersCommands.contains($0.commandId) }) {
            do {
                let whole = try await engine.history(of: user, skipping: 0, limit: Self.streamLimit)
                callersCommands.formUnion(whole.entries.filter { isCaller($0.actor) }.map(\.commandId))
            } catch let error as StoreError {
                throw APIError.store(error)
            }
        }
        let shown = entries.map { entry -> JSONValue in
            guard case .object(var object) = entry.jsonObject else { return entry.jsonObject }
            object["position"] = nil
            let someoneElses = entry.actor == EventMetadata.systemActor ? !callersCommands.contains(entry.commandId) : !isCaller(entry.actor)
            if someoneElses {
                object["correlationId"] = nil
                object["commandId"] = nil
                let repeated = AuditTrail.repeated(entry.commandId)
                if !repeated.isEmpty, entry.details.hasSuffix(repeated) { object["details"] = .string(String(entry.details.dropLast(repeated.count))) }
            }
            return .object(object)
        }
        var body: [String: JSONValue] = ["user": .string(user), "entries": .array(shown)]
        if entries.count == Int(limit) { body["next"] = .int(after + Int64(entries.count)) }
        // Rows deleted from the end leave every entry shown chained: said once, on the last page,
        // in words that name no position (`enroll verify` names them for the operator).
        if deletedEnd != nil {
            body["chainBroken"] = .bool(true)
            body["deletedEnd"] = .string("events were deleted from the end of this history or of the journal, outside enroll; the operator's `enroll verify` says which")
        }
        return try json(body, replayed: false)
    }

    /// The query's `name=value` pairs, names and values percent-decoded alike (`li%6dit` is
    /// `limit`, as a proxy reads it); a `%` that starts no escape leaves the part as it is.
    static func queryParameters(_ query: String?) -> [(name: String, value: String)] {
        guard let query else { return [] }
        func decoded(_ part: Substring) -> String { String(part).removingPercentEncoding ?? String(part) }
        return query.split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (decoded(parts[0]), parts.count > 1 ? decoded(parts[1]) : "")
        }
    }

    static func integer(_ text: String?, name: String, range: ClosedRange<Int64>, default value: Int64) throws -> Int64 {
        guard let text else { return value }
        // Digits only: Int64 would also take a sign ('+1'), which no client means.
        guard text.utf8.allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }),
              let number = Int64(text), range.contains(number) else {
            throw APIError.badRequest(
                "invalid_\(name)", "'\(name)' must be a whole number from \(range.lowerBound) to \(range.upperBound)",
                "leave it out, or pass for example ?\(name)=\(range.lowerBound)")
        }
        return number
    }

    // MARK: Pieces

    func authenticate(_ request: Request, context: ServerRequestContext) async throws -> String {
        guard let header = request.headers[.authorization] else { throw APIError.unauthenticated("no Authorization header", tokenSent: false) }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw APIError.unauthenticated("the Authorization header is not 'Bearer <token>'", tokenSent: false)
        }
        let user = try await verifier.user(fromBearer: String(parts[1]).trimmingCharacters(in: .whitespaces))
        context.record.user = user
        return user
    }

    /// Requests that may record an event (every POST and DELETE, and the GETs that reveal a QR
    /// code or a secret) count towards ``ServerConfiguration/maxWritesPerMinute`` once
    /// authenticated, before the body is read or the command decided, whatever their outcome.
    func admitWrite(_ user: String) async throws {
        if let wait = await throttle.admit(user, now: engine.now) {
            throw APIError(
                .tooManyRequests, code: "throttled", message: "too many requests changing or revealing this authenticator in a minute",
                description: "wait \(wait) seconds (Retry-After) and try again", retryAfter: wait)
        }
    }

    /// The body, whole within `--idle-timeout` of its start. The connection's idle timeout
    /// starts again with every byte that arrives, so a body sent a byte at a time would hold
    /// the connection for hours (`--max-body-bytes` × `--idle-timeout`), while a head gets
    /// that long in all: the body gets as long, then the connection is closed (logged as 408,
    /// as the idle timeout is).
    func readBody(_ request: Request, context: ServerRequestContext) async throws -> Data {
        // Declared larger than the limit: refused before waiting for it (a client that sent
        // `Expect: 100-continue` got no 100 and is waiting for this answer).
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > configuration.maxBodyBytes {
            var refusal = APIError.bodyTooLarge(limit: configuration.maxBodyBytes)
            refusal.closesConnection = true
            throw refusal
        }
        let channel = context.channel
        let deadline = channel.eventLoop.scheduleTask(in: .nanoseconds(EnrollmentServer.nanoseconds(configuration.idleTimeout))) {
            channel.close(promise: nil)
        }
        defer { deadline.cancel() }
        do {
            let buffer = try await request.body.collect(upTo: configuration.maxBodyBytes)
            return Data(buffer.readableBytesView)
        } catch HTTPParserError.invalidEOFState {
            // The client went away halfway through the body: an abort, not bad framing.
            throw APIError.clientClosed
        } catch is MalformedRequestHandler.ConnectionClosedByServer {
            throw APIError.closedByServer
        } catch is MalformedRequestHandler.ServerStopping {
            throw APIError.serverStopping
        } catch is HTTPParserError {
            // A body whose framing cannot be read (a broken chunk, an unknown transfer coding):
            // the connection closes after this answer (MalformedRequestHandler).
            throw MalformedRequestHandler.error
        } catch {
            // Grown past the limit as it came (chunked): whatever of it is still on its way is
            // not read either, so the connection closes after this answer, as for a body
            // declared too large.
            var refusal = APIError.bodyTooLarge(limit: configuration.maxBodyBytes)
            refusal.closesConnection = true
            throw refusal
        }
    }

    /// `application/json`, or a `+json` type, with any parameters but a charset other than
    /// UTF-8 (`; charset=utf-8` is common; the body is read as UTF-8, RFC 8259 §8.1, so one
    /// declared as UTF-16 would be read otherwise than a proxy in front reads it).
    static func isJSON(_ contentType: String) -> Bool {
        let parts = contentType.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        let media = parts.first ?? ""
        for parameter in parts.dropFirst() where parameter.hasPrefix("charset=") {
            let charset = parameter.dropFirst("charset=".count).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
            guard charset == "utf-8" || charset == "utf8" else { return false }
        }
        return media == "application/json" || (media.hasPrefix("application/") && media.hasSuffix("+json"))
    }

    /// `Idempotency-Key` (1-255 printable ASCII characters), if sent.
    func idempotencyKey(_ request: Request) throws -> String? {
        guard let key = request.headers[Self.idempotencyHeader] else { return nil }
        // Which of two would be the key is a guess a proxy in front could make otherwise.
        let sent = request.headers[values: Self.idempotencyHeader].count
        guard sent == 1 else {
            throw APIError.badRequest(
                "invalid_idempotency_key", "the request has \(sent) Idempotency-Key headers",
                "send one Idempotency-Key header per request")
        }
        guard (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ (0x20...0x7e).contains($0) }) else {
            throw APIError.badRequest(
                "invalid_idempotency_key", "the Idempotency-Key header must be 1 to 255 printable ASCII characters",
                "send a fresh random value (a UUID) per intended action, and the same value when retrying it")
        }
        return key
    }

    /// The engine's command id for a request. With an `Idempotency-Key` it is derived from the
    /// user, the action and the key, so a retry replays the first outcome and appends nothing (but the reveal of a QR code it shows again),
    /// while the same key from another user (or for another action) is a different command: no
    /// one can read or block another user's outcome by guessing keys.
    static func commandId(user: String, action: String, key: String?) -> String {
        guard let key else { return RandomUUID.timeOrdered() }
        return CommandEnvelope.commandId(user: user, action: action, key: key, prefix: "http-")
    }

    /// Runs `command` for `user`. With `expectedVersion`, a stream that moved is not decided
    /// again: ``StoreError/conflict(stream:expected:actual:)`` is thrown as it is, for the caller
    /// to judge the new state.
    func run(
        _ command: EnrollmentCommand, user: String, action: String, key: String?, refusalsAreErrors: Bool = true, expectedVersion: Int64? = nil
    ) async throws -> CommandOutcome {
        let envelope = CommandEnvelope(
            commandId: Self.commandId(user: user, action: action, key: key), user: user, actor: user, correlationId: ServerRequestContext.currentTraceId,
            command: command, retryable: key != nil)
        let outcome: CommandOutcome
        do {
            outcome = try await engine.handle(envelope, expectedVersion: expectedVersion)
        } catch StoreError.conflict(let stream, let expected, let actual) where expectedVersion != nil {
            throw StoreError.conflict(stream: stream, expected: expected, actual: actual)
        } catch InputError.commandIdArgumentsDiffer where key != nil {
            throw APIError.idempotencyKeyReused()
        } catch InputError.commandIdSpent(_, let because) where key != nil {
            throw APIError.idempotencyKeySpent(because)
        } catch InputError.commandIdReused where key != nil {
            // Keys are scoped to the user and the action, so this is REFRESH retried after the
            // enrollment crossed the line between its two commands (a first secret confirmed,
            // or an active one removed): its first answer is no longer current.
            throw APIError.idempotencyKeySpent(nil)
        } catch let error as InputError {
            // The user is the token's subject: one a first INIT cannot enroll (a new id in
            // parentheses, a private-use character) is the identity provider's to change, as
            // for a subject no id can be.
            if case .invalidUser = error { throw APIError.unusableSubject(error.message) }
            throw APIError.input(error)
        } catch let error as StoreError {
            throw APIError.store(error)
        }
        if refusalsAreErrors, let rejection = outcome.rejection { throw refusal(rejection, of: outcome) }
        return outcome
    }

    /// A command's refusal as its answer; a retry's (an `Idempotency-Key` sent again) says it
    /// is the first outcome replayed, as a retry's success does.
    func refusal(_ rejection: EnrollmentRejection, of outcome: CommandOutcome) -> APIError {
        var error = APIError.rejection(rejection, now: engine.now, lockedUntil: outcome.lockedUntil(at: engine.now), pendingExpiresAt: outcome.pendingExpiresAt)
        error.replayed = outcome.replayed
        return error
    }

    /// The state an answer describes: the one `outcome` left, or for a replay (the first
    /// outcome of an `Idempotency-Key` sent again) today's, which later commands may have
    /// changed: a VALIDATE retried after DELETE and INIT says `isValid` of its first answer,
    /// and `status` "pending", not the "active" that answer had.
    func stateNow(after outcome: CommandOutcome) async throws -> AuthenticatorState {
        outcome.replayed ? try await load(outcome.user) : outcome.state
    }

    func load(_ user: String) async throws -> AuthenticatorState {
        do {
            return try await engine.load(user)
        } catch let error as StoreError {
            throw APIError.store(error)
        }
    }

    func qrResponse(_ outcome: CommandOutcome) throws -> Response {
        guard let uri = outcome.state.currentURI()?.string else { throw APIError.rejection(.secretUnavailable, now: engine.now) }
        var body = TOTPResponse(state: outcome.state)
        body.qrCodeUrl = Data(uri.utf8).base64EncodedString()
        do {
            body.qrCodeSvg = try QRCode(encoding: uri).svg(moduleSize: 6, title: "QR code for your authenticator app")
        } catch {
            throw APIError(
                .internalServerError, code: error.code, message: "the QR code cannot be drawn",
                description: "use the secret from GET /me/totp/secret, or tell the operator")
        }
        return try json(body, replayed: outcome.replayed)
    }

    static let noStore: HTTPFields = [.cacheControl: "no-store", .contentType: "application/json; charset=utf-8"]
    static let idempotencyHeader = HTTPField.Name("Idempotency-Key")!
    static let replayedHeader = HTTPField.Name("Idempotent-Replayed")!

    func json(_ value: some Encodable, replayed: Bool) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var headers = Self.noStore
        if replayed { headers[Self.replayedHeader] = "true" }
        return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: try encoder.encode(value))))
    }
}

/// The answer to POST and GET /me/totp: WSO2's fields (`qrCodeUrl`, `isValid`) and extensions.
struct TOTPResponse: Encodable {
    var qrCodeUrl: String?
    var isValid: Bool?
    var qrCodeSvg: String?
    var status: String
    var digits: Int?
    var expiresAt: String?
    var replacementPending: Bool
    var reason: String?
    var remainingAttempts: Int?

    init(state: AuthenticatorState) {
        status = state.status.rawValue
        digits = state.current?.parameters.digits
        expiresAt = state.pending.map { Timestamps.iso8601($0.expiresAt) }
        replacementPending = state.pending?.isReplacement ?? false
    }
}

/// GET /me/totp/status: what the page draws the Authenticator App row from.
struct StatusResponse: Encodable {
    /// none, pending or active, as of now (a pending secret past its lifetime counts as gone).
    var status: String
    var replacementPending: Bool
    /// The digits of the secret VALIDATE checks now.
    var digits: Int?
    var pendingExpiresAt: String?
    /// True when a pending secret's lifetime ran out unconfirmed (a first secret, or a
    /// replacement: until the next INIT or REFRESH).
    var pendingExpired: Bool
    var lockedUntil: String?
    var failedAttempts: Int

    init(state: AuthenticatorState, now: UnixTime) {
        let livePending = state.livePending(at: now)
        // Before and after a command records the expiry alike, as VALIDATE answers it.
        pendingExpired = (state.pending != nil && livePending == nil) || state.firstSecretExpired || state.replacementExpired
        status = state.status(at: now).rawValue
        replacementPending = livePending?.isReplacement ?? false
        digits = (livePending?.credential ?? state.active)?.parameters.digits
        pendingExpiresAt = livePending.map { Timestamps.iso8601($0.expiresAt) }
        lockedUntil = state.lockedUntil.flatMap { $0 > now ? Timestamps.iso8601($0) : nil }
        failedAttempts = state.failedAttempts
    }
}
