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
    /// `vgpu-type SELECTOR TYPE`: the vGPU type an idle card offers Placement (Nova's
    /// `enabled_vgpu_types`). The first rule that matches a card wins. A card that already runs
    /// instances offers their type whatever this says.
    public var vgpuTypes: [VGPUTypeChoice]
    /// `vgpu-mixed-size SELECTOR`: cards the operator put in mixed-size mode (visible through
    /// NVML only, so never guessed from sysfs): several types may run on them at once.
    public var mixedSize: [DeviceSelector]

    public init(
        include: [DeviceSelector] = [], exclude: [DeviceSelector] = [], allowNestedWithPassthrough: Bool = false,
        vgpuTypes: [VGPUTypeChoice] = [], mixedSize: [DeviceSelector] = []
    ) {
        self.include = include
        self.exclude = exclude
        self.allowNestedWithPassthrough = allowNestedWithPassthrough
        self.vgpuTypes = vgpuTypes
        self.mixedSize = mixedSize
    }

    public static let `default` = Policy()
}

/// One `vgpu-type` line: the cards it selects (by function selector or hardware label) and the
/// type name or id they offer.
public struct VGPUTypeChoice: Codable, Sendable, Hashable {
    public enum Target: Codable, Sendable, Hashable {
        case selector(DeviceSelector)
        case label(String)
    }
    public var target: Target
    public var type: String
    public init(target: Target, type: String) {
        self.target = target
        self.type = type
    }
    public func matches(_ f: PCIFunction, label: String?) -> Bool {
        switch target {
        case .selector(let s): s.matches(f)
        case .label(let l): label == l
        }
    }
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
        guard kv.count == 2 else {
            throw LabelError.invalidRule("expected class=…, vendor=…, device=VVVV:DDDD or address=…, got '\(text)'")
        }
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
