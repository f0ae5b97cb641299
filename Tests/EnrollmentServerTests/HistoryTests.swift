import Enrollment
import EnrollmentServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("GET /me/totp/history")
struct HistoryTests {
    @Test("the caller's own timeline, in order, without the secret or the codes; pages with after/limit")
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

            let page = try await client.request(.get, Client.totp + "/history?limit=2", token: alice)
            let first = try #require(page.object["entries"] as? [[String: Any]])
            #expect(first.count == 2)
            let next = try #require(page.object["next"] as? Int)
            let rest = try await client.request(.get, Client.totp + "/history?after=\(next)", token: alice)
            #expect((rest.object["entries"] as? [[String: Any]])?.count == 2)

            let bad = try await client.request(.get, Client.totp + "/history?limit=0", token: alice)
            #expect(bad.status == .badRequest)
            #expect(bad["code"] == "invalid_limit")
            for query in ["after=1&after=2", "limit=1&limit=1"] {
                let twice = try await client.request(.get, Client.totp + "/history?\(query)", token: alice)
                #expect(twice.status == .badRequest && twice["code"] == "duplicate_parameter", "\(query)")
            }
            #expect(try await client.request(.get, Client.totp + "/history", token: nil).status == .unauthorized)
        }
    }
}
