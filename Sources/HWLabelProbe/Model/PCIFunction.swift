/// Everything hwlabel knows about one PCI function. Unknown facts are `null`, never guessed.
///
/// Identity fields (vendor, device, class) are mandatory: a function whose identity cannot be
/// read is skipped and named in the snapshot's warnings.
public struct PCIFunction: Codable, Sendable, Hashable {
    /// `<root>/bus/pci/devices/<address>`
    public var address: PCIAddress
    /// Reads `vendor` (lowercase 4-hex-digit string, as every ID in hwlabel).
    public var vendor: String
    /// Reads `device`.
    public var device: String
    /// Reads `subsystem_vendor` (or config offset 0x2c via libpci).
    @Nullable public var subsystemVendor: String?
    /// Reads `subsystem_device` (or config offset 0x2e via libpci).
    @Nullable public var subsystemDevice: String?
    /// Reads `class`: base class, subclass, programming interface.
    public var classCode: ClassCode
    /// Reads `revision`.
    @Nullable public var revision: String?
    /// Display names from udev hwdb / pci.ids through libpci. Display only, never keys.
    @Boxed public var names: Names
    /// Target of the `driver` link (read with readlink, so a dangling link in a capture still names it).
    @Nullable public var driver: String?
    /// Reads `driver_override`; the kernel's `(null)` is reported as null.
    @Nullable public var driverOverride: String?
    /// Target of the `iommu_group` link: `…/kernel/iommu_groups/<N>`.
    @Nullable public var iommuGroup: Int?
    /// Reads `numa_node`; the kernel's `-1` (no affinity) is null.
    @Nullable public var numaNode: Int?
    /// Reads `local_cpulist`.
    @Nullable public var localCPUs: String?
    /// Config space header type (0 endpoint, 1 PCI bridge, 2 CardBus), from offset 0x0e.
    @Nullable public var headerType: Int?
    /// PCI Express facts from the Express capability; null when there is none or it is unreadable.
    @Nullable public var express: ExpressFacts?
    /// Link speed and width: from config space when readable (as lspci shows), else sysfs.
    @NullableBox public var link: LinkFacts?
    /// Base address registers with a size (libpci `base_addr`/`size`/`flags`).
    public var bars: [BAR]
    /// How much of config space could be read.
    public var configSpace: ConfigSpaceAccess
    /// Decoded capabilities; null when config space beyond the header was not readable.
    @NullableBox public var capabilities: CapabilityFacts?
    /// Reads `reset_method` (kernel ≥ 5.15); `[]` means the kernel knows no reset for it.
    @Nullable public var resetMethods: [String]?
    /// Reads `boot_vga` (1 = the firmware's console device).
    @Nullable public var bootVGA: Bool?
    /// Name of the slot in `<root>/bus/pci/slots/*/address` that holds this function.
    @Nullable public var physicalSlot: String?
    /// Reads firmware `label` (ACPI _DSM / SMBIOS slot name).
    @Nullable public var firmwareLabel: String?
    /// The bridge directly upstream (parent directory in `/sys/devices`, or from bus ranges in a dump).
    @Nullable public var upstreamBridge: PCIAddress?
    /// SR-IOV state from sysfs (`sriov_totalvfs`, `sriov_numvfs`, `sriov_vf_device`, `virtfnN`).
    @NullableBox public var sriov: SRIOVState?
    /// Target of the `physfn` link: set on SR-IOV virtual functions.
    @Nullable public var physicalFunction: PCIAddress?
    /// `mdev_supported_types/*`: mediated-device (vGPU) types; null when the device has none.
    @Nullable public var mdevTypes: [MdevType]?
    /// GPU facts for display (class 03) and processing-accelerator (class 12) functions.
    @NullableBox public var gpu: GPUFacts?
    /// Kernel uevent/udev properties that matter to hwlabel (e.g. `HWLABEL_LABEL` set by a udev rule).
    public var properties: [String: String]
    /// True when the whole 64-byte config header reads all ones while the kernel still lists
    /// the function (its IDs are cached from enumeration): powered off (D3cold) or fell off the
    /// bus. An SR-IOV VF's Vendor and Device ID registers read 0xFFFF by specification while the
    /// rest of its header is valid, so a first dword of ones alone is not this. Null when no
    /// config space was read.
    @Nullable public var unresponsive: Bool?
    /// The VFIO device cdev (`vfio-dev/vfioN`, kernel ≥ 6.2) while bound to a VFIO driver.
    @Nullable public var vfioDevice: String?
    /// Network interfaces of this function: `net/*`, and every `<sys>/class/net/<if>` whose
    /// device lies under it (virtio puts them one layer down, `virtio0/net/eth0`); null when none.
    @Nullable public var netInterfaces: [String]?
    /// Whole disks whose sysfs path lies under this function (`<sys>/class/block/<name>` →
    /// `…/<BDF>/…/<name>`; partitions left out); null when none or `class/block` is unreadable.
    @Nullable public var blockDevices: [String]?

