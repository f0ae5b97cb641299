import OneTimePassword
import Testing
import TestSupport

@Suite("Base32")
struct Base32Tests {
    /// RFC 4648 §10, padded as printed there; `encode` omits the padding.
    static let vectors: [(plain: String, encoded: String)] = [
        ("", ""),
        ("f", "MY======"),
        ("fo", "MZXQ===="),
        ("foo", "MZXW6==="),
        ("foob", "MZXW6YQ="),
        ("fooba", "MZXW6YTB"),
        ("foobar", "MZXW6YTBOI======"),
    ]

    @Test("RFC 4648 §10 vectors encode without padding")
    func encodeVectors() {
        for vector in Self.vectors {
            let unpadded = String(vector.encoded.filter { $0 != "=" })
            #expect(Base32.encode(Array(vector.plain.utf8)) == unpadded, "\(vector.plain)")
        }
    }

    @Test("RFC 4648 §10 vectors decode with and without padding")
    func decodeVectors() {
        for vector in Self.vectors {
            #expect(Base32.decode(vector.encoded) == Array(vector.plain.utf8), "\(vector.encoded)")
            let unpadded = String(vector.encoded.filter { $0 != "=" })
            #expect(Base32.decode(unpadded) == Array(vector.plain.utf8), "\(unpadded)")
        }
    }

    @Test("Lower case and grouped-by-spaces secrets decode like the canonical form")
    func caseAndSpaces() {
        let canonical = Base32.decode("JBSWY3DPEHPK3PXP")
        #expect(canonical == Array("Hello!\u{DE}\u{AD}\u{BE}\u{EF}".unicodeScalars.map { UInt8($0.value) }))
        #expect(Base32.decode("jbswy3dpehpk3pxp") == canonical)
        #expect(Base32.decode("jbsw y3dp ehpk 3pxp") == canonical)
        #expect(Base32.decode("  JbSw Y3dP EhPk 3PxP  ") == canonical)
    }

    @Test("Characters outside the alphabet are rejected", arguments: [
        "JBSW-Y3DP", "JBSWY3DP1", "JBSWY3D0", "JBSWY3D8", "JBSWY3D9", "JBSW_Y3DP", "JBSWY3DP!",
        "ÄBSWY3DP", "JBSWY3DP\n", "JBSWY3DP\t", "MY==MY======",
    ])
    func invalidCharacters(text: String) {
        #expect(Base32.decode(text) == nil)
    }

    @Test("Lengths no byte string encodes to are rejected", arguments: [
        "M", "MZX", "MZXW6Y", "MZXW6YTBM", "MY=", "MY=======", "MZXW6YTB========", "========",
    ])
    func impossibleLengths(text: String) {
        #expect(Base32.decode(text) == nil)
    }

    @Test("Random byte strings of every length up to 80 survive a round trip")
    func roundTrip() {
        var random = SplitMix64(seed: 4648)
        for length in 0...80 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &random) }
            let encoded = Base32.encode(bytes)
            #expect(!encoded.contains("="))
            #expect(encoded.allSatisfy { "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".contains($0) })
            #expect(Base32.decode(encoded) == bytes, "length \(length)")
            #expect(Base32.decode(encoded.lowercased()) == bytes, "length \(length), lower case")
        }
    }
}
