import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The file SQLite opens for a path, as its Unix VFS finds it (`unixFullPathname`): made
/// absolute, `.` dropped, links followed, and `..` taken back one component of what is
/// resolved so far, whether or not that component exists. The kernel walks a path the same way,
/// except that it fails at a component that does not exist: for `sub/../x.sqlite` with no
/// `sub`, `stat` and `open` say "no such file" while SQLite opens `x.sqlite`. The checks that
/// run before SQLite's open (the file's kind and header, creating a new one with mode 0600)
/// look at the file SQLite will open, and messages name it. `:memory:` and `file:…` are files
/// of those names here (`./:memory:`), not an in-memory database or a URI.
public enum DatabasePath {
    /// `path` resolved as SQLite resolves it when it has a `..` component; as it is otherwise (the
    /// kernel and SQLite then find the same file, and messages keep the path the user gave).
    public static func resolved(_ path: String) -> String {
        // What SQLite would not open as a file of that name: an in-memory database (a journal
        // that vanishes with the process, though the command said it was recorded), or a URI.
        if path == ":memory:" || path.hasPrefix("file:") { return "./" + path }
        guard path.split(separator: "/", omittingEmptySubsequences: false).contains("..") else { return path }
        var resolved = ""
        var links = 0
        func append(_ elements: String) -> Bool {
            for name in elements.split(separator: "/") where name != "." {
                if name == ".." {
                    if let slash = resolved.lastIndex(of: "/") { resolved = String(resolved[..<slash]) }
                    continue
                }
                let parent = resolved
                resolved += "/" + name
                var status = stat()
                guard lstat(resolved, &status) == 0, status.st_mode & S_IFMT == S_IFLNK else { continue }
                links += 1
                guard links <= 100, let target = try? FileManager.default.destinationOfSymbolicLink(atPath: resolved) else { return false }
                resolved = target.hasPrefix("/") ? "" : parent
                guard append(target) else { return false }
            }
            return true
        }
        if !path.hasPrefix("/") { _ = append(FileManager.default.currentDirectoryPath) }
        guard append(path) else { return path }
        return resolved.isEmpty ? "/" : resolved
    }
}
