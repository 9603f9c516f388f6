/// What one sync did, for the agent's log, the CLI and tests.
public struct PlacementSyncResult: Codable, Sendable, Hashable {
    public var rootName: String
    public var rootUUID: String?
    public var dryRun: Bool
    /// Planned calls, as the dry run prints them (`METHOD path body`).
    public var plannedCalls: [String]
    public var created: [String]
    public var updated: [String]
    public var deleted: [String]
    /// Removed devices' providers kept (inventory reserved) because they still have allocations.
    public var retained: [String]
    public var warnings: [String]
    /// Calls that failed; the sync went on with the other providers.
    public var errors: [String]
    /// 409 `placement.concurrent_update` answers that were re-read and retried.
    public var conflictRetries: Int
    public var reads: Int
    public var writes: Int

    public init(rootName: String, dryRun: Bool) {
        self.rootName = rootName
        self.dryRun = dryRun
        plannedCalls = []; created = []; updated = []; deleted = []; retained = []
        warnings = []; errors = []
        conflictRetries = 0; reads = 0; writes = 0
    }
}