    public init(address: PCIAddress, vendor: String, device: String, classCode: ClassCode) {
        self.address = address
        self.vendor = vendor
        self.device = device
        self.classCode = classCode
        self.names = Names()
        self.bars = []
        self.configSpace = ConfigSpaceAccess(readableBytes: 0, source: .none)
        self.properties = [:]
    }

    /// A PCI-to-PCI or CardBus bridge: header type 1 or 2 (by class 0604/0607/0609 when the
    /// header type is unknown). Bridges are never assignable and VFIO does not hold them to the
    /// group's driver rule. Host bridges (0600), ISA bridges (0601) and other 06xx functions
    /// with a type-0 header are not bridges in this sense (see `isHostInfrastructure`).
    public var isBridge: Bool {
        if let h = headerType { return h == 1 || h == 2 }
        return classCode.base == "06" && ["04", "07", "09"].contains(classCode.sub)
    }
    /// Host bridge (0600), ISA/LPC bridge (0601) and the other chipset bridges (0602, 0603,
    /// 0605, 0606, 0608): never offered, but they count for group viability like any endpoint.
    public var isHostInfrastructure: Bool {
        classCode.base == "06" && !isBridge && classCode.sub != "80"
    }
    /// Display controller (03) or processing accelerator (12).
    public var isGPUClass: Bool { classCode.base == "03" || classCode.base == "12" }
}

/// The 24-bit class register split as lspci shows it.
public struct ClassCode: Codable, Sendable, Hashable, CustomStringConvertible {
    public var base: String
    public var sub: String
    public var progIf: String
    public init(base: String, sub: String, progIf: String) {
        self.base = base
        self.sub = sub
        self.progIf = progIf
    }
    /// Parses the kernel's `class` attribute (`0x030200`).
    public init?(sysfs text: String) {
        guard let v = parseHexStrict(text), v <= 0xFF_FFFF else { return nil }
        self.init(value: UInt32(v))
    }
    public init(value: UInt32) {
        base = hex((value >> 16) & 0xff, 2)
        sub = hex((value >> 8) & 0xff, 2)
        progIf = hex(value & 0xff, 2)
    }
    /// `0302` as lspci -nn prints it.
    public var baseAndSub: String { base + sub }
    /// `030200`
    public var description: String { base + sub + progIf }
}

public struct Names: Codable, Sendable, Hashable {
    @Nullable public var vendor: String?
    @Nullable public var device: String?
    @Nullable public var subsystemVendor: String?
    @Nullable public var subsystem: String?
    @Nullable public var `class`: String?
    @Nullable public var progIf: String?
    public init() {}
}

public struct ExpressFacts: Codable, Sendable, Hashable {
    /// Device/port type from the Express Capabilities register: `endpoint`, `legacy-endpoint`,
    /// `root-port`, `upstream-port`, `downstream-port`, `pcie-to-pci-bridge`, `pci-to-pcie-bridge`,
    /// `rc-integrated-endpoint`, `rc-event-collector`, or `unknown-<n>`.
    public var portType: String
    /// Capability version (1 or 2).
    public var version: Int
    public init(portType: String, version: Int) {
        self.portType = portType
        self.version = version
    }
}

