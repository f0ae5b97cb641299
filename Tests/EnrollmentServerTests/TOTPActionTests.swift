import Enrollment
import EnrollmentServer
import Foundation
import GRDB
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("POST /me/totp actions")
struct TOTPActionTests {
    @Test("INIT shows a QR code whose otpauth URI carries the issuer, the user and the digits")
    func initShowsQRCode() async throws {
        let harness = try await Harness(digits: 8)
        let token = try await harness.token("alice")
        try await harness.test { client in
            let response = try await client.action("INIT", token: token)
            #expect(response.status == .ok)
            let uri = try #require(response.otpauthURI)
            #expect(uri.hasPrefix("otpauth://totp/ACME:alice?"))
            #expect(uriParameter(uri, "digits") == "8")
            #expect(uriParameter(uri, "issuer") == "ACME")
            #expect(response["status"] == "pending")
            #expect(response["digits"] == "8")
            #expect((response.object["qrCodeSvg"] as? String)?.contains("<svg") == true)
            let status = try await client.request(.get, Client.totp + "/status", token: token)
            #expect(status["status"] == "pending")
        }
    }

    @Test("the SVG QR code decodes (rsvg-convert, zbarimg) to the same URI as qrCodeUrl")
    func svgMatchesURI() async throws {
        let harness = try await Harness()
        let token = try await harness.token("alice")
        try await harness.test { client in
            let response = try await client.action("INIT", token: token)
            let svg = try #require(response.object["qrCodeSvg"] as? String)
            let png = harness.directory.appendingPathComponent("qr.png").path
            try run("rsvg-convert", ["-o", png], input: Data(svg.utf8))
            let decoded = try run("zbarimg", ["--quiet", "--raw", png]).trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(decoded == response.otpauthURI)
        }
    }

    @Test("VALIDATE with the code oathtool computes enables the authenticator")
    func validateRightCode() async throws {
        let harness = try await Harness()
        let token = try await harness.token("alice")
        try await harness.test { client in
            let uri = try #require(try await client.action("INIT", token: token).otpauthURI)
            let code = try oathtoolCode(uri: uri, at: harness.clock.now())
            let response = try await client.action("VALIDATE", token: token, code: code)
            #expect(response.status == .ok)
            #expect(response.object["isValid"] as? Bool == true)
            #expect(response["status"] == "active")
            #expect(try await client.request(.get, Client.totp + "/status", token: token)["status"] == "active")
        }
    }

