import Enrollment
import Foundation
import JWTKit

/// The claims the API reads from a bearer token (RFC 7519 §4.1): `sub` names the user whose
/// authenticator the request acts on; `exp` bounds the token's life; `nbf`, when present, is
/// the time before which it is not valid yet; `iat`, when present, must be a time not ahead of
/// the server's clock (as PyJWT checks it); `iss` and `aud` are checked when the server is
/// configured with the issuer and audience it accepts (``TokenAcceptance``). Other claims are
/// ignored.
struct AccessTokenClaims: JWTPayload {
    var sub: SubjectClaim
    var exp: ExpirationClaim
    var nbf: NotBeforeClaim?
    var iat: IssuedAtClaim?
    var iss: IssuerClaim?
    var aud: AudienceClaim?

    /// Signature checking happens before this; here only time. The server's clock is the
    /// engine's, so ENROLL_NOW fixes both for tests.
    func verify(using algorithm: some JWTAlgorithm) async throws {}
}

/// A token's claims read only for saying which required one is missing or unreadable, once
/// its signature has been checked (a forged token learns nothing from the answer).
private struct PresentClaims: JWTPayload {
    var sub: JSONValue?
    var exp: JSONValue?
    var nbf: JSONValue?
    var iat: JSONValue?

    func verify(using algorithm: some JWTAlgorithm) async throws {}

    // A member given as `null` is kept as `.null`, not taken for a missing one.
    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        func member(_ key: CodingKeys) throws -> JSONValue? { container.contains(key) ? try container.decode(JSONValue.self, forKey: key) : nil }
        sub = try member(.sub)
        exp = try member(.exp)
        nbf = try member(.nbf)
        iat = try member(.iat)
    }

    /// The first required claim that is missing or not of its type, or an optional one not of
    /// its type (`null` included: present, and no time), in words.
    var problem: String? {
        switch exp {
        case nil, .null?: return "the token has no expiry (exp), which this server requires"
        case .int?, .double?: break
        default: return "the token's expiry (exp) is not a number of seconds (RFC 7519 §4.1.4)"
        }
        switch nbf {
        case nil, .int?, .double?: break
        default: return "the token's not-before time (nbf) is not a number of seconds (RFC 7519 §4.1.5)"
        }
        switch iat {
        case nil, .int?, .double?: break
        default: return "the token's issue time (iat) is not a number of seconds (RFC 7519 §4.1.6)"
        }
        switch sub {
        case nil, .null?: return "the token names no user (sub)"
        case .string?: return nil
        default: return "the token's subject (sub) is not a string (RFC 7519 §4.1.2)"
        }
    }
}

/// How bearer tokens are checked: which key and which algorithm.
///
/// Exactly one algorithm is accepted per server. The token's header `alg` must name it, so
/// `none` (RFC 7519 §6, unsecured JWTs) and algorithm confusion (an RS256 public key used as an
/// HS256 secret) are refused before any signature is computed.
public enum TokenKey: Sendable {
    /// HS256 with a shared secret (ENROLL_JWT_SECRET or --jwt-secret-file).
    case hmacSHA256(secret: [UInt8])
    /// RS256 or ES256 with a PEM public key (--jwt-public-key). The algorithm follows the key.
    case publicKeyPEM(String)

    /// HS256 secrets shorter than this are refused: RFC 7518 §3.2 asks for a key at least as
    /// long as the hash output.
    public static let minimumSecretBytes = 32
    /// HS256 secrets of fewer different characters than this are refused: all spaces (a
    /// template whose variable was empty), one character repeated (a placeholder). Random
    /// bytes, or their hex or base64, have many more.
    public static let minimumDistinctCharacters = 8
    /// Secrets printed in documentation, which anyone can try: jwt.io's defaults.
    static let publishedExamples: Set<[UInt8]> = [Array("a-string-secret-at-least-256-bits-long".utf8), Array("your-256-bit-secret".utf8)]

