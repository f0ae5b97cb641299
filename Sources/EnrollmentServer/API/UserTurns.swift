import Synchronization

/// One at a time per user, within this process: the routes that read a user's state and then
/// run a command at that version (``TOTPRoutes/atVersionRead(_:_:)``: REFRESH, the secret's
/// text) take turns, so that a burst of them for one user (a page's double submit, a client's
/// retries) runs them one after another instead of each finding the stream moved by the others,
/// retrying, and the last answering 503 `too_many_conflicts`. Another process's commands can
/// still land in between: those are what the version check and its retries are for.
///
/// Turns are handed over first come, first served. Users are told apart by their ids' bytes,
/// as the journal tells them apart (see ``WriteThrottle``).
final class UserTurns: Sendable {
    /// A user whose turn is taken, with the callers waiting for it, in order.
    private let waiting = Mutex<[[UInt8]: [CheckedContinuation<Void, Never>]]>([:])

    /// Runs `body` in `user`'s turn.
    func run<T>(_ user: String, _ body: () async throws -> T) async throws -> T {
        let key = Array(user.utf8)
        await withCheckedContinuation { (turn: CheckedContinuation<Void, Never>) in
            let free = waiting.withLock { waiting in
                guard waiting[key] != nil else {
                    waiting[key] = []
                    return true
                }
                waiting[key]?.append(turn)
                return false
            }
            if free { turn.resume() }
        }
        defer {
            let next = waiting.withLock { waiting -> CheckedContinuation<Void, Never>? in
                guard let queue = waiting[key], let first = queue.first else {
                    waiting[key] = nil
                    return nil
                }
                waiting[key] = Array(queue.dropFirst())
                return first
            }
            next?.resume()
        }
        return try await body()
    }
}
