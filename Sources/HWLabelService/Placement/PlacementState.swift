import Foundation
import HWLabelCore

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
    public init(
        root: ProviderState?, providers: [ProviderState] = [],
        existingTraits: Set<String> = [], existingResourceClasses: Set<String> = []
    ) {
        self.root = root
        self.providers = providers
        self.existingTraits = existingTraits
        self.existingResourceClasses = existingResourceClasses
    }
}