    /// Why `text`, which neither ES256 nor RS256 accepted, is no usable public key, in words an
    /// operator can act on (the parsers' own errors name Swift source files). PEM labels follow
    /// RFC 7468 §2: `-----BEGIN LABEL-----`.
    static func problem(withPEM text: String) -> String {
        guard let begin = text.range(of: "-----BEGIN ") else {
            return "it has no '-----BEGIN PUBLIC KEY-----' line (it is not PEM)"
        }
        let label = text[begin.upperBound...].prefix { $0 != "-" && !$0.isNewline }.prefix(40)
        if label.contains("PRIVATE KEY") {
            return "it holds a private key, and the server needs only the public one (`openssl pkey -in KEY -pubout` writes it)"
        }
        if label == "CERTIFICATE" {
            return "it holds a certificate, and the server needs its public key (`openssl x509 -in CERT -pubkey -noout` writes it)"
        }
        guard label == "PUBLIC KEY" || label == "RSA PUBLIC KEY" else {
            return "it holds a '\(label)', not a 'PUBLIC KEY'"
        }
        return "its key is of another type or size, or its base64 is damaged"
    }
}

/// Whoever holds an HS256 secret can sign a token for any user, so the key's description and
/// reflection never show it (`"\(key)"`, `dump`, a test failure expanding the value).
extension TokenKey: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        switch self {
        case .hmacSHA256(let secret): "TokenKey.hmacSHA256(secret: redacted, \(secret.count) bytes)"
        case .publicKeyPEM(let pem): "TokenKey.publicKeyPEM(\(pem.utf8.count) bytes of PEM)"
        }
    }

    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .enum) }
}

/// Why a token configuration cannot be used (reported by `enroll serve` as bad input, exit 2).
public enum TokenKeyError: Error, Sendable, Equatable {
    case secretTooShort(Int)
    case secretGuessable(distinct: Int)
    /// A PEM key given as the HS256 secret: a public key is public, so anyone could sign with it.
    case secretIsPEMKey(label: String)
    case unreadablePublicKey(String)

    public var code: String {
        switch self {
        case .secretTooShort: "jwt_secret_too_short"
        case .secretGuessable: "jwt_secret_guessable"
        case .secretIsPEMKey: "jwt_secret_is_a_key"
        case .unreadablePublicKey: "jwt_public_key_unreadable"
        }
    }

    public var message: String {
        switch self {
        case .secretTooShort(let count):
            "the JWT secret is \(count) bytes; use at least \(TokenKey.minimumSecretBytes) random bytes (RFC 7518 §3.2), e.g. `openssl rand -hex 32`"
        case .secretGuessable(let distinct):
            distinct < TokenKey.minimumDistinctCharacters
                ? "the JWT secret is made of only \(distinct) different character\(distinct == 1 ? "" : "s") (all spaces, or a placeholder), which anyone can guess; use \(TokenKey.minimumSecretBytes) random bytes, e.g. `openssl rand -hex 32`"
                : "the JWT secret is an example published in documentation (jwt.io's), which anyone can try; use \(TokenKey.minimumSecretBytes) random bytes, e.g. `openssl rand -hex 32`"
        case .secretIsPEMKey(let label):
            "the JWT secret is a PEM '\(label.prefix(40))', a key and not a shared secret: HS256 with a public key lets anyone who has it sign tokens; pass the identity provider's public key with --jwt-public-key (RS256, ES256), or for HS256 a secret of \(TokenKey.minimumSecretBytes) random bytes, e.g. `openssl rand -hex 32`"
        case .unreadablePublicKey(let reason):
            "the file is not a PEM public key of RSA (2048 bits or more) or P-256: \(reason); pass the issuer's '-----BEGIN PUBLIC KEY-----' file"
        }
    }
}

