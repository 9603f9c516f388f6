import Crypto
import Foundation
import HWLabelProbe

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
        build(previous: previous.map { ReportSummary($0) }, epoch: epoch, scan: scan, now: now).report
    }

    /// `next` for a caller that keeps only the previous report's summary (the agent): the report
    /// and its own summary, for the scan after it.
    public static func next(
        summary previous: ReportSummary?, epoch: String, scan: ScanResult, now: Date
    ) -> (report: Report, summary: ReportSummary) {
        let (report, key) = build(previous: previous, epoch: epoch, scan: scan, now: now)
        return (report, ReportSummary(report, contentKey: key))
    }

    /// The next report and its `contentKey`.
    private static func build(
        previous: ReportSummary?, epoch: String, scan: ScanResult, now: Date
    ) -> (report: Report, contentKey: String) {
        let prev = previous.flatMap { $0.agentEpoch == epoch ? $0 : nil }
        let prevGeneration = prev?.generation ?? 0
        let candidateGeneration = prevGeneration + 1

        let descriptors = scan.descriptors.sorted(by: descriptorOrder)
        var current: [String: RecordedIdentity] = [:]
        for d in descriptors { current[d.instance.id] = RecordedIdentity(d.attributes) }

        // A tombstone ends when its card is back: the same instance id, and for an
        // identity-changed tombstone the same identity too.
        func returned(_ t: Tombstone) -> Bool {
            guard let now = current[t.instanceId] else { return false }
            return t.identity.map { $0 == now } ?? true
        }
        var tombstones = (prev?.tombstones ?? []).filter { !returned($0) }
        let tombstoned = Set(tombstones.map { TombstoneKey(instanceId: $0.instanceId, identity: $0.identity) })
        for old in prev?.descriptors ?? [] {
            let was = old.identity
            let reason: Tombstone.Reason
            var identity: RecordedIdentity?
            if let now = current[old.instanceId] {
                guard now != was else { continue }
                reason = .identityChanged
                identity = was
            } else {
                reason =
                    scan.excludedInstanceIds.contains(old.instanceId) || scan.excludedAddresses.contains(old.address)
                    ? .excludedByPolicy
                    : scan.presentAddresses.contains(old.address)
                        ? .driverChanged
                        : .unplugged
            }
            guard !tombstoned.contains(TombstoneKey(instanceId: old.instanceId, identity: identity)) else { continue }
            tombstones.append(
                Tombstone(
                    instanceId: old.instanceId, address: old.address, reason: reason,
                    sinceGeneration: candidateGeneration, identity: identity))
        }
        if tombstones.count > maxTombstones {
            // Keep the most recent ones.
            tombstones.sort { $0.sinceGeneration > $1.sinceGeneration }
            tombstones = Array(tombstones.prefix(maxTombstones))
        }
        tombstones.sort {
            ($0.address, $0.instanceId, $0.identity?.fields ?? "") < ($1.address, $1.instanceId, $1.identity?.fields ?? "")
        }

        var report = Report(
            host: scan.host, bootId: scan.bootId, agentEpoch: epoch,
            generation: candidateGeneration, generatedAt: rfc3339(now),
            descriptors: descriptors, tombstones: tombstones)
        let key = contentKey(report)
        if let prev, key == prev.contentKey {
            report.generation = prevGeneration
            report.tombstones = prev.tombstones
        }
        report.digest = digest(of: report)
        return (report, key)
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

/// A tombstone's identity for de-duplication: one per instance, plus one per card that left an
/// instance another card now holds.
private struct TombstoneKey: Hashable {
    var instanceId: String
    var identity: RecordedIdentity?
}
