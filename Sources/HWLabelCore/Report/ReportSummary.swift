import HWLabelProbe

/// What `ReportBuilder.next` needs of the previous report: its epoch, generation, digest and
/// tombstones, each descriptor's instance id, address and identity, and the hash of its content.
/// A long-running agent keeps this between scans instead of the report, whose descriptors take
/// tens of megabytes on a host with thousands of functions.
///
/// The descriptors are held in one byte buffer, not as thousands of small strings: strings
/// shared with a report that has been freed would stay scattered over the heap pages that report
/// used, and keep those pages from being handed back to the system.
public struct ReportSummary: Sendable, Hashable {
    /// One descriptor of the previous report, as far as tombstones need it.
    public struct Entry: Sendable, Hashable {
        public var instanceId: String
        public var address: PCIAddress
        public var identity: RecordedIdentity
    }

    public var agentEpoch: String
    public var generation: UInt64
    public var digest: String
    public var tombstones: [Tombstone]
    /// `ReportBuilder.contentKey` of the report: what decides whether the next one changed.
    let contentKey: String
    /// Every descriptor as an entry: instance id, address, vendor, device, subsystem vendor,
    /// subsystem device and class, each a 16-bit little-endian length (0xFFFF: nil) and UTF-8.
    private let packed: [UInt8]
    public let descriptorCount: Int

    /// Summarises `report` (hashing its content once).
    public init(_ report: Report) {
        self.init(report, contentKey: ReportBuilder.contentKey(report))
    }

    init(_ report: Report, contentKey: String) {
        agentEpoch = String(decoding: Array(report.agentEpoch.utf8), as: UTF8.self)
        generation = report.generation
        digest = String(decoding: Array(report.digest.utf8), as: UTF8.self)
        tombstones = report.tombstones
        self.contentKey = String(decoding: Array(contentKey.utf8), as: UTF8.self)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(report.descriptors.count * 96)
        func put(_ s: String?) {
            guard let s else { return bytes.append(contentsOf: [0xFF, 0xFF]) }
            let n = min(s.utf8.count, 0xFFFE)
            bytes.append(UInt8(n & 0xFF))
            bytes.append(UInt8(n >> 8))
            bytes.append(contentsOf: s.utf8.prefix(n))
        }
        for d in report.descriptors {
            let a = d.attributes
            put(d.instance.id)
            put(d.address.description)
            put(a.vendor)
            put(a.device)
            put(a.subsystemVendor)
            put(a.subsystemDevice)
            put(a.classCode)
        }
        packed = bytes
        descriptorCount = report.descriptors.count
    }

    /// The previous report's descriptors, in its order.
    public var descriptors: [Entry] {
        var out: [Entry] = []
        out.reserveCapacity(descriptorCount)
        packed.withUnsafeBufferPointer { b in
            var i = 0
            func get() -> String? {
                let n = Int(b[i]) | Int(b[i + 1]) << 8
                i += 2
                if n == 0xFFFF { return nil }
                defer { i += n }
                return String(decoding: UnsafeBufferPointer(rebasing: b[i..<(i + n)]), as: UTF8.self)
            }
            while i < b.count {
                let id = get() ?? ""
                let address = get().flatMap { PCIAddress($0) } ?? PCIAddress(domain: 0, bus: 0, device: 0, function: 0)
                let identity = RecordedIdentity(
                    vendor: get() ?? "", device: get() ?? "", subsystemVendor: get(), subsystemDevice: get(),
                    classCode: get() ?? "")
                out.append(Entry(instanceId: id, address: address, identity: identity))
            }
        }
        return out
    }
}
