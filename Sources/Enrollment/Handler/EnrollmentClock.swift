import Foundation
import Synchronization

/// The time the handler decides at. Injected so tests and fixtures are deterministic.
public protocol EnrollmentClock: Sendable {
    func now() -> UnixTime
}

public struct SystemClock: EnrollmentClock {
    public init() {}
    public func now() -> UnixTime { UnixTime(Date().timeIntervalSince1970) }
}

/// A clock that stands still until a test moves it.
public final class FixedClock: EnrollmentClock {
    private let time: Mutex<UnixTime>
    public init(_ time: UnixTime) { self.time = Mutex(time) }
    public func now() -> UnixTime { time.withLock { $0 } }
    public func set(_ newTime: UnixTime) { time.withLock { $0 = newTime } }
    public func advance(by seconds: Int64) { time.withLock { $0 += seconds } }
}
