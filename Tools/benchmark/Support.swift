import Foundation

/// A failure of the benchmark itself: a missing peer, an engine figure that came out wrong.
struct BenchmarkError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Wall-clock seconds taken by `body`.
func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = ContinuousClock.now
    try body()
    return (ContinuousClock.now - start).seconds
}

extension Duration {
    var seconds: Double {
        let (whole, attoseconds) = components
        return Double(whole) + Double(attoseconds) / 1e18
    }
}

func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/// The value at `fraction` (0...1) of the sorted values, nearest rank.
func percentile(_ values: [Double], _ fraction: Double) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    let rank = Int((fraction * Double(sorted.count)).rounded(.up)) - 1
    return sorted[min(max(rank, 0), sorted.count - 1)]
}

/// Runs a program to completion and returns its standard output; a non-zero exit is an error
/// quoting its standard error.
@discardableResult
func run(_ executable: String, _ arguments: [String], environment: [String: String]? = nil) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let environment { process.environment = environment }
    let output = Pipe(), errors = Pipe()
    process.standardOutput = output
    process.standardError = errors
    do { try process.run() } catch { throw BenchmarkError("cannot start \(executable): \(error)") }
    Interruption.running(process.processIdentifier)
    defer { Interruption.running(nil) }
    // Read both pipes before waiting, so a chatty child never blocks on a full pipe.
    let errorData = LockedData()
    let reader = Thread { errorData.set(errors.fileHandleForReading.readDataToEndOfFile()) }
    reader.start()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    while !errorData.done { usleep(1000) }
    guard process.terminationStatus == 0 else {
        let message = String(decoding: errorData.data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        throw BenchmarkError("\(executable) \(arguments.joined(separator: " ")) exited with \(process.terminationStatus): \(message)")
    }
    return String(decoding: data, as: UTF8.self)
}

final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var stored = Data()
    private var finished = false
    func set(_ data: Data) { lock.withLock { stored = data; finished = true } }
    var done: Bool { lock.withLock { finished } }
    var data: Data { lock.withLock { stored } }
}

/// Runs a peer that prints one JSON object and returns it.
func runJSON(_ executable: String, _ arguments: [String]) throws -> [String: Any] {
    let output = try run(executable, arguments)
    guard let line = output.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
          let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
    else { throw BenchmarkError("\(executable) printed no JSON object: \(output.prefix(200))") }
    return object
}

func number(_ object: [String: Any], _ key: String) throws -> Double {
    guard let value = object[key] as? NSNumber else { throw BenchmarkError("peer output has no number '\(key)': \(object)") }
    return value.doubleValue
}

/// Ctrl-C or SIGTERM in the middle of a run: the child running then (a peer, a child mode; each
/// has a process group of its own, which the terminal's Ctrl-C does not reach) is stopped and the
/// temporary work directory removed, then the benchmark exits with 130 (143 for SIGTERM), writing
/// no results: the run's own threads stop at their next ``haltIfInterrupted()``.
enum Interruption {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var child: pid_t?
    nonisolated(unsafe) private static var workDirectory: String?
    nonisolated(unsafe) private static var interrupted = false
    nonisolated(unsafe) private static var sources: [any DispatchSourceSignal] = []

    static func running(_ pid: pid_t?) { lock.withLock { child = pid } }

    /// Whether a signal has ended the run: its results are not to be printed or written.
    static var isInterrupted: Bool { lock.withLock { interrupted } }

    /// Waits here for the handler to end the process, once the run was interrupted (a child it
    /// killed looks like a failure to the code that ran it).
    static func haltIfInterrupted() {
        while isInterrupted { sleep(1) }
    }

    /// Handles SIGINT and SIGTERM from now on; `removing` is the work directory to remove, if
    /// the run made it.
    static func handle(removing directory: String?) {
        lock.withLock { workDirectory = directory }
        let queue = DispatchQueue(label: "benchmark.interruption")
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: queue)
            source.setEventHandler { stop(signalNumber) }
            source.resume()
            sources.append(source)
        }
    }

    private static func stop(_ signalNumber: Int32) {
        // The flag first, so that whatever the killed child's end sets going stops short of the
        // results.
        let (pid, directory) = lock.withLock { () -> (pid_t?, String?) in
            interrupted = true
            return (child, workDirectory)
        }
        if let pid {
            kill(pid, SIGKILL)  // it inherited SIGINT and SIGTERM ignored
            // Wait until /proc shows it gone or a zombie (done writing, waiting to be reaped).
            for _ in 0..<100 {
                guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                      let state = stat.split(separator: ")").last?.split(separator: " ").first, state != "Z"
                else { break }
                usleep(10_000)
            }
        }
        var removed = false
        if let directory {
            // The run's own threads may still make a file in it for a moment: remove until gone.
            for _ in 0..<20 {
                try? FileManager.default.removeItem(atPath: directory)
                if !FileManager.default.fileExists(atPath: directory) { removed = true; break }
                usleep(20_000)
            }
        }
        let left = directory.map { removed ? ", \($0) removed" : "; \($0) could not be removed: delete it" } ?? ""
        FileHandle.standardError.write(Data("benchmark: interrupted; no results written\(left)\n".utf8))
        _exit(128 + signalNumber)
    }
}

