import Foundation

/// The planner's answer: the calls, and what it chose not to do.
public struct PlacementPlan: Sendable, Hashable {
    public var calls: [PlacementCall]
    /// Providers that are in the way but not ours, devices that could not be named, …
    public var warnings: [String]
    /// Names of removed devices' providers kept because they have allocations.
    public var retained: [String]
    /// Provider UUID → the providers that exclude it (its parent and children: a PF and its
    /// VFs). Its final inventory write, the one that can make it schedulable, is not made in a
    /// sync where one of these failed, so a PF and its VFs are never schedulable together.
    public var related: [String: Set<String>]
    /// UUIDs of existing providers rewritten in this sync for another card than the one they
    /// described (no allocations when read). The executor re-checks their allocations when a
    /// write to one conflicts: one that got an allocation meanwhile is left reserved.
    public var replacing: Set<String> = []
    /// Names of providers kept, reserved, for the card that was at their address because they
    /// still have allocations for it (each also has a warning).
    public var held: [String] = []
    public init(
        calls: [PlacementCall] = [], warnings: [String] = [], retained: [String] = [],
        related: [String: Set<String>] = [:]
    ) {
        self.calls = calls
        self.warnings = warnings
        self.retained = retained
        self.related = related
    }
}
