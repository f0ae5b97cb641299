import Foundation

/// Buffered writes to stdout (or a file): audits and exports print one line per event, and a
/// system call per line would dominate on millions of them.
final class OutputBuffer {
    private let handle: FileHandle
    private var pending = Data()
    private let capacity = 1 << 16

    init(handle: FileHandle = .standardOutput) {
        self.handle = handle
        pending.reserveCapacity(capacity)
    }

    func write(_ text: String) throws {
        pending.append(contentsOf: text.utf8)
        if pending.count >= capacity { try flush() }
    }

    func line(_ text: String) throws {
        try write(text + "\n")
    }

    func flush() throws {
        guard !pending.isEmpty else { return }
        try handle.write(contentsOf: pending)
        pending.removeAll(keepingCapacity: true)
    }
}
