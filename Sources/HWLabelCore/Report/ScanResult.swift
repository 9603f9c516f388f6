import HWLabelProbe

/// What one scan produced: the descriptors plus the facts tombstone reasons are decided from.
public struct ScanResult: Sendable, Hashable {
    public var descriptors: [AssignableDevice]
    /// Instance ids the policy excluded on this scan (`excluded-by-policy` when they leave).
    public var excludedInstanceIds: Set<String>
    /// Addresses the policy excluded on this scan (same meaning, as the agent's builder reports them).
    public var excludedAddresses: Set<PCIAddress>
    /// Every PCI function present on the bus on this scan, descriptor or not. A descriptor that
    /// leaves while its address is still present left because its driver changed.
    public var presentAddresses: Set<PCIAddress>
    public var host: HostIdentity
    public var bootId: String?

    public init(
        descriptors: [AssignableDevice], excludedInstanceIds: Set<String> = [],
        excludedAddresses: Set<PCIAddress> = [], presentAddresses: Set<PCIAddress>? = nil, host: HostIdentity, bootId: String?
    ) {
        self.descriptors = descriptors
        self.excludedInstanceIds = excludedInstanceIds
        self.excludedAddresses = excludedAddresses
        self.presentAddresses = presentAddresses ?? Set(descriptors.map(\.address))
        self.host = host
        self.bootId = bootId
    }
}
