import OneTimePassword
import Testing
import TestSupport

/// An `otpauth://` URI holds the TOTP secret; only its `string` (the QR code's payload) may
/// show it. Its description, reflection and parse errors must not.
@Suite("otpauth URI redaction")
struct SecretRedactionTests {
    /// RFC 4226 Appendix D's secret; its Base32 text is RFC 4648's encoding of those bytes.
    static let secret = Array("12345678901234567890".utf8)
    static let base32 = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

    @Test("Printing, debug-printing or dumping a URI shows issuer, account and settings but not the secret")
    func uriIsRedacted() {
        let uri = OTPAuthURI(issuer: "ACME Co", account: "alice@example.com", secret: Self.secret, parameters: .default)
        #expect(uri.string.contains("secret=\(Self.base32)"), "the URI text itself still carries the secret")
        for leak in SecretExposure.leaks(of: Self.secret, in: uri, alsoAs: [Self.base32]) {
            Issue.record("\(leak)")
        }
        // Also inside another value, as a log line or a failing test would show a struct holding it.
        for leak in SecretExposure.leaks(of: Self.secret, in: [uri], alsoAs: [Self.base32]) {
            Issue.record("\(leak)")
        }
        let described = String(describing: uri)
        #expect(described.contains("alice@example.com") && described.contains("ACME Co") && described.contains("20 bytes"), "\(described)")
    }

    @Test("A broken %-escape in secret= is reported by the parameter's name, never with the secret's text", arguments: [
        "otpauth://totp/a?secret=\(base32)%ZZ",
        "otpauth://totp/a?issuer=ACME&secret=\(base32)%E9",  // not UTF-8 once decoded
        "otpauth://totp/a?secret=\(base32)%4",
    ])
    func brokenEscapeInSecret(uri: String) {
        #expect(throws: OTPAuthURIError.malformedPercentEncoding(parameter: "secret")) { try OTPAuthURI(parsing: uri) }
        do {
            _ = try OTPAuthURI(parsing: uri)
        } catch let error as OTPAuthURIError {
            #expect(error.message.contains("'secret'"), "\(error.message)")
            #expect(!error.message.contains(String(Self.base32.prefix(8))), "\(error.message)")
            #expect(!String(reflecting: error).contains(String(Self.base32.prefix(8))), "\(String(reflecting: error))")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test("A broken %-escape elsewhere names where it is: the label, another parameter, or a parameter's name")
    func brokenEscapeElsewhere() {
        let cases: [(String, String, String)] = [
            ("otpauth://totp/ACME:al%GGice?secret=\(Self.base32)", "label", "The label"),
            ("otpauth://totp/a?secret=\(Self.base32)&issuer=AC%2", "issuer", "'issuer'"),
            ("otpauth://totp/a?secret=\(Self.base32)&is%ZZsuer=ACME", "", "A parameter name"),
        ]
        for (uri, parameter, wording) in cases {
            #expect(throws: OTPAuthURIError.malformedPercentEncoding(parameter: parameter), "\(uri)") { try OTPAuthURI(parsing: uri) }
            #expect(OTPAuthURIError.malformedPercentEncoding(parameter: parameter).message.contains(wording))
        }
    }
}
