/// What the kernel says of DMA isolation: the IOMMU units and the groups they form.
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
