import COpenSSL
@testable import CryptoPrimitives
import Glibc
import Testing
import TestSupport

@Suite("Crypto primitives")
struct CryptoPrimitivesTests {
    static let key = (0..<32).map { UInt8($0) }

    @Test("AES-GCM opens what it sealed, with and without associated data")
    func roundTrip() throws {
        for plaintext in [[], Array("JBSWY3DPEHPK3PXP".utf8), (0..<1000).map { UInt8($0 % 251) }] {
            let box = try AESGCM.seal(plaintext, key: Self.key, authenticating: Array("enrollment-1".utf8))
            #expect(box.count == 12 + plaintext.count + 16)
            #expect(try AESGCM.open(box, key: Self.key, authenticating: Array("enrollment-1".utf8)) == plaintext)
        }
    }

    @Test("AES-GCM with a fixed nonce is deterministic and matches the NIST test case 14 vector")
    func fixedNonce() throws {
        // McGrew & Viega GCM spec, test case 14: zero key, zero IV, one zero block.
        let box = try AESGCM.seal([UInt8](repeating: 0, count: 16), key: [UInt8](repeating: 0, count: 32), nonce: [UInt8](repeating: 0, count: 12))
        #expect(hex(Array(box[12..<28])) == "cea7403d4d606b6e074ec5d3baf39d18")
        #expect(hex(Array(box[28...])) == "d0d1c8a799996bf0265b98b5d48ab919")
    }

    @Test("Random nonces make two seals of the same plaintext differ")
    func randomNonce() throws {
        let a = try AESGCM.seal([1, 2, 3], key: Self.key)
        let b = try AESGCM.seal([1, 2, 3], key: Self.key)
        #expect(a != b)
    }

    @Test("A wrong key, wrong associated data or any flipped bit fails authentication")
    func tampering() throws {
        let box = try AESGCM.seal(Array("secret".utf8), key: Self.key, authenticating: [9])
        var wrongKey = Self.key
        wrongKey[0] ^= 1
        #expect(throws: CryptoError.authenticationFailed) { try AESGCM.open(box, key: wrongKey, authenticating: [9]) }
        #expect(throws: CryptoError.authenticationFailed) { try AESGCM.open(box, key: Self.key, authenticating: [8]) }
        #expect(throws: CryptoError.authenticationFailed) { try AESGCM.open(box, key: Self.key) }
        for index in box.indices {
            var flipped = box
            flipped[index] ^= 0x10
            #expect(throws: CryptoError.authenticationFailed, "byte \(index)") { try AESGCM.open(flipped, key: Self.key, authenticating: [9]) }
        }
    }

    @Test("Boxes too short for nonce and tag, and keys of the wrong size, are refused")
    func malformed() throws {
        #expect(throws: CryptoError.malformedSealedBox) { try AESGCM.open([UInt8](repeating: 0, count: 27), key: Self.key) }
        #expect(throws: CryptoError.malformedSealedBox) { try AESGCM.open([], key: Self.key) }
        #expect(throws: CryptoError.authenticationFailed) { try AESGCM.open([UInt8](repeating: 0, count: 28), key: Self.key) }
        #expect(throws: CryptoError.keyLength(expected: 32, actual: 16)) { try AESGCM.seal([1], key: [UInt8](repeating: 0, count: 16)) }
        #expect(throws: CryptoError.keyLength(expected: 32, actual: 0)) { try AESGCM.open([UInt8](repeating: 0, count: 40), key: []) }
        #expect(CryptoError.malformedSealedBox.code == "crypto.malformed_sealed_box")
        #expect(CryptoError.keyLength(expected: 32, actual: 16).message.contains("32"))
    }

    @Test("constantTimeEquals compares contents and lengths")
    func constantTime() {
        #expect(constantTimeEquals([], []))
        #expect(constantTimeEquals([1, 2, 3], [1, 2, 3]))
        #expect(!constantTimeEquals([1, 2, 3], [1, 2, 4]))
        #expect(!constantTimeEquals([0, 2, 3], [1, 2, 3]))
        #expect(!constantTimeEquals([1, 2, 3], [1, 2]))
        #expect(!constantTimeEquals([], [0]))
    }

    @Test("secureZero wipes every byte and keeps the length")
    func zeroing() {
        var bytes: [UInt8] = [1, 2, 3, 255]
        secureZero(&bytes)
        #expect(bytes == [0, 0, 0, 0])
    }

    @Test("SecureRandom returns the requested lengths and does not repeat")
    func random() throws {
        for count in [0, 1, 16, 20, 32, 64, 1000] {
            #expect(try SecureRandom.bytes(count).count == count)
        }
        var seen = Set<[UInt8]>()
        for _ in 0..<1000 {
            seen.insert(try SecureRandom.bytes(16))
        }
        #expect(seen.count == 1000)
        let large = try SecureRandom.bytes(4096)
        #expect(Set(large).count > 200)  // all 256 values expected; a stuck generator shows few
        #expect(throws: CryptoError.randomFailed) { try SecureRandom.bytes(-1) }
    }

    @Test("SecureRandom's small draws never repeat, from many callers at once and across refills")
    func pooledDraws() async throws {
        // Small draws come from a shared block: many tasks at once, each draw distinct, sizes
        // mixed so draws straddle the block's refills.
        let draws = try await withThrowingTaskGroup(of: [[UInt8]].self) { group in
            for task in 0..<8 {
                group.addTask { try (0..<600).map { index in try SecureRandom.bytes(1 + (task * 600 + index) % SecureRandom.pooledLimit) } }
            }
            return try await group.reduce(into: [[UInt8]]()) { $0 += $1 }
        }
        #expect(draws.count == 4800)
        let long = draws.filter { $0.count >= 16 }
        #expect(Set(long).count == long.count)
        #expect(try SecureRandom.bytes(SecureRandom.pooledLimit + 1).count == SecureRandom.pooledLimit + 1)
    }

