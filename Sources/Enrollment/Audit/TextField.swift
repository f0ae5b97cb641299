/// A value printed as one field of a line that people and scripts split on whitespace: the
/// tables of `enroll history` and `enroll audit`, and the server's access log.
///
/// User ids and actors may hold spaces, `=` and quotes: `alice   AuthenticatorRemoved   admin`
/// must not read as three columns when it is one user id (nor `x status=500` as a second field
/// of a log line). Such a value is quoted with `"`, and `"` and `\` inside it escaped, as
/// logfmt does; any other value is printed as it is. No command accepts control characters in
/// an id, but a database edited with another tool can hold them: they are escaped (`\n`,
/// `\u001b`), so that no stored value can start a forged line or drive the reader's terminal.
public enum TextField {
    public static func quoted(_ value: String) -> String {
        guard value.isEmpty || value.unicodeScalars.contains(where: { $0 == " " || $0 == "=" || $0 == "\"" || $0 == "\\" || isControl($0) }) else {
            return value
        }
        var quoted = "\""
        for character in value.unicodeScalars {
            switch character {
            case "\"", "\\": quoted += "\\" + String(character)
            case "\n": quoted += "\\n"
            case "\r": quoted += "\\r"
            case "\t": quoted += "\\t"
            case _ where isControl(character): quoted += "\\u" + String(repeating: "0", count: max(0, 4 - String(character.value, radix: 16).count)) + String(character.value, radix: 16)
            default: quoted.unicodeScalars.append(character)
            }
        }
        return quoted + "\""
    }

    /// C0 and C1 controls, DEL, and the invisible format and separator characters that
    /// ``Validation`` refuses in ids.
    static func isControl(_ scalar: Unicode.Scalar) -> Bool {
        if scalar.value < 0x7F { return scalar.value < 0x20 }
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator: return true
        default: return false
        }
    }
}
