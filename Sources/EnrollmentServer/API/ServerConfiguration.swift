import Enrollment

/// What `enroll serve` is configured with, besides the engine and the token key.
public struct ServerConfiguration: Sendable {
    public var host: String
    /// 0 picks a free port; the bound one is reported through `onRunning`.
    public var port: Int
    /// Request bodies beyond this many bytes are refused with 413 before they are parsed.
    public var maxBodyBytes: Int
    /// How INIT sets up a new secret (issuer shown in the app, digits, period, algorithm).
    public var enrollmentOptions: EnrollmentOptions
    /// Requests that record an event (POST, DELETE, GET of the QR code or secret) per user per
    /// minute before 429 `throttled` (0: no limit).
    public var maxWritesPerMinute: Int
    /// A connection that sends nothing (not even the rest of a request's headers) and awaits
    /// no answer for this long is closed, so slow or stalled clients cannot hold sockets (and
    /// file descriptors) forever. Time spent answering a request does not count.
    public var idleTimeout: Duration
    /// The most connections held open at once (nil: no limit of the server's own); more wait
    /// in the listen queue (``ConnectionLimit``). `enroll serve` sets it below the open-file limit.
    public var maxConnections: Int?

    public static let defaultIdleTimeout: Duration = .seconds(30)

    public init(
        host: String = "127.0.0.1", port: Int = 8080, maxBodyBytes: Int = 4096,
        enrollmentOptions: EnrollmentOptions = EnrollmentOptions(), maxWritesPerMinute: Int = 60,
        idleTimeout: Duration = ServerConfiguration.defaultIdleTimeout, maxConnections: Int? = nil
    ) {
        self.maxConnections = maxConnections
        self.idleTimeout = idleTimeout
        self.host = host
        self.port = port
        self.maxBodyBytes = maxBodyBytes
        self.enrollmentOptions = enrollmentOptions
        self.maxWritesPerMinute = maxWritesPerMinute
    }
}
