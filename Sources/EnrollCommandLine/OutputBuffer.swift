import ArgumentParser
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

/// Where an `--output FILE` goes. The file is written under a temporary name beside it and
/// renamed over it, so it is checked first: renaming over a device (`/dev/null`), a FIFO or a
/// directory would replace it, and renaming over a symbolic link would replace the link and
/// never write its target.
enum OutputFile {
    /// The path to write: `path`, or the file its symbolic links lead to. Refuses an empty path,
    /// a link that leads nowhere, anything that is not a regular file, and a directory that does
    /// not exist or cannot be written (exit 2, before anything is recorded).
    static func resolve(_ path: String) throws(ValidationError) -> String {
        if path.isEmpty { throw ValidationError("--output is empty; pass --output with a file path") }
        var target = path
        var status = stat()
        if lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFLNK {
            if let resolved = realpath(path, nil) {
                target = String(cString: resolved)
                free(resolved)
            } else {
                // A link to a file not written yet (the usual case for a fresh output), or to
                // something that has no path (a pipe behind /dev/stdout): follow it one step.
                var destination = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                let count = readlink(path, &destination, Int(PATH_MAX))
                guard count > 0 else {
                    throw ValidationError("cannot write \(path): it is a symbolic link that cannot be read; pass --output with a file path")
                }
                let link = String(decoding: destination[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                target = link.hasPrefix("/") ? link : URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(link).path
                if lstat(target, &status) == 0, status.st_mode & S_IFMT == S_IFLNK, stat(target, &status) != 0 {
                    throw ValidationError("cannot write \(path): it is a symbolic link to a file that cannot be reached; pass --output with a file path")
                }
            }
        }
        if stat(target, &status) == 0 {
            switch status.st_mode & S_IFMT {
            case S_IFREG: break
            case S_IFDIR: throw ValidationError("cannot write \(path): it is a directory; pass --output with a file path")
            default:
                throw ValidationError("cannot write \(path): it is not a regular file (a device, pipe or socket); pass --output with a file path, or leave --output out to write to standard output")
            }
        }
        let directory = URL(fileURLWithPath: target).deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw ValidationError("cannot write \(path): the directory \(directory) does not exist; pass --output with a path in an existing directory")
        }
        guard FileManager.default.isWritableFile(atPath: directory) else {
            throw ValidationError("cannot write \(path): the directory \(directory) is not writable; pass --output with a writable path")
        }
        return target
    }
}
