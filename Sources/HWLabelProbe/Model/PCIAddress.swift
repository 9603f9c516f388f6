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
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        let domainText: Substring
        let busText: Substring
        let rest: Substring
        switch parts.count {
        case 3: (domainText, busText, rest) = (Substring(parts[0]), Substring(parts[1]), Substring(parts[2]))
        case 2: (domainText, busText, rest) = ("0000", Substring(parts[0]), Substring(parts[1]))
        default: return nil
        }
        let devFn = rest.split(separator: ".", omittingEmptySubsequences: false)
        guard devFn.count == 2,
              (4...8).contains(domainText.count), busText.count == 2, devFn[0].count == 2, devFn[1].count == 1,
              let dom = UInt32(domainText, radix: 16), let bus = UInt8(busText, radix: 16),
              let dev = UInt8(devFn[0], radix: 16), let fn = UInt8(devFn[1], radix: 16),
              dev < 32, fn < 8,
              domainText.allSatisfy(\.isHexDigit), busText.allSatisfy(\.isHexDigit),
              devFn[0].allSatisfy(\.isHexDigit)
        else { return nil }
        self.init(domain: dom, bus: bus, device: dev, function: fn)
    }

    /// `0000:3b:00.0`
    public var description: String {
        hex(domain, 4) + ":" + hex(bus, 2) + ":" + hex(device, 2) + "." + String(function, radix: 16)
    }

    /// The slot part shared by all functions of one card: `0000:3b:00`.
    public var slot: String { hex(domain, 4) + ":" + hex(bus, 2) + ":" + hex(device, 2) }

    public static func < (a: PCIAddress, b: PCIAddress) -> Bool {
        (a.domain, a.bus, a.device, a.function) < (b.domain, b.bus, b.device, b.function)
    }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let parsed = PCIAddress(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
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
    let digits = String(value, radix: 16)
    return digits.count >= width ? digits : String(repeating: "0", count: width - digits.count) + digits
}
