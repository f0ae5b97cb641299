import Enrollment
import EnrollmentServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import TestSupport

@Suite("HTTP framing: malformed requests, HTTP/1.0")
struct MalformedRequestTests {
    static let status = "/api/users/v1/me/totp/status"

    /// Runs `body` against the real server on a socket of its own, with a token for alice.
    /// How long the tests that check a connection is closed after its answer wait for the close:
    /// the server under test then keeps idle connections far longer (``idleForever``), so a close
    /// seen within this wait is the server's answer ending the connection, however long a loaded
    /// machine starves the test process. Such a check reads no clock.
    static let closeWait = 120
    static let idleForever = Duration.seconds(3600)

    func live(idleTimeout: Duration? = nil, _ body: @escaping @Sendable (Int) async throws -> Void) async throws {
        try await live(idleTimeout: idleTimeout) { port, _ in try await body(port) }
    }

    func live(idleTimeout: Duration? = nil, _ body: @escaping @Sendable (Int, String) async throws -> Void) async throws {
        let harness = try await Harness()
        let token = try await harness.token("alice")
        var configuration = harness.configuration
        configuration.port = 0
        if let idleTimeout { configuration.idleTimeout = idleTimeout }
        let verifier = try await TokenVerifier.make(.hmacSHA256(secret: Harness.secret), clock: harness.clock)
        let app = EnrollmentServer.application(service: harness.service, verifier: verifier, configuration: configuration)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            try await body(port, token)
        }
    }

    /// The answer split into status line, headers (lower-cased names) and body.
    static func parse(_ answer: String) -> (status: String, headers: [String: String], body: String) {
        let parts = answer.components(separatedBy: "\r\n\r\n")
        let head = parts[0].components(separatedBy: "\r\n")
        var headers: [String: String] = [:]
        for line in head.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        return (head[0], headers, parts.dropFirst().joined(separator: "\r\n\r\n"))
    }

    @Test("a request the HTTP parser cannot read gets a JSON 400 malformed_request with a trace id, then the connection closes; the server goes on serving", arguments: [
        "GET \(status) HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
        "POST \(status) HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        "POST \(status) HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
        "POST \(status) HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n",
        "HELLO THERE\r\n\r\n",
        "GET / HTTP/1.1\r\nHost x\r\n\r\n",
    ])
    func malformed(_ request: String) async throws {
        try await live { port in
            let answer = Self.parse(try await RawHTTP.onThread { try RawHTTP.exchange(port: port, bytes: request) })
            #expect(answer.status == "HTTP/1.1 400 Bad Request", "\(answer)")
            #expect(answer.headers["content-type"] == "application/json; charset=utf-8")
            #expect(answer.headers["connection"] == "close")
            #expect(answer.headers["content-length"] == String(answer.body.utf8.count))
            let json = try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any]
            #expect(json?["code"] as? String == "malformed_request", "\(answer.body)")
            #expect((json?["description"] as? String)?.contains("send a well-formed HTTP/1.1 request") == true)
            #expect((json?["traceId"] as? String)?.count == 36)
            #expect(answer.headers["x-content-type-options"] == "nosniff", "as every answer the router makes")
            #expect(answer.headers["x-trace-id"] == json?["traceId"] as? String, "\(answer.headers)")
            let again = try await RawHTTP.onThread { try RawHTTP.statusLineRetrying(port: port) }
            #expect(again == "HTTP/1.1 200 OK", "\(again)")
        }
    }

    @Test("after a well-formed request on a kept-alive connection, a malformed one is answered with the JSON 400 too")
    func afterAGoodRequest() async throws {
        try await live { port in
            let answer = try await RawHTTP.onThread {
                try RawHTTP.exchange(port: port, bytes: "GET /myaccount HTTP/1.1\r\nHost: x\r\n\r\n", then: "GET / HTTP/1.1\r\nContent-Length: -5\r\n\r\n")
            }
            #expect(answer.hasPrefix("HTTP/1.1 200 OK"), "\(answer.prefix(200))")
            #expect(answer.contains("HTTP/1.1 400 Bad Request") && answer.contains(#""code":"malformed_request""#), "\(answer.suffix(400))")
        }
    }

    @Test("a malformed head followed at once by more bytes still gets its JSON 400: the server half-closes and reads on, where closing outright would answer the unread bytes with a reset that destroys the 400 before the client reads it", arguments: [
        "GET \(status) HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
        "GET \(status) HTTP/1.1\r\nHost: a\r\nContent-Length: -5\r\n\r\n",
    ])
    func malformedWhileStillSending(_ head: String) async throws {
        try await live(idleTimeout: Self.idleForever) { port in
            for attempt in 0..<5 {
                let (answer, ending) = try await RawHTTP.onThread {
                    try RawHTTP.exchangeToEnd(port: port, bytes: head + String(repeating: "x", count: 50_000), wait: Self.closeWait, halfClose: true)
                }
                #expect(answer.hasPrefix("HTTP/1.1 400 Bad Request"), "attempt \(attempt): \(answer.prefix(200))")
                #expect(answer.contains(#""code":"malformed_request""#), "attempt \(attempt): \(answer.suffix(300))")
                // An orderly end, not a reset: the client's bytes were read, not left to reset.
                #expect(ending == .closed, "attempt \(attempt): the connection ended by \(ending) after the answer")
            }
        }
    }

    @Test("requests pipelined in one write and followed by the client's half-close (nc -N) are each answered, in order, and then the connection ends")
    func pipelinedThenHalfClosed() async throws {
        try await live(idleTimeout: Self.idleForever) { port in
            let request = "GET /myaccount HTTP/1.1\r\nHost: x\r\n\r\n"
            let (answer, closed) = try await RawHTTP.onThread {
                try RawHTTP.exchangeHalfClosing(port: port, bytes: String(repeating: request, count: 3), wait: Self.closeWait)
            }
            #expect(answer.components(separatedBy: "HTTP/1.1 200 OK").count == 4, "three answers for three requests: \(answer.prefix(300))")
            #expect(closed, "the connection was not ended after the last answer")
        }
    }

    @Test("a malformed request pipelined behind a good one never jumps the queue: the good one is answered first")
    func pipelined() async throws {
        try await live { port in
            let answer = try await RawHTTP.onThread {
                try RawHTTP.exchange(port: port, bytes: "GET /myaccount HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nContent-Length: -5\r\n\r\n")
            }
            #expect(answer.hasPrefix("HTTP/1.1 200 OK"), "\(answer.prefix(200))")
            let rest = try #require(answer.range(of: "HTTP/1.1 400 Bad Request").map { String(answer[$0.lowerBound...]) }, "\(answer.suffix(300))")
            // The JSON answer, after the one owed before it, not the library's empty one.
            let parsed = Self.parse(rest)
            #expect(parsed.headers["content-type"] == "application/json; charset=utf-8", "\(rest)")
            #expect(parsed.body.contains(#""code":"malformed_request""#), "\(rest)")
            #expect(answer.components(separatedBy: "HTTP/1.1 ").count == 3, "two answers for two requests: \(answer)")
        }
    }

    @Test("a request pipelined behind an answer that ends the connection is never run: after a 413 for a body declared too large, a 401 sent before the body, or the answer to a request that asked to close (which says Connection: close)")
    func nothingRunsAfterTheLastAnswer() async throws {
        try await live { port, token in
            let path = "/api/users/v1/me/totp", authorization = "Authorization: Bearer \(token)\r\n"
            let status = "GET \(Self.status) HTTP/1.1\r\nHost: x\r\n\(authorization)Connection: close\r\n\r\n"
            let start = #"{"action":"INIT"}"#
            let started = try await RawHTTP.onThread {
                try RawHTTP.exchange(port: port, bytes: "POST \(path) HTTP/1.1\r\nHost: x\r\n\(authorization)Content-Type: application/json\r\nContent-Length: \(start.utf8.count)\r\nConnection: close\r\n\r\n\(start)")
            }
            #expect(started.hasPrefix("HTTP/1.1 200 OK"), "\(started.prefix(200))")
            let remove = "DELETE \(path) HTTP/1.1\r\nHost: x\r\n\(authorization)Content-Length: 0\r\n\r\n"
            let tooLarge = "POST \(path) HTTP/1.1\r\nHost: x\r\n\(authorization)Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n" + String(repeating: " ", count: 5000)
            // Answered 401 before its body, which the client sends once it has read the answer.
            let unsigned = "POST \(path) HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 17\r\n\r\n"
            for (bytes, next, first) in [(tooLarge + remove, nil, "HTTP/1.1 413"), (unsigned, #"{"action":"VIEW"}"# + remove, "HTTP/1.1 401"), (status + remove, nil, "HTTP/1.1 200 OK")] {
                let raw = try await RawHTTP.onThread { try RawHTTP.exchange(port: port, bytes: bytes, then: next, wait: 20) }
                #expect(raw.hasPrefix(first), "\(raw.prefix(300))")
                #expect(raw.components(separatedBy: "HTTP/1.1 ").count == 2, "one answer, the DELETE behind \(first) dropped: \(raw)")
                #expect(raw.lowercased().contains("\r\nconnection: close\r\n"), "\(raw.prefix(300))")
                let after = try await RawHTTP.onThread { try RawHTTP.exchange(port: port, bytes: status) }
                #expect(after.contains(#""status":"pending""#), "the DELETE behind \(first) was run: \(after.suffix(300))")
            }
        }
    }

    @Test("only the option close ends a connection: 'Connection: x-closer' or 'keep-alive, upgrade-closed' keeps it open, and the request pipelined behind is answered; 'Foo, Close' ends it")
    func connectionOptionsAreTokens() async throws {
        try await live { port, token in
            let authorization = "Authorization: Bearer \(token)\r\n"
            let last = "GET \(Self.status) HTTP/1.1\r\nHost: x\r\n\(authorization)Connection: close\r\n\r\n"
            for option in ["x-closer", "keep-alive, upgrade-closed"] {
                let first = "GET \(Self.status) HTTP/1.1\r\nHost: x\r\n\(authorization)Connection: \(option)\r\n\r\n"
                let raw = try await RawHTTP.onThread { try RawHTTP.exchange(port: port, bytes: first + last) }
                #expect(raw.components(separatedBy: "HTTP/1.1 200").count == 3, "\(option): both answered: \(raw)")
                #expect(raw.lowercased().components(separatedBy: "connection: close").count == 2, "\(option): only the last answer closes: \(raw)")
            }
            let closing = "GET \(Self.status) HTTP/1.1\r\nHost: x\r\n\(authorization)Connection: Foo, Close\r\n\r\n"
            let raw = try await RawHTTP.onThread { try RawHTTP.exchange(port: port, bytes: closing + last) }
            #expect(raw.components(separatedBy: "HTTP/1.1 ").count == 2 && raw.lowercased().contains("connection: close"), "\(raw)")
        }
    }

    @Test("a head whose framing RFC 9112 forbids (no Host or two in HTTP/1.1, Transfer-Encoding in HTTP/1.0, a coding other than chunked alone) gets a JSON 400 naming it, nothing is recorded, and a request pipelined after it is not answered", arguments: [
        ("GET \(status) HTTP/1.1\r\n\r\n", "no Host header"),
        ("GET \(status) HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "2 Host headers"),
        ("GET \(status) HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", "2 Host headers"),
        ("GET \(status) HTTP/1.1\r\nHost: a, b\r\n\r\n", "Host header is not a host name"),
        ("GET \(status) HTTP/1.1\r\nHost: u@a\r\n\r\n", "Host header is not a host name"),
        ("GET \(status) HTTP/1.1\r\nHost: a:x\r\n\r\n", "Host header is not a host name"),
        ("GET \(status) HTTP/1.1\r\nHost: [::1\r\n\r\n", "Host header is not a host name"),
        ("POST /api/users/v1/me/totp HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "HTTP/1.0 with a Transfer-Encoding"),
        ("POST /api/users/v1/me/totp HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", "Transfer-Encoding is 'gzip, chunked'"),
        ("POST /api/users/v1/me/totp HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity, chunked\r\n\r\n0\r\n\r\n", "reads only 'chunked'"),
    ])
    func forbiddenFraming(_ request: String, _ named: String) async throws {
        try await live { port, token in
            let withToken = request.replacingOccurrences(of: "\r\n\r\n", with: "\r\nAuthorization: Bearer \(token)\r\n\r\n", options: [], range: request.range(of: "\r\n\r\n"))
            let next = "GET \(Self.status) HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\n\r\n"
            let raw = try await RawHTTP.onThread { try RawHTTP.exchange(port: port, bytes: withToken + next) }
            let answer = Self.parse(raw)
            #expect(answer.status == "HTTP/1.1 400 Bad Request", "\(raw)")
            #expect(answer.headers["connection"] == "close")
            #expect(raw.components(separatedBy: "HTTP/1.1 ").count == 2, "one answer, the pipelined request dropped: \(raw)")
            let json = try JSONSerialization.jsonObject(with: Data(answer.body.utf8)) as? [String: Any]
            #expect(json?["code"] as? String == "malformed_request", "\(answer.body)")
            #expect((json?["message"] as? String)?.contains(named) == true, "\(answer.body)")
            // The server goes on serving; the refused POST recorded nothing.
            let status = try await RawHTTP.onThread { try RawHTTP.exchange(port: port, bytes: next.replacingOccurrences(of: "\r\n\r\n", with: "\r\nConnection: close\r\n\r\n")) }
            #expect(status.hasPrefix("HTTP/1.1 200 OK") && status.contains(#""status":"none""#), "\(status)")
        }
    }

    @Test("CONNECT, which only a proxy serves, gets 501 with Connection: close and the connection closes at once (it got an answer without a length and the client waited for the idle timeout); a request pipelined behind it is not run", arguments: [
        "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
        "CONNECT /api/users/v1/me/totp HTTP/1.1\r\nHost: x\r\n\r\n",
    ])
    func connect(_ request: String) async throws {
        try await live(idleTimeout: Self.idleForever) { port, token in
            let remove = "DELETE /api/users/v1/me/totp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\n\r\n"
            let enroll = "POST /api/users/v1/me/totp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/json\r\nContent-Length: 17\r\nConnection: close\r\n\r\n{\"action\":\"INIT\"}"
            let readStatus = "GET \(Self.status) HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\nConnection: close\r\n\r\n"
            #expect(try await RawHTTP.onThread { try RawHTTP.exchange(port: port, bytes: enroll) }.hasPrefix("HTTP/1.1 200 OK"))
            let (raw, closed) = try await RawHTTP.onThread { try RawHTTP.exchangeToClose(port: port, bytes: request + remove, wait: Self.closeWait) }
            // Left open, a client reading to the end of the answer would wait for the idle timeout.
            #expect(closed, "the connection was not closed after the answer")
            let answer = Self.parse(raw)
            #expect(answer.status == "HTTP/1.1 501 Not Implemented", "\(raw)")
            #expect(answer.headers["connection"] == "close")
            #expect(answer.headers["x-trace-id"]?.count == 36, "\(raw)")
            // HTTP frames no body on an answer to CONNECT (swift-nio drops it): the status says it all.
            #expect(answer.body.isEmpty && answer.headers["content-type"] == nil, "\(raw)")
            #expect(raw.components(separatedBy: "HTTP/1.1 ").count == 2, "one answer, the pipelined DELETE dropped: \(raw)")
            let after = try await RawHTTP.onThread { try RawHTTP.exchange(port: port, bytes: readStatus) }
            #expect(after.hasPrefix("HTTP/1.1 200 OK") && after.contains(#""status":"pending""#), "the DELETE behind the CONNECT removed nothing: \(after)")
        }
    }

    @Test("Host headers as clients send them are served: a name, an address with a port, an IPv6 literal, none in HTTP/1.0", arguments: [
        "Host: example.com\r\n", "Host: 127.0.0.1:8080\r\n", "Host: [::1]:8080\r\n", "Host: my-host.example_1:80\r\n", "Host: xn--caf-dma.example\r\n", "Host: [v1.fe]\r\n", "Host: localhost:8080 \r\n", "Host: x\t\r\n",
    ])
    func acceptedHosts(_ host: String) async throws {
        try await live { port, token in
            let answer = try await RawHTTP.onThread {
                try RawHTTP.exchange(port: port, bytes: "GET \(Self.status) HTTP/1.1\r\n\(host)Authorization: Bearer \(token)\r\nConnection: close\r\n\r\n")
            }
            #expect(answer.hasPrefix("HTTP/1.1 200 OK"), "\(host): \(answer.prefix(300))")
            let old = try await RawHTTP.onThread { try RawHTTP.exchange(port: port, bytes: "GET \(Self.status) HTTP/1.0\r\nAuthorization: Bearer \(token)\r\n\r\n") }
            #expect(old.hasPrefix("HTTP/1.1 200 OK"), "\(old.prefix(300))")
        }
    }

    @Test("a body whose framing cannot be read gets one answer: malformed_request when the route reads it, the route's own refusal when it answered before reading (then the connection closes)")
    func brokenBody() async throws {
        try await live { port, token in
            let path = "/api/users/v1/me/totp"
            let chunked = "Transfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\nZZ\r\n"
            let gzip = "Transfer-Encoding: gzip\r\nContent-Type: application/json\r\n\r\nabc"
            for framing in [chunked, gzip] {
                let read = try await RawHTTP.onThread {
                    try RawHTTP.exchange(port: port, bytes: "POST \(path) HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\n" + framing)
                }
                #expect(read.hasPrefix("HTTP/1.1 400 Bad Request") && read.contains(#""code":"malformed_request""#), "\(read.prefix(400))")
                #expect(read.components(separatedBy: "HTTP/1.1 ").count == 2, "one answer: \(read)")
                let refused = try await RawHTTP.onThread {
                    try RawHTTP.exchange(port: port, bytes: "POST \(path) HTTP/1.1\r\nHost: x\r\n" + framing)
                }
                // A coding the server does not read is refused with the head, before the route.
                let first = framing == gzip ? "HTTP/1.1 400 Bad Request" : "HTTP/1.1 401 Unauthorized"
                #expect(refused.hasPrefix(first), "\(refused.prefix(200))")
                #expect(refused.components(separatedBy: "HTTP/1.1 ").count == 2, "one answer: \(refused)")
            }
        }
    }

    @Test("an HTTP/1.0 request without keep-alive is answered and the connection closed at once (a client reading to the end does not wait for the idle timeout); with keep-alive it stays open")
    func http10() async throws {
        try await live(idleTimeout: Self.idleForever) { port in
            let (plain, closed) = try await RawHTTP.onThread { try RawHTTP.exchangeToClose(port: port, bytes: "GET /myaccount HTTP/1.0\r\n\r\n", wait: Self.closeWait) }
            #expect(plain.contains(" 200 OK") && plain.contains("</html>"), "\(plain.prefix(200))")
            #expect(closed, "the connection stayed open")
            // Kept alive: a second request on the same connection is answered too (and, being
            // HTTP/1.0 without keep-alive, closes it), however slow a loaded machine is.
            let kept = try await RawHTTP.onThread {
                try RawHTTP.exchange(
                    port: port, bytes: "GET /myaccount HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", then: "GET /myaccount HTTP/1.0\r\n\r\n")
            }
            #expect(kept.components(separatedBy: " 200 OK").count == 3, "\(kept.prefix(200))")
            // The kept-alive answer says so, or such a client (ab -k) reads until the idle timeout.
            let first = kept.components(separatedBy: "\r\n\r\n")[0].lowercased()
            #expect(first.contains("\r\nconnection: keep-alive"), "\(first)")
            #expect(!plain.lowercased().contains("keep-alive"), "\(plain.prefix(300))")
        }
    }

    @Test("a chunked body that grows past --max-body-bytes is 413 with Connection: close, and the connection ends with it; nothing is recorded")
    func chunkedTooLarge() async throws {
        try await live(idleTimeout: Self.idleForever) { port, token in
            let chunk = #"{"action":"INIT","pad":""# + String(repeating: "x", count: 20_000) + #""}"#
            let request = "POST /api/users/v1/me/totp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
                + String(chunk.utf8.count, radix: 16) + "\r\n" + chunk + "\r\n0\r\n\r\n"
            let (refused, closed) = try await RawHTTP.onThread { try RawHTTP.exchangeToClose(port: port, bytes: request, wait: Self.closeWait) }
            #expect(refused.hasPrefix("HTTP/1.1 413"), "\(refused.prefix(300))")
            #expect(refused.lowercased().contains("\r\nconnection: close\r\n"), "\(refused.prefix(300))")
            #expect(closed, "the server kept the connection open after Connection: close")
            let status = try await RawHTTP.onThread { try RawHTTP.exchange(port: port, bytes: "GET \(Self.status) HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\nConnection: close\r\n\r\n") }
            #expect(status.contains("\"status\":\"none\""), "\(status.suffix(300))")
        }
    }

    @Test("Expect: 100-continue gets an interim 100 before the body is sent, behind any earlier pipelined answer; a body larger than the server takes gets no 100 but 413")
    func expectContinue() async throws {
        try await live(idleTimeout: Self.idleForever) { port, token in
            let body = #"{"action":"INIT"}"#
            let head = "POST /api/users/v1/me/totp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: \(body.utf8.count)\r\n\r\n"
            let closing = "GET \(Self.status) HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\nConnection: close\r\n\r\n"
            // The body is sent only once the first answer (the 100) is read.
            let alone = try await RawHTTP.onThread { try RawHTTP.exchange(port: port, bytes: head, then: body + closing) }
            #expect(alone.hasPrefix("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n"), "\(alone.prefix(300))")
            #expect(alone.contains("qrCodeUrl"), "\(alone.prefix(300))")

            // Pipelined behind a request still being answered: its answer first, then the 100.
            let status = "GET \(Self.status) HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\n\r\n"
            let pipelined = try await RawHTTP.onThread { try RawHTTP.exchange(port: port, bytes: status + head.replacingOccurrences(of: "INIT", with: "VIEW"), then: body.replacingOccurrences(of: "INIT", with: "VIEW") + closing) }
            let first = pipelined.range(of: "HTTP/1.1 200 OK"), interim = pipelined.range(of: "HTTP/1.1 100 Continue")
            #expect(first != nil && interim != nil && first!.lowerBound < interim!.lowerBound, "\(pipelined.prefix(400))")
            #expect(pipelined.components(separatedBy: "HTTP/1.1 200 OK").count == 4, "three answers after the 100: \(pipelined.prefix(400))")

            let tooLarge = head.replacingOccurrences(of: "Content-Length: \(body.utf8.count)", with: "Content-Length: 100000")
            // Answered at once, and the connection ends with it, as its `Connection: close` says
            // (the client reads the end of the stream, not a wait for the idle timeout).
            let (refused, closed) = try await RawHTTP.onThread { try RawHTTP.exchangeToClose(port: port, bytes: tooLarge, wait: Self.closeWait) }
            #expect(!refused.contains("100 Continue") && refused.hasPrefix("HTTP/1.1 413"), "\(refused.prefix(300))")
            #expect(refused.lowercased().contains("\r\nconnection: close\r\n"), "\(refused.prefix(300))")
            #expect(closed, "the server kept the connection open after Connection: close")

            // HTTP/1.0 knows no interim answers (RFC 9110 §15.2): its expectation is ignored.
            let old = head.replacingOccurrences(of: "HTTP/1.1", with: "HTTP/1.0").replacingOccurrences(of: "INIT", with: "VIEW") + body.replacingOccurrences(of: "INIT", with: "VIEW")
            let answered = try await RawHTTP.onThread { try RawHTTP.exchange(port: port, bytes: old) }
            #expect(answered.hasPrefix("HTTP/1.1 200 OK\r\n") && !answered.contains("100 Continue"), "\(answered.prefix(300))")
        }
    }
}
