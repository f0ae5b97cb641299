import Foundation

/// Whether key material shows through the ways a program prints a value without meaning to:
/// `"\(value)"` (log lines, messages), `String(reflecting:)` (debug output, a failed
/// `#expect`), and `dump`, which walks `Mirror` children, private stored properties included.
public enum SecretExposure {
    /// The value as each of those renders it, by name.
    public static func renderings(of value: Any) -> [(name: String, text: String)] {
        var dumped = ""
        dump(value, to: &dumped)
        return [("String(describing:)", String(describing: value)), ("String(reflecting:)", String(reflecting: value)), ("dump", dumped)]
    }

    /// The first form of `secret` found in `text`, or nil: its bytes as a run of integers (how
    /// an array's description and `dump` list them), hex, base64, the bytes as text, and
    /// `alsoAs` (such as the secret's Base32 text).
    public static func form(of secret: [UInt8], in text: String, alsoAs extra: [String] = []) -> String? {
        let hex = secret.map { String(format: "%02x", $0) }.joined()
        var forms = extra + [hex, hex.uppercased(), Data(secret).base64EncodedString()]
        if let utf8 = String(validating: secret, as: UTF8.self) { forms.append(utf8) }
        if let found = forms.first(where: { text.contains($0) }) { return found }
        // Four bytes in a row among the integers of the text.
        let integers = text.split { !$0.isNumber }.compactMap { Int($0) }
        let run = secret.prefix(4).map(Int.init)
        guard run.count == 4, integers.count >= 4 else { return nil }
        for start in 0...(integers.count - 4) where Array(integers[start..<(start + 4)]) == run {
            return "its bytes \(run.map(String.init).joined(separator: ", ")), …"
        }
        return nil
    }

    /// Every rendering of `value` that shows `secret`, as "rendering: form" lines (empty: none).
    public static func leaks(of secret: [UInt8], in value: Any, alsoAs extra: [String] = []) -> [String] {
        renderings(of: value).compactMap { rendering in
            form(of: secret, in: rendering.text, alsoAs: extra).map { "\(rendering.name) shows \($0):\n\(rendering.text)" }
        }
    }
}
