import Foundation
import HWLabelCore

/// What one device's provider should look like in Placement.
public struct DesiredProvider: Sendable, Hashable {
    /// `<host>_<ADDRESS>`
    public var name: String
    /// The device it mirrors (for reports).
    public var address: String
    /// The provider it hangs under: nil for the host's root, or the PF's provider name for an
    /// SR-IOV VF (`<host>_<PF ADDRESS>`), as Nova nests PCI providers.
    public var parentName: String?
    /// Resource class → inventory. Empty for a PF that is offered as its VFs.
    public var inventories: [String: PlacementInventory]
    /// Always contains `CUSTOM_HWLABEL_MANAGED`; never `COMPUTE_MANAGED_PCI_DEVICE`; with an
    /// `identity`, also its `PlacementNames.identityTrait`.
    public var traits: Set<String>
    /// The card it describes; nil for a bare PF provider made only to nest VFs under.
    public var identity: RecordedIdentity?
    public init(
        name: String, address: String, parentName: String? = nil,
        inventories: [String: PlacementInventory], traits: Set<String>, identity: RecordedIdentity? = nil
    ) {
        self.name = name
        self.address = address
        self.parentName = parentName
        self.inventories = inventories
        self.traits = traits
        self.identity = identity
    }
}
