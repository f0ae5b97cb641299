import Foundation

/// A string compared, hashed and ordered by its UTF-8 bytes, as SQLite's BINARY collation does.
///
/// Swift's `String` compares by Unicode canonical equivalence: "josé" typed composed (é) and
/// decomposed (e + ◌́) are equal strings, but two different streams, rows and primary keys in
/// the database. A fold keyed on `String` would merge the two users into one row; keyed on
/// this, the projections hold exactly what the journal holds.
struct BinaryString: Hashable, Comparable, Sendable {
    let string: String

    init(_ string: String) { self.string = string }

    static func == (lhs: BinaryString, rhs: BinaryString) -> Bool {
        // On the bytes in place: a rebuild compares each event's user with the last one's.
        var left = lhs.string, right = rhs.string
        return left.withUTF8 { a in
            right.withUTF8 { b in
                guard a.count == b.count else { return false }
                guard let start = a.baseAddress, let other = b.baseAddress else { return true }
                return memcmp(start, other, a.count) == 0
            }
        }
    }

    static func < (lhs: BinaryString, rhs: BinaryString) -> Bool {
        // memcmp, then the shorter first: SQLite's BINARY order (a flush sorts thousands of keys).
        var left = lhs.string, right = rhs.string
        return left.withUTF8 { a in
            right.withUTF8 { b in
                let common = min(a.count, b.count)
                if common > 0, let start = a.baseAddress, let other = b.baseAddress {
                    let order = memcmp(start, other, common)
                    if order != 0 { return order < 0 }
                }
                return a.count < b.count
            }
        }
    }

    /// The first 16 bytes as two big-endian integers, zero-padded. Where two strings' prefixes
    /// differ, they order as `<` orders the strings; where they are equal, compare the strings.
    /// A flush sorts thousands of keys by it at a fraction of `<`'s cost.
    var orderPrefix: (UInt64, UInt64) {
        var string = string
        return string.withUTF8 { bytes in
            var high: UInt64 = 0, low: UInt64 = 0
            for index in 0..<16 {
                let byte = index < bytes.count ? UInt64(bytes[index]) : 0
                if index < 8 { high = high << 8 | byte } else { low = low << 8 | byte }
            }
            return (high, low)
        }
    }

    func hash(into hasher: inout Hasher) {
        var string = string
        string.withUTF8 { hasher.combine(bytes: UnsafeRawBufferPointer($0)) }
    }
}
