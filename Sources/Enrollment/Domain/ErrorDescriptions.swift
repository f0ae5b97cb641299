import Foundation

// Every error of the library carries a stable machine `code` and a `message` saying what is
// wrong and what to do. Foundation's `localizedDescription`, which loggers and user interfaces
// of an embedding service show, gives that message rather than "The operation could not be
// completed (… error 0.)".

extension InputError: LocalizedError {
    public var errorDescription: String? { message }
}

extension StoreError: LocalizedError {
    public var errorDescription: String? { message }
}

extension ArchiveError: LocalizedError {
    public var errorDescription: String? { message }
}

extension EnrollmentRejection: LocalizedError {
    public var errorDescription: String? { message }
}

extension FixtureError: LocalizedError {
    public var errorDescription: String? { description }
}
