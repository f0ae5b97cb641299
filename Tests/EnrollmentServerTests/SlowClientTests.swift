import Enrollment
import EnrollmentServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import TestSupport

@Suite("Slow clients")
struct SlowClientTests {
    /// Runs `body` against the real server on a socket of its own, with an idle timeout of 2 s
    /// unless told: long enough that a loaded machine's late event loop does not idle out a
    /// complete request before reading it.
    func live(idleTimeout: Duration = .seconds(2), _ body: @escaping @Sendable (Int, Harness) async throws -> Void) async throws {
        let harness = try await Harness()
        var configuration = harness.configuration
        configuration.port = 0
        configuration.idleTimeout = idleTimeout
        let verifier = try await TokenVerifier.make(.hmacSHA256(secret: Harness.secret), clock: harness.clock)
        let app = EnrollmentServer.application(service: harness.service, verifier: verifier, configuration: configuration)
        try await app.test(.live) { client in try await body(try #require(client.port), harness) }
    }

    @Test("a connection that stops halfway through its headers is closed after the idle timeout; others are served")
    func halfSentRequestIsClosed() async throws {
        try await live { port, _ in
            let outcome = try await RawHTTP.onThread { try RawHTTP.partialRequest(port: port, wait: 12) }
            #expect(outcome.closedByServer, "still open after \(outcome.seconds) s")
            #expect(outcome.seconds >= 1.8 && outcome.seconds < 10, "closed after \(outcome.seconds) s")
            // The test client's own connection idles out too: a complete request on a new one is served.
            #expect(try await RawHTTP.onThread { try RawHTTP.statusLineRetrying(port: port) } == "HTTP/1.1 200 OK")
        }
    }

    @Test("a body sent a byte at a time gets the idle timeout in all, as a head does, not per byte: the connection is closed, nothing answered, nothing recorded")
    func tricklingBodyIsClosed() async throws {
        try await live { port, harness in
            let token = try await harness.token("trickle")
            let (closed, seconds, received) = try await RawHTTP.onThread { () throws -> (Bool, Double, [UInt8]) in
                let fd = try RawHTTP.connection(port: port, wait: 1)
                defer { close(fd) }
                let head = Array("POST /api/users/v1/me/totp HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(token)\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"action\":\"INIT\"".utf8)
                _ = send(fd, head, head.count, Int32(MSG_NOSIGNAL))
                let started = Date()
                var received: [UInt8] = [], buffer = [UInt8](repeating: 0, count: 512)
                // A space every 0.3 s, for up to 15 s: each arrives well within the idle timeout.
                while Date().timeIntervalSince(started) < 15 {
                    if send(fd, " ", 1, Int32(MSG_NOSIGNAL)) < 0 { return (true, Date().timeIntervalSince(started), received) }
                    var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                    if poll(&ready, 1, 300) > 0 {
                        let count = recv(fd, &buffer, buffer.count, 0)
                        if count <= 0 { return (true, Date().timeIntervalSince(started), received) }
                        received += buffer.prefix(count)
                    }
                }
                return (false, Date().timeIntervalSince(started), received)
            }
            #expect(closed, "still open after \(seconds) s")
            #expect(seconds >= 1.8 && seconds < 10, "closed after \(seconds) s")
            #expect(received.isEmpty, "\(String(decoding: received, as: UTF8.self))")
            #expect(try harness.service.load("trickle").version == 0, "the cut request recorded something")
            #expect(try await RawHTTP.onThread { try RawHTTP.statusLineRetrying(port: port) } == "HTTP/1.1 200 OK")
        }
    }

    @Test("a body no route reads (a request refused before it, as without a token) is not drained for as long as it trickles: the answer says Connection: close, and the connection is closed within the idle timeout")
    func unreadBodyIsNotDrained() async throws {
        // 5 s: the answer and the end of its stream come at once; a test thread starved for the
        // whole idle timeout (a busy CI machine) would otherwise meet the server's final close
        // before reading them, and the reset discards them.
        try await live(idleTimeout: .seconds(5)) { port, _ in
            // A reset that came before anything was read is tried again (twice at most): it is
            // what that starved test thread sees, and a server that never answers, or answers
            // without closing, fails every try.
            for attempt in 1...3 {
                let (answer, endSeen, sendFailed) = try await RawHTTP.onThread { () throws -> (String, Double?, Double?) in
                    let fd = try RawHTTP.connection(port: port, wait: 1)
                    defer { close(fd) }
                    let head = Array("POST /api/users/v1/me/totp HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n{".utf8)
                    _ = send(fd, head, head.count, Int32(MSG_NOSIGNAL))
                    let started = Date()
                    var received: [UInt8] = [], buffer = [UInt8](repeating: 0, count: 4096)
                    var endSeen: Double?
                    while Date().timeIntervalSince(started) < 12 {
                        if send(fd, "x", 1, Int32(MSG_NOSIGNAL)) < 0 { return (String(decoding: received, as: UTF8.self), endSeen, Date().timeIntervalSince(started)) }
                        var ready = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                        if endSeen == nil, poll(&ready, 1, 300) > 0 {
                            let count = recv(fd, &buffer, buffer.count, 0)
                            if count == 0 { endSeen = Date().timeIntervalSince(started) }
                            if count > 0 { received += buffer.prefix(count) }
                        } else if endSeen != nil {
                            usleep(300_000)
                        }
                    }
                    return (String(decoding: received, as: UTF8.self), endSeen, nil)
                }
                if answer.isEmpty, endSeen == nil, sendFailed != nil, attempt < 3 { continue }
                #expect(answer.hasPrefix("HTTP/1.1 401 Unauthorized") && answer.lowercased().contains("connection: close"), "\(answer)")
                #expect((endSeen ?? 99) < 5, "the end of the answer's stream came after \(endSeen.map { "\($0) s" } ?? "never")")
                #expect((sendFailed ?? 99) < 10, "the server still read the trickled body after \(sendFailed.map { "\($0) s" } ?? "12 s")")
                return
            }
        }
    }

    @Test("the default idle timeout is 30 seconds")
    func defaultTimeout() {
        #expect(ServerConfiguration().idleTimeout == .seconds(30))
    }
}
