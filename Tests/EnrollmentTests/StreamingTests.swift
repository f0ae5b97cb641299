import Foundation
import Testing
import TestSupport

/// `enroll audit`, `export` and `verify` stream the journal through a cursor: their memory does
/// not grow with the journal.
@Suite("Streaming reads")
struct StreamingTests {
    /// Runs `enroll ARGS` with output discarded and returns its exit status and peak resident
    /// memory in kB (VmHWM from /proc, polled while it runs).
    func peakMemory(_ arguments: [String], database: String) throws -> (status: Int32, peakKB: Int) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try Processes.product("enroll"))
        process.arguments = arguments + ["--db", database]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        var peak = 0
        while process.isRunning {
            if let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
               let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
               let kB = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") {
                peak = max(peak, kB)
            }
            usleep(5_000)
        }
        process.waitUntilExit()
        return (process.terminationStatus, peak)
    }

    @Test("audit, export and verify of 100 000 events use about as much memory as of 21 events")
    func constantMemory() throws {
        let workspace = try Workspace()
        let large = workspace.path("large.sqlite")
        try SyntheticDatabases.copy(events: 100_000, to: large)
        let small = workspace.path("small.sqlite")
        let imported = try workspace.enroll(["import", FixtureTests.root.appendingPathComponent("journals/before-remaining-attempts.jsonl").path, "--db", small])
        try #require(imported.status == 0, "\(imported.stderr)")
        for arguments in [["audit", "--json"], ["audit"], ["export"], ["verify"]] {
            let base = try peakMemory(arguments, database: small)
            let big = try peakMemory(arguments, database: large)
            #expect(base.status == 0 && big.status == 0, "\(arguments)")
            #expect(base.peakKB > 0 && big.peakKB > 0, "no memory reading for \(arguments)")
            // Holding 100 000 entries (or their ~40 MB of output) would add far more than this.
            #expect(big.peakKB < base.peakKB + 16_000, "\(arguments): \(big.peakKB) kB on 100 000 events, \(base.peakKB) kB on 21")
        }
    }
}
