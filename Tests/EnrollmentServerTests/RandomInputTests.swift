import Enrollment
import EnrollmentServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("Random input")
struct RandomInputTests {
    /// Knuth's MMIX linear congruential generator: seeded, so a failure names a replayable input.
    struct Seeded: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return (state >> 32) | (state << 32)
        }
    }

    static let fragments = [
        "{", "}", "[", "]", "\"action\"", ":", ",", "\"INIT\"", "\"VALIDATE\"", "\"VIEW\"", "\"REFRESH\"",
        "\"verificationCode\"", "\"123456\"", "123456", "null", "true", "\\u0000", "\"\\ud800\"", "1e999", "-0", " ",
        "\u{FEFF}", "é", "\"", "\\",
    ]

    @Test("400 random bodies, headers and paths never get a 5xx answer or change another user")
    func neverServerError() async throws {
        let harness = try await Harness()
        let token = try await harness.token("alice")
        try await harness.test { client in
            _ = try await client.action("INIT", token: try await harness.token("bob"))
            var random = Seeded(state: 20_261_129)
            var seen: Set<Int> = []
            for round in 0..<400 {
                var body = ""
                for _ in 0..<Int.random(in: 0...12, using: &random) { body += Self.fragments.randomElement(using: &random) ?? "" }
                if round % 7 == 0 { body = String(decoding: (0..<Int.random(in: 1...64, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }, as: UTF8.self) }
                var headers: HTTPFields = [:]
                if round % 5 == 0 { headers[.init("Idempotency-Key")!] = String(repeating: "k", count: Int.random(in: 0...300, using: &random)) }
                let method: HTTPRequest.Method = [.post, .get, .delete, .put, .patch].randomElement(using: &random) ?? .post
                let path = [Client.totp, Client.totp + "/secret", Client.totp + "/history?limit=\(Int.random(in: -5...900, using: &random))", Client.totp + "/%00", "/api/users/v1/me/totp/../../x"]
                    .randomElement(using: &random) ?? Client.totp
                let auth = round % 3 == 0 ? "Bearer " + body : nil
                if let auth { headers[.authorization] = auth }
                let response = try await client.request(method, path, token: auth == nil ? token : nil, json: body, headers: headers)
                seen.insert(response.status.code)
                #expect(response.status.code < 500, "round \(round): \(method) \(path) \(body.debugDescription) → \(response.status.code)")
                #expect(response.headers[.contentType]?.hasPrefix("application/json") == true || response.status == .noContent, "round \(round)")
            }
            // The inputs reached past authentication and parsing, not only the first gate.
            #expect(seen.isSuperset(of: [200, 400, 401, 404]), "\(seen.sorted())")
            #expect(try harness.service.load("bob").status == .pending)
        }
    }
}
