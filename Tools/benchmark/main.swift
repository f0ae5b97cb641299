import Enrollment
import Foundation

// The enrollment engine's benchmark: every figure beside its baseline, measured in one run on
// the same machine, because shared machines are noisy and only ratios compare. See
// BENCHMARKS.md for the latest results and Tools/benchmark.sh for the one command that runs it.

let usage = """
    usage: benchmark --peers DIR [--python PATH --py-peers FILE] [--enroll PATH] [--output FILE]
                     [--smoke] [--repetitions N] [--users N] [--full-users N] [--journal-events N] [--clients N] [--work DIR]
      --peers DIR          directory holding the compiled raw_hmac and raw_sqlite peers
      --python PATH        a Python with pyotp and eventsourcing (pinned in py_peers.py); omit to skip those peers
      --py-peers FILE      ../shared/peers/py_peers.py
      --enroll PATH        the enroll binary (default: beside this one)
      --output FILE        where the JSON of the run goes (default: benchmark-results.json)
      --repetitions N      repetitions of each figure, medians reported (default 3; smoke 1)
      --users N            users for the one-writer NORMAL and group-commit runs (default 10 000, as the issue
                           asks; two commands each); the Python peers' workload is as many, at most 5 000,
                           and ours beside it the same
      --full-users N       users for the one-writer FULL run (default: --users)
      --journal-events N   events in the rebuild's large journal (default 1 000 000, over at most 10 000 users);
                           the smaller journals hold a tenth and a hundredth of them
      --clients N          concurrent callers in the group-commit run (default 64)
      --work DIR           keep the databases the run makes in DIR (default: a directory made in the temporary
                           directory, or in the current one when the temporary one is on tmpfs, where no fsync
                           reaches a disk; removed after, on Ctrl-C too); a DIR on tmpfs is refused
      --smoke              tiny sizes, one repetition: checks that every part runs; goals are not judged
    Other sizes than the defaults are judged against the same goals, but their ratios do not compare with the
    ones in BENCHMARKS.md: the table says so.
    """

struct Options {
    var peers = ""
    var python: String?
    var pyPeers: String?
    var enroll: String?
    var output = "benchmark-results.json"
    var smoke = false
    var repetitions: Int?
    var users: Int?
    var fullUsers: Int?
    var journalEvents: Int?
    var clients: Int?
    var work: String?

    static func parse(_ arguments: [String]) throws -> Options {
        var options = Options()
        var rest = arguments[...]
        func value(_ flag: String) throws -> String {
            guard let value = rest.popFirst() else { throw BenchmarkError("\(flag) needs a value; --help lists the options") }
            return value
        }
        func integer(_ flag: String) throws -> Int {
            let text = try value(flag)
            guard let number = Int(text), number > 0 else { throw BenchmarkError("\(flag) needs a positive whole number, not '\(text)'") }
            return number
        }
        while let flag = rest.popFirst() {
            switch flag {
            case "--peers": options.peers = try value(flag)
            case "--python": options.python = try value(flag)
            case "--py-peers": options.pyPeers = try value(flag)
            case "--enroll": options.enroll = try value(flag)
            case "--output": options.output = try value(flag)
            case "--smoke": options.smoke = true
            case "--repetitions": options.repetitions = try integer(flag)
            case "--users": options.users = try integer(flag)
            case "--full-users": options.fullUsers = try integer(flag)
            case "--journal-events": options.journalEvents = try integer(flag)
            case "--clients": options.clients = try integer(flag)
            case "--work": options.work = try value(flag)
            case "--help", "-h": print(usage); exit(0)
            default: throw BenchmarkError("unknown option '\(flag)'; --help lists the options")
            }
        }
        guard !options.peers.isEmpty else { throw BenchmarkError("--peers DIR is required (Tools/benchmark.sh builds the peers); --help lists the options") }
        for peer in ["raw_hmac", "raw_sqlite"] where !FileManager.default.isExecutableFile(atPath: options.peers + "/" + peer) {
            throw BenchmarkError("\(options.peers)/\(peer) is missing; build it with cc from ../shared/peers (Tools/benchmark.sh does)")
        }
        if (options.python == nil) != (options.pyPeers == nil) { throw BenchmarkError("--python and --py-peers go together") }
        // Checked now, not when the run reaches them minutes later with its results unwritten.
        if let python = options.python, !FileManager.default.isExecutableFile(atPath: python) {
            throw BenchmarkError("--python \(python) is not an executable; give the Python that has the pinned peers (Tools/benchmark.sh makes .venv)")
        }
        if let script = options.pyPeers, !FileManager.default.isReadableFile(atPath: script) {
            throw BenchmarkError("--py-peers \(script) cannot be read; give the path of py_peers.py (../shared/peers)")
        }
        let directory = URL(fileURLWithPath: options.output).deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue, access(directory, W_OK) == 0 else {
            throw BenchmarkError("--output \(options.output): cannot write in \(directory); give a file in a writable directory")
        }
        return options
    }
}