public struct LinkFacts: Codable, Sendable, Hashable {
    /// Speed as lspci prints it: `2.5GT/s`, `8GT/s`, `16GT/s`…
    @Nullable public var currentSpeed: String?
    @Nullable public var currentWidth: Int?
    @Nullable public var maxSpeed: String?
    @Nullable public var maxWidth: Int?
    /// `config` (Link Capabilities/Status registers) or `sysfs` (`current_link_speed`, …).
    public var source: String
    public init(source: String) { self.source = source }
}

public struct BAR: Codable, Sendable, Hashable {
    public var index: Int
    /// `memory` or `io`.
    public var kind: String
    /// Size in bytes; null when the source cannot size BARs (an lspci dump).
    @Nullable public var size: UInt64?
    public var is64Bit: Bool
    public var prefetchable: Bool
    public init(index: Int, kind: String, size: UInt64?, is64Bit: Bool, prefetchable: Bool) {
        self.index = index
        self.kind = kind
        self.size = size
        self.is64Bit = is64Bit
        self.prefetchable = prefetchable
    }
}

public struct ConfigSpaceAccess: Codable, Sendable, Hashable {
    public enum Source: String, Codable, Sendable { case sysfs, dump, none }
    /// Bytes libpci could read: 64 (non-root), 256 (conventional PCI) or 4096 (PCIe extended).
    public var readableBytes: Int
    public var source: Source
    /// Whether capabilities (at 0x40 and beyond) could be read at all. Encoded in the JSON so
    /// that readers can tell "capabilities not readable, run as root" from "no FLR".
    public var capabilitiesReadable: Bool { readableBytes >= 256 }

    /// Why capabilities are unknown, in an operator's words; nil when they were read.
    /// "Run as root" only where running as root would help.
    public var whyCapabilitiesUnknown: String? {
        guard !capabilitiesReadable else { return nil }
        switch (source, readableBytes) {
        case (.none, _): return "no config space in this source"
        case (_, 0): return "config space reads as all-FF (function powered off or gone)"
        case (.dump, let n): return "the dump holds only \(n) bytes of config space"
        case (.sysfs, let n): return "capabilities not readable, run as root (only \(n) bytes of config space could be read)"
        }
    }
    public init(readableBytes: Int, source: Source) {
        self.readableBytes = readableBytes
        self.source = source
    }

    private enum CodingKeys: String, CodingKey { case readableBytes, source, capabilitiesReadable }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        readableBytes = try c.decode(Int.self, forKey: .readableBytes)
        source = try c.decode(Source.self, forKey: .source)
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(readableBytes, forKey: .readableBytes)
        try c.encode(source, forKey: .source)
        try c.encode(capabilitiesReadable, forKey: .capabilitiesReadable)
    }
}

public struct CapabilityFacts: Codable, Sendable, Hashable {
    /// Every capability libpci found, in chain order: `pm`, `msi`, `msix`, `express`, `af`,
    /// extended ones prefixed `ext:` (`ext:acs`, `ext:sriov`, …) or `ext:0x00xx` when unnamed.
    public var list: [String]
    /// Function Level Reset: Express DevCap bit 28, or Advanced Features "FLR" capability.
    public var flr: Bool
    /// `express-devcap`, `advanced-features`, or null when no FLR.
    @Nullable public var flrSource: String?
    /// Power Management Control/Status NoSoftRst bit; null when there is no PM capability.
    @Nullable public var pmNoSoftReset: Bool?
    @Nullable public var acs: ACSFacts?
    @Nullable public var sriov: SRIOVCapability?
    public var ari: Bool
    public var ats: Bool
    public var pri: Bool
    public var pasid: Bool
    public var resizableBAR: Bool
    public var aer: Bool
    public var dpc: Bool
    /// Device Serial Number capability, formatted as lspci does: `00-11-22-ff-fe-33-44-55`.
    @Nullable public var serialNumber: String?
    /// Extended capabilities were present but the chain was broken (loop, bad pointer, garbage).
    public var extendedChainBroken: Bool
    public init() {
        list = []
        flr = false
        ari = false
        ats = false
        pri = false
        pasid = false
        resizableBAR = false
        aer = false
        dpc = false
        extendedChainBroken = false
    }
}

