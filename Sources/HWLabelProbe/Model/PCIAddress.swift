/// A PCI function address in the kernel's `DDDD:BB:DD.F` form (domain, bus, device, function).
///
/// Addresses identify a function on this boot only: BIOS settings and slot moves renumber them.
/// Descriptors therefore use attribute and instance identity; the address is for the operator.
public struct PCIAddress: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var domain: UInt32
    public var bus: UInt8
    public var device: UInt8
    public var function: UInt8

    public init(domain: UInt32, bus: UInt8, device: UInt8, function: UInt8) {
        self.domain = domain
        self.bus = bus
        self.device = device
        self.function = function
    }

    /// Strict parse of `DDDD:BB:DD.F` (also accepts a bare `BB:DD.F`, domain 0, as lspci prints).
    /// Rejects trailing junk, out-of-range device (>31) or function (>7).
    public init?(_ text: some StringProtocol) {
        // Over the UTF-8 bytes (sysfs listings hand over thousands of names per scan).
        var parsed: PCIAddress??
        parsed = text.utf8.withContiguousStorageIfAvailable { Self.parse($0) }
        if parsed == nil { parsed = Self.parse(Array(text.utf8)[...]) }
        guard let a = parsed ?? nil else { return nil }
        self = a
    }

    private static func parse<C: Collection<UInt8>>(_ b: C) -> PCIAddress? where C.Index == Int {
        /// Hex digits of `b[from..<to]`, nil unless every byte is one.
        func number(_ from: Int, _ to: Int) -> UInt32? {
            hexValue(b[from..<to]).map { UInt32($0) }
        }
        // `BB:DD.F` is the last 7 bytes; a domain of 4 to 8 digits and a colon may precede it.
        let n = b.count, s = b.startIndex
        guard n == 7 || (12...16).contains(n) else { return nil }
        let tail = s + n - 7
        guard b[tail + 2] == 0x3a, b[tail + 5] == 0x2e,
            let bus = number(tail, tail + 2), let dev = number(tail + 3, tail + 5), let fn = number(tail + 6, tail + 7),
            dev < 32, fn < 8
        else { return nil }
        var domain: UInt32 = 0
        if n > 7 {
            guard b[tail - 1] == 0x3a, let d = number(s, tail - 1) else { return nil }
            domain = d
        }
        return PCIAddress(domain: domain, bus: UInt8(bus), device: UInt8(dev), function: UInt8(fn))
    }

    /// `0000:3b:00.0`
    public var description: String {
        // Written byte by byte: every path and warning of a scan names an address.
        domain > 0xFFFF || function > 0xF
            ? hex(domain, 4) + ":" + slotSuffix
            : withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 12) { b in
                let digits: StaticString = "0123456789abcdef"
                let d = digits.utf8Start
                func put(_ v: UInt32, _ width: Int, at i: Int) {
                    for k in 0..<width { b[i + k] = d[Int(v >> UInt32(4 * (width - 1 - k)) & 0xf)] }
                }
                put(domain, 4, at: 0)
                b[4] = 0x3a
                put(UInt32(bus), 2, at: 5)
                b[7] = 0x3a
                put(UInt32(device), 2, at: 8)
                b[10] = 0x2e
                b[11] = d[Int(function & 0xf)]
                return String(decoding: UnsafeBufferPointer(b), as: UTF8.self)
            }
    }

    /// `BB:DD.F`
    private var slotSuffix: String { hex(bus, 2) + ":" + hex(device, 2) + "." + String(function, radix: 16) }

    /// The slot part shared by all functions of one card: `0000:3b:00`.
    public var slot: String { hex(domain, 4) + ":" + hex(bus, 2) + ":" + hex(device, 2) }

    public static func < (a: PCIAddress, b: PCIAddress) -> Bool {
        (a.domain, a.bus, a.device, a.function) < (b.domain, b.bus, b.device, b.function)
    }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let parsed = PCIAddress(text) else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: decoder.codingPath,
                    debugDescription: "not a PCI address: \(text)"))
        }
        self = parsed
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}

/// Lowercase, zero-padded hexadecimal: IDs travel as strings such as `"10de"`, never integers.
@inlinable
public func hex<T: BinaryInteger>(_ value: T, _ width: Int) -> String {
    // IDs are small and unsigned: their digits go straight into a small string.
    guard value >= 0, value.bitWidth <= 64 || value <= T(UInt64.max), width <= 16 else {
        let digits = String(value, radix: 16)
        return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
    }
    var v = UInt64(value)
    return withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 16) { b in
        var i = 16
        repeat {
            i -= 1
            let d = UInt8(truncatingIfNeeded: v & 0xf)
            b[i] = d < 10 ? 0x30 + d : 0x57 + d
            v >>= 4
        } while v != 0
        while 16 - i < width {
            i -= 1
            b[i] = 0x30
        }
        return String(decoding: UnsafeBufferPointer(rebasing: b[i...]), as: UTF8.self)
    }
}