// Child modes: the rebuild runs in its own process (for its peak memory); the others let a
// profiler (perf record) look at one workload alone.
do {
    switch CommandLine.arguments.dropFirst().first {
    case "rebuild-child":
        exit(RebuildChild.run(Array(CommandLine.arguments.dropFirst(2))))
    case "fixture-child":
        // fixture-child DB USERS EVENTS_PER_USER
        let arguments = Array(CommandLine.arguments.dropFirst(2))
        guard arguments.count == 3, let users = Int(arguments[1]), let perUser = Int(arguments[2]) else {
            FileHandle.standardError.write(Data("usage: benchmark fixture-child DB USERS EVENTS_PER_USER\n".utf8))
            exit(2)
        }
        try JournalFixture.make(path: arguments[0], users: users, eventsPerUser: perUser)
        exit(0)
    case "totp-child":
        // totp-child [VERIFICATIONS]: figure 1 alone, ±1-window verifications of a right code per second
        let count = CommandLine.arguments.dropFirst(2).first.flatMap(Int.init) ?? 300_000
        _ = try Workloads.totpVerificationsPerSecond(count / 10)
        print("{\"totp_verifications_per_s\": \(try Workloads.totpVerificationsPerSecond(count))}")
        exit(0)
    case "commands-child":
        // commands-child DB USERS FULL|NORMAL [CLIENTS]: one writer, or group commit with CLIENTS callers
        let arguments = Array(CommandLine.arguments.dropFirst(2))
        guard arguments.count >= 3, let users = Int(arguments[1]), let durability = Durability(rawValue: arguments[2]) else {
            FileHandle.standardError.write(Data("usage: benchmark commands-child DB USERS FULL|NORMAL [CLIENTS]\n".utf8))
            exit(2)
        }
        if let clients = arguments.dropFirst(3).first.flatMap(Int.init) {
            let result = try await Workloads.concurrent(path: arguments[0], clients: clients, users: users, durability: durability)
            print("{\"commands_per_s\": \(result.commandsPerSecond), \"p50_ms\": \(result.p50 * 1000), \"p99_ms\": \(result.p99 * 1000)}")
        } else {
            print("{\"commands_per_s\": \(try Workloads.oneWriter(path: arguments[0], durability: durability, users: users))}")
        }
        exit(0)
    case "growth-child":
        // growth-child SMALL LARGE FULL|NORMAL [SAMPLES]: figure 5's first half alone, confirms
        // alternating between a small and a large journal with caught-up projections (e.g.
        // journal-tiny.sqlite and journal-big.sqlite left in --work by a full run)
        let arguments = Array(CommandLine.arguments.dropFirst(2))
        guard arguments.count >= 3, let durability = Durability(rawValue: arguments[2]) else {
            FileHandle.standardError.write(Data("usage: benchmark growth-child SMALL LARGE FULL|NORMAL [SAMPLES]\n".utf8))
            exit(2)
        }
        let samples = arguments.dropFirst(3).first.flatMap(Int.init) ?? 200
        let latency = try Workloads.confirmLatency(
            paths: (arguments[0], arguments[1]), durability: durability, samples: samples, tag: "child-\(UInt32.random(in: 0...UInt32.max))")
        print("{\"small_ms\": \(latency.small * 1000), \"large_ms\": \(latency.large * 1000), \"ratio\": \(latency.large / latency.small)}")
        exit(0)
    case "status-child":
        // status-child ENROLL DB USER [REPETITIONS]: figure 5's second half alone, `enroll status` as a
        // process beside the sqlite3 CLI (DB: a journal with caught-up projections, e.g. journal-big.sqlite
        // left in --work by a full run)
        let arguments = Array(CommandLine.arguments.dropFirst(2))
        guard arguments.count >= 3 else {
            FileHandle.standardError.write(Data("usage: benchmark status-child ENROLL DB USER [REPETITIONS]\n".utf8))
            exit(2)
        }
        let repetitions = arguments.dropFirst(3).first.flatMap(Int.init) ?? 3
        // Off the main thread, as in the full run: there `Process.waitUntilExit` polls the main run
        // loop every 50 ms.
        let (status, sqlite) = try await Task.detached {
            try Workloads.statusProcess(enroll: arguments[0], database: arguments[1], user: arguments[2], samples: 30, repetitions: repetitions)
        }.value
        print("{\"enroll_status_process_ms\": \(median(status) * 1000), \"sqlite3_cli_process_ms\": \(median(sqlite) * 1000), \"ratio\": \(median(status) / median(sqlite))}")
        exit(0)
    default:
        break
    }
} catch {
    // A child mode's failure (a wrong user, a missing file) is one line and an exit code, as in the full run.
    FileHandle.standardError.write(Data("benchmark: \(error)\n".utf8))
    exit(error is BenchmarkError ? 2 : 3)
}

do {
    let options = try Options.parse(Array(CommandLine.arguments.dropFirst()))
    try await Benchmark(options: options).run()
} catch {
    // A child killed by an interruption fails what ran it: the interruption's handler says what
    // happened and ends the process.
    Interruption.haltIfInterrupted()
    FileHandle.standardError.write(Data("benchmark: \(error)\n".utf8))
    exit(error is BenchmarkError ? 2 : 3)
}
