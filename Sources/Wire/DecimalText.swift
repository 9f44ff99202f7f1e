/// Numbers as people read them, without Foundation (which the data-path
/// modules do not link): the daemon's refusal messages and rtuctl's tables.
public enum DecimalText {
    /// `value` with `decimals` digits after the point, rounded.
    public static func fixed(_ value: Double, _ decimals: Int) -> String {
        guard value.isFinite else { return "-" }
        var scale = 1.0
        for _ in 0..<decimals { scale *= 10 }
        let n = Int64((abs(value) * scale).rounded())
        let whole = n / Int64(scale), fraction = n % Int64(scale)
        var text = (value < 0 && n != 0 ? "-" : "") + "\(whole)"
        if decimals > 0 {
            let digits = "\(fraction)"
            text += "." + String(repeating: "0", count: decimals - digits.count) + digits
        }
        return text
    }
}
