import Foundation

/// A position of the journal and the hash the chain had there.
///
/// The chain alone cannot catch someone who rewrites rows and recomputes every hash after
/// them. Kept somewhere the database's writers cannot reach (a ticket, a log, a second
/// system), an anchor can: every row up to its position feeds its hash, so a journal that
/// still verifies but no longer has this hash at this position was rewritten at or before it,
/// and one that ends before it lost rows.
public struct ChainAnchor: Sendable, Hashable, CustomStringConvertible {
    public var position: Int64
    public var hash: [UInt8]

    public init(position: Int64, hash: [UInt8]) {
        self.position = position
        self.hash = hash
    }

    /// `POSITION:HEX`, as `enroll verify` prints it and `--anchor` reads it back.
    public var description: String { "\(position):" + Hex.string(hash) }

    /// Parses `POSITION:HEX` (a position of 1 or more and a 64-digit SHA-256 in hex); `nil` otherwise.
    public init?(_ text: String) {
        guard case .success(let anchor) = Self.parse(text) else { return nil }
        self = anchor
    }

    /// Parses `POSITION:HEX`, or says what is wrong with it.
    public static func parse(_ text: String) -> Result<ChainAnchor, AnchorSyntaxError> {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2, let position = Int64(parts[0]),
              let hash = Hex.bytes(String(parts[1])), hash.count == 32
        else { return .failure(.malformed) }
        // Journal positions start at 1: no row sits at 0 or below, so no anchor can name one.
        guard position >= 1 else { return .failure(.positionOutOfRange(position)) }
        return .success(ChainAnchor(position: position, hash: hash))
    }
}

/// Why a text is not an anchor.
public enum AnchorSyntaxError: Error, Sendable, Hashable {
    /// Not `POSITION:HEX` with a whole number and 64 hex digits.
    case malformed
    /// A well-formed anchor at a position no journal row can have (positions start at 1).
    case positionOutOfRange(Int64)
}

extension AnchorSyntaxError: EnrollmentError {
    public var code: String {
        switch self {
        case .malformed: "anchor_malformed"
        case .positionOutOfRange: "anchor_position_out_of_range"
        }
    }

    public var message: String {
        switch self {
        case .malformed:
            "an anchor is POSITION:HASH as `enroll verify` prints it (a position, a colon, 64 hex digits)"
        case .positionOutOfRange(let position):
            "an anchor's position is 1 or more (journal positions start at 1), not \(position); pass an anchor as `enroll verify` printed it"
        }
    }
}

/// Why a journal does not match an anchor kept outside it.
public enum AnchorMismatch: Sendable, Hashable {
    /// The journal ends before the anchor's position: rows were deleted from its end (or the
    /// anchor was mistyped, or taken from another database).
    case shorter(head: Int64)
    /// The row at the anchor's position has another hash: the journal was rewritten at or before it.
    case rewritten(found: [UInt8])

    public func message(for anchor: ChainAnchor) -> String {
        switch self {
        case .shorter(let head):
            "the journal ends at position \(head), before the anchor at position \(anchor.position): rows were deleted from its end, or the anchor is not one this journal gave (check that it was copied whole, from this database's export or verify)"
        case .rewritten:
            "the chain does not have the anchor's hash at position \(anchor.position): the journal was rewritten at or before that position with its hashes recomputed, or the anchor is not one this journal gave (check that it was copied whole, from this database's export or verify)"
        }
    }
}
