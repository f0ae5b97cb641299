import Foundation

/// JSON Web Tokens made without JWTKit, for the tests of the server that checks them: bytes as
/// given (duplicate members, other encodings), signed by the `openssl` command line.
public enum JWT {
    /// Base64url without padding (RFC 7515 §2).
    public static func base64URL(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    /// An HS256 JWT of `header` and `payload` as written, signed with `key` by openssl.
    public static func signedByOpenSSL(payload: Data, header: String = #"{"alg":"HS256","typ":"JWT"}"#, key: [UInt8]) throws -> String {
        let input = base64URL(Data(header.utf8)) + "." + base64URL(payload)
        let hexKey = key.map { String(format: "%02x", $0) }.joined()
        let openssl = try Processes.tool("openssl", package: "openssl")
        let mac = try Processes.run(openssl, ["dgst", "-sha256", "-mac", "HMAC", "-macopt", "hexkey:\(hexKey)", "-binary"], input: Data(input.utf8))
        guard mac.status == 0, mac.stdoutData.count == 32 else {
            throw Processes.Failed(command: "openssl dgst -sha256 -mac HMAC", status: mac.status, standardError: mac.stderr)
        }
        return input + "." + base64URL(mac.stdoutData)
    }
}
