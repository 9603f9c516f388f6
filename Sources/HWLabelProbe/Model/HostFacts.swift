/// Host-level facts that decide whether passthrough can work at all.
public struct HostFacts: Codable, Sendable, Hashable {
    @Nullable public var hostname: String?
    /// `/etc/machine-id`
    @Nullable public var machineID: String?
    /// `/proc/sys/kernel/random/boot_id`
    @Nullable public var bootID: String?
    /// `/proc/sys/kernel/osrelease`
    @Nullable public var kernel: String?
    /// `vendor_id` in `/proc/cpuinfo` (`GenuineIntel`, `AuthenticAMD`).
    @Nullable public var cpuVendor: String?
    /// `vmx` or `svm` when the CPU flags carry it; null when unknown; "" when absent.
    @Nullable public var virtualizationFlag: String?
    /// `/sys/module/kvm` exists.
    @Nullable public var kvmLoaded: Bool?
    /// `/sys/module/kvm_intel/parameters/nested` or `kvm_amd` (`Y`/`1`).
    @Nullable public var nestedVirtualization: Bool?
    /// `/proc/cmdline`
    @Nullable public var kernelCommandLine: String?
    /// IOMMU-related kernel parameters from the command line (`intel_iommu=on`, `iommu=pt`, …).
    public var iommuParameters: [String]
    /// Value of `pcie_acs_override=` when present: isolation is then faked, not real.
    @Nullable public var acsOverride: String?
    /// `/sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts`
    @Nullable public var unsafeInterruptsAllowed: Bool?
    /// Interrupt remapping: Intel DMAR `ecap` IR bit on every unit; null when unknown.
    @Nullable public var interruptRemapping: Bool?
    /// `/dev/vfio/vfio` exists.
    @Nullable public var vfioAvailable: Bool?
    /// `/dev/iommu` exists (iommufd).
    @Nullable public var iommufdAvailable: Bool?
    /// PCI functions under the block device that holds `/` (from `/proc/self/mountinfo` and
    /// `/sys/class/block/<dev>`, walked up to the PCI ancestors); null when unknown.
    @Nullable public var rootFilesystemDevices: [PCIAddress]?
    /// PCI functions behind the interface(s) that carry the default route (`/proc/net/route`,
    /// `/sys/class/net/<if>/device`); null when unknown.
    @Nullable public var defaultRouteDevices: [PCIAddress]?
    /// Processes that hold a device node of a PCI function open: a VFIO group (`/dev/vfio/N`)
    /// or cdev (`/dev/vfio/devices/vfioX`), a DRM node (`/dev/dri/*`) or `/dev/nvidia*`. From
    /// `/proc/<pid>/fd`; null when `/proc` was not read.
    @Nullable public var deviceHolders: [DeviceHolder]?
    /// Processes whose open files could not be read (another user's `/proc/<pid>/fd` needs
    /// CAP_SYS_PTRACE): while this is above 0, "nobody holds it" is not known. Null when `/proc`
    /// was not read.
    @Nullable public var unreadableProcesses: Int?
    /// Other ways the host uses a PCI function (framebuffer console, an interface that is up
    /// with addresses or routes, a mounted file system, active swap). Null when unknown.
    @Nullable public var hostUses: [HostUse]?

    public init() { iommuParameters = [] }
}

/// A process holding one of a function's device nodes open.
public struct DeviceHolder: Codable, Sendable, Hashable {
    /// The function whose node is open (for a VFIO group: every function of the group).
    public var address: PCIAddress
    public var pid: Int
    /// `/proc/<pid>/comm`.
    public var process: String
    /// The node as the process opened it (`/dev/vfio/12`, `/dev/dri/renderD128`).
    public var node: String
    /// `vfio-group`, `vfio-device`, `drm`, `nvidia`.
    public var kind: String
    /// QEMU's `-name guest=NAME` (libvirt's domain name) or `-name NAME`; null when none.
    @Nullable public var guest: String?
    public init(address: PCIAddress, pid: Int, process: String, node: String, kind: String, guest: String? = nil) {
        self.address = address
        self.pid = pid
        self.process = process
        self.node = node
        self.kind = kind
        self.guest = guest
    }
    /// A VM holds it (VFIO), as opposed to a host process (DRM, NVIDIA nodes).
    public var isVM: Bool { kind == "vfio-group" || kind == "vfio-device" }
}

/// One way the host itself uses a function.
public struct HostUse: Codable, Sendable, Hashable {
    public var address: PCIAddress
    /// `framebuffer-console`, `network-up`, `mounted`, `swap`.
    public var kind: String
    /// What, in an operator's words: `eth0 is up with 10.0.0.5/24`, `/var on nvme0n1p2`.
    public var detail: String
    public init(address: PCIAddress, kind: String, detail: String) {
        self.address = address
        self.kind = kind
        self.detail = detail
    }
}