public struct ACSFacts: Codable, Sendable, Hashable {
    /// Capability bits lspci names: SrcValid, TransBlk, ReqRedir, CmpltRedir, UpstreamFwd,
    /// EgressCtrl, DirectTrans.
    public var capabilities: [String]
    /// Control bits that are set.
    public var enabled: [String]
    public init(capabilities: [String], enabled: [String]) {
        self.capabilities = capabilities
        self.enabled = enabled
    }
}

public struct SRIOVCapability: Codable, Sendable, Hashable {
    public var totalVFs: Int
    public var initialVFs: Int
    public var numVFs: Int
    /// VF Device ID (lowercase hex).
    public var vfDeviceID: String
    public init(totalVFs: Int, initialVFs: Int, numVFs: Int, vfDeviceID: String) {
        self.totalVFs = totalVFs
        self.initialVFs = initialVFs
        self.numVFs = numVFs
        self.vfDeviceID = vfDeviceID
    }
}

public struct SRIOVState: Codable, Sendable, Hashable {
    /// `sriov_totalvfs`
    @Nullable public var totalVFs: Int?
    /// `sriov_numvfs`
    @Nullable public var numVFs: Int?
    /// `sriov_vf_device`
    @Nullable public var vfDevice: String?
    /// Targets of `virtfn0…N`, in VF-index order.
    public var virtualFunctions: [PCIAddress]
    public init(
        totalVFs: Int? = nil, numVFs: Int? = nil, vfDevice: String? = nil,
        virtualFunctions: [PCIAddress] = []
    ) {
        self.totalVFs = totalVFs
        self.numVFs = numVFs
        self.vfDevice = vfDevice
        self.virtualFunctions = virtualFunctions
    }
}

/// `mdev_supported_types/<id>/{name,description,available_instances,device_api}`
public struct MdevType: Codable, Sendable, Hashable {
    public var id: String
    @Nullable public var name: String?
    @Nullable public var description: String?
    @Nullable public var availableInstances: Int?
    @Nullable public var deviceAPI: String?
    /// Entries of `mdev_supported_types/<id>/devices/`: instances of this type that exist now.
    @Nullable public var instances: Int?
    public init(
        id: String, name: String? = nil, description: String? = nil,
        availableInstances: Int? = nil, deviceAPI: String? = nil, instances: Int? = nil
    ) {
        self.id = id
        self.name = name
        self.description = description
        self.availableInstances = availableInstances
        self.deviceAPI = deviceAPI
        self.instances = instances
    }
}

/// Strict hex parse: optional `0x`, hex digits, optional trailing newline/space; nothing else.
public func parseHexStrict(_ text: String) -> UInt64? {
    // Over the UTF-8 bytes: sysfs attributes are ASCII, and a scan parses tens of thousands.
    var s = Substring(text).utf8
    while let last = s.last, last == 0x0a || last == 0x20 || last == 0x09 { s = s.dropLast() }
    if s.count >= 2, s.first == 0x30, let x = s.dropFirst().first, x == 0x78 || x == 0x58 { s = s.dropFirst(2) }
    guard !s.isEmpty, s.count <= 16 else { return nil }
    return hexValue(s)
}

/// The value of an ASCII hex digit (either case), nil for any other byte.
@inline(__always)
func hexDigitValue(_ c: UInt8) -> UInt8? {
    switch c {
    case 0x30...0x39: c - 0x30
    case 0x61...0x66: c - 0x61 + 10
    case 0x41...0x46: c - 0x41 + 10
    default: nil
    }
}

/// The value of bytes that are all hex digits (at most 16 of them: the caller checks), nil
/// when any is not.
func hexValue<C: Collection<UInt8>>(_ bytes: C) -> UInt64? {
    var v: UInt64 = 0
    for c in bytes {
        guard let d = hexDigitValue(c) else { return nil }
        v = v << 4 | UInt64(d)
    }
    return v
}

/// Strict decimal parse (optional sign), trailing whitespace allowed, nothing else.
public func parseIntStrict(_ text: String) -> Int? {
    var s = Substring(text)
    while let last = s.last, last == "\n" || last == " " || last == "\t" { s = s.dropLast() }
    return Int(s)
}
