import Testing

@testable import QRCode

@Suite("Terminal and SVG renderings")
struct RenderingTests {
    @Test("Terminal text has two module rows per line and the quiet zone on every side")
    func terminalShape() throws {
        let code = try QRCode(encoding: Fixtures.alice)
        let side = code.size + 8
        for invert in [true, false] {
            let lines = code.terminalString(invert: invert).split(separator: "\n", omittingEmptySubsequences: false)
            #expect(lines.count == (side + 1) / 2)
            for line in lines {
                #expect(line.unicodeScalars.count == side)
                #expect(line.unicodeScalars.allSatisfy { " ▀▄█".unicodeScalars.contains($0) })
            }
        }
    }

    @Test("The default terminal rendering draws the light quiet zone as blocks")
    func terminalDefaultIsInverted() throws {
        let code = try QRCode(encoding: Fixtures.alice)
        let inverted = code.terminalString().split(separator: "\n")
        let plain = code.terminalString(invert: false).split(separator: "\n")
        // The first two lines are all quiet zone: solid blocks when inverted, blank otherwise.
        #expect(inverted[0].allSatisfy { $0 == "█" })
        #expect(plain[0].allSatisfy { $0 == " " })
        // The top-left finder's dark corner is the first module after four quiet columns.
        #expect(Array(inverted[2].unicodeScalars)[4] == " ")
        #expect(Array(plain[2].unicodeScalars)[4] == "█")
        // The odd last row of quiet zone is a top half only, leaving the terminal's background below.
        #expect(inverted.last?.allSatisfy { $0 == "▀" } == true)
        #expect(code.terminalString().hasSuffix("\n") == false)
    }

    @Test("SVG declares its pixel size, module viewBox, crisp edges and an accessible name")
    func svgDocument() throws {
        let code = try QRCode(encoding: Fixtures.alice)
        let side = code.size + 8
        let svg = code.svg(moduleSize: 10, title: "Scan <this> & \"that\"")
        #expect(svg.hasPrefix("<?xml"))
        #expect(svg.contains("width=\"\(side * 10)\" height=\"\(side * 10)\""))
        #expect(svg.contains("viewBox=\"0 0 \(side) \(side)\""))
        #expect(svg.contains("shape-rendering=\"crispEdges\""))
        #expect(svg.contains("role=\"img\""))
        #expect(svg.contains("aria-label=\"Scan &lt;this&gt; &amp; &quot;that&quot;\""))
        #expect(svg.contains("<title>Scan &lt;this&gt; &amp; &quot;that&quot;</title>"))
        #expect(svg.contains("<rect x=\"0\" y=\"0\" width=\"\(side)\" height=\"\(side)\" fill=\"#ffffff\"/>"))
        #expect(svg.components(separatedBy: "<path").count == 2)
    }

    @Test("SVG path covers exactly the dark modules, offset by the quiet zone")
    func svgPathMatchesModules() throws {
        let code = try QRCode(encoding: Fixtures.zurich)
        let svg = code.svg()
        let start = try #require(svg.range(of: "d=\""))
        let end = try #require(svg[start.upperBound...].firstIndex(of: "\""))
        var dark = Set<[Int]>()
        for segment in svg[start.upperBound..<end].split(separator: "z") {
            // Each segment is "M{x} {y}h{run}v1h-{run}".
            let numbers = segment.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
            let (x, y, run) = (numbers[0], numbers[1], numbers[2])
            for column in x..<(x + run) { dark.insert([y - 4, column - 4]) }
        }
        for row in 0..<code.size {
            for column in 0..<code.size {
                #expect(dark.contains([row, column]) == code.isDark(row: row, column: column))
            }
        }
        #expect(dark.allSatisfy { (0..<code.size).contains($0[0]) && (0..<code.size).contains($0[1]) })
    }

    @Test("A module size below one still gives a drawable SVG")
    func svgClampsModuleSize() throws {
        let code = try QRCode(encoding: Fixtures.alice)
        let side = code.size + 8
        #expect(code.svg(moduleSize: 0).contains("width=\"\(side)\""))
    }
}
