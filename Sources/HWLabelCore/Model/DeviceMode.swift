import HWLabelProbe

/// How a physical device is offered now, derived from how it is configured: one way at a time,
/// as Nova and NVIDIA's DRA driver do (a card's passthrough and vGPU offers are never made
/// together, nor a PF together with its own VFs).
public enum DeviceMode: String, Codable, Sendable, Hashable, CaseIterable {
    /// Offered for passthrough as it is (with its companions): no VFs enabled, not serving vGPU.
    case wholeDevice = "whole-device"
    /// A physical function with SR-IOV VFs enabled: offered as its VFs, never whole; it stays on
    /// its host driver (binding it to vfio-pci would destroy the VFs).
    case sriovPF = "sriov-pf"
    /// An SR-IOV virtual function offered for passthrough.
    case sriovVF = "sriov-vf"
    /// A physical GPU serving vGPU on its vendor driver: offered as vGPU profiles, never whole.
    case vgpu = "vgpu"
    /// A VF of a GPU that serves vGPU (NVIDIA's vendor-specific VFIO, or mdev on VFs): one vGPU
    /// slot, created through its parent, never passed through as a plain function.
    case vgpuVF = "vgpu-vf"

    /// Whether a `--device` request may be served by a descriptor in this mode.
    public var offersPassthrough: Bool { self == .wholeDevice || self == .sriovVF }
}

/// Who holds a device now: nobody, the host, a VM, or unknown because the scan could not see.
public struct DeviceUsage: Codable, Sendable, Hashable {
    public enum State: String, Codable, Sendable, Hashable, CaseIterable {
        /// Nothing holds it, and the scan could see every process.
        case free
        /// The host uses it (console, open DRM or NVIDIA nodes, an up interface, a mount, swap).
        case host
        /// A VM holds its VFIO group or device (vSphere's "binding").
        case vm
        /// The scan could not see every process's open files (or had no `/proc`): not "free".
        case unknown
    }
    public var state: State
    /// VMs holding it: pid, process and guest name.
    public var bindings: [VMBinding]
    /// How the host uses it, each naming the holder.
    public var hostUses: [HostUseEntry]
    /// Why the state is unknown; null otherwise.
    @Nullable public var unknownBecause: String?

    public init(state: State, bindings: [VMBinding] = [], hostUses: [HostUseEntry] = [], unknownBecause: String? = nil) {
        self.state = state
        self.bindings = bindings
        self.hostUses = hostUses
        self.unknownBecause = unknownBecause
    }
}

/// A VM that holds the device: the process with its VFIO group or cdev open.
public struct VMBinding: Codable, Sendable, Hashable {
    public var pid: Int
    public var process: String
    /// QEMU's `-name guest=…` (the libvirt domain); null when the command line names none.
    @Nullable public var guest: String?
    /// `/dev/vfio/12` or `/dev/vfio/devices/vfio3`.
    public var node: String
    /// The function whose node it holds (the device itself, a companion or a group member).
    public var address: PCIAddress
    public init(pid: Int, process: String, guest: String?, node: String, address: PCIAddress) {
        self.pid = pid
        self.process = process
        self.guest = guest
        self.node = node
        self.address = address
    }
}

/// One way the host uses the device (or a function that travels with it).
public struct HostUseEntry: Codable, Sendable, Hashable {
    /// `boot-vga`, `framebuffer-console`, `drm-open`, `nvidia-open`, `network-up`, `mounted`,
    /// `swap`, `root-filesystem`, `default-route`.
    public var kind: String
    public var address: PCIAddress
    /// In an operator's words, naming the holder.
    public var detail: String
    public init(kind: String, address: PCIAddress, detail: String) {
        self.kind = kind
        self.address = address
        self.detail = detail
    }
}

/// What a GPU in `vgpu` mode can deliver now: its vGPU profiles, how many of each, and where
/// each figure came from.
public struct VGPUOffer: Codable, Sendable, Hashable {
    /// `mdev` (`mdev_supported_types` on the GPU or its VFs) or `nvidia-vfio` (NVIDIA's
    /// vendor-specific VFIO on VFs: `nvidia/creatable_vgpu_types`, `current_vgpu_type`).
    public var mechanism: String
    /// The type that instances on this card already run (time-sliced vGPU runs one type per
    /// physical GPU at a time); null on an idle card.
    @Nullable public var activeType: String?
    /// Instances that exist now, of any type.
    public var activeInstances: Int
    /// Declared mixed-size by policy (`vgpu-mixed-size`): sysfs cannot show it (NVML can), so
    /// it is never guessed. A mixed-size card may run several types at once.
    public var mixedSize: Bool
    /// The card's memory, from a driver file or the GPU catalog; null when unknown.
    @Nullable public var framebuffer: Sourced<UInt64>?
    /// The VFs that carry the vGPU instances (empty for mdev on the GPU itself).
    public var slots: [PCIAddress]
    /// Every type the card reports, with what is still available of each.
    public var profiles: [VGPUProfile]
    /// The type Placement gets (policy `vgpu-type`, or the active type); null when the card is
    /// idle and no type was chosen.
    @Nullable public var publishedType: String?

    public init(
        mechanism: String, activeType: String?, activeInstances: Int, mixedSize: Bool,
        framebuffer: Sourced<UInt64>?, slots: [PCIAddress], profiles: [VGPUProfile], publishedType: String?
    ) {
        self.mechanism = mechanism
        self.activeType = activeType
        self.activeInstances = activeInstances
        self.mixedSize = mixedSize
        self.framebuffer = framebuffer
        self.slots = slots
        self.profiles = profiles
        self.publishedType = publishedType
    }

    /// The profile a request names (by name or type id).
    public func profile(named name: String) -> VGPUProfile? {
        profiles.first { $0.name == name || $0.id == name }
    }
}

/// One vGPU type on one card.
public struct VGPUProfile: Codable, Sendable, Hashable {
    /// The mdev type id (`nvidia-222`) or NVIDIA's numeric vGPU type id.
    public var id: String
    /// `GRID T4-4Q`, `NVIDIA L40S-8Q`.
    public var name: String
    /// Instances that can still be created now (0 when the type cannot run beside what runs).
    public var available: Int
    /// Instances of this type that exist now.
    public var instances: Int
    /// Framebuffer per instance, with its source (`mdev-description`, `name:<board>-<GB><series>`).
    @Nullable public var framebuffer: Sourced<UInt64>?
    /// Why `available` is what it is (`available_instances`, creatable VFs, framebuffer bound, …).
    public var basis: String

    public init(id: String, name: String, available: Int, instances: Int, framebuffer: Sourced<UInt64>?, basis: String) {
        self.id = id
        self.name = name
        self.available = available
        self.instances = instances
        self.framebuffer = framebuffer
        self.basis = basis
    }
}
