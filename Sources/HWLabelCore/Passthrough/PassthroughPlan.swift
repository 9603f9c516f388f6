import HWLabelProbe

/// What `hwlabel passthrough enable` was asked to make assignable.
public enum PassthroughTarget: Sendable, Hashable, CustomStringConvertible {
    /// A function by bus address.
    case address(PCIAddress)
    /// A device by instance id (`dsn:…`, `slot:…`, `path:…`).
    case instance(String)
    /// Every device that carries this hardware label.
    case label(String)

    /// An address when the text parses as one, else an instance id.
    public init(parsing text: String) {
        let bare = text.hasPrefix("address:") ? String(text.dropFirst("address:".count)) : text
        if let a = PCIAddress(bare) { self = .address(a) } else { self = .instance(text) }
    }

    public var description: String {
        switch self {
        case .address(let a): "\(a)"
        case .instance(let id): id
        case .label(let l): "label \"\(l)\""
        }
    }
}

/// What happens to one function of a target's IOMMU group.
public enum PassthroughAction: Sendable, Hashable {
    /// Override to `driver` (loading `module` first if the driver is not registered) and reprobe.
    case bind(driver: String, module: String)
    /// Left on the driver it has (or none).
    case keep
    /// Give the function back to the host: clear the override, unbind from the VFIO driver and
    /// bind `driver` (nil: let the kernel probe its native driver).
    case release(driver: String?)
}

/// Why a function is in the plan.
public enum PassthroughRole: String, Codable, Sendable, Hashable, CaseIterable {
    /// The operator named it (by address, instance id or label).
    case target
    /// A GPU's audio, USB or UCSI function: travels with the GPU.
    case companion
    /// Another member of the group the operator handed over whole (`--whole-group`).
    case groupMember = "group-member"
    /// A PCI bridge or a function on a driver VFIO accepts in a group: left alone.
    case bystander
}

/// One function of a plan: its driver now, what happens to it, and why.
public struct PlannedFunction: Sendable, Hashable {
    public var address: PCIAddress
    public var group: Int?
    public var role: PassthroughRole
    /// The `driver` link now (nil: unbound).
    public var currentDriver: String?
    /// `driver_override` now (nil: none).
    public var currentOverride: String?
    public var action: PassthroughAction
    /// In an operator's words: `named; modules.alias prefers mlx5_vfio_pci for 15b3:101e`.
    public var reason: String

    public init(
        address: PCIAddress, group: Int?, role: PassthroughRole, currentDriver: String?, currentOverride: String?,
        action: PassthroughAction, reason: String
    ) {
        self.address = address
        self.group = group
        self.role = role
        self.currentDriver = currentDriver
        self.currentOverride = currentOverride
        self.action = action
        self.reason = reason
    }

    /// The driver the function should have once the plan ran.
    public var intendedDriver: String? {
        switch action {
        case .bind(let d, _): d
        case .keep: currentDriver
        case .release(let d): d
        }
    }

    /// True when the plan writes anything for this function.
    public var changes: Bool {
        if case .keep = action { return false }
        return true
    }
}

/// The whole plan: every function of every target's IOMMU group, in group then address order.
public struct PassthroughPlan: Sendable, Hashable {
    public var functions: [PlannedFunction]
    public init(functions: [PlannedFunction]) { self.functions = functions }
    /// Functions the plan writes for.
    public var changing: [PlannedFunction] { functions.filter(\.changes) }
}

/// Every kind of reason `enable` refuses, each with its own rule in `PassthroughPlanner`.
public enum RefusalKind: String, Codable, Sendable, Hashable, CaseIterable {
    /// No target matched, or a target is not something that can be handed to a VM.
    case noSuchDevice = "no-such-device"
    case notAssignable = "not-assignable"
    /// The IOMMU is off (or unknown, or the function is in no group).
    case iommuOff = "iommu-off"
    /// The firmware's boot VGA device, or the device whose frame buffer carries the console.
    case bootVGA = "boot-vga"
    case console
    /// The host uses a member: mounted file system, swap, root file system, an interface up
    /// with addresses or routes, the default route, open DRM or /dev/nvidia* nodes.
    case hostInUse = "host-in-use"
    /// A running VM holds a member's VFIO group or device.
    case assignedToVM = "assigned-to-vm"
    /// A PF with SR-IOV VFs enabled: binding it would destroy them.
    case vfsEnabled = "vfs-enabled"
    /// A GPU serving vGPU with instances, or a vGPU slot VF.
    case activeVGPU = "active-vgpu"
    /// A group member on a host driver that the operator did not name and that is not a
    /// companion (lifted by `--whole-group`).
    case unnamedGroupMember = "unnamed-group-member"
    /// Host infrastructure (host bridge, ISA/LPC bridge, SMBus…) shares the group: never handed over.
    case hostInfrastructure = "host-infrastructure"
    /// A member whose config space reads all ones.
    case unresponsive
}

/// One reason not to write anything, naming the function, what holds it and the way out.
public struct PassthroughRefusal: Sendable, Hashable, CustomStringConvertible {
    public var kind: RefusalKind
    /// The function the refusal is about (nil for a target that matched nothing).
    public var address: PCIAddress?
    /// Who or what holds it: `pid 4242 (qemu-system-x86, guest db1) holds /dev/vfio/12`.
    public var holder: String
    /// What the operator can do.
    public var wayOut: String

    public init(kind: RefusalKind, address: PCIAddress?, holder: String, wayOut: String) {
        self.kind = kind
        self.address = address
        self.holder = holder
        self.wayOut = wayOut
    }

    /// `0000:3d:00.0: host-in-use: / (ext4) on nvme0n1p2; way out: …`
    public var description: String {
        (address.map { "\($0): " } ?? "") + "\(kind.rawValue): \(holder); \(wayOut)"
    }
}

/// The planner's answer: a plan, or every refusal that applies.
public enum PassthroughDecision: Sendable, Hashable {
    case plan(PassthroughPlan)
    case refused([PassthroughRefusal])
}