/// Which issuer and audience a server accepts in its tokens' `iss` and `aud` claims
/// (RFC 7519 §4.1.1, §4.1.3). When one is set, a token without that claim, or with another
/// value, is refused; when it is not set, the claim is not looked at. A server that trusts an
/// identity provider issuing tokens for several applications should set both.
///
/// `leeway`: seconds by which `exp` and `nbf` are stretched for clocks that disagree (RFC 7519
/// §4.1.4, §4.1.5: "some small leeway"): a token just issued by an identity provider whose clock
/// runs ahead is not refused as not yet valid.
public struct TokenAcceptance: Sendable, Hashable {
    public var issuer: String?
    public var audience: String?
    public var leeway: Int64

    public init(issuer: String? = nil, audience: String? = nil, leeway: Int64 = 0) {
        self.issuer = issuer
        self.audience = audience
        self.leeway = leeway
    }
}

/// Verifies bearer tokens and names the user they speak for.
public struct TokenVerifier: Sendable {
    let keys: JWTKeyCollection
    /// The one `alg` header value accepted: HS256, RS256 or ES256.
    public let algorithm: String
    let clock: any EnrollmentClock
    public let acceptance: TokenAcceptance

    public static func make(_ key: TokenKey, clock: any EnrollmentClock, accepting acceptance: TokenAcceptance = TokenAcceptance()) async throws(TokenKeyError) -> TokenVerifier {
        let keys = JWTKeyCollection()
        switch key {
        case .hmacSHA256(let secret):
            guard secret.count >= TokenKey.minimumSecretBytes else { throw .secretTooShort(secret.count) }
            // Characters, as the operator typed them (32 × "é" is one, not two bytes' worth).
            // Raw bytes (a file of random ones, not UTF-8) are counted as bytes.
            let text = String(validating: secret, as: UTF8.self)
            let distinct = text.map { Set($0.unicodeScalars).count } ?? Set(secret).count
            // A published example is as guessable with a line break after it (an environment
            // variable set from a file keeps it).
            let example = text.map { Array($0.trimmingCharacters(in: .whitespacesAndNewlines).utf8) } ?? secret
            guard distinct >= TokenKey.minimumDistinctCharacters, !TokenKey.publishedExamples.contains(example) else { throw .secretGuessable(distinct: distinct) }
            // A PEM key given where the secret goes (`--jwt-secret-file pub.pem`): HMAC would take
            // its text as the secret, and a public key's text is no secret.
            if let pem = text?.trimmingCharacters(in: .whitespacesAndNewlines), pem.hasPrefix("-----BEGIN ") {
                let label = pem.dropFirst("-----BEGIN ".count).prefix { $0 != "-" && !$0.isNewline }
                throw .secretIsPEMKey(label: String(label))
            }
            await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
            return TokenVerifier(keys: keys, algorithm: "HS256", clock: clock, acceptance: acceptance)
        case .publicKeyPEM(let pem):
            if let ecdsa = try? ES256PublicKey(pem: pem) {
                await keys.add(ecdsa: ecdsa)
                return TokenVerifier(keys: keys, algorithm: "ES256", clock: clock, acceptance: acceptance)
            }
            do {
                let rsa = try Insecure.RSA.PublicKey(pem: pem)
                await keys.add(rsa: rsa, digestAlgorithm: .sha256)
                return TokenVerifier(keys: keys, algorithm: "RS256", clock: clock, acceptance: acceptance)
            } catch {
                throw .unreadablePublicKey(TokenKey.problem(withPEM: pem))
            }
        }
    }