    @Test("a wrong code is isValid false with attempts left, logged with its code; the fifth locks with 429 and Retry-After; a retry of a locked VALIDATE after the lock is told its key is spent, not to wait")
    func wrongCodesLock() async throws {
        let harness = try await Harness()
        let token = try await harness.token("alice")
        try await harness.test { client in
            let uri = try #require(try await client.action("INIT", token: token).otpauthURI)
            let right = try oathtoolCode(uri: uri, at: harness.clock.now())
            let wrong = right == "000000" ? "111111" : "000000"
            for attempt in 1...4 {
                let response = try await client.action("VALIDATE", token: token, code: wrong)
                #expect(response.status == .ok)
                #expect(response.object["isValid"] as? Bool == false)
                #expect(response["reason"] == "invalid_code")
                #expect(response.object["remainingAttempts"] as? Int == 5 - attempt)
            }
            // Each wrong code is in the access log by its code, though answered 200: an alert on
            // guessing needs no lock to see it.
            let wrongLines = harness.logs.all.split(separator: "\n").filter { $0.contains("action=VALIDATE") }
            #expect(wrongLines.count == 4 && wrongLines.allSatisfy { $0.contains("code=invalid_code") && $0.contains("status=200") }, "\(wrongLines)")
            let locked = try await client.action("VALIDATE", token: token, code: wrong, key: "fifth")
            #expect(locked.status == .tooManyRequests)
            #expect(locked["code"] == "locked")
            #expect(locked.headers[.retryAfter] == "900")
            #expect(locked["lockedUntil"] == Timestamps.iso8601(Harness.start + 900))
            // Even the right code is refused while locked.
            let stillLocked = try await client.action("VALIDATE", token: token, code: right, key: "during")
            #expect(stillLocked.status == .tooManyRequests)
            // Both refusals recorded an event, so their keys keep them: the same 429 while the lock runs.
            let retried = try await client.action("VALIDATE", token: token, code: right, key: "during")
            #expect(retried.status == .tooManyRequests && retried["lockedUntil"] == Timestamps.iso8601(Harness.start + 900), "\(retried.text)")
            // The QR code (10 minutes) expires before the lock (15) ends: the answer says so.
            #expect(stillLocked["description"]?.contains("the QR code expires before the lock ends") == true, "\(stillLocked.text)")
            #expect(try await client.request(.get, Client.totp + "/status", token: token)["lockedUntil"] == Timestamps.iso8601(Harness.start + 900))
            // Unchecked and uncounted, but in the history.
            let history = try await client.request(.get, Client.totp + "/history", token: token)
            #expect(history.text.components(separatedBy: "\"CodeRefusedWhileLocked\"").count == 2, "\(history.text)")
            // No new QR code while the lock runs (it would expire first): INIT and REFRESH get the
            // same 429, record nothing, and a retry of the same Idempotency-Key after the lock's
            // end gets its QR code.
            for action in ["INIT", "REFRESH"] {
                let refused = try await client.action(action, token: token, key: "after-lock-\(action)")
                #expect(refused.status == .tooManyRequests && refused["code"] == "locked", "\(action): \(refused.text)")
                #expect(refused.headers[.retryAfter] == "900" && refused["lockedUntil"] == Timestamps.iso8601(Harness.start + 900), "\(action): \(refused.text)")
            }
            let refusedHistory = try await client.request(.get, Client.totp + "/history", token: token)
            #expect(refusedHistory.text == history.text, "nothing recorded")
            // The QR code expires while the lock runs: its refusals say to INIT after the lock,
            // and when it ends.
            harness.clock.advance(by: 601)
            let afterLock = "after the lock on VALIDATE ends (\(Timestamps.iso8601(Harness.start + 900))), INIT (\"+\" on the page) gives a new QR code"
            for (what, expired) in [
                ("VALIDATE", try await client.action("VALIDATE", token: token, code: right)),
                ("VIEW", try await client.action("VIEW", token: token)),
                ("GET secret", try await client.request(.get, Client.totp + "/secret", token: token)),
            ] {
                #expect(expired.status == .conflict && expired["code"] == "enrollment_expired", "\(what): \(expired.text)")
                #expect(expired["description"] == afterLock && expired["lockedUntil"] == Timestamps.iso8601(Harness.start + 900), "\(what): \(expired.text)")
            }
            harness.clock.advance(by: 300)
            let issued = try await client.action("INIT", token: token, key: "after-lock-INIT")
            #expect(issued.status == .ok && issued.otpauthURI != nil, "\(issued.text)")
            // After the lock, their retries are not told to wait for a time already past (a
            // client honouring Retry-After would loop): the key is spent, send the code anew.
            for (key, code) in [("fifth", wrong), ("during", right)] {
                let spent = try await client.action("VALIDATE", token: token, code: code, key: key)
                #expect(spent.status == .conflict && spent["code"] == "idempotency_key_spent" && spent.headers[.retryAfter] == nil, "\(key): \(spent.text)")
                #expect(spent["message"]?.contains("a lock that has ended") == true, "\(key): \(spent.text)")
            }
        }
    }

    @Test("a REFRESH's secret that expires while a lock runs: the 429 still says that after the lock a REFRESH gives a new QR code, not merely to wait")
    func replacementExpiresDuringLock() async throws {
        let harness = try await Harness()
        let token = try await harness.token("alice", lifetime: 7200)
        try await harness.test { client in
            let uri = try #require(try await client.action("INIT", token: token).otpauthURI)
            let activated = try await client.action("VALIDATE", token: token, code: try oathtoolCode(uri: uri, at: harness.clock.now()))
            #expect(activated.object["isValid"] as? Bool == true, "\(activated.object)")
            harness.clock.advance(by: 60)
            #expect(try await client.action("REFRESH", token: token).status == .ok)
            var last = try await client.action("VALIDATE", token: token, code: "000000")
            for _ in 1..<5 { last = try await client.action("VALIDATE", token: token, code: "000000") }
            #expect(last.status == .tooManyRequests && last["description"]?.contains("the QR code expires before the lock ends") == true, "\(last.text)")
            harness.clock.advance(by: 700)
            let expired = try await client.action("VALIDATE", token: token, code: "000000")
            #expect(expired.status == .tooManyRequests && expired["code"] == "locked", "\(expired.text)")
            #expect(expired["description"] == "the QR code expired: after the lock ends, REFRESH (Regenerate on the page) gives a new QR code", "\(expired.text)")
            // CANCEL of that expired secret says the same, and when the lock ends.
            let lockedUntil = try #require(expired["lockedUntil"])
            let cancel = try await client.action("CANCEL", token: token)
            #expect(cancel.status == .conflict && cancel["code"] == "replacement_expired" && cancel["lockedUntil"] == lockedUntil, "\(cancel.text)")
            #expect(cancel["description"] == "the active secret is unchanged; VIEW (the eye icon on the page) shows its QR code to scan again; after the lock on VALIDATE ends (\(lockedUntil)), REFRESH (Regenerate on the page) gives a new QR code", "\(cancel.text)")
            // Once it has ended, the advice is plain again.
            harness.clock.advance(by: 300)
            let later = try await client.action("CANCEL", token: token)
            #expect(later["code"] == "replacement_expired" && later["lockedUntil"] == nil && later["description"] == "the active secret is unchanged; VIEW (the eye icon on the page) shows its QR code to scan again; REFRESH (Regenerate on the page) gives a new QR code", "\(later.text)")
        }
    }