/// What the benchmark ran on, written beside the figures.
struct Machine {
    /// The type of the file system that holds `path`, as /proc/mounts names it ("tmpfs" holds
    /// files in memory: an fsync there reaches no disk): the mount with the longest prefix of
    /// the path's real path.
    static func fileSystem(of path: String) -> String {
        let real = URL(fileURLWithPath: path).resolvingSymlinksInPath().path
        guard let mounts = try? String(contentsOfFile: "/proc/mounts", encoding: .utf8) else { return "unknown" }
        var best: (point: String, type: String)?
        for line in mounts.split(separator: "\n") {
            let fields = line.split(separator: " ")
            guard fields.count >= 3 else { continue }
            let point = unescaped(fields[1])
            let inside = point == "/" || real == point || real.hasPrefix(point + "/")
            if inside && point.count >= (best?.point.count ?? -1) { best = (point, String(fields[2])) }
        }
        return best?.type ?? "unknown"
    }

    /// Whether files there live in memory, where no fsync reaches a disk.
    static func inMemory(_ fileSystem: String) -> Bool { fileSystem == "tmpfs" || fileSystem == "ramfs" }

    /// A mount point as /proc/mounts writes it: a space, tab, newline or backslash as a backslash
    /// and three octal digits (`\040`).
    private static func unescaped(_ field: Substring) -> String {
        let utf8 = Array(field.utf8)
        var bytes: [UInt8] = [], index = 0
        while index < utf8.count {
            if utf8[index] == UInt8(ascii: "\\"), index + 4 <= utf8.count,
               let value = UInt8(String(decoding: utf8[(index + 1)..<(index + 4)], as: UTF8.self), radix: 8) {
                bytes.append(value)
                index += 4
            } else {
                bytes.append(utf8[index])
                index += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `path`, or its nearest ancestor that exists (where a directory to be made would go).
    static func nearestExisting(_ path: String) -> String {
        var url = URL(fileURLWithPath: path)
        while !FileManager.default.fileExists(atPath: url.path) && url.path != "/" { url.deleteLastPathComponent() }
        return url.path
    }

    static func describe() -> [String: Any] {
        var info: [String: Any] = ["cores": ProcessInfo.processInfo.activeProcessorCount]
        // Set by Tools/benchmark.sh: the commit measured (with -dirty for uncommitted changes).
        if let commit = ProcessInfo.processInfo.environment["BENCHMARK_COMMIT"], !commit.isEmpty { info["engine_commit"] = commit }
        if let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
           let line = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
           let colon = line.firstIndex(of: ":") {
            info["cpu"] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        info["memory_gb"] = (Double(ProcessInfo.processInfo.physicalMemory) / 1e9 * 10).rounded() / 10
        if let release = try? String(contentsOfFile: "/etc/os-release", encoding: .utf8),
           let line = release.split(separator: "\n").first(where: { $0.hasPrefix("PRETTY_NAME=") }) {
            info["os"] = line.dropFirst("PRETTY_NAME=".count).trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        info["load_average_at_start"] = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))
            .map { $0.split(separator: " ").prefix(3).joined(separator: " ") } ?? "?"
        return info
    }

    /// `cores=2, cpu=…, …`: the machine on one line, for the progress log and the table's footer.
    static func summary(_ machine: [String: Any]) -> String {
        machine.keys.sorted().map { "\($0)=\(machine[$0] ?? "")" }.joined(separator: ", ")
    }
}

/// CPU seconds (user and system) this process has used so far.
func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &usage)
    func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

/// The peak resident memory of this process in megabytes: VmHWM from /proc/self/status.
/// (getrusage's ru_maxrss survives execve, so a child would report its parent's peak at fork.)
func peakMemoryMB() -> Double {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
          let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
          let kilobytes = line.split(separator: " ").compactMap({ Double($0) }).first
    else { return .nan }
    return kilobytes / 1024
}
