import Synchronization

/// The folded states of long streams, kept by a long-running process (a server) between
/// commands, so that a user whose stream has grown long (thousands of QR codes shown again,
/// each an event) is not folded from the start on every command: the next command folds only
/// the events after the one the state was folded to.
///
/// A cache, never the truth: an entry is used only when the journal still holds, at the
/// position of the event it was folded to, the same chained hash. That hash covers every row up
/// to it (``HashChain``), so the user's events up to there are the ones folded: appends by other
/// processes are folded in on top, and a journal restored or rewritten underneath (even with
/// its hashes recomputed) is folded from the start.
/// States hold their secrets sealed, as the journal does; they are opened after each load.
/// Streams shorter than ``minimumEvents`` are not kept: folding them costs less than the
/// lookup saves.
final class StreamFoldCache: Sendable {
    struct Entry: Sendable {
        /// The state folded up to `state.version`, secrets sealed.
        var state: AuthenticatorState
        /// The journal position of the event at `state.version`, and its chained hash.
        var position: Int64
        var hash: [UInt8]
    }

    static let minimumEvents: Int64 = 64
    /// Entries kept at most (a few kilobytes each); past it an arbitrary one makes room.
    static let capacity = 4_096

    private let entries = Mutex<[BinaryString: Entry]>([:])

    func entry(for user: String) -> Entry? {
        entries.withLock { $0[BinaryString(user)] }
    }

    func keep(_ entry: Entry, for user: String) {
        guard entry.state.version >= Self.minimumEvents else { return }
        entries.withLock { entries in
            if entries.count >= Self.capacity, entries[BinaryString(user)] == nil { entries.remove(at: entries.startIndex) }
            entries[BinaryString(user)] = entry
        }
    }

    func forget(_ user: String) {
        _ = entries.withLock { $0.removeValue(forKey: BinaryString(user)) }
    }
}
