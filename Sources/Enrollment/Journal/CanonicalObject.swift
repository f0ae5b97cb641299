/// A flat JSON object written straight in the journal's canonical form
/// (``JSONValue/canonicalString``: members sorted by name, no spaces, strings escaped the same
/// way), for the events and metadata every command appends. Building a ``JSONValue`` tree
/// through `Codable` first (a dictionary of boxed values, then sorted) cost about as much as
/// the rest of encoding an event; the members here are given in order by the caller, and
/// `JSONFastPathTests` checks every event type's bytes against the `Codable` path.
struct CanonicalObject {
    private(set) var text = "{"
    #if DEBUG
    private var lastKey = ""
    #endif

    private mutating func key(_ name: StaticString) {
        let key = name.description
        #if DEBUG
        precondition(lastKey.isEmpty || lastKey < key, "members of a canonical object are written in order: \(lastKey) before \(key)")
        lastKey = key
        #endif
        if text.utf8.count > 1 { text += "," }
        text += "\""
        text += key
        text += "\":"
    }

    mutating func member(_ name: StaticString, _ value: String) {
        key(name)
        JSONValue.writeString(value, to: &text)
    }

    mutating func member(_ name: StaticString, _ value: Int64) {
        key(name)
        text += String(value)
    }

    mutating func member(_ name: StaticString, _ value: Int) { member(name, Int64(value)) }

    mutating func member(_ name: StaticString, _ value: Bool) {
        key(name)
        text += value ? "true" : "false"
    }

    /// The object, closed.
    consuming func finished() -> String {
        text += "}"
        return text
    }
}
