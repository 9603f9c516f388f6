import Foundation
import HWLabelProbe

/// The agent's state directory (`/var/lib/hwlabel`, systemd `StateDirectory=hwlabel`):
///
/// - `identity.json`: the agent epoch, a random UUID created once;
/// - `state.json`: the last report built (the generation counter and tombstone memory);
/// - `outbox/<sink>.json`: undelivered reports;
/// - `status.json`: what `hwlabel agent status` shows.
public struct StateStore: Sendable {
    public var directory: String
    public init(directory: String) { self.directory = directory }

    public var identityPath: String { directory + "/identity.json" }
    public var statePath: String { directory + "/state.json" }
    public var statusPath: String { directory + "/status.json" }
    public var outboxDirectory: String { directory + "/outbox" }

    struct Identity: Codable { var agentEpoch: String; var createdAt: String }

    /// The persisted epoch, created (and written) on first use.
    public func agentEpoch(now: Date = Date()) throws -> String {
        if let d = FileManager.default.contents(atPath: identityPath),
           let id = try? JSONDecoder().decode(Identity.self, from: d), UUID(uuidString: id.agentEpoch) != nil {
            return id.agentEpoch
        }
        try AtomicFile.makeDirectory(directory, mode: 0o755)
        let id = Identity(agentEpoch: UUID().uuidString.lowercased(), createdAt: rfc3339(now))
        try AtomicFile.write(try Report.canonicalEncoder.encode(id), to: identityPath)
        return id.agentEpoch
    }

    public func lastReport() -> Report? {
        guard let d = FileManager.default.contents(atPath: statePath) else { return nil }
        return try? JSONDecoder().decode(Report.self, from: d)
    }

    public func save(_ report: Report) throws {
        try AtomicFile.write(try report.canonicalJSON(), to: statePath)
    }

    public func loadStatus() -> AgentStatus? {
        guard let d = FileManager.default.contents(atPath: statusPath) else { return nil }
        return try? JSONDecoder().decode(AgentStatus.self, from: d)
    }

    public func save(_ status: AgentStatus) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        try AtomicFile.write(try e.encode(status), to: statusPath)
    }
}
