import Foundation
import OneTimePassword

/// Validation of what users type, shared by the command line and the HTTP API.
public enum Validation {
    public static let maxUserBytes = 256

    public static func user(_ user: String) throws(InputError) -> String {
        try identity(user, error: InputError.invalidUser)
    }

    /// A user id a journal may already hold: ``user(_:)``'s rules but the one against a space
    /// at either end, which releases before it did not have (such journals still import). For
    /// what reads a user's records (`status`, `history`, `audit --user`), shows a secret again
    /// or removes it: every user in a journal can be audited, and forgotten. A command that
    /// starts or changes an enrollment holds to ``user(_:)``.
    public static func recordedUser(_ user: String) throws(InputError) -> String {
        try identity(user, trimmed: false, error: InputError.invalidUser)
    }

    /// For a ``recordedUser(_:)`` with a space at either end: the refusal when the journal
    /// does not hold it (a stray space typed or pasted), as ``user(_:)`` would refuse it, rather
    /// than an answer about a user no one enrolled.
    public static func spacedUser(_ user: String, recorded: Bool) throws(InputError) {
        if !recorded { try untrimmed(user, error: InputError.invalidUser) }
    }

    /// Whether `text` holds `\u` and four hex digits: how audit shows a character such as a
    /// combining accent (`CORP\user1` does not).
    static func looksEscaped(_ text: String) -> Bool {
        let scalars = Array(text.unicodeScalars)
        return scalars.indices.contains { index in
            scalars[index] == "\\" && index + 5 < scalars.count && scalars[index + 1] == "u"
                && scalars[(index + 2)...(index + 5)].allSatisfy { $0.properties.isASCIIHexDigit }
        }
    }

    /// Whether `text` has a space at either end (of ids, only an older journal's may).
    public static func isSpaced(_ text: String) -> Bool {
        // Every command asks this of its user id. In ASCII, which ids almost always are, each
        // character is one byte (CR LF aside, both white space): no grapheme breaking or
        // Unicode lookup needed.
        let utf8 = text.utf8
        if let first = utf8.first, let last = utf8.last, utf8.allSatisfy({ $0 < 0x80 }) {
            return isASCIIWhitespace(first) || isASCIIWhitespace(last)
        }
        return text.first?.isWhitespace == true || text.last?.isWhitespace == true
    }

    /// Unicode's White_Space in ASCII: tab, line feed, vertical tab, form feed, carriage
    /// return and space.
    private static func isASCIIWhitespace(_ byte: UInt8) -> Bool {
        byte == 0x20 || (0x09...0x0D).contains(byte)
    }

    /// Who acts on a user's behalf: recorded like a user id, so held to the same rules, but
    /// refused under its own name so that the message points at `--actor`, not the user.
    public static func actor(_ actor: String) throws(InputError) -> String {
        try identity(actor, error: InputError.invalidActor)
    }

