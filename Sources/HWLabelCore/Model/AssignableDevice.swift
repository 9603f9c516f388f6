import HWLabelProbe

/// An assignable-device descriptor: what a placement engine needs to put a VM on this host.
/// Identified by attributes (vendor, device, subsystem, class), not by bus address.
public struct AssignableDevice: Codable, Sendable, Hashable {
    /// Where the device sits on this boot (for the operator; not an identity).
    public var address: PCIAddress
    public var attributes: AttributeIdentity
    public var instance: InstanceIdentity
    /// `gpu`, `accelerator`, `network`, `nvme`, `storage`, `crypto`, `usb`, `audio`, `other`.
    public var kind: String
    /// True for an SR-IOV virtual function.
    public var isVirtualFunction: Bool
    @Nullable public var physicalFunction: PCIAddress?
    /// Display names (pci.ids); never used as keys.
    @Boxed public var names: Names
    /// The one hardware label this device carries, with where it came from.
    @Nullable public var label: LabelAssignment?
    public var readiness: Readiness
    @NullableBox public var gpu: GPUFacts?
    /// Functions that must be assigned together with this one (GPU audio/USB/UCSI).
    public var companions: [PCIAddress]
    public var capacity: Capacity
    @Nullable public var iommuGroup: Int?
    @Nullable public var numaNode: Int?
    @Nullable public var driver: String?
    /// How the device is offered now (schema 1.1).
    public var mode: DeviceMode
    /// The function this one is offered through: a VF's PF (same as `physicalFunction`).
    @Nullable public var parent: PCIAddress?
    /// Functions that cannot be offered while this one is offered as it is now (a PF and its
    /// VFs exclude each other; a vGPU card excludes passthrough of itself and its VFs).
    public var excludes: [PCIAddress]
    /// Who holds it now (schema 1.1).
    public var usage: DeviceUsage
    /// vGPU profiles this card delivers now; null unless `mode` is `vgpu` (schema 1.1).
    @NullableBox public var vgpu: VGPUOffer?
    /// Records made for another card at this instance (a label, a passthrough record) and
    /// therefore not applied (schema 1.2; the key is absent when there are none).
    public var drift: [IdentityDrift]

    public init(
        address: PCIAddress, attributes: AttributeIdentity, instance: InstanceIdentity,
        kind: String, isVirtualFunction: Bool, physicalFunction: PCIAddress?, names: Names,
        label: LabelAssignment?, readiness: Readiness, gpu: GPUFacts?, companions: [PCIAddress],
        capacity: Capacity, iommuGroup: Int?, numaNode: Int?, driver: String?,
        mode: DeviceMode? = nil, excludes: [PCIAddress] = [],
        usage: DeviceUsage = DeviceUsage(state: .unknown, unknownBecause: "not scanned"),
        vgpu: VGPUOffer? = nil, drift: [IdentityDrift] = []
    ) {
        self.address = address
        self.attributes = attributes
        self.instance = instance
        self.kind = kind
        self.isVirtualFunction = isVirtualFunction
        self.physicalFunction = physicalFunction
        self.names = names
        self.label = label
        self.readiness = readiness
        self.gpu = gpu
        self.companions = companions
        self.capacity = capacity
        self.iommuGroup = iommuGroup
        self.numaNode = numaNode
        self.driver = driver
        self.mode = mode ?? (isVirtualFunction ? .sriovVF : .wholeDevice)
        self.parent = physicalFunction
        self.excludes = excludes
        self.usage = usage
        self.vgpu = vgpu
        self.drift = drift
    }

    private enum CodingKeys: String, CodingKey {
        case address, attributes, instance, kind, isVirtualFunction, physicalFunction, names, label, readiness,
            gpu, companions, capacity, iommuGroup, numaNode, driver, mode, parent, excludes, usage, vgpu, drift
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(address, forKey: .address)
        try c.encode(attributes, forKey: .attributes)
        try c.encode(instance, forKey: .instance)
        try c.encode(kind, forKey: .kind)
        try c.encode(isVirtualFunction, forKey: .isVirtualFunction)
        try c.encode(_physicalFunction, forKey: .physicalFunction)
        try c.encode(names, forKey: .names)
        try c.encode(_label, forKey: .label)
        try c.encode(readiness, forKey: .readiness)
        try c.encode(_gpu, forKey: .gpu)
        try c.encode(companions, forKey: .companions)
        try c.encode(capacity, forKey: .capacity)
        try c.encode(_iommuGroup, forKey: .iommuGroup)
        try c.encode(_numaNode, forKey: .numaNode)
        try c.encode(_driver, forKey: .driver)
        try c.encode(mode, forKey: .mode)
        try c.encode(_parent, forKey: .parent)
        try c.encode(excludes, forKey: .excludes)
        try c.encode(usage, forKey: .usage)
        try c.encode(_vgpu, forKey: .vgpu)
        if !drift.isEmpty { try c.encode(drift, forKey: .drift) }
    }

