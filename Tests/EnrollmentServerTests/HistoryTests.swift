import Enrollment
import EnrollmentServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("GET /me/totp/history")
struct HistoryTests {
    @Test("the caller's own timeline, in order, without the secret or the codes; pages with after/limit, their names read percent-decoded as a proxy reads them")
    func timeline() async throws {
        let harness = try await Harness()
        let alice = try await harness.token("alice")
        let bob = try await harness.token("bob")
        try await harness.test { client in
            let uri = try #require(try await client.action("INIT", token: alice).otpauthURI)
            let secret = try #require(uriParameter(uri, "secret"))
            let right = try oathtoolCode(uri: uri, at: harness.clock.now())
            let wrong = right == "000000" ? "111111" : "000000"
            _ = try await client.action("VALIDATE", token: alice, code: wrong)
            _ = try await client.action("VALIDATE", token: alice, code: right)
            _ = try await client.action("VIEW", token: alice)
            _ = try await client.action("INIT", token: bob)

            let response = try await client.request(.get, Client.totp + "/history", token: alice)
            #expect(response.status == .ok)
            let entries = try #require(response.object["entries"] as? [[String: Any]])
            #expect(entries.map { $0["type"] as? String } == ["EnrollmentRequested", "CodeRejected", "AuthenticatorActivated", "QRCodeRevealed"])
            #expect(entries.allSatisfy { $0["user"] as? String == "alice" })
            #expect(!response.text.contains(secret))
            // Codes would appear as JSON strings; digits inside timestamps are not codes.
            #expect(!response.text.contains("\"\(right)\""))
            #expect(!response.text.contains("\"\(wrong)\""))
            #expect(!response.text.contains("verificationCode"))

            // Other users' events between alice's: her pages name no journal position (which
            // counts everyone's events), only her own stream versions.
            for _ in 0..<3 { _ = try await client.action("VIEW", token: bob) }
            _ = try await client.action("VIEW", token: alice)
            let page = try await client.request(.get, Client.totp + "/history?limit=2", token: alice)
            let first = try #require(page.object["entries"] as? [[String: Any]])
            #expect(first.count == 2 && first.allSatisfy { $0["position"] == nil }, "\(page.text)")
            let next = try #require(page.object["next"] as? Int)
            #expect(next == 2)
            let rest = try await client.request(.get, Client.totp + "/history?after=\(next)", token: alice)
            let later = try #require(rest.object["entries"] as? [[String: Any]])
            #expect(later.map { $0["streamVersion"] as? Int } == [3, 4, 5] && later.allSatisfy { $0["position"] == nil }, "\(rest.text)")

            // Each entry carries the trace id of the request that recorded it, as its answer did.
            let viewed = try await client.action("VIEW", token: alice)
            let traceId = try #require(viewed.headers[HTTPField.Name("X-Trace-Id")!])
            let latest = try await client.request(.get, Client.totp + "/history?after=5", token: alice)
            #expect((latest.object["entries"] as? [[String: Any]])?.map { $0["correlationId"] as? String } == [traceId], "\(latest.text)")

            // Paging counts rows: a stream version edited out of order or into text neither
            // hides the rows after it nor gives a cursor the next request refuses.
            _ = try run("sqlite3", [harness.databasePath, "UPDATE events SET stream_version = 100 WHERE stream_id = 'alice' AND stream_version = 2"])
            _ = try run("sqlite3", [harness.databasePath, "UPDATE events SET stream_version = 'x' WHERE stream_id = 'alice' AND stream_version = 4"])
            var seen = 0, after = 0, pages = 0
            while pages < 20 {
                let page = try await client.request(.get, Client.totp + "/history?limit=1&after=\(after)", token: alice)
                #expect(page.status == .ok, "\(page.text)")
                seen += (page.object["entries"] as? [[String: Any]])?.count ?? 0
                pages += 1
                guard let next = page.object["next"] as? Int else { break }
                after = next
            }
            #expect(seen == 6, "every row of alice's, tampered ones too: \(seen)")
            // A version edited into text is its row's unreadability, not events deleted from the end.
            let whole = try await client.request(.get, Client.totp + "/history", token: alice)
            #expect(whole.object["deletedEnd"] == nil, "\(whole.text)")

            // Out of range, signed (a sign is no client's meaning) or empty: refused by name.
            for (query, code) in [("limit=0", "invalid_limit"), ("limit=%2B1", "invalid_limit"), ("after=-0", "invalid_after"), ("after=", "invalid_after")] {
                let bad = try await client.request(.get, Client.totp + "/history?\(query)", token: alice)
                #expect(bad.status == .badRequest && bad["code"] == code, "\(query): \(bad.text)")
            }
            // Named twice, also when one of the names is percent-encoded (as a proxy decodes it).
            for query in ["after=1&after=2", "limit=1&limit=1", "li%6dit=1&limit=2", "%61fter=1&after=1"] {
                let twice = try await client.request(.get, Client.totp + "/history?\(query)", token: alice)
                #expect(twice.status == .badRequest && twice["code"] == "duplicate_parameter", "\(query)")
            }
            let encoded = try await client.request(.get, Client.totp + "/history?li%6Dit=2", token: alice)
            #expect((encoded.object["entries"] as? [[String: Any]])?.count == 2 && encoded.object["next"] as? Int == 2, "\(encoded.text)")
            #expect(try await client.request(.get, Client.totp + "/history", token: nil).status == .unauthorized)
        }
    }

