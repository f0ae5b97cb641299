extension QRCode {
    /// The code drawn with Unicode half blocks (`▀`, `▄`, `█` and space), two module rows per line,
    /// with the 4-module quiet zone, for printing in a terminal.
    ///
    /// A block glyph is painted in the terminal's foreground colour and a space shows its background.
    /// Scanners need dark modules on a light field, so the glyphs must stand for whichever modules
    /// match the foreground:
    ///
    /// - `invert: true` (the default) draws the *light* modules, quiet zone included, as blocks. On a
    ///   dark-background terminal (light text on black: the default of most terminal emulators and
    ///   IDE consoles) that shows dark modules on a light square that phone cameras read.
    ///   This is the same choice as `qrencode -t UTF8`.
    /// - `invert: false` draws the *dark* modules as blocks, for light-background terminals (dark text
    ///   on white), where the background itself serves as the light field.
    ///
    /// Lines are separated by `"\n"` with no trailing newline. Each line is `size + 8` characters wide;
    /// a terminal narrower than that wraps the lines and breaks the code.
    public func terminalString(invert: Bool = true) -> String {
        let side = sideWithQuietZone
        let origin = -Self.quietZone
        // Whether the glyph should cover a module. Rows past the bottom of the quiet zone (the odd
        // last half line) are left uncovered so they blend with the terminal's own background.
        func covered(_ row: Int, _ column: Int) -> Bool {
            guard row < origin + side else { return false }
            return isDark(row: row, column: column) != invert
        }

        var lines: [String] = []
        lines.reserveCapacity((side + 1) / 2)
        var top = origin
        while top < origin + side {
            var line = String.UnicodeScalarView()
            for column in origin..<(origin + side) {
                switch (covered(top, column), covered(top + 1, column)) {
                case (true, true): line.append("█")
                case (true, false): line.append("▀")
                case (false, true): line.append("▄")
                case (false, false): line.append(" ")
                }
            }
            lines.append(String(line))
            top += 2
        }
        return lines.joined(separator: "\n")
    }
}
