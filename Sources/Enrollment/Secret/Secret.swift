import CryptoPrimitives
import Synchronization

/// A TOTP shared secret in memory.
///
/// Its description and its reflection (`dump`, `Mirror`, a test failure expanding the value)
/// are redacted so that it never reaches a log line, an error message or a test failure by
/// accident; the bytes are reachable only through ``bytes``.
public struct Secret: Sendable, Hashable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public let bytes: [UInt8]

    public init(bytes: [UInt8]) { self.bytes = bytes }

    public var description: String { "Secret(redacted, \(bytes.count) bytes)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: ["byteCount": bytes.count], displayStyle: .struct) }
}

/// Where fresh secrets come from. Injected into the handler so that tests and fixtures are
/// deterministic while production uses OpenSSL's CSPRNG.
public protocol SecretSource: Sendable {
    func makeSecret(byteCount: Int) throws -> Secret
}

/// Secrets from `RAND_bytes`.
public struct RandomSecretSource: SecretSource {
    public init() {}
    public func makeSecret(byteCount: Int) throws -> Secret {
        Secret(bytes: try SecureRandom.bytes(byteCount))
    }
}

/// A deterministic secret source for tests and fixtures: the n-th secret is
/// SHA-256("seed/n") stretched to the requested length. Never use it in production.
/// Its seed decides every secret it gives, so it is redacted as a ``Secret`` is.
public final class SeededSecretSource: SecretSource, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    private let seed: String
    private let counter = Mutex(0)

    public init(seed: String) { self.seed = seed }

    public var description: String { "SeededSecretSource(seed redacted)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .class) }

    public func makeSecret(byteCount: Int) throws -> Secret {
        let n = counter.withLock { value -> Int in value += 1; return value }
        var bytes: [UInt8] = []
        var block = 0
        while bytes.count < byteCount {
            bytes += sha256(Array("\(seed)/\(n)/\(block)".utf8))
            block += 1
        }
        return Secret(bytes: Array(bytes.prefix(byteCount)))
    }
}

/// A fixed list of secrets, handed out in order, for tests that must know the secrets a service
/// issues (fixtures hand theirs to the decider directly).
public final class FixedSecretSource: SecretSource {
    private let remaining: Mutex<[Secret]>

    public init(_ secrets: [Secret]) { remaining = Mutex(secrets) }

    public func makeSecret(byteCount: Int) throws -> Secret {
        try remaining.withLock { remaining in
            guard !remaining.isEmpty else { throw SecretSourceError.exhausted }
            return remaining.removeFirst()
        }
    }
}

public enum SecretSourceError: Error, Sendable {
    /// A ``FixedSecretSource`` was asked for more secrets than it was given.
    case exhausted
}
