import ArgumentParser
import Enrollment
import Foundation

/// Fuzz targets for libFuzzer (built by Tools/fuzz.sh with `-sanitize=fuzzer -D FUZZING`; the
/// entry points are in Sources/enroll/FuzzerEntryPoints.swift).
///
/// The first byte of an input picks the target; the rest is its input:
/// 0: the event decoder (`EventCodec.decode`): type NUL schema-version-byte data; the rebuild's
///    in-place decoder must give the same event or error as the general one;
/// 1: the command line (`Enroll.parseAsRoot` and the error formatting the runner does): arguments separated by NUL;
/// 2: the fixture decoder (`Scenario(json:name:)`);
/// 3: the export/import line decoder (`JournalArchive.entry(from:number:)`: a row or the end line).
/// A target must return normally for every input: any trap or sanitizer report is a bug.
///
/// With `ENROLL_FUZZ_TARGET=N` (0–3) in the environment every input goes to target N, its first
/// byte still skipped: Tools/fuzz.sh fuzzes the targets one at a time, since the command line's
/// parser takes about a thousand times as long per input as the decoders and left them a few
/// inputs a second when all four shared one run. The script then writes N into each crash
/// input's first byte, so that it replays through the same target without the variable.
public enum FuzzTargets {
    /// A fixed data key: sealed secrets in fuzzed events go through a real AES-GCM open.
    static let dataKey = [UInt8](repeating: 0x42, count: 32)

    /// `ENROLL_FUZZ_TARGET`, when it names a target.
    static let onlyTarget: UInt8? = getenv("ENROLL_FUZZ_TARGET").flatMap { UInt8(String(cString: $0)) }.flatMap { $0 < 4 ? $0 : nil }

    public static func run(_ input: [UInt8]) {
        guard let first = input.first else { return }
        let body = Array(input.dropFirst())
        switch onlyTarget ?? first % 4 {
        case 0: decodeEvent(body)
        case 1: parseCommandLine(body)
        case 2: _ = try? Scenario(json: String(decoding: body, as: UTF8.self), name: "fuzz.json")
        default: _ = try? JournalArchive.entry(from: String(decoding: body, as: UTF8.self), number: 1)
        }
    }

    static func decodeEvent(_ body: [UInt8]) {
        let parts = body.split(separator: 0, maxSplits: 1, omittingEmptySubsequences: false)
        let type = String(decoding: parts.first ?? [], as: UTF8.self)
        let rest = parts.count > 1 ? Array(parts[1]) : []
        let version = Int(rest.first ?? 1) - 1  // also 0 and -1, which must be refused
        let data = String(decoding: rest.dropFirst(), as: UTF8.self)
        let general = Result { () throws(StoreError) in try EventCodec.decode(type: type, schemaVersion: version, data: data, position: 1) }
        func inPlace(_ sealedBytes: SealedBytes) -> Result<EnrollmentEvent, StoreError> {
            Array(type.utf8).withUnsafeBytes { typeBytes in
                Array(data.utf8).withUnsafeBytes { dataBytes in
                    Result { () throws(StoreError) in
                        try EventCodec.decode(type: typeBytes, schemaVersion: version, data: dataBytes, position: 1, sealedBytes: sealedBytes)
                    }
                }
            }
        }
        precondition(inPlace(.kept) == general, "the in-place event decoder disagrees with the general one")
        // As projections read it (sealed bytes checked, not kept): the same row accepted or refused alike.
        switch (inPlace(.checked), general) {
        case (.success, .success): break
        case (.failure(let checked), .failure(let full)): precondition(checked == full, "the projections' read refuses a row differently")
        default: preconditionFailure("the projections' read disagrees with the full one on whether a row decodes")
        }
        _ = try? EventCodec.decode(type: type, schemaVersion: version, data: data, position: 1) { sealed in
            KeyRing.open(sealed, dataKey: dataKey, stream: "fuzz")
        }
    }

    static func parseCommandLine(_ body: [UInt8]) {
        let arguments = body.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        do {
            _ = try Enroll.parseAsRoot(arguments)
        } catch {
            _ = Enroll.exitCode(for: error)
            _ = Enroll.message(for: error)
        }
    }
}
