import Synchronization

/// One at a time per user, within this process: the routes that read a user's state and then
/// run a command at that version (``TOTPRoutes/atVersionRead(_:_:)``: REFRESH, the secret's
/// text) take turns, so that a burst of them for one user (a page's double submit, a client's
/// retries) runs them one after another instead of each finding the stream moved by the others,
/// retrying, and the last answering 503 `too_many_conflicts`. Another process's commands can
/// still land in between: those are what the version check and its retries are for.
///
/// Turns are handed over first come, first served. A caller whose task is cancelled while it
/// waits (its client went away) leaves the line and runs nothing. Users are told apart by their
/// ids' bytes, as the journal tells them apart (see ``WriteThrottle``).
final class UserTurns: Sendable {
    private struct Waiter {
        let id: UInt64
        let turn: CheckedContinuation<Bool, Never>
    }

    private struct Lines {
        /// A user whose turn is taken, with the callers waiting for it, in order.
        var waiting: [[UInt8]: [Waiter]] = [:]
        var nextId: UInt64 = 0
    }

    private let lines = Mutex(Lines())

    /// Runs `body` in `user`'s turn; throws `CancellationError` if the task is cancelled before
    /// its turn comes.
    func run<T>(_ user: String, _ body: () async throws -> T) async throws -> T {
        let key = Array(user.utf8)
        let id = lines.withLock { lines in
            lines.nextId += 1
            return lines.nextId
        }
        let granted = await withTaskCancellationHandler {
            await withCheckedContinuation { (turn: CheckedContinuation<Bool, Never>) in
                // Under the lock, so that a cancellation either finds this waiter in the line or
                // is seen here before it joins.
                let answer: Bool? = lines.withLock { lines in
                    guard lines.waiting[key] != nil else {
                        lines.waiting[key] = []
                        return true
                    }
                    if Task.isCancelled { return false }
                    lines.waiting[key]?.append(Waiter(id: id, turn: turn))
                    return nil
                }
                if let answer { turn.resume(returning: answer) }
            }
        } onCancel: {
            let left = lines.withLock { lines -> Waiter? in
                guard let index = lines.waiting[key]?.firstIndex(where: { $0.id == id }) else { return nil }
                return lines.waiting[key]?.remove(at: index)
            }
            left?.turn.resume(returning: false)
        }
        guard granted else { throw CancellationError() }
        defer {
            let next = lines.withLock { lines -> Waiter? in
                guard let first = lines.waiting[key]?.first else {
                    lines.waiting[key] = nil
                    return nil
                }
                lines.waiting[key]?.removeFirst()
                return first
            }
            next?.turn.resume(returning: true)
        }
        return try await body()
    }
}
