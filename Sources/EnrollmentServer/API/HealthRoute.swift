import Enrollment
import Foundation
import Hummingbird

/// `GET /health` (and `HEAD`): for load balancers and orchestrators (a Kubernetes readiness or
/// liveness probe), without a token.
///
/// 200 `{"status":"ok"}` when the journal can be read, is still the file the server opened,
/// the key file still matches it and its disk is not full; else 503 in the API's error shape
/// with the reason's code (`service_reconfiguring` after `enroll keys rotate`,
/// `database_busy`, `database_moved`, `disk_full`, or another storage error), and the cause in
/// the server log. The
/// answer says nothing about users or the journal's size: anyone who reaches the port may ask.
struct HealthRoute: Sendable {
    static let path = "/health"
    static let methods: [String: [HTTPRequest.Method]] = [path: [.get, .head]]

    let engine: Engine

    func register(on router: Router<ServerRequestContext>) {
        router.get(RouterPath(Self.path)) { _, _ in try await check() }
        router.head(RouterPath(Self.path)) { _, _ in EnrollmentServer.head(try await check()) }
    }

    func check() async throws -> Response {
        do {
            try await engine.checkHealth()
        } catch let error as StoreError {
            var failure = APIError.store(error)
            // Whatever the cause, "not ready": a probe reads the status, not the reason.
            failure.status = .serviceUnavailable
            throw failure
        }
        return Response(status: .ok, headers: TOTPRoutes.noStore, body: ResponseBody(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#)))
    }
}
