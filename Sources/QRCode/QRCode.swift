import CQRencode
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A QR code symbol, held as a plain Swift matrix of modules.
///
/// The symbol is encoded once, by libqrencode, and then owned by Swift: the C structure is freed
/// before the initializer returns, so a `QRCode` is a value that can be compared, stored and sent
/// across concurrency domains freely. Renderers (``terminalString(invert:)``, ``svg(moduleSize:title:)``
/// and ``png(scale:)``) all add the 4-module quiet zone that ISO/IEC 18004 requires around the symbol,
/// because scanners fail to find the finder patterns without it.
///
/// ```swift
/// let code = try QRCode(encoding: "otpauth://totp/Example:alice%40example.com?secret=JBSWY3DPEHPK3PXP&issuer=Example")
/// let file = code.png(scale: 8)
/// ```
public struct QRCode: Sendable, Equatable {
    /// How much of the symbol may be damaged or hidden and still be read.
    ///
    /// Higher levels make the symbol larger for the same text. `.medium` (about 15% recoverable) is
    /// the usual choice for codes shown on a screen, where damage is rare but glare and moiré are not.
    public enum ErrorCorrection: Sendable, Equatable, Hashable, CaseIterable {
        /// About 7% of codewords recoverable.
        case low
        /// About 15% of codewords recoverable.
        case medium
        /// About 25% of codewords recoverable.
        case quartile
        /// About 30% of codewords recoverable.
        case high
    }

    /// The number of modules on each side of the symbol, without the quiet zone.
    public let size: Int

    /// Row-major, `true` for a dark module. Kept private so every reader goes through
    /// ``isDark(row:column:)``, which also answers for the quiet zone.
    private let modules: [Bool]

    /// The width, in modules, of the light margin every renderer draws around the symbol
    /// (ISO/IEC 18004 section 6.3.8 asks for at least four).
    static let quietZone = 4

    /// Encodes UTF-8 text, typically an `otpauth://` key URI, in a QR code of the smallest version
    /// that holds it.
    ///
    /// The whole text is encoded in 8-bit byte mode, so case and every byte survive exactly; an
    /// otpauth URI's secret and label must not be altered by a scanner.
    ///
    /// - Throws: ``QRCodeError/emptyText`` for an empty string, ``QRCodeError/textTooLong(byteCount:limit:errorCorrection:)``
    ///   when no QR code version can hold the text at the chosen level, and
    ///   ``QRCodeError/encoderFailed(errno:)`` if libqrencode fails for another reason.
    public init(encoding text: String, errorCorrection: ErrorCorrection = .medium) throws(QRCodeError) {
        let bytes = Array(text.utf8)
        guard !bytes.isEmpty else { throw .emptyText }
        let limit = errorCorrection.byteModeCapacity
        guard bytes.count <= limit else {
            throw .textTooLong(byteCount: bytes.count, limit: limit, errorCorrection: errorCorrection)
        }

        errno = 0
        // Version 0 lets libqrencode pick the smallest version that fits.
        let encoded = bytes.withUnsafeBufferPointer { buffer in
            QRcode_encodeData(Int32(buffer.count), buffer.baseAddress, 0, errorCorrection.cLevel)
        }
        guard let encoded else {
            let reason = errno
            if reason == ERANGE {
                throw .textTooLong(byteCount: bytes.count, limit: limit, errorCorrection: errorCorrection)
            }
            throw .encoderFailed(errno: reason)
        }
        defer { QRcode_free(encoded) }

        let width = Int(encoded.pointee.width)
        guard width > 0, let data = encoded.pointee.data else { throw .encoderFailed(errno: 0) }
        // Only the least significant bit means dark; the others describe the module's role.
        let cells = UnsafeBufferPointer(start: data, count: width * width)
        self.size = width
        self.modules = cells.map { $0 & 1 == 1 }
    }

    /// Whether the module at `row`, `column` (both counted from the top-left, from zero) is dark.
    ///
    /// Positions outside the symbol answer `false`: they are the light quiet zone, which lets a
    /// renderer walk from `-4` to `size + 3` without special cases.
    public func isDark(row: Int, column: Int) -> Bool {
        guard row >= 0, row < size, column >= 0, column < size else { return false }
        return modules[row * size + column]
    }

    /// The side of a rendered image in modules: the symbol plus a quiet zone on both sides.
    public var sideWithQuietZone: Int { size + 2 * Self.quietZone }
}

extension QRCode.ErrorCorrection {
    var cLevel: QRecLevel {
        switch self {
        case .low: QR_ECLEVEL_L
        case .medium: QR_ECLEVEL_M
        case .quartile: QR_ECLEVEL_Q
        case .high: QR_ECLEVEL_H
        }
    }

    /// The most bytes a version 40 symbol holds in byte mode at this level
    /// (ISO/IEC 18004 table 7). Checked before calling libqrencode so the error can say the limit.
    var byteModeCapacity: Int {
        switch self {
        case .low: 2953
        case .medium: 2331
        case .quartile: 1663
        case .high: 1273
        }
    }

    /// The name used in messages, as people say it.
    var name: String {
        switch self {
        case .low: "low"
        case .medium: "medium"
        case .quartile: "quartile"
        case .high: "high"
        }
    }
}
