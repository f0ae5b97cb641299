import Foundation

/// A file created without a name and linked into place once written (Linux `O_TMPFILE`), for
/// files that hold a secret: a process killed while writing one (kill -9, a power cut) leaves
/// nothing behind, where a named temporary file would stay on disk with the secret in it.
///
/// Where the file system cannot make one (`O_TMPFILE` is unsupported, e.g. some network file
/// systems), ``create(in:mode:)`` returns `nil` and the caller writes a named temporary file.
public struct UnnamedFile: Sendable {
    public let descriptor: Int32

    /// An unnamed file already open (from ``create(in:mode:)``).
    public init(descriptor: Int32) { self.descriptor = descriptor }

    /// `O_TMPFILE` (`__O_TMPFILE | O_DIRECTORY`); Glibc's module does not export the macro.
    private static let temporaryFileFlag: Int32 = 0o20_000_000 | O_DIRECTORY

    /// An unnamed file in `directory`, open for writing, with exactly `mode` (whatever the umask).
    public static func create(in directory: String, mode: mode_t) -> UnnamedFile? {
        let descriptor = open(directory, temporaryFileFlag | O_WRONLY | O_CLOEXEC, mode)
        guard descriptor >= 0 else { return nil }
        // Linking it needs /proc (``link(as:)``): without it, the caller's named file.
        guard access("/proc/self/fd/\(descriptor)", F_OK) == 0 else {
            close(descriptor)
            return nil
        }
        fchmod(descriptor, mode)
        return UnnamedFile(descriptor: descriptor)
    }

    /// Gives the file the name `path` (link(2) semantics: fails if `path` exists). The file
    /// must have been written and synced; `errno` says why on failure.
    public func link(as path: String) -> Bool {
        linkat(AT_FDCWD, "/proc/self/fd/\(descriptor)", AT_FDCWD, path, AT_SYMLINK_FOLLOW) == 0
    }

    /// Gives the file the name `path`, replacing a file there (rename(2) semantics): linked
    /// under a temporary name for the moment between the link and the rename.
    public func place(at path: String) -> Bool {
        let temporary = Self.temporaryName(beside: path, suffix: ".link-\(getpid())")
        unlink(temporary)
        guard link(as: temporary) else { return false }
        guard rename(temporary, path) == 0 else {
            let failure = errno
            unlink(temporary)
            errno = failure
            return false
        }
        return true
    }

    /// `path` with `suffix` added, for a temporary file beside it: the file's name shortened
    /// (from its end, by whole Unicode scalars) where the two together would pass the file
    /// system's limit on a name (255 bytes on most), so that any name the file itself may have
    /// works.
    public static func temporaryName(beside path: String, suffix: String) -> String {
        let name = URL(fileURLWithPath: path).lastPathComponent.unicodeScalars
        let scalars = path.unicodeScalars
        let room = nameLimit(in: directory(of: path)) - suffix.utf8.count
        guard name.count <= scalars.count, scalars.suffix(name.count).elementsEqual(name),
              bytes(name) > room, room > 0 else { return path + suffix }
        var kept = name[...]
        while bytes(kept) > room { kept = kept.dropLast() }
        var shortened = String.UnicodeScalarView(scalars.dropLast(name.count))
        shortened.append(contentsOf: kept)
        return String(shortened) + suffix
    }

    private static func bytes(_ scalars: some Sequence<Unicode.Scalar>) -> Int {
        scalars.reduce(0) { $0 + UTF8.width($1) }
    }

    /// The longest file name, in bytes, the file system holding `directory` takes (255 where
    /// it cannot be asked).
    public static func nameLimit(in directory: String) -> Int {
        let limit = pathconf(directory, Int32(_PC_NAME_MAX))
        return limit > 0 ? limit : 255
    }

    /// The directory holding `path` (for ``create(in:mode:)``).
    public static func directory(of path: String) -> String {
        let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
        return directory.isEmpty ? "." : directory
    }

    /// Syncs the directory holding `path`, so that a name just given there survives a power cut
    /// as the file's bytes do. Returns the error (errno) when the disk refuses the sync, else
    /// nil; a directory this account may write in but not open (mode 0300) is not synced, as
    /// nothing can sync it.
    public static func syncDirectory(of path: String) -> Int32? {
        let descriptor = open(directory(of: path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        return fsync(descriptor) == 0 ? nil : errno
    }
}
