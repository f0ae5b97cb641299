import ArgumentParser
import Enrollment
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
        if failure == EPIPE { Terminal.readerGone() }
        // Only commands that read (audit, history, activity, export) buffer their output.
        if failure != 0 { throw CLIFailure.output(errno: failure, to: target, readOnly: true) }
    }
}

/// A file an `--output` must never replace, and what it is (for the refusal).
struct ProtectedFile {
    let path: String
    let role: String
}

/// Where an `--output FILE` goes. The file is written under a temporary name beside it and
/// renamed over it, so it is checked first: renaming over a device (`/dev/null`), a FIFO or a
/// directory would replace it, renaming over a symbolic link would replace the link and never
/// write its target, and renaming over the database or the key file would destroy every
/// enrollment.
///
/// The temporary file is created by ``open(_:protecting:mode:)`` before the command runs, so a
/// place that cannot be written is refused before anything is recorded (a reveal nobody saw
/// must not appear in the journal).
final class OutputFile {
    /// The path as given, for messages.
    let path: String
    /// The file written: `path`, or the file its symbolic links lead to.
    let target: String
    /// The named temporary file, or `nil` for an unnamed one (``UnnamedFile``), which a process
    /// killed while writing leaves nowhere.
    private let temporary: String?
    private let descriptor: Int32
    /// Put in place or removed: nothing left to do.
    private var finished = false

    private init(path: String, target: String, temporary: String?, descriptor: Int32) {
        self.path = path
        self.target = target
        self.temporary = temporary
        self.descriptor = descriptor
    }

    /// `--output`'s value as the file to write, or `nil` for stdout: left out, or `-`, as most
    /// tools read it (a file named `-` is `./-`).
    static func named(_ option: String?) -> String? { option == "-" ? nil : option }

    /// A command that did not commit its output leaves no temporary file behind.
    deinit { discard() }

