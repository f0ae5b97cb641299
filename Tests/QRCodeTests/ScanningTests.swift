import Foundation
import Testing
import TestSupport

@testable import QRCode

/// End-to-end: every rendering is read back by the real `zbarimg`, the same decoder family phone
/// apps use, and must give back the exact URI. A missing tool fails the test with the package to
/// install; it never skips.
@Suite("Renderings scan back to the exact URI")
struct ScanningTests {
    @Test("A PNG scans back to the exact URI", arguments: Fixtures.uris)
    func pngScans(uri: String) throws {
        let code = try QRCode(encoding: uri)
        #expect(try Tool.scan(png: code.png()) == uri)
    }

    @Test("A small PNG at three pixels per module scans", arguments: [Fixtures.alice])
    func smallestPNGScans(uri: String) throws {
        let code = try QRCode(encoding: uri)
        #expect(try Tool.scan(png: code.png(scale: 3)) == uri)
    }

    @Test("An SVG, rasterised by librsvg, scans back to the exact URI", arguments: Fixtures.uris)
    func svgScans(uri: String) throws {
        let code = try QRCode(encoding: uri)
        let rsvgConvert = try Processes.tool("rsvg-convert", package: "librsvg2-bin")
        let svg = try TemporaryFile(named: "code.svg", contents: Array(code.svg(title: "Scan with your authenticator app").utf8))
        defer { svg.cleanUp() }
        let png = svg.url.deletingLastPathComponent().appendingPathComponent("code.png")
        // A white background behind the document, as a browser page would have.
        _ = try Processes.output(rsvgConvert, ["--background-color", "white", "--output", png.path, svg.url.path])
        #expect(try Tool.scan(png) == uri)
    }

    @Test("The default terminal rendering scans on a dark-background terminal", arguments: Fixtures.uris)
    func terminalScansOnDarkTheme(uri: String) throws {
        let code = try QRCode(encoding: uri)
        let picture = try TerminalPicture.bitmap(of: code.terminalString(), glyphsAreLight: true)
        #expect(try Tool.scan(png: picture.png()) == uri)
    }

    @Test("The non-inverted terminal rendering scans on a light-background terminal", arguments: Fixtures.uris)
    func terminalScansOnLightTheme(uri: String) throws {
        let code = try QRCode(encoding: uri)
        let picture = try TerminalPicture.bitmap(of: code.terminalString(invert: false), glyphsAreLight: false)
        #expect(try Tool.scan(png: picture.png()) == uri)
    }

    @Test("The largest symbol, version 40, scans back from a PNG")
    func largestSymbolScans() throws {
        let text = "otpauth://totp/x?secret=" + String(repeating: "A", count: 2331 - 24)
        let code = try QRCode(encoding: text)
        #expect(code.size == 177)
        #expect(try Tool.scan(png: code.png(scale: 4)) == text)
    }

    @Test("Every error correction level scans back to the exact URI", arguments: QRCode.ErrorCorrection.allCases)
    func everyLevelScans(level: QRCode.ErrorCorrection) throws {
        let code = try QRCode(encoding: Fixtures.zurich, errorCorrection: level)
        #expect(try Tool.scan(png: code.png()) == Fixtures.zurich)
    }
}
