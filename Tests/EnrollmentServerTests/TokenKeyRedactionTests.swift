import Enrollment
import EnrollmentServer
import Testing
import TestSupport

/// Whoever holds the HS256 secret can sign a token for any user: neither the key nor the
/// verifier built from it shows the secret when printed, debug-printed or dumped.
@Suite("token key redaction")
struct TokenKeyRedactionTests {
    static let secret = Array("token-key-redaction-secret-0123456789abcdef".utf8)

    @Test("An HS256 token key shows its length, not its secret")
    func tokenKey() {
        let key = TokenKey.hmacSHA256(secret: Self.secret)
        for value in [key as Any, [key], Optional(key) as Any] {
            for leak in SecretExposure.leaks(of: Self.secret, in: value) { Issue.record("\(leak)") }
        }
        #expect(String(describing: key).contains("\(Self.secret.count) bytes"))
        #expect(String(describing: TokenKey.publicKeyPEM("-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n")).contains("PEM"))
    }

    @Test("The verifier and the issuer made with the secret do not show it either")
    func verifierAndIssuer() async throws {
        let verifier = try await TokenVerifier.make(.hmacSHA256(secret: Self.secret), clock: FixedClock(1_764_421_576))
        let issuer = await TokenIssuer(secret: Self.secret)
        for value in [verifier as Any, issuer as Any] {
            for leak in SecretExposure.leaks(of: Self.secret, in: value) { Issue.record("\(leak)") }
        }
    }
}
