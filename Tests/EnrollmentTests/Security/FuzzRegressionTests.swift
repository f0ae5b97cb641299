import Enrollment
import Foundation
import Testing

/// Every input in Fuzz/corpus and Fuzz/crashes (the seeds, and whatever libFuzzer ever crashed
/// on) replayed through the same entry points as Sources/EnrollCommandLine/FuzzTargets.swift, in the normal
/// build: decoders through the library, command lines through the real `enroll` binary.
@Suite("fuzz inputs replayed")
struct FuzzRegressionTests {
    static let inputs: [URL] = {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fuzz")
        return ["corpus", "crashes"].flatMap { folder -> [URL] in
            let directory = root.appendingPathComponent(folder)
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            return names.filter { !$0.hasPrefix(".") }.sorted().map { directory.appendingPathComponent($0) }
        }
    }()

    @Test("the seed corpus is there")
    func corpusPresent() {
        #expect(Self.inputs.count >= 15, "Fuzz/corpus is missing")
    }

    @Test("decoders return (a value or a typed error) for every fuzz input, and an event decodes the same in place as in general")
    func decoders() throws {
        for url in Self.inputs {
            let input = [UInt8](try Data(contentsOf: url))
            guard let selector = input.first else { continue }
            let body = Array(input.dropFirst())
            switch selector % 4 {
            case 0:
                let parts = body.split(separator: 0, maxSplits: 1, omittingEmptySubsequences: false)
                let rest = parts.count > 1 ? Array(parts[1]) : []
                let data = String(decoding: rest.dropFirst(), as: UTF8.self)
                let type = String(decoding: parts.first ?? [], as: UTF8.self)
                do {
                    _ = try EventCodec.decode(type: type, schemaVersion: Int(rest.first ?? 1) - 1, data: data, position: 1)
                } catch {
                    #expect(!error.message.isEmpty)
                }
                // As the fuzz target checks: the rebuild's decoder agrees with the general one.
                let decoded = JSONFastPathTests.decodedBothWays(type: type, version: Int(rest.first ?? 1) - 1, data: Array(rest.dropFirst()))
                #expect(decoded.inPlace == decoded.general, "\(url.lastPathComponent)")
                #expect(JSONFastPathTests.checkedAgrees(decoded), "\(url.lastPathComponent): the projections' read")
            case 2: _ = try? Scenario(json: String(decoding: body, as: UTF8.self), name: url.lastPathComponent)
            case 3: _ = try? JournalArchive.entry(from: String(decoding: body, as: UTF8.self), number: 1)
            default: continue
            }
        }
    }

    @Test("fuzzed command lines end with a defined exit code and at most one error line")
    func commandLines() throws {
        let workspace = try Workspace()
        for url in Self.inputs {
            let input = [UInt8](try Data(contentsOf: url))
            guard input.first.map({ $0 % 4 == 1 }) == true else { continue }
            let arguments = input.dropFirst().split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            let result = try workspace.enroll(arguments)
            #expect((0...3).contains(result.status), "\(url.lastPathComponent): exit \(result.status) \(result.stderr)")
            #expect(!result.stderr.contains("Fatal error"), "\(url.lastPathComponent)")
            #expect(result.stderr.split(separator: "\n").count <= 1, "\(url.lastPathComponent): \(result.stderr)")
        }
    }
}
