import Foundation

/// A value printed as one field of a line that people and scripts split on whitespace: the
/// tables of `enroll history` and `enroll audit`, and the server's access log.
///
/// User ids and actors may hold spaces, `=` and quotes: `alice   AuthenticatorRemoved   admin`
/// must not read as three columns when it is one user id (nor `x status=500` as a second field
/// of a log line). Such a value is quoted with `"`, and `"` and `\` inside it escaped, as
/// logfmt does (a space of another script, such as a no-break space, counts as a space); any
/// other value is printed as it is. No command accepts control characters in
/// an id, but a database edited with another tool can hold them: they are escaped (`\n`,
/// `\u001b`), so that no stored value can start a forged line or drive the reader's terminal.
///
/// Ids are compared byte for byte, so `café` typed composed (U+00E9) and decomposed (`e` and
/// U+0301) are two users, who look alike on screen. A value not in Unicode's composed form
/// (NFC, what keyboards type) is quoted with its combining marks and decomposing characters
/// escaped (`"cafe\u0301"`), so that the two can be told apart.
public enum TextField {
    public static func quoted(_ value: String) -> String {
        guard value.isEmpty || value.unicodeScalars.contains(where: needsQuotes) || !isComposed(value) else { return value }
        return "\"" + escaped(value, quotes: true) + "\""
    }

    /// `value` with its control characters escaped (`\n`, `\r`, `\t`, else `\u` and four hex
    /// digits, or `\U` and eight past U+FFFF), and with `quotes`, `"` and `\` too: for a stored value printed inside quotes of
    /// another kind (`enroll verify` shows projection values as `'…'`). With `marks` false, a
    /// value not in composed form keeps its combining marks as they are (a path, which must be
    /// copied back as it is, is not an id that may pass for another).
    public static func escaped(_ value: String, quotes: Bool = false, marks: Bool = true) -> String {
        let composed = !marks || isComposed(value)
        guard !composed || value.unicodeScalars.contains(where: { isControl($0) || (quotes && ($0 == "\"" || $0 == "\\")) }) else { return value }
        var escaped = ""
        for character in value.unicodeScalars {
            switch character {
            case "\"" where quotes, "\\" where quotes: escaped += "\\" + String(character)
            case "\n": escaped += "\\n"
            case "\r": escaped += "\\r"
            case "\t": escaped += "\\t"
            case _ where isControl(character) || (!composed && decomposes(character)):
                // Past U+FFFF, `\U` and eight digits: `\u` reads four at most (bash's `$'…'`,
                // C, Python, JSON), so `\u1d15e` would be read back as U+1D15 and an 'e'.
                let hex = String(character.value, radix: 16)
                let (escape, width) = character.value > 0xFFFF ? ("\\U", 8) : ("\\u", 4)
                escaped += escape + String(repeating: "0", count: max(0, width - hex.count)) + hex
            default: escaped.unicodeScalars.append(character)
            }
        }
        return escaped
    }

    /// Whether `value` is in Unicode's composed form (NFC). Swift's `==` would call the two forms
    /// equal, so the scalars are compared.
    public static func isComposed(_ value: String) -> Bool {
        value.utf8.allSatisfy { $0 < 0x80 } || value.unicodeScalars.elementsEqual(value.precomposedStringWithCanonicalMapping.unicodeScalars)
    }

    /// A combining mark, or a character that composing replaces (U+212B ANGSTROM SIGN becomes
    /// U+00C5): what makes a value differ from its composed form.
    private static func decomposes(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .nonspacingMark, .spacingMark, .enclosingMark: true
        default: scalar.value >= 0x80 && !String(scalar).precomposedStringWithCanonicalMapping.unicodeScalars.elementsEqual([scalar])
        }
    }

    /// A space of any script (a no-break or ideographic space reads as a column break too), a
    /// character that draws as a blank without being a space (``Validation/drawsBlank``), `=`, a quote, a
    /// backslash or a control character.
    private static func needsQuotes(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar {
        case " ", "=", "\"", "\\": true
        default: isControl(scalar) || (scalar.value >= 0x80 && (scalar.properties.isWhitespace || Validation.drawsBlank.contains(scalar.value)))
        }
    }


    /// How many terminal columns `text` takes: one per character, two for the East Asian wide
    /// and fullwidth ones (CJK ideographs, kana, Hangul syllables, fullwidth forms, most emoji),
    /// so that tables of ids line up whatever script the ids are in.
    public static func displayWidth(_ text: String) -> Int {
        text.reduce(0) { width, character in
            width + (character.unicodeScalars.first.map(isWide) == true ? 2 : 1)
        }
    }

    /// `text` followed by spaces up to `width` terminal columns (nothing added when it is as
    /// wide or wider): a cell of a table.
    public static func padded(_ text: String, to width: Int) -> String {
        let shown = displayWidth(text)
        return shown >= width ? text : text + String(repeating: " ", count: width - shown)
    }

    /// The wide ranges of Unicode's East Asian Width property (UAX #11: W and F), in short.
    private static func isWide(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x1100...0x115F, 0x2E80...0x303E, 0x3041...0x33FF, 0x3400...0x4DBF, 0x4E00...0x9FFF,
             0xA000...0xA4CF, 0xAC00...0xD7A3, 0xF900...0xFAFF, 0xFE30...0xFE4F, 0xFF00...0xFF60,
             0xFFE0...0xFFE6, 0x1F300...0x1F64F, 0x1F900...0x1F9FF, 0x20000...0x3FFFD:
            return true
        default:
            return false
        }
    }

    /// `text` as one word of a shell command line to copy: as it is when it holds nothing a
    /// shell reads specially, else in single quotes. A value not in composed form (NFC) or with
    /// a control character is written as bash's `$'…'` with those characters escaped
    /// (`$'cafe\u0301'`): printed as it is it would look like, and be typed as, another value
    /// (`café`, composed), and a terminal would act on a control character.
    public static func shellWord(_ text: String) -> String {
        if !isComposed(text) || text.unicodeScalars.contains(where: isControl) {
            return "$'" + escaped(text, quotes: true).replacingOccurrences(of: "'", with: "\\'") + "'"
        }
        let plain = !text.isEmpty && text.allSatisfy { $0.isLetter || $0.isNumber || "/._-+@%:,".contains($0) }
        return plain ? text : "'" + text.replacingOccurrences(of: "'", with: #"'\''"#) + "'"
    }

    /// A file path for a command a message suggests, as one shell word: absolute (a relative
    /// one taken from the current directory), so that the command names the same file wherever
    /// it is run from (a log, a ticket, another shell), and no command takes it for an option.
    public static func shellPath(_ path: String) -> String {
        shellWord(absolutePath(path))
    }

    /// `path` as an absolute path: a relative one taken from the current directory (its `./`
    /// dropped), an absolute one as it is; one with a `..` component as the file it names
    /// (``DatabasePath/resolved(_:)``), which `ls` can open.
    public static func absolutePath(_ path: String) -> String {
        let path = DatabasePath.resolved(path)
        guard !path.hasPrefix("/") else { return path }
        let relative = path.hasPrefix("./") ? String(path.dropFirst(2)) : path
        let directory = FileManager.default.currentDirectoryPath
        return (directory.hasSuffix("/") ? directory : directory + "/") + relative
    }

    private static func isControl(_ scalar: Unicode.Scalar) -> Bool { Validation.isControl(scalar) }
}
