/// A value printed as one field of a line that people and scripts split on whitespace: the
/// tables of `enroll history` and `enroll audit`, and the server's access log.
///
/// User ids and actors may hold spaces, `=` and quotes: `alice   AuthenticatorRemoved   admin`
/// must not read as three columns when it is one user id (nor `x status=500` as a second field
/// of a log line). Such a value is quoted with `"`, and `"` and `\` inside it escaped, as
/// logfmt does; any other value is printed as it is.
public enum TextField {
    public static func quoted(_ value: String) -> String {
        guard value.isEmpty || value.unicodeScalars.contains(where: { $0 == " " || $0 == "=" || $0 == "\"" || $0 == "\\" }) else { return value }
        var quoted = "\""
        for character in value.unicodeScalars {
            if character == "\"" || character == "\\" { quoted.append("\\") }
            quoted.unicodeScalars.append(character)
        }
        return quoted + "\""
    }
}
