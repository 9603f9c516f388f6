import Foundation
import HWLabelProbe

/// The lines of a hand-edited text file (`labels.conf`, `policy.conf`, `agent.conf`).
///
/// `\n` and `\r\n` both end a line (a file saved on Windows reads as it looks), a UTF-8 byte
/// order mark at the start is skipped, and a final line without a line end counts. A `\r`
/// anywhere else, or another control character (tab aside), is an error naming file and line:
/// such a byte is either a damaged line end or invisible in an editor, and reading past it
/// would silently change what the line says.
public enum ConfigText {
    /// Numbered lines without their line ends; `lines[i]` is line `i + 1`.
    public static func lines(_ text: String, path: String) throws(ConfigError) -> [Substring] {
        var text = text
        var ranges: Result<[Range<Int>], ConfigError> = .success([])
        text.withUTF8 { b in ranges = Result { () throws(ConfigError) in try lineRanges(b, path: path) } }
        let utf8 = text.utf8
        var out: [Substring] = []
        for r in try ranges.get() {
            let lo = utf8.index(utf8.startIndex, offsetBy: r.lowerBound)
            let hi = utf8.index(lo, offsetBy: r.count)
            out.append(Substring(utf8[lo..<hi]))
        }
        return out
    }

    /// The byte ranges of the lines of UTF-8 text, line ends excluded (one pass, no
    /// per-character work).
    public static func lineRanges(_ b: UnsafeBufferPointer<UInt8>, path: String) throws(ConfigError) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        let n = b.count
        var start = (n >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF) ? 3 : 0
        var i = start
        while i < n {
            let c = b[i]
            if c >= 0x20 && c != 0x7F || c == 0x09 { i += 1; continue }
            if c == 0x0A || c == 0x0D && (i + 1 == n || b[i + 1] == 0x0A) {
                ranges.append(start..<i)
                i += c == 0x0A ? 1 : 2
                start = i
                continue
            }
            throw ConfigError(
                path: path, line: ranges.count + 1,
                message: c == 0x0D
                    ? "carriage return (\\r) inside the line: lines end with \\n or \\r\\n"
                    : "control character U+\(String(format: "%04X", Int(c))) in the line (only tab is allowed)")
        }
        if start < n { ranges.append(start..<n) }
        return ranges
    }
}

/// An instance id as `InstanceIdentifier` makes them, or a PCI address.
public func isValidInstanceKey(_ key: String) -> Bool {
    if PCIAddress(key) != nil { return true }
    if key.hasPrefix("address:") { return PCIAddress(key.dropFirst("address:".count)) != nil }
    for p in ["dsn:", "slot:", "path:"] where key.hasPrefix(p) {
        let rest = key.dropFirst(p.count)
        return !rest.isEmpty && !rest.contains(where: { $0 == " " || $0 == "\t" || $0 == "=" || $0 == "#" })
    }
    return false
}

extension StringProtocol {
    var trimmed: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\r" { s = s.dropFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\r" { s = s.dropLast() }
        return String(s)
    }
}
