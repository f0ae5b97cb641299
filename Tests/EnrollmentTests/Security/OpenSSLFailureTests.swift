import Foundation
import Testing
import TestSupport

/// When OpenSSL cannot compute a MAC, commands that need the master key stop (exit 3, naming
/// OpenSSL) rather than carry on with an empty key id, under which every key file would look
/// like every other. The failure is real: OpenSSL started with only its `null` provider, which
/// implements no algorithm (OPENSSL_CONF, provider(7)).
@Suite("OpenSSL failures fail closed")
struct OpenSSLFailureTests {
    static let nullProvider = """
        openssl_conf = openssl_init
        [openssl_init]
        providers = provider_sect
        [provider_sect]
        null = null_sect
        [null_sect]
        activate = 1

        """

    @Test("Without HMAC, a command that needs the key file is refused with key_derivation_failed, exit 3, and the files unchanged")
    func keyIdCannotBeComputed() throws {
        let workspace = try Workspace()
        #expect(try workspace.enroll(["request", "alice"]).status == 0)
        let configuration = workspace.path("null-provider.cnf")
        try Data(Self.nullProvider.utf8).write(to: URL(fileURLWithPath: configuration))
        let before = directorySnapshot(workspace.directory)
        for arguments in [["confirm", "alice", "123456"], ["reveal", "alice"], ["request", "bob"], ["remove", "alice"]] {
            let (result, object) = try workspace.enrollJSON(arguments, environment: ["OPENSSL_CONF": configuration])
            #expect(result.status == 3, "\(arguments): exit \(result.status) \(result.stderr)")
            #expect(object["error"] as? String == "key_derivation_failed", "\(arguments): \(result.stdout)")
            let plain = try workspace.enroll(arguments, environment: ["OPENSSL_CONF": configuration])
            #expect(plain.stderr.split(separator: "\n").count == 1 && plain.stderr.contains("OpenSSL could not compute the key file's id"), "\(plain.stderr)")
        }
        let after = directorySnapshot(workspace.directory)
        #expect(after == before, "a refused command changed \(Set(after.keys).symmetricDifference(before.keys)) or a file's bytes")
        // The same files still work once OpenSSL does.
        #expect(try workspace.enroll(["reveal", "alice", "--format", "uri"]).status == 0)
    }
}
