import HWLabelProbe

/// An attribute rule: every device whose IDs match gets the label, as vSphere's `allowedDevice`
/// tuple with a `customLabel`. Subsystem IDs give the precision that tells a Quadro RTX 6000
/// (10de:1e30 subsystem 10de:13d9) from an RTX 8000 (same 10de:1e30, subsystem 10de:13d8).
public struct LabelRule: Codable, Sendable, Hashable {
    public var vendor: String
    @Nullable public var device: String?
    @Nullable public var subsystemVendor: String?
    @Nullable public var subsystemDevice: String?
    /// Class prefix: 2 (base), 4 (base+sub) or 6 (with prog-if) hex digits.
    @Nullable public var classPrefix: String?
    public var label: HardwareLabel

    /// Validates and lower-cases every ID.
    public init(
        vendor: String, device: String? = nil, subsystemVendor: String? = nil,
        subsystemDevice: String? = nil, classPrefix: String? = nil, label: HardwareLabel
    ) throws(LabelError) {
        self.vendor = try normalizedID(vendor, what: "vendor ID")
        self.device = try device.map { (d) throws(LabelError) in try normalizedID(d, what: "device ID") }
        guard (subsystemVendor == nil) == (subsystemDevice == nil) else {
            throw LabelError.invalidRule("--subsystem needs both IDs: SVVV:SDDD")
        }
        if subsystemVendor != nil, device == nil {
            throw LabelError.invalidRule("a subsystem match needs --device too")
        }
        self.subsystemVendor = try subsystemVendor.map { (d) throws(LabelError) in try normalizedID(d, what: "subsystem vendor ID") }
        self.subsystemDevice = try subsystemDevice.map { (d) throws(LabelError) in try normalizedID(d, what: "subsystem device ID") }
        if let c = classPrefix?.lowercased() {
            var s = Substring(c)
            if s.hasPrefix("0x") { s = s.dropFirst(2) }
            guard [2, 4, 6].contains(s.count), s.allSatisfy(\.isHexDigit) else {
                throw LabelError.invalidID(c, "class (2, 4 or 6 hex digits, e.g. 03 or 0302)")
            }
            self.classPrefix = String(s)
        } else {
            self.classPrefix = nil
        }
        self.label = label
    }

    /// Parses `SVVV:SDDD`.
    public static func splitSubsystem(_ text: String) throws(LabelError) -> (String, String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw LabelError.invalidID(text, "subsystem (SVVV:SDDD)") }
        return (
            try normalizedID(String(parts[0]), what: "subsystem vendor ID"),
            try normalizedID(String(parts[1]), what: "subsystem device ID")
        )
    }

    public func matches(_ f: PCIFunction) -> Bool {
        guard f.vendor == vendor else { return false }
        if let device, f.device != device { return false }
        if let subsystemVendor, f.subsystemVendor != subsystemVendor { return false }
        if let subsystemDevice, f.subsystemDevice != subsystemDevice { return false }
        if let classPrefix, !f.classCode.description.hasPrefix(classPrefix) { return false }
        return true
    }

    /// True when the rule needs something Nova aliases and KubeVirt `pciVendorSelector`
    /// (vendor:product only) cannot say.
    public var needsMoreThanVendorProduct: Bool { subsystemVendor != nil || classPrefix != nil || device == nil }

    /// The selector part, as written in `labels.conf`: `vendor=10de device=1e30 subsystem=10de:13d9`.
    public var selector: String {
        var s = "vendor=\(vendor)"
        if let device { s += " device=\(device)" }
        if let subsystemVendor, let subsystemDevice { s += " subsystem=\(subsystemVendor):\(subsystemDevice)" }
        if let classPrefix { s += " class=\(classPrefix)" }
        return s
    }

    /// `vendor=10de device=1e30 subsystem=10de:13d9 -> "Turing GPU"`: how errors name a rule.
    public var description: String { "rule \(selector) -> \"\(label.name)\"" }

    /// Same selector (ignoring the label): `rule add` replaces such a rule.
    public func sameSelector(as other: LabelRule) -> Bool {
        vendor == other.vendor && device == other.device && subsystemVendor == other.subsystemVendor
            && subsystemDevice == other.subsystemDevice && classPrefix == other.classPrefix
    }
}

/// A label set on one device instance, keyed by its instance id (`dsn:…`, `slot:…`, `path:…`,
/// `address:…`) or a bare PCI address, with the identity of the card it was given to.
public struct InstanceLabel: Codable, Sendable, Hashable {
    public var key: String
    public var label: HardwareLabel
    /// The card the label was given to. The label applies only while the card at `key` still
    /// has this identity; nil (a line written by hand or by an older hwlabel) asserts nothing.
    public var identity: RecordedIdentity?
    public init(key: String, label: HardwareLabel, identity: RecordedIdentity? = nil) {
        self.key = key
        self.label = label
        self.identity = identity
    }

    /// Keyed by a stable id (DSN, slot, path) rather than by where the device sits now.
    public var isStableKey: Bool { !(key.hasPrefix("address:") || PCIAddress(key) != nil) }

    public func matches(instance: InstanceIdentity, address: PCIAddress) -> Bool {
        Self.keyNames(key, instance: instance, address: address)
    }

    /// True when `key` is this instance's id, or names this address (`address:…` or a bare BDF).
    public static func keyNames(_ key: String, instance: InstanceIdentity, address: PCIAddress) -> Bool {
        if key == instance.id { return true }
        if key.hasPrefix("address:"), let a = PCIAddress(key.dropFirst("address:".count)) { return a == address }
        if let a = PCIAddress(key) { return a == address }
        return false
    }

    /// False when the label records an identity and `f` is another card.
    public func fits(_ f: PCIFunction) -> Bool { identity.map { $0 == RecordedIdentity(f) } ?? true }
}
