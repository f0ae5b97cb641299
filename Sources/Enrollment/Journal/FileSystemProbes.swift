import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

// What the file system says about a path, for the checks before SQLite opens a database and for
// the messages that name what is in the way (StoreError).

extension FileManager {
    /// The file `path` names, where its symbolic links lead (as SQLite opens it and makes its
    /// side files beside it); `path` itself when it cannot be resolved (nothing there yet).
    static func resolvingLinks(_ path: String) -> String {
        realpath(path, nil).map { resolved in
            defer { free(resolved) }
            return String(cString: resolved)
        } ?? path
    }

    /// Where the symbolic link at `path` leads, as written in it (maybe relative to its
    /// directory); `nil` when `path` is no link.
    public static func symbolicLinkTarget(_ path: String) -> String? {
        var destination = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let count = readlink(path, &destination, Int(PATH_MAX))
        guard count > 0 else { return nil }
        return String(decoding: destination[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Whether nothing exists at `path` (ENOENT), as opposed to something this process may not look at.
    static func isMissing(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) != 0 && errno == ENOENT
    }

    /// Whether `path` names something that exists and is not a directory.
    static func isFile(_ path: String) -> Bool {
        FileManager.default.fileExists(atPath: path) && !isDirectory(path)
    }

    /// Whether `path` names an existing directory (following symbolic links).
    static func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// Whether the file system holding `path` has no block left for an unprivileged writer.
    static func isFullDisk(_ path: String) -> Bool {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        var stats = statvfs()
        guard statvfs(directory, &stats) == 0 else { return false }
        // A file system with no blocks at all (/proc, /sys, some FUSE mounts) is not full: no
        // file can be made there, which the caller reports as such.
        guard stats.f_blocks > 0 else { return false }
        return stats.f_bavail == 0 || (stats.f_files > 0 && stats.f_favail == 0)
    }

    /// The write-ahead log and shared-memory files beside the database at `path` (beside the
    /// file a symbolic link leads to, where SQLite makes them) that exist, belong to other
    /// accounts and this account may not write, when it may write the database itself: another
    /// account's read left them (``StoreError/sideFilesNotWritable(path:files:owner:)``), or nil.
    static func sideFilesNotWritable(_ path: String) -> StoreError? {
        guard access(path, W_OK) == 0 else { return nil }
        let real = FileManager.resolvingLinks(path)
        var owners: [uid_t] = []
        let files = [real + "-wal", real + "-shm"].filter { file in
            var info = stat()
            guard stat(file, &info) == 0, info.st_uid != geteuid(), access(file, W_OK) != 0 else { return false }
            if !owners.contains(info.st_uid) { owners.append(info.st_uid) }
            return true
        }
        guard !files.isEmpty else { return nil }
        return .sideFilesNotWritable(path: path, files: files, owner: owners.map(accountName).joined(separator: " and "))
    }

    /// The name of the account `uid`, or `uid N`.
    public static func accountName(_ uid: uid_t) -> String {
        var entry = passwd(), found: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 4096)
        return getpwuid_r(uid, &entry, &buffer, buffer.count, &found) == 0 && found != nil ? String(cString: entry.pw_name) : "uid \(uid)"
    }

    /// Whether `path` cannot be followed for a loop of symbolic links.
    static func isLinkLoop(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) != 0 && errno == ELOOP
    }

    /// `path`, or, when it is a link, the file it names and that it is where the link leads.
    static func placedName(_ path: String) -> String {
        let file = EnrollmentDatabase.fileToCreate(path)
        return file == path ? path : "\(file) (where the link \(path) leads)"
    }

    static func isReadOnlyLocation(_ path: String) -> Bool {
        let url = URL(fileURLWithPath: path)
        let file = url.path
        let directory = url.deletingLastPathComponent().path
        if FileManager.default.fileExists(atPath: file) && !FileManager.default.isWritableFile(atPath: file) { return true }
        return !FileManager.default.isWritableFile(atPath: directory)
    }
}

/// What a path names when it is not a regular file, for messages that say so rather than
/// treating a pipe as an empty database or a device as a failing disk.
public enum FileKind: Sendable, CustomStringConvertible {
    case directory, characterDevice, blockDevice, pipe, socket, other

    /// The kind of the file with mode `mode` (from `stat`), or nil for a regular file.
    public static func notRegular(_ mode: mode_t) -> FileKind? {
        switch mode & S_IFMT {
        case S_IFREG: nil
        case S_IFDIR: .directory
        case S_IFCHR: .characterDevice
        case S_IFBLK: .blockDevice
        case S_IFIFO: .pipe
        case S_IFSOCK: .socket
        default: .other
        }
    }

    public var description: String {
        switch self {
        case .directory: "a directory"
        case .characterDevice: "a character device"
        case .blockDevice: "a block device"
        case .pipe: "a pipe (FIFO)"
        case .socket: "a socket"
        case .other: "a special file"
        }
    }
}

/// A small file (a key, a secret) read through one descriptor: what is checked (a regular file,
/// at most `limit` bytes) is what is read, however the path changes meanwhile, and a file far
/// larger than a key (a backup given by mistake) is refused without being read whole.
public enum SmallFile: Sendable, Equatable {
    case contents([UInt8])
    /// Not a regular file: a pipe, which reading would wait on, a device, a directory.
    case notRegular(FileKind)
    /// Larger than the limit: its size in bytes.
    case tooLarge(Int64)
    /// It cannot be opened or read: the `errno`.
    case unreadable(Int32)

    public static func read(_ path: String, limit: Int) -> SmallFile {
        // Not blocking on open: a pipe put in its place is refused, not waited on.
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard descriptor >= 0 else { return .unreadable(errno) }
        defer { close(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { return .unreadable(errno) }
        if let kind = FileKind.notRegular(status.st_mode) { return .notRegular(kind) }
        if status.st_size > limit { return .tooLarge(Int64(status.st_size)) }
        // One byte more than the limit is asked for: a file that grew since fstat is seen.
        var bytes = [UInt8](repeating: 0, count: limit + 1)
        var count = 0
        while count < bytes.count {
            let got = bytes.withUnsafeMutableBytes { Glibc.read(descriptor, $0.baseAddress! + count, $0.count - count) }
            if got < 0 {
                if errno == EINTR { continue }
                return .unreadable(errno)
            }
            if got == 0 { break }
            count += got
        }
        if count > limit { return .tooLarge(Int64(count)) }
        return .contents(Array(bytes.prefix(count)))
    }
}
