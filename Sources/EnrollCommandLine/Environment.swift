import Foundation

/// The process environment, one variable at a time. `ProcessInfo.processInfo.environment`
/// copies every variable into a new dictionary on each use, which a short command like
/// `enroll status` did a dozen times (BENCHMARKS.md, "`enroll status` as a process").
enum Environment {
    static subscript(name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }
}