    /// Checks `path` (``resolve(_:protecting:)``) and creates the temporary file beside its
    /// target: with `mode` whatever the umask (0600 for anything that shows a secret), or with
    /// `nil` as any new file is, 0666 less the umask, keeping the mode of a file it replaces (an
    /// operator's umask 077, or a chmod 600, is never widened).
    /// Interrupted (Ctrl-C, a cron job's timeout), the command says that `path` was not written
    /// (with `json`, also as JSON on stdout) and leaves no cut file beside it.
    static func open(_ path: String, protecting protected: [ProtectedFile], mode: mode_t?, json: Bool) throws -> OutputFile {
        let target: String
        do { target = try resolve(path, protecting: protected) } catch { throw CLIFailure.usage(error.message) }
        try checkDirectory(of: target, path: path)
        var existing = stat()
        let replacedMode = stat(target, &existing) == 0 ? existing.st_mode & 0o777 : nil
        let interrupted = "\(path) was not written (a file of that name is left as it was); run the command again"
        // A file that shows a secret is written unnamed where the file system allows it.
        if let mode, let unnamed = UnnamedFile.create(in: UnnamedFile.directory(of: target), mode: mode) {
            InterruptionCleanup.removeOnSignal([], saying: interrupted, json: json)
            return OutputFile(path: path, target: target, temporary: nil, descriptor: unnamed.descriptor)
        }
        let temporary = UnnamedFile.temporaryName(beside: target, suffix: ".partial-\(getpid())")
        unlink(temporary)  // a leftover of a killed run with the same pid
        InterruptionCleanup.removeOnSignal([temporary], saying: interrupted, json: json)
        let descriptor = Foundation.open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode ?? 0o666)
        guard descriptor >= 0 else {
            let reason = String(cString: strerror(errno))
            throw CLIFailure(
                code: "output_unwritable", message: "cannot write \(path): no file can be created beside it (\(reason)); pass --output with a path in a writable directory",
                exitCode: CLIExit.environment)
        }
        // The mode asked for whatever the umask, or that of the file replaced.
        if let forced = mode ?? replacedMode { fchmod(descriptor, forced) }
        return OutputFile(path: path, target: target, temporary: temporary, descriptor: descriptor)
    }

    /// A buffer that writes into the temporary file.
    func buffer() -> OutputBuffer { OutputBuffer(descriptor: descriptor, target: path) }

    func write(_ bytes: [UInt8]) throws {
        let failure = bytes.withUnsafeBytes { Terminal.writeAll($0, to: descriptor) }
        if failure != 0 { throw CLIFailure.output(errno: failure, to: path) }
    }

    /// Makes room for `count` bytes (`posix_fallocate`), so that a disk without it says so now,
    /// before anything is recorded, and with nothing of them written yet (a named temporary
    /// file left by a crash then holds no secret). A file system that cannot reserve space is
    /// written as before.
    func reserve(_ count: Int) throws {
        let failure = posix_fallocate(descriptor, 0, off_t(count))
        if [ENOSPC, EDQUOT, EFBIG, EIO].contains(failure) { throw CLIFailure.output(errno: failure, to: path) }
    }

    /// The file holds `bytes` and nothing else (room reserved beyond them given back).
    func writeWhole(_ bytes: [UInt8]) throws {
        guard lseek(descriptor, 0, SEEK_SET) == 0 else { throw CLIFailure.output(errno: errno, to: path) }
        try write(bytes)
        guard ftruncate(descriptor, off_t(bytes.count)) == 0 else { throw CLIFailure.output(errno: errno, to: path) }
    }

    /// Makes the file durable and puts it in place; on failure the temporary file is removed.
    func commit() throws {
        guard !finished else { return }
        guard fsync(descriptor) == 0 else {
            let failure = errno
            discard()
            throw CLIFailure.output(errno: failure, to: path)
        }
        finished = true
        guard let temporary else {
            let placed = UnnamedFile(descriptor: descriptor).place(at: target)
            let failure = errno
            close(descriptor)
            if !placed { throw CLIFailure.output(errno: failure, to: path) }
            InterruptionCleanup.done()
            try syncDirectory()
            return
        }
        close(descriptor)
        guard rename(temporary, target) == 0 else {
            let failure = errno
            unlink(temporary)
            throw CLIFailure.output(errno: failure, to: path)
        }
        InterruptionCleanup.done()
        // The new name is durable too: after a power cut the file is there under it.
        try syncDirectory()
    }

    /// Syncs the directory that holds the new name. If the disk refuses, the file is in place
    /// but might not survive a power cut: the command fails saying so (exit 3), rather than
    /// report a durable file.
    private func syncDirectory() throws {
        guard let failure = UnnamedFile.syncDirectory(of: target) else { return }
        throw CLIFailure(
            code: "io_error",
            message: "\(path) was written, but its directory could not be synced (\(String(cString: strerror(failure)))), so it might not survive a power cut; check the disk (dmesg) and write it again, or pass --output with a path on another disk",
            exitCode: CLIExit.environment)
    }

    /// Removes the temporary file (the command failed); nothing after ``commit()``.
    func discard() {
        guard !finished else { return }
        finished = true
        close(descriptor)
        if let temporary { unlink(temporary) }
    }

    /// The path to write: `path`, or the file its symbolic links lead to. Refuses an empty path,
    /// a name or a path longer than the system takes, a link that leads nowhere, anything that
    /// is not a regular file, one of `protected` (the database, its `-wal`, `-shm` and
    /// `-journal`, the key file: compared by device and inode, and by path for those that do not
    /// exist yet): exit 2, before anything is recorded. Its directory is checked when the file is
    /// opened (``checkDirectory(of:path:)``).
    static func resolve(_ path: String, protecting protected: [ProtectedFile] = []) throws(ValidationError) -> String {
        if path.isEmpty { throw ValidationError("--output is empty; pass --output with a file path") }
        // The operating system would refuse it only when the file is put in place, after a
        // reveal was recorded: refused here, as `--db` is.
        if let problem = StoreError.lengthProblem(path, named: "--output") { throw ValidationError(problem) }
        try refusePlantedLinks(on: path)
        var target = path
        var status = stat()
        if lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFLNK {
            // Another user's link (planted in /tmp, say) is not followed: the output would
            // replace whatever file that user chose, with this user's rights (the kernel's
            // protected_symlinks rule, which a rename over the target would not apply).
            if status.st_uid != geteuid() {
                throw ValidationError("cannot write \(path): it is a symbolic link owned by another user (uid \(status.st_uid)); pass --output with the path of the file itself")
            }
            if let resolved = realpath(path, nil) {
                target = String(cString: resolved)
                free(resolved)
            } else {
                // A link to a file not written yet (the usual case for a fresh output), or to
                // something that has no path (a pipe behind /dev/stdout): follow it one step.
                guard let link = FileManager.symbolicLinkTarget(path) else {
                    throw ValidationError("cannot write \(path): it is a symbolic link that cannot be read; pass --output with a file path")
                }
                target = link.hasPrefix("/") ? link : URL(fileURLWithPath: path).deletingLastPathComponent().appendingPathComponent(link).path
                if lstat(target, &status) == 0, status.st_mode & S_IFMT == S_IFLNK, stat(target, &status) != 0 {
                    throw ValidationError("cannot write \(path): it is a symbolic link to a file that cannot be reached; pass --output with a file path")
                }
            }
        }
        if stat(target, &status) == 0 {
            switch status.st_mode & S_IFMT {
            case S_IFREG:
                // The file this command's own output goes to (`--output /dev/stdout` with stdout
                // redirected to a file): the rename would put a new file in its place, and the
                // caller's redirect, this command's later lines among them, would write to the
                // old one, now nameless.
                for (descriptor, name) in [(STDOUT_FILENO, "standard output"), (STDERR_FILENO, "standard error")] {
                    var open = stat()
                    if fstat(descriptor, &open) == 0, open.st_dev == status.st_dev, open.st_ino == status.st_ino {
                        throw ValidationError("cannot write \(path): it is the file this command's \(name) goes to, which the output would replace; leave --output out to write to standard output")
                    }
                }
            case S_IFDIR: throw ValidationError("cannot write \(path): it is a directory; pass --output with a file path")
            default:
                throw ValidationError("cannot write \(path): it is not a regular file (a device, pipe or socket); pass --output with a file path, or leave --output out to write to standard output")
            }
        }
        if let file = protected.first(where: { sameFile(target, $0.path) }) {
            throw ValidationError("cannot write \(path): it is \(file.role) (\(file.path)), which the output would replace; pass --output with another path")
        }
        return target
    }

    /// Refuses a `path` that goes, on its way to the file, through a symbolic link another user
    /// planted in a directory every user may write to (sticky, as /tmp): the output would land
    /// in whatever directory that user chose, replacing the file of that name there. Every link
    /// on the way is looked at, those its links lead through too, by the kernel's
    /// `protected_symlinks` rule: a link is followed when it is the caller's, or its directory's
    /// owner's, or its directory is not a shared one. (The link `path` itself names is held to
    /// the stricter rule of ``resolve(_:protecting:)``: the caller's own only.) A part that does
    /// not exist ends the walk: nothing further can be a link yet.
    static func refusePlantedLinks(on path: String) throws(ValidationError) {
        var pending = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        var directory = path.hasPrefix("/") ? "" : FileManager.default.currentDirectoryPath
        var hops = 0
        while !pending.isEmpty {
            let name = pending.removeFirst()
            if name == "." { continue }
            if name == ".." {
                directory = URL(fileURLWithPath: directory.isEmpty ? "/" : directory).deletingLastPathComponent().path
                if directory == "/" { directory = "" }
                continue
            }
            let candidate = directory + "/" + name
            var link = stat()
            guard lstat(candidate, &link) == 0 else { return }
            guard link.st_mode & S_IFMT == S_IFLNK else {
                directory = candidate
                continue
            }
            let named = hops == 0 && pending.isEmpty  // the link `path` names, checked by resolve
            hops += 1
            var parent = stat()
            guard hops <= 40, stat(directory.isEmpty ? "/" : directory, &parent) == 0 else { return }  // a loop: open(2) says ELOOP
            let shared = parent.st_mode & S_ISVTX != 0 && parent.st_mode & S_IWOTH != 0
            if !named, shared, link.st_uid != geteuid(), link.st_uid != parent.st_uid {
                throw ValidationError(
                    "cannot write \(path): it goes through \(candidate), a symbolic link owned by another user (uid \(link.st_uid)) in \(directory.isEmpty ? "/" : directory), which every user may write to; pass --output with a path that does not go through it")
            }
            guard let target = FileManager.symbolicLinkTarget(candidate) else { return }
            if target.hasPrefix("/") { directory = "" }
            pending = target.split(separator: "/", omittingEmptySubsequences: true).map(String.init) + pending
        }
    }


    /// Refuses a `target` whose directory does not exist, is a file or cannot be written: not a command
    /// line to correct but the machine (exit 3, `output_unwritable`, as a file that cannot be
    /// created there is), checked before anything is recorded.
    static func checkDirectory(of target: String, path: String) throws(CLIFailure) {
        let directory = URL(fileURLWithPath: target).deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory)
        if exists, !isDirectory.boolValue {
            throw CLIFailure(
                code: "output_unwritable", message: "cannot write \(path): \(directory) is a file, not a directory; pass --output with a path in an existing directory",
                exitCode: CLIExit.environment)
        }
        guard exists else {
            throw CLIFailure(
                code: "output_unwritable", message: "cannot write \(path): the directory \(directory) does not exist; create it, or pass --output with a path in an existing directory",
                exitCode: CLIExit.environment)
        }
        guard FileManager.default.isWritableFile(atPath: directory) else {
            throw CLIFailure(
                code: "output_unwritable", message: "cannot write \(path): the directory \(directory) is not writable; pass --output with a path in a writable directory",
                exitCode: CLIExit.environment)
        }
    }

    /// Whether `a` and `b` name one file: the same device and inode when both exist, else the
    /// same name in the same (existing) directory.
    static func sameFile(_ a: String, _ b: String) -> Bool {
        var first = stat(), second = stat()
        if stat(a, &first) == 0, stat(b, &second) == 0 { return first.st_dev == second.st_dev && first.st_ino == second.st_ino }
        func canonical(_ path: String) -> String? {
            let url = URL(fileURLWithPath: path)
            guard let directory = realpath(url.deletingLastPathComponent().path, nil) else { return nil }
            defer { free(directory) }
            return String(cString: directory) + "/" + url.lastPathComponent
        }
        guard let left = canonical(a), let right = canonical(b) else { return false }
        return left == right
    }
}
