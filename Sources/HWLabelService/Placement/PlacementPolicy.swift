import HWLabelCore

/// How descriptors become providers. The defaults follow Nova's "PCI devices in Placement".
public struct PlacementPolicy: Sendable, Hashable {
    public enum ResourceClassSource: String, Sendable, Hashable, CaseIterable {
        /// `CUSTOM_PCI_<VVVV>_<PPPP>` (Nova's default).
        case pciID = "pci-id"
        /// `CUSTOM_HWLABEL_<LABEL>` for labelled devices, `CUSTOM_PCI_…` for the others:
        /// a flavor can then ask for "one TURING_GPU" without knowing product IDs.
        case label
    }
    public var resourceClass: ResourceClassSource
    /// `ready-after-binding` means "passthrough works once the group is bound to vfio-pci".
    /// Off (default): such a device gets `CUSTOM_PASSTHROUGH_READY_AFTER_BINDING`, not
    /// `CUSTOM_PASSTHROUGH_READY`, and its inventory is reserved. On: treat it as ready — right
    /// where libvirt binds the device itself (`managed='yes'` hostdevs, Nova's default).
    public var readyAfterBindingIsReady: Bool
    /// Publish devices that are not ready with their whole inventory reserved (true, default:
    /// the fleet sees the capacity, nothing is scheduled on it), or leave them out (false).
    public var publishNotReady: Bool

    public init(
        resourceClass: ResourceClassSource = .pciID, readyAfterBindingIsReady: Bool = false,
        publishNotReady: Bool = true
    ) {
        self.resourceClass = resourceClass
        self.readyAfterBindingIsReady = readyAfterBindingIsReady
        self.publishNotReady = publishNotReady
    }
}