    /// Reads schema 1.0 descriptors too: the 1.1 fields then take what 1.0 implied (whole
    /// device or VF, usage unknown).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        address = try c.decode(PCIAddress.self, forKey: .address)
        attributes = try c.decode(AttributeIdentity.self, forKey: .attributes)
        instance = try c.decode(InstanceIdentity.self, forKey: .instance)
        kind = try c.decode(String.self, forKey: .kind)
        isVirtualFunction = try c.decode(Bool.self, forKey: .isVirtualFunction)
        _physicalFunction = try c.decode(Nullable<PCIAddress>.self, forKey: .physicalFunction)
        names = try c.decode(Names.self, forKey: .names)
        _label = try c.decode(Nullable<LabelAssignment>.self, forKey: .label)
        readiness = try c.decode(Readiness.self, forKey: .readiness)
        _gpu = try c.decode(NullableBox<GPUFacts>.self, forKey: .gpu)
        companions = try c.decode([PCIAddress].self, forKey: .companions)
        capacity = try c.decode(Capacity.self, forKey: .capacity)
        _iommuGroup = try c.decode(Nullable<Int>.self, forKey: .iommuGroup)
        _numaNode = try c.decode(Nullable<Int>.self, forKey: .numaNode)
        _driver = try c.decode(Nullable<String>.self, forKey: .driver)
        let isVF = isVirtualFunction, pf = _physicalFunction
        mode = try c.decodeIfPresent(DeviceMode.self, forKey: .mode) ?? (isVF ? .sriovVF : .wholeDevice)
        _parent = try c.decodeIfPresent(Nullable<PCIAddress>.self, forKey: .parent) ?? pf
        excludes = try c.decodeIfPresent([PCIAddress].self, forKey: .excludes) ?? []
        usage =
            try c.decodeIfPresent(DeviceUsage.self, forKey: .usage)
            ?? DeviceUsage(state: .unknown, unknownBecause: "schema 1.0 document: usage not recorded")
        _vgpu = try c.decode(NullableBox<VGPUOffer>.self, forKey: .vgpu)
        drift = try c.decodeIfPresent([IdentityDrift].self, forKey: .drift) ?? []
    }
}

/// vSphere's `allowedDevice`: the attribute tuple a request or a label rule matches.
public struct AttributeIdentity: Codable, Sendable, Hashable {
    public var vendor: String
    public var device: String
    @Nullable public var subsystemVendor: String?
    @Nullable public var subsystemDevice: String?
    /// 6 hex digits: base class, subclass, prog-if.
    public var classCode: String
    @Nullable public var revision: String?
    public init(
        vendor: String, device: String, subsystemVendor: String?, subsystemDevice: String?,
        classCode: String, revision: String?
    ) {
        self.vendor = vendor
        self.device = device
        self.subsystemVendor = subsystemVendor
        self.subsystemDevice = subsystemDevice
        self.classCode = classCode
        self.revision = revision
    }
}

/// A per-card identity that survives BIOS renumbering and, with a serial number, slot moves.
public struct InstanceIdentity: Codable, Sendable, Hashable {
    /// `dsn:<serial>`, `slot:<name>`, `path:<bridge chain>` or `address:<BDF>` (least stable).
    public var id: String
    /// `serial-number`, `physical-slot`, `upstream-path`, `address`.
    public var source: String
    public init(id: String, source: String) {
        self.id = id
        self.source = source
    }
}

public struct LabelAssignment: Codable, Sendable, Hashable {
    public var name: String
    /// `instance` (set on this device), `rule` (matched an attribute rule), `udev` (HWLABEL_LABEL property).
    public var source: String
    /// The rule's description when `source == "rule"`.
    @Nullable public var rule: String?
    public init(name: String, source: String, rule: String? = nil) {
        self.name = name
        self.source = source
        self.rule = rule
    }
}

public struct Capacity: Codable, Sendable, Hashable {
    /// mdev vGPU types with their available instances.
    public var mdevTypes: [MdevType]
    /// SR-IOV VFs on a physical function: total, enabled, free (enabled and not bound to a host driver).
    @Nullable public var sriov: SRIOVCapacity?
    /// NVIDIA SR-IOV vGPU types creatable on this VF.
    public var vgpuTypes: [VGPUType]
    public init(mdevTypes: [MdevType] = [], sriov: SRIOVCapacity? = nil, vgpuTypes: [VGPUType] = []) {
        self.mdevTypes = mdevTypes
        self.sriov = sriov
        self.vgpuTypes = vgpuTypes
    }
}

public struct SRIOVCapacity: Codable, Sendable, Hashable {
    public var total: Int
    public var enabled: Int
    public var free: Int
    public init(total: Int, enabled: Int, free: Int) {
        self.total = total
        self.enabled = enabled
        self.free = free
    }
}
