import Foundation
import HWLabelProbe

/// One report of this host's assignable hardware: what every sink receives.
///
/// JSON is canonical: keys sorted, descriptors and tombstones ordered by address, dates in
/// RFC 3339 UTC. Schema: `schema/report-1.0.schema.json` (it describes 1.0 to 1.2). A 1.N reader
/// accepts 1.0…1.N. 1.1 added the descriptor's mode, parent, excludes, usage and vgpu; 1.2 its drift and
/// the identity-changed tombstone.
public struct Report: Codable, Sendable, Hashable {
    public static let currentSchemaVersion = "1.2"

    /// `major.minor`.
    public var schemaVersion: String
    public var host: HostIdentity
    /// `/proc/sys/kernel/random/boot_id`; null when unknown (written as `null`, not omitted).
    @Nullable public var bootId: String?
    /// Random UUID created once per state directory (`<state-dir>/identity.json`). A new epoch
    /// tells the controller that generations restarted at 1.
    public var agentEpoch: String
    /// Increases by one each time the content changes; persisted, so a restart with the same
    /// devices re-sends the same generation.
    public var generation: UInt64
    /// RFC 3339 UTC. Not part of the digest.
    public var generatedAt: String
    /// Sorted by address.
    public var descriptors: [AssignableDevice]
    /// Devices that went away, sorted by address then instance id.
    public var tombstones: [Tombstone]
    /// `sha256:<hex>` over the canonical JSON of every field except `generatedAt` and `digest`.
    public var digest: String

    public init(
        schemaVersion: String = Report.currentSchemaVersion, host: HostIdentity, bootId: String?,
        agentEpoch: String, generation: UInt64, generatedAt: String,
        descriptors: [AssignableDevice], tombstones: [Tombstone], digest: String = ""
    ) {
        self.schemaVersion = schemaVersion
        self.host = host
        self.bootId = bootId
        self.agentEpoch = agentEpoch
        self.generation = generation
        self.generatedAt = generatedAt
        self.descriptors = descriptors
        self.tombstones = tombstones
        self.digest = digest
    }

    enum CodingKeys: String, CodingKey {
        case schemaVersion, host, bootId, agentEpoch, generation, generatedAt, descriptors, tombstones, digest
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        schemaVersion = try c.decode(String.self, forKey: .schemaVersion)
        guard Report.accepts(schemaVersion) else {
            throw DecodingError.dataCorruptedError(
                forKey: .schemaVersion, in: c,
                debugDescription: "unsupported report schema \(schemaVersion); this reader accepts 1.0…\(Report.currentSchemaVersion)")
        }
        host = try c.decode(HostIdentity.self, forKey: .host)
        _bootId = try c.decode(Nullable<String>.self, forKey: .bootId)
        agentEpoch = try c.decode(String.self, forKey: .agentEpoch)
        generation = try c.decode(UInt64.self, forKey: .generation)
        generatedAt = try c.decode(String.self, forKey: .generatedAt)
        descriptors = try c.decode([AssignableDevice].self, forKey: .descriptors)
        tombstones = try c.decode([Tombstone].self, forKey: .tombstones)
        digest = try c.decode(String.self, forKey: .digest)
    }

    /// A 1.N reader accepts 1.0…1.N.
    public static func accepts(_ version: String) -> Bool {
        let p = version.split(separator: ".")
        guard p.count == 2, let major = Int(p[0]), Int(p[1]) != nil else { return false }
        return major == 1
    }

    /// `Idempotency-Key` for this report: `<machine-id>/<epoch>/<generation>`.
    public var idempotencyKey: String {
        "\(host.machineId ?? host.hostname ?? "unknown")/\(agentEpoch)/\(generation)"
    }

    /// Canonical bytes (`CanonicalJSON`): what the controller, the outbox and `state.json` receive.
    public func canonicalJSON() throws -> Data { Data(try CanonicalJSON.encode(self)) }

    /// The canonical bytes indented, with a final newline: what the file sink writes.
    public func prettyJSON() throws -> Data {
        Data(PrettyJSON.format(try CanonicalJSON.encode(self), emptyContainers: .blankLine) + [0x0A])
    }
}
