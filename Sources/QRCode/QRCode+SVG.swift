extension QRCode {
    /// A standalone SVG document of the code, quiet zone included, `moduleSize` pixels per module.
    ///
    /// The document is meant to be inlined in a web page as well as saved to a file: it carries
    /// `role="img"`, an `aria-label` and a `<title>` (both from `title`, XML-escaped) so screen readers
    /// announce it, and `shape-rendering="crispEdges"` so browsers do not anti-alias module edges into
    /// grey seams that confuse scanners. The `viewBox` is in modules, so the picture scales cleanly if
    /// the page resizes it. Dark modules are one `<path>` of horizontal runs, which keeps the file a
    /// few kilobytes where one `<rect>` per module would be tens.
    ///
    /// A `moduleSize` below 1 is treated as 1.
    public func svg(moduleSize: Int = 8, title: String = "QR code") -> String {
        let side = sideWithQuietZone
        let pixels = side * max(1, moduleSize)
        let label = Self.xmlEscaped(title)

        var path = ""
        for row in 0..<size {
            var column = 0
            while column < size {
                guard isDark(row: row, column: column) else {
                    column += 1
                    continue
                }
                let start = column
                while column < size, isDark(row: row, column: column) { column += 1 }
                let run = column - start
                path += "M\(start + Self.quietZone) \(row + Self.quietZone)h\(run)v1h-\(run)z"
            }
        }

        return """
            <?xml version="1.0" encoding="UTF-8"?>
            <svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="\(pixels)" height="\(pixels)" \
            viewBox="0 0 \(side) \(side)" shape-rendering="crispEdges" role="img" aria-label="\(label)">
            <title>\(label)</title>
            <rect x="0" y="0" width="\(side)" height="\(side)" fill="#ffffff"/>
            <path fill="#000000" d="\(path)"/>
            </svg>

            """
    }

    /// Escapes the five XML special characters so any title is safe in text and attributes.
    static func xmlEscaped(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": escaped += "&amp;"
            case "<": escaped += "&lt;"
            case ">": escaped += "&gt;"
            case "\"": escaped += "&quot;"
            case "'": escaped += "&apos;"
            default: escaped.append(character)
            }
        }
        return escaped
    }
}