    private static func identity(_ text: String, trimmed: Bool = true, error: (String) -> InputError) throws(InputError) -> String {
        if text.isEmpty { throw error("it is empty") }
        if text.utf8.count > maxUserBytes { throw error("it is \(text.utf8.count) bytes long") }
        try printable(text, label: "it", error: error)
        // Byte by byte: `contains` with a String argument is Foundation's search, which cost every
        // command several microseconds (BENCHMARKS.md, step 18).
        if text.utf8.contains(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "\\") }) {
            // Copied from a table of `audit`, which shows a combining accent as `\u0301`.
            if looksEscaped(text) { throw error("it contains a path separator ('\\u' followed by hex digits is how audit and history show a character: in bash type the id as $'…', e.g. $'cafe\\u0301')") }
            throw error("it contains a path separator")
        }
        if text == EventMetadata.systemActor { throw error("'\(text)' is the actor of the events the engine records by itself (expiries, the ends of locks)") }
        if trimmed { try untrimmed(text, error: error) }
        return text
    }

    /// A new id (a user's first request, an actor) must not read as the engine's own actor in
    /// `history` and `audit`: none in parentheses (``inParentheses(_:)``). Ids a journal already
    /// holds are left as they are: such a user can still confirm, regenerate, cancel, be shown
    /// and be removed.
    public static func newIdentity(_ text: String, error: (String) -> InputError) throws(InputError) {
        try newName(text, error: error)
        if inParentheses(text) {
            throw error("an id in parentheses (or brackets like them) would read in history and audit as the engine's own actor, \(EventMetadata.systemActor); leave them out")
        }
    }

    /// A new id or name (a first request's user, issuer and account, an actor, a setting typed
    /// for a regenerate) holds only characters that draw as themselves: no noncharacter, no
    /// code point Unicode has not assigned (as this toolchain knows it), none for private use,
    /// and no combining mark first, with nothing of its own to draw on. Values a journal
    /// already holds are left as they are.
    /// `options` with an issuer and an account typed for a new secret (`nil`: left as they
    /// are), each held to the rules for new names (``newName(_:error:)``).
    public static func naming(_ options: EnrollmentOptions, issuer: String?, account: String?) throws(InputError) -> EnrollmentOptions {
        var options = options
        if let issuer {
            try newName(issuer, error: InputError.invalidIssuer)
            options.issuer = issuer
        }
        if let account {
            try newName(account, error: InputError.invalidAccount)
            options.account = account
        }
        return options
    }

    public static func newName(_ text: String, error: (String) -> InputError) throws(InputError) {
        // ASCII, what ids and names almost always are, has none of them.
        guard let first = text.unicodeScalars.first, !text.utf8.allSatisfy({ $0 < 0x80 }) else { return }
        switch first.properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark:
            throw error("it begins with a combining mark (\(codePoint(first))), which would draw on whatever is printed before it")
        default: break
        }
        for scalar in text.unicodeScalars {
            if scalar.properties.isNoncharacterCodePoint {
                throw error("it contains a noncharacter (\(codePoint(scalar))), which Unicode keeps out of text")
            }
            switch scalar.properties.generalCategory {
            case .unassigned: throw error("it contains a code point Unicode has not assigned (\(codePoint(scalar))), which no font draws")
            case .privateUse: throw error("it contains a private-use character (\(codePoint(scalar))), which each font draws its own way, or not at all")
            default: continue
            }
        }
    }

    /// Whether `text` is wrapped in parentheses, as the engine's own actor `(system)` is, also
    /// with look-alike letters inside (`(sуstem)`, a Cyrillic у): ASCII ones, or any brackets at
    /// both ends but square brackets and braces (Unicode's opening and closing punctuation:
    /// fullwidth, ornate, white parentheses…), a combining mark on the last one included. So
    /// `[café]` is as welcome as `[cafe]`. Ids all in ASCII are told apart by their bytes
    /// (every first request checks its id).
    static func inParentheses(_ text: String) -> Bool {
        guard let first = text.utf8.first, let last = text.utf8.last else { return false }
        if first < 0x80 && last < 0x80 && text.utf8.allSatisfy({ $0 < 0x80 }) {
            return first == UInt8(ascii: "(") && last == UInt8(ascii: ")")
        }
        func bracket(_ scalar: Unicode.Scalar?) -> Bool {
            guard let scalar, !"[]{}".unicodeScalars.contains(scalar) else { return false }
            return [.openPunctuation, .closePunctuation].contains(scalar.properties.generalCategory)
        }
        let folded = text.precomposedStringWithCompatibilityMapping
        // The last character's base: `)` with a combining accent is still `)`.
        return bracket(folded.unicodeScalars.first) && bracket(folded.last?.unicodeScalars.first)
    }

    public static func options(_ options: EnrollmentOptions) throws(InputError) -> EnrollmentOptions {
        let issuer = options.issuer
        if issuer.isEmpty { throw .invalidIssuer("it is empty") }
        if issuer.count > 128 { throw .invalidIssuer("it is \(issuer.count) characters long") }
        try printable(issuer, label: "it", error: InputError.invalidIssuer)
        try untrimmed(issuer, error: InputError.invalidIssuer)
        if issuer.utf8.contains(UInt8(ascii: ":")) { throw .invalidIssuer("it contains ':', which separates issuer and account in the QR code's label") }
        if let account = options.account {
            if account.isEmpty { throw .invalidAccount("it is empty") }
            if account.utf8.count > 256 { throw .invalidAccount("it is \(account.utf8.count) bytes long") }
            try printable(account, label: "it", error: InputError.invalidAccount)
            try untrimmed(account, error: InputError.invalidAccount)
            if account.utf8.contains(UInt8(ascii: ":")) { throw .invalidAccount("it contains ':'") }
        }
        guard (6...8).contains(options.parameters.digits) else { throw .invalidDigits(options.parameters.digits) }
        guard (1...3600).contains(options.parameters.period) else { throw .invalidPeriod(options.parameters.period) }
        return options
    }

    /// The most bytes of text a QR code holds at the error correction enrollment QR codes use
    /// (level M, version 40, byte mode: ISO/IEC 18004 Table 7).
    public static let qrCodeCapacity = 2_331

    /// Checks that the otpauth URI of a secret issued with these names fits a QR code: the names
    /// are limited in characters, but percent-encoding makes a character up to 12 bytes (an emoji
    /// in both the label and the `issuer` parameter), so long non-ASCII names could otherwise
    /// issue a secret whose QR code can never be drawn.
    public static func fitsQRCode(_ options: EnrollmentOptions, account: String) throws(InputError) {
        // Percent-encoding at most triples a name's bytes; the rest of the URI is under 150 bytes
        // plus the Base32 secret. Names far below the limit (nearly all) need no URI built.
        let secretLength = EnrollmentPolicy.secretLength(for: options.parameters.algorithm)
        let bound = 6 * options.issuer.utf8.count + 3 * (options.account ?? account).utf8.count + 150 + 2 * secretLength
        if bound <= qrCodeCapacity { return }
        let uri = OTPAuthURI(
            issuer: options.issuer, account: options.account ?? account,
            secret: [UInt8](repeating: 0, count: secretLength), parameters: options.parameters)
        let bytes = uri.string.utf8.count
        if bytes > qrCodeCapacity { throw .namesTooLong(uriBytes: bytes, limit: qrCodeCapacity) }
    }

    /// The longest account part a user id can give a URI: 256 bytes, each percent-encoded.
    public static let longestEncodedUser = String(repeating: "\u{E9}", count: maxUserBytes / 2)

    public static func algorithm(_ name: String) throws(InputError) -> Digest {
        guard let digest = Digest(rawValue: name.uppercased()) else { throw .invalidAlgorithm(name) }
        return digest
    }

    public static func commandId(_ id: String) throws(InputError) -> String {
        guard !id.isEmpty, id.utf8.count <= 128 else { throw .invalidCommandId("it must be 1 to 128 characters") }
        guard id.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else { throw .invalidCommandId("it contains spaces, control or non-ASCII characters") }
        // The ids the engine gives the reveal that records a repeated command's showing: the
        // history reads one as "command ID repeated", which a caller's own id must not fake.
        if id.hasPrefix(EnrollmentService.repeatPrefix) {
            throw .invalidCommandId("it begins with \(EnrollmentService.repeatPrefix), which marks the records of repeated commands")
        }
        return id
    }

    /// A correlation id a journal may already hold, as `audit --correlation-id` looks one up:
    /// any printable one, as every release has recorded (``correlationId(_:)`` is for new ones).
    public static func recordedCorrelationId(_ id: String) throws(InputError) -> String {
        if id.isEmpty { throw .invalidCorrelationId("it is empty") }
        if id.utf8.count > maxUserBytes { throw .invalidCorrelationId("it is \(id.utf8.count) bytes long") }
        try printable(id, label: "it", error: InputError.invalidCorrelationId)
        return id
    }

    /// A correlation id (a request id, a trace id, a ticket): recorded and exported, so no
    /// control characters that could forge lines where it is printed, and, as for a new id, no
    /// space at either end and only characters that draw as themselves.
    public static func correlationId(_ id: String) throws(InputError) -> String {
        _ = try recordedCorrelationId(id)
        try untrimmed(id, error: InputError.invalidCorrelationId)
        try newName(id, error: InputError.invalidCorrelationId)
        return id
    }

    /// A code as typed: 6 to 8 ASCII digits. The reason names what is wrong without echoing
    /// the code (it may be long, or a real code typed into the wrong place).
    public static func code(_ code: String) throws(InputError) -> String {
        let utf8 = code.utf8
        if utf8.isEmpty { throw .invalidCode("it is empty") }
        if utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) {
            guard (6...8).contains(utf8.count) else { throw .invalidCode("it has \(utf8.count) digit\(utf8.count == 1 ? "" : "s")") }
            return code
        }
        if utf8.count > 64 { throw .invalidCode("it is \(code.count) characters long") }
        let scalars = code.unicodeScalars
        if scalars.contains(" ") { throw .invalidCode("it contains spaces") }
        if scalars.contains(where: { $0.properties.isWhitespace }) {
            throw .invalidCode("it contains whitespace (a line break, tab or other blank)")
        }
        if scalars.contains(where: { $0.properties.generalCategory == .dashPunctuation }) { throw .invalidCode("it contains a dash") }
        if scalars.contains(where: { !$0.isASCII && $0.properties.numericType == .decimal }) {
            throw .invalidCode("it contains non-ASCII digits (for example Arabic-Indic or full-width ones)")
        }
        throw .invalidCode("it contains characters other than the digits 0-9")
    }

    /// A code as a person types it: apps show codes in groups ("123 456"), and people copy them
    /// with a space at either end, so ASCII spaces are dropped before ``code(_:)`` checks the
    /// rest. Returns the digits. The command line and the API take codes through this; the
    /// library's commands take digits only.
    public static func typedCode(_ typed: String) throws(InputError) -> String {
        guard typed.utf8.contains(UInt8(ascii: " ")) else { return try code(typed) }
        let digits = String(typed.unicodeScalars.filter { $0 != " " }.map(Character.init))
        if digits.isEmpty { throw .invalidCode("it is empty") }
        return try code(digits)
    }

    /// A whole number typed for `option` (so that `--period -5` or `--period 1e99` get our message).
    public static func number(_ text: String, option: String, expected: String) throws(InputError) -> Int {
        guard let value = Int(text) else { throw .notANumber(option: option, value: text, expected: expected) }
        return value
    }

    /// At most `limit` characters of `text`, its control characters (a line break among them,
    /// which would end a one-line message early) shown as `?`, for echoing user input in an error message.
    public static func excerpt(_ text: String, limit: Int = 40) -> String {
        let cleaned = String(text.unicodeScalars.map { $0.properties.generalCategory == .control ? "?" : Character($0) })
        return cleaned.count > limit ? String(cleaned.prefix(limit)) + "…" : cleaned
    }

    /// " alice" and "alice" would be two users (or issuers) that look the same everywhere they
    /// are shown: a space at either end is refused rather than silently kept or trimmed.
    private static func untrimmed(_ text: String, error: (String) -> InputError) throws(InputError) {
        if isSpaced(text) { throw error("it begins or ends with a space") }
    }

    private static func printable(_ text: String, label: String, error: (String) -> InputError) throws(InputError) {
        for scalar in text.unicodeScalars where scalar == "\u{FFFD}" { throw error("\(label) is not valid UTF-8, or holds U+FFFD, the character such bytes are read as") }
        if let invisible = firstInvisible(in: text) { throw error("\(label) contains \(describeInvisible(invisible))") }
    }

    /// The first character of `text` that ``isControl`` refuses, but for a zero-width non-joiner
    /// or joiner (U+200C, U+200D) inside a word of a script beyond ASCII: between two non-ASCII
    /// letters or symbols, each with any marks it carries (a virama, a variation selector).
    /// Persian and the Indic scripts need them inside words (a Persian name such as "علی‌رضا"),
    /// and emoji sequences between emoji. Also the first character that draws nothing (Unicode's
    /// default-ignorable: a variation selector, a combining grapheme joiner, a Hangul filler) but
    /// where a non-ASCII letter or symbol carries it (an emoji's variation selector): "ad\u{FE0F}min"
    /// would show as "admin". The letters are looked for past marks and such characters, so that
    /// a joiner cannot sit between ASCII letters behind them. Joiners stay escaped wherever an id
    /// is printed (``TextField``), so two ids that differ only by one are told apart.
    ///
    /// `recorded`: for a value an earlier release may have recorded (an import), which took
    /// characters that draw nothing and blanks: only controls and misplaced joiners are refused.
    static func firstInvisible(in text: String, recorded: Bool = false) -> Unicode.Scalar? {
        let checked = { (scalar: Unicode.Scalar) in isControl(scalar) || (!recorded && drawsNothing(scalar)) }
        // The common case, with no such character at all, walks the scalars once.
        guard text.unicodeScalars.contains(where: checked) else { return nil }
        let scalars = Array(text.unicodeScalars)
        for (index, scalar) in scalars.enumerated() where checked(scalar) {
            // A blank (a Hangul filler, the Braille blank) draws as nothing or a space: no word needs one.
            if drawsBlank.contains(scalar.value) { return scalar }
            let before = scalars[..<index].last(where: { !carried($0) }).map(inWord) ?? false
            if drawsNothing(scalar) {
                // A keycap emoji is an ASCII digit, `#` or `*`, a variation selector and U+20E3.
                let keycap = scalar.value == 0xFE0F && index > 0 && index + 1 < scalars.count && scalars[index + 1].value == 0x20E3
                    && "0123456789#*".unicodeScalars.contains(scalars[index - 1])
                guard before || keycap else { return scalar }
                continue
            }
            guard scalar.value == 0x200C || scalar.value == 0x200D, before,
                  let after = scalars[(index + 1)...].first(where: { !carried($0) }), inWord(after)
            else { return scalar }
        }
        return nil
    }

    /// A default-ignorable character that is no control (``isControl`` refuses those): a
    /// variation selector, a combining grapheme joiner, a Hangul filler; or a blank.
    private static func drawsNothing(_ scalar: Unicode.Scalar) -> Bool {
        scalar.value >= 0x80 && (scalar.properties.isDefaultIgnorableCodePoint && !isControl(scalar) || drawsBlank.contains(scalar.value))
    }

    /// Letters and symbols that draw as an empty space: the Braille blank and the Hangul fillers,
    /// the usual way to make a name that looks empty, ends in a space or looks like two columns.
    static let drawsBlank: Set<UInt32> = [0x2800, 0x115F, 0x1160, 0x3164, 0xFFA0]

    /// A mark, or a character that draws nothing: what a letter carries, looked past.
    private static func carried(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark: return true
        // A filler (a letter that draws nothing) is looked past too, to the letter before it.
        default: return drawsNothing(scalar)
        }
    }

    /// A letter or symbol of a script beyond ASCII that draws something.
    private static func inWord(_ scalar: Unicode.Scalar) -> Bool {
        guard !scalar.isASCII, !scalar.properties.isDefaultIgnorableCodePoint, !drawsBlank.contains(scalar.value) else { return false }
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter, .otherSymbol, .modifierSymbol:
            return true
        default:
            return false
        }
    }

    /// What a character ``isControl`` refuses is, named with its code point, since it cannot be
    /// seen: "a control character (U+0009)", "an invisible formatting character (U+200B)".
    static func describeInvisible(_ scalar: Unicode.Scalar) -> String {
        let codePoint = codePoint(scalar)
        switch scalar.properties.generalCategory {
        case .format where scalar.value == 0x200C || scalar.value == 0x200D:
            return "a zero-width \(scalar.value == 0x200C ? "non-joiner" : "joiner") (\(codePoint)) outside a word of a script beyond ASCII"
        case .format: return "an invisible formatting character (\(codePoint))"
        case _ where drawsBlank.contains(scalar.value):
            return "a character that draws as a blank (\(codePoint))"
        case _ where drawsNothing(scalar):
            return "a character that draws nothing (\(codePoint)) where no letter of a script beyond ASCII carries it"
        case .lineSeparator, .paragraphSeparator: return "a line or paragraph separator (\(codePoint))"
        default: return "a control character (\(codePoint))"
        }
    }

    /// A character's code point as Unicode writes it: `U+0009`, `U+200B`, `U+1F600`.
    static func codePoint(_ scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        return "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
    }

    /// C0 and C1 controls, DEL, and the invisible format and separator characters: refused in
    /// every id and name, and escaped wherever a stored one is printed (``TextField``).
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        // ASCII, what names and ids almost always are, needs no Unicode lookup.
        if scalar.value < 0x7F { return scalar.value < 0x20 }
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator: return true
        default: return false
        }
    }
}