    @Test("a row edited so that it cannot be read is listed, marked unreadable and chainBroken, with every row after it: 200, not 500, and never its data")
    func unreadableRow() async throws {
        let harness = try await Harness()
        let alice = try await harness.token("alice")
        try await harness.test { client in
            let uri = try #require(try await client.action("INIT", token: alice).otpauthURI)
            let secret = try #require(uriParameter(uri, "secret"))
            let right = try oathtoolCode(uri: uri, at: harness.clock.now())
            _ = try await client.action("VALIDATE", token: alice, code: right == "000000" ? "111111" : "000000")
            _ = try await client.action("VIEW", token: alice)
            _ = try await client.action("VIEW", token: alice)
            // The first event, which holds the sealed secret, edited with an independent tool.
            let sealed = try run("sqlite3", [harness.databasePath, "SELECT json_extract(data, '$.sealedSecret') FROM events WHERE position = 1"])
                .trimmingCharacters(in: .whitespacesAndNewlines)
            try #require(sealed.count > 20)
            _ = try run("sqlite3", [harness.databasePath, "UPDATE events SET type = 'Bogus', data = '{' WHERE position = 1"])

            let response = try await client.request(.get, Client.totp + "/history", token: alice)
            #expect(response.status == .ok, "\(response.text)")
            let entries = try #require(response.object["entries"] as? [[String: Any]])
            #expect(entries.map { $0["type"] as? String } == ["Bogus", "CodeRejected", "QRCodeRevealed", "QRCodeRevealed"], "\(response.text)")
            #expect(entries.map { $0["unreadable"] as? String } == ["unknown event type", nil, nil, nil])
            #expect(entries.map { $0["chainBroken"] as? Bool } == [true, nil, nil, nil])
            #expect(entries[0]["details"] == nil && entries[0]["event"] == nil && entries[0]["outcome"] as? String == "unknown")
            #expect(entries[1...].allSatisfy { $0["details"] is String && $0["event"] is [String: Any] })
            #expect(!response.text.contains(secret) && !response.text.contains(sealed) && !response.text.contains(String(sealed.prefix(12))))

            // A page that starts at it, or ends with it, is whole as well.
            let first = try await client.request(.get, Client.totp + "/history?limit=1", token: alice)
            #expect(first.status == .ok && (first.object["entries"] as? [[String: Any]])?.first?["unreadable"] as? String == "unknown event type")
            #expect(first.object["next"] as? Int == 1)
        }
    }

