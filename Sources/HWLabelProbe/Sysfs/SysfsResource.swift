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
    static func parse(_ text: String) -> Result<SysfsResource, ProbeError> {
        var text = text
        // One pass over the bytes with plain indices (a scan parses one file per function).
        return text.withUTF8 { b -> Result<SysfsResource, ProbeError> in
            var r = SysfsResource()
            var i = 0
            var line = 0
            while line < 6 && i < b.count {
                let start = i
                var stop = i
                while stop < b.count && b[stop] != 0x0a { stop += 1 }
                i = stop + 1
                if stop > start && b[stop - 1] == 0x0d { stop -= 1 }
                // The kernel writes no empty line: one ends the table (as a trailing newline does).
                if stop == start { break }
                var fields = (UInt64(0), UInt64(0), UInt64(0))
                var count = 0
                var p = start
                var bad = false
                while p < stop {
                    if b[p] == 0x20 || b[p] == 0x09 { p += 1; continue }
                    var q = p
                    while q < stop && b[q] != 0x20 && b[q] != 0x09 { q += 1 }
                    guard count < 3, let v = hex(b, p, q) else { bad = true; break }
                    switch count {
                    case 0: fields.0 = v
                    case 1: fields.1 = v
                    default: fields.2 = v
                    }
                    count += 1
                    p = q
                }
                if bad || count != 3 {
                    return .failure(
                        Self.malformed(
                            line: line + 1,
                            text: String(decoding: UnsafeBufferPointer(rebasing: b[start..<min(stop, start + 60)]), as: UTF8.self)))
                }
                let (s0, e0, fl) = fields
                r.flags[line] = fl
                r.bases[line] = s0 | (fl & 0xf)
                r.sizes[line] = e0 > s0 ? e0 &- s0 &+ 1 : 0
                line += 1
                r.barLines = line
            }
            return .success(r)
        }
    }

    /// A line that is not a BAR: `line 3 "0x1 0x2" is not "start end flags" in hex`.
    static func malformed(line: Int, text: String) -> ProbeError {
        ProbeError(.malformed, message: "line \(line) \"\(text)\" is not \"start end flags\" in hex")
    }

    /// `b[from..<to]`: `0x` and 1 to 16 hex digits, or the digits alone.
    static func hex(_ b: UnsafeBufferPointer<UInt8>, _ from: Int, _ to: Int) -> UInt64? {
        var i = from
        if to - i > 2 && b[i] == 0x30 && (b[i + 1] == 0x78 || b[i + 1] == 0x58) { i += 2 }
        guard to - i >= 1 && to - i <= 16 else { return nil }
        var v: UInt64 = 0
        while i < to {
            let c = b[i]
            let d: UInt8
            if c >= 0x30 && c <= 0x39 {
                d = c &- 0x30
            } else if c >= 0x61 && c <= 0x66 {
                d = c &- 0x57
            } else if c >= 0x41 && c <= 0x46 {
                d = c &- 0x37
            } else {
                return nil
            }
            v = v << 4 | UInt64(d)
            i += 1
        }
        return v
    }
}
