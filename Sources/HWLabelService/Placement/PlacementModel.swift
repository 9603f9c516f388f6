import Foundation
import HWLabelCore

/// One inventory record of a provider: the fields hwlabel sets. The rest stay at Placement's
/// defaults (`min_unit` 1, `step_size` 1, `allocation_ratio` 1.0).
public struct PlacementInventory: Codable, Sendable, Hashable {
    public var total: Int
    public var reserved: Int
    public var maxUnit: Int
    public init(total: Int, reserved: Int = 0, maxUnit: Int) {
        self.total = total
        self.reserved = reserved
        self.maxUnit = maxUnit
    }
    enum CodingKeys: String, CodingKey {
        case total, reserved
        case maxUnit = "max_unit"
    }
}

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
    /// Always contains `CUSTOM_HWLABEL_MANAGED`; never `COMPUTE_MANAGED_PCI_DEVICE`.
    public var traits: Set<String>
    public init(name: String, address: String, parentName: String? = nil,
                inventories: [String: PlacementInventory], traits: Set<String>) {
        self.name = name
        self.address = address
        self.parentName = parentName
        self.inventories = inventories
        self.traits = traits
    }
}

extension [String: PlacementInventory] {
    /// The same inventory with every unit reserved: visible, never schedulable.
    public var fullyReserved: [String: PlacementInventory] {
        mapValues { PlacementInventory(total: $0.total, reserved: $0.total, maxUnit: $0.maxUnit) }
    }
}

/// The host's root provider and the desired children under it.
public struct DesiredTree: Sendable, Hashable {
    /// The root provider's name (the host name; Nova's compute node has the same one).
    public var rootName: String
    /// Parents before their children (PFs before their VFs), then by name.
    public var providers: [DesiredProvider]
    /// Devices that could not be mirrored, or were mirrored without some capacity, with why
    /// (no usable name, an idle vGPU card with no chosen type, …).
    public var skipped: [String]
    public init(rootName: String, providers: [DesiredProvider], skipped: [String] = []) {
        self.rootName = rootName
        self.providers = providers
        self.skipped = skipped
    }
}

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
    public init(uuid: String, name: String, generation: Int, parentUUID: String?,
                inventories: [String: PlacementInventory] = [:], traits: Set<String> = [],
                hasAllocations: Bool? = nil) {
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

/// What hwlabel read from Placement about one host's tree.
public struct PlacementState: Sendable, Hashable {
    /// The root provider found by name; nil when it does not exist yet.
    public var root: ProviderState?
    /// Every other provider in the root's tree (ours and others').
    public var providers: [ProviderState]
    /// Custom traits known to exist (only the ones asked about need be listed).
    public var existingTraits: Set<String>
    /// Custom resource classes known to exist.
    public var existingResourceClasses: Set<String>
    public init(root: ProviderState?, providers: [ProviderState] = [],
                existingTraits: Set<String> = [], existingResourceClasses: Set<String> = []) {
        self.root = root
        self.providers = providers
        self.existingTraits = existingTraits
        self.existingResourceClasses = existingResourceClasses
    }
}
