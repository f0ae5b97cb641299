@_exported import CryptoPrimitives

/// The Key URI Format and RFC 6238 call the hash an "algorithm"; it is the same ``Digest``.
public typealias OTPAlgorithm = Digest
