import Testing
import TestSupport
@testable import Enrollment

/// The byte-level shortcuts in ``Validation`` against the Unicode definitions they stand in for.
@Suite("Validation fast paths")
struct ValidationFastPathTests {
    /// What "spaced" means: the first or last character is white space (Swift's `Character`).
    static func spacedByCharacters(_ text: String) -> Bool {
        text.first?.isWhitespace == true || text.last?.isWhitespace == true
    }

    @Test("isSpaced agrees with Character.isWhitespace for every ASCII byte at either end, and beside non-ASCII text")
    func isSpacedMatchesCharacters() {
        var cases: [String] = ["", "a", "alice", "\r\n", "a\r\n", "\r\nb"]
        for byte in UInt8(0)...UInt8(0x7F) {
            let character = String(decoding: [byte], as: UTF8.self)
            cases += [character, character + "alice", "alice" + character, "al" + character + "ice"]
            // Non-ASCII elsewhere takes the general path: it must say the same.
            cases += ["café" + character, character + "café", "x\u{0301}" + character]
        }
        cases += ["\u{00A0}alice", "alice\u{2003}", "alice\u{0085}", "\u{3000}", "e\u{0301}", " e\u{0301}", "e\u{0301} "]
        var random = SplitMix64(seed: 38)
        let alphabet: [Unicode.Scalar] = [" ", "\t", "a", "Z", "0", "-", "\u{00A0}", "\u{0301}", "é", "\u{2028}", "\u{1F600}"]
        for _ in 0..<5_000 {
            let count = Int.random(in: 1...6, using: &random)
            var text = ""
            for _ in 0..<count { text.unicodeScalars.append(alphabet[Int.random(in: 0..<alphabet.count, using: &random)]) }
            cases.append(text)
        }
        for text in cases {
            #expect(Validation.isSpaced(text) == Self.spacedByCharacters(text), "\(Array(text.unicodeScalars))")
        }
        #expect(Validation.isSpaced(" alice") && Validation.isSpaced("alice\t") && !Validation.isSpaced("alice"))
    }
}

extension ValidationFastPathTests {
    /// The refusal of a first request for `id` by a service on a journal of its own (the
    /// rules for a new id apply once the journal holds none of its events), or `nil`.
    static func firstRequestRefusal(_ id: String) throws -> InputError? {
        let workspace = try Workspace()
        let service = try EnrollmentService.open(
            databasePath: workspace.database, keyFilePath: workspace.keyFile, clock: FixedClock(1_764_400_000), secrets: SeededSecretSource(seed: "ids"))
        defer { try? service.database.close() }
        do { _ = try service.handle(CommandEnvelope(user: id, command: .requestEnrollment(EnrollmentOptions()))); return nil } catch let error as InputError { return error }
    }

