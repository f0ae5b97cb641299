import Foundation
import Testing

/// An open transaction in a separate `sqlite3` process, as another application or an operator's
/// shell would hold one: `BEGIN` keeps a read snapshot (the write-ahead log cannot be emptied
/// past it), `BEGIN IMMEDIATE` holds the write lock. Returns once the transaction holds; ends
/// (rolls back) with ``end()`` or when released.
public final class SQLiteShellTransaction {
    private let process = Process()
    private let input = Pipe()
    private var ended = false

    public init(_ path: String, begin: String = "BEGIN") throws {
        let output = Pipe()
        process.executableURL = URL(fileURLWithPath: try Processes.tool("sqlite3", package: "sqlite3"))
        process.arguments = [path]
        process.standardInput = input
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        try process.run()
        // Its own busy timeout: a lock held for a moment by a process just ending (a checkpoint
        // on close) must not make it give up before it holds the transaction.
        input.fileHandleForWriting.write(Data(".timeout 10000\n\(begin);\nSELECT 'holding', count(*) FROM sqlite_master;\n".utf8))
        // The answer comes once the transaction holds its snapshot or lock.
        var answer = ""
        while !answer.contains("holding") {
            let data = output.fileHandleForReading.availableData
            if data.isEmpty { break }
            answer += String(decoding: data, as: UTF8.self)
        }
        try #require(answer.contains("holding"), "sqlite3 never held the transaction on \(path)")
    }

    /// Rolls the transaction back and waits for sqlite3 to exit.
    public func end() {
        guard !ended else { return }
        ended = true
        input.fileHandleForWriting.write(Data("ROLLBACK;\n.quit\n".utf8))
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
    }

    deinit { end() }
}