    @Test("refusals that record no event leave no command record, unless sent with an Idempotency-Key (then a retry gets the recorded refusal)")
    func refusalsLeaveNoRecord() async throws {
        let harness = try await Harness()
        try await harness.test { client in
            for index in 0..<10 {
                let token = try await harness.token("ghost-\(index)")
                #expect(try await client.request(.delete, token: token).status == .notFound)
                #expect(try await client.action("VIEW", token: token).status == .notFound)
            }
            #expect(try await harness.service.database.writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM commands") } == 0)
            let token = try await harness.token("ghost-0")
            #expect(try await client.action("VIEW", token: token, key: "k1").status == .notFound)
            #expect(try await harness.service.database.writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM commands") } == 1)
            // The retry gets the same refusal from the record, says it is a replay, and adds nothing.
            let retried = try await client.action("VIEW", token: token, key: "k1")
            #expect(retried.status == .notFound && retried.headers[HTTPField.Name("Idempotent-Replayed")!] == "true", "\(retried.text)")
            #expect(try await harness.service.database.writer.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM commands") } == 1)
        }
    }

    @Test("VALIDATE refuses bad input with 400 and records nothing")
    func validateBadInput() async throws {
        let harness = try await Harness()
        let token = try await harness.token("alice")
        try await harness.test { client in
            _ = try await client.action("INIT", token: token)
            // Not 6 to 8 ASCII digits: the same code as the command line's, enrolled or not.
            let someoneElse = try await harness.token("nobody-enrolled")
            for caller in [token, someoneElse] {
                for code in ["12345", "12 456", "١٢٣٤٥٦", "１２３４５６", "abcdef", "", String(repeating: "1", count: 40)] {
                    let response = try await client.action("VALIDATE", token: caller, code: code)
                    #expect(response.status == .badRequest, "code \(code)")
                    #expect(response["code"] == "invalid_code_format", "code \(code): \(response["code"] ?? "")")
                    #expect(response["description"]?.contains("digits") == true)
                }
            }
            // Digits, but not as many as the secret has.
            let seven = try await client.action("VALIDATE", token: token, code: "1234567")
            #expect(seven.status == .badRequest && seven["code"] == "malformed_code", "\(seven["code"] ?? "")")
            let missing = try await client.action("VALIDATE", token: token)
            #expect(missing.status == .badRequest)
            #expect(missing["code"] == "missing_verification_code")
            // Nothing counted: four wrong codes still leave one attempt.
            let state = try harness.service.load("alice")
            #expect(state.failedAttempts == 0)
        }
    }

