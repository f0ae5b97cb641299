import Enrollment

/// `enroll status USER [--db PATH] [--json]`, the command scripts and health checks poll, read
/// without the argument parser. swift-argument-parser finds options by reflection, and on this
/// binary its first parse costs more than opening the database and reading the row (dozens of
/// scans of every protocol conformance record; BENCHMARKS.md, "`enroll status` as a process").
///
/// Only that exact shape is taken, and only when it is valid by the same checks the parser runs
/// (the user id, a non-empty database and key file path, no limit variable in the environment, a
/// valid ENROLL_NOW if set); anything else (other options, `--db=PATH`, values starting with '-',
/// help, a bad user id) goes to the parser, so every usage message and refusal still comes from
/// one place.
enum StatusFastPath {
    static func report(_ arguments: [String]) -> StatusReport? {
        guard arguments.first == "status" else { return nil }
        var user: String?, database: String?, json = false
        var rest = arguments.dropFirst()
        while let argument = rest.popFirst() {
            switch argument {
            case "--json":
                guard !json else { return nil }
                json = true
            case "--db":
                guard database == nil, let value = rest.popFirst(), !value.hasPrefix("-") else { return nil }
                database = value
            default:
                guard user == nil, !argument.hasPrefix("-"), argument != "help" else { return nil }
                user = argument
            }
        }
        guard let user, (try? Validation.user(user)) != nil else { return nil }
        guard LimitVariables.all.allSatisfy({ Environment[$0] == nil }) else { return nil }
        do { _ = try GlobalOptions.fixedNow() } catch { return nil }
        let databasePath = database ?? Environment["ENROLL_DB"] ?? "./enrollment.sqlite"
        guard StoreError.databasePathProblem(databasePath, option: database) == nil, Environment["ENROLL_KEY_FILE"] != "" else { return nil }
        return StatusReport(user: user, databasePath: databasePath, json: json, clock: GlobalOptions.clock)
    }
}
