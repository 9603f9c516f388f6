import Crypto
import Foundation
import HWLabelProbe

/// What one scan produced: the descriptors plus the facts tombstone reasons are decided from.
public struct ScanResult: Sendable, Hashable {
    public var descriptors: [AssignableDevice]
    /// Instance ids the policy excluded on this scan (`excluded-by-policy` when they leave).
    public var excludedInstanceIds: Set<String>
    /// Addresses the policy excluded on this scan (same meaning, as the agent's builder reports them).
    public var excludedAddresses: Set<PCIAddress>
    /// Every PCI function present on the bus on this scan, descriptor or not. A descriptor that
    /// leaves while its address is still present left because its driver changed.
    public var presentAddresses: Set<PCIAddress>
    public var host: HostIdentity
    public var bootId: String?

    public init(descriptors: [AssignableDevice], excludedInstanceIds: Set<String> = [],
                excludedAddresses: Set<PCIAddress> = [], presentAddresses: Set<PCIAddress>? = nil, host: HostIdentity, bootId: String?) {
        self.descriptors = descriptors
        self.excludedInstanceIds = excludedInstanceIds
        self.excludedAddresses = excludedAddresses
        self.presentAddresses = presentAddresses ?? Set(descriptors.map(\.address))
        self.host = host
        self.bootId = bootId
    }
}

/// Computes the next report from the previous one and a scan. Pure: the clock is a parameter.
///
/// - The generation increases by one only when the content (everything but `generation`,
///   `generatedAt` and `digest`) changes, so an agent restart over the same devices re-sends the
///   same generation with no tombstones.
/// - A descriptor present before and absent now becomes a tombstone (matched by `instance.id`);
///   a tombstone is dropped when its device returns, and only the newest `maxTombstones` are kept.
public enum ReportBuilder {
    public static let maxTombstones = 256

    public static func next(previous: Report?, epoch: String, scan: ScanResult, now: Date) -> Report {
        let prev = previous.flatMap { $0.agentEpoch == epoch ? $0 : nil }
        let prevGeneration = prev?.generation ?? 0
        let candidateGeneration = prevGeneration + 1

        let descriptors = scan.descriptors.sorted(by: descriptorOrder)
        let currentIds = Set(descriptors.map(\.instance.id))

        var tombstones = (prev?.tombstones ?? []).filter { !currentIds.contains($0.instanceId) }
        let tombstoned = Set(tombstones.map(\.instanceId))
        for old in prev?.descriptors ?? [] where !currentIds.contains(old.instance.id) && !tombstoned.contains(old.instance.id) {
            let reason: Tombstone.Reason =
                scan.excludedInstanceIds.contains(old.instance.id) || scan.excludedAddresses.contains(old.address) ? .excludedByPolicy
                : scan.presentAddresses.contains(old.address) ? .driverChanged
                : .unplugged
            tombstones.append(Tombstone(instanceId: old.instance.id, address: old.address, reason: reason,
                                        sinceGeneration: candidateGeneration))
        }
        if tombstones.count > maxTombstones {
            // Keep the most recent ones.
            tombstones.sort { $0.sinceGeneration > $1.sinceGeneration }
            tombstones = Array(tombstones.prefix(maxTombstones))
        }
        tombstones.sort { ($0.address, $0.instanceId) < ($1.address, $1.instanceId) }

        var report = Report(host: scan.host, bootId: scan.bootId, agentEpoch: epoch,
                            generation: candidateGeneration, generatedAt: rfc3339(now),
                            descriptors: descriptors, tombstones: tombstones)
        if let prev, contentKey(report) == contentKey(prev) {
            report.generation = prevGeneration
            report.tombstones = prev.tombstones
        }
        report.digest = digest(of: report)
        return report
    }

    /// `sha256:<hex>` over the canonical JSON of the report without `generatedAt` and `digest`:
    /// every other field of `Report`, present and future, is in it.
    public static func digest(of report: Report) -> String {
        "sha256:" + sha256Hex(canonical(report, omitting: [.generatedAt, .digest]))
    }

    /// Change detection: the digest input without the generation.
    static func contentKey(_ report: Report) -> String {
        sha256Hex(canonical(report, omitting: [.generatedAt, .digest, .generation]))
    }

    static func descriptorOrder(_ a: AssignableDevice, _ b: AssignableDevice) -> Bool {
        (a.address, a.instance.id) < (b.address, b.instance.id)
    }

    private static func canonical(_ r: Report, omitting keys: [Report.CodingKeys]) -> [UInt8] {
        // Plain Codable values with no floating point cannot fail to encode; an empty digest
        // input would still be stable.
        (try? CanonicalJSON.encode(r, omittingKeys: Set(keys.map(\.stringValue)))) ?? []
    }

    private static func sha256Hex(_ bytes: [UInt8]) -> String {
        SHA256.hash(data: bytes).map { hex($0, 2) }.joined()
    }
}
