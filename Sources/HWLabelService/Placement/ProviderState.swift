import Foundation
import HWLabelCore

/// A provider as read from Placement.
public struct ProviderState: Sendable, Hashable {
    public var uuid: String
    public var name: String
    public var generation: Int
    public var parentUUID: String?
    public var inventories: [String: PlacementInventory]
    public var traits: Set<String>
    /// Whether the provider has allocations against it; nil when not read.
    public var hasAllocations: Bool?
    public init(
        uuid: String, name: String, generation: Int, parentUUID: String?,
        inventories: [String: PlacementInventory] = [:], traits: Set<String> = [],
        hasAllocations: Bool? = nil
    ) {
        self.uuid = uuid
        self.name = name
        self.generation = generation
        self.parentUUID = parentUUID
        self.inventories = inventories
        self.traits = traits
        self.hasAllocations = hasAllocations
    }
    /// Carries `CUSTOM_HWLABEL_MANAGED`: hwlabel created it and may change or delete it.
    public var isManaged: Bool { traits.contains(PlacementNames.managedTrait) }
}
