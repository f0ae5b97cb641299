import Enrollment
import EnrollmentServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("GET/DELETE /me/totp, /secret, errors and idempotency")
struct EndpointTests {
    @Test("GET /me/totp is 404 with nothing enrolled; DELETE removes, and a second DELETE is 404")
    func getAndDelete() async throws {
        let harness = try await Harness()
        let token = try await harness.token("alice")
        try await harness.test { client in
            let none = try await client.request(.get, token: token)
            #expect(none.status == .notFound)
            #expect(none["code"] == "not_enrolled")
            _ = try await client.action("INIT", token: token)
            #expect(try await client.request(.get, token: token).status == .ok)
            let removed = try await client.request(.delete, token: token)
            #expect(removed.status == .noContent)
            #expect(removed.headers[.contentType] == nil && removed.headers[.cacheControl] == "no-store", "a 204 declares no content type: \(removed.headers)")
            #expect(try await client.request(.get, token: token).status == .notFound)
            #expect(try await client.request(.get, Client.totp + "/status", token: token)["status"] == "none")
            let again = try await client.request(.delete, token: token)
            #expect(again.status == .notFound)
        }
    }

    @Test("GET /me/totp/secret gives the Base32 secret only while it awaits its first code")
    func secret() async throws {
        let harness = try await Harness()
        let token = try await harness.token("alice")
        try await harness.test { client in
            #expect(try await client.request(.get, Client.totp + "/secret", token: token).status == .notFound)
            let uri = try #require(try await client.action("INIT", token: token).otpauthURI)
            let pending = try await client.request(.get, Client.totp + "/secret", token: token)
            #expect(pending.status == .ok)
            #expect(pending["secret"] == uriParameter(uri, "secret"))
            // A secret is never cached, nor sniffed as anything but JSON.
            #expect(pending.headers[.cacheControl] == "no-store" && pending.headers[.xContentTypeOptions] == "nosniff", "\(pending.headers)")
            _ = try await client.action("VALIDATE", token: token, code: try oathtoolCode(uri: uri, at: harness.clock.now()))
            let active = try await client.request(.get, Client.totp + "/secret", token: token)
            #expect(active.status == .conflict)
            #expect(active["code"] == "no_pending_secret")
            #expect(active.text.contains(uriParameter(uri, "secret") ?? "-") == false)
        }
    }

    @Test("one user cannot see, validate, refresh or remove another user's authenticator")
    func isolation() async throws {
        let harness = try await Harness()
        let alice = try await harness.token("alice")
        let bob = try await harness.token("bob")
        try await harness.test { client in
            let uri = try #require(try await client.action("INIT", token: alice).otpauthURI)
            let code = try oathtoolCode(uri: uri, at: harness.clock.now())
            // Bob, with a valid token of his own, only ever reaches his own (empty) authenticator.
            #expect(try await client.request(.get, token: bob).status == .notFound)
            #expect(try await client.request(.get, Client.totp + "?user=alice", token: bob).status == .notFound)
            #expect(try await client.action("VIEW", token: bob).status == .notFound)
            #expect(try await client.request(.get, Client.totp + "/secret", token: bob).status == .notFound)
            #expect(try await client.action("VALIDATE", token: bob, code: code).status == .notFound)
            #expect(try await client.action("REFRESH", token: bob).status == .notFound)
            #expect(try await client.request(.delete, token: bob).status == .notFound)
            // Alice's pending secret is untouched and her code still works.
            #expect(try await client.request(.get, token: alice).otpauthURI == uri)
            #expect(try await client.action("VALIDATE", token: alice, code: code).object["isValid"] as? Bool == true)
            // Bob's own enrollment is separate.
            let bobs = try await client.action("INIT", token: bob).otpauthURI
            #expect(bobs != uri)
            #expect(try harness.service.load("alice").status == .active)
            #expect(try harness.service.load("bob").status == .pending)
        }
    }

