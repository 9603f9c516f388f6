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

    /// `next` for a caller that keeps only the previous report's summary (the agent): the report,
    /// its own summary for the scan after it, and its canonical bytes (`Report.canonicalJSON()`),
    /// all from one encoding of the report's content.
    public static func next(
        summary previous: ReportSummary?, epoch: String, scan: ScanResult, now: Date
    ) -> (report: Report, summary: ReportSummary, canonical: [UInt8]) {
        let (report, key, canonical) = build(previous: previous, epoch: epoch, scan: scan, now: now)
        return (report, ReportSummary(report, contentKey: key), canonical ?? ((try? CanonicalJSON.encode(report)) ?? []))
    }

    /// The next report, its `contentKey` and its canonical bytes (nil where they could not be
    /// assembled from the content's).
    private static func build(
        previous: ReportSummary?, epoch: String, scan: ScanResult, now: Date
    ) -> (report: Report, contentKey: String, canonical: [UInt8]?) {
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
        // Content, digest input and canonical bytes differ only in top-level members that sort
        // between `descriptors` and `host` (`digest`, `generatedAt`, `generation`): encode the
        // content once and insert those before its `"host"` member.
        let content = canonical(report, omitting: [.generatedAt, .digest, .generation])
        let key = sha256Hex(content)
        if let prev, key == prev.contentKey {
            report.generation = prevGeneration
            report.tombstones = prev.tombstones
        }
        guard let split = tailStart(content, report) else {
            report.digest = digest(of: report)
            return (report, key, nil)
        }
        let generation = Array("\"generation\":\(report.generation),".utf8)
        var hash = SHA256()
        content.withUnsafeBufferPointer { c in
            hash.update(bufferPointer: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: c[..<split])))
            generation.withUnsafeBytes { hash.update(bufferPointer: $0) }
            hash.update(bufferPointer: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: c[split...])))
        }
        report.digest = "sha256:" + hash.finalize().map { hex($0, 2) }.joined()
        guard let digest = try? CanonicalJSON.encode(report.digest), let at = try? CanonicalJSON.encode(report.generatedAt)
        else { return (report, key, nil) }
        var out: [UInt8] = []
        out.reserveCapacity(content.count + generation.count + digest.count + at.count + 32)
        out.append(contentsOf: content[..<split])
        out.append(contentsOf: Array("\"digest\":".utf8) + digest + Array(",\"generatedAt\":".utf8) + at + [UInt8(ascii: ",")])
        out.append(contentsOf: generation)
        out.append(contentsOf: content[split...])
        return (report, key, out)
    }

    /// The members every encoding of `report` ends with (`host`, `schemaVersion`, `tombstones`).
    private struct Tail: Encodable {
        var host: HostIdentity
        var schemaVersion: String
        var tombstones: [Tombstone]
    }

    /// Where `"host":` starts in `content` (`report`'s content encoding): its tail members are
    /// encoded alone and must end `content`, after a comma; nil otherwise (a member added to
    /// `Report` that sorts after `generation`), and the caller encodes in full.
    private static func tailStart(_ content: [UInt8], _ report: Report) -> Int? {
        guard
            let tail = try? CanonicalJSON.encode(
                Tail(host: report.host, schemaVersion: report.schemaVersion, tombstones: report.tombstones)),
            tail.first == UInt8(ascii: "{"), content.count > tail.count
        else { return nil }
        let split = content.count - (tail.count - 1)
        guard content[split - 1] == UInt8(ascii: ","), content[split...].elementsEqual(tail[1...]) else { return nil }
        return split
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