    /// The user (`sub`) of a valid token. Every failure is 401 with a reason that names no part
    /// of the token.
    public func user(fromBearer token: String) async throws(APIError) -> String {
        // One spelling per token (RFC 7515 §7.1: three base64url parts, no padding), so that a
        // deny-list or a replay cache keyed on the text cannot be sidestepped by adding '='.
        // (Not for ES256: an ECDSA signature (r, s) has a twin, (r, n − s), that verifies too.
        // Standard signers make either, so neither can be refused; README says to key such a
        // list on the claims.)
        guard Self.isCompact(token) else {
            // An unsigned token (`alg: none`, RFC 7519 §6) ends in an empty part: that is what
            // is wrong with it, not its spelling.
            if token.hasSuffix("."), token.split(separator: ".", omittingEmptySubsequences: false).count == 3, let alg = Self.header(token)?["alg"] as? String {
                throw .unauthenticated(alg.lowercased() == "none"
                    ? "the token is unsigned (algorithm 'none'); this server accepts \(algorithm) tokens only"
                    : "the token has no signature")
            }
            throw .unauthenticated("the token is not a JWT in compact form (three base64url parts without padding, in their canonical spelling)")
        }
        guard let header = Self.header(token), let alg = header["alg"] as? String else { throw .unauthenticated("the token is not a JWT") }
        // RFC 7515 §4.1.11: extensions marked critical must be understood; this server knows none.
        if header["crit"] != nil {
            throw .unauthenticated("the token's header marks extensions as critical (crit), which this server does not understand (RFC 7515 §4.1.11)")
        }
        guard alg == algorithm else {
            throw .unauthenticated("the token's algorithm '\(alg.prefix(16))' is not accepted (this server accepts \(algorithm))")
        }
        // JWTKit's decoder keeps the first of two equal names; RFC 7519 §4 says such a token
        // must be refused (or the last taken), so a signed {"sub":"alice","sub":"bob"} is no one.
        // The check reads UTF-8, as RFC 7519 §7.2 has the JSON; JWTKit's decoder would also
        // read UTF-16 or UTF-32, where the check would see no names at all.
        let segments = token.split(separator: ".", omittingEmptySubsequences: false).prefix(2)
        // The claims' bytes, read again once the signature is checked.
        var claimsBytes: [UInt8]?
        for (index, segment) in segments.enumerated() {
            guard let bytes = Base64URL.decode(String(segment)) else { continue }
            if index == 1 { claimsBytes = bytes }
            // A number too large to read (an `exp` of 1e400) is JSON's grammar, but no date: said
            // as such. (The parser's other words would show a byte of the token.)
            if let problem = JSONValue.strictJSONProblem(bytes) {
                throw .unauthenticated(problem.hasSuffix("is too large")
                    ? "the token's header or claims hold a number too large to read (an exp, nbf or iat past any date)"
                    : "the token's header or claims are not JSON in UTF-8 (RFC 7519 §7.2)")
            }
            if JSONValue.duplicateMember(in: String(decoding: bytes, as: UTF8.self)) != nil {
                throw .unauthenticated("the token's header or claims name a member twice (RFC 7519 §4)")
            }
        }
        let claims: AccessTokenClaims
        do {
            claims = try await keys.verify(token, as: AccessTokenClaims.self)
            // JWTKit reads `"nbf": null` as no nbf: a time given as no time is refused, as a
            // string is (the claims are signed, so saying so tells a forger nothing).
            if let claimsBytes, let problem = (try? JSONDecoder().decode(PresentClaims.self, from: Data(claimsBytes)))?.problem {
                throw APIError.unauthenticated(problem)
            }
        } catch let error as APIError {
            throw error
        } catch {
            // Signed with the right key, but a required claim is missing or of another type.
            if let present = try? await keys.verify(token, as: PresentClaims.self), let problem = present.problem {
                throw .unauthenticated(problem)
            }
            throw .unauthenticated("the token's signature or claims are not valid")
        }
        let now = Date(timeIntervalSince1970: TimeInterval(clock.now()))
        let leeway = TimeInterval(acceptance.leeway)
        guard claims.exp.value.addingTimeInterval(leeway) > now else { throw .unauthenticated("the token has expired") }
        if let notBefore = claims.nbf?.value, notBefore.addingTimeInterval(-leeway) > now { throw .unauthenticated("the token is not valid yet (nbf)") }
        // A token issued after now came from a clock ahead of this one (or was made to outlive
        // a deny-list keyed on `sub` and `iat`): as PyJWT refuses it.
        if let issued = claims.iat?.value, issued.addingTimeInterval(-leeway) > now {
            throw .unauthenticated("the token's issue time (iat) is ahead of this server's clock; check the identity provider's clock")
        }
        if let issuer = acceptance.issuer, claims.iss?.value != issuer {
            throw .unauthenticated("the token was not issued by the issuer this server accepts (iss)")
        }
        if let audience = acceptance.audience, !(claims.aud?.value.contains(audience) ?? false) {
            throw .unauthenticated("the token is not meant for this server (aud)")
        }
        do {
            return try Validation.user(claims.sub.value)
        } catch {
            // A valid token of a subject no user id can be (an identity provider's
            // `DOMAIN/alice`): another token would carry the same subject, so not 401.
            throw .unusableSubject(error.message)
        }
    }