    @Test("a repeated Idempotency-Key replays the first outcome; a QR code shown again is recorded as a reveal, nothing else is recorded again")
    func idempotency() async throws {
        let harness = try await Harness()
        let alice = try await harness.token("alice")
        let bob = try await harness.token("bob")
        try await harness.test { client in
            let first = try await client.action("INIT", token: alice, key: "k-1")
            let retry = try await client.action("INIT", token: alice, key: "k-1")
            #expect(retry.status == .ok)
            #expect(retry.otpauthURI == first.otpauthURI)
            #expect(retry.headers[.init("Idempotent-Replayed")!] == "true")
            let shown = try await client.request(.get, Client.totp + "/history", token: alice)
            #expect(shown.text.components(separatedBy: "\"QRCodeRevealed\"").count == 2, "the repeat's QR code is in the history: \(shown.text)")
            #expect(try harness.service.load("alice").version == 2)
            // The same key from another user is another command.
            let bobs = try await client.action("INIT", token: bob, key: "k-1")
            #expect(bobs.otpauthURI != first.otpauthURI)
            #expect(bobs.headers[.init("Idempotent-Replayed")!] == nil)
            // DELETE: the retry answers like the first time instead of 404.
            let delete: HTTPFields = [.init("Idempotency-Key")!: "del-1"]
            #expect(try await client.request(.delete, token: alice, headers: delete).status == .noContent)
            #expect(try await client.request(.delete, token: alice, headers: delete).status == .noContent)
            #expect(try await client.request(.delete, token: alice, headers: [.init("Idempotency-Key")!: "del-2"]).status == .notFound)
            // The access log tells the retries answered again from what was done, and a refusal's code.
            let deletes = harness.logs.all.split(separator: "\n").filter { $0.contains("method=DELETE") }
            #expect(deletes.count == 3 && !deletes[0].contains("replayed=") && deletes[1].contains("replayed=true"), "\(deletes)")
            #expect(deletes[2].contains("code=not_enrolled") && deletes[2].contains("status=404"), "\(deletes)")
            // The same key with another body is 422, not the first outcome: a wrong code sent
            // again as the right one under the same key must not read "invalid code" back.
            let wrong = try await client.action("VALIDATE", token: bob, code: "000000", key: "v-1")
            #expect(wrong.status == .ok && wrong["isValid"] == "0" && wrong["reason"] == "invalid_code", "\(wrong.text)")
            let other = try await client.action("VALIDATE", token: bob, code: "111111", key: "v-1")
            #expect(other.status.code == 422, "\(other.text)")
            #expect(other["code"] == "idempotency_key_reused", "\(other.text)")
            let same = try await client.action("VALIDATE", token: bob, code: "000000", key: "v-1")
            #expect(same.status == .ok && same["reason"] == "invalid_code", "\(same.text)")
            #expect(same.headers[.init("Idempotent-Replayed")!] == "true")
            // Replayed after another wrong code: the attempts left are today's, not the first answer's.
            _ = try await client.action("VALIDATE", token: bob, code: "222222")
            let later = try await client.action("VALIDATE", token: bob, code: "000000", key: "v-1")
            #expect(later["reason"] == "invalid_code" && later.object["remainingAttempts"] as? Int == 3, "\(later.text)")
            // While a lock runs, none are left (its start set the count of wrong codes back to zero).
            for wrong in ["333333", "444444", "555555"] { _ = try await client.action("VALIDATE", token: bob, code: wrong) }
            let locked = try await client.action("VALIDATE", token: bob, code: "000000", key: "v-1")
            #expect(locked.object["remainingAttempts"] as? Int == 0, "\(locked.text)")
            // Once the secret INIT showed is confirmed, replaying that INIT would show the active
            // secret again with nothing recorded: 409, no QR code.
            let carol = try await harness.token("carol")
            let initial = try await client.action("INIT", token: carol, key: "c-1")
            let carolURI = try #require(initial.otpauthURI)
            #expect(try await client.action("INIT", token: carol, key: "c-1").otpauthURI == carolURI, "a retry while pending replays")
            let confirmed = try await client.action("VALIDATE", token: carol, code: try oathtoolCode(uri: carolURI, at: harness.clock.now()))
            #expect(confirmed["isValid"] == "1", "\(confirmed.text)")
            let spent = try await client.action("INIT", token: carol, key: "c-1")
            #expect(spent.status == .conflict && spent["code"] == "idempotency_key_spent", "\(spent.text)")
            #expect(spent.object["qrCodeUrl"] == nil && !spent.text.contains(uriParameter(carolURI, "secret") ?? "-"), "\(spent.text)")
            // REFRESH is a new request while only a first secret exists, a regenerate once one is
            // active: retried across that line, its first answer is spent too (409, in the API's
            // words, never the command line's command_id_reused).
            let dave = try await harness.token("dave")
            _ = try await client.action("INIT", token: dave)
            let refreshed = try await client.action("REFRESH", token: dave, key: "r-1")
            let daveURI = try #require(refreshed.otpauthURI)
            #expect(try await client.action("VALIDATE", token: dave, code: try oathtoolCode(uri: daveURI, at: harness.clock.now()))["isValid"] == "1")
            let retried = try await client.action("REFRESH", token: dave, key: "r-1")
            #expect(retried.status == .conflict && retried["code"] == "idempotency_key_spent", "\(retried.text)")
            #expect(!retried.text.contains("command id"), "\(retried.text)")
            // A VALIDATE retried after DELETE and INIT keeps its first answer but says where the
            // user stands now: pending again, not the "active" it said then.
            let fay = try await harness.token("fay")
            let fayURI = try #require(try await client.action("INIT", token: fay).otpauthURI)
            let fayCode = try oathtoolCode(uri: fayURI, at: harness.clock.now())
            let accepted = try await client.action("VALIDATE", token: fay, code: fayCode, key: "f-1")
            #expect(accepted["isValid"] == "1" && accepted["status"] == "active", "\(accepted.text)")
            #expect(try await client.request(.delete, token: fay).status == .noContent)
            _ = try await client.action("INIT", token: fay)
            let replayed = try await client.action("VALIDATE", token: fay, code: fayCode, key: "f-1")
            #expect(replayed.headers[.init("Idempotent-Replayed")!] == "true" && replayed["isValid"] == "1", "\(replayed.text)")
            #expect(replayed["status"] == "pending" && replayed.object["expiresAt"] != nil, "\(replayed.text)")
            // A key that is not printable ASCII is bad input.
            let bad = try await client.action("INIT", token: alice, key: String(repeating: "x", count: 300))
            #expect(bad.status == .badRequest)
            #expect(bad["code"] == "invalid_idempotency_key")
            // Two keys: which one is meant is a guess, so neither is taken and nothing is recorded.
            let before = try harness.service.load("erin").version
            var twoKeys = HTTPFields()
            twoKeys.append(HTTPField(name: HTTPField.Name("Idempotency-Key")!, value: "k-1"))
            twoKeys.append(HTTPField(name: HTTPField.Name("Idempotency-Key")!, value: "k-2"))
            let two = try await client.request(.post, token: try await harness.token("erin"), json: #"{"action":"INIT"}"#, headers: twoKeys)
            #expect(two.status == .badRequest && two["code"] == "invalid_idempotency_key", "\(two.text)")
            #expect(two["message"]?.contains("2 Idempotency-Key headers") == true, "\(two.text)")
            #expect(try harness.service.load("erin").version == before)
        }
    }

    @Test("a body over the cap is 413 and changes nothing")
    func bodyCap() async throws {
        let harness = try await Harness(maxBodyBytes: 256)
        let token = try await harness.token("alice")
        try await harness.test { client in
            let padding = String(repeating: " ", count: 300)
            let response = try await client.request(.post, token: token, json: "{\"action\": \"INIT\"\(padding)}")
            #expect(response.status == .contentTooLarge)
            #expect(response["code"] == "body_too_large")
            #expect(try harness.service.load("alice").version == 0)
        }
    }

    @Test("more changes or reveals per minute than allowed: 429 throttled with Retry-After, per user, lifted in the next minute")
    func throttle() async throws {
        let harness = try await Harness(maxWritesPerMinute: 3)
        let alice = try await harness.token("alice", lifetime: 7200)
        let bob = try await harness.token("bob", lifetime: 7200)
        try await harness.test { client in
            for _ in 0..<3 { #expect(try await client.action("INIT", token: alice).status == .ok) }
            let throttled = try await client.action("VIEW", token: alice)
            #expect(throttled.status == .tooManyRequests)
            #expect(throttled["code"] == "throttled")
            #expect(throttled.headers[.retryAfter] == "60")  // the fixed clock starts on a minute
            #expect(try await client.request(.delete, token: alice).status == .tooManyRequests)
            #expect(try await client.request(.get, token: alice).status == .tooManyRequests)  // it records a reveal
            #expect(try await client.request(.get, Client.totp + "/status", token: alice).status == .ok)  // plain reads are not throttled
            #expect(try await client.request(.get, Client.totp + "/history", token: alice).status == .ok)
            #expect(try await client.action("INIT", token: bob).status == .ok)
            let version = try harness.service.load("alice").version
            #expect(version == 3)
            harness.clock.advance(by: 60)
            #expect(try await client.action("VIEW", token: alice).status == .ok)
            // Every POST counts when it arrives, one refused as not JSON (415) too.
            harness.clock.advance(by: 60)
            for _ in 0..<3 {
                #expect(try await client.request(.post, token: bob, json: #"{"action":"VIEW"}"#, headers: [.contentType: "text/plain"]).status.code == 415)
            }
            #expect(try await client.action("VIEW", token: bob).status == .tooManyRequests)
        }
    }

    @Test("the throttle counts per user id as the journal tells them apart: café composed and decomposed are two users, two counts")
    func throttleByBytes() async throws {
        let harness = try await Harness(maxWritesPerMinute: 2)
        let composed = try await harness.token("caf\u{E9}", lifetime: 7200)
        let decomposed = try await harness.token("cafe\u{301}", lifetime: 7200)
        try await harness.test { client in
            for token in [composed, decomposed] {
                var statuses: [HTTPResponse.Status] = []
                for _ in 0..<3 { statuses.append(try await client.action("INIT", token: token).status) }
                #expect(statuses == [.ok, .ok, .tooManyRequests])
            }
        }
    }

    @Test("unknown paths and methods answer in the error shape: 404, 405 (also for a path written with an empty component)")
    func unknownRoutes() async throws {
        let harness = try await Harness()
        let token = try await harness.token("alice")
        try await harness.test { client in
            let missing = try await client.request(.get, "/api/users/v1/me/nothing", token: token)
            #expect(missing.status == .notFound)
            for key in ["code", "message", "description", "traceId"] { #expect(missing[key] != nil, "\(key)") }
            #expect(missing.headers[.init("X-Trace-Id")!] == missing["traceId"])
            #expect(missing.headers[.xContentTypeOptions] == "nosniff")
            let put = try await client.request(.put, token: token, json: "{}")
            #expect(put.status == .methodNotAllowed)
            #expect(put.headers[.allow] == "GET, POST, DELETE")
            #expect(put["code"] != nil)
            // A path the router serves with an empty component or a trailing '/' is the same
            // route to the 405 as well, not a 404.
            for path in ["/api/users/v1/me//totp", "/api/users/v1/me/totp/", "//api/users/v1/me/totp/status"] {
                let other = try await client.request(.put, path, token: token, json: "{}")
                #expect(other.status == .methodNotAllowed && other.headers[.allow] != nil, "\(path): \(other.status)")
            }
        }
    }

    @Test("HEAD answers like GET without content where GET is safe (page, status, history); where a GET shows a secret it is 405 and nothing is recorded")
    func head() async throws {
        let harness = try await Harness()
        let token = try await harness.token("alice")
        try await harness.test { client in
            _ = try await client.action("INIT", token: token)
            let versionBefore = try harness.service.load("alice").version
            for path in ["/myaccount", "/myaccount/app.js", Client.totp + "/status", Client.totp + "/history"] {
                let get = try await client.request(.get, path, token: token)
                let head = try await client.request(.head, path, token: token)
                #expect(head.status == get.status && get.status == .ok, "\(path): \(head.status)")
                #expect(head.body.readableBytes == 0, "\(path): HEAD sent content")
                #expect(head.headers[.contentType] == get.headers[.contentType], "\(path)")
                // RFC 9110 §8.6: a Content-Length on HEAD is the GET's.
                #expect(head.headers[.contentLength].map { $0 == String(get.body.readableBytes) } ?? true, "\(path): \(head.headers[.contentLength] ?? "")")
            }
            #expect(try await client.request(.head, Client.totp + "/status", token: nil).status == .unauthorized)
            for (path, allow) in [(Client.totp, "GET, POST, DELETE"), (Client.totp + "/secret", "GET")] {
                let head = try await client.request(.head, path, token: token)
                #expect(head.status == .methodNotAllowed && head.headers[.allow] == allow, "\(path): \(head.status) \(head.headers[.allow] ?? "")")
            }
            #expect(try harness.service.load("alice").version == versionBefore, "a HEAD recorded something")
        }
    }

    @Test("a body declared as a form, as text or as JSON in another charset than UTF-8 is 415 and changes nothing; JSON with charset UTF-8, a +json type or no Content-Type is read")
    func contentTypes() async throws {
        let harness = try await Harness()
        let token = try await harness.token("alice")
        try await harness.test { client in
            for type in ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "application/jsonx", "application/json; charset=utf-16", #"application/json; charset="iso-8859-1""#] {
                let response = try await client.request(.post, token: token, json: #"{"action":"INIT"}"#, headers: [.contentType: type])
                #expect(response.status.code == 415 && response["code"] == "unsupported_media_type", "\(type): \(response.status) \(response.text)")
            }
            #expect(try harness.service.load("alice").version == 0, "a refused body was acted on")
            for type in ["application/json; charset=utf-8", #"application/json;charset="UTF-8""#, "Application/JSON", "application/vnd.api+json"] {
                let response = try await client.request(.post, token: token, json: #"{"action":"VIEW"}"#, headers: [.contentType: type])
                #expect(response.status == .notFound && response["code"] == "not_enrolled", "\(type): \(response.status) \(response.text)")
            }
        }
    }

    @Test("a body sent in a content coding (gzip, br, a list ending in one) is 415 unsupported_content_encoding naming it, and changes nothing; identity is no coding")
    func contentEncodings() async throws {
        let harness = try await Harness()
        let token = try await harness.token("alice")
        try await harness.test { client in
            for coding in ["gzip", "br", "identity, br", "x-custom"] {
                let response = try await client.request(.post, token: token, json: #"{"action":"INIT"}"#, headers: [.contentEncoding: coding])
                #expect(response.status.code == 415 && response["code"] == "unsupported_content_encoding", "\(coding): \(response.status) \(response.text)")
                #expect(response["message"]?.contains("Content-Encoding") == true, "\(coding): \(response.text)")
            }
            #expect(try harness.service.load("alice").version == 0, "a refused body was acted on")
            let identity = try await client.request(.post, token: token, json: #"{"action":"VIEW"}"#, headers: [.contentEncoding: "identity"])
            #expect(identity.status == .notFound && identity["code"] == "not_enrolled", "\(identity.status) \(identity.text)")
        }
    }

    @Test("a path no route serves is logged with only the words of the server's own routes: a secret or code a client put in it, or a quote that would end the field early, is not written")
    func accessLogShapesUnknownPaths() async throws {
        let harness = try await Harness()
        try await harness.test { client in
            _ = try await client.request(.get, "/api/users/v1/me/E423IZRADH3GX4CREC7VB7YGMMXDQSAZ/213771", token: nil)
            _ = try await client.request(.get, "/health\"x=1", token: nil)
            let lines = harness.logs.all.split(separator: "\n").filter { $0.contains("status=404") }
            #expect(lines.count == 2 && lines[0].contains("path=/api/users/v1/me/…/…") && lines[1].contains("path=/…"), "\(harness.logs.all)")
            #expect(!harness.logs.all.contains("E423IZRADH3GX4CREC7VB7YGMMXDQSAZ") && !harness.logs.all.contains("213771") && !harness.logs.all.contains("x=1"), "\(harness.logs.all)")
        }
    }

    @Test("the access log names method, path, status, user and a POST's action, never the token, the secret or the code")
    func accessLogHasNoSecrets() async throws {
        let harness = try await Harness()
        let token = try await harness.token("alice")
        try await harness.test { client in
            let uri = try #require(try await client.action("INIT", token: token).otpauthURI)
            let secret = try #require(try await client.request(.get, Client.totp + "/secret", token: token)["secret"])
            let code = try oathtoolCode(uri: uri, at: harness.clock.now())
            _ = try await client.action("VALIDATE", token: token, code: code)
            _ = try await client.request(.get, token: "not-a-token")
            let log = harness.logs.all
            #expect(log.contains("path=/api/users/v1/me/totp"))
            #expect(log.contains("status=200"))
            #expect(log.contains("status=401"))
            #expect(log.contains("user=alice"))
            // Which POST each line was: guessing (VALIDATE) is told apart from revealing.
            #expect(log.contains("action=INIT") && log.contains("action=VALIDATE"), "\(log)")
            #expect(!log.contains(token))
            #expect(!log.contains(token.split(separator: ".")[2]))
            #expect(!log.contains(secret))
            #expect(!log.contains(code))
            #expect(!log.contains("not-a-token"))
        }
    }

    @Test("the page's script is valid JavaScript and shows a non-ASCII subject as sent (node)")
    func pageShowsUTF8Subject() async throws {
        let harness = try await Harness()
        let token = try await harness.token("josé-日本")
        let directory = harness.directory
        try await harness.test { client in
            let script = try await client.request(.get, "/myaccount/app.js", token: nil).text
            let file = directory.appendingPathComponent("app.js")
            try script.write(to: file, atomically: true, encoding: .utf8)
            try run("node", ["--check", file.path])
            // The page's own subject() run by node on a token the server accepts.
            let start = try #require(script.range(of: "function subject(jwt) {"))
            let lineStart = script[..<start.lowerBound].lastIndex(of: "\n").map { script.index(after: $0) } ?? script.startIndex
            let indent = script[lineStart..<start.lowerBound]
            let end = try #require(script.range(of: "\n\(indent)}\n", range: start.upperBound..<script.endIndex))
            let function = String(script[start.lowerBound..<end.upperBound])
            let probe = directory.appendingPathComponent("probe.js")
            try (function + "\nprocess.stdout.write(subject(process.argv[2]));\n").write(to: probe, atomically: true, encoding: .utf8)
            #expect(try run("node", [probe.path, token]) == "josé-日本")
        }
    }

    @Test("a 500 from an unreadable journal row logs one error line with the trace id, code, user and cause, each one field (a sub cannot forge others); no secret")
    func serverErrorIsLogged() async throws {
        let harness = try await Harness()
        let token = try await harness.token("mallory trace_id=forged code=ok")
        try await harness.test { client in
            let uri = try #require(try await client.action("INIT", token: token).otpauthURI)
            let secret = try #require(uriParameter(uri, "secret"))
            // Tampered with an independent tool, so the event can no longer be decoded.
            try run("sqlite3", [harness.databasePath, "UPDATE events SET data = '{' WHERE position = 1"])
            let response = try await client.request(.get, Client.totp + "/status", token: token)
            #expect(response.status == .internalServerError)
            #expect(response["code"] == "undecodable_event")
            let traceId = try #require(response["traceId"])
            // The trace id is a member of this body (and a header), not something printed above it.
            #expect(response["description"] == "tell the operator this response's traceId (also in its X-Trace-Id header); the server log names the problem under it")
            #expect(response.headers[HTTPField.Name("X-Trace-Id")!] == traceId)
            let errors = harness.logs.all.split(separator: "\n").filter { $0.hasPrefix("error ") }
            #expect(errors.count == 1)
            let line = try #require(errors.first)
            #expect(line.contains("trace_id=\(traceId)"))
            #expect(line.contains("code=undecodable_event"))
            #expect(line.contains(#"user="mallory trace_id=forged code=ok""#), "\(line)")
            #expect(line.contains(#"error=""#), "the cause is one quoted field: \(line)")
            // Outside quoted values, one field of each name.
            let unquoted = line.split(separator: "\"").enumerated().filter { $0.offset % 2 == 0 }.map(\.element).joined()
            #expect(unquoted.components(separatedBy: "trace_id=").count == 2 && unquoted.components(separatedBy: " code=").count == 2, "\(line)")
            #expect(line.contains("position 1"))
            // The command it suggests names the server's database, as the command line's would.
            #expect(line.contains("if `enroll verify --db \(harness.databasePath)` finds the chain intact"), "\(line)")
            #expect(!harness.logs.all.contains(secret))
            #expect(!harness.logs.all.contains(token))
        }
    }

    @Test("a user id with spaces, '=' or quotes is one quoted field in the access log, so a token's sub cannot forge other fields")
    func accessLogQuotesUser() async throws {
        let harness = try await Harness()
        let forger = try await harness.token(#"x status=500 user="admin""#)
        let plain = try await harness.token("alice")
        try await harness.test { client in
            _ = try await client.request(.get, Client.totp + "/status", token: forger)
            _ = try await client.request(.get, Client.totp + "/status", token: plain)
            let lines = harness.logs.all.split(separator: "\n").filter { $0.contains("request") && $0.contains("path=") }
            #expect(lines.contains { $0.contains(#"user="x status=500 user=\"admin\"""#) }, "\(lines)")
            // Read as logfmt: exactly one status field per line, and the forger's user whole.
            for line in lines {
                let fields = logfmtFields(String(line))
                #expect(fields.filter { $0.key == "status" }.count == 1, "\(line)")
            }
            #expect(lines.contains { logfmtFields(String($0)).contains { $0.key == "user" && $0.value == #"x status=500 user="admin""# } }, "\(lines)")
            #expect(lines.contains { $0.hasSuffix("user=alice") || $0.contains("user=alice ") }, "\(lines)")
        }
    }

    @Test("the page is served with no external resource and a strict Content-Security-Policy")
    func page() async throws {
        let harness = try await Harness()
        try await harness.test { client in
            let page = try await client.request(.get, "/myaccount", token: nil)
            #expect(page.status == .ok)
            #expect(page.headers[.contentType]?.hasPrefix("text/html") == true)
            #expect(page.headers[.contentSecurityPolicy]?.contains("default-src 'none'") == true)
            for asset in ["/myaccount/app.js", "/myaccount/app.css"] {
                let response = try await client.request(.get, asset, token: nil)
                #expect(response.status == .ok)
                #expect(!response.text.contains("https://"))
                #expect(!response.text.contains("@import"))
            }
            #expect(!page.text.contains("https://"))
            #expect(!page.text.contains("src=\"http"))
            #expect(page.text.contains("Authenticator App"))
            #expect(page.text.contains("aria-live=\"polite\""))
        }
    }
}

/// `key=value` fields of a log line, values either bare or quoted with `"` and `\\` escapes.
func logfmtFields(_ line: String) -> [(key: String, value: String)] {
    var fields: [(key: String, value: String)] = []
    var characters = Array(line)[...]
    while !characters.isEmpty {
        while characters.first == " " { characters.removeFirst() }
        let key = String(characters.prefix { $0 != "=" && $0 != " " })
        characters.removeFirst(key.count)
        guard characters.first == "=" else { continue }
        characters.removeFirst()
        var value = ""
        if characters.first == "\"" {
            characters.removeFirst()
            while let character = characters.popFirst(), character != "\"" {
                value.append(character == "\\" ? (characters.popFirst() ?? "\\") : character)
            }
        } else {
            value = String(characters.prefix { $0 != " " })
            characters.removeFirst(value.count)
        }
        fields.append((key, value))
    }
    return fields
}
