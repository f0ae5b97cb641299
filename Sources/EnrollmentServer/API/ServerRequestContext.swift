import Enrollment
import Foundation
import Hummingbird
import NIOCore
import Synchronization

/// The per-request context: Hummingbird's core storage plus what the API adds.
public struct ServerRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// Sent back in every error body and logged with the access line, so a user's report can be
    /// matched with the server log.
    public var traceId: String
    /// What the routes learn about the request that the access log reports afterwards. A
    /// reference, because middleware hands copies of the context down the chain.
    let record = RequestRecord()
    /// The request's connection, which a body that does not arrive in time closes.
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
        traceId = RandomUUID.string()
    }

    /// The trace id of the request the current task serves, set by ``AccessLogMiddleware``
    /// around the routes: the correlation id of every command the request runs, so that an
    /// event in the journal leads to its access log line and answer (`X-Trace-Id`).
    @TaskLocal static var currentTraceId: String?

    /// Requests here are a few dozen bytes; the routes read bodies with ``ServerConfiguration/maxBodyBytes``.
    public var maxUploadSize: Int { 64 * 1024 }
}

/// The authenticated user of one request, the action a POST asked for and the refusal a 200
/// carries (VALIDATE's `isValid: false`), written by the route, read by the access log.
final class RequestRecord: Sendable {
    private let storage = Mutex<(user: String?, action: String?, refusal: String?)>((nil, nil, nil))
    var user: String? {
        get { storage.withLock { $0.user } }
        set { storage.withLock { $0.user = newValue } }
    }
    var action: String? {
        get { storage.withLock { $0.action } }
        set { storage.withLock { $0.action = newValue } }
    }
    /// A refusal answered with 200 (a wrong or reused code): logged as `code=` as an error's
    /// code is, so that an alert on guessing sees every wrong code, not only the lock.
    var refusal: String? {
        get { storage.withLock { $0.refusal } }
        set { storage.withLock { $0.refusal = newValue } }
    }
}
