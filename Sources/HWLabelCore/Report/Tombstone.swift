import HWLabelProbe

/// A device that was in an earlier report and is not in this one, with why.
public struct Tombstone: Codable, Sendable, Hashable {
    public enum Reason: String, Codable, Sendable, Hashable, CaseIterable {
        /// The function is gone from the bus.
        case unplugged
        /// The function is still there but no longer yields a descriptor (its driver changed).
        case driverChanged = "driver-changed"
        /// The agent's policy now excludes it.
        case excludedByPolicy = "excluded-by-policy"
        /// Another card is at this instance (same slot or path, other IDs): the old card's
        /// descriptor ends here and the new card's starts (schema 1.2).
        case identityChanged = "identity-changed"
    }
    /// The descriptor's `instance.id`.
    public var instanceId: String
    public var address: PCIAddress
    public var reason: Reason
    /// The first generation in which the device was absent.
    public var sinceGeneration: UInt64
    /// The identity of the card that left (reason `identity-changed` only; absent otherwise).
    public var identity: RecordedIdentity?
    public init(instanceId: String, address: PCIAddress, reason: Reason, sinceGeneration: UInt64, identity: RecordedIdentity? = nil) {
        self.instanceId = instanceId
        self.address = address
        self.reason = reason
        self.sinceGeneration = sinceGeneration
        self.identity = identity
    }
}
