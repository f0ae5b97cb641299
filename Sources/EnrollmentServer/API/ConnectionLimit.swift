import Hummingbird
import HummingbirdCore
import Logging

/// The most connections the server holds open at once: at the limit it stops accepting, and
/// new connections wait in the kernel's listen queue until one closes.
///
/// Every connection holds a file descriptor. Without a limit below the open-file limit, a
/// flood of idle connections (no token needed) runs the process out of descriptors, and the
/// listening socket, still readable, has every `accept` fail with `EMFILE` at once: the event
/// loop spins at 100% of a core and the log says nothing. With it, the server never asks for a
/// descriptor it cannot have, uses no CPU while it waits, and says once a minute that it is
/// full, so that an operator can tell a flood from a hang.
///
/// Counted on the listening channel's event loop (Hummingbird's `AvailableConnectionsDelegate`).
struct ConnectionLimit: AvailableConnectionsDelegate {
    let maximum: Int
    let logger: Logger
    private var open = 0
    /// When the last "limit reached" warning was logged.
    private var warnedAt: ContinuousClock.Instant?

    init(maximum: Int, logger: Logger) {
        self.maximum = max(1, maximum)
        self.logger = logger
    }

    mutating func connectionOpened() {
        open += 1
        guard open >= maximum else { return }
        let now = ContinuousClock.now
        if let warnedAt, now - warnedAt < .seconds(60) { return }
        warnedAt = now
        logger.warning(
            "\(open) connections are open, the most this server holds (its open-file limit less descriptors for the database and logs): new connections wait in the listen queue until one closes; raise the limit (LimitNOFILE= under systemd, ulimit -Hn) or lower --idle-timeout if this is not a flood",
            metadata: ["connections": "\(open)"])
    }

    mutating func connectionClosed() {
        open -= 1
    }

    func isAcceptingNewConnections() -> Bool {
        open < maximum
    }
}
