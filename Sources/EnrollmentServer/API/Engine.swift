import Dispatch
import Enrollment

/// The engine as the server calls it: the same ``EnrollmentService`` the command line uses,
/// through the ``GroupCommitHandler`` so that commands arriving together share one commit (one
/// fsync at `synchronous=FULL`) and no request waits on SQLite on a NIO event loop.
///
/// The reads of status, health and the audit timeline run on a Dispatch worker, not on the
/// small cooperative thread pool that serves every request; a command's read-and-decide runs on
/// the caller's task (a WAL read does not wait for the writer). Several server processes may share
/// one database file: the engine's optimistic concurrency (expected stream versions, decide
/// again on conflict) and SQLite's write lock keep them consistent.
struct Engine: Sendable {
    let service: EnrollmentService
    let commits: GroupCommitHandler

    init(service: EnrollmentService) {
        self.service = service
        self.commits = GroupCommitHandler(service: service)
    }

    var now: UnixTime { service.clock.now() }

    func handle(_ envelope: CommandEnvelope, expectedVersion: Int64? = nil) async throws -> CommandOutcome {
        try await commits.handle(envelope, expectedVersion: expectedVersion)
    }

    func load(_ user: String) async throws -> AuthenticatorState {
        try await offload { try service.load(user) }
    }

    /// Whether the journal can be read with this key file (``HealthRoute``).
    func checkHealth() async throws {
        try await offload { try service.checkHealth() }
    }

    /// Why a restart would refuse the key file this server read its key from (``HealthRoute``).
    func keyFileProblem() async -> StoreError? {
        (try? await offload { service.keyFileProblem() }) ?? nil
    }

    /// The user's audit timeline (never a secret or a code), oldest first.
    /// A page of the user's history and, on the last page, why the journal ends early for them
    /// (``AuditTrail/deletedEnd(of:)``: rows deleted from its end, or from the end of their
    /// stream), which no entry can show.
    /// The user's entries after the first `skipping` of them, in journal order (a page's
    /// `next`): the API names no journal position, which would tell a user how many events
    /// everyone else recorded, and counts rows rather than trusting stream versions, which a
    /// tampered row may hold in any order or as text.
    func history(of user: String, skipping: Int64, limit: Int) async throws -> (entries: [HistoryEntry], deletedEnd: String?) {
        try await offload {
            let trail = AuditTrail(database: service.database)
            let position = skipping == 0 ? 0 : try service.database.read { db in
                // Past the last one: nothing after it.
                try Int64.fetchOne(db, sql: "SELECT position FROM events WHERE stream_id = ? ORDER BY position LIMIT 1 OFFSET ?", arguments: [user, skipping - 1]) ?? Int64.max
            }
            let entries = try trail.history(of: user, after: position, limit: limit)
            return (entries, entries.count < limit ? try trail.deletedEnd(of: user) : nil)
        }
    }

    private func offload<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global(qos: .userInitiated).async {
                continuation.resume(with: Result { try body() })
            }
        }
    }
}
