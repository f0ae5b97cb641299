import Foundation
import Testing

/// OpenSSL's libcrypto is loaded when a command first needs it (Sources/COpenSSL): `enroll
/// status` starts without mapping and relocating it; a command that seals or opens a secret
/// loads it and works as before; and where it cannot be loaded, that command stops the way the
/// dynamic loader would have stopped every command, with the journal untouched.
@Suite("libcrypto is loaded on first use")
struct LazyLibcryptoTests {
    /// Whether glibc's `LD_DEBUG=files` trace (on standard error) shows libcrypto being opened.
    static func loadedLibcrypto(_ stderr: String) -> Bool {
        stderr.split(separator: "\n").contains { $0.contains("file=libcrypto.so.3") }
    }

    @Test("status and --version never load libcrypto; request and confirm do, and work")
    func loadedOnlyWhenNeeded() throws {
        let workspace = try Workspace()
        let trace = ["LD_DEBUG": "files"]
        let (request, json) = try workspace.enrollJSON(["request", "alice"], environment: trace)
        #expect(request.status == 0, "\(request.stderr)")
        #expect(Self.loadedLibcrypto(request.stderr), "request seals a secret: libcrypto must be loaded")
        let secret = try #require((json["otpauthURI"] as? String).flatMap(secretParameter(of:)), "\(request.stdout)")
        let confirm = try workspace.enroll(["confirm", "alice", try Oathtool.code(base32Secret: secret)])
        #expect(confirm.status == 0, "\(confirm.stderr)")

        let status = try workspace.enroll(["status", "alice"], environment: trace)
        #expect(status.status == 0 && status.stdout.contains("status: active"), "\(status.stdout)\(status.stderr)")
        #expect(!Self.loadedLibcrypto(status.stderr), "status needs no cryptography")
        let version = try workspace.enroll(["--version"], environment: trace)
        #expect(version.status == 0 && !Self.loadedLibcrypto(version.stderr))
    }

    @Test("without a loadable libcrypto: status still answers; reveal stops with exit 127 and one line, the journal unchanged")
    func unloadable() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "alice"]).status == 0)
        // A file by that name that is no library, found first through LD_LIBRARY_PATH.
        let libraries = workspace.path("broken-libraries")
        try FileManager.default.createDirectory(atPath: libraries, withIntermediateDirectories: true)
        try Data("not a shared object".utf8).write(to: URL(fileURLWithPath: libraries + "/libcrypto.so.3"))
        let broken = ["LD_LIBRARY_PATH": libraries]

        let status = try workspace.enroll(["status", "alice"], environment: broken)
        #expect(status.status == 0 && status.stdout.contains("status: pending"), "\(status.stdout)\(status.stderr)")

        let before = workspace.databaseBytes()
        let reveal = try workspace.enroll(["reveal", "alice", "--format", "uri"], environment: broken)
        #expect(reveal.status == 127)
        #expect(reveal.stdout.isEmpty)
        let lines = reveal.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(reveal.stderr)")
        #expect(reveal.stderr.hasPrefix("enroll: error while loading shared libraries: libcrypto.so.3:"), "\(reveal.stderr)")
        #expect(reveal.stderr.contains("install OpenSSL 3"), "\(reveal.stderr)")
        #expect(workspace.databaseBytes() == before, "a command stopped for want of libcrypto wrote nothing")

        // The same command with the system's libcrypto answers.
        let again = try workspace.enroll(["reveal", "alice", "--format", "uri"])
        #expect(again.status == 0 && again.stdout.hasPrefix("otpauth://totp/"), "\(again.stdout)\(again.stderr)")
    }
}
