extension QRCode {
    /// A complete PNG file of the code, quiet zone included, `scale` pixels per module.
    ///
    /// The image is 1-bit greyscale, `(size + 8) * scale` pixels square, written without any image
    /// library (see ``Bitmap/png()``), so the package needs nothing beyond libqrencode. A `scale`
    /// below 1 is treated as 1; 8 gives roughly 300 to 500 pixels for a typical otpauth URI, which
    /// phones read easily from a screen.
    public func png(scale: Int = 8) -> [UInt8] {
        bitmap(scale: max(1, scale)).png()
    }

    /// The code as pixels, dark `true`, with the quiet zone, each module a `scale` by `scale` square.
    func bitmap(scale: Int) -> Bitmap {
        let side = sideWithQuietZone
        var image = Bitmap(width: side * scale, height: side * scale)
        for row in 0..<side {
            for column in 0..<side
            where isDark(row: row - Self.quietZone, column: column - Self.quietZone) {
                image.fill(x: column * scale, y: row * scale, width: scale, height: scale)
            }
        }
        return image
    }
}
