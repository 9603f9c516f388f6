/// The BARs in a function's `resource` file, read by the probe itself rather than by libpci.
///
/// The kernel's `resource_show()` prints one `0x%016llx 0x%016llx 0x%016llx` line (start, end,
/// IORESOURCE flags) per resource: BARs 0 to 5 first, then the ROM, the SR-IOV BARs and the
/// bridge windows. libpci's `sysfs_get_resources()` reads the same file with a blocking
/// `fopen`, so a FIFO there hangs the scan, and its `error()` on one bad line throws away every
/// config-space fact of the function. Read here (non-blocking, bounded, strict), a bad file
/// costs the BARs only, with a warning naming it. The values mirror libpci's: size is
/// `end - start + 1` when `end > start`, else 0; the base carries the flags' low four bits.
struct SysfsResource: Equatable {
    /// BARs 0 to 5: base address (with the flag bits libpci ORs in), size, and kernel flags.
    var bases = [UInt64](repeating: 0, count: 6)
    var sizes = [UInt64](repeating: 0, count: 6)
    var flags = [UInt64](repeating: 0, count: 6)
    /// How many BAR lines the file held (0 to 6): none means nothing is known of the BARs.
    var barLines = 0

    /// Parses the first six lines (the BARs); the lines after them are not needed. A line that
    /// is not three hex numbers of at most 16 digits (each with an optional `0x`) makes the
    /// whole table unknown: the error text says which line and what it held.
    static func parse(_ text: String) -> Result<SysfsResource, ParseError> {
        var r = SysfsResource()
        for (i, line) in TextLines.split(text, keepEmpty: true).prefix(6).enumerated() {
            // The kernel writes no empty line: one ends the table (as a trailing newline does).
            if line.isEmpty { break }
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard fields.count == 3, let start = hex(fields[0]), let end = hex(fields[1]), let fl = hex(fields[2]) else {
                return .failure(ParseError(line: i + 1, text: String(line.prefix(60))))
            }
            r.flags[i] = fl
            r.bases[i] = start | (fl & 0xf)
            r.sizes[i] = end > start ? end &- start &+ 1 : 0
            r.barLines = i + 1
        }
        return .success(r)
    }

    struct ParseError: Error, Equatable {
        var line: Int
        var text: String
        var description: String { "line \(line) \"\(text)\" is not \"start end flags\" in hex" }
    }

    /// `0x` and 1 to 16 hex digits, or the digits alone.
    static func hex(_ s: Substring) -> UInt64? {
        var u = s.utf8[...]
        if u.count > 2, u.first == 0x30, let x = u.dropFirst().first, x == 0x78 || x == 0x58 { u = u.dropFirst(2) }
        guard (1...16).contains(u.count) else { return nil }
        return hexValue(u)
    }
}
