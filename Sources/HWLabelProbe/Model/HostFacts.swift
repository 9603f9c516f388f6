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

    public init() { iommuParameters = [] }
}

public struct IOMMUFacts: Codable, Sendable, Hashable {
    /// True when the kernel exposes IOMMU groups; null when the source cannot tell (a dump).
    @Nullable public var enabled: Bool?
    /// `/sys/class/iommu/*` (dmar0, ivhd0, …).
    public var units: [String]
    public var groups: [IOMMUGroup]
    public init(enabled: Bool?, units: [String] = [], groups: [IOMMUGroup] = []) {
        self.enabled = enabled
        self.units = units
        self.groups = groups.sorted { $0.number < $1.number }
    }

    /// Group by number (binary search: `groups` is sorted; a host can have thousands).
    public func group(_ number: Int) -> IOMMUGroup? {
        var lo = 0, hi = groups.count - 1
        while lo <= hi {
            let mid = (lo + hi) / 2
            if groups[mid].number == number { return groups[mid] }
            if groups[mid].number < number { lo = mid + 1 } else { hi = mid - 1 }
        }
        return nil
    }
}

/// `/sys/kernel/iommu_groups/<number>/{type,devices/*}`
public struct IOMMUGroup: Codable, Sendable, Hashable {
    public var number: Int
    /// `DMA`, `DMA-FQ`, `identity`, `blocked`; null when not recorded.
    @Nullable public var type: String?
    public var devices: [PCIAddress]
    public init(number: Int, type: String?, devices: [PCIAddress]) {
        self.number = number
        self.type = type
        self.devices = devices
    }
}
