import Foundation

/// Buffered writes to stdout (or a file): audits and exports print one line per event, and a
/// system call per line would dominate on millions of them. A write that fails (a full disk)
/// throws ``CLIFailure/output(errno:to:)`` naming where the output was going.
final class OutputBuffer {
    private let descriptor: Int32
    private let target: String?
    private var pending: [UInt8] = []
    private let capacity = 1 << 16

    /// `target` names the file in an error (nil: stdout).
    init(descriptor: Int32 = STDOUT_FILENO, target: String? = nil) {
        self.descriptor = descriptor
        self.target = target
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
        let failure = pending.withUnsafeBytes { Terminal.writeAll($0, to: descriptor) }
        pending.removeAll(keepingCapacity: true)
        if failure != 0 { throw CLIFailure.output(errno: failure, to: target) }
    }
}
