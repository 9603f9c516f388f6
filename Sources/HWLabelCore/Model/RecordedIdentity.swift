import HWLabelProbe

/// What a card was when a label or a passthrough record was given to it: vendor, device,
/// subsystem and class. A record keyed by an instance id (`slot:3`) applies only while the card
/// at that instance still has this identity, so a label or a VFIO binding never moves to
/// whatever card is put into the slot next. The revision ID is left out: it is not part of the
/// identity vSphere or Proxmox assert either.
public struct RecordedIdentity: Codable, Sendable, Hashable, CustomStringConvertible {
    public var vendor: String
    public var device: String
    public var subsystemVendor: String?
    public var subsystemDevice: String?
    /// 6 hex digits: base class, subclass, prog-if.
    public var classCode: String

    public init(vendor: String, device: String, subsystemVendor: String?, subsystemDevice: String?, classCode: String) {
        self.vendor = vendor
        self.device = device
        self.subsystemVendor = subsystemVendor
        self.subsystemDevice = subsystemDevice
        self.classCode = classCode
    }

    public init(_ f: PCIFunction) {
        self.init(
            vendor: f.vendor, device: f.device, subsystemVendor: f.subsystemVendor, subsystemDevice: f.subsystemDevice,
            classCode: f.classCode.description)
    }

    public init(_ a: AttributeIdentity) {
        self.init(
            vendor: a.vendor, device: a.device, subsystemVendor: a.subsystemVendor, subsystemDevice: a.subsystemDevice,
            classCode: a.classCode)
    }

    /// `vendor=10de device=1eb8 subsystem=10de:12a2 class=030200`: the form config files hold.
    public var fields: String {
        var s = "vendor=\(vendor) device=\(device)"
        if let sv = subsystemVendor, let sd = subsystemDevice { s += " subsystem=\(sv):\(sd)" }
        return s + " class=\(classCode)"
    }

    /// `10de:1eb8 subsystem 10de:12a2 class 030200`: the form messages show.
    public var description: String {
        var s = "\(vendor):\(device)"
        if let sv = subsystemVendor, let sd = subsystemDevice { s += " subsystem \(sv):\(sd)" }
        return s + " class \(classCode)"
    }

    /// Names the fields `fields` writes, for parsers that collect `name=value` words.
    public static let fieldNames: Set<String> = ["vendor", "device", "subsystem", "class"]

    /// Parses the values of `fields` (`vendor`, `device`, `class` required, `subsystem`
    /// optional), validating and lower-casing every ID.
    public static func parse(_ values: [String: String]) throws(LabelError) -> RecordedIdentity {
        guard let vendor = values["vendor"], let device = values["device"], let cls = values["class"] else {
            throw LabelError.invalidRule("a recorded identity needs vendor=VVVV device=DDDD class=CCSSPP")
        }
        for name in values.keys where !fieldNames.contains(name) {
            throw LabelError.invalidRule("unknown identity field '\(name)=' (vendor=, device=, subsystem=, class=)")
        }
        var sub: (String, String)?
        if let s = values["subsystem"] { sub = try LabelRule.splitSubsystem(s) }
        var c = Substring(cls.lowercased())
        if c.hasPrefix("0x") { c = c.dropFirst(2) }
        guard c.count == 6, c.allSatisfy(\.isHexDigit) else { throw LabelError.invalidID(cls, "class (6 hex digits, e.g. 030200)") }
        return RecordedIdentity(
            vendor: try normalizedID(vendor, what: "vendor ID"), device: try normalizedID(device, what: "device ID"),
            subsystemVendor: sub?.0, subsystemDevice: sub?.1, classCode: String(c))
    }
}

/// A record (a label set on an instance, a passthrough record) that names an instance whose card
/// no longer has the identity the record was made for: the record is not applied, and this says so.
public struct IdentityDrift: Codable, Sendable, Hashable, CustomStringConvertible {
    public enum Source: String, Codable, Sendable, Hashable, CaseIterable {
        /// An instance label in labels.conf.
        case label
        /// A device recorded by `hwlabel passthrough enable` in passthrough.conf.
        case passthrough
    }
    public var source: Source
    /// The instance key as recorded (`slot:3`, `dsn:…`, an address).
    public var key: String
    /// What the record was made for.
    public var recorded: RecordedIdentity
    /// What is at that instance now.
    public var present: RecordedIdentity
    /// The label that was not applied (source `label`).
    public var label: String?

    public init(source: Source, key: String, recorded: RecordedIdentity, present: RecordedIdentity, label: String? = nil) {
        self.source = source
        self.key = key
        self.recorded = recorded
        self.present = present
        self.label = label
    }

    public var description: String {
        let what =
            switch source {
            case .label: "label \"\(label ?? "")\""
            case .passthrough: "passthrough record"
            }
        let effect =
            switch source {
            case .label: "the label is not applied"
            case .passthrough: "it is not bound to VFIO"
            }
        return "\(key): \(what) was given to \(recorded), but the device there now is \(present): \(effect) "
            + "(another card in the slot, or changed IDs); `hwlabel \(source == .label ? "label" : "passthrough") …` again to give it to this card"
    }
}

/// An identity recorded for an instance key, from any source: what `DescriptorBuilder` checks
/// the present card against.
public struct RecordedInstance: Sendable, Hashable {
    public var source: IdentityDrift.Source
    public var key: String
    public var identity: RecordedIdentity
    public var label: String?
    public init(source: IdentityDrift.Source, key: String, identity: RecordedIdentity, label: String? = nil) {
        self.source = source
        self.key = key
        self.identity = identity
        self.label = label
    }

    /// True when the key names this instance (its id) or this address (`address:…` or a bare BDF).
    public func names(instance: InstanceIdentity, address: PCIAddress) -> Bool {
        InstanceLabel.keyNames(key, instance: instance, address: address)
    }
}
