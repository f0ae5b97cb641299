import Enrollment

/// At most `limit` requests that may record an event (POST, DELETE, and the GETs that reveal) per
/// user in each `window` of seconds, counted when they are admitted, before the body is read or
/// the command decided, so a refused or malformed one counts too; beyond that the API answers
/// 429 `throttled` with `Retry-After`.
///
/// Wrong codes are already limited by the engine's lock (RFC 4226 §7.3); this bounds the rest:
/// a script calling INIT or VIEW in a loop would otherwise grow the user's journal without end.
/// Fixed windows on the engine's clock (so tests fix it too), kept in memory per process: with
/// several server processes each applies its own limit. Users are told apart by their ids'
/// bytes, as the journal tells them apart: `café` composed and decomposed are two users with
/// two streams, so they have two counts (Swift's `String` equality would merge them).
actor WriteThrottle {
    let limit: Int
    let window: Int64
    private var counts: [[UInt8]: (start: UnixTime, count: Int)] = [:]
    /// The window whose counts `counts` holds: only the current window's count, so a new
    /// window starts from an empty table (once per window, not on every request).
    private var countedWindow: UnixTime = .min

    init(limit: Int, window: Int64 = 60) {
        self.limit = limit
        self.window = max(1, window)
    }

    /// Nil when the write may go ahead (and is counted), else the seconds until it may.
    func admit(_ user: String, now: UnixTime) -> Int64? {
        guard limit > 0 else { return nil }
        let start = now - ((now % window) + window) % window
        if start != countedWindow {
            counts.removeAll(keepingCapacity: true)
            countedWindow = start
        }
        let key = Array(user.utf8)
        var entry = counts[key] ?? (start: start, count: 0)
        guard entry.count < limit else { return max(1, start + window - now) }
        entry.count += 1
        counts[key] = entry
        return nil
    }
}
