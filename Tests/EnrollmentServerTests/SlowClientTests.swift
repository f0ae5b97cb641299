import Enrollment
import EnrollmentServer
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import TestSupport

@Suite("Slow clients")
struct SlowClientTests {
    @Test("a connection that stops halfway through its headers is closed after the idle timeout; others are served")
    func halfSentRequestIsClosed() async throws {
        let harness = try await Harness()
        var configuration = harness.configuration
        configuration.port = 0
        // Long enough that a loaded machine's late event loop does not idle out the complete
        // request below before reading it.
        configuration.idleTimeout = .seconds(2)
        let verifier = try await TokenVerifier.make(.hmacSHA256(secret: Harness.secret), clock: harness.clock)
        let app = EnrollmentServer.application(service: harness.service, verifier: verifier, configuration: configuration)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let outcome = try await RawHTTP.onThread { try RawHTTP.partialRequest(port: port, wait: 12) }
            #expect(outcome.closedByServer, "still open after \(outcome.seconds) s")
            #expect(outcome.seconds >= 1.8 && outcome.seconds < 10, "closed after \(outcome.seconds) s")
            // The test client's own connection idles out too: a complete request on a new one is served.
            #expect(try await RawHTTP.onThread { try RawHTTP.statusLineRetrying(port: port) } == "HTTP/1.1 200 OK")
        }
    }

    @Test("the default idle timeout is 30 seconds")
    func defaultTimeout() {
        #expect(ServerConfiguration().idleTimeout == .seconds(30))
    }
}