    /// The JOSE header of a compact JWS (RFC 7515 §7.1), or nil when the text is not one.
    static func header(_ token: String) -> [String: Any]? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let header = Base64URL.decode(String(parts[0])),
            let object = try? JSONSerialization.jsonObject(with: Data(header)) as? [String: Any]
        else { return nil }
        return object
    }

    /// Three non-empty parts of the base64url alphabet, without padding or anything else, each
    /// in its one canonical spelling: a length that whole bytes give, and a last character
    /// whose bits past the data are zero (RFC 4648 §3.5). Base64 decoders ignore those bits, so
    /// without the check one signature could be written in up to four ways.
    static func isCompact(_ token: String) -> Bool {
        let parts = token.utf8.split(separator: UInt8(ascii: "."), omittingEmptySubsequences: false)
        return parts.count == 3 && parts.allSatisfy { part in
            var last: UInt8 = 0
            for byte in part {
                switch byte {
                case UInt8(ascii: "A")...UInt8(ascii: "Z"): last = byte - UInt8(ascii: "A")
                case UInt8(ascii: "a")...UInt8(ascii: "z"): last = byte - UInt8(ascii: "a") + 26
                case UInt8(ascii: "0")...UInt8(ascii: "9"): last = byte - UInt8(ascii: "0") + 52
                case UInt8(ascii: "-"): last = 62
                case UInt8(ascii: "_"): last = 63
                default: return false
                }
            }
            switch part.count % 4 {
            case 0: return !part.isEmpty
            case 2: return last & 0b1111 == 0
            case 3: return last & 0b11 == 0
            default: return false
            }
        }
    }
}

/// Issues tokens with a shared secret: `enroll serve --demo` and tests.
public struct TokenIssuer: Sendable {
    let keys: JWTKeyCollection

    public init(secret: [UInt8]) async {
        keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
    }

    /// A HS256 token for `user` that expires at `expiresAt` (Unix seconds), with the `iss` and
    /// `aud` a server configured with `acceptance` asks for, and `nbf` when given.
    public func token(for user: String, expiresAt: UnixTime, notBefore: UnixTime? = nil, acceptance: TokenAcceptance = TokenAcceptance()) async throws -> String {
        func date(_ time: UnixTime) -> Date { Date(timeIntervalSince1970: TimeInterval(time)) }
        return try await keys.sign(AccessTokenClaims(
            sub: SubjectClaim(value: user), exp: ExpirationClaim(value: date(expiresAt)),
            nbf: notBefore.map { NotBeforeClaim(value: date($0)) }, iat: nil,
            iss: acceptance.issuer.map { IssuerClaim(value: $0) },
            aud: acceptance.audience.map { AudienceClaim(value: [$0]) }))
    }
}

/// RFC 4648 §5 base64url without padding, as JWTs use it.
enum Base64URL {
    static func decode(_ text: String) -> [UInt8]? {
        var base64 = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        return Data(base64Encoded: base64).map { Array($0) }
    }
}
