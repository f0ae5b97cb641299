import Enrollment
import EnrollmentServer
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import Testing
import TestSupport

@Suite("Bearer JWT authentication")
struct AuthenticationTests {
    struct Claims: JWTPayload {
        var sub: SubjectClaim
        var exp: ExpirationClaim
        func verify(using algorithm: some JWTAlgorithm) async throws {}
    }

    static func base64URL(_ data: Data) -> String { JWT.base64URL(data) }

    /// An unsecured JWT (RFC 7519 §6): header alg "none", empty signature.
    static func unsecured(user: String, exp: UnixTime) -> String {
        base64URL(Data(#"{"alg":"none","typ":"JWT"}"#.utf8)) + "." + base64URL(Data(#"{"sub":"\#(user)","exp":\#(exp)}"#.utf8)) + "."
    }

    /// `tokenSent`: a token was sent and refused, so the challenge says it is invalid (RFC 6750 §3).
    static func expectUnauthenticated(_ response: TestResponse, _ comment: Comment? = nil, tokenSent: Bool = true) {
        #expect(response.status == .unauthorized, comment)
        #expect(response["code"] == "unauthenticated", comment)
        #expect(response.headers[.wwwAuthenticate] == (tokenSent ? #"Bearer error="invalid_token""# : "Bearer"), comment)
    }

    @Test("no token, a malformed header, a bad signature, an expired token or alg none: 401")
    func refusals() async throws {
        let harness = try await Harness()
        let valid = try await harness.token("alice")
        let otherKey = await TokenIssuer(secret: Array("another-secret-that-is-long-enough-1234".utf8))
        let forged = try await otherKey.token(for: "alice", expiresAt: harness.clock.now() + 600)
        let expired = try await harness.token("alice", lifetime: -1)
        let none = Self.unsecured(user: "alice", exp: harness.clock.now() + 600)
        var characters = Array(valid)
        characters[characters.count - 3] = characters[characters.count - 3] == "A" ? "B" : "A"
        let tampered = String(characters)
        try await harness.test { client in
            Self.expectUnauthenticated(try await client.request(.get, token: nil), "no token", tokenSent: false)
            Self.expectUnauthenticated(
                try await client.request(.get, token: nil, headers: [.authorization: "Basic YWxpY2U6cGFzcw=="]), "basic", tokenSent: false)
            for (name, token) in [("forged", forged), ("expired", expired), ("none", none), ("tampered", tampered), ("junk", "a.b.c")] {
                Self.expectUnauthenticated(try await client.request(.post, token: token, json: #"{"action":"INIT"}"#), "\(name)")
            }
            #expect(try await client.request(.get, Client.totp + "/status", token: valid).status == .ok)
            #expect(try harness.service.load("alice").version == 0)
        }
        // The access line says why each was refused (never the token), with the code.
        let refused = harness.logs.all.split(separator: "\n").filter { $0.contains("status=401") }
        #expect(refused.count == 7, "\(refused)")
        for reason in ["no Authorization header", "the token has expired", "the token's signature or claims are not valid", "the token is unsigned (algorithm 'none'); this server accepts HS256 tokens only"] {
            #expect(refused.contains { $0.contains("code=unauthenticated") && $0.contains("reason=\"\(reason)") }, "\(reason): \(refused)")
        }
        for token in [valid, forged, expired, tampered] { #expect(!harness.logs.all.contains(token)) }
    }

    @Test("a token whose exp is a number too large for any date (1e400, valid JSON) is refused as such, not as text that is not JSON; its signature is never checked")
    func hugeNumberClaim() async throws {
        let harness = try await Harness()
        let claims = Self.base64URL(Data(#"{"sub":"alice","exp":1e400}"#.utf8))
        let token = Self.base64URL(Data(#"{"alg":"HS256","typ":"JWT"}"#.utf8)) + "." + claims + "." + Self.base64URL(Data(repeating: 7, count: 32))
        try await harness.test { client in
            let response = try await client.request(.get, Client.totp + "/status", token: token)
            Self.expectUnauthenticated(response, "1e400")
            #expect(response["message"]?.contains("a number too large to read") == true, "\(response.text)")
        }
    }

    @Test("--jwt-leeway's seconds stretch exp and nbf for clocks that disagree, no further")
    func leeway() async throws {
        let harness = try await Harness()
        let now = harness.clock.now()
        let early = try await harness.issuer.token(for: "alice", expiresAt: now + 600, notBefore: now + 20)
        let late = try await harness.issuer.token(for: "alice", expiresAt: now - 20)
        let tooEarly = try await harness.issuer.token(for: "alice", expiresAt: now + 600, notBefore: now + 40)
        try await harness.test(accepting: TokenAcceptance(leeway: 30)) { client in
            #expect(try await client.request(.get, Client.totp + "/status", token: early).status == .ok)
            #expect(try await client.request(.get, Client.totp + "/status", token: late).status == .ok)
            Self.expectUnauthenticated(try await client.request(.get, Client.totp + "/status", token: tooEarly))
        }
        try await harness.test { client in
            Self.expectUnauthenticated(try await client.request(.get, Client.totp + "/status", token: early), "no leeway")
            Self.expectUnauthenticated(try await client.request(.get, Client.totp + "/status", token: late), "no leeway")
        }
    }

    /// An HS256 JWT over `payload` as written (duplicates kept), signed by openssl, not JWTKit.
    static func signedWithOpenSSL(payload: String, header: String = #"{"alg":"HS256","typ":"JWT"}"#) throws -> String {
        try signedWithOpenSSL(payload: Data(payload.utf8), header: header)
    }

    /// The same over the claims' bytes as given (another encoding than UTF-8, say).
    static func signedWithOpenSSL(payload: Data, header: String = #"{"alg":"HS256","typ":"JWT"}"#) throws -> String {
        try JWT.signedByOpenSSL(payload: payload, header: header, key: Harness.secret)
    }

    @Test("a correctly signed token whose subject cannot be a user id (a user store's DOMAIN/alice, a backslash, a space at an end, over 256 bytes) is 403 unusable_subject naming why (the access log too), not 401: another token would carry the same subject")
    func unusableSubject() async throws {
        let harness = try await Harness()
        let exp = harness.clock.now() + 600
        try await harness.test { client in
            for subject in ["SECONDARY/alice", #"corp\\alice"#, " lead", String(repeating: "a", count: 257), "ad\u{200D}min"] {
                let token = try Self.signedWithOpenSSL(payload: #"{"sub":"\#(subject)","exp":\#(exp)}"#)
                let response = try await client.request(.get, Client.totp + "/status", token: token)
                #expect(response.status == .forbidden, "\(subject.prefix(20))")
                #expect(response["code"] == "unusable_subject", "\(subject.prefix(20))")
                #expect(response["message"]?.contains("the token is valid, but its subject cannot be used as a user id here") == true, "\(response["message"] ?? "")")
                // The reason whole, the rule in the description: nothing cut mid-word.
                #expect(response["message"]?.hasSuffix(")") == true && response["message"]?.contains("; use") == false, "\(response["message"] ?? "")")
            }
            // A subject only a first enrollment refuses (as a new id): INIT says so as well, 403.
            for subject in ["(bob)", "ali\u{E000}ce"] {
                let token = try Self.signedWithOpenSSL(payload: #"{"sub":"\#(subject)","exp":\#(exp)}"#)
                let response = try await client.action("INIT", token: token)
                #expect(response.status == .forbidden && response["code"] == "unusable_subject", "\(subject): \(response.text)")
            }
            // The access log says why, as for a 401: what the operator takes to the identity provider.
            let refused = harness.logs.all.split(separator: "\n").filter { $0.contains("code=unusable_subject") }
            #expect(refused.count == 7 && refused.allSatisfy { $0.contains("reason=\"") }, "\(refused)")
        }
    }

    @Test("a correctly signed token without exp or sub, or with one of another type, is 401 naming that claim; signed with another key it only says the signature or claims are not valid")
    func missingClaimNamed() async throws {
        let harness = try await Harness()
        let exp = harness.clock.now() + 600
        let cases: [(payload: String, says: String)] = [
            (#"{"sub":"alice"}"#, "no expiry (exp)"),
            (#"{"sub":"alice","exp":"\#(exp)"}"#, "expiry (exp) is not a number"),
            (#"{"exp":\#(exp)}"#, "names no user (sub)"),
            (#"{"sub":7,"exp":\#(exp)}"#, "subject (sub) is not a string"),
            (#"{"sub":"alice","exp":\#(exp),"nbf":"0"}"#, "not-before time (nbf) is not a number"),
            (#"{"sub":"alice","exp":\#(exp),"iat":"x"}"#, "issue time (iat) is not a number"),
            (#"{"sub":"alice","exp":\#(exp),"iat":null}"#, "issue time (iat) is not a number"),
            (#"{"sub":"alice","exp":\#(exp),"nbf":null}"#, "not-before time (nbf) is not a number"),
        ]
        try await harness.test { client in
            for (payload, says) in cases {
                let response = try await client.request(.get, Client.totp + "/status", token: try Self.signedWithOpenSSL(payload: payload))
                Self.expectUnauthenticated(response, "\(payload)")
                #expect(response["message"]?.contains(says) == true, "\(payload): \(response["message"] ?? "")")
            }
            // The same claims under a signature this server's key did not make: nothing is told.
            var forged = try Self.signedWithOpenSSL(payload: #"{"sub":"alice"}"#)
            forged.removeLast(2)
            forged += forged.hasSuffix("A") ? "BA" : "AA"
            let response = try await client.request(.get, Client.totp + "/status", token: forged)
            Self.expectUnauthenticated(response, "forged without exp")
            #expect(response["message"]?.contains("signature or claims are not valid") == true, "\(response["message"] ?? "")")
        }
    }

    @Test("a correctly signed token naming 'sub' twice is 401 (RFC 7519 §4), the same token without the duplicate is accepted")
    func duplicateClaims() async throws {
        let harness = try await Harness()
        let exp = harness.clock.now() + 600
        let single = try Self.signedWithOpenSSL(payload: #"{"sub":"alice","exp":\#(exp)}"#)
        let twice = try Self.signedWithOpenSSL(payload: #"{"sub":"alice","exp":\#(exp),"sub":"bob"}"#)
        try await harness.test { client in
            #expect(try await client.request(.get, Client.totp + "/status", token: single).status == .ok)
            let response = try await client.request(.get, Client.totp + "/status", token: twice)
            Self.expectUnauthenticated(response, "duplicate sub")
            #expect(response["message"]?.contains("twice") == true)
        }
    }

    @Test("claims in UTF-16 (which JWTKit's decoder would read, keeping the first of two 'sub') are 401; after a UTF-8 byte order mark a duplicate is still found")
    func claimsNotInUTF8() async throws {
        let harness = try await Harness()
        let exp = harness.clock.now() + 600
        let twice = #"{"sub":"alice","exp":\#(exp),"sub":"bob"}"#, single = #"{"sub":"alice","exp":\#(exp)}"#
        try await harness.test { client in
            for encoding in [String.Encoding.utf16, .utf16LittleEndian, .utf16BigEndian] {
                for claims in [twice, single] {
                    let token = try Self.signedWithOpenSSL(payload: try #require(claims.data(using: encoding)))
                    let response = try await client.request(.get, Client.totp + "/status", token: token)
                    Self.expectUnauthenticated(response, "\(encoding) \(claims)")
                    #expect(response["message"]?.contains("not JSON in UTF-8") == true, "\(response["message"] ?? "")")
                }
            }
            let marked = try Self.signedWithOpenSSL(payload: Data([0xEF, 0xBB, 0xBF]) + Data(twice.utf8))
            let response = try await client.request(.get, Client.totp + "/status", token: marked)
            Self.expectUnauthenticated(response, "byte order mark, duplicate sub")
            #expect(response["message"]?.contains("twice") == true, "\(response["message"] ?? "")")
        }
    }

    @Test("a correctly signed token is refused (401) when its header marks an extension critical (RFC 7515 §4.1.11) or when it is spelled with padding, other characters than base64url's, or non-canonical base64url")
    func strictCompactForm() async throws {
        let harness = try await Harness()
        let exp = harness.clock.now() + 600
        let plain = try Self.signedWithOpenSSL(payload: #"{"sub":"alice","exp":\#(exp)}"#)
        let critical = try Self.signedWithOpenSSL(payload: #"{"sub":"alice","exp":\#(exp)}"#, header: #"{"alg":"HS256","crit":["foo"],"foo":1}"#)
        try await harness.test { client in
            #expect(try await client.request(.get, Client.totp + "/status", token: plain).status == .ok)
            let refusedCritical = try await client.request(.get, Client.totp + "/status", token: critical)
            Self.expectUnauthenticated(refusedCritical, "crit")
            #expect(refusedCritical["message"]?.contains("(crit)") == true, "\(refusedCritical["message"] ?? "")")
            // The signature (32 bytes: 43 characters) ends in a character whose two low bits
            // carry no data; setting them spells the same bytes another way (RFC 4648 §3.5).
            let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
            let last = try #require(alphabet.firstIndex(of: plain.last!))
            let spareBits = String(plain.dropLast()) + String(alphabet[last | 1])
            for (name, spelling) in [("padded", plain + "="), ("padded twice", plain + "=="), ("space", plain.replacingOccurrences(of: ".", with: ". ")),
                                     ("spare bits set", spareBits), ("a length no bytes give", plain + "AA"),
                                     ("plus", plain.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/") + (plain.contains("-") || plain.contains("_") ? "" : "+"))] {
                let refused = try await client.request(.get, Client.totp + "/status", token: spelling)
                Self.expectUnauthenticated(refused, Comment(rawValue: name))
                #expect(refused["message"]?.contains("compact form") == true, "\(name): \(refused["message"] ?? "")")
            }
        }
    }

    @Test("a token expires with the server's clock")
    func expiry() async throws {
        let harness = try await Harness()
        let token = try await harness.token("alice", lifetime: 60)
        try await harness.test { client in
            #expect(try await client.request(.get, Client.totp + "/status", token: token).status == .ok)
            harness.clock.advance(by: 61)
            Self.expectUnauthenticated(try await client.request(.get, Client.totp + "/status", token: token))
        }
    }

    @Test("a token whose nbf, or whose iat, is still ahead (past the leeway) is refused until the server's clock reaches it")
    func notBefore() async throws {
        let harness = try await Harness()
        let now = harness.clock.now()
        let early = try await harness.issuer.token(for: "alice", expiresAt: now + 600, notBefore: now + 30)
        let issuedAhead = try Self.signedWithOpenSSL(payload: #"{"sub":"alice","exp":\#(now + 600),"iat":\#(now + 60)}"#)
        let issuedWithinLeeway = try Self.signedWithOpenSSL(payload: #"{"sub":"alice","exp":\#(now + 600),"iat":\#(now + 20)}"#)
        try await harness.test(accepting: TokenAcceptance(leeway: 30)) { client in
            #expect(try await client.request(.get, Client.totp + "/status", token: issuedWithinLeeway).status == .ok)
            let ahead = try await client.request(.get, Client.totp + "/status", token: issuedAhead)
            Self.expectUnauthenticated(ahead)
            #expect(ahead["message"]?.contains("issue time (iat) is ahead") == true, "\(ahead.text)")
        }
        try await harness.test { client in
            let refused = try await client.request(.get, Client.totp + "/status", token: early)
            Self.expectUnauthenticated(refused)
            #expect(refused["message"]?.contains("not valid yet") == true, "\(refused.text)")
            harness.clock.advance(by: 31)
            #expect(try await client.request(.get, Client.totp + "/status", token: early).status == .ok)
            harness.clock.advance(by: 30)
            #expect(try await client.request(.get, Client.totp + "/status", token: issuedAhead).status == .ok)
        }
    }

    @Test("with an issuer and an audience configured, a token must name both; without them neither is looked at")
    func issuerAndAudience() async throws {
        let harness = try await Harness()
        let expires = harness.clock.now() + 600
        func token(iss: String?, aud: String?) async throws -> String {
            try await harness.issuer.token(for: "alice", expiresAt: expires, acceptance: TokenAcceptance(issuer: iss, audience: aud))
        }
        let right = try await token(iss: "https://idp.example", aud: "enroll")
        // (what is wrong, the token, the claim the refusal names)
        let cases: [(String, String, String)] = [
            ("no iss or aud", try await token(iss: nil, aud: nil), "(iss)"),
            ("other issuer", try await token(iss: "https://evil.example", aud: "enroll"), "(iss)"),
            ("no audience", try await token(iss: "https://idp.example", aud: nil), "(aud)"),
            ("other audience", try await token(iss: "https://idp.example", aud: "payroll"), "(aud)"),
        ]
        let acceptance = TokenAcceptance(issuer: "https://idp.example", audience: "enroll")
        try await harness.test(accepting: acceptance) { client in
            #expect(try await client.request(.get, Client.totp + "/status", token: right).status == .ok)
            for (name, token, claim) in cases {
                let response = try await client.request(.get, Client.totp + "/status", token: token)
                Self.expectUnauthenticated(response, "\(name)")
                #expect(response["message"]?.contains(claim) == true, "\(name): \(response.text)")
            }
        }
        // A server not configured with them accepts all of these tokens.
        let everyToken = cases.map { ($0.0, $0.1) } + [("right", right)]
        try await harness.test { client in
            for (name, token) in everyToken {
                let status = try await client.request(.get, Client.totp + "/status", token: token).status
                #expect(status == .ok, "\(name)")
            }
        }
    }

    @Test("RS256 with a public key: a token signed by the private key is accepted, HS256 with the public key as secret is not")
    func rs256() async throws {
        let harness = try await Harness()
        let privatePath = harness.directory.appendingPathComponent("rsa.pem").path
        try run("openssl", ["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", privatePath])
        let publicPEM = try run("openssl", ["pkey", "-in", privatePath, "-pubout"])
        let signer = JWTKeyCollection()
        await signer.add(rsa: try Insecure.RSA.PrivateKey(pem: String(contentsOfFile: privatePath, encoding: .utf8)), digestAlgorithm: .sha256)
        let exp = ExpirationClaim(value: Date(timeIntervalSince1970: TimeInterval(harness.clock.now() + 600)))
        let good = try await signer.sign(Claims(sub: "alice", exp: exp))
        let confused = JWTKeyCollection()
        await confused.add(hmac: HMACKey(from: publicPEM), digestAlgorithm: .sha256)
        let confusion = try await confused.sign(Claims(sub: "alice", exp: exp))
        let none = Self.unsecured(user: "alice", exp: harness.clock.now() + 600)
        try await harness.test(key: .publicKeyPEM(publicPEM)) { client in
            #expect(try await client.action("INIT", token: good).status == .ok)
            Self.expectUnauthenticated(try await client.request(.get, token: confusion), "HS256 with the public key")
            Self.expectUnauthenticated(try await client.request(.get, token: none), "none")
        }
    }

    @Test("ES256 with a P-256 public key")
    func es256() async throws {
        let harness = try await Harness()
        let privateKey = ES256PrivateKey()
        let signer = JWTKeyCollection()
        await signer.add(ecdsa: privateKey)
        let exp = ExpirationClaim(value: Date(timeIntervalSince1970: TimeInterval(harness.clock.now() + 600)))
        let good = try await signer.sign(Claims(sub: "carol", exp: exp))
        let stranger = JWTKeyCollection()
        await stranger.add(ecdsa: ES256PrivateKey())
        let bad = try await stranger.sign(Claims(sub: "carol", exp: exp))
        try await harness.test(key: .publicKeyPEM(privateKey.publicKey.pemRepresentation)) { client in
            #expect(try await client.action("INIT", token: good).status == .ok)
            Self.expectUnauthenticated(try await client.request(.get, token: bad))
        }
    }

    @Test("a short HS256 secret, one of a few different characters (all spaces, a placeholder) and an unreadable public key are refused at start-up")
    func badKeys() async throws {
        let clock = FixedClock(0)
        await #expect(throws: TokenKeyError.secretTooShort(6)) { _ = try await TokenVerifier.make(.hmacSHA256(secret: Array("abcdef".utf8)), clock: clock) }
        await #expect(throws: TokenKeyError.secretGuessable(distinct: 1)) { _ = try await TokenVerifier.make(.hmacSHA256(secret: Array(String(repeating: " ", count: 40).utf8)), clock: clock) }
        await #expect(throws: TokenKeyError.secretGuessable(distinct: 2)) { _ = try await TokenVerifier.make(.hmacSHA256(secret: Array(String(repeating: "ab", count: 20).utf8)), clock: clock) }
        await #expect(throws: TokenKeyError.secretGuessable(distinct: 1)) { _ = try await TokenVerifier.make(.hmacSHA256(secret: Array(String(repeating: "é", count: 32).utf8)), clock: clock) }
        // A PEM public key (or any PEM key) passed where the HS256 secret goes: anyone with the
        // public key could sign tokens.
        let publicPEM = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEVs/o5+uQbTjL3chynL4wXgUg2R9\nq9UU8I5mEovUf86QZ7kOBIjJwqnzD1omageEHWwHdBO6B+dFabmdT9POxg==\n-----END PUBLIC KEY-----\n"
        await #expect(throws: TokenKeyError.secretIsPEMKey(label: "PUBLIC KEY")) { _ = try await TokenVerifier.make(.hmacSHA256(secret: Array(publicPEM.utf8)), clock: clock) }
        // jwt.io's example, which anyone can try, has enough different characters but is refused.
        await #expect(throws: TokenKeyError.self) { _ = try await TokenVerifier.make(.hmacSHA256(secret: Array("a-string-secret-at-least-256-bits-long".utf8)), clock: clock) }
        // With the line break an environment variable set from a file keeps.
        await #expect(throws: TokenKeyError.self) { _ = try await TokenVerifier.make(.hmacSHA256(secret: Array("a-string-secret-at-least-256-bits-long\n".utf8)), clock: clock) }
        // Raw random bytes, not UTF-8, are counted as bytes: 32 different ones are fine.
        _ = try await TokenVerifier.make(.hmacSHA256(secret: Array(0x80...0x9F)), clock: clock)
        // A hex secret (16 different characters at most) is fine.
        _ = try await TokenVerifier.make(.hmacSHA256(secret: Array("0123456789abcdef0123456789abcdef".utf8)), clock: clock)
        await #expect(throws: TokenKeyError.self) { _ = try await TokenVerifier.make(.publicKeyPEM("not a key"), clock: clock) }
    }
}