    @Test("ids wrapped in parentheses or any brackets, look-alikes of (system) among them, are refused for a user's first request and as an actor, and left alone for every other command on a user the journal holds")
    func parenthesizedIds() throws {
        let lookAlikes = [
            "(system)", "(s\u{0443}stem)", "\u{FF08}system\u{FF09}", "\u{2768}system\u{2769}", "\u{27EE}system\u{27EF}",
            "\u{FD3E}system\u{FD3F}", "\u{2985}system\u{2986}", "(system)\u{0301}", "\u{207D}bob\u{207E}", "(bob)",
        ]
        for id in lookAlikes { #expect(Validation.inParentheses(id), "\(Array(id.unicodeScalars))") }
        // Square brackets and braces read as themselves, in ASCII ids and others alike.
        let bracketed = ["[bob]", "[café]", "{é}", "\u{FF3B}café\u{FF3D}", "«José»"]
        for id in ["bob", "(bob", "bob)", "b(o)b", "café", "(", ")"] + bracketed { #expect(!Validation.inParentheses(id), "\(id)") }
        for id in bracketed { #expect(try Self.firstRequestRefusal(id) == nil, "\(id)") }
        // An id with a character no font draws is refused for that, not for its brackets.
        #expect(try Self.firstRequestRefusal("[a\u{0378}]")?.message.contains("a code point Unicode has not assigned (U+0378)") == true)

        func check(_ command: EnrollmentCommand, user: String, actor: String? = nil) -> InputError? {
            do { _ = try EnrollmentService.checkInput(CommandEnvelope(user: user, actor: actor, command: command)); return nil } catch { return error }
        }
        let message = "an id in parentheses (or brackets like them) would read in history and audit as the engine's own actor, (system); leave them out"
        for id in lookAlikes.dropFirst() {
            #expect(try Self.firstRequestRefusal(id)?.message.contains(message) == true, "\(Array(id.unicodeScalars))")
            #expect(check(.confirmCode("123456"), user: "alice", actor: id)?.code == "invalid_actor", "\(Array(id.unicodeScalars))")
        }
        // A user an older release enrolled as "(bob)" still confirms, regenerates, cancels, is shown and removed.
        for command in [EnrollmentCommand.confirmCode("123456"), .regenerateSecret(nil), .cancelRegenerate, .revealQRCode, .removeAuthenticator] {
            #expect(check(command, user: "(bob)") == nil, "\(command)")
        }
    }

    @Test("new ids and names that hold a noncharacter, an unassigned code point, a private-use character, or begin with a combining mark are refused (user, actor, issuer, account of a request); ids a journal holds keep working; letters with their accents pass")
    func unsettledCharacters() throws {
        func check(_ command: EnrollmentCommand, user: String, actor: String? = nil) -> InputError? {
            do { _ = try EnrollmentService.checkInput(CommandEnvelope(user: user, actor: actor, command: command)); return nil } catch { return error }
        }
        // (Swift's literals take no noncharacter.)
        func scalar(_ value: UInt32) -> String { String(Character(Unicode.Scalar(value)!)) }
        let cases: [(String, String)] = [
            ("a" + scalar(0xFFFE) + "b", "a noncharacter (U+FFFE)"), ("a" + scalar(0xFDD0) + "b", "a noncharacter (U+FDD0)"), ("a" + scalar(0x10FFFF), "a noncharacter (U+10FFFF)"),
            ("a\u{0378}b", "a code point Unicode has not assigned (U+0378)"), ("a\u{E000}b", "a private-use character (U+E000)"),
            ("\u{F0000}x", "a private-use character (U+F0000)"), ("\u{0301}", "begins with a combining mark (U+0301)"), ("\u{0301}a", "begins with a combining mark (U+0301)"),
        ]
        for (id, problem) in cases {
            #expect(try Self.firstRequestRefusal(id).map { $0.code == "invalid_user" && $0.message.contains(problem) } == true, "\(Array(id.unicodeScalars))")
            #expect(check(.confirmCode("123456"), user: "alice", actor: id)?.code == "invalid_actor", "\(Array(id.unicodeScalars))")
            #expect(check(.requestEnrollment(EnrollmentOptions(issuer: "X" + id)), user: "alice")?.code == (id.hasPrefix("\u{0301}") ? nil : "invalid_issuer"))
            #expect(check(.requestEnrollment(EnrollmentOptions(issuer: id)), user: "alice")?.code == "invalid_issuer", "\(Array(id.unicodeScalars))")
            #expect(check(.requestEnrollment(EnrollmentOptions(account: id)), user: "alice")?.code == "invalid_account", "\(Array(id.unicodeScalars))")
            // Recorded by an older release: every other command on that user still runs.
            for command in [EnrollmentCommand.confirmCode("123456"), .regenerateSecret(nil), .cancelRegenerate, .revealQRCode, .removeAuthenticator] {
                #expect(check(command, user: id) == nil, "\(command) \(Array(id.unicodeScalars))")
            }
        }
        for id in ["caf\u{E9}", "cafe\u{0301}", "Andr\u{E9}", "\u{0645}\u{062D}\u{0645}\u{062F}", "\u{1F600}x"] { #expect(try Self.firstRequestRefusal(id) == nil, "\(id)") }
    }
}