    @Test("bodies that are not a known action are 400, never 500")
    func badBodies() async throws {
        let harness = try await Harness()
        let token = try await harness.token("alice")
        try await harness.test { client in
            let bodies = [
                "", "{", "[]", "null", "42", "{\"action\": 1}", "{\"action\": \"init\"}", "{\"action\": \"DESTROY\"}",
                "{\"action\": \"VALIDATE\", \"verificationCode\": 123456}", String(repeating: "{", count: 3000),
                // Not RFC 8259 JSON, though Foundation's decoder reads them: a NUL after the
                // value, lone surrogate escapes (§8.2).
                "{\"action\": \"INIT\"}\u{0}", #"{"action":"INIT","x":"\ud800"}"#, #"{"action":"INIT","x":"\udc00 "}"#,
            ]
            for body in bodies {
                let response = try await client.request(.post, token: token, json: body)
                #expect(response.status == .badRequest, "body \(body.prefix(40))")
                #expect(response["traceId"] != nil)
                #expect(response["description"] != nil)
            }
            #expect(try harness.service.load("alice").version == 0)
            // Each says what is wrong, where.
            let named = [
                (#"{"action":"INIT",}"#, "the body is not valid JSON: unexpected '}' at byte 17"),
                ("{'action':'INIT'}", "the body is not valid JSON: unexpected "),
                (#"{"action":"INIT"} {"action":"VIEW"}"#, "the body is not valid JSON: more follows the value, from byte 18"),
                (String(repeating: "[", count: 2000), "the body is not valid JSON: it nests deeper than 512 levels"),
                (#"{"action":"INIT","x":1e400}"#, "the body is not valid JSON: the number at byte 21 is too large"),
                (#"{"action":"INIT","x":"\ud800"}"#, "the body is not valid JSON: the escape at byte 22 is half of a surrogate pair"),
                (#"{"verificationCode":"123456"}"#, "the body has no 'action'"),
                (#"{"action":7}"#, "'action' must be a string"),
                (#"{"action":null}"#, "'action' must be a string, not null"),
                ("[]", "the body is not a JSON object with a string 'action'"),
            ]
            for (body, message) in named {
                let response = try await client.request(.post, token: token, json: body)
                #expect(response.status == .badRequest && response["code"] == "invalid_body" && response["message"]?.hasPrefix(message) == true, "\(body.prefix(40)): \(response.text)")
            }
            #expect(try harness.service.load("alice").version == 0)
            // A byte order mark before the value may be ignored (RFC 8259 §8.1), and is; a
            // surrogate pair is one character.
            #expect(try await client.request(.post, token: token, json: "\u{FEFF}{\"action\":\"INIT\",\"verificationCode\":\"\\ud83d\\ude00\"}").status == .ok)
        }
    }

    @Test("a body naming a member twice is 400 duplicate_member, whichever value comes first, and records nothing")
    func duplicateMembers() async throws {
        let harness = try await Harness()
        let token = try await harness.token("alice")
        try await harness.test { client in
            for body in [
                #"{"action":"VALIDATE","verificationCode":"123456","action":"INIT"}"#,
                #"{"action":"INIT","action":"INIT"}"#,
                #"{"action":"INIT","verificationCode":"1","verificationCode":"2"}"#,
                // After a byte order mark, which the decoder passes over.
                "\u{FEFF}" + #"{"action":"VALIDATE","verificationCode":"123456","action":"INIT"}"#,
            ] {
                let response = try await client.request(.post, token: token, json: body)
                #expect(response.status == .badRequest, "\(body)")
                #expect(response["code"] == "duplicate_member", "\(body)")
                #expect(response["message"]?.contains("more than once") == true)
            }
            #expect(try harness.service.load("alice").version == 0)
            #expect(try await client.request(.post, token: token, json: #"{"action":"INIT"}"#).status == .ok)
        }
    }

    @Test("a body naming a member the API does not take (a setting the client thinks it chose) is 400 unknown_member naming it, and records nothing")
    func unknownMembers() async throws {
        let harness = try await Harness()
        let token = try await harness.token("alice")
        try await harness.test { client in
            for (body, name) in [
                (#"{"action":"INIT","algorithm":"SHA256"}"#, "algorithm"), (#"{"action":"INIT","issuer":"X"}"#, "issuer"),
                (#"{"verificationCode":"123456","action":"VALIDATE","userId":"bob"}"#, "userId"),
                ("\u{FEFF}" + #"{"action":"INIT","digits":8}"#, "digits"),
            ] {
                let response = try await client.request(.post, token: token, json: body)
                #expect(response.status == .badRequest && response["code"] == "unknown_member", "\(body): \(response.text)")
                #expect(response["message"] == "the body names '\(name)', which this API does not take", "\(response.text)")
            }
            #expect(try harness.service.load("alice").version == 0)
            #expect(try await client.request(.post, token: token, json: #"{"action":"INIT"}"#).status == .ok)
        }
    }

    @Test("VALIDATE takes a code as apps group it (\"123 456\"): the spaces are dropped and the secret activates")
    func validateGroupedCode() async throws {
        let harness = try await Harness()
        let token = try await harness.token("alice")
        try await harness.test { client in
            let uri = try #require(try await client.action("INIT", token: token).otpauthURI)
            let code = try oathtoolCode(uri: uri, at: harness.clock.now())
            let grouped = " \(code.prefix(3)) \(code.dropFirst(3)) "
            let response = try await client.action("VALIDATE", token: token, code: grouped)
            #expect(response.status == .ok && response.object["isValid"] as? Bool == true, "\(response.object)")
            #expect(try harness.service.load("alice").status == .active)
        }
    }

    @Test("VALIDATE with a code from a Regenerate QR code that expired: 409 replacement_expired saying the active secret is unchanged, not no_pending_secret; status says pendingExpired before and after the expiry is recorded")
    func validateExpiredReplacement() async throws {
        let harness = try await Harness()
        let token = try await harness.token("alice")
        try await harness.test { client in
            let uri = try #require(try await client.action("INIT", token: token).otpauthURI)
            #expect(try await client.action("VALIDATE", token: token, code: try oathtoolCode(uri: uri, at: harness.clock.now())).object["isValid"] as? Bool == true)
            let newURI = try #require(try await client.action("REFRESH", token: token).otpauthURI)
            harness.clock.advance(by: 601)
            for _ in 0..<2 {
                let status = try await client.request(.get, Client.totp + "/status", token: token)
                #expect(status["status"] == "active" && status.object["pendingExpired"] as? Bool == true && status.object["replacementPending"] as? Bool == false, "\(status.object)")
                let response = try await client.action("VALIDATE", token: token, code: try oathtoolCode(uri: newURI, at: harness.clock.now()))
                #expect(response.status == .conflict && response["code"] == "replacement_expired", "\(response.object)")
                #expect(response["description"]?.contains("the active secret is unchanged") == true, "\(response.object)")
            }
            let recorded = try await client.request(.get, Client.totp + "/status", token: token)
            #expect(recorded.object["pendingExpired"] as? Bool == true, "\(recorded.object)")
            #expect(try harness.service.load("alice").status == .active)
            // A new REFRESH starts over.
            _ = try #require(try await client.action("REFRESH", token: token).otpauthURI)
            #expect(try await client.request(.get, Client.totp + "/status", token: token).object["pendingExpired"] as? Bool == false)
        }
    }

    @Test("a burst of REFRESH for one user in one server takes turns: every one gets its new QR code (200), none the 503 too_many_conflicts of retries that kept finding the stream moved")
    func refreshBurst() async throws {
        let harness = try await Harness()
        let token = try await harness.token("burst")
        try await harness.test { client in
            let uri = try #require(try await client.action("INIT", token: token).otpauthURI)
            #expect(try await client.action("VALIDATE", token: token, code: try oathtoolCode(uri: uri, at: harness.clock.now())).status == .ok)
            let answers = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<24 { group.addTask { let r = try await client.action("REFRESH", token: token); return "\(r.status.code) \(r["code"] ?? "")" } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(answers.allSatisfy { $0.hasPrefix("200") }, "\(answers.sorted())")
            #expect(try harness.service.load("burst").status == .active)
        }
    }

    @Test("REFRESH racing the VALIDATE that activates the first secret always gets a new QR code (200), never the already_enrolled of a choice made before the lock; with an Idempotency-Key (as the page sends), its retry replays that QR code", arguments: [false, true])
    func refreshRacingActivation(keyed: Bool) async throws {
        let harness = try await Harness()
        try await harness.test { client in
            var refreshes: [String] = []
            for index in 0..<40 {
                let token = try await harness.token("racer\(index)")
                let uri = try #require(try await client.action("INIT", token: token).otpauthURI)
                let code = try oathtoolCode(uri: uri, at: harness.clock.now())
                let key = keyed ? "refresh-\(index)" : nil
                async let validate = client.action("VALIDATE", token: token, code: code)
                async let refresh = client.action("REFRESH", token: token, key: key)
                let (validated, refreshed) = try await (validate, refresh)
                refreshes.append("\(refreshed.status.code) \(refreshed["code"] ?? "")")
                #expect(validated.status == .ok || validated["code"] == "no_pending_secret", "\(validated.object)")
                if let key, refreshed.status == .ok {
                    let retried = try await client.action("REFRESH", token: token, key: key)
                    #expect(retried.status == .ok && retried.otpauthURI == refreshed.otpauthURI, "\(retried.object)")
                }
            }
            #expect(refreshes.allSatisfy { $0.hasPrefix("200") }, "\(refreshes.filter { !$0.hasPrefix("200") })")
        }
    }

    @Test("GET /secret racing the VALIDATE that activates: each 200 is one text reveal of the pending secret, each 409 is the endpoint's own and records nothing, the active secret is never recorded as shown")
    func secretRacingActivation() async throws {
        let harness = try await Harness()
        try await harness.test { client in
            var answered = [String: Int]()
            for index in 0..<30 {
                let user = "shown\(index)"
                let token = try await harness.token(user)
                let uri = try #require(try await client.action("INIT", token: token).otpauthURI)
                let code = try oathtoolCode(uri: uri, at: harness.clock.now())
                async let validate = client.action("VALIDATE", token: token, code: code)
                async let first = client.request(.get, Client.totp + "/secret", token: token)
                async let second = client.request(.get, Client.totp + "/secret", token: token)
                async let third = client.request(.get, Client.totp + "/secret", token: token)
                let (validated, shown) = try await (validate, [first, second, third])
                #expect(validated.object["isValid"] as? Bool == true, "\(validated.object)")
                for response in shown where response.status != .ok {
                    #expect(response.status == .conflict && response["message"] == "the secret is shown as text only while it awaits its first code", "\(response.object)")
                }
                answered[user] = shown.filter { $0.status == .ok }.count
            }
            let recorded = try harness.service.database.writer.read { db in
                try Row.fetchAll(db, sql: "SELECT stream_id, data FROM events WHERE type = 'QRCodeRevealed'")
            }
            for (user, count) in answered {
                let reveals = recorded.filter { $0["stream_id"] == user }.map { $0["data"] as String }
                #expect(reveals.count == count, "\(user): \(count) answers, \(reveals)")
                #expect(reveals.allSatisfy { $0.contains("\"shownAs\":\"text\"") && $0.contains("\"target\":\"pending\"") }, "\(user): \(reveals)")
            }
        }
    }

    @Test("VALIDATE with nothing pending: 409 no_pending_secret; a code already used: isValid false, code_reused")
    func validateWithoutPending() async throws {
        let harness = try await Harness()
        let token = try await harness.token("alice")
        try await harness.test { client in
            let uri = try #require(try await client.action("INIT", token: token).otpauthURI)
            let code = try oathtoolCode(uri: uri, at: harness.clock.now())
            #expect(try await client.action("VALIDATE", token: token, code: code).object["isValid"] as? Bool == true)
            let reused = try await client.action("VALIDATE", token: token, code: code)
            #expect(reused.status == .ok)
            #expect(reused.object["isValid"] as? Bool == false)
            #expect(reused["reason"] == "code_reused")
            #expect(reused.object["remainingAttempts"] == nil, "nothing is pending, so no attempts are counted: \(reused.object)")
            // A code of the step before the one that activated it is refused the same way (RFC 6238 §5.2).
            let earlier = try oathtoolCode(uri: uri, at: harness.clock.now() - 30)
            if earlier != code {
                let older = try await client.action("VALIDATE", token: token, code: earlier)
                #expect(older.status == .ok && older["reason"] == "code_reused", "\(older.object)")
            }
            harness.clock.advance(by: 90)
            let later = try oathtoolCode(uri: uri, at: harness.clock.now())
            let response = try await client.action("VALIDATE", token: token, code: later)
            #expect(response.status == .conflict)
            #expect(response["code"] == "no_pending_secret")
        }
    }

    @Test("VIEW shows the QR code VALIDATE checks; 404 when nothing is enrolled")
    func view() async throws {
        let harness = try await Harness()
        let token = try await harness.token("alice")
        try await harness.test { client in
            let none = try await client.action("VIEW", token: token)
            #expect(none.status == .notFound)
            #expect(none["code"] == "not_enrolled")
            let first = try await client.action("INIT", token: token).otpauthURI
            #expect(try await client.action("VIEW", token: token).otpauthURI == first)
            #expect(try await client.request(.get, token: token).otpauthURI == first)
        }
    }

    @Test("INIT with an active authenticator is 409 already_enrolled")
    func initTwice() async throws {
        let harness = try await Harness()
        let token = try await harness.token("alice")
        try await harness.test { client in
            let uri = try #require(try await client.action("INIT", token: token).otpauthURI)
            _ = try await client.action("VALIDATE", token: token, code: try oathtoolCode(uri: uri, at: harness.clock.now()))
            let again = try await client.action("INIT", token: token)
            #expect(again.status == .conflict)
            #expect(again["code"] == "already_enrolled")
        }
    }

    @Test("REFRESH issues a new secret; the old one stays active until a code from the new one is validated")
    func refresh() async throws {
        let harness = try await Harness()
        let token = try await harness.token("alice")
        try await harness.test { client in
            let none = try await client.action("REFRESH", token: token)
            #expect(none.status == .notFound)
            let old = try #require(try await client.action("INIT", token: token).otpauthURI)
            _ = try await client.action("VALIDATE", token: token, code: try oathtoolCode(uri: old, at: harness.clock.now()))
            harness.clock.advance(by: 60)
            let refreshed = try await client.action("REFRESH", token: token)
            #expect(refreshed.status == .ok)
            let new = try #require(refreshed.otpauthURI)
            #expect(new != old)
            #expect(uriParameter(new, "secret") != uriParameter(old, "secret"))
            #expect(refreshed.object["replacementPending"] as? Bool == true)
            let status = try await client.request(.get, Client.totp + "/status", token: token)
            #expect(status["status"] == "active")
            // The old secret's code is not what VALIDATE checks now.
            let oldCode = try oathtoolCode(uri: old, at: harness.clock.now())
            let newCode = try oathtoolCode(uri: new, at: harness.clock.now())
            if oldCode != newCode {
                #expect(try await client.action("VALIDATE", token: token, code: oldCode).object["isValid"] as? Bool == false)
            }
            #expect(try await client.action("VALIDATE", token: token, code: newCode).object["isValid"] as? Bool == true)
            #expect(try await client.request(.get, token: token).otpauthURI == new)
        }
    }

    @Test("CANCEL after REFRESH discards the new secret (recorded); the old one stays in use, its QR code is shown again and a code from the new one activates nothing; nothing to cancel is 409 nothing_to_cancel and records nothing")
    func cancelRefresh() async throws {
        let harness = try await Harness()
        let token = try await harness.token("alice")
        try await harness.test { client in
            #expect(try await client.action("CANCEL", token: token).status == .notFound)
            let old = try #require(try await client.action("INIT", token: token).otpauthURI)
            let first = try await client.action("CANCEL", token: token)
            #expect(first.status == .conflict && first["code"] == "nothing_to_cancel", "a first secret is removed, not cancelled: \(first.text)")
            _ = try await client.action("VALIDATE", token: token, code: try oathtoolCode(uri: old, at: harness.clock.now()))
            harness.clock.advance(by: 60)
            let new = try #require(try await client.action("REFRESH", token: token).otpauthURI)
            harness.clock.advance(by: 30)
            let cancelled = try await client.action("CANCEL", token: token)
            #expect(cancelled.status == .ok, "\(cancelled.text)")
            #expect(cancelled["status"] == "active")
            #expect(cancelled.object["replacementPending"] as? Bool == false)
            #expect(try await client.request(.get, token: token).otpauthURI == old, "the eye shows the QR code still in use")
            let newCode = try oathtoolCode(uri: new, at: harness.clock.now())
            let validate = try await client.action("VALIDATE", token: token, code: newCode)
            #expect(validate.status == .conflict && validate["code"] == "no_pending_secret", "\(validate.text)")
            let history = try await client.request(.get, Client.totp + "/history", token: token)
            #expect(history.text.components(separatedBy: "\"ReplacementCancelled\"").count == 2, "one cancel recorded: \(history.text)")
            let again = try await client.action("CANCEL", token: token)
            #expect(again.status == .conflict && again["code"] == "nothing_to_cancel")
            let after = try await client.request(.get, Client.totp + "/history", token: token)
            #expect(after.text == history.text, "the refused cancel recorded nothing")
        }
    }

    @Test("REFRESH while only a first secret is pending replaces it")
    func refreshWhilePending() async throws {
        let harness = try await Harness()
        let token = try await harness.token("alice")
        try await harness.test { client in
            let first = try await client.action("INIT", token: token).otpauthURI
            let second = try await client.action("REFRESH", token: token)
            #expect(second.status == .ok)
            #expect(second.otpauthURI != first)
            #expect(second["status"] == "pending")
        }
    }

    @Test("a first secret not validated within its lifetime: VALIDATE is 409 enrollment_expired, status says expired, before and after the expiry is recorded, until a new INIT (or a REFRESH, which asks for a new QR code and gets one)")
    func expired() async throws {
        let harness = try await Harness()
        let token = try await harness.token("alice", lifetime: 7200)
        try await harness.test { client in
            let uri = try #require(try await client.action("INIT", token: token).otpauthURI)
            harness.clock.advance(by: 601)
            let status = try await client.request(.get, Client.totp + "/status", token: token)
            #expect(status["status"] == "none")
            #expect(status.object["pendingExpired"] as? Bool == true)
            let response = try await client.action("VALIDATE", token: token, code: try oathtoolCode(uri: uri, at: harness.clock.now()))
            #expect(response.status == .conflict)
            #expect(response["code"] == "enrollment_expired")
            // That VALIDATE recorded the expiry; the answers stay the same until a new INIT.
            let after = try await client.request(.get, Client.totp + "/status", token: token)
            #expect(after["status"] == "none" && after.object["pendingExpired"] as? Bool == true, "\(after.object)")
            let again = try await client.action("VALIDATE", token: token, code: "123456")
            #expect(again.status == .conflict && again["code"] == "enrollment_expired", "\(again.object)")
            let secret = try await client.request(.get, Client.totp + "/secret", token: token)
            #expect(secret.status == .conflict && secret["code"] == "enrollment_expired", "\(secret.object)")
            let shown = try await client.request(.get, Client.totp, token: token)
            #expect(shown.status == .conflict && shown["code"] == "enrollment_expired", "\(shown.object)")
            #expect(try await client.action("VIEW", token: token)["code"] == "enrollment_expired")
            #expect(try await client.action("INIT", token: token).status == .ok)
            let fresh = try await client.request(.get, Client.totp + "/status", token: token)
            #expect(fresh["status"] == "pending" && fresh.object["pendingExpired"] as? Bool == false, "\(fresh.object)")

            // The new secret expires too; REFRESH then gives a new QR code, whose code validates.
            harness.clock.advance(by: 601)
            let refreshed = try await client.action("REFRESH", token: token)
            #expect(refreshed.status == .ok && refreshed["status"] == "pending", "\(refreshed.object)")
            let newURI = try #require(refreshed.otpauthURI)
            let validated = try await client.action("VALIDATE", token: token, code: try oathtoolCode(uri: newURI, at: harness.clock.now()))
            #expect(validated.object["isValid"] as? Bool == true, "\(validated.object)")
        }
    }

    @Test("DELETE after a first secret expired unconfirmed forgets it (204, the removal recorded after the expiry); then nothing is left: 404 not_enrolled, status none without pendingExpired")
    func removeAfterExpiry() async throws {
        let harness = try await Harness()
        let token = try await harness.token("alice", lifetime: 7200)
        try await harness.test { client in
            #expect(try await client.action("INIT", token: token).status == .ok)
            harness.clock.advance(by: 601)
            let removed = try await client.request(.delete, Client.totp, token: token)
            #expect(removed.status == .noContent, "\(removed.object)")
            let history = try await client.request(.get, Client.totp + "/history", token: token)
            let types = (history.object["entries"] as? [[String: Any]])?.compactMap { $0["type"] as? String }
            #expect(types == ["EnrollmentRequested", "PendingSecretExpired", "AuthenticatorRemoved"], "\(history.object)")
            let again = try await client.request(.delete, Client.totp, token: token)
            #expect(again.status == .notFound && again["code"] == "not_enrolled", "\(again.object)")
            let status = try await client.request(.get, Client.totp + "/status", token: token)
            #expect(status["status"] == "none" && status.object["pendingExpired"] as? Bool == false, "\(status.object)")
        }
    }

    @Test("REFRESH with nothing enrolled is 404 not_enrolled, and records nothing")
    func refreshWithNothing() async throws {
        let harness = try await Harness()
        let token = try await harness.token("nobody")
        try await harness.test { client in
            let refused = try await client.action("REFRESH", token: token)
            #expect(refused.status == .notFound && refused["code"] == "not_enrolled", "\(refused.object)")
            let history = try await client.request(.get, Client.totp + "/history", token: token)
            #expect((history.object["entries"] as? [Any])?.isEmpty == true, "\(history.object)")
        }
    }
}
