import HWLabelProbe

/// Operator policy (`policy.conf`): which functions are assignable beyond the defaults, which
/// are never, and whether nested virtualization may be combined with passthrough.
public struct Policy: Codable, Sendable, Hashable {
    /// Functions to offer although their class is not assignable by default (never bridges).
    public var include: [DeviceSelector]
    /// Functions never offered. Exclude wins over include.
    public var exclude: [DeviceSelector]
    /// ESXi refuses nested hardware virtualization together with a passthrough or vGPU device;
    /// KVM can do it, with caveats. `false` (default) keeps ESXi's refusal in `hwlabel check`.
    public var allowNestedWithPassthrough: Bool

    public init(include: [DeviceSelector] = [], exclude: [DeviceSelector] = [], allowNestedWithPassthrough: Bool = false) {
        self.include = include
        self.exclude = exclude
        self.allowNestedWithPassthrough = allowNestedWithPassthrough
    }

    public static let `default` = Policy()
}

/// `class=0302`, `device=10de:1eb8`, `vendor=10de` or `address=0000:3b:00.0`.
public enum DeviceSelector: Codable, Sendable, Hashable, CustomStringConvertible {
    case classPrefix(String)
    case vendor(String)
    case vendorDevice(String, String)
    case address(PCIAddress)

    /// Parses `key=value` as written in `policy.conf`.
    public init(parsing text: String) throws(LabelError) {
        let kv = text.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        guard kv.count == 2 else { throw LabelError.invalidRule("expected class=…, vendor=…, device=VVVV:DDDD or address=…, got '\(text)'") }
        let value = String(kv[1])
        switch kv[0] {
        case "class":
            let c = value.lowercased()
            guard [2, 4, 6].contains(c.count), c.allSatisfy(\.isHexDigit) else {
                throw LabelError.invalidID(value, "class (2, 4 or 6 hex digits)")
            }
            self = .classPrefix(c)
        case "vendor":
            self = .vendor(try normalizedID(value, what: "vendor ID"))
        case "device":
            let p = value.split(separator: ":", omittingEmptySubsequences: false)
            guard p.count == 2 else { throw LabelError.invalidID(value, "device (VVVV:DDDD)") }
            self = .vendorDevice(try normalizedID(String(p[0]), what: "vendor ID"), try normalizedID(String(p[1]), what: "device ID"))
        case "address":
            guard let a = PCIAddress(value) else { throw LabelError.invalidID(value, "PCI address (DDDD:BB:DD.F)") }
            self = .address(a)
        default:
            throw LabelError.invalidRule("unknown selector '\(kv[0])' (class, vendor, device, address)")
        }
    }

    public func matches(_ f: PCIFunction) -> Bool {
        switch self {
        case let .classPrefix(c): f.classCode.description.hasPrefix(c)
        case let .vendor(v): f.vendor == v
        case let .vendorDevice(v, d): f.vendor == v && f.device == d
        case let .address(a): f.address == a
        }
    }

    public var description: String {
        switch self {
        case let .classPrefix(c): "class=\(c)"
        case let .vendor(v): "vendor=\(v)"
        case let .vendorDevice(v, d): "device=\(v):\(d)"
        case let .address(a): "address=\(a)"
        }
    }
}
