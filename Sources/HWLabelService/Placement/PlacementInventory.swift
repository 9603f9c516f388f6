import Foundation

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

extension [String: PlacementInventory] {
    /// The same inventory with every unit reserved: visible, never schedulable.
    public var fullyReserved: [String: PlacementInventory] {
        mapValues { PlacementInventory(total: $0.total, reserved: $0.total, maxUnit: $0.maxUnit) }
    }
}
