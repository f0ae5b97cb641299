// The types of `OneTimePassword` that this library's API hands out or takes (``OTPAuthURI`` from
// `currentURI()`, ``OTPParameters`` in ``EnrollmentOptions``, ``TOTPVerifier`` in
// ``EnrollmentPolicy``, ``TOTP`` for computing a code) are usable with `import Enrollment` alone.
@_exported import OneTimePassword
