import Enrollment
import Foundation
import Hummingbird
import Logging
import Synchronization

/// `GET /health` (and `HEAD`): for load balancers and orchestrators (a Kubernetes readiness or
/// liveness probe), without a token.
///
/// 200 `{"status":"ok"}` when the journal can be read, is still the file the server opened,
/// the key file still matches it, its disk is not full and its projections can take an append;
/// else 503 in the API's error shape with the reason's code (`service_reconfiguring` after
/// `enroll keys rotate`, `database_busy`, `database_moved`, `disk_full`, `damaged_projection`,
/// or another storage error), and the cause in the server log. The
/// answer says nothing about users or the journal's size: anyone who reaches the port may ask.
///
/// A key file deleted, made unreadable or replaced under the running server does not stop it
/// (it holds its key), so the answer stays 200, which an orchestrator would otherwise meet with
/// a restart that fails: it carries `"warning"` with the problem's code instead, and the log
/// says once what is wrong (and again once it is mended).
struct HealthRoute: Sendable {
    static let path = "/health"
    static let methods: [String: [HTTPRequest.Method]] = [path: [.get, .head]]

    let engine: Engine
    let logger: Logger
    /// The key file problem last logged (nil: none), so that a probe every few seconds logs it once.
    private let loggedProblem = Logged()

    private final class Logged: Sendable {
        let problem = Mutex<StoreError?>(nil)
    }

    init(engine: Engine, logger: Logger = Logger(label: "enrollment.server")) {
        self.engine = engine
        self.logger = logger
    }

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
        let problem = await engine.keyFileProblem()
        let previous = loggedProblem.problem.withLock { logged in
            defer { logged = problem }
            return logged
        }
        if let problem, problem != previous {
            logger.warning("the key file changed under the running server: \(problem.message)", metadata: ["code": "\(problem.code)"])
        } else if problem == nil, previous != nil {
            logger.notice("the key file holds this server's key again: a restart would read it")
        }
        let body = problem.map { #"{"status":"ok","warning":"\#($0.code)"}"# } ?? #"{"status":"ok"}"#
        return Response(status: .ok, headers: TOTPRoutes.noStore, body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
    }
}
