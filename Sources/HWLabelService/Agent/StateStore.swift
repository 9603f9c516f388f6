import Foundation
import HWLabelCore
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
        if let d = try? BoundedFile.readIfPresent(identityPath, limit: BoundedFile.Limit.small),
            let id = try? JSONDecoder().decode(Identity.self, from: Data(d)), UUID(uuidString: id.agentEpoch) != nil
        {
            return id.agentEpoch
        }
        try AtomicFile.makeDirectory(directory, mode: 0o755)
        try BoundedFile.requireRegularOrAbsent(identityPath)
        let id = Identity(agentEpoch: UUID().uuidString.lowercased(), createdAt: rfc3339(now))
        try AtomicFile.write(try CanonicalJSON.encode(id), to: identityPath, mode: FileCreationMode.regular())
        return id.agentEpoch
    }

    /// The last report saved; nil when there is none or it cannot be read or decoded (the next
    /// scan then starts a new generation count from the outbox or 1, and overwrites the file).
    public func lastReport() -> Report? {
        guard let d = try? BoundedFile.readIfPresent(statePath, limit: BoundedFile.Limit.report) else { return nil }
        return try? JSONDecoder().decode(Report.self, from: Data(d))
    }

    public func save(_ report: Report) throws {
        try save(report, canonical: try CanonicalJSON.encode(report))
    }

    /// Saves `report` as `canonical`, its canonical bytes (`Report.canonicalJSON()`), already encoded.
    public func save(_ report: Report, canonical: [UInt8]) throws {
        try BoundedFile.requireRegularOrAbsent(statePath)
        try AtomicFile.write(Data(canonical), to: statePath)
    }

    /// The status the agent wrote last, nil when there is none (or it cannot be read: see
    /// `readStatus` for why).
    public func loadStatus() -> AgentStatus? { try? readStatus() }

    /// The status the agent wrote last: nil when there is no file; an error naming the file
    /// when it cannot be read (not a regular file, over 4 MiB) or decoded.
    public func readStatus() throws -> AgentStatus? {
        guard let d = try BoundedFile.readIfPresent(statusPath, limit: BoundedFile.Limit.status) else { return nil }
        do { return try JSONDecoder().decode(AgentStatus.self, from: Data(d)) } catch {
            throw StatusError(description: "\(statusPath): not a status file hwlabel can read (\(error))")
        }
    }

    public struct StatusError: Error, CustomStringConvertible, Sendable {
        public var description: String
    }

    /// Writes `status.json` with every error message redacted (`Secret.redact`).
    public func save(_ status: AgentStatus) throws {
        try BoundedFile.requireRegularOrAbsent(statusPath)
        try AtomicFile.write(try Self.encode(status.redacted()), to: statusPath)
    }

    /// `status.json`'s encoding: the canonical bytes indented.
    public static func encode(_ status: AgentStatus) throws -> Data {
        Data(PrettyJSON.format(try CanonicalJSON.encode(status), emptyContainers: .blankLine))
    }
}
