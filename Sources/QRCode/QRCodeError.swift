/// Why a QR code could not be made.
///
/// Each case has a stable ``code`` for programs and logs and a ``message`` that tells a person what
/// to change.
public enum QRCodeError: Error, Equatable, Sendable, CustomStringConvertible {
    /// There was nothing to encode.
    case emptyText
    /// The text needs more bytes than the largest QR code (version 40) holds at this level.
    case textTooLong(byteCount: Int, limit: Int, errorCorrection: QRCode.ErrorCorrection)
    /// libqrencode returned no symbol for another reason, with the C `errno` it set
    /// (`ENOMEM` when out of memory, `EINVAL` for input it rejects).
    case encoderFailed(errno: Int32)

    /// A stable, machine-readable identifier; it never changes wording between releases.
    public var code: String {
        switch self {
        case .emptyText: "qr.empty_text"
        case .textTooLong: "qr.text_too_long"
        case .encoderFailed: "qr.encoder_failed"
        }
    }

    /// What went wrong and what to do about it, for a person.
    public var message: String {
        switch self {
        case .emptyText:
            "There is no text to put in the QR code. Pass the otpauth:// URI to encode."
        case .textTooLong(let byteCount, let limit, let level):
            "The text is \(byteCount) bytes, but a QR code at \(level.name) error correction holds at most \(limit). "
                + "Shorten it (a shorter issuer or account name), or use a lower error correction level."
        case .encoderFailed(let errno):
            "libqrencode could not encode the text (errno \(errno)). Retry; if it persists, check that the process has memory available."
        }
    }

    public var description: String { "\(code): \(message)" }
}