    @Test("A forked child draws other bytes than its parent")
    func forkedChild() throws {
        // The parent's block is filled before the fork; a child that kept drawing from its
        // copy would get the parent's next bytes (a reused nonce or key).
        _ = try SecureRandom.bytes(16)
        var attempts = 0
        while true {
            attempts += 1
            var pipe: [Int32] = [0, 0]
            #expect(Glibc.pipe(&pipe) == 0)
            let child = fork()
            if child == 0 {
                // Only this thread survives the fork: if another test's thread held the block's
                // lock at that moment, the child would wait forever. The alarm ends it; the
                // parent tries again.
                alarm(10)
                var drawn = (try? SecureRandom.bytes(32)) ?? []
                _ = write(pipe[1], &drawn, drawn.count)
                _exit(0)
            }
            close(pipe[1])
            let mine = try SecureRandom.bytes(32)
            var theirs = [UInt8](repeating: 0, count: 32)
            let read = Glibc.read(pipe[0], &theirs, 32)
            close(pipe[0])
            var status: Int32 = 0
            waitpid(child, &status, 0)
            if read != 32, attempts < 3 { continue }
            #expect(read == 32)
            #expect(mine != theirs)
            return
        }
    }

    @Test("SHA-256 matches FIPS 180-2 examples for all overloads")
    func sha() {
        #expect(hex(sha256([UInt8]())) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(hex(sha256(Array("abc".utf8))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(hex(sha256(Array("abc".utf8)[...])) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        let raw = Array("abc".utf8).withUnsafeBytes { sha256($0) }
        #expect(hex(raw) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
    }

    @Test("HMACContext matches RFC 4231 test case 2 for each digest and reuses its key across messages")
    func hmac() throws {
        let key = Array("Jefe".utf8)
        let message = Array("what do ya want for nothing?".utf8)
        let expected: [Digest: String] = [
            .sha1: "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",  // RFC 2202 test case 2
            .sha256: "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            .sha512: "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
        ]
        for digest in Digest.allCases {
            let context = try HMACContext(key: key, digest: digest)
            #expect(context.length == digest.byteCount)
            #expect(hex(context.authenticate(message)) == expected[digest])
            #expect(hex(context.authenticate(message)) == expected[digest], "second use of the same context")
            var small = [UInt8](repeating: 0, count: context.length - 1)
            let written = message.withUnsafeBytes { input in small.withUnsafeMutableBytes { context.authenticate(input, into: $0) } }
            #expect(written == 0, "output buffer too small is refused, not overrun")
        }
        let empty = try HMACContext(key: [], digest: .sha256)
        #expect(hex(empty.authenticate([])) == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
    }

    @Test("Keys longer than the hash block are hashed first (RFC 2202 / RFC 4231 test case 6)")
    func longKeys() throws {
        let message = Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8)
        let sha1 = try HMACContext(key: [UInt8](repeating: 0xAA, count: 80), digest: .sha1)
        #expect(hex(sha1.authenticate(message)) == "aa4ae5e15272d00e95705637ce8a3b55ed402112")
        let sha256 = try HMACContext(key: [UInt8](repeating: 0xAA, count: 131), digest: .sha256)
        #expect(hex(sha256.authenticate(message)) == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
        let sha512 = try HMACContext(key: [UInt8](repeating: 0xAA, count: 131), digest: .sha512)
        #expect(hex(sha512.authenticate(message)) == "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598")
    }

    @Test("Under OpenSSL's default configuration the default provider serves all three digests, so HMACContext holds its states directly")
    func defaultProviderServesDigests() {
        for digest in Digest.allCases {
            #expect(FetchedDigests.shared.servedByDefaultProvider(digest), "\(digest.rawValue)")
        }
    }

    @Test("HMACContext equals OpenSSL's one-shot HMAC() for every key length 0-200 and message length 0-300, held directly and through EVP",
          arguments: [false, true])
    func matchesOneShotHMAC(throughEVP: Bool) throws {
        var random = SplitMix64(seed: 2104)
        for digest in Digest.allCases {
            let md = switch digest {
            case .sha1: EVP_sha1()
            case .sha256: EVP_sha256()
            case .sha512: EVP_sha512()
            }
            for keyLength in 0...200 {
                let key = (0..<keyLength).map { _ in UInt8.random(in: 0...255, using: &random) }
                let context = try HMACContext(key: key, digest: digest, throughEVP: throughEVP)
                for messageLength in [0, 1, 8, 55, 56, 64, 127, 128, 129, 300] where keyLength % 7 == 0 || messageLength == 8 {
                    let message = (0..<messageLength).map { _ in UInt8.random(in: 0...255, using: &random) }
                    var expected = [UInt8](repeating: 0, count: 64)
                    var expectedLength: UInt32 = 0
                    // A non-empty buffer so the key pointer is never NULL for the empty key.
                    (key.isEmpty ? [0] : key).withUnsafeBytes { keyBytes in
                        message.withUnsafeBufferPointer { messageBytes in
                            _ = HMAC(md, keyBytes.baseAddress, Int32(keyLength),
                                     messageBytes.baseAddress, messageLength, &expected, &expectedLength)
                        }
                    }
                    #expect(context.authenticate(message) == Array(expected.prefix(Int(expectedLength))),
                            "\(digest.rawValue) key \(keyLength) bytes, message \(messageLength) bytes, through EVP: \(throughEVP)")
                }
            }
        }
    }
}
