@testable import EnrollmentServer
import Synchronization
import Testing

/// What ran, in order.
private final class RunLog: Sendable {
    private let lines = Mutex<[String]>([])
    func add(_ line: String) { lines.withLock { $0.append(line) } }
    var all: [String] { lines.withLock { $0 } }
}

/// `UserTurns`, alone: the order turns are given in, and a waiter that is cancelled.
@Suite("one user's turns")
struct UserTurnsTests {
    @Test("one user's callers run one at a time, first come first served; another user's do not wait; a waiter cancelled leaves the line at once, running nothing")
    func turns() async throws {
        let turns = UserTurns()
        let order = RunLog()
        let (gate, open) = AsyncStream.makeStream(of: Void.self)
        // The first caller holds alice's turn until the gate opens.
        let holder = Task {
            try await turns.run("alice") {
                order.add("first")
                for await _ in gate { break }
            }
        }
        try await Task.sleep(for: .milliseconds(50))
        let cancelled = Task { try await turns.run("alice") { order.add("cancelled") } }
        try await Task.sleep(for: .milliseconds(50))
        let second = Task { try await turns.run("alice") { order.add("second") } }
        try await Task.sleep(for: .milliseconds(50))
        // Bob's turn is his own.
        try await turns.run("bob") { order.add("bob") }
        cancelled.cancel()
        // It ends at once, with alice's turn still held (waited for 2 s at most).
        let ends = RunLog()
        Task { ends.add((try? await cancelled.value) == nil ? "threw" : "ran") }
        for _ in 0..<200 where ends.all.isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        #expect(ends.all == ["threw"], "the cancelled caller still waits for alice's turn: \(ends.all)")
        #expect(order.all == ["first", "bob"], "nothing of alice's ran while her turn was held")
        open.yield()
        try await holder.value
        try await second.value
        #expect(order.all == ["first", "bob", "second"])
        // The line is empty again: a new caller runs at once.
        try await turns.run("alice") { order.add("again") }
        #expect(order.all.last == "again")
    }

}