    @Test("the expiry a user's own request found, recorded by (system), carries that request's trace id in their history; an operator's correlation and command ids do not show, on any page, nor on the expiries its commands found")
    func systemEventsKeepTheTraceId() async throws {
        let harness = try await Harness()
        let dan = try await harness.token("dan")
        try await harness.test { client in
            _ = try await client.action("INIT", token: dan)
            harness.clock.advance(by: 700)
            let late = try await client.action("INIT", token: dan)
            let traceId = try #require(late.headers[HTTPField.Name("X-Trace-Id")!])
            let byHelpdesk = try harness.service.handle(CommandEnvelope(commandId: "INCIDENT-7781", user: "dan", actor: "helpdesk", correlationId: "TICKET-9", command: .requestEnrollment(EnrollmentOptions())))
            #expect(byHelpdesk.accepted)
            // Repeated: its reveal's details name the id repeated.
            #expect(try harness.service.handle(CommandEnvelope(commandId: "INCIDENT-7781", user: "dan", actor: "helpdesk", correlationId: "TICKET-9", command: .requestEnrollment(EnrollmentOptions()))).replayed)
            // The helpdesk's next request finds that secret expired: the expiry, recorded by
            // (system), is the helpdesk's command's.
            harness.clock.advance(by: 700)
            #expect(try harness.service.handle(CommandEnvelope(commandId: "INCIDENT-7782", user: "dan", actor: "helpdesk", correlationId: "TICKET-10", command: .requestEnrollment(EnrollmentOptions()))).accepted)
            // And a confirm of the helpdesk's that records nothing but the expiry it finds.
            harness.clock.advance(by: 700)
            #expect(try harness.service.handle(CommandEnvelope(commandId: "INCIDENT-7783", user: "dan", actor: "helpdesk", correlationId: "TICKET-11", command: .confirmCode("123456"))).rejection != nil)
            let history = try await client.request(.get, Client.totp + "/history", token: dan)
            let entries = try #require(history.object["entries"] as? [[String: Any]])
            let expired = entries.first { $0["type"] as? String == "PendingSecretExpired" }
            #expect(expired?["actor"] as? String == "(system)" && expired?["correlationId"] as? String == traceId, "\(history.text)")
            #expect(!history.text.contains("TICKET-9") && !history.text.contains("TICKET-10") && !history.text.contains("TICKET-11"), "\(history.text)")
            // Page by page too (an expiry alone on its page).
            for after in 0..<entries.count {
                let page = try await client.request(.get, Client.totp + "/history?limit=1&after=\(after)", token: dan)
                #expect(!page.text.contains("TICKET-1") && !page.text.contains("INCIDENT-778"), "\(page.text)")
            }
            // Nor the command ids the helpdesk chose, in any field; the user's own commands keep theirs.
            #expect(!history.text.contains("INCIDENT-778"), "\(history.text)")
            #expect(history.text.components(separatedBy: "PendingSecretExpired").count == 4, "the three expiries listed: \(history.text)")
            #expect(entries.first { $0["type"] as? String == "EnrollmentRequested" }?["commandId"] != nil, "\(history.text)")
        }
    }

    @Test("rows deleted from the end of the caller's stream: the last page says so (chainBroken, deletedEnd), as enroll history fails with chain_broken; an untouched history says nothing")
    func deletedEnd() async throws {
        let harness = try await Harness()
        let alice = try await harness.token("alice"), bob = try await harness.token("bob")
        try await harness.test { client in
            _ = try await client.action("INIT", token: alice)
            _ = try await client.action("VIEW", token: alice)
            _ = try await client.action("INIT", token: bob)
            let clean = try await client.request(.get, Client.totp + "/history", token: alice)
            #expect(clean.status == .ok && clean.object["chainBroken"] == nil && clean.object["deletedEnd"] == nil, "\(clean.text)")
            // alice's last event (her reveal, position 2) deleted with an independent tool; bob's follows it.
            _ = try run("sqlite3", [harness.databasePath, "DELETE FROM events WHERE position = 2"])

            let response = try await client.request(.get, Client.totp + "/history", token: alice)
            #expect(response.status == .ok, "\(response.text)")
            #expect((response.object["entries"] as? [[String: Any]])?.count == 1, "\(response.text)")
            #expect(response.object["chainBroken"] as? Bool == true, "\(response.text)")
            #expect((response.object["deletedEnd"] as? String)?.contains("events were deleted from the end") == true, "\(response.text)")
            #expect(!response.text.contains("position"), "\(response.text)")
            // A full page is not the last: it says nothing of the end.
            let page = try await client.request(.get, Client.totp + "/history?limit=1", token: alice)
            #expect(page.status == .ok && page.object["deletedEnd"] == nil && page.object["next"] as? Int == 1, "\(page.text)")
        }
    }
}
