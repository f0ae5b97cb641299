import CryptoPrimitives
import Foundation
import OneTimePassword

/// What every error of the library carries: a stable machine `code` (`not_enrolled`,
/// `database_busy`, …) and a `message` saying what is wrong and what to do. The engine's codes
/// are plain snake case; those of the modules below it carry their module's prefix (`otp.`,
/// `otpauth.`, `qr.`, `crypto.`), as they had before this protocol gathered them. Codes are
/// part of the interface (exit codes, JSON, the API's answers): they are never renamed. An embedding
/// service can catch them all as one (`catch let error as EnrollmentError`) and answer with the
/// code; Foundation's `localizedDescription`, which loggers and user interfaces show, gives the
/// message rather than "The operation could not be completed (… error 0.)".
public protocol EnrollmentError: LocalizedError, Sendable {
    var code: String { get }
    var message: String { get }
}

extension EnrollmentError {
    public var errorDescription: String? { message }
}

extension InputError: EnrollmentError {}
extension StoreError: EnrollmentError {}
extension ArchiveError: EnrollmentError {}
extension EnrollmentRejection: EnrollmentError {}
// The one-time-password module's, which `import Enrollment` brings (Exports.swift), and the
// crypto primitives': each has its code and message already.
extension OTPParameterError: EnrollmentError {}
extension OTPAuthURIError: EnrollmentError {}
extension CryptoError: EnrollmentError {}

extension FixtureError: EnrollmentError {
    public var message: String { description }
}

extension SecretSourceError: EnrollmentError {
    public var code: String { "secrets_exhausted" }
    public var message: String { "the fixed secret source has given every secret it was given; give it one for each secret the commands issue" }
}
