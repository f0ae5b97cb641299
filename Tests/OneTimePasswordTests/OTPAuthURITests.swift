import OneTimePassword
import Testing

@Suite("otpauth:// key URIs")
struct OTPAuthURITests {
    static let secret = Array("12345678901234567890".utf8)

    @Test("An e-mail account and a spaced issuer are percent-encoded and parse back unchanged")
    func acme() throws {
        let uri = OTPAuthURI(issuer: "ACME Co", account: "alice@example.com", secret: Self.secret, parameters: .default)
        let text = uri.string
        #expect(text == "otpauth://totp/ACME%20Co:alice%40example.com?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=ACME%20Co&algorithm=SHA1&digits=6&period=30")
        #expect(text.contains("%40") && text.contains("%20"))
        #expect(!text.contains(" ") && !text.contains("+") && !text.contains("@"))
        #expect(try OTPAuthURI(parsing: text) == uri)
    }

    @Test("A non-ASCII issuer is UTF-8 percent-encoded and parses back unchanged")
    func zurich() throws {
        let parameters = OTPParameters(algorithm: .sha256, digits: 8, period: 60)
        let uri = OTPAuthURI(issuer: "Zürich Bank", account: "alice@example.com", secret: Self.secret, parameters: parameters)
        let text = uri.string
        #expect(text.hasPrefix("otpauth://totp/Z%C3%BCrich%20Bank:alice%40example.com?"))
        #expect(text.contains("&issuer=Z%C3%BCrich%20Bank"))
        #expect(text.contains("algorithm=SHA256") && text.contains("digits=8") && text.contains("period=60"))
        #expect(text.unicodeScalars.allSatisfy { $0.isASCII } && !text.contains(" "))
        #expect(try OTPAuthURI(parsing: text) == uri)
    }

    @Test("Reserved characters in issuer and account survive a round trip", arguments: [
        ("A:B Corp", "user:name"), ("C++ & Co", "a+b=c?d#e/f"), ("100% Sure", "ümlaut ü"), ("", "bare-account"),
    ])
    func reservedCharacters(issuer: String, account: String) throws {
        let uri = OTPAuthURI(issuer: issuer, account: account, secret: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], parameters: .default)
        #expect(try OTPAuthURI(parsing: uri.string) == uri)
    }

    @Test("URIs written by other tools parse: defaults, %3A separator, form-encoded spaces, lower-case algorithm")
    func foreignURIs() throws {
        let minimal = try OTPAuthURI(parsing: "otpauth://totp/Example:alice@google.com?secret=JBSWY3DPEHPK3PXP&issuer=Example")
        #expect(minimal.issuer == "Example" && minimal.account == "alice@google.com")
        #expect(minimal.parameters == .default)
        #expect(minimal.secret == Base32.decode("JBSWY3DPEHPK3PXP"))

        let encodedColon = try OTPAuthURI(parsing: "otpauth://totp/ACME%20Co%3Ajohn.doe%40email.com?secret=jbswy3dpehpk3pxp&algorithm=sha512&digits=8&period=45")
        #expect(encodedColon.issuer == "ACME Co" && encodedColon.account == "john.doe@email.com")
        #expect(encodedColon.parameters == OTPParameters(algorithm: .sha512, digits: 8, period: 45))

        let plus = try OTPAuthURI(parsing: "otpauth://totp/Big%20Corp:%20bob?issuer=Big+Corp&secret=JBSWY3DPEHPK3PXP")
        #expect(plus.issuer == "Big Corp" && plus.account == "bob")
    }

    @Test("Broken URIs are refused with a stable code", arguments: [
        ("https://totp/x?secret=JBSWY3DP", "otpauth.not_otpauth"),
        ("otpauth://hotp/x?secret=JBSWY3DP&counter=1", "otpauth.unsupported_type"),
        ("otpauth://totp/?secret=JBSWY3DP", "otpauth.missing_label"),
        ("otpauth://totp/x?issuer=A", "otpauth.missing_secret"),
        ("otpauth://totp/x?secret=JBSW1Y3DP", "otpauth.invalid_secret"),
        ("otpauth://totp/A:x?secret=JBSWY3DP&issuer=B", "otpauth.issuer_mismatch"),
        ("otpauth://totp/x?secret=JBSWY3DP&algorithm=MD5", "otpauth.invalid_algorithm"),
        ("otpauth://totp/x?secret=JBSWY3DP&digits=six", "otpauth.invalid_digits"),
        ("otpauth://totp/x?secret=JBSWY3DP&digits=10", "otpauth.otp.invalid_digits"),
        ("otpauth://totp/x?secret=JBSWY3DP&period=0", "otpauth.otp.invalid_period"),
        ("otpauth://totp/x?secret=JBSWY3DP&secret=JBSWY3DP", "otpauth.duplicate_parameter"),
        ("otpauth://totp/x%2?secret=JBSWY3DP", "otpauth.malformed_percent_encoding"),
        ("otpauth://totp/x%FF?secret=JBSWY3DP", "otpauth.malformed_percent_encoding"),
    ])
    func refused(text: String, code: String) {
        do {
            _ = try OTPAuthURI(parsing: text)
            Issue.record("\(text) parsed but should have failed with \(code)")
        } catch let error as OTPAuthURIError {
            #expect(error.code == code)
            #expect(!error.message.isEmpty)
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test("The secret in the URI is the Base32 of the secret bytes, without padding")
    func secretEncoding() {
        let uri = OTPAuthURI(issuer: "I", account: "a", secret: Array("f".utf8), parameters: .default)
        #expect(uri.string.contains("secret=MY&"))
    }
}
