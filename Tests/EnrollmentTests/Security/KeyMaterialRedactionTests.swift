@testable import Enrollment
import OneTimePassword
import Testing
import TestSupport

/// The README's promise that secrets never reach logs or errors, for the values that hold key
/// material in memory: a log line (`"\(value)"`), a debug print or failed `#expect`
/// (`String(reflecting:)`) and `dump` (every stored property through `Mirror`) show none of it.
@Suite("key material redaction")
struct KeyMaterialRedactionTests {
    /// Bytes that read as no other number in the renderings (200...231).
    static let masterKey = (0..<32).map { UInt8(200 + $0) }
    static let totpSecret = (0..<20).map { UInt8(150 + 3 * $0) }

    @Test("A key ring shows its key file, never its master key or the key id derived from it")
    func keyRing() throws {
        let ring = try KeyRing(masterKey: Self.masterKey, keyFilePath: "/etc/enroll/enrollment.key")
        let keyIdHex = ring.keyId.map { String(format: "%02x", $0) }.joined()
        for value in [ring as Any, Holder(ring: ring, secret: nil), [ring]] {
            for leak in SecretExposure.leaks(of: Self.masterKey, in: value) { Issue.record("\(leak)") }
            for leak in SecretExposure.leaks(of: ring.keyId, in: value, alsoAs: [keyIdHex]) { Issue.record("key id: \(leak)") }
        }
        #expect(String(describing: ring).contains("/etc/enroll/enrollment.key"))
    }

    @Test("A TOTP secret, alone, as an event's field or inside another value, shows only its length")
    func secret() {
        let secret = Secret(bytes: Self.totpSecret)
        let base32 = Base32.encode(Self.totpSecret)
        for value in [secret as Any, SecretField.open(secret), Holder(ring: nil, secret: secret), [secret]] {
            for leak in SecretExposure.leaks(of: Self.totpSecret, in: value, alsoAs: [base32]) { Issue.record("\(leak)") }
        }
        #expect(String(describing: secret) == "Secret(redacted, 20 bytes)")
    }

    @Test("The check itself sees a secret that is printed: an array of its bytes, and its Base32 text")
    func checkFindsExposure() {
        let base32 = Base32.encode(Self.totpSecret)
        #expect(!SecretExposure.leaks(of: Self.totpSecret, in: Self.totpSecret).isEmpty)
        #expect(!SecretExposure.leaks(of: Self.totpSecret, in: "uri: otpauth://totp/a?secret=\(base32)", alsoAs: [base32]).isEmpty)
        #expect(SecretExposure.form(of: Self.totpSecret, in: "20 bytes, 6 digits, 30 s") == nil)
    }

    struct Holder {
        var ring: KeyRing?
        var secret: Secret?
    }
}
