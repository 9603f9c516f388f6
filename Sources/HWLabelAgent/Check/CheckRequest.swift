import HWLabelProbe

/// What a VM asks of a host: devices by label or attribute tuple, vGPU profiles, nested virtualization.
///
/// JSON form (`hwlabel check --request FILE`):
/// ```json
/// {"devices": [{"label": "Turing GPU", "count": 2},
///              {"vendor": "10de", "device": "1e30", "subsystemVendor": "10de", "subsystemDevice": "13d9"}],
///  "vgpu": [{"profile": "GRID T4-4Q", "count": 1}],
///  "nested": false}
/// ```
public struct CheckRequest: Codable, Sendable, Hashable {
    public var devices: [DeviceRequest]
    public var vgpu: [VGPURequest]
    public var nested: Bool

    public init(devices: [DeviceRequest] = [], vgpu: [VGPURequest] = [], nested: Bool = false) {
        self.devices = devices
        self.vgpu = vgpu
        self.nested = nested
    }

    enum CodingKeys: String, CodingKey { case devices, vgpu, nested }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        devices = try c.decodeIfPresent([DeviceRequest].self, forKey: .devices) ?? []
        vgpu = try c.decodeIfPresent([VGPURequest].self, forKey: .vgpu) ?? []
        nested = try c.decodeIfPresent(Bool.self, forKey: .nested) ?? false
    }

    /// Semantic checks the JSON decoder cannot make (an input error: exit 2).
    public func validate() throws(LabelError) {
        if devices.isEmpty && vgpu.isEmpty && !nested {
            throw LabelError.invalidRule("the request asks for nothing (give devices, vgpu or nested)")
        }
        for d in devices { try d.validate() }
        for v in vgpu where v.count < 1 || v.profile.isEmpty {
            throw LabelError.invalidRule("vgpu entries need a profile name and a count ≥ 1")
        }
    }
}

/// N devices by hardware label, or by attribute tuple (vendor, device, optional subsystem).
public struct DeviceRequest: Codable, Sendable, Hashable, CustomStringConvertible {
    public var label: String?
    public var vendor: String?
    public var device: String?
    public var subsystemVendor: String?
    public var subsystemDevice: String?
    public var count: Int

    public init(label: String, count: Int = 1) {
        self.label = label
        self.count = count
    }

    public init(vendor: String, device: String, subsystemVendor: String? = nil, subsystemDevice: String? = nil, count: Int = 1) {
        self.vendor = vendor.lowercased()
        self.device = device.lowercased()
        self.subsystemVendor = subsystemVendor?.lowercased()
        self.subsystemDevice = subsystemDevice?.lowercased()
        self.count = count
    }

    /// Parses `VVVV:DDDD[:SVVV:SDDD]` as `--device` takes it.
    public init(tuple: String, count: Int = 1) throws(LabelError) {
        let p = tuple.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard p.count == 2 || p.count == 4 else { throw LabelError.invalidID(tuple, "device (VVVV:DDDD[:SVVV:SDDD])") }
        self.init(vendor: try normalizedID(p[0], what: "vendor ID"), device: try normalizedID(p[1], what: "device ID"),
                  subsystemVendor: p.count == 4 ? try normalizedID(p[2], what: "subsystem vendor ID") : nil,
                  subsystemDevice: p.count == 4 ? try normalizedID(p[3], what: "subsystem device ID") : nil,
                  count: count)
    }

    enum CodingKeys: String, CodingKey { case label, vendor, device, subsystemVendor, subsystemDevice, count }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        label = try c.decodeIfPresent(String.self, forKey: .label)
        vendor = try c.decodeIfPresent(String.self, forKey: .vendor)?.lowercased()
        device = try c.decodeIfPresent(String.self, forKey: .device)?.lowercased()
        subsystemVendor = try c.decodeIfPresent(String.self, forKey: .subsystemVendor)?.lowercased()
        subsystemDevice = try c.decodeIfPresent(String.self, forKey: .subsystemDevice)?.lowercased()
        count = try c.decodeIfPresent(Int.self, forKey: .count) ?? 1
    }

    public func validate() throws(LabelError) {
        guard count >= 1 else { throw LabelError.invalidRule("count must be ≥ 1 in \(description)") }
        if let label {
            guard vendor == nil && device == nil else {
                throw LabelError.invalidRule("a device request names a label or an attribute tuple, not both")
            }
            _ = try HardwareLabel(validating: label)
            return
        }
        guard let vendor, let device else { throw LabelError.invalidRule("a device request needs a label or vendor and device") }
        _ = try normalizedID(vendor, what: "vendor ID")
        _ = try normalizedID(device, what: "device ID")
        guard (subsystemVendor == nil) == (subsystemDevice == nil) else {
            throw LabelError.invalidRule("give both subsystemVendor and subsystemDevice, or neither")
        }
        if let subsystemVendor { _ = try normalizedID(subsystemVendor, what: "subsystem vendor ID") }
        if let subsystemDevice { _ = try normalizedID(subsystemDevice, what: "subsystem device ID") }
    }

    public func matches(_ d: AssignableDevice) -> Bool {
        if let label { return d.label?.name == label }
        guard d.attributes.vendor == vendor, d.attributes.device == device else { return false }
        if let subsystemVendor, d.attributes.subsystemVendor != subsystemVendor { return false }
        if let subsystemDevice, d.attributes.subsystemDevice != subsystemDevice { return false }
        return true
    }

    /// `label "Turing GPU"` or `10de:1e30 subsystem 10de:13d9`.
    public var what: String {
        if let label { return "label \"\(label)\"" }
        var t = "\(vendor ?? "?"):\(device ?? "?")"
        if let subsystemVendor, let subsystemDevice { t += " subsystem \(subsystemVendor):\(subsystemDevice)" }
        return t
    }

    public var description: String { "\(count) × \(what)" }
}

public struct VGPURequest: Codable, Sendable, Hashable, CustomStringConvertible {
    /// An mdev type name or id (`GRID T4-4Q`, `nvidia-222`) or an NVIDIA SR-IOV vGPU type name or id.
    public var profile: String
    public var count: Int
    public init(profile: String, count: Int = 1) {
        self.profile = profile
        self.count = count
    }
    enum CodingKeys: String, CodingKey { case profile, count }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        profile = try c.decode(String.self, forKey: .profile)
        count = try c.decodeIfPresent(Int.self, forKey: .count) ?? 1
    }
    public var description: String { "\(count) × vGPU profile \"\(profile)\"" }
}
